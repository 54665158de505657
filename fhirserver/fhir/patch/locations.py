"""Locations of elements in a FHIR JSON resource, and the bookkeeping of lists and primitives (FHIR JSON keeps a
primitive's id and extensions in a ``_name`` sibling, aligned item by item for repeating primitives,
https://hl7.org/fhir/R4/json.html#primitive)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirserver.fhir.patch.base import JsonObject
from fhirserver.fhir.patch.structure import FieldInfo


@dataclass(frozen=True)
class Location:
    """Where an element lives: ``holder[key]`` or ``holder[key][index]`` (plus ``holder["_" + key]``)."""

    holder: JsonObject
    key: str
    index: int | None
    parent: Location | None  # None for the resource itself
    model: type | None
    field: FieldInfo | None
    path: str  # FHIR element path such as "Patient.contact.name", used to type fhirpathpy evaluations

    def _get(self, key: str) -> Any:
        raw = self.holder.get(key)
        if self.index is None:
            return raw
        return raw[self.index] if isinstance(raw, list) and self.index < len(raw) else None

    @property
    def value(self) -> Any:
        return self._get(self.key)

    @property
    def extension(self) -> Any:
        return self._get("_" + self.key)


@dataclass(frozen=True)
class Value:
    """A value to write: its JSON form, the "_x" element of a primitive, and its FHIR type when known."""

    data: Any
    extension: Any = None
    type_name: str | None = None


def list_pair(holder: JsonObject, key: str) -> tuple[list[Any], list[Any]]:
    """Copies of the value list and of the aligned "_key" list, padded to the same length."""
    values = holder.get(key)
    extensions = holder.get("_" + key)
    values = list(values) if isinstance(values, list) else ([] if values is None else [values])
    extensions = (
        list(extensions) if isinstance(extensions, list) else ([] if extensions is None else [extensions])
    )
    length = max(len(values), len(extensions))
    return values + [None] * (length - len(values)), extensions + [None] * (length - len(extensions))


def store_list(holder: JsonObject, key: str, values: list[Any], extensions: list[Any]) -> None:
    """Write back a value list and its "_key" twin, dropping whichever holds nothing."""
    for name, items in ((key, values), ("_" + key, extensions)):
        if any(item is not None for item in items):
            holder[name] = items
        else:
            holder.pop(name, None)


def list_length(holder: JsonObject, key: str) -> int:
    return len(list_pair(holder, key)[0])


def insert_item(holder: JsonObject, key: str, position: int, value: Value) -> None:
    values, extensions = list_pair(holder, key)
    values.insert(position, value.data)
    extensions.insert(position, value.extension)
    store_list(holder, key, values, extensions)


def remove_item(holder: JsonObject, key: str, position: int) -> Value:
    values, extensions = list_pair(holder, key)
    removed = Value(values.pop(position), extensions.pop(position))
    store_list(holder, key, values, extensions)
    return removed


def set_single(holder: JsonObject, key: str, value: Value) -> None:
    for name, item in ((key, value.data), ("_" + key, value.extension)):
        if item is None:
            holder.pop(name, None)
        else:
            holder[name] = item


def has_element(holder: JsonObject, key: str) -> bool:
    return holder.get(key) is not None or holder.get("_" + key) is not None
