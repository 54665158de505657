"""``dui worker``: the loop that drains the outbox — claim, deliver, record the outcome.

Each item goes through three short steps, each its own transaction (see :mod:`.store`):

1. **claim**: the item is leased to this worker (``sending``, ``attempts + 1``) and committed;
2. **deliver**: the :class:`~.types.Deliverer` of the item's kind sends it (no transaction open);
3. **mark**: ``delivered``, or a retry with backoff, or ``failed`` — only while the lease is still ours; then the
   final status is written on the DocumentReference (:mod:`.status`), retried later if that write fails.

A worker killed at any moment leaves at worst a ``sending`` item whose lease expires (``lease_seconds``); the next
worker claims it again and the deliverer, idempotent by ``unique_id``, does not create a second document. SIGTERM
and SIGINT stop the loop after the current item. ``once`` drains the items due now and returns.

Test hook: the environment variable ``DUI_WORKER_CRASH_AT`` (one of :data:`CRASH_POINTS`) makes the process
``os._exit(CRASH_EXIT_CODE)`` at that step of the first item it handles, without any clean-up, as a kill would:
``after_claim`` (lease committed, nothing sent), ``after_deliver`` (sent, outcome not recorded), ``before_mark``
(inside the outcome transaction, before its commit), ``after_mark`` (outcome committed, DocumentReference not yet
updated). The crash tests in ``tests/integrations/outbox`` use it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from fhirserver.integrations.outbox import status
from fhirserver.integrations.outbox.store import OutboxStore, get
from fhirserver.integrations.outbox.types import (
    DELIVERED,
    Deliverer,
    DeliveryResult,
    OutboxItem,
    PermanentError,
    TransientError,
)
from fhirserver.interactions.context import Context
from fhirserver.search.values import now_utc

log = logging.getLogger("fhirserver.outbox")

CRASH_ENV = "DUI_WORKER_CRASH_AT"
CRASH_POINTS = ("after_claim", "after_deliver", "before_mark", "after_mark")
CRASH_EXIT_CODE = 86


def default_lease_seconds(timeout_seconds: int) -> float:
    """A lease comfortably longer than one delivery (the deliverer's own timeout, plus margin)."""
    return float(max(60, 3 * timeout_seconds))


def worker_id() -> str:
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class WorkerStats:
    """What one run did (counts of items by outcome)."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0
    lost_leases: int = 0
    status_writes: int = 0
    status_errors: int = 0
    database_errors: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)


class Worker:
    """Drains the outbox of the ``kinds`` it has a deliverer for."""

    def __init__(self, ctx: Context, deliverers: Mapping[str, Deliverer], *, kinds: Sequence[str] | None = None,
                 lease_seconds: float | None = None, poll_seconds: float | None = None,
                 owner: str | None = None, crash_at: str | None = None) -> None:
        wanted = list(kinds) if kinds else sorted(deliverers)
        missing = [k for k in wanted if k not in deliverers]
        if missing:
            raise ValueError(f"no deliverer configured for outbox kind(s): {', '.join(missing)}")
        if not wanted:
            raise ValueError("no deliverer configured: nothing to deliver")
        crash = crash_at if crash_at is not None else os.environ.get(CRASH_ENV) or None
        if crash is not None and crash not in CRASH_POINTS:
            raise ValueError(f"{CRASH_ENV}={crash!r}: expected one of {', '.join(CRASH_POINTS)}")
        settings = ctx.settings
        self.ctx = ctx
        self.deliverers = dict(deliverers)
        self.kinds = wanted
        self.owner = owner or worker_id()
        self.poll_seconds = float(settings.worker.poll_seconds if poll_seconds is None else poll_seconds)
        self.crash_at = crash
        self.store = OutboxStore(
            ctx.repo.engine, max_attempts=settings.worker.max_attempts,
            backoff_seconds=settings.worker.backoff_seconds,
            lease_seconds=lease_seconds or default_lease_seconds(settings.dmp.timeout_seconds))
        self.stop = threading.Event()
        self.stats = WorkerStats()
        self._last_status_pass: datetime | None = None

    # --- test hook ---------------------------------------------------------------------------------
    def _crash(self, point: str) -> None:
        if self.crash_at == point:
            log.warning("outbox worker: simulated crash at %s (%s)", point, CRASH_ENV)
            os._exit(CRASH_EXIT_CODE)

    # --- one item ----------------------------------------------------------------------------------
    def process_one(self) -> bool:
        """Claim one due item and handle it; False when nothing is due."""
        items = self.store.claim(self.owner, self.kinds, limit=1)
        if not items:
            return False
        item = items[0]
        self._crash("after_claim")
        outcome = self._deliver(item)
        if isinstance(outcome, DeliveryResult):
            self._crash("after_deliver")
            with self.store._tx() as conn:
                held = self.store.delivered(item.id, self.owner, outcome, conn=conn)
                self._crash("before_mark")
            new_status: str | None = DELIVERED if held else None
        else:
            error, permanent = outcome
            new_status = self.store.failed(item.id, self.owner, error, permanent=permanent)
        if new_status is None:
            self.stats.lost_leases += 1
            log.warning("outbox item %s: lease lost before its outcome was recorded", item.id)
            return True
        self.stats.outcomes[item.id] = new_status
        if new_status == DELIVERED:
            self.stats.delivered += 1
        elif new_status == "failed":
            self.stats.failed += 1
        else:
            self.stats.retried += 1
        log.info("outbox item %s (%s): attempt %s -> %s", item.id, item.kind, item.attempts + 1, new_status)
        self._crash("after_mark")
        if new_status in (DELIVERED, "failed"):
            self._record_status(item.id)
        return True

    def _deliver(self, item: OutboxItem) -> DeliveryResult | tuple[str, bool]:
        """The deliverer's result, or (error text, permanent)."""
        deliverer = self.deliverers[item.kind]
        try:
            return deliverer.deliver(item)
        except PermanentError as exc:
            return f"permanent: {exc}" if str(exc) else "permanent error", True
        except TransientError as exc:
            return f"transient: {exc}" if str(exc) else "transient error", False
        except Exception as exc:  # noqa: BLE001 - any other failure is retried; its text may hold data
            log.warning("outbox item %s: unexpected %s from the %s deliverer", item.id, type(exc).__name__,
                        item.kind)
            return f"unexpected error: {type(exc).__name__}", False

    # --- DocumentReference status ------------------------------------------------------------------
    def _record_status(self, item_id: int) -> None:
        try:
            with self.ctx.repo.session(write=True) as session:
                record = get(session.conn, item_id)
                if record is None or record.status_recorded:
                    return
                status.record_on_document(self.ctx, session, record)
            self.stats.status_writes += 1
        except Exception as exc:  # noqa: BLE001 - the outbox state is committed; retried by record_statuses
            self.stats.status_errors += 1
            log.warning("outbox item %s: status not recorded on its DocumentReference (%s); will retry",
                        item_id, type(exc).__name__)

    def record_statuses(self, *, force: bool = False) -> None:
        """Retry the DocumentReference writes that failed earlier (at most once per poll interval)."""
        now = now_utc()
        if not force and self._last_status_pass is not None and (
                now - self._last_status_pass).total_seconds() < self.poll_seconds:
            return
        self._last_status_pass = now
        for record in self.store.unrecorded():
            if record.kind in self.kinds:
                self._record_status(record.id)

    # --- the loop ----------------------------------------------------------------------------------
    def run(self, *, once: bool = False) -> WorkerStats:
        """Deliver until stopped (or, with ``once``, until nothing is due). A database error stops a ``once``
        run; a long-running worker logs it and tries again after ``poll_seconds`` (the database restarting,
        a failover): what it was doing is safe in the outbox (at worst a lease that expires)."""
        self.record_statuses(force=True)
        while not self.stop.is_set():
            try:
                if self.process_one():
                    continue
                self.record_statuses(force=once)
            except DBAPIError as exc:
                if once:
                    raise
                self.stats.database_errors += 1
                log.warning("outbox worker: database error (%s); retrying in %ss", type(exc).__name__,
                            self.poll_seconds)
                self.stop.wait(self.poll_seconds)
                continue
            if once:
                break
            self.stop.wait(self._sleep_seconds())
        return self.stats

    def _sleep_seconds(self) -> float:
        due = self.store.next_due(self.kinds)
        if due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(0.05, (due - now_utc()).total_seconds()))
