"""Evaluate one profile's rules on one resource: cardinality, fixed/pattern, bindings, types, references, regex,
maxLength, slices (open/closed, nested) and FHIRPath invariants. Pure: JSON in, OperationOutcome issues out.

Diagnostics name the profile, the element (with slice names, ``Patient.name:officialName.given``) and the rule;
``expression`` is the concrete location with indices (``Patient.name[0].given``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fhirserver.errors import Issue
from fhirserver.profiles.fhirpath import holds
from fhirserver.profiles.model import ElementRule, Profile
from fhirserver.profiles.paths import Node, children, contains_pattern, select
from fhirserver.profiles.terminology import Terminology


def _show(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _strict_equal(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _type_name(suffix: str) -> str:
    return suffix[:1].upper() + suffix[1:]


@dataclass
class _Run:
    prefix: str  # "fr-core-patient-ins: " or "fr-core-patient-ins (from fr-core-patient): "
    terminology: Terminology
    issues: list[Issue] = field(default_factory=list)

    def add(self, text: str, code: str, expression: str, severity: str = "error") -> None:
        self.issues.append(Issue(self.prefix + text, code=code, severity=severity, expression=(expression,)))


def evaluate(profile: Profile, resource: dict[str, Any], terminology: Terminology, prefix: str) -> list[Issue]:
    """The issues of ``resource`` against ``profile``'s own rules (not its base's)."""
    run = _Run(prefix, terminology)
    root = Node(resource, profile.type)
    _rules(profile.elements, [root], profile.type, run)
    for inv in profile.invariants:
        for node in select([root], inv.segments):
            try:
                ok = holds(inv.compiled, node.value)
            except Exception as exc:  # fhirpathpy raises bare Exceptions
                run.add(f"invariant {inv.key} could not be evaluated ({exc}): {inv.human}", "invariant", node.path)
                continue
            if not ok:
                run.add(f"invariant {inv.key} failed: {inv.human}", "invariant", node.path, inv.severity)
    return run.issues


def _rules(rules: Iterable[ElementRule], contexts: list[Node], label: str, run: _Run) -> None:
    for rule in rules:
        element = ".".join((label, *rule.segments)) if rule.segments else label
        if not rule.segments:
            for node in contexts:
                _values(rule, node, element, run)
            continue
        last = rule.segments[-1]
        for parent in select(contexts, rule.segments[:-1]):
            kids = children(parent, last)
            where = f"{parent.path}.{last}"
            if rule.min is not None and len(kids) < rule.min:
                run.add(f"{element}: minimum cardinality {rule.min}, found {len(kids)}", "required", where)
            if rule.has_max and rule.max is not None and len(kids) > rule.max:
                run.add(f"{element}: maximum cardinality {rule.max}, found {len(kids)}", "structure", where)
            for kid in kids:
                _values(rule, kid, element, run)
            if rule.slices:
                _slices(rule, kids, where, element, run)


def _slices(rule: ElementRule, kids: list[Node], where: str, element: str, run: _Run) -> None:
    matched_any: set[int] = set()
    for sl in rule.slices:
        members = [(i, k) for i, k in enumerate(kids) if contains_pattern(k.value, sl.match)]
        matched_any.update(i for i, _ in members)
        name = f"{element}:{sl.name}"
        if sl.min is not None and len(members) < sl.min:
            run.add(f"{name}: minimum cardinality {sl.min}, found {len(members)} (slice matched by "
                    f"{_show(sl.match)})", "required", where)
        if sl.max is not None and len(members) > sl.max:
            run.add(f"{name}: maximum cardinality {sl.max}, found {len(members)}", "structure", where)
        _rules(sl.elements, [k for _, k in members], name, run)
    if rule.closed:
        allowed = ", ".join(s.name for s in rule.slices)
        for i, kid in enumerate(kids):
            if i not in matched_any:
                run.add(f"{element}: closed slicing, the element matches none of the slices {allowed}",
                        "structure", kid.path)


def _values(rule: ElementRule, node: Node, element: str, run: _Run) -> None:
    value = node.value
    if rule.types and node.type_suffix:
        allowed = [_type_name(t) for t in rule.types]
        if node.type_suffix not in allowed:
            run.add(f"{element}: type {node.type_suffix} is not allowed (allowed: {', '.join(rule.types)})",
                    "structure", node.path)
    if value is None:  # a primitive carried by extensions only
        return
    if rule.has_fixed and not _strict_equal(value, rule.fixed):
        run.add(f"{element}: fixed value {_show(rule.fixed)} required, found {_show(value)}", "value", node.path)
    if rule.has_pattern and not contains_pattern(value, rule.pattern):
        run.add(f"{element}: value must match the pattern {_show(rule.pattern)}, found {_show(value)}",
                "value", node.path)
    primitive = isinstance(value, str | int | float) and not isinstance(value, bool)
    if rule.regex is not None and primitive and not rule.regex.fullmatch(str(value)):
        run.add(f"{element}: value {_show(value, 40)} does not match the regex {rule.regex.pattern}",
                "value", node.path)
    if rule.max_length is not None and isinstance(value, str) and len(value) > rule.max_length:
        run.add(f"{element}: length {len(value)} exceeds maxLength {rule.max_length}", "value", node.path)
    if rule.target_types and isinstance(value, dict):
        _reference(rule, value, node, element, run)
    if rule.binding is not None and rule.binding.strength in ("required", "extensible"):
        _binding(rule, value, node, element, run)


def _reference(rule: ElementRule, value: dict[str, Any], node: Node, element: str, run: _Run) -> None:
    target = value.get("type")
    ref = value.get("reference")
    if not target and isinstance(ref, str) and not ref.startswith(("#", "urn:")):
        parts = ref.split("?", 1)[0].split("/")
        if len(parts) >= 4 and parts[-2] == "_history":
            parts = parts[:-2]
        if len(parts) >= 2:
            target = parts[-2]
    if target and target not in rule.target_types:
        run.add(f"{element}: reference to a {target}, allowed targets: {', '.join(rule.target_types)}",
                "structure", node.path)


def _codings(value: Any) -> tuple[list[tuple[str | None, str]], bool]:
    """The (system, code) pairs of a code, Coding or CodeableConcept, and whether it is a CodeableConcept."""
    if isinstance(value, str):
        return [(None, value)], False
    if not isinstance(value, dict):
        return [], False
    if "coding" in value or ("text" in value and "code" not in value):
        return [(c.get("system"), c["code"]) for c in value.get("coding", [])
                if isinstance(c, dict) and isinstance(c.get("code"), str)], True
    if isinstance(value.get("code"), str):
        return [(value.get("system"), value["code"])], False
    return [], False


def _binding(rule: ElementRule, value: Any, node: Node, element: str, run: _Run) -> None:
    assert rule.binding is not None
    url = rule.binding.value_set
    severity = "error" if rule.binding.strength == "required" else "warning"
    codes, concept = _codings(value)
    if not codes:
        if concept:
            run.add(f"{element}: no coding from the {rule.binding.strength} value set "
                    f"{run.terminology.display(url)} ({url})", "code-invalid", node.path, severity)
        return
    term = run.terminology
    if concept:
        if any(term.contains(url, s, c) for s, c in codes):
            return
        shown = ", ".join(f"{s}|{c}" if s else c for s, c in codes)
        run.add(f"{element}: none of the codings ({shown}) is in the {rule.binding.strength} value set "
                f"{term.display(url)} ({url})", "code-invalid", node.path, severity)
        return
    system, code = codes[0]
    if not term.contains(url, system, code):
        shown = f"{system}|{code}" if system else code
        run.add(f"{element}: code '{shown}' is not in the {rule.binding.strength} value set "
                f"{term.display(url)} ({url})", "code-invalid", node.path, severity)
