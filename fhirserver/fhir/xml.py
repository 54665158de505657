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

Narrative ``div`` strings: JSON -> XML embeds the string byte for byte (carriage returns in text, and
tabs / line feeds in attribute values, are written as character references so that XML parsing keeps
them). XML -> JSON serialises the XHTML tree with the conventions of the FHIR reference implementation
(``&amp; &lt; &gt; &quot;`` escaped, empty elements self-closed, comments kept). The only difference
a JSON -> XML -> JSON round trip can show is therefore ``<x></x>`` becoming ``<x/>`` (the XML infoset
does not distinguish them).

Parsing is safe: lxml with ``resolve_entities=False, no_network=True, load_dtd=False,
huge_tree=False``, and any document (or narrative) carrying a DOCTYPE is refused before parsing, with
a post-parse check as a second line of defence, so XXE and entity-expansion ("billion laughs")
payloads are never expanded. Comments and processing instructions outside the narrative are
ignored. Child elements are accepted in any order when parsing XML (the output is always in
definition order); everything else that is not part of FHIR R4 raises :class:`FhirXmlError` with the
FHIRPath-like location of the offending element (e.g. ``Patient.name[0].given``).
"""

from __future__ import annotations

import math
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
    resource type, wrong value type... The message names the element path when it is known."""


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
    return {"boolean": "boolean", "number": "decimal"}.get(json_type, "string")


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


# ---------------------------------------------------------------------------------------------------
# XML -> JSON
# ---------------------------------------------------------------------------------------------------

_INTEGER_RE = re.compile(r"-?[0-9]+")
_DECIMAL_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _describe_tag(tag: str) -> str:
    if tag.startswith(_FHIR_PREFIX):
        return tag[len(_FHIR_PREFIX) :]
    return tag


def _check_text(text: str | None, path: str) -> None:
    if text and not text.isspace():
        raise FhirXmlError(f"{path}: unexpected text content {text.strip()[:40]!r}")


def _value_from_xml(raw: str, value_kind: int, path: str) -> Any:
    if value_kind == _STRING:
        return raw
    if value_kind == _BOOLEAN:
        if raw == "true":
            return True
        if raw == "false":
            return False
        raise FhirXmlError(f"{path}: invalid boolean {raw!r} (expected 'true' or 'false')")
    if value_kind == _INTEGER:
        if not _INTEGER_RE.fullmatch(raw):
            raise FhirXmlError(f"{path}: invalid integer {raw!r}")
        return int(raw)
    if not _DECIMAL_RE.fullmatch(raw):
        raise FhirXmlError(f"{path}: invalid decimal {raw!r}")
    if "." not in raw and "e" not in raw and "E" not in raw:
        return int(raw)
    value = float(raw)
    if not math.isfinite(value):
        raise FhirXmlError(f"{path}: decimal {raw!r} is out of range")
    return value


def _check_extra_attributes(node: etree._Element, allowed: tuple[str, ...], present: int, path: str) -> None:
    """Raise unless every attribute beyond the ``present`` allowed ones is an xsi: attribute."""
    if len(node.attrib) > present:
        for name in node.attrib:
            if name not in allowed and not name.startswith(_XSI_PREFIX):
                raise FhirXmlError(f"{path}: unexpected attribute {_describe_tag(name)!r}")


