"""JSON -> XML: writing a FHIR R4 resource given in its JSON form (https://hl7.org/fhir/R4/json.html) as XML
(https://hl7.org/fhir/R4/xml.html), the text written directly (names come from the schema, values are escaped
here).

``decimal`` values are written with :func:`repr` for ``float`` (the shortest string that round-trips exactly),
``str`` for ``int`` and :class:`decimal.Decimal`; non-finite values are refused.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fhirserver.fhir.xml.common import FHIR_NS, Fail, FhirXmlError, located_error
from fhirserver.fhir.xml.model import (
    BOOLEAN,
    COMPLEX,
    DECIMAL,
    PRIMITIVE,
    RESOURCE,
    STRING,
    ElementDef,
    Model,
    TypeDef,
    schema_model,
)
from fhirserver.fhir.xml.narrative import prepare_xhtml

_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

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
        raise Fail(f"expected a string, got {type(value).__name__}", name)
    return " " + name + '="' + _escape_attribute(value) + '"'


def _format_value(value: Any, value_kind: int) -> str:
    """JSON value of a primitive -> text of its XML ``value`` attribute (not yet escaped)."""
    if value_kind == STRING:
        if isinstance(value, str):
            return value
        raise Fail(f"expected a string, got {type(value).__name__}")
    if value_kind == BOOLEAN:
        if value is True:
            return "true"
        if value is False:
            return "false"
        raise Fail(f"expected a boolean, got {type(value).__name__}")
    if isinstance(value, bool):
        raise Fail("expected a number, got a boolean")
    if isinstance(value, int):
        return str(value)
    if value_kind == DECIMAL:
        if isinstance(value, float):
            if math.isfinite(value):
                return repr(value)
            raise Fail("decimal must be finite")
        if isinstance(value, Decimal):
            if value.is_finite():
                return str(value)
            raise Fail("decimal must be finite")
        raise Fail(f"expected a decimal number, got {type(value).__name__}")
    raise Fail(f"expected an integer, got {type(value).__name__}")


class _Writer:
    """Writes the XML text directly (names come from the schema, values are escaped here)."""

    __slots__ = ("types", "resources", "extension", "parts", "indents", "close_indents")

    def __init__(self, model: Model, pretty: bool) -> None:
        self.types = model.types
        self.resources = model.resources
        self.extension = model.extension
        self.parts: list[str] = []
        self.indents = _INDENTS if pretty else _NO_INDENTS
        self.close_indents = _CLOSE_INDENTS if pretty else _NO_INDENTS

    def resource(self, obj: Any, depth: int) -> str:
        if not isinstance(obj, Mapping):
            raise Fail(f"expected a resource (JSON object), got {type(obj).__name__}")
        rtype = obj.get("resourceType")
        if not isinstance(rtype, str):
            raise Fail("missing or invalid resourceType")
        t = self.resources.get(rtype)
        if t is None:
            raise Fail(f"unknown resource type {rtype!r}")
        self.complex(rtype, ' xmlns="' + FHIR_NS + '"' if depth == 0 else "", obj, t, depth)
        return rtype

    def complex(self, name: str, attributes: str, obj: Mapping[str, Any], t: TypeDef, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise Fail("resource is nested too deeply")
        by_key = t.by_key
        present: list[ElementDef] = []
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
                raise Fail("unknown element", key)
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
            if kind == PRIMITIVE:
                self.primitives(obj, element, depth)
                continue
            value = obj.get(name_)
            if value is None:
                continue
            if element.is_array:
                if value.__class__ is not list:
                    raise Fail("expected an array", name_)
                if not value:
                    raise Fail("arrays must not be empty", name_)
                for i, item in enumerate(value):
                    try:
                        self.one(element, item, depth)
                    except Fail as fail:
                        fail.segments.append(f"{name_}[{i}]")
                        raise
            else:
                if value.__class__ is list:
                    raise Fail("expected a single value, not an array", name_)
                try:
                    self.one(element, value, depth)
                except Fail as fail:
                    fail.segments.append(name_)
                    raise
        if len(parts) == mark:
            parts[mark - 1] = start + "/>"
        else:
            parts.append(self.close_indents[depth - 1] + "</" + name + ">")

    def one(self, element: ElementDef, value: Any, depth: int) -> None:
        kind = element.kind
        if kind == COMPLEX:
            if not isinstance(value, Mapping):
                raise Fail(f"expected a JSON object, got {type(value).__name__}")
            self.complex(element.name, "", value, self.types[element.type_name], depth)
        elif kind == RESOURCE:
            indent = self.indents[depth]
            tag = element.name
            self.parts.append(indent + "<" + tag + ">")
            self.resource(value, depth + 1)
            self.parts.append(indent + "</" + tag + ">")
        else:
            self.parts.append(self.indents[depth] + prepare_xhtml(value))

    def primitives(self, obj: Mapping[str, Any], element: ElementDef, depth: int) -> None:
        name = element.name
        value = obj.get(name)
        extra = obj.get("_" + name)
        if not element.is_array:
            if value is None and extra is None:
                return
            if value.__class__ is list or extra.__class__ is list:
                raise Fail("expected a single value, not an array", name)
            try:
                self.primitive(element, value, extra, depth)
            except Fail as fail:
                fail.segments.append(name)
                raise
            return
        if value is None and extra is None:
            return
        if value is not None and value.__class__ is not list:
            raise Fail("expected an array", name)
        if extra is not None and extra.__class__ is not list:
            raise Fail("expected an array", "_" + name)
        if value is not None and extra is not None and len(value) != len(extra):
            raise Fail(f"'{name}' and '_{name}' arrays differ in length", name)
        count = len(value) if value is not None else len(extra)  # type: ignore[arg-type]
        if not count:
            raise Fail("arrays must not be empty", name)
        for i in range(count):
            item = value[i] if value is not None else None
            item_extra = extra[i] if extra is not None else None
            try:
                if item is None and item_extra is None:
                    raise Fail(f"null in both '{name}' and '_{name}'")
                self.primitive(element, item, item_extra, depth)
            except Fail as fail:
                fail.segments.append(f"{name}[{i}]")
                raise

    def primitive(self, element: ElementDef, value: Any, extra: Any, depth: int) -> None:
        attributes = ""
        extensions = None
        if extra is not None:
            if not isinstance(extra, Mapping):
                raise Fail(f"'_{element.name}' must be a JSON object")
            for key in extra:
                if key != "id" and key != "extension":
                    raise Fail(f"unknown element ('_{element.name}' only holds id and extension)", key)
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
                raise Fail("primitive element has neither a value nor extensions")
            self.parts.append(indent + "<" + element.name + attributes + "/>")
            return
        if extensions.__class__ is not list:
            raise Fail("expected an array", "extension")
        if not extensions:
            raise Fail("arrays must not be empty", "extension")
        self.parts.append(indent + "<" + element.name + attributes + ">")
        extension_type = self.extension
        for i, ext in enumerate(extensions):
            try:
                if not isinstance(ext, Mapping):
                    raise Fail(f"expected a JSON object, got {type(ext).__name__}")
                self.complex("extension", "", ext, extension_type, depth + 1)
            except Fail as fail:
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
    writer = _Writer(schema_model(), pretty)
    rtype = resource.get("resourceType") if isinstance(resource, Mapping) else None
    root = rtype if isinstance(rtype, str) else "resource"
    try:
        writer.resource(resource, 0)
    except Fail as fail:
        raise located_error(fail, root) from None
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
