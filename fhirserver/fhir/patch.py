"""The two body formats of the FHIR ``patch`` interaction, as pure functions on FHIR JSON dicts.

* JSON Patch (RFC 6902, https://www.rfc-editor.org/rfc/rfc6902), applied with the ``jsonpatch`` library.
* FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html): a ``Parameters`` resource whose ``operation``
  parameters add, insert, delete, replace or move elements designated by FHIRPath expressions.

See https://hl7.org/fhir/R4/http.html#patch for the interaction itself. Both functions work on a deep copy,
so a patch that fails part-way never leaves a half-patched resource behind, and the caller's dicts are never
modified. Any problem with the patch is reported as :class:`PatchError`.

FHIRPath evaluation returns values, not the places they live in, so this module resolves *locations* itself
from the expression's syntax tree (parsed by fhirpathpy). Supported path forms:

* member navigation from the resource type (``Patient.contact.name``) or from the resource (``contact.name``),
  including choice elements (``Observation.value`` finds ``valueQuantity``);
* indexers ``[n]`` and ``$this``;
* ``where(criteria)`` (criteria evaluated by fhirpathpy on each candidate), ``first()``, ``last()``,
  ``tail()``, ``skip(n)``, ``take(n)``, ``single()``, ``ofType(Type)`` and ``extension(url)``.

Cardinalities (is an element a list?) and the types of anonymous (backbone) values come from the
``fhir.resources.R4B`` models, which for these purposes match FHIR R4 4.0.1.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import jsonpatch
import jsonpointer
from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from antlr4.tree.Tree import ParseTreeWalker
from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy import apply_parsed_path
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models as fhirpath_models
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

__all__ = ["PatchError", "apply_fhirpath_patch", "apply_json_patch"]

JsonObject = dict[str, Any]
AstNode = dict[str, Any]


class PatchError(ValueError):
    """A patch that cannot be applied; the message names the operation (0-based index) and its path."""


# ---------------------------------------------------------------------------------------------------------
# JSON Patch
# ---------------------------------------------------------------------------------------------------------


def apply_json_patch(resource: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply an RFC 6902 JSON Patch document to ``resource`` and return the patched copy.

    https://hl7.org/fhir/R4/http.html#patch - ``Content-Type: application/json-patch+json``.
    Operations are applied in order to a deep copy; the first failing one raises :class:`PatchError`
    naming its 0-based index, e.g. ``operation[2] test /birthDate: ...``.
    """
    if not isinstance(operations, list):
        raise PatchError("a JSON Patch document must be a JSON array of operation objects")
    document: Any = copy.deepcopy(resource)
    for index, operation in enumerate(copy.deepcopy(operations)):
        document = _apply_json_operation(document, index, operation)
    if not isinstance(document, dict):
        raise PatchError("the JSON Patch replaced the resource with something that is not a JSON object")
    return document


