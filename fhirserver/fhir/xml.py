"""Conversion between the FHIR R4 JSON and XML representations of resources.

Specifications followed:

- XML format: https://hl7.org/fhir/R4/xml.html
- JSON format: https://hl7.org/fhir/R4/json.html (primitives, ``_element`` siblings, ``null`` placeholders)
- Narrative XHTML: https://hl7.org/fhir/R4/narrative.html#xhtml
- Official R4 JSON schema: https://hl7.org/fhir/R4/fhir.schema.json.zip

The conversion is data-driven: the official R4 JSON schema (packaged as
``fhirserver/fhir/definitions/fhir.schema.json``) gives, for every type, its elements in definition
order (which is the mandatory XML element order), their cardinality (``"type": "array"``), their type
(primitive, complex / backbone element, nested resource via ``ResourceList`` or XHTML) and the list of
resource types. The schema is loaded lazily, once, on first use; per-type lookup tables are built once
and cached.

Mapping rules (JSON form on the left, XML on the right):

- ``resourceType`` <-> name of the resource element (in the ``http://hl7.org/fhir`` namespace);
- a primitive ``"x": v`` <-> ``<x value="v"/>``; the JSON sibling ``"_x": {"id": .., "extension": [..]}``
  <-> the ``id`` attribute and ``<extension>`` children of ``<x>``; repeating primitives use parallel
  arrays with ``null`` placeholders;
- ``id`` of any element that is not a resource, and ``url`` of ``Extension``, are XML attributes;
- a JSON property whose value is ``null`` (outside the placeholders above) is treated as absent;
- nested resources (``contained``, ``Bundle.entry.resource``, ``Parameters.parameter.resource`` ...)
  are wrapped in an element named after their resource type;
- ``Narrative.div`` is an XHTML ``<div>`` (namespace ``http://www.w3.org/1999/xhtml``) embedded in the
  XML as-is and carried in JSON as its serialised string (with the XHTML namespace declaration).

Numbers. JSON values come from :func:`json.loads` with its defaults (``int`` / ``float``):

- ``integer``, ``positiveInt`` and ``unsignedInt`` are ``int`` both ways;
- ``decimal`` values are written to XML with :func:`repr` for ``float`` (the shortest string that
  round-trips exactly), ``str`` for ``int`` and :class:`decimal.Decimal`; XML decimals are read as
  ``int`` when the literal is integral without a dot or exponent (``"3"``, ``"-12"``) and as ``float``
  otherwise (``"1.50"`` -> ``1.5``, ``"1e3"`` -> ``1000.0``). JSON -> XML -> JSON is therefore exact,
  while trailing zeros of an XML literal are not preserved (the JSON side of the server uses plain
  floats as well). Non-finite values are refused.

Narrative ``div`` strings: JSON -> XML embeds the string as it is (after checking that it is a
single well-formed XHTML ``<div>``; carriage returns in text and tabs / line feeds in attribute
values are written as character references so that XML parsing keeps them, unless the div holds
comments, CDATA or processing instructions). XML -> JSON serialises the XHTML tree with the
conventions of the official JSON examples: ``&amp; &lt; &gt; &quot;`` escaped, empty elements
self-closed, comments kept. The only difference a JSON -> XML -> JSON round trip can show is
therefore ``<x></x>`` becoming ``<x/>`` (the XML infoset does not distinguish them).

Parsing is safe: lxml with ``resolve_entities=False, no_network=True, load_dtd=False,
huge_tree=False``; any document (or narrative) carrying a DOCTYPE is refused before parsing, with a
post-parse check as a second line of defence, so XXE and entity-expansion ("billion laughs")
payloads are never expanded. The pre-scan is deliberately blunt: a literal ``<!DOCTYPE`` inside a
comment or CDATA section is refused too. ``huge_tree=False`` also bounds documents: nesting depth
256, text and attribute values of about 10 MB (a larger ``Binary.data`` cannot be read from XML).

Comments and processing instructions outside the narrative are ignored, and child elements are
accepted in any order when parsing XML (the JSON output is always in definition order). Everything
else that is not FHIR R4 raises :class:`FhirXmlError`, whose ``path`` is the FHIRPath-like location
of the offending element (e.g. ``Patient.name[0].given``).
"""

from __future__ import annotations

import math
import operator
import re
import threading
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from lxml import etree

from fhirserver.fhir.definitions import json_schema

