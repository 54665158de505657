"""The SQL repository (SQLite and PostgreSQL): resources, versions, index rows, search, history.

Writes go to ``resource`` + ``resource_history`` + the index tables in one database transaction.
Search pages use keyset ("cursor") paging on the sort keys plus ``rid``: no OFFSET, no server-side state,
no ``count(*)`` unless ``_total=accurate`` is asked for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Text,
    and_,
    cast,
    delete,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from fhirserver.errors import Invalid, TooCostly
from fhirserver.fhir.order import canonical
from fhirserver.search.extract import extract
from fhirserver.search.parse import ChainClause, Include, ParamClause, SearchQuery, SortKey
from fhirserver.search.registry import COLUMN_PARAMS, Registry
from fhirserver.search.values import instant_text, now_utc
from fhirserver.storage.base import HistoryPage, Page, StoredResource
from fhirserver.storage.sql.query import compile_clause, local_target, sort_expression
from fhirserver.storage.sql.schema import (
    INDEX_TABLES,
    idx_compartment,
    idx_reference,
    resource,
    resource_history,
)

T = TypeVar("T")
_INDEX_COLUMNS = {name: [c.name for c in table.columns] for name, table in INDEX_TABLES.items()}
_INSERT_RESOURCE = insert(resource).returning(resource.c.rid)
_INSERT_HISTORY = insert(resource_history)


def _encode_cursor(direction: str, keys: list[Any]) -> str:
    raw = json.dumps({"d": direction, "k": [k.isoformat() if isinstance(k, datetime) else k for k in keys]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _key_kind(key: SortKey) -> str:
    """How a sort key's values travel in a cursor: ``date`` (ISO text), ``number`` or ``string``."""
    if key.code == "_lastUpdated" or (key.param is not None and key.param.type == "date"):
        return "date"
    if key.param is not None and key.param.type in ("number", "quantity"):
        return "number"
    return "string"


