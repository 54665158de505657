"""Parsing of a FHIR search request into a typed query, resolved against the registry.

https://hl7.org/fhir/R4/search.html — parameter names, modifiers, prefixes, escaping (``\\,`` ``\\$`` ``\\|``),
OR (commas) and AND (repetition), chaining (``subject:Patient.name``), reverse chaining (``_has``),
result parameters (``_sort``, ``_count``, ``_include``, ``_revinclude``, ``_summary``, ``_elements``, ``_total``).
Nothing here touches the database: storage compiles the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fhirserver.errors import Invalid, Issue, NotSupported
from fhirserver.fhir.definitions import resource_types
from fhirserver.search.registry import COLUMN_PARAMS, Registry, SearchParam
from fhirserver.search.values import date_range, normalize_string, now_utc, number_range

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
ORDERED_TYPES = ("date", "number", "quantity")

#: Modifiers this server honours, per parameter type (the CapabilityStatement documents the same table).
MODIFIERS: dict[str, frozenset[str]] = {
    "string": frozenset({"missing", "exact", "contains"}),
    "token": frozenset({"missing", "not", "text"}),
    "reference": frozenset({"missing", "identifier"}),  # plus :[type]
    "date": frozenset({"missing"}),
    "number": frozenset({"missing"}),
    "quantity": frozenset({"missing"}),
    "uri": frozenset({"missing", "above", "below"}),
    "composite": frozenset({"missing"}),
}


# --- values ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenValue:
    system: str | None  # None: any system
    code: str | None    # None: any code (``system|``)
    no_system: bool = False  # ``|code``: the code must have no system


@dataclass(frozen=True)
class TextValue:
    text: str  # normalised (string and token :text) or raw (exact, uri)


@dataclass(frozen=True)
class RangeValue:
    """date / number / quantity search value: prefix and the implicit range [low, high)."""

    prefix: str
    low: Any
    high: Any
    value: Any = None
    system: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class ReferenceValue:
    type: str | None
    id: str | None
    url: str | None = None
    version: str | None = None
    #: this server's base: a local ``Type/id`` value matches stored references that are relative or under it
    base_url: str | None = None


@dataclass(frozen=True)
class CompositeValue:
    parts: tuple[Any, ...]


# --- clauses ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParamClause:
    """One parameter occurrence: its values are OR'ed; clauses are AND'ed."""

    param: SearchParam
    modifier: str | None
    values: tuple[Any, ...]
    missing: bool | None = None


@dataclass(frozen=True)
class ChainClause:
    """``subject:Patient.name=x``: resources whose reference ``param`` points at a target of one of the
    ``inners`` types that matches that type's inner clause (OR over the candidate target types)."""

    param: SearchParam
    inners: tuple[tuple[str, Clause], ...]
    base_url: str | None = None


@dataclass(frozen=True)
class HasClause:
    """``_has:Observation:patient:code=x``: resources referenced (via ``param``) by a source matching ``inner``."""

    source_type: str
    param: SearchParam
    inner: Clause
    base_url: str | None = None


Clause = ParamClause | ChainClause | HasClause


@dataclass(frozen=True)
class SortKey:
    code: str
    descending: bool
    param: SearchParam | None  # None for _id / _lastUpdated


@dataclass(frozen=True)
class Include:
    source_type: str
    param: SearchParam | None  # None: ``*``
    target_type: str | None
    iterate: bool


@dataclass
class SearchQuery:
    resource_types: tuple[str, ...]
    clauses: list[Clause] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    count: int = 20
    cursor: str | None = None
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: tuple[str, ...] = ()
    total: str = "none"
    list_id: str | None = None
    #: (type, id) or (type, ids): the search is limited to that compartment, or to the union of those compartments
    compartment: tuple[str, str | tuple[str, ...]] | None = None
    #: storage ids of resources the reader may not see that the clauses cannot express (set by the access policy
    #: when a total is asked for, so that ``total`` counts only what the reader sees)
    excluded_rids: frozenset[int] = frozenset()
    #: this server's base URL: absolute references on it are local ``Type/id`` references
    base_url: str | None = None
    #: (name, value) pairs actually used, for the self link
    used: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


# --- helpers ---------------------------------------------------------------------------------------