__all__ = ["FHIR_NS", "XHTML_NS", "FhirXmlError", "resource_to_xml", "xml_to_resource"]

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_XML_NS = "http://www.w3.org/XML/1998/namespace"

_FHIR_PREFIX = "{" + FHIR_NS + "}"
_XHTML_PREFIX = "{" + XHTML_NS + "}"
_XSI_PREFIX = "{" + _XSI_NS + "}"
_XML_PREFIX = "{" + _XML_NS + "}"
_EXTENSION_TAG = _FHIR_PREFIX + "extension"
_XHTML_DIV_TAG = _XHTML_PREFIX + "div"

_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


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


# ---------------------------------------------------------------------------------------------------
# Type model built from the official JSON schema
# ---------------------------------------------------------------------------------------------------

# element kinds
_PRIMITIVE = 0
_COMPLEX = 1
_RESOURCE = 2
_XHTML = 3

# JSON value kinds of primitives
_STRING = 0
_BOOLEAN = 1
_INTEGER = 2
_DECIMAL = 3


class _Element:
    """One element (JSON property / XML child element) of a type."""

    __slots__ = ("name", "tag", "type_name", "kind", "value_kind", "is_array", "index")

    def __init__(
        self, name: str, tag: str, type_name: str, kind: int, value_kind: int, is_array: bool, index: int
    ) -> None:
        self.name = name
        self.tag = tag
        self.type_name = type_name
        self.kind = kind
        self.value_kind = value_kind
        self.is_array = is_array
        self.index = index


class _Type:
    """Lookup tables of a complex type, backbone element or resource."""

    __slots__ = ("name", "is_resource", "elements", "by_key", "by_tag", "id_attr", "url_attr", "tag")

    def __init__(self, name: str, is_resource: bool) -> None:
        self.name = name
        self.is_resource = is_resource
        self.tag = _FHIR_PREFIX + name
        self.elements: tuple[_Element, ...] = ()
        # JSON key -> element ("x" and "_x" both map to a primitive element x)
        self.by_key: dict[str, _Element] = {}
        # Clark-notation XML tag -> element
        self.by_tag: dict[str, _Element] = {}
        # ``id`` is an XML attribute on every element that is not a resource
        self.id_attr = not is_resource
        # ``url`` is an XML attribute on Extension
        self.url_attr = name == "Extension"


class _Model:
    __slots__ = ("types", "resources", "extension")

    def __init__(self, types: dict[str, _Type], resources: dict[str, _Type]) -> None:
        self.types = types
        self.resources = resources
        self.extension = types["Extension"]


def _choice_primitive(prop: str, primitives: Mapping[str, int], spec: Mapping[str, Any]) -> str:
    """Primitive type of an inlined choice element such as ``valueDateTime`` (schema gives only a
    pattern there): the longest primitive type name that is the capitalised suffix of the name."""
    best = ""
    for prim in primitives:
        if len(prim) > len(best) and prop.endswith(prim[0].upper() + prim[1:]):
            best = prim
    if best:
        return best
    json_type = spec.get("type")
    return "boolean" if json_type == "boolean" else "decimal" if json_type == "number" else "string"


