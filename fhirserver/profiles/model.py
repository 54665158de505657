"""Profile rules as typed, checked records, parsed from the JSON data files of ``config/profiles/``.

The format is described in ``config/profiles/README.md``. Parsing is strict: an unknown key, a malformed
cardinality, a regex that does not compile or an invariant that does not parse is a :class:`ProfileError`
naming the file and the rule — profiles are configuration, and configuration fails loudly at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fhirserver.profiles.fhirpath import CompiledPath, compile_invariant


class ProfileError(RuntimeError):
    """A profile, value set or code system file is malformed or refers to something missing."""


BINDING_STRENGTHS = ("required", "extensible", "preferred", "example")
SEVERITIES = ("error", "warning")
_RULE_KEYS = {"path", "min", "max", "fixed", "pattern", "binding", "types", "targetTypes", "regex", "maxLength",
              "slicing", "slices", "short", "comment"}
_SLICE_KEYS = {"name", "match", "min", "max", "elements", "short", "comment"}
_PROFILE_KEYS = {"url", "name", "title", "version", "type", "baseDefinition", "source", "elements", "invariants",
                 "description", "status", "deviations", "comment"}
_INVARIANT_KEYS = {"key", "severity", "human", "expression", "path", "source", "comment"}
_SEGMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\[x\])?$")


@dataclass(frozen=True)
class Binding:
    strength: str
    value_set: str


@dataclass(frozen=True)
class Slice:
    name: str
    match: dict[str, Any]
    min: int | None
    max: int | None  # None = unbounded ("*") or not constrained
    elements: tuple[ElementRule, ...]


@dataclass(frozen=True)
class ElementRule:
    """One rule on an element. ``segments`` is the path without its leading type (empty = the root node)."""

    path: str
    segments: tuple[str, ...]
    min: int | None = None
    max: int | None = None
    has_max: bool = False
    fixed: Any = None
    has_fixed: bool = False
    pattern: Any = None
    has_pattern: bool = False
    binding: Binding | None = None
    types: tuple[str, ...] = ()
    target_types: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    max_length: int | None = None
    closed: bool = False
    slices: tuple[Slice, ...] = ()


@dataclass(frozen=True)
class Invariant:
    key: str
    severity: str
    human: str
    expression: str
    segments: tuple[str, ...]
    path: str
    compiled: CompiledPath


@dataclass
class Profile:
    url: str
    id: str
    name: str
    title: str
    version: str
    type: str
    base: str | None
    source: str
    elements: tuple[ElementRule, ...]
    invariants: tuple[Invariant, ...]
    file: str = ""
    #: the chain of known profiles whose rules apply, this one first (filled by the registry)
    chain: list[Profile] = field(default_factory=list)


def profile_id(url: str) -> str:
    """The last path segment of a canonical URL, without a ``|version``."""
    return url.split("|", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _fail(where: str, message: str) -> ProfileError:
    return ProfileError(f"{where}: {message}")


def _check_keys(data: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _fail(where, f"expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    return data


def _cardinality(data: dict[str, Any], where: str) -> tuple[int | None, int | None, bool]:
    low = data.get("min")
    if low is not None and (not isinstance(low, int) or isinstance(low, bool) or low < 0):
        raise _fail(where, f"min must be a non-negative integer, got {low!r}")
    high_raw = data.get("max")
    high: int | None = None
    if high_raw is not None:
        if high_raw == "*":
            high = None
        elif isinstance(high_raw, str) and high_raw.isdigit():
            high = int(high_raw)
        else:
            raise _fail(where, f"max must be \"*\" or a number as a string, got {high_raw!r}")
        if low is not None and high is not None and low > high:
            raise _fail(where, f"min {low} is greater than max {high}")
    return low, high, high_raw is not None and high_raw != "*"


def split_path(path: Any, where: str) -> list[str]:
    if not isinstance(path, str) or not path:
        raise _fail(where, f"path must be a non-empty string, got {path!r}")
    parts = path.split(".")
    for part in parts:
        if not _SEGMENT.match(part):
            raise _fail(where, f"malformed path {path!r} (segment {part!r})")
    return parts


def _rule(data: Any, where: str, prefix: str | None, value_sets: set[str]) -> ElementRule:
    data = _check_keys(data, _RULE_KEYS, where)
    parts = split_path(data.get("path"), where)
    path: str = data["path"]
    where = f"{where} ({path})"
    if prefix is not None:
        if parts[0] != prefix:
            raise _fail(where, f"path must start with the profile type {prefix!r}")
        parts = parts[1:]
    low, high, has_max = _cardinality(data, where)
    binding = None
    if "binding" in data:
        raw = _check_keys(data["binding"], {"strength", "valueSet", "description"}, f"{where} binding")
        strength, vs = raw.get("strength"), raw.get("valueSet")
        if strength not in BINDING_STRENGTHS:
            raise _fail(where, f"binding strength must be one of {', '.join(BINDING_STRENGTHS)}, got {strength!r}")
        if not isinstance(vs, str) or not vs:
            raise _fail(where, "binding needs a valueSet URL")
        if strength in ("required", "extensible") and vs.split("|", 1)[0] not in value_sets:
            raise _fail(where, f"binding to value set {vs} which is not in config/profiles/valuesets/")
        binding = Binding(strength, vs.split("|", 1)[0])
    regex = None
    if "regex" in data:
        if not isinstance(data["regex"], str):
            raise _fail(where, "regex must be a string")
        try:
            regex = re.compile(data["regex"])
        except re.error as exc:
            raise _fail(where, f"regex {data['regex']!r} does not compile: {exc}") from exc
    max_length = data.get("maxLength")
    if max_length is not None and (not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1):
        raise _fail(where, f"maxLength must be a positive integer, got {max_length!r}")
    types = _string_list(data.get("types", []), f"{where} types")
    targets = _string_list(data.get("targetTypes", []), f"{where} targetTypes")
    closed = False
    if "slicing" in data:
        slicing = _check_keys(data["slicing"], {"rules", "description", "discriminator"}, f"{where} slicing")
        rules = slicing.get("rules", "open")
        if rules not in ("open", "closed", "openAtEnd"):
            raise _fail(where, f"slicing.rules must be open or closed, got {rules!r}")
        closed = rules == "closed"
    raw_slices = data.get("slices", [])
    if not isinstance(raw_slices, list):
        raise _fail(where, "slices must be a list")
    slices = tuple(_slice(s, f"{where} slice #{i}", value_sets) for i, s in enumerate(raw_slices))
    names = [s.name for s in slices]
    if len(set(names)) != len(names):
        raise _fail(where, f"duplicate slice names in {names}")
    if closed and not slices:
        raise _fail(where, "closed slicing without any slice")
    if not parts and (low is not None or has_max):
        raise _fail(where, "a cardinality on the root element makes no sense")
    return ElementRule(path=path, segments=tuple(parts), min=low, max=high, has_max=has_max,
                       fixed=data.get("fixed"), has_fixed="fixed" in data,
                       pattern=data.get("pattern"), has_pattern="pattern" in data, binding=binding,
                       types=tuple(types), target_types=tuple(targets), regex=regex, max_length=max_length,
                       closed=closed, slices=slices)


def _string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(where, f"expected a list of strings, got {value!r}")
    return value


def _slice(data: Any, where: str, value_sets: set[str]) -> Slice:
    data = _check_keys(data, _SLICE_KEYS, where)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(where, "a slice needs a name")
    where = f"{where} [{name}]"
    match = data.get("match")
    if not isinstance(match, dict) or not match:
        raise _fail(where, "a slice needs a non-empty 'match' object")
    low, high, _ = _cardinality(data, where)
    raw = data.get("elements", [])
    if not isinstance(raw, list):
        raise _fail(where, "elements must be a list")
    elements = tuple(_rule(r, f"{where} element #{i}", None, value_sets) for i, r in enumerate(raw))
    return Slice(name=name, match=match, min=low, max=high, elements=elements)


def _invariant(data: Any, where: str, rtype: str) -> Invariant:
    data = _check_keys(data, _INVARIANT_KEYS, where)
    key, expr = data.get("key"), data.get("expression")
    if not isinstance(key, str) or not key:
        raise _fail(where, "an invariant needs a key")
    where = f"{where} ({key})"
    if not isinstance(expr, str) or not expr.strip():
        raise _fail(where, "an invariant needs a FHIRPath expression")
    severity = data.get("severity", "error")
    if severity not in SEVERITIES:
        raise _fail(where, f"severity must be error or warning, got {severity!r}")
    path = data.get("path", rtype)
    parts = split_path(path, where)
    if parts[0] != rtype:
        raise _fail(where, f"path must start with the profile type {rtype!r}")
    try:
        compiled = compile_invariant(expr, rtype)
    except ValueError as exc:
        raise _fail(where, f"FHIRPath expression does not compile: {exc}") from exc
    human = data.get("human") or key
    return Invariant(key=key, severity=severity, human=str(human), expression=expr, segments=tuple(parts[1:]),
                     path=path, compiled=compiled)


def parse_profile(data: Any, where: str, value_sets: set[str]) -> Profile:
    """Check and parse one profile file's JSON (``value_sets``: the URLs of the loaded value sets)."""
    data = _check_keys(data, _PROFILE_KEYS, where)
    url, rtype = data.get("url"), data.get("type")
    if not isinstance(url, str) or "/" not in url:
        raise _fail(where, f"a profile needs a canonical url, got {url!r}")
    if not isinstance(rtype, str) or not rtype[:1].isupper():
        raise _fail(where, f"a profile needs the resource type it constrains ('type'), got {rtype!r}")
    elements = data.get("elements", [])
    invariants = data.get("invariants", [])
    if not isinstance(elements, list) or not isinstance(invariants, list):
        raise _fail(where, "elements and invariants must be lists")
    base = data.get("baseDefinition")
    if base is not None and not isinstance(base, str):
        raise _fail(where, "baseDefinition must be a URL")
    return Profile(
        url=url.split("|", 1)[0], id=profile_id(url), name=str(data.get("name") or profile_id(url)),
        title=str(data.get("title") or ""), version=str(data.get("version") or ""), type=rtype,
        base=base.split("|", 1)[0] if base else None, source=str(data.get("source") or ""),
        elements=tuple(_rule(r, f"{where} element #{i}", rtype, value_sets) for i, r in enumerate(elements)),
        invariants=tuple(_invariant(v, f"{where} invariant #{i}", rtype) for i, v in enumerate(invariants)),
        file=where)
