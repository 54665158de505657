"""The outbox table: enqueue inside the caller's transaction, claim due items with a lease, record outcomes.

Transactional outbox (https://microservices.io/patterns/data/transactional-outbox.html):

* :func:`enqueue` inserts through the caller's connection, so the request to send commits or rolls back with the
  DocumentReference written in the same transaction. ``(kind, unique_id, target)`` is unique: enqueueing the same
  document twice returns the existing item.
* :meth:`OutboxStore.claim` takes due items (``pending`` and due, or ``sending`` whose lease expired because the
  worker holding it died) and leases them to one worker: ``status = sending``, ``lease_owner``, ``lease_until``,
  ``attempts + 1``, committed before the delivery starts. PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``
  (https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE), so concurrent workers take
  different rows; SQLite: the claim runs in a ``BEGIN IMMEDIATE`` transaction (one writer at a time).
* :meth:`OutboxStore.delivered` / :meth:`OutboxStore.failed` record the outcome only while the caller still holds
  the lease (``lease_owner`` matches): a worker whose lease expired cannot overwrite what the next one did.
  A transient failure reschedules with exponential backoff (``backoff_seconds * 2**(attempts-1)``, capped, with
  "equal jitter": half fixed, half random) until ``max_attempts``, then ``failed``.

Delivery is therefore at least once; the deliverers make it exactly once at the receiver by ``unique_id``
(a redelivery after a crash finds the document already there and reports success).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, false, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fhirserver.integrations.outbox.types import (
    CANCELLED,
    DELIVERED,
    FAILED,
    KINDS,
    PENDING,
    SENDING,
    DeliveryResult,
    OutboxItem,
)
from fhirserver.search.values import now_utc
from fhirserver.storage.sql.schema import outbox

#: the longest wait between two attempts, whatever the attempt number
BACKOFF_CAP_SECONDS = 3600
_ERROR_MAX = 1000


@dataclass(frozen=True)
class OutboxRecord:
    """The state of one outbox row, for status reports (no payload)."""

    id: int
    kind: str
    unique_id: str
    target: str
    document_id: str
    document_version: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    remote_id: str | None
    status_recorded: bool
    created: datetime
    updated: datetime
    delivered_at: datetime | None
    metadata: dict[str, Any]


_RECORD_COLUMNS = [c for c in outbox.columns if c.name != "payload"]


def _record(row: Any) -> OutboxRecord:
    return OutboxRecord(
        id=row.id, kind=row.kind, unique_id=row.unique_id, target=row.target, document_id=row.document_id,
        document_version=row.document_version, status=row.status, attempts=row.attempts,
        next_attempt_at=row.next_attempt_at, last_error=row.last_error, remote_id=row.remote_id,
        status_recorded=bool(row.status_recorded), created=row.created, updated=row.updated,
        delivered_at=row.delivered_at, metadata=dict(row.meta or {}))


def enqueue(conn: Connection, *, kind: str, unique_id: str, document_id: str, document_version: int,
            payload: bytes, metadata: dict[str, Any], target: str = "",
            now: datetime | None = None) -> tuple[OutboxRecord, bool]:
    """Queue one delivery in the caller's transaction; returns (the item, whether it is new).

    An item with the same (kind, unique_id, target) is never queued twice: the existing one is returned.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}: expected one of {', '.join(KINDS)}")
    if not unique_id:
        raise ValueError("an outbox item needs a unique_id (the CDA document id)")
    when = now or now_utc()
    values = {
        "kind": kind, "unique_id": unique_id, "target": target, "document_id": document_id,
        "document_version": document_version, "payload": payload, "meta": metadata, "status": PENDING,
        "attempts": 0, "next_attempt_at": when, "status_recorded": False, "created": when, "updated": when,
    }
    maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = maker(outbox).values(**values).on_conflict_do_nothing(
        index_elements=["kind", "unique_id", "target"]).returning(outbox.c.id)
    new_id = conn.execute(stmt).scalar_one_or_none()
    record = find_unique(conn, kind, unique_id, target)
    if record is None:  # pragma: no cover - the row exists: inserted now or conflicting
        raise RuntimeError("outbox row vanished after insert")
    return record, new_id is not None


def find_unique(conn: Connection, kind: str, unique_id: str, target: str = "") -> OutboxRecord | None:
    row = conn.execute(select(*_RECORD_COLUMNS).where(
        outbox.c.kind == kind, outbox.c.unique_id == unique_id, outbox.c.target == target)).first()
    return _record(row) if row else None


