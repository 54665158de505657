"""Retention of the audit trail: hard-delete AuditEvents recorded before the cut-off (``dui audit purge``).

CNIL délibération n° 2021-122 (référentiel « traçabilité » in ../shared/specs/smart-auth-portals.md §9.2): access
logs are kept 6 months to 1 year, up to 3 years when justified — ``[audit] retention_days`` (default 365).
The purge removes the resource row, every version in ``resource_history`` and every index row, in batches of
``BATCH`` events per transaction so that no long write transaction blocks the server.
The date is ``AuditEvent.recorded`` (the ``date`` search index); an AuditEvent without one (never written by this
server) is judged by its ``meta.lastUpdated``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, Select, and_, delete, false, func, or_, select

from fhirserver.search.values import now_utc
from fhirserver.storage.sql.schema import INDEX_TABLES, idx_date, resource, resource_history

AUDIT = "AuditEvent"
BATCH = 500


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    events: int
    dry_run: bool


def cutoff_for(retention_days: int, now: datetime | None = None) -> datetime:
    """The instant before which AuditEvents are deleted (naive UTC)."""
    if retention_days < 1:
        raise ValueError("the retention must be at least one day")
    return (now or now_utc()) - timedelta(days=retention_days)


def _expired(cutoff: datetime) -> Select[tuple[int]]:
    """The rids of the expired AuditEvents, as a selectable."""
    r, d = resource, idx_date
    dated = select(d.c.rid).where(d.c.res_type == AUDIT, d.c.param == "date", d.c.rid == r.c.rid)
    recorded_before = select(d.c.rid).where(d.c.res_type == AUDIT, d.c.param == "date", d.c.high < cutoff,
                                            d.c.rid == r.c.rid)
    return select(r.c.rid).where(r.c.res_type == AUDIT, or_(
        recorded_before.exists(),
        and_(~dated.exists(), r.c.last_updated < cutoff),
        and_(r.c.deleted != false(), r.c.last_updated < cutoff)))


def count_expired(conn: Connection, cutoff: datetime) -> int:
    sub = _expired(cutoff).subquery()
    return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())


def _delete_batch(conn: Connection, cutoff: datetime) -> int:
    rids = [row[0] for row in conn.execute(_expired(cutoff).limit(BATCH))]
    if not rids:
        return 0
    for table in INDEX_TABLES.values():
        conn.execute(delete(table).where(table.c.rid.in_(rids)))
    conn.execute(delete(resource_history).where(resource_history.c.rid.in_(rids)))
    conn.execute(delete(resource).where(resource.c.rid.in_(rids)))
    return len(rids)


def purge(engine: Engine, retention_days: int, *, dry_run: bool = False, now: datetime | None = None) -> PurgeResult:
    """Delete (or, with ``dry_run``, only count) the AuditEvents recorded before now - ``retention_days``."""
    cutoff = cutoff_for(retention_days, now)
    if dry_run:
        with engine.connect() as conn:
            return PurgeResult(cutoff, count_expired(conn, cutoff), True)
    total = 0
    while True:
        with engine.begin() as conn:
            done = _delete_batch(conn, cutoff)
        total += done
        if done < BATCH:
            return PurgeResult(cutoff, total, False)