def _apply_json_operation(document: Any, index: int, operation: Any) -> Any:
    """Apply one JSON Patch operation in place, translating library errors into :class:`PatchError`."""
    if not isinstance(operation, dict):
        raise PatchError(f"operation[{index}]: must be a JSON object")
    label = f"operation[{index}] {operation.get('op', '?')} {operation.get('path', '?')}"
    for member in ("path", "from"):
        if member in operation and not isinstance(operation[member], str):
            raise PatchError(f"{label}: '{member}' must be a string JSON Pointer")
    try:
        return jsonpatch.JsonPatch([operation]).apply(document, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise PatchError(f"{label}: {exc}") from exc


# ---------------------------------------------------------------------------------------------------------
# FHIR structure knowledge (cardinality, complex types, choice elements)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    """How a complex type declares one JSON property."""

    is_list: bool
    model: type | None  # model class of a complex (or resource) type; None for primitives
    choice: str | None  # the choice group ("value" for valueQuantity), None for ordinary elements
    type_name: str | None  # the FHIR type ("date", "HumanName", "PatientContact"), None when unknown


@cache
def _model_for_type(type_name: str) -> type | None:
    """The fhir.resources R4B model class of a FHIR type or resource name, or None if unknown."""
    try:
        return get_fhir_model_class(type_name)
    except ValueError:
        return None


@cache
def _fields(model: type) -> dict[str, _Field]:
    """The element properties of ``model``, keyed by their JSON names."""
    result: dict[str, _Field] = {}
    for name, info in model.model_fields.items():  # type: ignore[attr-defined]
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if not extra.get("element_property"):
            continue
        choice = extra.get("one_of_many")
        result[info.alias or name] = _describe(info.annotation, choice if isinstance(choice, str) else None)
    return result


def _describe(annotation: Any, choice: str | None) -> _Field:
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
    return _Field(is_list, model, choice, type_name)


def _field(model: type | None, key: str) -> _Field | None:
    """The declaration of property ``key`` in ``model`` (None when the model or the property is unknown)."""
    return _fields(model).get(key) if model is not None else None


def _choice_key(model: type | None, name: str, type_name: str | None) -> str:
    """The JSON property for element ``name`` holding a value of ``type_name`` (value + Quantity -> valueQuantity)."""
    if model is None or name in _fields(model) or not type_name:
        return name
    candidate = name + type_name[0].upper() + type_name[1:]
    declared = _fields(model).get(candidate)
    return candidate if declared is not None and declared.choice == name else name


def _node_model(value: Any, field: _Field | None) -> type | None:
    """The model describing a JSON node: its resourceType when it is a resource, else the declared type."""
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        return _model_for_type(value["resourceType"])
    return field.model if field is not None else None


# ---------------------------------------------------------------------------------------------------------
# Locations and list/primitive bookkeeping (FHIR JSON keeps primitive extensions in a "_name" sibling)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Location:
    """Where an element lives: ``holder[key]`` or ``holder[key][index]`` (plus ``holder["_" + key]``)."""

    holder: JsonObject
    key: str
    index: int | None
    parent: _Location | None  # None for the resource itself
    model: type | None
    field: _Field | None
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
class _Value:
    """A value to write: its JSON form, the "_x" element of a primitive, and its FHIR type when known."""

    data: Any
    extension: Any = None
    type_name: str | None = None


def _list_pair(holder: JsonObject, key: str) -> tuple[list[Any], list[Any]]:
    """Copies of the value list and of the aligned "_key" list, padded to the same length."""
    values = holder.get(key)
    extensions = holder.get("_" + key)
    values = list(values) if isinstance(values, list) else ([] if values is None else [values])
    extensions = (
        list(extensions) if isinstance(extensions, list) else ([] if extensions is None else [extensions])
    )
    length = max(len(values), len(extensions))
    return values + [None] * (length - len(values)), extensions + [None] * (length - len(extensions))


def _store_list(holder: JsonObject, key: str, values: list[Any], extensions: list[Any]) -> None:
    """Write back a value list and its "_key" twin, dropping whichever holds nothing."""
    for name, items in ((key, values), ("_" + key, extensions)):
        if any(item is not None for item in items):
            holder[name] = items
        else:
            holder.pop(name, None)


def _list_length(holder: JsonObject, key: str) -> int:
    return len(_list_pair(holder, key)[0])


def _insert_item(holder: JsonObject, key: str, position: int, value: _Value) -> None:
    values, extensions = _list_pair(holder, key)
    values.insert(position, value.data)
    extensions.insert(position, value.extension)
    _store_list(holder, key, values, extensions)


def _remove_item(holder: JsonObject, key: str, position: int) -> _Value:
    values, extensions = _list_pair(holder, key)
    removed = _Value(values.pop(position), extensions.pop(position))
    _store_list(holder, key, values, extensions)
    return removed


def _set_single(holder: JsonObject, key: str, value: _Value) -> None:
    for name, item in ((key, value.data), ("_" + key, value.extension)):
        if item is None:
            holder.pop(name, None)
        else:
            holder[name] = item


def _has_element(holder: JsonObject, key: str) -> bool:
    return holder.get(key) is not None or holder.get("_" + key) is not None


# ---------------------------------------------------------------------------------------------------------
# FHIRPath: parsing and location resolution
# ---------------------------------------------------------------------------------------------------------


class _RaisingErrorListener(ErrorListener):
    def syntaxError(self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any) -> None:  # noqa: N802
        raise PatchError(f"invalid FHIRPath at column {column}: {msg}")


# `.div` is how the official test cases (and HAPI) address Narrative.div, but ``div`` is a FHIRPath operator
# keyword; after a dot only a member name makes sense, so such keywords are quoted as `div` before parsing.
_KEYWORD_MEMBER = re.compile(
    r"""('(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`)|\.(\s*)(div|mod|and|or|xor|implies)\b"""
)


def _quote_keyword_members(expression: str) -> str:
    """Turn ``Patient.text.div`` into ``Patient.text.`div` `` (string literals are left untouched)."""
    return _KEYWORD_MEMBER.sub(
        lambda match: match.group(1) or f".{match.group(2)}`{match.group(3)}`", expression
    )


@lru_cache(maxsize=256)
def _parse(expression: str) -> AstNode:
    """Parse a FHIRPath expression into fhirpathpy's syntax tree, rejecting any syntax error."""
    lexer = FHIRPathLexer(InputStream(_quote_keyword_members(expression)))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_RaisingErrorListener())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_RaisingErrorListener())
    listener = ASTPathListener()
    ParseTreeWalker().walk(listener, parser.expression())
    if parser.getCurrentToken().type != Token.EOF:
        raise PatchError(f"invalid FHIRPath: unexpected {parser.getCurrentToken().text!r}")
    tree: AstNode = listener.parentStack[0]
    if not tree.get("children"):
        raise PatchError("empty FHIRPath expression")
    return typing.cast(AstNode, tree["children"][0])


