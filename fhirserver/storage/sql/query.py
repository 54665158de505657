"""Compilation of parsed search clauses into SQL over the index tables, dispatched on parameter *type*.

Every clause becomes ``resource.rid IN (SELECT rid FROM idx_<type> WHERE res_type = … AND param = … AND …)``
(or ``res_id IN`` for reverse chains), so every search is answered from B-tree indexes; the resource JSON is
never scanned. Semantics: https://hl7.org/fhir/R4/search.html (prefixes, modifiers, chaining, _has).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, and_, false, literal, not_, or_, select, true
from sqlalchemy.sql import Alias

from fhirserver.errors import NotSupported
from fhirserver.search.parse import (
    ChainClause,
    Clause,
    CompositeValue,
    HasClause,
    ParamClause,
    RangeValue,
    ReferenceValue,
    TextValue,
    TokenValue,
)
from fhirserver.search.registry import SearchParam
from fhirserver.search.values import MAX_DT, MIN_DT
from fhirserver.storage.sql.schema import INDEX_TABLES, idx_composite, idx_reference, resource

PREFIX_END = "\U0010ffff"


def prefix_match(column: Any, text: str) -> ColumnElement[bool]:
    """``column`` starts with ``text``, as a B-tree range (byte order: SQLite BINARY, PostgreSQL COLLATE "C")."""
    return and_(column >= text, column < text + PREFIX_END)


def contains_match(column: Any, text: str) -> ColumnElement[bool]:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"%{escaped}%", escape="\\")


# --- value conditions per type -----------------------------------------------------------------

def token_condition(cols: Any, value: Any) -> ColumnElement[bool]:
    if isinstance(value, TextValue):  # :text
        return contains_match(cols.text, value.text)
    assert isinstance(value, TokenValue)
    parts: list[ColumnElement[bool]] = []
    if value.code is not None:
        parts.append(cols.code == value.code)
    if value.no_system:
        parts.append(cols.system.is_(None))
    elif value.system is not None:
        parts.append(cols.system == value.system)
    return and_(true(), *parts)


def string_condition(cols: Any, value: TextValue, modifier: str | None) -> ColumnElement[bool]:
    if modifier == "exact":
        return cols.exact == value.text
    if modifier == "contains":
        return contains_match(cols.value, value.text)
    return prefix_match(cols.value, value.text)


def uri_condition(cols: Any, value: TextValue, modifier: str | None) -> ColumnElement[bool]:
    if modifier == "below":
        return prefix_match(cols.value, value.text)
    if modifier == "above":
        return literal(value.text).like(cols.value + "%")
    return cols.value == value.text


def date_condition(low: Any, high: Any, v: RangeValue) -> ColumnElement[bool]:
    """Target range [low, high) against search range [v.low, v.high) — https://hl7.org/fhir/R4/search.html#prefix."""
    # ``low < v.high`` follows from the other two (low < high), but bounds the B-tree range on (low, high)
    eq = and_(low >= v.low, low < v.high, high <= v.high)
    table: dict[str, Callable[[], ColumnElement[bool]]] = {
        "eq": lambda: eq,
        "ne": lambda: not_(eq),
        "gt": lambda: high > v.high,
        "lt": lambda: low < v.low,
        "ge": lambda: or_(high > v.high, eq),
        "le": lambda: or_(low < v.low, eq),
        "sa": lambda: low >= v.high,
        "eb": lambda: high <= v.low,
        "ap": lambda: and_(low < v.high, high > v.low),
    }
    return table[v.prefix]()


def instant_condition(t: Any, v: RangeValue) -> ColumnElement[bool]:
    """A point in time ``t`` (``_lastUpdated``) against the half-open search range [v.low, v.high)."""
    table: dict[str, Callable[[], ColumnElement[bool]]] = {
        "eq": lambda: and_(t >= v.low, t < v.high),
        "ne": lambda: or_(t < v.low, t >= v.high),
        "gt": lambda: t >= v.high,
        "lt": lambda: t < v.low,
        "ge": lambda: t >= v.low,
        "le": lambda: t < v.high,
        "sa": lambda: t >= v.high,
        "eb": lambda: t < v.low,
        "ap": lambda: and_(t >= v.low, t < v.high),
    }
    return table[v.prefix]()


