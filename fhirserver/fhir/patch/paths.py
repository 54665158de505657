"""FHIRPath for FHIRPath Patch: parsing a patch path and resolving it to the *locations* of the elements it
selects (FHIRPath evaluation returns values, not the places they live in).

The expression's syntax tree is parsed by fhirpathpy. Supported path forms:

* member navigation from the resource type (``Patient.contact.name``) or from the resource (``contact.name``),
  including choice elements (``Observation.value`` finds ``valueQuantity``);
* indexers ``[n]`` and ``$this``;
* ``where(criteria)`` (criteria evaluated by fhirpathpy on each candidate), ``first()``, ``last()``,
  ``tail()``, ``skip(n)``, ``take(n)``, ``single()``, ``ofType(Type)`` and ``extension(url)``.
"""

from __future__ import annotations

import copy
import re
import typing
from functools import lru_cache
from typing import Any

from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from antlr4.tree.Tree import ParseTreeWalker
from fhirpathpy import apply_parsed_path
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models as fhirpath_models
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from fhirserver.fhir.patch.base import AstNode, JsonObject, PatchError
from fhirserver.fhir.patch.locations import Location, has_element, list_pair
from fhirserver.fhir.patch.structure import declared_fields, field_of, model_for_type, node_model


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
def parse_path(expression: str) -> AstNode:
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


class Resolver:
    """Resolves a FHIRPath expression to the locations of the elements it selects in one resource."""

    def __init__(self, resource: JsonObject) -> None:
        self.resource = resource
        snapshot = copy.deepcopy(resource)  # fhirpathpy only ever sees copies
        self.variables = {"resource": snapshot, "rootResource": snapshot}
        resource_type = str(resource.get("resourceType", ""))
        self.root = Location(
            {"": resource}, "", None, None, model_for_type(resource_type), None, resource_type
        )

    def resolve(self, node: AstNode, context: list[Location], first: bool = True) -> list[Location]:
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

    def _invoke(self, node: AstNode, context: list[Location], first: bool) -> list[Location]:
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
        self, name: str, params: list[AstNode], context: list[Location], node: AstNode
    ) -> list[Location]:
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

    def _matches(self, location: Location, criteria: AstNode) -> bool:
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


def _url(location: Location) -> Any:
    value = location.value
    return value.get("url") if isinstance(value, dict) else None


def _type_specifier(node: AstNode) -> str:
    text = str(node.get("text", ""))
    return text.removeprefix("FHIR.").strip("`")


def _is_type(location: Location, type_name: str) -> bool:
    """Whether the element at ``location`` is of FHIR type ``type_name`` (resource, choice or complex type)."""
    value = location.value
    if isinstance(value, dict) and "resourceType" in value:
        return bool(value["resourceType"] == type_name)
    if location.field is not None and location.field.choice:
        return location.key[len(location.field.choice) :].lower() == type_name.lower()
    if location.field is not None:
        return location.field.type_name == type_name
    return location.model is not None and location.model.__name__ == type_name


def _children(location: Location, name: str) -> list[Location]:
    """The elements called ``name`` (or, for a choice element, ``name`` + a type) under ``location``."""
    node = location.value
    if not isinstance(node, dict):
        node = location.extension  # the id/extension of a primitive live in its "_name" twin
        if not isinstance(node, dict) or name not in ("id", "extension"):
            return []
    model = location.model if isinstance(location.value, dict) else model_for_type("Element")
    result: list[Location] = []
    for key in _matching_keys(node, name, model):
        field = field_of(model, key)
        values, extensions = list_pair(node, key)
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
            result.append(Location(node, key, position, location, node_model(value, field), field, path))
    return result


def _matching_keys(node: JsonObject, name: str, model: type | None) -> list[str]:
    """JSON properties of ``node`` holding element ``name``: itself, or the valueX keys of a choice."""
    if has_element(node, name):
        return [name]
    if model is not None:
        return [
            key for key, field in declared_fields(model).items() if field.choice == name and has_element(node, key)
        ]
    return [
        key
        for key in node
        if key.startswith(name)
        and len(key) > len(name)
        and key[len(name)].isupper()
        and has_element(node, key)
    ]