def split_escaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` not preceded by a backslash; unescape ``\\,`` ``\\$`` ``\\|`` ``\\\\`` in the parts."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(ch + text[i + 1])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    return re.sub(r"\\([\\,$|])", r"\1", text)


def _split_prefix(raw: str) -> tuple[str, str]:
    if len(raw) > 2 and raw[:2] in PREFIXES and not raw[2:3].isalpha():
        return raw[:2], raw[2:]
    return "eq", raw


def _bad(name: str, message: str) -> Invalid:
    return Invalid(f"search parameter {name!r}: {message}",
                   [Issue(f"search parameter {name!r}: {message}", code="invalid", expression=(name,))])


def _approx(low: datetime, high: datetime) -> tuple[datetime, datetime]:
    """``ap`` on dates: widen by 10 % of the distance to now (at least a day), as the spec suggests."""
    gap = abs(now_utc() - low)
    widen = max(gap * 0.1, timedelta(days=1))
    return low - widen, high + widen


def parse_value(sp: SearchParam, kind: str, raw: str, modifier: str | None, name: str,
                base_url: str | None = None) -> Any:
    """Parse one (already comma-split) value of a parameter of type ``kind``.

    ``base_url`` (this server's base) tells local absolute references (``[base]/Patient/1`` = ``Patient/1``)
    from references to other servers, which match their exact URL only. Without it every ``…/Type/id`` URL
    is taken as local.
    """
    if kind == "token":
        if modifier == "text":
            return TextValue(normalize_string(unescape(raw)))
        if "|" in raw.replace("\\|", ""):
            token_system, token_code = (unescape(x) for x in split_escaped(raw, "|")[:2])
            if token_system == "":
                return TokenValue(None, token_code or None, no_system=True)
            return TokenValue(token_system, token_code or None)
        return TokenValue(None, unescape(raw))
    if kind == "string":
        text = unescape(raw)
        return TextValue(text if modifier == "exact" else normalize_string(text))
    if kind == "uri":
        return TextValue(unescape(raw))
    if kind == "date":
        prefix, text = _split_prefix(raw)
        try:
            low, high = date_range(text)
        except ValueError as exc:
            raise _bad(name, f"{raw!r} is not a valid date (expected e.g. 2024, 2024-05, 2024-05-01T10:00Z)") from exc
        if prefix == "ap":
            low, high = _approx(low, high)
        return RangeValue(prefix, low, high)
    if kind in ("number", "quantity"):
        prefix, text = _split_prefix(raw)
        system: str | None = None
        code: str | None = None
        if kind == "quantity":
            pieces = [unescape(x) for x in split_escaped(text, "|")]
            text = pieces[0]
            if len(pieces) == 3:
                system, code = pieces[1] or None, pieces[2] or None
            elif len(pieces) != 1:
                raise _bad(name, f"{raw!r} is not a valid quantity (expected [prefix]number[|system|code])")
        try:
            value, nlow, nhigh = number_range(text)
        except ValueError as exc:
            raise _bad(name, f"{raw!r} is not a valid number") from exc
        if prefix == "ap":
            spread = abs(value) * Decimal("0.1")
            nlow, nhigh = value - spread, value + spread
        return RangeValue(prefix, float(nlow), float(nhigh), float(value), system, code)
    if kind == "reference":
        if modifier == "identifier":
            return parse_value(sp, "token", raw, None, name)
        text = unescape(raw)
        head, _, version = text.partition("/_history/")
        segments = head.split("/")
        if "://" in head and base_url and not head.startswith(base_url.rstrip("/") + "/"):
            return ReferenceValue(None, None, text)  # a resource on another server: its URL only
        if len(segments) >= 2 and segments[-2] in resource_types():
            is_url = "://" in head
            return ReferenceValue(segments[-2], segments[-1], text if is_url else None, version or None, base_url)
        if "://" in text or text.startswith("urn:"):
            return ReferenceValue(None, None, text)
        rtype = modifier if modifier and modifier[:1].isupper() else None
        return ReferenceValue(rtype, text, base_url=base_url)
    raise NotSupported(f"search parameter {name!r}: type {kind!r} is not supported")


def _parse_composite(sp: SearchParam, raw: str, name: str, base_url: str | None) -> CompositeValue:
    pieces = split_escaped(raw, "$")
    if len(pieces) != len(sp.components):
        raise _bad(name, f"expected {len(sp.components)} components separated by '$', got {raw!r}")
    return CompositeValue(tuple(parse_value(sp, c.type, p, None, name, base_url)
                                for c, p in zip(sp.components, pieces, strict=True)))


# --- the parser ------------------------------------------------------------------------------------

class SearchParser:
    """Turns ``(name, value)`` pairs into a :class:`SearchQuery` for one or several resource types."""

    def __init__(self, registry: Registry, default_count: int = 20, max_count: int = 1000,
                 max_or_values: int = 100) -> None:
        self.registry = registry
        self.default_count = default_count
        self.max_count = max_count
        self.max_or_values = max_or_values

    def parse(self, resource_types_: tuple[str, ...], params: list[tuple[str, str]],
              base_url: str | None = None) -> SearchQuery:
        query = SearchQuery(resource_types=resource_types_, count=self.default_count, base_url=base_url)
        for name, value in params:
            self._parse_one(query, name, value)
        return query

    def _params(self, query: SearchQuery, code: str) -> SearchParam | None:
        """A parameter common to every searched type (system search uses the first type's definition)."""
        found = [self.registry.get(rt, code) for rt in query.resource_types]
        if not found or any(sp is None for sp in found):
            return None
        return found[0]

    def _parse_one(self, query: SearchQuery, name: str, value: str) -> None:
        base, _, modifier = name.partition(":")
        if base == "_count":
            query.count = self._int(name, value, 0, self.max_count)
            query.used.append((name, str(query.count)))  # links carry the page size actually used
            return
        elif base in ("_cursor", "_page"):
            query.cursor = value
            return  # never part of the self link's stable parameters
        elif base == "_sort":
            query.sort = [self._sort_key(query, name, k) for k in value.split(",") if k]
        elif base == "_include" and value == "*":
            # every reference parameter of the searched type(s)
            query.includes.extend(Include(rt, None, None, modifier == "iterate")
                                  for rt in query.resource_types if rt != "Resource")
        elif base == "_include" or base == "_revinclude":
            target = query.includes if base == "_include" else query.revincludes
            target.append(self._include(query, name, value, modifier == "iterate"))
        elif base == "_summary":
            if value not in ("true", "false", "text", "data", "count"):
                raise _bad(name, "expected one of true, false, text, data, count")
            query.summary = None if value == "false" else value
        elif base == "_elements":
            query.elements = tuple(e.strip() for e in value.split(",") if e.strip())
        elif base == "_total":
            if value not in ("none", "estimate", "accurate"):
                raise _bad(name, "expected one of none, estimate, accurate")
            query.total = value
        elif base == "_list":
            query.list_id = value
        elif base in ("_format", "_pretty", "_type"):
            return
        elif base == "_has":
            query.clauses.append(self._has(query.resource_types[0], name, value, query.base_url))
        else:
            clause = self._clause(query, name, value)
            if clause is None:
                query.unknown.append(name)
                return
            query.clauses.append(clause)
        query.used.append((name, value))

    def _int(self, name: str, value: str, low: int, high: int) -> int:
        try:
            number = int(value)
        except ValueError as exc:
            raise _bad(name, f"{value!r} is not an integer") from exc
        if number < low:
            raise _bad(name, f"must be at least {low}")
        return min(number, high)

    def _sort_key(self, query: SearchQuery, name: str, key: str) -> SortKey:
        descending = key.startswith("-")
        code = key.lstrip("-")
        if code in COLUMN_PARAMS:
            return SortKey(code, descending, None)
        sp = self._params(query, code)
        if sp is None or sp.type == "composite":
            raise _bad(name, f"cannot sort on unknown or composite parameter {code!r}")
        return SortKey(code, descending, sp)

    def _include(self, query: SearchQuery, name: str, value: str, iterate: bool) -> Include:
        pieces = value.split(":")
        if len(pieces) not in (2, 3):
            raise _bad(name, f"expected SourceType:param[:TargetType], got {value!r}")
        source = pieces[0]
        if source not in resource_types():
            raise _bad(name, f"unknown resource type {source!r}")
        target = pieces[2] if len(pieces) == 3 else None
        if target is not None and target not in resource_types():
            raise _bad(name, f"unknown resource type {target!r}")
        if pieces[1] == "*":
            return Include(source, None, target, iterate)
        sp = self.registry.get(source, pieces[1])
        if sp is None or sp.type != "reference":
            raise _bad(name, f"{source}:{pieces[1]} is not a reference search parameter")
        return Include(source, sp, target, iterate)

    def _has(self, current_type: str, name: str, value: str, base_url: str | None) -> HasClause:
        # _has:Source:refParam:rest  where rest is a parameter name, possibly another _has
        pieces = name.split(":", 3)
        if len(pieces) < 4:
            raise _bad(name, "expected _has:Type:reference-param:search-param")
        _, source, ref_code, rest = pieces
        if source not in resource_types():
            raise _bad(name, f"unknown resource type {source!r}")
        ref = self.registry.get(source, ref_code)
        if ref is None or ref.type != "reference":
            raise _bad(name, f"{source}:{ref_code} is not a reference search parameter")
        if ref.targets and current_type not in ref.targets:
            raise _bad(name, f"{source}.{ref_code} cannot refer to {current_type}")
        if rest.startswith("_has:"):
            inner: Clause = self._has(source, rest, value, base_url)
        else:
            sub = SearchQuery(resource_types=(source,), base_url=base_url)
            inner_clause = self._clause(sub, rest, value)
            if inner_clause is None:
                raise _bad(name, f"unknown search parameter {rest!r} on {source}")
            inner = inner_clause
        return HasClause(source, ref, inner, base_url)

    def _clause(self, query: SearchQuery, name: str, value: str) -> Clause | None:
        head, dot, chain_rest = name.partition(".")
        code, _, modifier = head.partition(":")
        sp = self._params(query, code)
        if sp is None:
            return None
        if dot:
            return self._chain(sp, modifier, chain_rest, value, name, query.base_url)
        return self._param_clause(sp, modifier or None, value, name, query.base_url)

    def _chain(self, sp: SearchParam, modifier: str, rest: str, value: str, name: str,
               base_url: str | None) -> Clause:
        if sp.type != "reference":
            raise _bad(name, f"{sp.code!r} is not a reference parameter and cannot be chained")
        if modifier:
            if modifier not in resource_types():
                raise _bad(name, f"unknown resource type {modifier!r} in chain")
            targets: tuple[str, ...] = (modifier,)
        else:
            targets = tuple(t for t in sp.targets if t in resource_types())
        inner_code = rest.partition(".")[0].partition(":")[0]
        candidates = tuple(t for t in targets if self.registry.get(t, inner_code) is not None)
        if not candidates:
            raise _bad(name, f"no target type of {sp.code!r} has a search parameter {inner_code!r}")
        inners = []
        for target in candidates:
            sub = SearchQuery(resource_types=(target,), base_url=base_url)
            inner = self._clause(sub, rest, value)
            if inner is None:
                raise _bad(name, f"unknown search parameter {rest!r} on {target}")
            inners.append((target, inner))
        return ChainClause(sp, tuple(inners), base_url)

    def _param_clause(self, sp: SearchParam, modifier: str | None, value: str, name: str,
                      base_url: str | None = None) -> ParamClause:
        if modifier == "missing":
            if value not in ("true", "false"):
                raise _bad(name, "the :missing modifier takes true or false")
            return ParamClause(sp, "missing", (), missing=value == "true")
        if modifier is not None:
            allowed = MODIFIERS.get(sp.type, frozenset())
            type_modifier = sp.type == "reference" and modifier in resource_types()
            if modifier not in allowed and not type_modifier:
                raise NotSupported(
                    f"search parameter {name!r}: modifier :{modifier} is not supported on {sp.type} parameters",
                    [Issue(f"modifier :{modifier} is not supported on {sp.type} parameters", code="not-supported",
                           expression=(name,))])
        raw_values = split_escaped(value, ",")
        if len(raw_values) > self.max_or_values:
            raise _bad(name, f"at most {self.max_or_values} comma-separated values are allowed")
        if sp.type == "composite":
            values: tuple[Any, ...] = tuple(_parse_composite(sp, v, name, base_url) for v in raw_values)
        else:
            values = tuple(parse_value(sp, sp.type, v, modifier, name, base_url) for v in raw_values if v != "")
        if not values:
            raise _bad(name, "empty value")
        if sp.type not in ORDERED_TYPES:
            for v in values:
                if isinstance(v, RangeValue) and v.prefix != "eq":
                    raise _bad(name, "prefixes apply only to number, date and quantity parameters")
        return ParamClause(sp, modifier, values)
