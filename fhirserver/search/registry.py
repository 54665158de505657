"""The search-parameter registry, built from SearchParameter *data* (never per-resource code).

Source: the official R4 bundle (https://hl7.org/fhir/R4/searchparameter-registry.html), plus any extra
SearchParameter bundles in ``config/search_parameters/``. Each parameter's FHIRPath expression is split per
resource type and compiled once. Dispatch downstream is on the parameter *type* only.

Evaluation: dotted paths known to the JSON schema (choice elements, ``as`` / ``ofType``, codes with a required
binding, ``path.where(key='value')[.rest]``) are walked directly, identically to fhirpathpy on every official
example; the rest goes through fhirpathpy (``Bundle.entry[0].resource``, ``Patient.deceased.exists() and …``,
``(Observation.value.ofType(CodeableConcept)).text``, ``%resource`` composite components).
Known limits of the official R4 expressions (every other one evaluates on all the R4 examples):

- ``Location.near`` is type *special* (geographic distance): not compiled;
- ``_text``, ``_content``, ``_query`` have no expression: not compiled;
- ``DeviceDefinition.classification`` (``DeviceDefinition.classification.type``) names an element R4 does not
  have (it is R5's): it never indexes anything;
- ``InsurancePlan.name`` is ``name | alias`` without the type: read as ``InsurancePlan.name | InsurancePlan.alias``;
- ``Bundle.composition`` / ``Bundle.message`` return a resource, indexed as a reference to it when its type is
  the parameter's target (see :func:`fhirserver.search.extract.reference_values`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import fhirpathpy
from fhirpathpy.models import models as fhirpath_models

from fhirserver.fhir.definitions import json_schema, resource_types, search_parameter_bundle

Evaluator = Callable[[Mapping[str, Any]], list[Any]]

#: Parameters answered from columns of the resource table, never from index rows.
COLUMN_PARAMS = frozenset({"_id", "_lastUpdated"})
#: Search result parameters (https://hl7.org/fhir/R4/search.html#Summary): not filters.
RESULT_PARAMS = frozenset({
    "_sort", "_count", "_include", "_revinclude", "_summary", "_total", "_elements", "_contained",
    "_containedType", "_format", "_pretty", "_page", "_cursor", "_since", "_at", "_type", "_list", "_has",
})

_RESOLVE_IS = re.compile(r"\.where\(resolve\(\) is (\w+)\)")
_SIMPLE_PATH = re.compile(r"^[A-Za-z]+(\.[A-Za-z]+)+$")
_AS_TYPE = re.compile(r"^\((?P<path>[A-Za-z.]+) as (?P<type>\w+)\)$")
_OF_TYPE = re.compile(r"^(?P<path>[A-Za-z.]+)\.ofType\((?P<type>\w+)\)$")
#: ``X.telecom.where(system='email')`` and ``X.relatedArtifact.where(type='composed-of').resource``
_WHERE_EQ = re.compile(r"^(?P<path>[A-Za-z.]+)\.where\((?P<key>[A-Za-z]+) ?= ?'(?P<value>[^'\\]*)'\)"
                       r"(?:\.(?P<rest>[A-Za-z.]+))?$")


@dataclass(frozen=True)
class Component:
    """One component of a composite parameter: the component parameter's type and its relative expression."""

    type: str
    evaluate: Callable[[Any, Mapping[str, Any]], list[Any]]


