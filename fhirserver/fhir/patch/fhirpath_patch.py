"""FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html): a ``Parameters`` resource whose ``operation``
parameters add, insert, delete, replace or move elements designated by FHIRPath expressions (the FHIR JSON body
of the ``patch`` interaction, https://hl7.org/fhir/R4/http.html#patch)."""

from __future__ import annotations

import copy
import typing
from dataclasses import dataclass
from typing import Any

from fhirserver.fhir.patch.base import AstNode, JsonObject, PatchError
from fhirserver.fhir.patch.locations import (
    Location,
    Value,
    has_element,
    insert_item,
    list_length,
    list_pair,
    remove_item,
    set_single,
    store_list,
)
from fhirserver.fhir.patch.paths import Resolver, parse_path
from fhirserver.fhir.patch.structure import FieldInfo, choice_key, field_of, model_for_type


@dataclass(frozen=True)
class _Operation:
    """One ``operation`` parameter: its index, type, path and remaining parts by name."""

    index: int
    type: str
    path: str
    parts: dict[str, JsonObject]

    @property
    def label(self) -> str:
        return f"operation[{self.index}] {self.type} {self.path}"

    def fail(self, message: str) -> PatchError:
        return PatchError(f"{self.label}: {message}")

    def part(self, name: str) -> JsonObject:
        if name not in self.parts:
            raise self.fail(f"missing the '{name}' part")
        return self.parts[name]

    def integer(self, name: str) -> int:
        value = self.part(name).get("valueInteger")
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"the '{name}' part needs a valueInteger")
        return value

    def string(self, name: str) -> str:
        value = _primitive(self.part(name))
        if not isinstance(value, str) or not value:
            raise self.fail(f"the '{name}' part needs a non-empty string value")
        return value


def apply_fhirpath_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Apply a FHIRPath Patch (a ``Parameters`` resource) to ``resource`` and return the patched copy.

    https://hl7.org/fhir/R4/fhirpatch.html - operations are applied in order:

    * ``add`` (path, name, value): the path must match exactly one element; ``name`` is appended to it
      when it repeats, set when it is single-valued and absent (an existing single value is an error);
    * ``insert`` (path, index, value): insert into the list designated by the path, 0 <= index <= length;
    * ``delete`` (path): no match is a no-op, more than one is an error; emptied parents are removed;
    * ``replace`` (path, value): the path must match exactly one element;
    * ``move`` (path, source, destination): move a list item, positions counted from 0.

    Values are ``value[x]`` (a primitive, with its ``_value[x]`` extensions, or a data type), ``resource``,
    or nested ``part``s that build an anonymous (backbone) element.
    """
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise PatchError("a FHIRPath Patch must be a Parameters resource")
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise PatchError("the patched resource must be a FHIR JSON object with a resourceType")
    document = copy.deepcopy(resource)
    for operation in _read_operations(copy.deepcopy(parameters)):
        _HANDLERS.get(operation.type, _unknown_type)(document, operation)
    return document


def _read_operations(parameters: JsonObject) -> list[_Operation]:
    """Parse ``Parameters.parameter`` into operations, checking names, parts and types."""
    operations: list[_Operation] = []
    for index, parameter in enumerate(parameters.get("parameter") or []):
        if not isinstance(parameter, dict) or parameter.get("name") != "operation":
            raise PatchError(
                f"operation[{index}]: every parameter of a FHIRPath Patch must be named 'operation'"
            )
        parts: dict[str, JsonObject] = {}
        for part in parameter.get("part") or []:
            name = part.get("name") if isinstance(part, dict) else None
            if not isinstance(name, str) or name in parts:
                raise PatchError(f"operation[{index}]: parts need distinct names, got {name!r}")
            parts[name] = part
        kind, path = _primitive(parts.get("type", {})), _primitive(parts.get("path", {}))
        if not isinstance(kind, str) or not isinstance(path, str) or not path:
            raise PatchError(f"operation[{index}]: the 'type' and 'path' parts are required")
        operations.append(_Operation(index, kind, path, parts))
    return operations


def _primitive(part: JsonObject) -> Any:
    """The primitive ``value[x]`` of a part (None if it has none)."""
    keys = [key for key in part if key.startswith("value")]
    return part[keys[0]] if len(keys) == 1 else None


def _unknown_type(document: JsonObject, operation: _Operation) -> None:
    raise operation.fail("unknown operation type (expected add, insert, delete, replace or move)")


def _select(document: JsonObject, operation: _Operation, tree: AstNode | None = None) -> list[Location]:
    """The locations matched by the operation's path (or by the sub-expression ``tree``)."""
    resolver = Resolver(document)
    try:
        return resolver.resolve(tree if tree is not None else parse_path(operation.path), [resolver.root])
    except PatchError as exc:
        raise operation.fail(str(exc)) from exc


