"""XML -> JSON: reading a FHIR R4 XML resource (https://hl7.org/fhir/R4/xml.html) into its JSON form
(https://hl7.org/fhir/R4/json.html), as :func:`json.loads` would give it.

Child elements are accepted in any order (the JSON output is always in definition order); comments and
processing instructions outside the narrative are ignored. XML decimals are read as ``int`` when the literal
is integral without a dot or exponent (``"3"``, ``"-12"``) and as ``float`` otherwise (``"1.50"`` -> ``1.5``,
``"1e3"`` -> ``1000.0``); non-finite values are refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from fhirserver.fhir.xml.common import (
    EXTENSION_TAG,
    FHIR_NS,
    FHIR_PREFIX,
    XHTML_NS,
    XHTML_PREFIX,
    XSI_PREFIX,
    Fail,
    FhirXmlError,
    located_error,
    parse_document,
)
from fhirserver.fhir.xml.model import (
    BOOLEAN,
    COMPLEX,
    INTEGER,
    PRIMITIVE,
    RESOURCE,
    STRING,
    ElementDef,
    Model,
    TypeDef,
    schema_model,
)
from fhirserver.fhir.xml.narrative import xhtml_to_json

_INTEGER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _unexpected_text(text: str) -> Fail:
    return Fail(f"unexpected text content {text.strip()[:40]!r}")


def _value_from_xml(raw: str, value_kind: int) -> Any:
    if value_kind == BOOLEAN:
        if raw == "true":
            return True
        if raw == "false":
            return False
        raise Fail(f"invalid boolean {raw!r} (expected 'true' or 'false')")
    if value_kind == INTEGER:
        if not _INTEGER_RE.fullmatch(raw):
            raise Fail(f"invalid integer {raw!r}")
        return int(raw)
    if not _DECIMAL_RE.fullmatch(raw):
        raise Fail(f"invalid decimal {raw!r}")
    if "." not in raw and "e" not in raw and "E" not in raw:
        return int(raw)
    value = float(raw)
    if not math.isfinite(value):
        raise Fail(f"decimal {raw!r} is out of range")
    return value


class _Reader:
    __slots__ = ("types", "resources", "extension")

    def __init__(self, model: Model) -> None:
        self.types = model.types
        self.resources = model.resources
        self.extension = model.extension

    def resource(self, node: etree._Element) -> dict[str, Any]:
        tag = node.tag
        if not tag.startswith(FHIR_PREFIX):
            raise Fail(f"element {tag!r} is not a FHIR resource (namespace must be {FHIR_NS})")
        rtype = tag[len(FHIR_PREFIX) :]
        t = self.resources.get(rtype)
        if t is None:
            raise Fail(f"unknown resource type {rtype!r}")
        out: dict[str, Any] = {"resourceType": rtype}
        self.fill(node, t, out)
        return out

    def fill(self, node: etree._Element, t: TypeDef, out: dict[str, Any]) -> None:
        if len(node.attrib):
            for key, attribute in node.items():
                if (key == "id" and t.id_attr) or (key == "url" and t.url_attr):
                    out[key] = attribute
                elif not key.startswith(XSI_PREFIX):
                    raise Fail(f"unexpected attribute {_local_name(key)!r}")
        text = node.text
        if text and not text.isspace():
            raise _unexpected_text(text)

        by_tag = t.by_tag
        found: dict[ElementDef, Any] = {}
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
                raise Fail("element repeated but it is not an array", element.name)
            try:
                kind = element.kind
                if kind == PRIMITIVE:
                    value: Any = self.primitive(child, element)
                elif kind == COMPLEX:
                    value = {}
                    self.fill(child, self.types[element.type_name], value)
                elif kind == RESOURCE:
                    value = self.container(child)
                else:
                    value = xhtml_to_json(child)
            except Fail as fail:
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
            if element.kind != PRIMITIVE:
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
    def unknown(tag: str, by_tag: Mapping[str, ElementDef]) -> Fail:
        if tag.startswith(FHIR_PREFIX):
            name = tag[len(FHIR_PREFIX) :]
            if XHTML_PREFIX + name in by_tag:
                return Fail(f"must be in the XHTML namespace {XHTML_NS}", name)
            return Fail("unknown element", name)
        if tag.startswith(XHTML_PREFIX):
            return Fail("unknown element", _local_name(tag))
        return Fail(f"unknown element {tag!r} (not in the FHIR namespace)")

    def primitive(self, node: etree._Element, element: ElementDef) -> tuple[Any, Any]:
        raw = element_id = None
        for key, value in node.items():
            if key == "value":
                raw = value
            elif key == "id":
                element_id = value
            elif not key.startswith(XSI_PREFIX):
                raise Fail(f"unexpected attribute {_local_name(key)!r}")
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
                if tag != EXTENSION_TAG:
                    fail = self.unknown(tag, {})
                    fail.message += " (a primitive element only has extensions)"
                    raise fail
                ext: dict[str, Any] = {}
                try:
                    self.fill(child, self.extension, ext)
                except Fail as fail:
                    fail.segments.append(f"extension[{len(extensions)}]")
                    raise
                extensions.append(ext)
        if raw is None:
            if element_id is None and not extensions:
                raise Fail("primitive element has neither a value nor extensions")
            value = None
        elif element.value_kind == STRING:
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
            if not key.startswith(XSI_PREFIX):
                raise Fail(f"unexpected attribute {_local_name(key)!r}")
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
                raise Fail("must contain exactly one resource")
            inner = child
        if inner is None:
            raise Fail("must contain exactly one resource")
        return self.resource(inner)


def _entry_index(entry: tuple[ElementDef, Any]) -> int:
    return entry[0].index


def xml_to_resource(data: bytes | str) -> dict[str, Any]:
    """Parse a FHIR R4 XML resource and return its JSON form (as :func:`json.loads` would give it).

    ``data`` is the XML document, as bytes (in the encoding it declares, UTF-8 by default) or as
    text. Raises :class:`FhirXmlError` if the document is not well-formed, carries a DOCTYPE, or is
    not a FHIR R4 resource (unknown resource type, unknown element, repeated singleton, invalid
    boolean / integer / decimal literal...).
    """
    root = parse_document(data)
    tag = root.tag
    try:
        return _Reader(schema_model()).resource(root)
    except Fail as fail:
        name = tag[len(FHIR_PREFIX) :] if tag.startswith(FHIR_PREFIX) else _local_name(tag)
        raise located_error(fail, name) from None
    except RecursionError:  # pragma: no cover - libxml2 limits the depth to 256 already
        raise FhirXmlError("document is nested too deeply") from None