class _Reader:
    __slots__ = ("model",)

    def __init__(self, model: _Model) -> None:
        self.model = model

    def resource(self, node: etree._Element, path: str) -> dict[str, Any]:
        tag = node.tag
        if not tag.startswith(_FHIR_PREFIX):
            where = f"{path}: " if path else ""
            raise FhirXmlError(f"{where}element {tag!r} is not a FHIR resource (namespace must be {FHIR_NS})")
        rtype = tag[len(_FHIR_PREFIX) :]
        t = self.model.resources.get(rtype)
        if t is None:
            where = f"{path}: " if path else ""
            raise FhirXmlError(f"{where}unknown resource type {rtype!r}")
        out: dict[str, Any] = {"resourceType": rtype}
        self.fill(node, t, out, path or rtype)
        return out

    def fill(self, node: etree._Element, t: _Type, out: dict[str, Any], path: str) -> None:
        attrib = node.attrib
        known = 0
        if t.id_attr:
            value = attrib.get("id")
            if value is not None:
                out["id"] = value
                known += 1
        if t.url_attr:
            value = attrib.get("url")
            if value is not None:
                out["url"] = value
                known += 1
        if len(attrib) > known:
            for name in attrib:
                if not (
                    (name == "id" and t.id_attr)
                    or (name == "url" and t.url_attr)
                    or name.startswith(_XSI_PREFIX)
                ):
                    raise FhirXmlError(f"{path}: unexpected attribute {_describe_tag(name)!r}")
        _check_text(node.text, path)

        by_tag = t.by_tag
        found: dict[_Element, Any] = {}
        last_index = -1
        ordered = True
        for child in node:
            tag = child.tag
            if not isinstance(tag, str):  # comment
                _check_text(child.tail, path)
                continue
            element = by_tag.get(tag)
            if element is None:
                if tag.startswith(_FHIR_PREFIX) and _XHTML_PREFIX + tag[len(_FHIR_PREFIX) :] in by_tag:
                    raise FhirXmlError(
                        f"{path}.{_local_name(tag)}: must be in the XHTML namespace {XHTML_NS}"
                    )
                if tag.startswith(_FHIR_PREFIX) or tag.startswith(_XHTML_PREFIX):
                    raise FhirXmlError(f"{path}.{_local_name(tag)}: unknown element")
                raise FhirXmlError(f"{path}: unknown element {tag!r} (not in the FHIR namespace)")
            _check_text(child.tail, path)
            name = element.name
            if element.is_array:
                items = found.get(element)
                if items is None:
                    items = found[element] = []
                child_path = f"{path}.{name}[{len(items)}]"
            else:
                if element in found:
                    raise FhirXmlError(f"{path}.{name}: element repeated but it is not an array")
                child_path = f"{path}.{name}"
            kind = element.kind
            if kind == _PRIMITIVE:
                value: Any = self.primitive(child, element, child_path)
            elif kind == _COMPLEX:
                value = {}
                self.fill(child, self.model.types[element.type_name], value, child_path)
            elif kind == _RESOURCE:
                value = self.container(child, child_path)
            else:
                value = _xhtml_to_json(child, child_path)
            if element.is_array:
                items.append(value)
            else:
                found[element] = value
            if element.index < last_index:
                ordered = False
            last_index = element.index

        entries = found.items() if ordered else sorted(found.items(), key=lambda kv: kv[0].index)
        for element, value in entries:
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
                v, x = value
                if v is not None:
                    out[name] = v
                if x is not None:
                    out["_" + name] = x

    def primitive(self, node: etree._Element, element: _Element, path: str) -> tuple[Any, Any]:
        attrib = node.attrib
        raw = attrib.get("value")
        element_id = attrib.get("id")
        _check_extra_attributes(node, ("id", "value"), (raw is not None) + (element_id is not None), path)
        _check_text(node.text, path)
        extensions: list[dict[str, Any]] = []
        for child in node:
            tag = child.tag
            _check_text(child.tail, path)
            if not isinstance(tag, str):
                continue
            if tag != _EXTENSION_TAG:
                raise FhirXmlError(
                    f"{path}.{_local_name(tag)}: unknown element (a primitive only has extensions)"
                )
            ext: dict[str, Any] = {}
            self.fill(child, self.model.extension, ext, f"{path}.extension[{len(extensions)}]")
            extensions.append(ext)
        if raw is None and element_id is None and not extensions:
            raise FhirXmlError(f"{path}: primitive element has neither a value nor extensions")
        value = None if raw is None else _value_from_xml(raw, element.value_kind, path)
        extra: dict[str, Any] | None = None
        if element_id is not None or extensions:
            extra = {}
            if element_id is not None:
                extra["id"] = element_id
            if extensions:
                extra["extension"] = extensions
        return value, extra

    def container(self, node: etree._Element, path: str) -> dict[str, Any]:
        _check_extra_attributes(node, (), 0, path)
        _check_text(node.text, path)
        inner: etree._Element | None = None
        for child in node:
            _check_text(child.tail, path)
            if not isinstance(child.tag, str):
                continue
            if inner is not None:
                raise FhirXmlError(f"{path}: must contain exactly one resource")
            inner = child
        if inner is None:
            raise FhirXmlError(f"{path}: must contain exactly one resource")
        return self.resource(inner, path)


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


def _xhtml_to_json(node: etree._Element, path: str) -> str:
    """Serialise an XHTML ``div`` as the JSON string form (default XHTML namespace declared on it)."""
    parts: list[str] = []
    _serialise_xhtml(node, parts, path, True)
    return "".join(parts)