def for_document(conn: Connection, document_id: str, kind: str | None = None) -> list[OutboxRecord]:
    """Every item queued for one DocumentReference (oldest first)."""
    stmt = select(*_RECORD_COLUMNS).where(outbox.c.document_id == document_id)
    if kind is not None:
        stmt = stmt.where(outbox.c.kind == kind)
    return [_record(r) for r in conn.execute(stmt.order_by(outbox.c.id))]


def listing(conn: Connection, *, statuses: Sequence[str] = (), kinds: Sequence[str] = (),
            limit: int = 100) -> list[OutboxRecord]:
    """The latest items (newest first), optionally only some statuses / kinds (``dui outbox``)."""
    stmt = select(*_RECORD_COLUMNS)
    if statuses:
        stmt = stmt.where(outbox.c.status.in_(list(statuses)))
    if kinds:
        stmt = stmt.where(outbox.c.kind.in_(list(kinds)))
    return [_record(r) for r in conn.execute(stmt.order_by(outbox.c.id.desc()).limit(limit))]


def get(conn: Connection, item_id: int) -> OutboxRecord | None:
    row = conn.execute(select(*_RECORD_COLUMNS).where(outbox.c.id == item_id)).first()
    return _record(row) if row else None


def cancel(conn: Connection, item_id: int, *, now: datetime | None = None) -> bool:
    """Cancel an item that is not being sent nor finished (``pending`` only); True when it was cancelled."""
    res = conn.execute(update(outbox).where(outbox.c.id == item_id, outbox.c.status == PENDING).values(
        status=CANCELLED, updated=now or now_utc()))
    return bool(res.rowcount)


def requeue(conn: Connection, item_id: int, *, payload: bytes, metadata: dict[str, Any], document_version: int,
            now: datetime | None = None) -> OutboxRecord | None:
    """Queue a ``failed`` or ``cancelled`` item again (a new request to send the same document): attempts
    restart at 0. None when the item is in another state (pending, sending, delivered: nothing to do)."""
    when = now or now_utc()
    res = conn.execute(update(outbox).where(outbox.c.id == item_id, outbox.c.status.in_([FAILED, CANCELLED]))
                       .values(status=PENDING, attempts=0, next_attempt_at=when, payload=payload, meta=metadata,
                               document_version=document_version, last_error=None, lease_owner=None,
                               lease_until=None, status_recorded=False, updated=when))
    return get(conn, item_id) if res.rowcount else None


class OutboxQueue:
    """The outbox as operations see it (``ctx.services.outbox``): the same functions, in the caller's
    transaction. Operations reach it through the context, so ``fhirserver.interactions`` does not import
    the integrations."""

    enqueue = staticmethod(enqueue)
    for_document = staticmethod(for_document)
    find_unique = staticmethod(find_unique)
    requeue = staticmethod(requeue)
    cancel = staticmethod(cancel)