def number_condition(low: Any, high: Any, v: RangeValue) -> ColumnElement[bool]:
    """Stored values are points (low = high) or Ranges; ``eq`` uses the search value's implicit precision."""
    eq = and_(low >= v.low, high < v.high)
    table: dict[str, Callable[[], ColumnElement[bool]]] = {
        "eq": lambda: eq,
        "ne": lambda: not_(eq),
        "gt": lambda: high > v.value,
        "lt": lambda: low < v.value,
        "ge": lambda: high >= v.value,
        "le": lambda: low <= v.value,
        "sa": lambda: low > v.value,
        "eb": lambda: high < v.value,
        "ap": lambda: and_(low >= v.low, high <= v.high),
    }
    return table[v.prefix]()


def quantity_condition(cols: Any, v: RangeValue) -> ColumnElement[bool]:
    parts = [number_condition(cols.low, cols.high, v)]
    if v.code is not None:
        parts.append(cols.code == v.code)
    if v.system is not None:
        parts.append(cols.system == v.system)
    return and_(*parts)


def local_target(url: Any, base_url: str | None) -> ColumnElement[bool]:
    """A stored reference (its ``url`` column) points at this server: relative, or absolute under ``base_url``.

    Index rows of ``https://elsewhere/fhir/Patient/1`` carry target Patient/1 too; they must not be taken for
    the local Patient/1. Without a known base every reference counts as local.
    """
    if not base_url:
        return true()
    return or_(url.is_(None), not_(url.like("%://%")), prefix_match(url, base_url.rstrip("/") + "/"))


def reference_condition(cols: Any, sp: SearchParam, value: Any, modifier: str | None) -> ColumnElement[bool]:
    if modifier == "identifier":
        assert isinstance(value, TokenValue)
        ident = SimpleNamespace(system=cols.ident_system, code=cols.ident_value)
        return token_condition(ident, value)
    assert isinstance(value, ReferenceValue)
    if value.type is None and value.id is None:  # absolute URL or canonical
        url = value.url or ""
        return or_(cols.url == url, prefix_match(cols.url, url + "|"))
    parts: list[ColumnElement[bool]] = [cols.target_id == value.id]
    if value.base_url:
        parts.append(local_target(cols.url, value.base_url))
    if value.type is not None:
        parts.append(cols.target_type == value.type)
    if value.version is not None:
        parts.append(cols.target_version == value.version)
    return and_(*parts)


# --- clauses -------------------------------------------------------------------------------------

def _type_is(column: Any, rt: str) -> ColumnElement[bool]:
    """``rt`` "Resource" stands for any type (system-level search on the common parameters)."""
    return true() if rt == "Resource" else column == rt


def _rids(table: FromClause, rt: str, code: str, condition: ColumnElement[bool]) -> Select[Any]:
    return select(table.c.rid).where(_type_is(table.c.res_type, rt), table.c.param == code, condition)


def _values_condition(sp: SearchParam, cols: Any, clause: ParamClause) -> ColumnElement[bool]:
    kind = sp.type
    conds = []
    for v in clause.values:
        if kind == "token":
            conds.append(token_condition(cols, v))
        elif kind == "string":
            conds.append(string_condition(cols, v, clause.modifier))
        elif kind == "uri":
            conds.append(uri_condition(cols, v, clause.modifier))
        elif kind == "date":
            conds.append(date_condition(cols.low, cols.high, v))
        elif kind == "number":
            conds.append(number_condition(cols.low, cols.high, v))
        elif kind == "quantity":
            conds.append(quantity_condition(cols, v))
        elif kind == "reference":
            conds.append(reference_condition(cols, sp, v, clause.modifier))
        else:
            raise NotSupported(f"search parameter type {kind!r} is not supported")
    return or_(*conds)


def _column_clause(r: Alias | Any, clause: ParamClause) -> ColumnElement[bool]:
    """``_id`` and ``_lastUpdated`` are columns of the resource table."""
    code = clause.param.code
    if clause.missing is not None:
        return false() if clause.missing else true()
    if code == "_id":
        matching = r.c.res_id.in_([v.code for v in clause.values if isinstance(v, TokenValue)])
        return not_(matching) if clause.modifier == "not" else matching
    conds = [instant_condition(r.c.last_updated, v) for v in clause.values]
    return or_(*conds)


def _composite_condition(sp: SearchParam, rt: str, value: CompositeValue) -> Select[Any]:
    aliases = [idx_composite.alias(f"c{i}") for i in range(len(sp.components))]
    first = aliases[0]
    stmt = select(first.c.rid).where(first.c.res_type == rt, first.c.param == sp.code)
    for i, (alias, component, part) in enumerate(zip(aliases, sp.components, value.parts, strict=True)):
        if i:
            stmt = stmt.join(alias, and_(alias.c.rid == first.c.rid, alias.c.param == first.c.param,
                                         alias.c.grp == first.c.grp))
        stmt = stmt.where(alias.c.comp == i, _component_condition(alias, component.type, part))
    return stmt