def _select_one(document: JsonObject, operation: _Operation, tree: AstNode | None = None) -> Location:
    locations = _select(document, operation, tree)
    if len(locations) != 1:
        raise operation.fail(f"path matched {len(locations)} elements, expected exactly 1")
    return locations[0]


def _list_target(document: JsonObject, operation: _Operation) -> tuple[JsonObject, str, FieldInfo | None]:
    """For insert/move: the object owning the list, the list's JSON key and its declaration."""
    try:
        tree = parse_path(operation.path)
    except PatchError as exc:
        raise operation.fail(str(exc)) from exc
    if tree["type"] == "InvocationExpression" and tree["children"][1]["type"] == "MemberInvocation":
        owner = _select_one(document, operation, tree["children"][0])
        name = tree["children"][1]["children"][0]["text"].strip("`")
    elif tree["type"] == "TermExpression" and tree.get("text", "")[:1].islower():
        owner, name = Resolver(document).root, str(tree["text"]).strip("`")
    else:
        raise operation.fail("the path must end with the name of a repeating element")
    if not isinstance(owner.value, dict):
        raise operation.fail("the path does not lead to a complex element")
    field = field_of(owner.model, name)
    if field is not None and not field.is_list:
        raise operation.fail(f"'{name}' is not a repeating element")
    return owner.value, name, field


def _value_type(part: JsonObject) -> str | None:
    """The FHIR type a part's value declares: X of value[X] (or _value[X]), or a resource's type."""
    for key in part:
        if key.startswith(("value", "_value")):
            return key.lstrip("_")[len("value") :]
    resource = part.get("resource")
    return resource.get("resourceType") if isinstance(resource, dict) else None


def _build_value(part: JsonObject, model: type | None, operation: _Operation) -> Value:
    """The value carried by a part: value[x], resource, or nested parts built into a JSON object."""
    value_keys = [key for key in part if key.startswith("value")]
    extension_keys = [key for key in part if key.startswith("_value")]
    if len(value_keys) > 1:
        raise operation.fail(f"the '{part.get('name')}' part has several values: {value_keys}")
    if value_keys or extension_keys:
        key = (value_keys or [extension_keys[0][1:]])[0]
        return Value(part.get(key), part.get("_" + key), key[len("value") :])
    if isinstance(part.get("resource"), dict):
        return Value(part["resource"], None, part["resource"].get("resourceType"))
    if isinstance(part.get("part"), list):
        return Value(_build_object(part["part"], model, operation))
    raise operation.fail(f"the '{part.get('name')}' part has no value")


def _build_object(parts: list[JsonObject], model: type | None, operation: _Operation) -> JsonObject:
    """Rebuild an anonymous element from its named parts, using ``model`` for cardinality and choices."""
    result: JsonObject = {}
    for part in parts:
        name = part.get("name")
        if not isinstance(name, str) or not name:
            raise operation.fail("a nested value part has no name")
        if _put(result, model, name, part, operation) is not None:
            raise operation.fail(f"the nested part '{name}' is repeated but the element is single-valued")
    return result


def _put(holder: JsonObject, model: type | None, name: str, part: JsonObject, operation: _Operation) -> str | None:
    """Build the value of ``part`` as element ``name`` of ``holder`` (its choice key from the value's type):
    appended to a list element or set on an absent single one. Returns the key when it is single-valued and
    already present (nothing is written then), else None."""
    key = choice_key(model, name, _value_type(part))
    field = field_of(model, key)
    value = _build_value(part, field.model if field else None, operation)
    if field is not None and field.is_list or isinstance(holder.get(key), list):
        insert_item(holder, key, list_length(holder, key), value)
    elif has_element(holder, key):
        return key
    else:
        set_single(holder, key, value)
    return None


