"""Walking dotted element paths over resource JSON, keeping the concrete path of every node.

``Patient.name.given`` over a resource gives each ``given`` value with ``Patient.name[0].given[1]``; a choice
segment ``value[x]`` matches ``valueQuantity``, ``valueString`` … and reports the concrete key. A primitive that
carries only extensions (``_birthDate``) counts as present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Node:
    value: Any
    path: str  # concrete FHIRPath-like location, with indices: Patient.name[0].given[1]
    type_suffix: str = ""  # for a choice element: "Quantity" in valueQuantity


def _keys(obj: dict[str, Any], segment: str) -> list[tuple[str, str]]:
    """(json key, choice type suffix) pairs of ``obj`` matched by ``segment``."""
    if segment.endswith("[x]"):
        stem = segment[:-3]
        out = []
        for key in obj:
            if key.startswith(stem) and len(key) > len(stem) and key[len(stem)].isupper():
                out.append((key, key[len(stem):]))
        return out
    return [(segment, "")] if segment in obj or f"_{segment}" in obj else []


def children(node: Node, segment: str) -> list[Node]:
    """The values of ``segment`` under ``node`` (a list element gives one Node per item)."""
    obj = node.value
    if not isinstance(obj, dict):
        return []
    out: list[Node] = []
    for key, suffix in _keys(obj, segment):
        value, shadow = obj.get(key), obj.get(f"_{key}")
        if isinstance(value, list) or isinstance(shadow, list):
            items = value if isinstance(value, list) else []
            shadows = shadow if isinstance(shadow, list) else []
            for i in range(max(len(items), len(shadows))):
                item = items[i] if i < len(items) else None
                if item is None and (i >= len(shadows) or shadows[i] is None):
                    continue
                out.append(Node(item, f"{node.path}.{key}[{i}]", suffix))
        elif value is not None or shadow is not None:
            out.append(Node(value, f"{node.path}.{key}", suffix))
    return out


def select(nodes: list[Node], segments: tuple[str, ...]) -> list[Node]:
    """All nodes reached from ``nodes`` by following ``segments``."""
    for segment in segments:
        nodes = [child for node in nodes for child in children(node, segment)]
    return nodes


def contains_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern[x] semantics: objects match recursively as subsets, each pattern list item must be matched
    by some item of the value list, primitives must be equal."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and contains_pattern(value[k], v)
                                               for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(contains_pattern(v, p) for v in value) for p in pattern)
    if isinstance(value, bool) != isinstance(pattern, bool):
        return False
    return bool(value == pattern)