class _Resolver:
    """Resolves a FHIRPath expression to the locations of the elements it selects in one resource."""

    def __init__(self, resource: JsonObject) -> None:
        self.resource = resource
        snapshot = copy.deepcopy(resource)  # fhirpathpy only ever sees copies
        self.variables = {"resource": snapshot, "rootResource": snapshot}
        resource_type = str(resource.get("resourceType", ""))
        self.root = _Location(
            {"": resource}, "", None, None, _model_for_type(resource_type), None, resource_type
        )

    def resolve(self, node: AstNode, context: list[_Location], first: bool = True) -> list[_Location]:
        """Locations selected by the expression ``node`` evaluated on ``context``."""
        kind, children = node["type"], node.get("children", [])
        if kind == "InvocationExpression":
            return self._invoke(children[1], self.resolve(children[0], context, first), first=False)
        if kind == "IndexerExpression":
            selected = self.resolve(children[0], context, first)
            index = self._integer(children[1])
            return selected[index : index + 1] if index >= 0 else []
        if kind == "TermExpression" and children[0]["type"] == "InvocationTerm":
            return self._invoke(children[0]["children"][0], context, first)
        if kind == "TermExpression" and children[0]["type"] == "ParenthesizedTerm":
            return self.resolve(children[0]["children"][0], context, first)
        raise _unsupported(node)

    def _invoke(self, node: AstNode, context: list[_Location], first: bool) -> list[_Location]:
        kind = node["type"]
        if kind == "ThisInvocation":
            return context
        if kind == "MemberInvocation":
            name = node["children"][0]["text"].strip("`")
            if first and name[:1].isupper():
                return [loc for loc in context if _is_type(loc, name)]
            return [child for loc in context for child in _children(loc, name)]
        if kind == "FunctionInvocation":
            function = node["children"][0]["children"]
            params = function[1]["children"] if len(function) > 1 else []
            return self._function(function[0]["text"], params, context, node)
        raise _unsupported(node)

    def _function(
        self, name: str, params: list[AstNode], context: list[_Location], node: AstNode
    ) -> list[_Location]:
        if name == "where" and len(params) == 1:
            return [loc for loc in context if self._matches(loc, params[0])]
        if name == "extension" and len(params) == 1:
            url = self._evaluate(params[0], self.variables["resource"])
            return [ext for loc in context for ext in _children(loc, "extension") if [_url(ext)] == url]
        if name == "ofType" and len(params) == 1:
            type_name = _type_specifier(params[0])
            return [loc for loc in context if _is_type(loc, type_name)]
        if not params and name in ("first", "last", "tail", "single"):
            if name == "single" and len(context) > 1:
                raise PatchError(f"single() found {len(context)} elements")
            return {"first": context[:1], "last": context[-1:], "tail": context[1:]}.get(name, context)
        if name in ("skip", "take") and len(params) == 1:
            count = max(self._integer(params[0]), 0)
            return context[count:] if name == "skip" else context[:count]
        raise _unsupported(node)

    def _matches(self, location: _Location, criteria: AstNode) -> bool:
        """Whether ``where(criteria)`` keeps ``location``: fhirpathpy must evaluate it to exactly true."""
        node = ResourceNode.create_node(
            copy.deepcopy(location.value), location.path, copy.deepcopy(location.extension)
        )
        result = self._evaluate(criteria, node)
        return len(result) == 1 and result[0] is True  # not == [True]: 1 == True in Python

    def _integer(self, node: AstNode) -> int:
        result = self._evaluate(node, self.variables["resource"])
        if len(result) != 1 or not isinstance(result[0], int) or isinstance(result[0], bool):
            raise PatchError(f"expected an integer, got {result!r}")
        return result[0]

    def _evaluate(self, node: AstNode, data: Any) -> list[Any]:
        """Evaluate a sub-expression with fhirpathpy (R4 model), ``%resource`` being the patched resource."""
        try:
            return list(
                apply_parsed_path(data, {"children": [node]}, dict(self.variables), fhirpath_models["r4"])
            )
        except Exception as exc:  # fhirpathpy raises bare Exceptions for evaluation errors
            raise PatchError(f"cannot evaluate {node.get('text', 'expression')!r}: {exc}") from exc