def _serialise_xhtml(node: etree._Element, parts: list[str], path: str, is_root: bool) -> None:
    tag = node.tag
    if not isinstance(tag, str):  # comment (processing instructions are removed by the parser)
        parts.append("<!--" + (node.text or "") + "-->")
    else:
        if not tag.startswith(_XHTML_PREFIX):
            raise FhirXmlError(f"{path}: element {tag!r} is not allowed in the narrative (XHTML only)")
        name = tag[len(_XHTML_PREFIX) :]
        parts.append("<" + name)
        if is_root:
            parts.append(' xmlns="' + XHTML_NS + '"')
        for key, value in node.attrib.items():
            if key.startswith("{"):
                if not key.startswith(_XML_PREFIX):
                    raise FhirXmlError(f"{path}: attribute {key!r} is not allowed in the narrative")
                key = "xml:" + key[len(_XML_PREFIX) :]
            parts.append(" " + key + '="' + _escape_xhtml(value) + '"')
        text = node.text
        if text is None and len(node) == 0:
            parts.append("/>")
        else:
            parts.append(">")
            if text:
                parts.append(_escape_xhtml(text))
            for child in node:
                _serialise_xhtml(child, parts, path, False)
            parts.append("</" + name + ">")
    if not is_root and node.tail:
        parts.append(_escape_xhtml(node.tail))


def xml_to_resource(data: bytes | str) -> dict[str, Any]:
    """Parse a FHIR R4 XML resource and return its JSON form (as :func:`json.loads` would give it).

    ``data`` is the XML document, as bytes (any encoding declared by the document) or as text.
    Raises :class:`FhirXmlError` if the document is not well-formed, carries a DOCTYPE, or is not a
    valid FHIR R4 resource structure (unknown resource type, unknown element, repeated singleton,
    invalid boolean / integer / decimal value...).
    """
    root = _parse(data)
    try:
        return _Reader(_model()).resource(root, "")
    except RecursionError:
        raise FhirXmlError("document is nested too deeply") from None


# ---------------------------------------------------------------------------------------------------
# JSON -> XML
# ---------------------------------------------------------------------------------------------------

_PLACEHOLDER = "fhir-xml-narrative-placeholder-"
_PLACEHOLDER_RE = re.compile(
    ('<div xmlns="' + XHTML_NS + '">' + _PLACEHOLDER + r"(\d+)</div>").encode("ascii")
)
_DIV_START_RE = re.compile(r"<div(?=[\s/>])")
# Tokens of an XHTML fragment without comments, CDATA or processing instructions: a tag (attribute
# values cannot contain "<" in well-formed XML) or a run of text.
_MARKUP_RE = re.compile(r"""(<[^<>"']*(?:(?:"[^"<]*"|'[^'<]*')[^<>"']*)*>)|([^<]+)""")
_ATTRIBUTE_VALUE_RE = re.compile(r""""[^"<]*"|'[^'<]*'""")
_WHITESPACE_REFS = {"\r": "&#13;", "\n": "&#10;", "\t": "&#9;"}
_ATTRIBUTE_WS_RE = re.compile(r"[\r\n\t]")


def _protect_attribute_ws(match: re.Match[str]) -> str:
    return _ATTRIBUTE_WS_RE.sub(lambda m: _WHITESPACE_REFS[m.group()], match.group())


def _protect_markup(match: re.Match[str]) -> str:
    tag = match.group(1)
    if tag is not None:
        if "\r" in tag or "\n" in tag or "\t" in tag:
            return _ATTRIBUTE_VALUE_RE.sub(_protect_attribute_ws, tag)
        return tag
    text = match.group(2)
    return text.replace("\r", "&#13;") if "\r" in text else text


def _prepare_xhtml(value: Any, path: str) -> str:
    """Check a JSON narrative string and return the exact text to embed in the XML document."""
    if not isinstance(value, str):
        raise FhirXmlError(f"{path}: narrative must be a string, got {type(value).__name__}")
    text = value.strip()
    if not text.startswith("<") or text.startswith(("<?", "<!")) or "<!DOCTYPE" in text:
        raise FhirXmlError(f"{path}: narrative must be a single XHTML <div> element")
    if ("\r" in text or "\n" in text or "\t" in text) and "<!" not in text and "<?" not in text:
        # keep carriage returns of text and white space of attribute values through XML parsing
        text = _MARKUP_RE.sub(_protect_markup, text)
    root = _parse_fragment(text, path)
    if root.tag == "div":
        # FHIR requires the XHTML namespace; add it when a client forgot it
        text = _DIV_START_RE.sub('<div xmlns="' + XHTML_NS + '"', text, count=1)
        root = _parse_fragment(text, path)
    if root.tag != _XHTML_DIV_TAG:
        raise FhirXmlError(f"{path}: narrative must be an XHTML <div> element, got {root.tag!r}")
    if root.getprevious() is not None or root.getnext() is not None:
        raise FhirXmlError(f"{path}: narrative must be a single XHTML <div> element")
    for node in root.iter():
        tag = node.tag
        if isinstance(tag, str) and not tag.startswith(_XHTML_PREFIX):
            raise FhirXmlError(f"{path}: element {tag!r} is not allowed in the narrative (XHTML only)")
    return text