def _add(document: JsonObject, operation: _Operation) -> None:
    target = _select_one(document, operation)
    name = operation.string("name")
    if not isinstance(target.value, dict) and name not in ("id", "extension"):
        raise operation.fail(f"a primitive element only takes 'id' and 'extension', not '{name}'")
    holder = target.value if isinstance(target.value, dict) else _primitive_element(target)
    model = target.model if isinstance(target.value, dict) else model_for_type("Element")
    present = _put(holder, model, name, operation.part("value"), operation)
    if present is not None:
        raise operation.fail(f"'{present}' is single-valued and already present (use replace)")


def _primitive_element(location: Location) -> JsonObject:
    """The "_name" object carrying a primitive's id and extensions, created when missing."""
    if location.parent is None:
        raise PatchError("the resource is not a primitive")
    existing = location.extension
    if isinstance(existing, dict):
        return existing
    created: JsonObject = {}
    if location.index is None:
        location.holder["_" + location.key] = created
    else:
        values, extensions = list_pair(location.holder, location.key)
        extensions[location.index] = created
        location.holder[location.key], location.holder["_" + location.key] = values, extensions
    return created


def _insert(document: JsonObject, operation: _Operation) -> None:
    holder, key, field = _list_target(document, operation)
    index, length = operation.integer("index"), list_length(holder, key)
    if not 0 <= index <= length:
        raise operation.fail(f"index {index} is outside 0..{length}")
    value = _build_value(operation.part("value"), field.model if field else None, operation)
    insert_item(holder, key, index, value)


def _move(document: JsonObject, operation: _Operation) -> None:
    holder, key, _ = _list_target(document, operation)
    source, destination = operation.integer("source"), operation.integer("destination")
    length = list_length(holder, key)
    if not (0 <= source < length and 0 <= destination < length):
        raise operation.fail(f"source {source} and destination {destination} must be within 0..{length - 1}")
    insert_item(holder, key, destination, remove_item(holder, key, source))


def _replace(document: JsonObject, operation: _Operation) -> None:
    target = _select_one(document, operation)
    if target.parent is None:
        raise operation.fail("cannot replace the whole resource")
    field = target.field
    value = _build_value(operation.part("value"), field.model if field else target.model, operation)
    if target.index is not None:
        remove_item(target.holder, target.key, target.index)
        insert_item(target.holder, target.key, target.index, value)
        return
    key = target.key
    if field is not None and field.choice:  # valueString replaced by a valueQuantity changes the JSON key
        key = choice_key(target.parent.model, field.choice, value.type_name)
        key = target.key if key == field.choice else key
    set_single(target.holder, target.key, Value(None))
    set_single(target.holder, key, value)


def _delete(document: JsonObject, operation: _Operation) -> None:
    locations = _select(document, operation)
    if len(locations) > 1:
        raise operation.fail(f"path matched {len(locations)} elements, a delete removes at most 1")
    if not locations:
        return
    if locations[0].parent is None:
        raise operation.fail("cannot delete the whole resource")
    _remove(locations[0])
    _prune(locations[0].parent)


def _remove(location: Location) -> None:
    if location.index is None:
        set_single(location.holder, location.key, Value(None))
    else:
        remove_item(location.holder, location.key, location.index)


def _prune(location: Location | None) -> None:
    """Remove the ancestors a delete left empty (FHIR JSON has no empty objects), up to the resource."""
    while location is not None and location.parent is not None:
        if location.extension == {}:
            _clear_extension(location)
        if location.value not in ({}, None) or location.extension is not None:
            return
        _remove(location)
        location = location.parent


def _clear_extension(location: Location) -> None:
    """Drop the (empty) "_name" object of the primitive at ``location``."""
    if location.index is None:
        location.holder.pop("_" + location.key, None)
        return
    values, extensions = list_pair(location.holder, location.key)
    extensions[location.index] = None
    store_list(location.holder, location.key, values, extensions)


_HANDLERS: dict[str, typing.Callable[[JsonObject, _Operation], None]] = {
    "add": _add,
    "insert": _insert,
    "delete": _delete,
    "replace": _replace,
    "move": _move,
}