def _unsupported(node: AstNode) -> PatchError:
    if node["type"] == "FunctionInvocation":
        name = node["children"][0]["children"][0].get("text", "?")
        return PatchError(
            f"the FHIRPath function {name}() is not supported in a patch path (or has wrong arguments)"
        )
    return PatchError(
        f"unsupported FHIRPath construct in a patch path: {node['type']} {node.get('text', '')}".strip()
    )


def _url(location: _Location) -> Any:
    value = location.value
    return value.get("url") if isinstance(value, dict) else None


def _type_specifier(node: AstNode) -> str:
    text = str(node.get("text", ""))
    return text.removeprefix("FHIR.").strip("`")


def _is_type(location: _Location, type_name: str) -> bool:
    """Whether the element at ``location`` is of FHIR type ``type_name`` (resource, choice or complex type)."""
    value = location.value
    if isinstance(value, dict) and "resourceType" in value:
        return bool(value["resourceType"] == type_name)
    if location.field is not None and location.field.choice:
        return location.key[len(location.field.choice) :].lower() == type_name.lower()
    if location.field is not None:
        return location.field.type_name == type_name
    return location.model is not None and location.model.__name__ == type_name


def _children(location: _Location, name: str) -> list[_Location]:
    """The elements called ``name`` (or, for a choice element, ``name`` + a type) under ``location``."""
    node = location.value
    if not isinstance(node, dict):
        node = location.extension  # the id/extension of a primitive live in its "_name" twin
        if not isinstance(node, dict) or name not in ("id", "extension"):
            return []
    model = location.model if isinstance(location.value, dict) else _model_for_type("Element")
    result: list[_Location] = []
    for key in _matching_keys(node, name, model):
        field = _field(model, key)
        values, extensions = _list_pair(node, key)
        many = isinstance(node.get(key), list) or isinstance(node.get("_" + key), list)
        for index, (value, extension) in enumerate(zip(values, extensions, strict=True)):
            if value is None and extension is None:
                continue
            position = index if many else None
            path = (
                value["resourceType"]
                if isinstance(value, dict) and "resourceType" in value
                else f"{location.path}.{name}"
            )
            result.append(_Location(node, key, position, location, _node_model(value, field), field, path))
    return result