@lru_cache(maxsize=1)
def _model() -> _Model:
    schema = json_schema()
    definitions: dict[str, Any] = schema["definitions"]
    resource_names = set(schema["discriminator"]["mapping"])

    primitives: dict[str, int] = {}
    for name, definition in definitions.items():
        if "properties" in definition or name in ("ResourceList", "xhtml"):
            continue
        json_type = definition.get("type")
        if json_type == "boolean":
            primitives[name] = _BOOLEAN
        elif json_type == "number":
            primitives[name] = _DECIMAL if name == "decimal" else _INTEGER
        else:
            primitives[name] = _STRING

    types = {
        name: _Type(name, name in resource_names)
        for name, definition in definitions.items()
        if "properties" in definition
    }

    for name, definition in definitions.items():
        t = types.get(name)
        if t is None:
            continue
        elements: list[_Element] = []
        for prop, spec in definition["properties"].items():
            if prop.startswith("_") or (prop == "resourceType" and t.is_resource):
                continue
            if (prop == "id" and t.id_attr) or (prop == "url" and t.url_attr):
                continue  # XML attributes
            is_array = spec.get("type") == "array"
            item = spec["items"] if is_array else spec
            ref = item.get("$ref")
            value_kind = _STRING
            tag = _FHIR_PREFIX + prop
            if ref is not None:
                type_name = ref.rsplit("/", 1)[-1]
                if type_name == "ResourceList":
                    kind = _RESOURCE
                elif type_name == "xhtml":
                    kind = _XHTML
                    tag = _XHTML_PREFIX + prop
                elif type_name in primitives:
                    kind = _PRIMITIVE
                    value_kind = primitives[type_name]
                elif type_name in types:
                    kind = _COMPLEX
                else:  # pragma: no cover - schema inconsistency
                    raise RuntimeError(f"fhir.schema.json: {name}.{prop} refers to unknown type {type_name}")
            elif "enum" in item:
                type_name, kind = "code", _PRIMITIVE
            else:
                type_name, kind = _choice_primitive(prop, primitives, item), _PRIMITIVE
                value_kind = primitives[type_name]
            element = _Element(prop, tag, type_name, kind, value_kind, is_array, len(elements))
            elements.append(element)
            t.by_key[prop] = element
            if kind == _PRIMITIVE:
                t.by_key["_" + prop] = element
            t.by_tag[tag] = element
        t.elements = tuple(elements)

    resources = {name: types[name] for name in resource_names}
    return _Model(types, resources)


# ---------------------------------------------------------------------------------------------------
# Safe parsing
# ---------------------------------------------------------------------------------------------------

_thread_local = threading.local()


def _parser() -> etree.XMLParser:
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