def _decode_cursor(cursor: str, kinds: list[str]) -> tuple[str, list[Any]]:
    """Direction and key values of a cursor, every value checked against its sort key (a forged or stale
    cursor gives 400, never a database error)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        keys = list(data["k"])
        if len(keys) != len(kinds) + 1 or data["d"] not in ("n", "p"):
            raise ValueError
        for i, kind in enumerate([*kinds, "rid"]):
            value = keys[i]
            if kind == "date":
                keys[i] = datetime.fromisoformat(value)
            elif kind == "number":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError
            elif kind == "rid":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError
            elif not isinstance(value, str):
                raise ValueError
        return str(data["d"]), keys
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Invalid("invalid or expired paging cursor (_cursor); restart the search from its first page") from exc


def _row_to_stored(row: Any) -> StoredResource:
    content = row.content
    if content and next(iter(content)) != "resourceType":
        content = canonical(content)  # PostgreSQL JSONB does not keep key order
    return StoredResource(rid=row.rid, res_type=row.res_type, res_id=row.res_id, version_id=row.version_id,
                          last_updated=row.last_updated, deleted=bool(row.deleted), content=content,
                          method=getattr(row, "method", ""))


def _strip_meta(content: dict[str, Any] | None) -> Any:
    if content is None:
        return None
    meta = {k: v for k, v in (content.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    out = {k: v for k, v in content.items() if k != "meta"}
    if meta:
        out["meta"] = meta
    return out


class SqlSession:
    """One database transaction."""

    def __init__(self, conn: Connection, repo: SqlRepository) -> None:
        self.conn = conn
        self.repo = repo
        self.registry = repo.registry
        self.is_pg = conn.dialect.name == "postgresql"
        # index rows are written in bulk: buffered per table, flushed before any query that reads them and
        # before commit (a 100-entry transaction does a handful of multi-row INSERTs, not hundreds)
        self._pending: dict[str, list[dict[str, Any]]] = {}

    def flush(self) -> None:
        """Write the buffered index rows."""
        pending, self._pending = self._pending, {}
        for name, payload in pending.items():
            if payload:
                self.conn.execute(insert(INDEX_TABLES[name]), payload)

    # --- reads ----------------------------------------------------------------------------------
    def read(self, res_type: str, res_id: str, *, for_update: bool = False) -> StoredResource | None:
        stmt = select(resource).where(resource.c.res_type == res_type, resource.c.res_id == res_id)
        if for_update and self.is_pg:
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).first()
        return _row_to_stored(row) if row else None

    def vread(self, res_type: str, res_id: str, version_id: int) -> StoredResource | None:
        h = resource_history
        row = self.conn.execute(select(h).where(h.c.res_type == res_type, h.c.res_id == res_id,
                                                h.c.version_id == version_id)).first()
        return _row_to_stored(row) if row else None

    def read_many(self, pairs: set[tuple[str, str]]) -> list[StoredResource]:
        if not pairs:
            return []
        out: list[StoredResource] = []
        ordered = sorted(pairs)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i:i + 500]
            rows = self.conn.execute(select(resource).where(
                tuple_(resource.c.res_type, resource.c.res_id).in_(chunk), resource.c.deleted == false()))
            out.extend(_row_to_stored(r) for r in rows)
        return out

    def read_rids(self, rids: list[int]) -> list[StoredResource]:
        """Current, non-deleted resources by surrogate key (rids from the index tables), in rid order."""
        out: list[StoredResource] = []
        ordered = sorted(set(rids))
        for i in range(0, len(ordered), 500):
            rows = self.conn.execute(select(resource).where(resource.c.rid.in_(ordered[i:i + 500]),
                                                            resource.c.deleted == false()).order_by(resource.c.rid))
            out.extend(_row_to_stored(r) for r in rows)
        return out

    # --- writes ---------------------------------------------------------------------------------
    def lock(self, key: str) -> None:
        """Serialise concurrent writers on ``key`` until the end of this transaction."""
        if self.is_pg:
            digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": digest})
        # SQLite: write transactions already hold the database write lock (BEGIN IMMEDIATE)

    def _stamp(self, content: dict[str, Any], res_id: str, version: int, when: datetime) -> dict[str, Any]:
        out = dict(content)
        out["id"] = res_id
        meta = dict(out.get("meta") or {})
        meta["versionId"] = str(version)
        meta["lastUpdated"] = instant_text(when)
        out["meta"] = meta
        return canonical(out)  # resourceType, id, meta, then the elements in definition order

    def _now(self) -> datetime:
        now = now_utc()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def create(self, res_type: str, content: dict[str, Any], res_id: str) -> StoredResource:
        now = self._now()
        stamped = self._stamp(content, res_id, 1, now)
        rid = self.conn.execute(_INSERT_RESOURCE, {
            "res_type": res_type, "res_id": res_id, "version_id": 1, "last_updated": now, "deleted": False,
            "content": stamped}).scalar_one()
        self._history(rid, res_type, res_id, 1, now, "POST", False, stamped)
        self._index(rid, stamped)
        return StoredResource(rid, res_type, res_id, 1, now, False, stamped, "POST")

    def update(self, current: StoredResource, content: dict[str, Any]) -> StoredResource:
        if not current.deleted and _strip_meta(current.content) == _strip_meta(
                {**content, "id": current.res_id}):
            return current  # no-op update: no new version (as HAPI and Blaze do)
        now = max(self._now(), current.last_updated)
        version = current.version_id + 1
        stamped = self._stamp(content, current.res_id, version, now)
        self.conn.execute(update(resource).where(resource.c.rid == current.rid).values(
            version_id=version, last_updated=now, deleted=False, content=stamped))
        self._history(current.rid, current.res_type, current.res_id, version, now, "PUT", False, stamped)
        self._unindex(current.rid)
        self._index(current.rid, stamped)
        return StoredResource(current.rid, current.res_type, current.res_id, version, now, False, stamped, "PUT")

    def delete(self, current: StoredResource) -> StoredResource:
        now = max(self._now(), current.last_updated)
        version = current.version_id + 1
        self.conn.execute(update(resource).where(resource.c.rid == current.rid).values(
            version_id=version, last_updated=now, deleted=True, content=None))
        self._history(current.rid, current.res_type, current.res_id, version, now, "DELETE", True, None)
        self._unindex(current.rid)
        return StoredResource(current.rid, current.res_type, current.res_id, version, now, True, None, "DELETE")

    def _history(self, rid: int, rt: str, res_id: str, version: int, when: datetime, method: str,
                 deleted: bool, content: dict[str, Any] | None) -> None:
        self.conn.execute(_INSERT_HISTORY, {
            "rid": rid, "version_id": version, "res_type": rt, "res_id": res_id, "last_updated": when,
            "method": method, "deleted": deleted, "content": content})

    def _index(self, rid: int, content: dict[str, Any]) -> None:
        rows = extract(self.registry, content)
        rt = content["resourceType"]
        for name, items in rows.items():
            if not items:
                continue
            cols = _INDEX_COLUMNS[name]
            self._pending.setdefault(name, []).extend(
                {c: (rid if c == "rid" else rt if c == "res_type" else item.get(c)) for c in cols} for item in items)

    def _unindex(self, rid: int) -> None:
        for name, rows in self._pending.items():
            self._pending[name] = [r for r in rows if r["rid"] != rid]
        for table in INDEX_TABLES.values():
            self.conn.execute(delete(table).where(table.c.rid == rid))

    def reindex(self, stored: StoredResource) -> None:
        self._unindex(stored.rid)
        if stored.content is not None and not stored.deleted:
            self._index(stored.rid, stored.content)

    def reindex_after(self, after_rid: int, batch: int) -> tuple[int, int] | None:
        """Rebuild the index rows of the next ``batch`` resources after ``after_rid`` (keyset order).

        Returns (last rid handled, number of resources), or None when there is nothing after ``after_rid``.
        """
        rows = self.conn.execute(select(resource).where(resource.c.rid > after_rid).order_by(resource.c.rid)
                                 .limit(batch)).fetchall()
        for row in rows:
            self.reindex(_row_to_stored(row))
        return (int(rows[-1].rid), len(rows)) if rows else None

    # --- search ---------------------------------------------------------------------------------
    def _where(self, r: Any, query: SearchQuery) -> Any:
        type_column: Any = r.c.res_type
        if not self.is_pg and _drives_from_index(query):
            # SQLite without statistics prefers the (res_type, …) index and then scans every resource of the type;
            # the unary "+" (SQLite's documented way to disqualify an index) makes it walk the matching rids
            # through the primary key instead, in rid order, stopping at the page size (18x faster at 10k rows)
            type_column = literal_column(f"+{r.name}.res_type")
        per_type = []
        for rt in query.resource_types:
            conds = [] if rt == "Resource" else [type_column == rt]
            conds.extend(compile_clause(r, rt, c) for c in query.clauses)
            per_type.append(and_(true(), *conds))
        where = [r.c.deleted == false(), or_(*per_type)]
        if query.compartment is not None:
            comp_type, comp_id = query.compartment
            # one compartment, or a set of them (a professional's or an aidant's usagers: SQL IN)
            same = (idx_compartment.c.comp_id == comp_id if isinstance(comp_id, str)
                    else idx_compartment.c.comp_id.in_(comp_id))
            where.append(r.c.rid.in_(select(idx_compartment.c.rid).where(idx_compartment.c.comp_type == comp_type,
                                                                         same)))
        if query.excluded_rids:
            where.append(r.c.rid.not_in(sorted(query.excluded_rids)))
        return and_(*where)

    def matching_rids(self, query: SearchQuery) -> Any:
        """A sub-select of the storage ids that match ``query`` (no paging), e.g. to aggregate their index rows."""
        self.flush()
        r = resource.alias("r")
        return select(r.c.rid).where(self._where(r, query))

    def search_ids(self, query: SearchQuery, limit: int) -> list[StoredResource]:
        self.flush()
        r = resource.alias("r")
        rows = self.conn.execute(select(r).where(self._where(r, query)).order_by(r.c.rid).limit(limit))
        return [_row_to_stored(row) for row in rows]

    def count(self, query: SearchQuery) -> int:
        self.flush()
        r = resource.alias("r")
        return int(self.conn.execute(select(func.count()).select_from(r).where(self._where(r, query))).scalar_one())

    def estimate(self, query: SearchQuery) -> int:
        if not self.is_pg:
            return self.count(query)
        r = resource.alias("r")
        stmt = select(r.c.rid).where(self._where(r, query))
        compiled = stmt.compile(self.conn, compile_kwargs={"literal_binds": True})
        plan = self.conn.execute(text("EXPLAIN (FORMAT JSON) " + str(compiled))).scalar_one()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Plan"]["Plan Rows"])

    def search(self, query: SearchQuery) -> Page:
        self.flush()
        r = resource.alias("r")
        rt = query.resource_types[0]
        keys = [(k, sort_expression(r, rt, k.code, k.param, k.descending)) for k in query.sort]
        exprs = [e for _, e in keys] + [r.c.rid]
        descs = [k.descending for k, _ in keys] + [False]
        stmt = select(r, *[e.label(f"k{i}") for i, e in enumerate(exprs[:-1])]).where(self._where(r, query))
        direction = "n"
        if query.cursor:
            direction, values = _decode_cursor(query.cursor, [_key_kind(k) for k, _ in keys])
            stmt = stmt.where(self._after(exprs, descs, values, backwards=direction == "p"))
        reverse = direction == "p"
        order = [(e.asc() if d == reverse else e.desc()) for e, d in zip(exprs, descs, strict=True)]
        rows = list(self.conn.execute(stmt.order_by(*order).limit(query.count + 1)).fetchall())
        more = len(rows) > query.count
        rows = rows[:query.count]
        if reverse:
            rows.reverse()
        matches = [_row_to_stored(row) for row in rows]
        page = Page(matches=matches)
        if rows:
            def key_values(row: Any) -> list[Any]:
                return [getattr(row, f"k{i}") for i in range(len(keys))] + [row.rid]
            has_next = more if not reverse else True
            has_prev = (query.cursor is not None) if not reverse else more
            if has_next:
                page.next_cursor = _encode_cursor("n", key_values(rows[-1]))
            if has_prev:
                page.prev_cursor = _encode_cursor("p", key_values(rows[0]))
        if query.total == "accurate":
            page.total = self.count(query)
        elif query.total == "estimate":
            page.total = self.estimate(query)
        if query.includes or query.revincludes:
            page.includes, page.warnings = self.resolve_includes(query, matches)
        return page

    @staticmethod
    def _after(exprs: list[Any], descs: list[bool], values: list[Any], backwards: bool) -> Any:
        """Keyset condition: rows strictly after (or before) ``values`` in the sort order."""
        options = []
        for i, (expr, desc) in enumerate(zip(exprs, descs, strict=True)):
            forward_greater = not desc
            if backwards:
                forward_greater = not forward_greater
            cmp = expr > values[i] if forward_greater else expr < values[i]
            options.append(and_(*[exprs[j] == values[j] for j in range(i)], cmp))
        return or_(*options)

    # --- includes -------------------------------------------------------------------------------
    def resolve_includes(self, query: SearchQuery, matches: list[StoredResource]) -> tuple[list[StoredResource], list[str]]:
        seen = {(m.res_type, m.res_id) for m in matches}
        included: list[StoredResource] = []
        warnings: list[str] = []
        frontier = matches
        limit = self.repo.max_includes
        for depth in range(self.repo.max_include_depth + 1):
            iterate_only = depth > 0
            found: list[StoredResource] = []
            for inc in query.includes:
                if not iterate_only or inc.iterate:
                    found.extend(self._forward(inc, frontier, query.base_url))
            for inc in query.revincludes:
                if not iterate_only or inc.iterate:
                    found.extend(self._reverse(inc, frontier, query.base_url))
            fresh = []
            for res in found:
                key = (res.res_type, res.res_id)
                if key not in seen:
                    seen.add(key)
                    fresh.append(res)
            if len(included) + len(fresh) > limit:
                fresh = fresh[: limit - len(included)]
                warnings.append(f"_include/_revinclude stopped after {limit} resources; some are not included")
                included.extend(fresh)
                break
            included.extend(fresh)
            frontier = fresh
            if not frontier or not any(i.iterate for i in query.includes + query.revincludes):
                break
        else:
            if frontier:
                warnings.append(f"_include:iterate stopped at depth {self.repo.max_include_depth}")
        return included, warnings

    def _forward(self, inc: Include, frontier: list[StoredResource], base_url: str | None) -> list[StoredResource]:
        self.flush()
        rids = [m.rid for m in frontier if m.res_type == inc.source_type]
        if not rids:
            return []
        ref = idx_reference
        stmt = select(ref.c.target_type, ref.c.target_id).where(
            ref.c.rid.in_(rids), ref.c.target_id.is_not(None), ref.c.target_type.is_not(None),
            local_target(ref.c.url, base_url))
        stmt = stmt.where(ref.c.param == inc.param.code) if inc.param else stmt.where(
            ref.c.res_type == inc.source_type)
        if inc.target_type:
            stmt = stmt.where(ref.c.target_type == inc.target_type)
        pairs = {(t, i) for t, i in self.conn.execute(stmt.distinct())}
        return self.read_many(pairs)

    def _reverse(self, inc: Include, frontier: list[StoredResource], base_url: str | None) -> list[StoredResource]:
        self.flush()
        pairs = [(m.res_type, m.res_id) for m in frontier]
        if inc.target_type:
            pairs = [p for p in pairs if p[0] == inc.target_type]
        if not pairs:
            return []
        ref = idx_reference
        s = resource.alias("s")
        sources = select(ref.c.rid).where(ref.c.res_type == inc.source_type,
                                          tuple_(ref.c.target_type, ref.c.target_id).in_(pairs),
                                          local_target(ref.c.url, base_url))
        if inc.param:
            sources = sources.where(ref.c.param == inc.param.code)
        rows = self.conn.execute(select(s).where(s.c.rid.in_(sources), s.c.deleted == false()).order_by(s.c.rid))
        return [_row_to_stored(r) for r in rows]

    # --- whole-population reads (identitovigilance: merge, duplicate listing) ------------------------
    def referring_resources(self, target_type: str, target_id: str) -> list[StoredResource]:
        """Current resources that may refer to ``target_type/target_id``, in rid order.

        The reference index and the compartment index give the ones a search parameter indexes; a scan of the
        stored JSON for the text ``target_type/target_id`` is the completeness check for references nothing
        indexes (an extension, an element deep in a backbone). The scan reads the whole ``resource`` table —
        O(resources), meant for rare operations such as a merge. Candidates only: the caller checks the JSON
        (``Patient/12`` also matches ``Patient/123``)."""
        self.flush()
        ref, comp, r = idx_reference, idx_compartment, resource
        by_ref = select(ref.c.rid).where(ref.c.target_type == target_type, ref.c.target_id == target_id)
        by_comp = select(comp.c.rid).where(comp.c.comp_type == target_type, comp.c.comp_id == target_id)
        in_text = cast(r.c.content, Text).contains(f"{target_type}/{target_id}", autoescape=True)
        rows = self.conn.execute(select(r).where(r.c.deleted == false(), or_(
            r.c.rid.in_(by_ref), r.c.rid.in_(by_comp), in_text)).order_by(r.c.rid))
        return [_row_to_stored(row) for row in rows]

    def indexed_values(self, res_type: str, param: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
        """``(rid, res_id, *columns)`` of every index row of search parameter ``param`` of ``res_type``, in rid
        order: one pass over that parameter's index range (e.g. every Patient birth date), for work on a whole
        population such as the duplicate listing. ``columns`` are columns of the parameter type's index table."""
        self.flush()
        sp = self.registry.get(res_type, param)
        if sp is None or sp.type not in INDEX_TABLES:
            raise ValueError(f"{res_type} has no indexed search parameter {param!r}")
        table = INDEX_TABLES[sp.type]
        stmt = (select(resource.c.rid, resource.c.res_id, *[table.c[c] for c in columns])
                .join(table, table.c.rid == resource.c.rid)
                .where(table.c.res_type == res_type, table.c.param == param, resource.c.deleted == false())
                .order_by(resource.c.rid))
        return [tuple(row) for row in self.conn.execute(stmt)]

    # --- history --------------------------------------------------------------------------------
    def history(self, res_type: str | None, res_id: str | None, *, since: datetime | None,
                at: tuple[datetime, datetime] | None, count: int, cursor: str | None) -> HistoryPage:
        h = resource_history
        conds = []
        if res_type:
            conds.append(h.c.res_type == res_type)
        if res_id:
            conds.append(h.c.res_id == res_id)
        if since is not None:
            conds.append(h.c.last_updated >= since)
        if at is not None:
            later = resource_history.alias("later")
            conds.append(h.c.last_updated < at[1])
            conds.append(~select(later.c.hid).where(later.c.rid == h.c.rid, later.c.version_id > h.c.version_id,
                                                    later.c.last_updated <= at[0]).exists())
        total = int(self.conn.execute(select(func.count()).select_from(h).where(*conds)).scalar_one())
        if cursor:
            try:
                conds.append(h.c.hid < int(cursor))
            except ValueError as exc:
                raise Invalid("invalid history paging cursor") from exc
        rows = self.conn.execute(select(h).where(*conds).order_by(h.c.hid.desc()).limit(count + 1)).fetchall()
        page = HistoryPage(entries=[_row_to_stored(r) for r in rows[:count]], total=total)
        if len(rows) > count:
            page.next_cursor = str(rows[count - 1].hid)
        return page