def _parse_fragment(text: str, path: str) -> etree._Element:
    try:
        root = etree.fromstring(text, _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise FhirXmlError(f"{path}: narrative is not well-formed XHTML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise FhirXmlError(f"{path}: narrative must not carry a DOCTYPE")
    return root


def _format_value(value: Any, value_kind: int, path: str) -> str:
    if value_kind == _STRING:
        if isinstance(value, str):
            return value
        raise FhirXmlError(f"{path}: expected a string, got {type(value).__name__}")
    if value_kind == _BOOLEAN:
        if value is True:
            return "true"
        if value is False:
            return "false"
        raise FhirXmlError(f"{path}: expected a boolean, got {type(value).__name__}")
    if isinstance(value, bool):
        raise FhirXmlError(f"{path}: expected a number, got a boolean")
    if isinstance(value, int):
        return str(value)
    if value_kind == _DECIMAL:
        if isinstance(value, float):
            if math.isfinite(value):
                return repr(value)
            raise FhirXmlError(f"{path}: decimal must be finite")
        if isinstance(value, Decimal):
            if value.is_finite():
                return str(value)
            raise FhirXmlError(f"{path}: decimal must be finite")
        raise FhirXmlError(f"{path}: expected a decimal number, got {type(value).__name__}")
    raise FhirXmlError(f"{path}: expected an integer, got {type(value).__name__}")


def _set_attribute(node: etree._Element, name: str, value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise FhirXmlError(f"{path}: {name} must be a string, got {type(value).__name__}")
    try:
        node.set(name, value)
    except ValueError as exc:  # characters that XML cannot carry (NUL, most C0 controls)
        raise FhirXmlError(f"{path}: {name} cannot be represented in XML: {exc}") from None


class _Writer:
    __slots__ = ("model", "narratives")

    def __init__(self, model: _Model) -> None:
        self.model = model
        self.narratives: list[bytes] = []

    def resource(self, parent: etree._Element | None, obj: Any, path: str) -> etree._Element:
        if not isinstance(obj, Mapping):
            raise FhirXmlError(f"{path or 'resource'}: expected a JSON object, got {type(obj).__name__}")
        rtype = obj.get("resourceType")
        if not isinstance(rtype, str):
            raise FhirXmlError(f"{path or 'resource'}: missing or invalid resourceType")
        t = self.model.resources.get(rtype)
        if t is None:
            where = f"{path}: " if path else ""
            raise FhirXmlError(f"{where}unknown resource type {rtype!r}")
        if parent is None:
            node = etree.Element(t.tag, nsmap={None: FHIR_NS})
        else:
            node = etree.SubElement(parent, t.tag)
        self.fill(node, obj, t, path or rtype)
        return node

    def fill(self, node: etree._Element, obj: Mapping[str, Any], t: _Type, path: str) -> None:
        by_key = t.by_key
        present: list[_Element] = []
        for key in obj:
            element = by_key.get(key)
            if element is None:
                if (
                    (key == "resourceType" and t.is_resource)
                    or (key == "id" and t.id_attr)
                    or (key == "url" and t.url_attr)
                ):
                    continue
                raise FhirXmlError(f"{path}.{key}: unknown element")
            if key[0] != "_" or element.name not in obj:
                present.append(element)
        if t.id_attr:
            value = obj.get("id")
            if value is not None:
                _set_attribute(node, "id", value, f"{path}.id")
        if t.url_attr:
            value = obj.get("url")
            if value is not None:
                _set_attribute(node, "url", value, f"{path}.url")
        if len(present) > 1:
            present.sort(key=_element_index)
        for element in present:
            name = element.name
            kind = element.kind
            if kind == _PRIMITIVE:
                self.primitives(node, obj, element, path)
                continue
            value = obj.get(name)
            if value is None:
                continue
            if element.is_array:
                if not isinstance(value, list):
                    raise FhirXmlError(f"{path}.{name}: expected an array")
                if not value:
                    raise FhirXmlError(f"{path}.{name}: arrays must not be empty")
                for i, item in enumerate(value):
                    self.one(node, element, item, f"{path}.{name}[{i}]")
            else:
                if isinstance(value, list):
                    raise FhirXmlError(f"{path}.{name}: expected a single value, not an array")
                self.one(node, element, value, f"{path}.{name}")

    def one(self, parent: etree._Element, element: _Element, value: Any, path: str) -> None:
        kind = element.kind
        if kind == _COMPLEX:
            if not isinstance(value, Mapping):
                raise FhirXmlError(f"{path}: expected a JSON object, got {type(value).__name__}")
            self.fill(etree.SubElement(parent, element.tag), value, self.model.types[element.type_name], path)
        elif kind == _RESOURCE:
            self.resource(etree.SubElement(parent, element.tag), value, path)
        else:
            text = _prepare_xhtml(value, path)
            placeholder = etree.SubElement(parent, _XHTML_DIV_TAG, nsmap={None: XHTML_NS})
            placeholder.text = _PLACEHOLDER + str(len(self.narratives))
            self.narratives.append(text.encode("utf-8"))

    def primitives(
        self, parent: etree._Element, obj: Mapping[str, Any], element: _Element, path: str
    ) -> None:
        name = element.name
        value = obj.get(name)
        extra = obj.get("_" + name)
        if element.is_array:
            if value is None and extra is None:
                return
            if value is not None and not isinstance(value, list):
                raise FhirXmlError(f"{path}.{name}: expected an array")
            if extra is not None and not isinstance(extra, list):
                raise FhirXmlError(f"{path}._{name}: expected an array")
            if value is not None and extra is not None and len(value) != len(extra):
                raise FhirXmlError(f"{path}.{name}: '{name}' and '_{name}' arrays differ in length")
            count = len(value) if value is not None else len(extra)
            if not count:
                raise FhirXmlError(f"{path}.{name}: arrays must not be empty")
            for i in range(count):
                item = value[i] if value is not None else None
                item_extra = extra[i] if extra is not None else None
                if item is None and item_extra is None:
                    raise FhirXmlError(f"{path}.{name}[{i}]: null in both '{name}' and '_{name}'")
                self.primitive(parent, element, item, item_extra, f"{path}.{name}[{i}]")
        elif value is not None or extra is not None:
            if isinstance(value, list) or isinstance(extra, list):
                raise FhirXmlError(f"{path}.{name}: expected a single value, not an array")
            self.primitive(parent, element, value, extra, f"{path}.{name}")

    def primitive(self, parent: etree._Element, element: _Element, value: Any, extra: Any, path: str) -> None:
        node = etree.SubElement(parent, element.tag)
        extensions = None
        if extra is not None:
            if not isinstance(extra, Mapping):
                raise FhirXmlError(f"{path}: '_{element.name}' must be a JSON object")
            for key in extra:
                if key not in ("id", "extension"):
                    raise FhirXmlError(
                        f"{path}.{key}: unknown element ('_{element.name}' holds id and extension)"
                    )
            element_id = extra.get("id")
            if element_id is not None:
                _set_attribute(node, "id", element_id, f"{path}.id")
            extensions = extra.get("extension")
        if value is not None:
            _set_attribute(node, "value", _format_value(value, element.value_kind, path), path)
        if extensions is not None:
            if not isinstance(extensions, list):
                raise FhirXmlError(f"{path}.extension: expected an array")
            extension_type = self.model.extension
            for i, ext in enumerate(extensions):
                ext_path = f"{path}.extension[{i}]"
                if not isinstance(ext, Mapping):
                    raise FhirXmlError(f"{ext_path}: expected a JSON object")
                self.fill(etree.SubElement(node, _EXTENSION_TAG), ext, extension_type, ext_path)


def _element_index(element: _Element) -> int:
    return element.index


def resource_to_xml(resource: Mapping[str, Any], *, pretty: bool = False) -> bytes:
    """Serialise a FHIR R4 resource given in its JSON form to XML.

    Returns UTF-8 bytes starting with an XML declaration; elements are written in definition order,
    in the ``http://hl7.org/fhir`` default namespace. ``pretty`` indents the output (narratives are
    embedded unchanged either way). Raises :class:`FhirXmlError` on unknown resource types or
    properties, wrong value types, or a narrative that is not a well-formed XHTML ``<div>``.
    """
    writer = _Writer(_model())
    try:
        root = writer.resource(None, resource, "")
    except RecursionError:
        raise FhirXmlError("resource is nested too deeply") from None
    body = etree.tostring(root, encoding="UTF-8", pretty_print=pretty)
    narratives = writer.narratives
    if narratives:
        body, count = _PLACEHOLDER_RE.subn(lambda m: narratives[int(m.group(1))], body)
        if count != len(narratives):  # pragma: no cover - defensive
            raise FhirXmlError("internal error while embedding narratives")
    return _XML_DECLARATION + body
