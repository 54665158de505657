"""Canonical property order for FHIR JSON: ``resourceType`` first, then elements in definition order.

PostgreSQL's JSONB does not keep the order of object keys; this restores the order readers expect (the order of
https://hl7.org/fhir/R4/json.html examples, the element order of the definitions) from the R4 JSON schema.
Unknown keys keep their relative order after the known ones.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhirserver.fhir.definitions import json_schema


@cache
def _layout(definition: str) -> tuple[dict[str, int], dict[str, str]]:
    """(key -> rank, key -> definition of its complex value) for one schema definition."""
    props = json_schema()["definitions"].get(definition, {}).get("properties", {})
    ranks: dict[str, int] = {}
    targets: dict[str, str] = {}
    for rank, (name, spec) in enumerate(props.items()):
        ranks[name] = rank
        ref = spec.get("$ref") or spec.get("items", {}).get("$ref")
        if ref:
            target = ref.rsplit("/", 1)[-1]
            if target == "ResourceList" or "properties" in json_schema()["definitions"].get(target, {}):
                targets[name] = target
    return ranks, targets


def _value(value: Any, target: str | None) -> Any:
    if target is None:
        return value
    if isinstance(value, list):
        return [_value(v, target) for v in value]
    if not isinstance(value, dict):
        return value
    if target == "ResourceList":
        rt = value.get("resourceType")
        return canonical(value, rt) if isinstance(rt, str) else value
    return canonical(value, target)


def canonical(node: dict[str, Any], definition: str | None = None) -> dict[str, Any]:
    """A copy of ``node`` with keys in definition order, recursively."""
    name = definition or node.get("resourceType")
    if not isinstance(name, str):
        return node
    ranks, targets = _layout(name)
    unknown = len(ranks)
    keys = sorted(node, key=lambda k: ranks.get(k, unknown))
    return {k: _value(node[k], targets.get(k)) for k in keys}