def backoff_delay(attempts: int, base_seconds: float, cap_seconds: float = BACKOFF_CAP_SECONDS,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: exponential, capped, equal jitter
    (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/)."""
    exponent = min(max(attempts - 1, 0), 32)
    delay = min(cap_seconds, base_seconds * (2 ** exponent))
    draw = (rng or random).random()
    return delay / 2 + draw * delay / 2


def _clip(error: str) -> str:
    return error if len(error) <= _ERROR_MAX else error[:_ERROR_MAX - 1] + "…"


class OutboxStore:
    """Claims and outcomes, each in a short transaction of its own on ``engine``."""

    def __init__(self, engine: Engine, *, max_attempts: int, backoff_seconds: float, lease_seconds: float,
                 backoff_cap_seconds: float = BACKOFF_CAP_SECONDS, rng: random.Random | None = None) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.engine = engine
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.lease_seconds = lease_seconds
        self.rng = rng or random.Random()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(dui_write=True)  # SQLite: BEGIN IMMEDIATE
            with conn.begin():
                yield conn

    def claim(self, owner: str, kinds: Sequence[str] = KINDS, limit: int = 1,
              now: datetime | None = None) -> list[OutboxItem]:
        """Lease up to ``limit`` due items of ``kinds`` to ``owner``; committed when this returns.

        An item whose lease expired after ``max_attempts`` attempts is marked failed instead of claimed.
        """
        when = now or now_utc()
        due = or_(and_(outbox.c.status == PENDING, outbox.c.next_attempt_at <= when),
                  and_(outbox.c.status == SENDING, outbox.c.lease_until <= when))
        with self._tx() as conn:
            stmt = (select(outbox.c.id, outbox.c.status, outbox.c.attempts)
                    .where(due, outbox.c.kind.in_(list(kinds)))
                    .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit))
            if conn.dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            rows = conn.execute(stmt).all()
            claimed: list[int] = []
            for row in rows:
                if row.status == SENDING and row.attempts >= self.max_attempts:
                    conn.execute(update(outbox).where(outbox.c.id == row.id).values(
                        status=FAILED, lease_owner=None, lease_until=None, updated=when,
                        last_error=f"abandoned: the worker stopped during attempt {row.attempts} of "
                                   f"{self.max_attempts}"))
                    continue
                claimed.append(row.id)
            if not claimed:
                return []
            conn.execute(update(outbox).where(outbox.c.id.in_(claimed)).values(
                status=SENDING, lease_owner=owner, lease_until=when + timedelta(seconds=self.lease_seconds),
                attempts=outbox.c.attempts + 1, updated=when))
            items = conn.execute(select(outbox).where(outbox.c.id.in_(claimed)).order_by(
                outbox.c.next_attempt_at, outbox.c.id)).all()
        return [OutboxItem(id=r.id, kind=r.kind, unique_id=r.unique_id, document_id=r.document_id,
                           payload=bytes(r.payload), metadata=dict(r.meta or {}), attempts=r.attempts - 1,
                           target=r.target) for r in items]

    def _held(self, item_id: int, owner: str) -> Any:
        return and_(outbox.c.id == item_id, outbox.c.status == SENDING, outbox.c.lease_owner == owner)

    def delivered(self, item_id: int, owner: str, result: DeliveryResult, now: datetime | None = None,
                  conn: Connection | None = None) -> bool:
        """Record a successful delivery; False when ``owner`` no longer holds the lease (nothing changed)."""
        when = now or now_utc()
        stmt = update(outbox).where(self._held(item_id, owner)).values(
            status=DELIVERED, delivered_at=when, updated=when, lease_owner=None, lease_until=None,
            remote_id=result.remote_id[:256] or None, last_error=None)
        if conn is not None:
            return bool(conn.execute(stmt).rowcount)
        with self._tx() as tx:
            return bool(tx.execute(stmt).rowcount)

    def failed(self, item_id: int, owner: str, error: str, *, permanent: bool,
               now: datetime | None = None) -> str | None:
        """Record a failed attempt: ``failed`` when permanent or after ``max_attempts``, else back to ``pending``
        with the next attempt after the backoff. Returns the new status, None when the lease was lost."""
        when = now or now_utc()
        with self._tx() as conn:
            row = conn.execute(select(outbox.c.attempts).where(self._held(item_id, owner))).first()
            if row is None:
                return None
            attempts = int(row.attempts)
            if permanent or attempts >= self.max_attempts:
                values: dict[str, Any] = {"status": FAILED}
            else:
                delay = backoff_delay(attempts, self.backoff_seconds, self.backoff_cap_seconds, self.rng)
                values = {"status": PENDING, "next_attempt_at": when + timedelta(seconds=delay)}
            res = conn.execute(update(outbox).where(self._held(item_id, owner)).values(
                **values, last_error=_clip(error), lease_owner=None, lease_until=None, updated=when))
            return str(values["status"]) if res.rowcount else None

    def unrecorded(self, limit: int = 100) -> list[OutboxRecord]:
        """Finished items (delivered or failed) whose status is not yet on their DocumentReference."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(*_RECORD_COLUMNS).where(
                outbox.c.status.in_([DELIVERED, FAILED]), outbox.c.status_recorded == false())
                .order_by(outbox.c.id).limit(limit)).all()
        return [_record(r) for r in rows]

    def next_due(self, kinds: Sequence[str] = KINDS) -> datetime | None:
        """When the next pending item (or lease) falls due, for the worker's sleep."""
        with self.engine.connect() as conn:
            pending = conn.execute(select(outbox.c.next_attempt_at).where(
                outbox.c.status == PENDING, outbox.c.kind.in_(list(kinds)))
                .order_by(outbox.c.next_attempt_at).limit(1)).scalar_one_or_none()
            lease = conn.execute(select(outbox.c.lease_until).where(
                outbox.c.status == SENDING, outbox.c.kind.in_(list(kinds)))
                .order_by(outbox.c.lease_until).limit(1)).scalar_one_or_none()
        candidates = [d for d in (pending, lease) if d is not None]
        return min(candidates) if candidates else None


def mark_recorded(conn: Connection, item_id: int, now: datetime | None = None) -> None:
    """The item's final status is now on its DocumentReference (same transaction as that write)."""
    conn.execute(update(outbox).where(outbox.c.id == item_id).values(status_recorded=True,
                                                                      updated=now or now_utc()))