class SqlRepository:
    """Sessions (transactions) over one engine, with transparent retries of serialisation failures."""

    def __init__(self, engine: Engine, registry: Registry, *, max_include_depth: int = 3,
                 max_includes: int = 1000) -> None:
        self.engine = engine
        self.registry = registry
        self.max_include_depth = max_include_depth
        self.max_includes = max_includes

    @contextmanager
    def session(self, *, write: bool) -> Iterator[SqlSession]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(dui_write=write)
            with conn.begin():
                session = SqlSession(conn, self)
                yield session
                session.flush()

    def run(self, fn: Callable[[SqlSession], T], *, write: bool, attempts: int = 5) -> T:
        """Run ``fn`` in one transaction; retry on deadlock, serialisation failure or a lost insert race."""
        for attempt in range(attempts):
            try:
                with self.session(write=write) as session:
                    return fn(session)
            except (IntegrityError, OperationalError, DBAPIError) as exc:
                if attempt == attempts - 1 or not _retryable(exc):
                    if _is_timeout(exc):
                        raise TooCostly("the search took too long and was cancelled; add more selective "
                                        "parameters or use _total=none") from exc
                    raise
                time.sleep(0.01 * (2 ** attempt))
        raise AssertionError("unreachable")


def _drives_from_index(query: SearchQuery) -> bool:
    """True when some clause restricts ``rid`` positively through an index table (a good driving set)."""
    if query.compartment is not None:
        return True
    for clause in query.clauses:
        if isinstance(clause, ChainClause):
            return True
        if (isinstance(clause, ParamClause) and clause.param.code not in COLUMN_PARAMS
                and clause.modifier != "not" and clause.missing is not True):
            return True
    return False


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return "ux_resource_type_id" in str(exc) or "UNIQUE constraint failed: resource.res_type" in str(exc)
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if code in ("40001", "40P01"):
        return True
    return "database is locked" in str(exc)


def _is_timeout(exc: Exception) -> bool:
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "57014"
