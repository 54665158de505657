"""The FHIR R4 type model the conversion is driven by, built from the official R4 JSON schema
(https://hl7.org/fhir/R4/fhir.schema.json.zip, packaged as ``fhirserver/fhir/definitions/fhir.schema.json``).

For every type the schema gives its elements in definition order (which is the mandatory XML element order),
their cardinality (``"type": "array"``), their type (primitive, complex / backbone element, nested resource via
``ResourceList`` or XHTML) and the list of resource types. The schema is loaded lazily, once, on first use
(:func:`schema_model`); the per-type lookup tables are built once and cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from fhirserver.fhir.definitions import json_schema
from fhirserver.fhir.xml.common import FHIR_PREFIX, XHTML_PREFIX

# element kinds
PRIMITIVE = 0
COMPLEX = 1
RESOURCE = 2
XHTML = 3

# JSON value kinds of primitives
STRING = 0
BOOLEAN = 1
INTEGER = 2
DECIMAL = 3


class ElementDef:
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


class TypeDef:
    """Lookup tables of a complex type, backbone element or resource."""

    __slots__ = ("name", "is_resource", "elements", "by_key", "by_tag", "id_attr", "url_attr", "tag")

    def __init__(self, name: str, is_resource: bool) -> None:
        self.name = name
        self.is_resource = is_resource
        self.tag = FHIR_PREFIX + name
        self.elements: tuple[ElementDef, ...] = ()
        # JSON key -> element ("x" and "_x" both map to a primitive element x)
        self.by_key: dict[str, ElementDef] = {}
        # Clark-notation XML tag -> element
        self.by_tag: dict[str, ElementDef] = {}
        # ``id`` is an XML attribute on every element that is not a resource
        self.id_attr = not is_resource
        # ``url`` is an XML attribute on Extension
        self.url_attr = name == "Extension"


class Model:
    """Every type of the schema by name, the resource types among them, and Extension."""

    __slots__ = ("types", "resources", "extension")

    def __init__(self, types: dict[str, TypeDef], resources: dict[str, TypeDef]) -> None:
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
def schema_model() -> Model:
    """The model of the packaged R4 schema, built on first use and cached."""
    schema = json_schema()
    definitions: dict[str, Any] = schema["definitions"]
    resource_names = set(schema["discriminator"]["mapping"])

    primitives: dict[str, int] = {}
    for name, definition in definitions.items():
        if "properties" in definition or name in ("ResourceList", "xhtml"):
            continue
        json_type = definition.get("type")
        if json_type == "boolean":
            primitives[name] = BOOLEAN
        elif json_type == "number":
            primitives[name] = DECIMAL if name == "decimal" else INTEGER
        else:
            primitives[name] = STRING

    types = {
        name: TypeDef(name, name in resource_names)
        for name, definition in definitions.items()
        if "properties" in definition
    }

    for name, definition in definitions.items():
        t = types.get(name)
        if t is None:
            continue
        elements: list[ElementDef] = []
        for prop, spec in definition["properties"].items():
            if prop.startswith("_") or (prop == "resourceType" and t.is_resource):
                continue
            if (prop == "id" and t.id_attr) or (prop == "url" and t.url_attr):
                continue  # XML attributes
            is_array = spec.get("type") == "array"
            item = spec["items"] if is_array else spec
            ref = item.get("$ref")
            value_kind = STRING
            tag = FHIR_PREFIX + prop
            if ref is not None:
                type_name = ref.rsplit("/", 1)[-1]
                if type_name == "ResourceList":
                    kind = RESOURCE
                elif type_name == "xhtml":
                    kind = XHTML
                    tag = XHTML_PREFIX + prop
                elif type_name in primitives:
                    kind = PRIMITIVE
                    value_kind = primitives[type_name]
                elif type_name in types:
                    kind = COMPLEX
                else:  # pragma: no cover - schema inconsistency
                    raise RuntimeError(f"fhir.schema.json: {name}.{prop} refers to unknown type {type_name}")
            elif "enum" in item:
                type_name, kind = "code", PRIMITIVE
            else:
                type_name, kind = _choice_primitive(prop, primitives, item), PRIMITIVE
                value_kind = primitives[type_name]
            element = ElementDef(prop, tag, type_name, kind, value_kind, is_array, len(elements))
            elements.append(element)
            t.by_key[prop] = element
            if kind == PRIMITIVE:
                t.by_key["_" + prop] = element
            t.by_tag[tag] = element
        t.elements = tuple(elements)

    resources = {name: types[name] for name in resource_names}
    return Model(types, resources)