def _matching_keys(node: JsonObject, name: str, model: type | None) -> list[str]:
    """JSON properties of ``node`` holding element ``name``: itself, or the valueX keys of a choice."""
    if _has_element(node, name):
        return [name]
    if model is not None:
        return [
            key for key, field in _fields(model).items() if field.choice == name and _has_element(node, key)
        ]
    return [
        key
        for key in node
        if key.startswith(name)
        and len(key) > len(name)
        and key[len(name)].isupper()
        and _has_element(node, key)
    ]


# ---------------------------------------------------------------------------------------------------------
# FHIRPath Patch: operations
# ---------------------------------------------------------------------------------------------------------


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


def _select(document: JsonObject, operation: _Operation, tree: AstNode | None = None) -> list[_Location]:
    """The locations matched by the operation's path (or by the sub-expression ``tree``)."""
    resolver = _Resolver(document)
    try:
        return resolver.resolve(tree if tree is not None else _parse(operation.path), [resolver.root])
    except PatchError as exc:
        raise operation.fail(str(exc)) from exc


def _select_one(document: JsonObject, operation: _Operation, tree: AstNode | None = None) -> _Location:
    locations = _select(document, operation, tree)
    if len(locations) != 1:
        raise operation.fail(f"path matched {len(locations)} elements, expected exactly 1")
    return locations[0]


def _list_target(document: JsonObject, operation: _Operation) -> tuple[JsonObject, str, _Field | None]:
    """For insert/move: the object owning the list, the list's JSON key and its declaration."""
    try:
        tree = _parse(operation.path)
    except PatchError as exc:
        raise operation.fail(str(exc)) from exc
    if tree["type"] == "InvocationExpression" and tree["children"][1]["type"] == "MemberInvocation":
        owner = _select_one(document, operation, tree["children"][0])
        name = tree["children"][1]["children"][0]["text"].strip("`")
    elif tree["type"] == "TermExpression" and tree.get("text", "")[:1].islower():
        owner, name = _Resolver(document).root, str(tree["text"]).strip("`")
    else:
        raise operation.fail("the path must end with the name of a repeating element")
    if not isinstance(owner.value, dict):
        raise operation.fail("the path does not lead to a complex element")
    field = _field(owner.model, name)
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


def _build_value(part: JsonObject, model: type | None, operation: _Operation) -> _Value:
    """The value carried by a part: value[x], resource, or nested parts built into a JSON object."""
    value_keys = [key for key in part if key.startswith("value")]
    extension_keys = [key for key in part if key.startswith("_value")]
    if len(value_keys) > 1:
        raise operation.fail(f"the '{part.get('name')}' part has several values: {value_keys}")
    if value_keys or extension_keys:
        key = (value_keys or [extension_keys[0][1:]])[0]
        return _Value(part.get(key), part.get("_" + key), key[len("value") :])
    if isinstance(part.get("resource"), dict):
        return _Value(part["resource"], None, part["resource"].get("resourceType"))
    if isinstance(part.get("part"), list):
        return _Value(_build_object(part["part"], model, operation))
    raise operation.fail(f"the '{part.get('name')}' part has no value")


def _build_object(parts: list[JsonObject], model: type | None, operation: _Operation) -> JsonObject:
    """Rebuild an anonymous element from its named parts, using ``model`` for cardinality and choices."""
    result: JsonObject = {}
    for part in parts:
        name = part.get("name")
        if not isinstance(name, str) or not name:
            raise operation.fail("a nested value part has no name")
        key = _choice_key(model, name, _value_type(part))
        field = _field(model, key)
        value = _build_value(part, field.model if field else None, operation)
        if field is not None and field.is_list or isinstance(result.get(key), list):
            _insert_item(result, key, _list_length(result, key), value)
        elif _has_element(result, key):
            raise operation.fail(f"the nested part '{name}' is repeated but the element is single-valued")
        else:
            _set_single(result, key, value)
    return result


