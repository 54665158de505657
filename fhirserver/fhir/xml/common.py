"""What the XML reader and writer share: namespaces, the public error, the internal located failure and the
hardened lxml parser.

Parsing is safe: lxml with ``resolve_entities=False,
no_network=True, load_dtd=False, huge_tree=False``; any document carrying a DOCTYPE is refused before parsing,
with a post-parse check as a second line of defence.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_XML_NS = "http://www.w3.org/XML/1998/namespace"

FHIR_PREFIX = "{" + FHIR_NS + "}"
XHTML_PREFIX = "{" + XHTML_NS + "}"
XSI_PREFIX = "{" + _XSI_NS + "}"
XML_PREFIX = "{" + _XML_NS + "}"
EXTENSION_TAG = FHIR_PREFIX + "extension"
XHTML_DIV_TAG = XHTML_PREFIX + "div"


class FhirXmlError(ValueError):
    """Raised when a document cannot be converted: malformed XML, forbidden DTD, unknown element or
    resource type, wrong value type...

    ``path`` is the FHIRPath-like location of the offending element (``Patient.name[0].given``) when
    it is known, and the message starts with it.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


class Fail(Exception):
    """Internal error raised deep in the conversion; each level on the way up adds its path segment
    (``try`` blocks cost nothing in CPython >= 3.11, so paths are only built when something fails)."""

    def __init__(self, message: str, *segments: str) -> None:
        super().__init__(message)
        self.message = message
        self.segments = list(segments)  # innermost first


def located_error(fail: Fail, root: str) -> FhirXmlError:
    """The public error of ``fail``, its path rooted at ``root`` (the resource type)."""
    path = root + "".join("." + segment for segment in reversed(fail.segments))
    return FhirXmlError(fail.message, path)


_thread_local = threading.local()


def safe_parser() -> etree.XMLParser:
    """A per-thread hardened lxml parser (lxml parsers must not be shared between threads)."""
    parser: etree.XMLParser | None = getattr(_thread_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            dtd_validation=False,
            attribute_defaults=False,
            remove_comments=False,
            remove_pis=True,
            strip_cdata=True,
            collect_ids=False,
        )
        _thread_local.parser = parser
    return parser


_DOCTYPE_MARKERS = tuple(
    "<!DOCTYPE".encode(enc) for enc in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
_STR_DECLARATION = re.compile(r"\A\ufeff?\s*<\?xml\b[^>]*\?>")


def parse_document(data: bytes | str) -> etree._Element:
    """The root element of an XML document, refused if it carries a DOCTYPE or is not well-formed."""
    if isinstance(data, str):
        if "<!DOCTYPE" in data:
            raise FhirXmlError("XML documents with a DOCTYPE (DTD) are not accepted")
        match = _STR_DECLARATION.match(data)
        if match:  # lxml refuses str input with an encoding declaration
            data = data[match.end() :]
    elif isinstance(data, bytes | bytearray | memoryview):
        data = bytes(data)
        for marker in _DOCTYPE_MARKERS:
            if marker in data:
                raise FhirXmlError("XML documents with a DOCTYPE (DTD) are not accepted")
    else:
        raise FhirXmlError(f"expected XML as bytes or str, got {type(data).__name__}")
    try:
        root = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise FhirXmlError(f"malformed XML: {exc}") from None
    except ValueError as exc:
        raise FhirXmlError(f"malformed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise FhirXmlError("XML documents with a DOCTYPE (DTD) are not accepted")
    return root