def _component_condition(c: Any, kind: str, value: Any) -> ColumnElement[bool]:
    if kind == "token":
        return token_condition(c.c, value)
    if kind == "quantity":
        return quantity_condition(c.c, value)
    if kind == "number":
        return number_condition(c.c.low, c.c.high, value)
    if kind == "date":
        return date_condition(c.c.dlow, c.c.dhigh, value)
    if kind == "string":
        return prefix_match(c.c.text, value.text)
    if kind == "reference":
        cols = SimpleNamespace(target_id=c.c.code, target_type=c.c.system, target_version=c.c.text,
                               url=c.c.code)
        return reference_condition(cols, SearchParam("", "reference", "", "", ""), value, None)
    if kind == "uri":
        return c.c.code == value.text
    raise NotSupported(f"composite component type {kind!r} is not supported")


def compile_clause(r: Any, rt: str, clause: Clause) -> ColumnElement[bool]:
    """A boolean SQL condition on resource alias ``r`` (of type ``rt``) for one clause."""
    if isinstance(clause, ChainClause):
        ref = idx_reference
        options = []
        for target, inner in clause.inners:
            t = resource.alias()
            targets = select(t.c.res_id).where(t.c.res_type == target, t.c.deleted == false(),
                                               compile_clause(t, target, inner))
            options.append(and_(ref.c.target_type == target, ref.c.target_id.in_(targets)))
        options = [and_(or_(*options), local_target(ref.c.url, clause.base_url))]
        return r.c.rid.in_(_rids(ref, rt, clause.param.code, or_(*options)))
    if isinstance(clause, HasClause):
        s = resource.alias()
        sources = select(s.c.rid).where(s.c.res_type == clause.source_type, s.c.deleted == false(),
                                        compile_clause(s, clause.source_type, clause.inner))
        targets = select(idx_reference.c.target_id).where(
            idx_reference.c.res_type == clause.source_type,
            idx_reference.c.param == clause.param.code,
            idx_reference.c.target_type == rt,
            idx_reference.c.rid.in_(sources),
            local_target(idx_reference.c.url, clause.base_url),
        )
        return r.c.res_id.in_(targets)
    sp = clause.param
    if sp.code in ("_id", "_lastUpdated"):
        return _column_clause(r, clause)
    if sp.type == "composite":
        table = idx_composite
        if clause.missing is not None:
            present = r.c.rid.in_(select(table.c.rid).where(_type_is(table.c.res_type, rt), table.c.param == sp.code))
            return not_(present) if clause.missing else present
        return or_(*[r.c.rid.in_(_composite_condition(sp, rt, v)) for v in clause.values])
    table = INDEX_TABLES[sp.type]
    if clause.missing is not None:
        present = r.c.rid.in_(select(table.c.rid).where(_type_is(table.c.res_type, rt), table.c.param == sp.code))
        return not_(present) if clause.missing else present
    if clause.modifier == "not":
        matching = _rids(table, rt, sp.code, _values_condition(sp, table.c, clause))
        return not_(r.c.rid.in_(matching))
    return r.c.rid.in_(_rids(table, rt, sp.code, _values_condition(sp, table.c, clause)))


# --- sorting -------------------------------------------------------------------------------------

SORT_COLUMNS = {"string": "value", "token": "code", "uri": "value", "reference": "url"}


def sort_expression(r: Any, rt: str, code: str, sp: SearchParam | None, descending: bool) -> Any:
    """A scalar SQL expression to order ``r`` by; missing values sort last in both directions."""
    from sqlalchemy import func

    if code == "_id":
        return r.c.res_id
    if code == "_lastUpdated":
        return r.c.last_updated
    assert sp is not None
    table = INDEX_TABLES[sp.type]
    agg = func.max if descending else func.min
    missing: Any
    if sp.type in ("date",):
        col, missing = (table.c.high, MIN_DT) if descending else (table.c.low, MAX_DT)
    elif sp.type in ("number", "quantity"):
        col, missing = (table.c.high, -1e308) if descending else (table.c.low, 1e308)
    else:
        col = table.c[SORT_COLUMNS[sp.type]]
        missing = "" if descending else PREFIX_END
    sub = select(agg(col)).where(table.c.rid == r.c.rid, table.c.param == sp.code).scalar_subquery()
    return func.coalesce(sub, missing)
