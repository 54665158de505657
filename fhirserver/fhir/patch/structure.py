"""FHIR structure knowledge for FHIRPath Patch: cardinalities (is an element a list?), complex types and choice
elements, from the ``fhir.resources.R4B`` models, which for these purposes match FHIR R4 4.0.1."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class


@dataclass(frozen=True)
class FieldInfo:
    """How a complex type declares one JSON property."""

    is_list: bool
    model: type | None  # model class of a complex (or resource) type; None for primitives
    choice: str | None  # the choice group ("value" for valueQuantity), None for ordinary elements
    type_name: str | None  # the FHIR type ("date", "HumanName", "PatientContact"), None when unknown


@cache
def model_for_type(type_name: str) -> type | None:
    """The fhir.resources R4B model class of a FHIR type or resource name, or None if unknown."""
    try:
        return get_fhir_model_class(type_name)
    except ValueError:
        return None


@cache
def declared_fields(model: type) -> dict[str, FieldInfo]:
    """The element properties of ``model``, keyed by their JSON names."""
    result: dict[str, FieldInfo] = {}
    for name, info in model.model_fields.items():  # type: ignore[attr-defined]
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if not extra.get("element_property"):
            continue
        choice = extra.get("one_of_many")
        result[info.alias or name] = _describe(info.annotation, choice if isinstance(choice, str) else None)
    return result


def _describe(annotation: Any, choice: str | None) -> FieldInfo:
    """Unwrap Optional/List/Annotated: list-ness, model class (complex types) and FHIR type name."""
    is_list, type_name = False, None
    while True:
        origin = typing.get_origin(annotation)
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if origin in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
        elif origin is list:
            is_list, annotation = True, args[0]
        elif origin is typing.Annotated:  # primitives: Annotated[str, Code()] -> "code"
            marker = type(args[1]).__name__
            annotation, type_name = args[0], marker[:1].lower() + marker[1:]
        else:
            break
    get_model = getattr(annotation, "get_model_klass", None)
    model = get_model() if callable(get_model) else None
    if model is not None:
        type_name = model.__name__
    elif annotation is bool:
        type_name = "boolean"
    return FieldInfo(is_list, model, choice, type_name)


def field_of(model: type | None, key: str) -> FieldInfo | None:
    """The declaration of property ``key`` in ``model`` (None when the model or the property is unknown)."""
    return declared_fields(model).get(key) if model is not None else None


def choice_key(model: type | None, name: str, type_name: str | None) -> str:
    """The JSON property for element ``name`` holding a value of ``type_name`` (value + Quantity -> valueQuantity)."""
    if model is None or name in declared_fields(model) or not type_name:
        return name
    candidate = name + type_name[0].upper() + type_name[1:]
    declared = declared_fields(model).get(candidate)
    return candidate if declared is not None and declared.choice == name else name


def node_model(value: Any, field: FieldInfo | None) -> type | None:
    """The model describing a JSON node: its resourceType when it is a resource, else the declared type."""
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        return model_for_type(value["resourceType"])
    return field.model if field is not None else None