def _add(document: JsonObject, operation: _Operation) -> None:
    target = _select_one(document, operation)
    name = operation.string("name")
    if not isinstance(target.value, dict) and name not in ("id", "extension"):
        raise operation.fail(f"a primitive element only takes 'id' and 'extension', not '{name}'")
    holder = target.value if isinstance(target.value, dict) else _primitive_element(target)
    model = target.model if isinstance(target.value, dict) else _model_for_type("Element")
    value_part = operation.part("value")
    key = _choice_key(model, name, _value_type(value_part))
    field = _field(model, key)
    value = _build_value(value_part, field.model if field else None, operation)
    if field is not None and field.is_list or isinstance(holder.get(key), list):
        _insert_item(holder, key, _list_length(holder, key), value)
    elif _has_element(holder, key):
        raise operation.fail(f"'{key}' is single-valued and already present (use replace)")
    else:
        _set_single(holder, key, value)


def _primitive_element(location: _Location) -> JsonObject:
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
        values, extensions = _list_pair(location.holder, location.key)
        extensions[location.index] = created
        location.holder[location.key], location.holder["_" + location.key] = values, extensions
    return created


def _insert(document: JsonObject, operation: _Operation) -> None:
    holder, key, field = _list_target(document, operation)
    index, length = operation.integer("index"), _list_length(holder, key)
    if not 0 <= index <= length:
        raise operation.fail(f"index {index} is outside 0..{length}")
    value = _build_value(operation.part("value"), field.model if field else None, operation)
    _insert_item(holder, key, index, value)


def _move(document: JsonObject, operation: _Operation) -> None:
    holder, key, _ = _list_target(document, operation)
    source, destination = operation.integer("source"), operation.integer("destination")
    length = _list_length(holder, key)
    if not (0 <= source < length and 0 <= destination < length):
        raise operation.fail(f"source {source} and destination {destination} must be within 0..{length - 1}")
    _insert_item(holder, key, destination, _remove_item(holder, key, source))


def _replace(document: JsonObject, operation: _Operation) -> None:
    target = _select_one(document, operation)
    if target.parent is None:
        raise operation.fail("cannot replace the whole resource")
    field = target.field
    value = _build_value(operation.part("value"), field.model if field else target.model, operation)
    if target.index is not None:
        _remove_item(target.holder, target.key, target.index)
        _insert_item(target.holder, target.key, target.index, value)
        return
    key = target.key
    if field is not None and field.choice:  # valueString replaced by a valueQuantity changes the JSON key
        key = _choice_key(target.parent.model, field.choice, value.type_name)
        key = target.key if key == field.choice else key
    _set_single(target.holder, target.key, _Value(None))
    _set_single(target.holder, key, value)


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


def _remove(location: _Location) -> None:
    if location.index is None:
        _set_single(location.holder, location.key, _Value(None))
    else:
        _remove_item(location.holder, location.key, location.index)


def _prune(location: _Location | None) -> None:
    """Remove the ancestors a delete left empty (FHIR JSON has no empty objects), up to the resource."""
    while location is not None and location.parent is not None:
        if location.extension == {}:
            _clear_extension(location)
        if location.value not in ({}, None) or location.extension is not None:
            return
        _remove(location)
        location = location.parent


def _clear_extension(location: _Location) -> None:
    """Drop the (empty) "_name" object of the primitive at ``location``."""
    if location.index is None:
        location.holder.pop("_" + location.key, None)
        return
    values, extensions = _list_pair(location.holder, location.key)
    extensions[location.index] = None
    _store_list(location.holder, location.key, values, extensions)


_HANDLERS: dict[str, typing.Callable[[JsonObject, _Operation], None]] = {
    "add": _add,
    "insert": _insert,
    "delete": _delete,
    "replace": _replace,
    "move": _move,
}