@dataclass(frozen=True)
class SearchParam:
    """A search parameter as it applies to one resource type."""

    code: str
    type: str
    url: str
    resource_type: str
    expression: str
    targets: tuple[str, ...] = ()
    evaluate: Evaluator | None = None
    components: tuple[Component, ...] = ()
    modifiers: tuple[str, ...] = field(default=())


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath union ``a | b | c`` at the top level only (not inside parentheses or strings)."""
    parts: list[str] = []
    depth, start, quote = 0, 0, False
    for i, ch in enumerate(expression):
        if ch == "'" and (i == 0 or expression[i - 1] != "\\"):
            quote = not quote
        elif quote:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _root(part: str) -> str:
    return re.split(r"[.\s(]", part.lstrip("("), maxsplit=1)[0]


def _schema_steps(path: str, of_type: str | None = None) -> tuple[str, ...] | None:
    """JSON keys to walk for ``Type.a.b`` (optionally ``.ofType(T)``), or None when the path needs FHIRPath.

    Every step must be an element known to the JSON schema; a choice element (``value[x]``) is allowed as the
    last step, resolved to its JSON key(s) (``valueQuantity`` …).
    """
    defs = json_schema()["definitions"]
    steps = path.split(".")
    current = steps[0]
    keys: list[str] = []
    for i, step in enumerate(steps[1:], start=1):
        props = defs.get(current, {}).get("properties", {})
        prop = props.get(step)
        last = i == len(steps) - 1
        if prop is None:
            if not last:
                return None
            choices = [k for k in props if k.startswith(step) and k[len(step):][:1].isupper()]
            if of_type is not None:
                key = step + of_type[0].upper() + of_type[1:]
                return (*keys, key) if key in choices else None
            return (*keys, "|".join(choices)) if choices else None
        ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
        if not ref:
            # a primitive without a $ref (a code with a required binding is an ``enum``, a boolean a ``type``)
            # can only be the last step
            if not last or of_type is not None:
                return None
            return (*keys, step)
        keys.append(step)
        current = ref.rsplit("/", 1)[1]
    return tuple(keys) if of_type is None else None


def _walk(node: Any, steps: tuple[str, ...]) -> list[Any]:
    current = [node]
    for step in steps:
        nxt: list[Any] = []
        for item in current:
            if not isinstance(item, dict):
                continue
            for key in step.split("|"):
                if key in item:
                    value = item[key]
                    if isinstance(value, list):
                        nxt.extend(v for v in value if v is not None)
                    else:
                        nxt.append(value)
        current = nxt
        if not current:
            break
    return current


def _reference_type(node: Any) -> str | None:
    """The type a Reference (or canonical) points at, when it can be told without resolving it:
    ``Type/id`` (relative or absolute, with or without ``_history``), else ``Reference.type``; a resource node
    (``Bundle.entry[0].resource``) is its own type."""
    if isinstance(node, dict):
        if isinstance(node.get("resourceType"), str):
            return str(node["resourceType"])
        ref = node.get("reference")
        if not isinstance(ref, str):
            kind = node.get("type")
            return kind if isinstance(kind, str) else None
    elif isinstance(node, str):
        ref = node
    else:
        return None
    segments = ref.split("|")[0].split("/_history/")[0].split("/")
    if len(segments) >= 2 and segments[-2] in resource_types():
        return segments[-2]
    return node.get("type") if isinstance(node, dict) and isinstance(node.get("type"), str) else None


def _contained_type(resource: Mapping[str, Any], local_id: str) -> str | None:
    for inner in resource.get("contained") or []:
        if isinstance(inner, dict) and inner.get("id") == local_id:
            kind = inner.get("resourceType")
            return kind if isinstance(kind, str) else None
    return None


def compile_expression(parts: Iterable[str]) -> Evaluator:
    """Compile union parts into one evaluator: plain dotted paths are walked directly (fast path),
    anything else goes through fhirpathpy. ``.where(resolve() is T)`` becomes a filter on the reference type."""
    compiled: list[Evaluator] = []
    for part in parts:
        type_filter: str | None = None
        match = _RESOLVE_IS.search(part)
        if match and part.endswith(match.group(0)):
            type_filter = match.group(1)
            part = part[: match.start()]
        compiled.append(_compile_part(part, type_filter))

    def evaluate(resource: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        for fn in compiled:
            out.extend(fn(resource))
        return out

    return evaluate


def _strip_parens(part: str) -> str:
    while part.startswith("(") and part.endswith(")"):
        depth = 0
        for i, ch in enumerate(part):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(part) - 1:
                return part
        part = part[1:-1].strip()
    return part


def _fast_steps(part: str) -> tuple[str, ...] | None:
    part = _strip_parens(part)
    if re.fullmatch(r"[A-Z][A-Za-z]+", part):
        return ()
    if _SIMPLE_PATH.match(part):
        return _schema_steps(part)
    match = _AS_TYPE.match(part) or _OF_TYPE.match(part)
    if match and "." in match.group("path"):
        return _schema_steps(match.group("path"), match.group("type"))
    return None


def _fast_where(part: str) -> Evaluator | None:
    """``path.where(key='value')[.rest]`` on schema-known elements: walk, keep the items whose primitive ``key``
    equals ``value``, walk on (``Patient.telecom.where(system='phone')``,
    ``Library.relatedArtifact.where(type='depends-on').resource``)."""
    match = _WHERE_EQ.match(_strip_parens(part))
    if not match or "." not in match.group("path"):
        return None
    path, key, value, rest = match.group("path", "key", "value", "rest")
    head = _schema_steps(path)
    if head is None or not head or "|" in head[-1] or _schema_steps(f"{path}.{key}") is None:
        return None
    tail: tuple[str, ...] = ()
    if rest:
        full = _schema_steps(f"{path}.{rest}")
        if full is None:
            return None
        tail = full[len(head):]

    def run(resource: Mapping[str, Any]) -> list[Any]:
        kept = [n for n in _walk(resource, head) if isinstance(n, dict) and n.get(key) == value]
        return [x for n in kept for x in _walk(n, tail)] if tail else kept

    return run


def _compile_part(part: str, type_filter: str | None) -> Evaluator:
    fast = _fast_steps(part)
    where = _fast_where(part) if fast is None else None
    if fast is not None:
        steps = fast

        def walk(resource: Mapping[str, Any]) -> list[Any]:
            return _walk(resource, steps)

        base: Evaluator = walk
    elif where is not None:
        base = where
    else:
        fn = fhirpathpy.compile(part, fhirpath_models["r4"])

        def run(resource: Mapping[str, Any]) -> list[Any]:
            return list(fn(resource, {"resource": resource}))

        base = run
    if type_filter is None:
        return base

    def filtered(resource: Mapping[str, Any]) -> list[Any]:
        # resolve() without a database: the type written in the reference, or the contained resource's type;
        # a reference whose type cannot be told (urn:uuid, identifier only) is kept
        out = []
        for n in base(resource):
            kind = _reference_type(n)
            if kind is None and isinstance(n, dict) and str(n.get("reference", "")).startswith("#"):
                kind = _contained_type(resource, n["reference"][1:])
            if kind in (type_filter, None):
                out.append(n)
        return out

    return filtered


_REL_STEP = re.compile(r"^(?P<name>[A-Za-z]+)(?:\.ofType\((?P<type>\w+)\))?$")


def _compile_relative(expression: str) -> Callable[[Any, Mapping[str, Any]], list[Any]]:
    """A composite component's expression, relative to the composite's root node.

    The root is a bare JSON object without type information, so choice elements are resolved from the JSON
    keys (``value.ofType(Quantity)`` -> ``valueQuantity``); ``%resource.x`` runs on the whole resource.
    """
    parts = split_union(expression)
    fns: list[Callable[[Any, Mapping[str, Any]], list[Any]]] = []
    for part in parts:
        fns.append(_relative_part(part))

    def run(node: Any, resource: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        for fn in fns:
            out.extend(fn(node, resource))
        return out

    return run


def _relative_part(part: str) -> Callable[[Any, Mapping[str, Any]], list[Any]]:
    if part.startswith("%resource."):
        fn = fhirpathpy.compile(part, fhirpath_models["r4"])
        return lambda node, resource: list(fn(resource, {"resource": resource}))
    match = _REL_STEP.match(part)
    if not match:
        raise ValueError(f"unsupported composite component expression: {part!r}")
    name, of_type = match.group("name"), match.group("type")

    def run(node: Any, resource: Mapping[str, Any]) -> list[Any]:
        if not isinstance(node, dict):
            return []
        if of_type:
            keys = [name + of_type[0].upper() + of_type[1:]]
        elif name in node:
            keys = [name]
        else:
            keys = [k for k in node if k.startswith(name) and k[len(name):][:1].isupper()]
        return [x for k in keys for x in _walk(node, (k,))]

    return run


class Registry:
    """All search parameters by resource type, compiled lazily per type."""

    def __init__(self, definitions: Iterable[Mapping[str, Any]]) -> None:
        self._defs = list(definitions)
        self._by_url = {d["url"]: d for d in self._defs}
        self._cache: dict[str, dict[str, SearchParam]] = {}

    def params(self, resource_type: str) -> dict[str, SearchParam]:
        """code -> SearchParam for one resource type (including the Resource / DomainResource ones)."""
        cached = self._cache.get(resource_type)
        if cached is None:
            cached = self._build(resource_type)
            self._cache[resource_type] = cached
        return cached

    def get(self, resource_type: str, code: str) -> SearchParam | None:
        return self.params(resource_type).get(code)

    def _build(self, rt: str) -> dict[str, SearchParam]:
        bases = {rt, "Resource"} | ({"DomainResource"} if rt not in ("Bundle", "Binary", "Parameters",
                                                                     "Resource") else set())
        out: dict[str, SearchParam] = {}
        for d in self._defs:
            if not bases.intersection(d.get("base", [])):
                continue
            expression = d.get("expression") or ""
            all_parts = split_union(expression)
            parts = [p for p in all_parts if _root(p) in (rt, "Resource", "DomainResource")]
            if not parts and rt in d.get("base", []) and all_parts and all(
                    _root(p)[:1].islower() and not p.startswith("%") for p in all_parts):
                # a few official expressions forget the type (InsurancePlan-name: ``name | alias``)
                parts = [f"{rt}.{p}" for p in all_parts]
            code = d["code"]
            if d["type"] == "special" or (not parts and code not in COLUMN_PARAMS):
                continue
            parts = [rt + p[len(_root(p)):] if _root(p) in ("Resource", "DomainResource") else p for p in parts]
            components: tuple[Component, ...] = ()
            if d["type"] == "composite":
                components = tuple(self._component(c) for c in d.get("component", []))
                if any(c.type == "" for c in components):
                    continue
            out[code] = SearchParam(
                code=code,
                type=d["type"],
                url=d["url"],
                resource_type=rt,
                expression=" | ".join(parts),
                targets=tuple(d.get("target", [])),
                evaluate=compile_expression(parts) if parts else None,
                components=components,
                modifiers=tuple(d.get("modifier", [])),
            )
        return out

    def _component(self, c: Mapping[str, Any]) -> Component:
        definition = self._by_url.get(c["definition"], {})
        rel = _compile_relative(c["expression"])
        return Component(type=definition.get("type", ""), evaluate=rel)

    def all_params(self) -> Iterable[tuple[str, SearchParam]]:
        for rt in sorted(resource_types()):
            for sp in self.params(rt).values():
                yield rt, sp


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The registry of the official R4 parameters (extra bundles are added by ``fhirserver.app``)."""
    return Registry(search_parameter_bundle())