def _parse(data: bytes | str) -> etree._Element:
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
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise FhirXmlError(f"malformed XML: {exc}") from None
    except ValueError as exc:
        raise FhirXmlError(f"malformed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise FhirXmlError("XML documents with a DOCTYPE (DTD) are not accepted")
    return root


class _Fail(Exception):
    """Internal error raised deep in the conversion; each level on the way up adds its path segment
    (``try`` blocks cost nothing in CPython >= 3.11, so paths are only built when something fails)."""

    def __init__(self, message: str, *segments: str) -> None:
        super().__init__(message)
        self.message = message
        self.segments = list(segments)  # innermost first


def _error(fail: _Fail, root: str) -> FhirXmlError:
    path = root + "".join("." + segment for segment in reversed(fail.segments))
    return FhirXmlError(fail.message, path)


# ---------------------------------------------------------------------------------------------------
# XML -> JSON
# ---------------------------------------------------------------------------------------------------

_INTEGER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _unexpected_text(text: str) -> _Fail:
    return _Fail(f"unexpected text content {text.strip()[:40]!r}")


def _value_from_xml(raw: str, value_kind: int) -> Any:
    if value_kind == _BOOLEAN:
        if raw == "true":
            return True
        if raw == "false":
            return False
        raise _Fail(f"invalid boolean {raw!r} (expected 'true' or 'false')")
    if value_kind == _INTEGER:
        if not _INTEGER_RE.fullmatch(raw):
            raise _Fail(f"invalid integer {raw!r}")
        return int(raw)
    if not _DECIMAL_RE.fullmatch(raw):
        raise _Fail(f"invalid decimal {raw!r}")
    if "." not in raw and "e" not in raw and "E" not in raw:
        return int(raw)
    value = float(raw)
    if not math.isfinite(value):
        raise _Fail(f"decimal {raw!r} is out of range")
    return value


class _Reader:
    __slots__ = ("types", "resources", "extension")

    def __init__(self, model: _Model) -> None:
        self.types = model.types
        self.resources = model.resources
        self.extension = model.extension

    def resource(self, node: etree._Element) -> dict[str, Any]:
        tag = node.tag
        if not tag.startswith(_FHIR_PREFIX):
            raise _Fail(f"element {tag!r} is not a FHIR resource (namespace must be {FHIR_NS})")
        rtype = tag[len(_FHIR_PREFIX) :]
        t = self.resources.get(rtype)
        if t is None:
            raise _Fail(f"unknown resource type {rtype!r}")
        out: dict[str, Any] = {"resourceType": rtype}
        self.fill(node, t, out)
        return out

    def fill(self, node: etree._Element, t: _Type, out: dict[str, Any]) -> None:
        if len(node.attrib):
            for key, attribute in node.items():
                if (key == "id" and t.id_attr) or (key == "url" and t.url_attr):
                    out[key] = attribute
                elif not key.startswith(_XSI_PREFIX):
                    raise _Fail(f"unexpected attribute {_local_name(key)!r}")
        text = node.text
        if text and not text.isspace():
            raise _unexpected_text(text)

        by_tag = t.by_tag
        found: dict[_Element, Any] = {}
        last_index = -1
        ordered = True
        items: list[Any] = []
        for child in node:
            text = child.tail
            if text and not text.isspace():
                raise _unexpected_text(text)
            tag = child.tag
            if tag.__class__ is not str:  # comment
                continue
            element = by_tag.get(tag)
            if element is None:
                raise self.unknown(tag, by_tag)
            if element.is_array:
                items = found.get(element)  # type: ignore[assignment]
                if items is None:
                    items = found[element] = []
            elif element in found:
                raise _Fail("element repeated but it is not an array", element.name)
            try:
                kind = element.kind
                if kind == _PRIMITIVE:
                    value: Any = self.primitive(child, element)
                elif kind == _COMPLEX:
                    value = {}
                    self.fill(child, self.types[element.type_name], value)
                elif kind == _RESOURCE:
                    value = self.container(child)
                else:
                    value = _xhtml_to_json(child)
            except _Fail as fail:
                fail.segments.append(f"{element.name}[{len(items)}]" if element.is_array else element.name)
                raise
            if element.is_array:
                items.append(value)
            else:
                found[element] = value
            if element.index < last_index:
                ordered = False
            last_index = element.index

        for element, value in found.items() if ordered else sorted(found.items(), key=_entry_index):
            name = element.name
            if element.kind != _PRIMITIVE:
                out[name] = value
            elif element.is_array:
                values = [v for v, _ in value]
                if any(v is not None for v in values):
                    out[name] = values
                extras = [x for _, x in value]
                if any(x is not None for x in extras):
                    out["_" + name] = extras
            else:
                if value[0] is not None:
                    out[name] = value[0]
                if value[1] is not None:
                    out["_" + name] = value[1]

    @staticmethod
    def unknown(tag: str, by_tag: Mapping[str, _Element]) -> _Fail:
        if tag.startswith(_FHIR_PREFIX):
            name = tag[len(_FHIR_PREFIX) :]
            if _XHTML_PREFIX + name in by_tag:
                return _Fail(f"must be in the XHTML namespace {XHTML_NS}", name)
            return _Fail("unknown element", name)
        if tag.startswith(_XHTML_PREFIX):
            return _Fail("unknown element", _local_name(tag))
        return _Fail(f"unknown element {tag!r} (not in the FHIR namespace)")

    def primitive(self, node: etree._Element, element: _Element) -> tuple[Any, Any]:
        raw = element_id = None
        for key, value in node.items():
            if key == "value":
                raw = value
            elif key == "id":
                element_id = value
            elif not key.startswith(_XSI_PREFIX):
                raise _Fail(f"unexpected attribute {_local_name(key)!r}")
        text = node.text
        if text and not text.isspace():
            raise _unexpected_text(text)
        extensions: list[dict[str, Any]] | None = None
        if len(node):
            extensions = []
            for child in node:
                text = child.tail
                if text and not text.isspace():
                    raise _unexpected_text(text)
                tag = child.tag
                if tag.__class__ is not str:
                    continue
                if tag != _EXTENSION_TAG:
                    fail = self.unknown(tag, {})
                    fail.message += " (a primitive element only has extensions)"
                    raise fail
                ext: dict[str, Any] = {}
                try:
                    self.fill(child, self.extension, ext)
                except _Fail as fail:
                    fail.segments.append(f"extension[{len(extensions)}]")
                    raise
                extensions.append(ext)
        if raw is None:
            if element_id is None and not extensions:
                raise _Fail("primitive element has neither a value nor extensions")
            value = None
        elif element.value_kind == _STRING:
            value = raw
        else:
            value = _value_from_xml(raw, element.value_kind)
        if element_id is None and not extensions:
            return value, None
        extra: dict[str, Any] = {}
        if element_id is not None:
            extra["id"] = element_id
        if extensions:
            extra["extension"] = extensions
        return value, extra

    def container(self, node: etree._Element) -> dict[str, Any]:
        for key in node.attrib:
            if not key.startswith(_XSI_PREFIX):
                raise _Fail(f"unexpected attribute {_local_name(key)!r}")
        text = node.text
        if text and not text.isspace():
            raise _unexpected_text(text)
        inner: etree._Element | None = None
        for child in node:
            text = child.tail
            if text and not text.isspace():
                raise _unexpected_text(text)
            if child.tag.__class__ is not str:
                continue
            if inner is not None:
                raise _Fail("must contain exactly one resource")
            inner = child
        if inner is None:
            raise _Fail("must contain exactly one resource")
        return self.resource(inner)


def _entry_index(entry: tuple[_Element, Any]) -> int:
    return entry[0].index


def _escape_xhtml(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    return text


def _xhtml_to_json(node: etree._Element) -> str:
    """Serialise an XHTML ``div`` to the JSON string form (default XHTML namespace declared on it)."""
    parts: list[str] = []
    _serialise_xhtml(node, parts, True)
    return "".join(parts)


def _serialise_xhtml(node: etree._Element, parts: list[str], is_root: bool) -> None:
    tag = node.tag
    if tag.__class__ is not str:  # comment (processing instructions are removed by the parser)
        parts.append("<!--" + (node.text or "") + "-->")
    else:
        if not tag.startswith(_XHTML_PREFIX):
            raise _Fail(f"element {tag!r} is not allowed in the narrative (XHTML only)")
        name = tag[len(_XHTML_PREFIX) :]
        parts.append("<" + name + (' xmlns="' + XHTML_NS + '"' if is_root else ""))
        if len(node.attrib):
            for key, value in node.items():
                if key[0] == "{":
                    if not key.startswith(_XML_PREFIX):
                        raise _Fail(f"attribute {key!r} is not allowed in the narrative")
                    key = "xml:" + key[len(_XML_PREFIX) :]
                parts.append(" " + key + '="' + _escape_xhtml(value) + '"')
        text = node.text
        if text is None and not len(node):
            parts.append("/>")
        else:
            parts.append(">")
            if text:
                parts.append(_escape_xhtml(text))
            for child in node:
                _serialise_xhtml(child, parts, False)
            parts.append("</" + name + ">")
    if not is_root:
        tail = node.tail
        if tail:
            parts.append(_escape_xhtml(tail))


def xml_to_resource(data: bytes | str) -> dict[str, Any]:
    """Parse a FHIR R4 XML resource and return its JSON form (as :func:`json.loads` would give it).

    ``data`` is the XML document, as bytes (in the encoding it declares, UTF-8 by default) or as
    text. Raises :class:`FhirXmlError` if the document is not well-formed, carries a DOCTYPE, or is
    not a FHIR R4 resource (unknown resource type, unknown element, repeated singleton, invalid
    boolean / integer / decimal literal...).
    """
    root = _parse(data)
    tag = root.tag
    try:
        return _Reader(_model()).resource(root)
    except _Fail as fail:
        name = tag[len(_FHIR_PREFIX) :] if tag.startswith(_FHIR_PREFIX) else _local_name(tag)
        raise _error(fail, name) from None
    except RecursionError:  # pragma: no cover - libxml2 limits the depth to 256 already
        raise FhirXmlError("document is nested too deeply") from None


# ---------------------------------------------------------------------------------------------------
# JSON -> XML
# ---------------------------------------------------------------------------------------------------

_MAX_DEPTH = 250  # libxml2 refuses documents nested deeper than 256 elements (huge_tree=False)
_INDENTS = ("",) + tuple("\n" + "  " * depth for depth in range(1, _MAX_DEPTH + 2))
_NO_INDENTS = ("",) * (_MAX_DEPTH + 2)
_CLOSE_INDENTS = ("\n",) + _INDENTS[1:]  # the root's closing tag goes on a line of its own

_ATTRIBUTE_SPECIAL_RE = re.compile(r'[&<>"\n\r\t]')
_ATTRIBUTE_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "\n": "&#10;",
    "\r": "&#13;",
    "\t": "&#9;",
}
# characters that XML 1.0 cannot carry, even as character references (and lone surrogates)
_NON_XML_CHAR_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape_attribute(value: str) -> str:
    if _ATTRIBUTE_SPECIAL_RE.search(value) is None:
        return value
    return _ATTRIBUTE_SPECIAL_RE.sub(_attribute_escape, value)


def _attribute_escape(match: re.Match[str]) -> str:
    return _ATTRIBUTE_ESCAPES[match.group()]


def _attribute(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _Fail(f"expected a string, got {type(value).__name__}", name)
    return " " + name + '="' + _escape_attribute(value) + '"'


_DIV_START_RE = re.compile(r"<div(?=[\s/>])")
# Tokens of an XHTML fragment without comments, CDATA or processing instructions: a tag (attribute
# values cannot contain "<" in well-formed XML, which also keeps this regex linear) or a run of text.
_MARKUP_RE = re.compile(r"""(<[^<>"']*(?:(?:"[^"<]*"|'[^'<]*')[^<>"']*)*>)|([^<]+)""")
_ATTRIBUTE_VALUE_RE = re.compile(r""""[^"<]*"|'[^'<]*'""")
_WHITESPACE_REFS = {"\r": "&#13;", "\n": "&#10;", "\t": "&#9;"}
_WHITESPACE_RE = re.compile(r"[\r\n\t]")
# cheap test for an attribute value holding a tab / line feed (may also match text: then harmless)
_ATTRIBUTE_WHITESPACE_RE = re.compile(r"""=\s*(?:"[^"<]*[\n\t]|'[^'<]*[\n\t])""")


def _protect_whitespace(match: re.Match[str]) -> str:
    return _WHITESPACE_REFS[match.group()]


def _protect_attribute_value(match: re.Match[str]) -> str:
    return _WHITESPACE_RE.sub(_protect_whitespace, match.group())


def _protect_markup(match: re.Match[str]) -> str:
    tag = match.group(1)
    if tag is not None:
        if "\r" in tag or "\n" in tag or "\t" in tag:
            return _ATTRIBUTE_VALUE_RE.sub(_protect_attribute_value, tag)
        return tag
    text = match.group(2)
    return text.replace("\r", "&#13;") if "\r" in text else text


def _prepare_xhtml(value: Any) -> str:
    """Check a JSON narrative string and return the exact text to embed in the XML document."""
    if not isinstance(value, str):
        raise _Fail(f"narrative must be a string, got {type(value).__name__}")
    text = value.strip()
    if not text.startswith("<") or text.startswith(("<?", "<!")) or "<!DOCTYPE" in text:
        raise _Fail("narrative must be a single XHTML <div> element")
    if ("\r" in text or _ATTRIBUTE_WHITESPACE_RE.search(text)) and "<!" not in text and "<?" not in text:
        # keep carriage returns of text and white space of attribute values through XML parsing
        text = _MARKUP_RE.sub(_protect_markup, text)
    root = _parse_fragment(text)
    if root.tag == "div":
        # FHIR requires the XHTML namespace; add it when a client forgot it
        text = _DIV_START_RE.sub('<div xmlns="' + XHTML_NS + '"', text, count=1)
        root = _parse_fragment(text)
    if root.tag != _XHTML_DIV_TAG:
        raise _Fail(f"narrative must be an XHTML <div> element, got {root.tag!r}")
    if root.getprevious() is not None or root.getnext() is not None:
        raise _Fail("narrative must be a single XHTML <div> element")
    for node in root.iter():
        tag = node.tag
        if tag.__class__ is str and not tag.startswith(_XHTML_PREFIX):
            raise _Fail(f"element {tag!r} is not allowed in the narrative (XHTML only)")
    return text


def _parse_fragment(text: str) -> etree._Element:
    try:
        root = etree.fromstring(text, _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise _Fail(f"narrative is not well-formed XHTML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise _Fail("narrative must not carry a DOCTYPE")
    return root


def _format_value(value: Any, value_kind: int) -> str:
    """JSON value of a primitive -> text of its XML ``value`` attribute (not yet escaped)."""
    if value_kind == _STRING:
        if isinstance(value, str):
            return value
        raise _Fail(f"expected a string, got {type(value).__name__}")
    if value_kind == _BOOLEAN:
        if value is True:
            return "true"
        if value is False:
            return "false"
        raise _Fail(f"expected a boolean, got {type(value).__name__}")
    if isinstance(value, bool):
        raise _Fail("expected a number, got a boolean")
    if isinstance(value, int):
        return str(value)
    if value_kind == _DECIMAL:
        if isinstance(value, float):
            if math.isfinite(value):
                return repr(value)
            raise _Fail("decimal must be finite")
        if isinstance(value, Decimal):
            if value.is_finite():
                return str(value)
            raise _Fail("decimal must be finite")
        raise _Fail(f"expected a decimal number, got {type(value).__name__}")
    raise _Fail(f"expected an integer, got {type(value).__name__}")


class _Writer:
    """Writes the XML text directly (names come from the schema, values are escaped here)."""

    __slots__ = ("types", "resources", "extension", "parts", "indents", "close_indents")

    def __init__(self, model: _Model, pretty: bool) -> None:
        self.types = model.types
        self.resources = model.resources
        self.extension = model.extension
        self.parts: list[str] = []
        self.indents = _INDENTS if pretty else _NO_INDENTS
        self.close_indents = _CLOSE_INDENTS if pretty else _NO_INDENTS

    def resource(self, obj: Any, depth: int) -> str:
        if not isinstance(obj, Mapping):
            raise _Fail(f"expected a resource (JSON object), got {type(obj).__name__}")
        rtype = obj.get("resourceType")
        if not isinstance(rtype, str):
            raise _Fail("missing or invalid resourceType")
        t = self.resources.get(rtype)
        if t is None:
            raise _Fail(f"unknown resource type {rtype!r}")
        self.complex(rtype, ' xmlns="' + FHIR_NS + '"' if depth == 0 else "", obj, t, depth)
        return rtype

    def complex(self, name: str, attributes: str, obj: Mapping[str, Any], t: _Type, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _Fail("resource is nested too deeply")
        by_key = t.by_key
        present: list[_Element] = []
        last_index = -1
        ordered = True
        for key in obj:
            element = by_key.get(key)
            if element is None:
                if (
                    (key == "resourceType" and t.is_resource)
                    or (key == "id" and t.id_attr)
                    or (key == "url" and t.url_attr)
                ):
                    continue
                raise _Fail("unknown element", key)
            if key[0] != "_" or element.name not in obj:
                present.append(element)
                if element.index < last_index:
                    ordered = False
                last_index = element.index
        if t.id_attr:
            value = obj.get("id")
            if value is not None:
                attributes += _attribute("id", value)
        if t.url_attr:
            value = obj.get("url")
            if value is not None:
                attributes += _attribute("url", value)
        parts = self.parts
        indent = self.indents[depth]
        start = indent + "<" + name + attributes
        parts.append(start + ">")
        mark = len(parts)
        if not ordered:
            present.sort(key=_element_index)
        depth += 1
        for element in present:
            name_ = element.name
            kind = element.kind
            if kind == _PRIMITIVE:
                self.primitives(obj, element, depth)
                continue
            value = obj.get(name_)
            if value is None:
                continue
            if element.is_array:
                if value.__class__ is not list:
                    raise _Fail("expected an array", name_)
                if not value:
                    raise _Fail("arrays must not be empty", name_)
                for i, item in enumerate(value):
                    try:
                        self.one(element, item, depth)
                    except _Fail as fail:
                        fail.segments.append(f"{name_}[{i}]")
                        raise
            else:
                if value.__class__ is list:
                    raise _Fail("expected a single value, not an array", name_)
                try:
                    self.one(element, value, depth)
                except _Fail as fail:
                    fail.segments.append(name_)
                    raise
        if len(parts) == mark:
            parts[mark - 1] = start + "/>"
        else:
            parts.append(self.close_indents[depth - 1] + "</" + name + ">")

    def one(self, element: _Element, value: Any, depth: int) -> None:
        kind = element.kind
        if kind == _COMPLEX:
            if not isinstance(value, Mapping):
                raise _Fail(f"expected a JSON object, got {type(value).__name__}")
            self.complex(element.name, "", value, self.types[element.type_name], depth)
        elif kind == _RESOURCE:
            indent = self.indents[depth]
            tag = element.name
            self.parts.append(indent + "<" + tag + ">")
            self.resource(value, depth + 1)
            self.parts.append(indent + "</" + tag + ">")
        else:
            self.parts.append(self.indents[depth] + _prepare_xhtml(value))

    def primitives(self, obj: Mapping[str, Any], element: _Element, depth: int) -> None:
        name = element.name
        value = obj.get(name)
        extra = obj.get("_" + name)
        if not element.is_array:
            if value is None and extra is None:
                return
            if value.__class__ is list or extra.__class__ is list:
                raise _Fail("expected a single value, not an array", name)
            try:
                self.primitive(element, value, extra, depth)
            except _Fail as fail:
                fail.segments.append(name)
                raise
            return
        if value is None and extra is None:
            return
        if value is not None and value.__class__ is not list:
            raise _Fail("expected an array", name)
        if extra is not None and extra.__class__ is not list:
            raise _Fail("expected an array", "_" + name)
        if value is not None and extra is not None and len(value) != len(extra):
            raise _Fail(f"'{name}' and '_{name}' arrays differ in length", name)
        count = len(value) if value is not None else len(extra)  # type: ignore[arg-type]
        if not count:
            raise _Fail("arrays must not be empty", name)
        for i in range(count):
            item = value[i] if value is not None else None
            item_extra = extra[i] if extra is not None else None
            try:
                if item is None and item_extra is None:
                    raise _Fail(f"null in both '{name}' and '_{name}'")
                self.primitive(element, item, item_extra, depth)
            except _Fail as fail:
                fail.segments.append(f"{name}[{i}]")
                raise

    def primitive(self, element: _Element, value: Any, extra: Any, depth: int) -> None:
        attributes = ""
        extensions = None
        if extra is not None:
            if not isinstance(extra, Mapping):
                raise _Fail(f"'_{element.name}' must be a JSON object")
            for key in extra:
                if key != "id" and key != "extension":
                    raise _Fail(f"unknown element ('_{element.name}' only holds id and extension)", key)
            element_id = extra.get("id")
            if element_id is not None:
                attributes = _attribute("id", element_id)
            extensions = extra.get("extension")
        if value is not None:
            text = _format_value(value, element.value_kind)
            if _ATTRIBUTE_SPECIAL_RE.search(text) is not None:
                text = _ATTRIBUTE_SPECIAL_RE.sub(_attribute_escape, text)
            attributes += ' value="' + text + '"'
        indent = self.indents[depth]
        if extensions is None:
            if not attributes:
                raise _Fail("primitive element has neither a value nor extensions")
            self.parts.append(indent + "<" + element.name + attributes + "/>")
            return
        if extensions.__class__ is not list:
            raise _Fail("expected an array", "extension")
        if not extensions:
            raise _Fail("arrays must not be empty", "extension")
        self.parts.append(indent + "<" + element.name + attributes + ">")
        extension_type = self.extension
        for i, ext in enumerate(extensions):
            try:
                if not isinstance(ext, Mapping):
                    raise _Fail(f"expected a JSON object, got {type(ext).__name__}")
                self.complex("extension", "", ext, extension_type, depth + 1)
            except _Fail as fail:
                fail.segments.append(f"extension[{i}]")
                raise
        self.parts.append(indent + "</" + element.name + ">")


_element_index = operator.attrgetter("index")


def _locate_non_xml_char(value: Any, path: str) -> str | None:
    """Path of the first string of a JSON structure holding a character XML cannot carry."""
    if isinstance(value, str):
        return path if _NON_XML_CHAR_RE.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "resourceType":
                continue
            found = _locate_non_xml_char(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _locate_non_xml_char(item, f"{path}[{i}]")
            if found:
                return found
    return None


def resource_to_xml(resource: Mapping[str, Any], *, pretty: bool = False) -> bytes:
    """Serialise a FHIR R4 resource given in its JSON form to XML.

    Returns UTF-8 bytes starting with an XML declaration; elements are written in definition order,
    in the ``http://hl7.org/fhir`` default namespace. ``pretty`` indents the output with two spaces
    per level (narratives are embedded unchanged either way). Raises :class:`FhirXmlError` on
    unknown resource types or properties, wrong value types, characters that XML cannot carry, or a
    narrative that is not a well-formed XHTML ``<div>``.
    """
    writer = _Writer(_model(), pretty)
    rtype = resource.get("resourceType") if isinstance(resource, Mapping) else None
    root = rtype if isinstance(rtype, str) else "resource"
    try:
        writer.resource(resource, 0)
    except _Fail as fail:
        raise _error(fail, root) from None
    except RecursionError:
        raise FhirXmlError("resource is nested too deeply", root) from None
    text = "".join(writer.parts)
    match = _NON_XML_CHAR_RE.search(text)
    if match is not None:
        where = _locate_non_xml_char(resource, root) or root
        raise FhirXmlError(f"character U+{ord(match.group()):04X} cannot be represented in XML", where)
    if pretty:
        text += "\n"
    return _XML_DECLARATION + text.encode("utf-8")
