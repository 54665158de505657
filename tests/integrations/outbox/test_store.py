"""The outbox table: enqueue in the caller's transaction, idempotency key, claims with leases, backoff."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from fhirserver.integrations.outbox import store
from fhirserver.integrations.outbox.types import DeliveryResult
from fhirserver.search.values import now_utc
from tests.integrations.outbox.helpers import document_reference, queue_document, record_of


def _store(ctx: Any, **kw: Any) -> store.OutboxStore:
    return store.OutboxStore(ctx.repo.engine, **{"max_attempts": 3, "backoff_seconds": 10, "lease_seconds": 30, **kw})


def test_enqueue_commits_with_the_document(app: Any, context: Any) -> None:
    """The DocumentReference and its outbox item are visible together after the commit."""
    record = queue_document(context, "doc-1")
    with context.repo.session(write=False) as session:
        assert session.read("DocumentReference", "doc-1") is not None
        assert [r.id for r in store.for_document(session.conn, "doc-1")] == [record.id]
    assert record.status == "pending" and record.attempts == 0 and record.document_version == 1


def test_failure_after_enqueue_rolls_back_document_and_item(app: Any, context: Any) -> None:
    """An error after the enqueue, in the same transaction, leaves neither the document nor the item."""
    with pytest.raises(RuntimeError, match="after enqueue"), context.repo.session(write=True) as session:
        session.create("DocumentReference", document_reference("doc-2"), "doc-2")
        store.enqueue(session.conn, kind="dmp", unique_id="1.2.3.4", document_id="doc-2", document_version=1,
                      payload=b"<x/>", metadata={})
        raise RuntimeError("after enqueue")
    with context.repo.session(write=False) as session:
        assert session.read("DocumentReference", "doc-2") is None
        assert store.for_document(session.conn, "doc-2") == []
        assert store.find_unique(session.conn, "dmp", "1.2.3.4") is None


def test_same_unique_id_is_queued_once(app: Any, context: Any) -> None:
    """A second enqueue of (kind, unique_id, target) returns the existing item and adds no row."""
    first = queue_document(context, "doc-3", "1.2.3.5")
    with context.repo.session(write=True) as session:
        again, new = store.enqueue(session.conn, kind="dmp", unique_id="1.2.3.5", document_id="doc-3",
                                   document_version=1, payload=b"<other/>", metadata={})
        other_target, new_target = store.enqueue(session.conn, kind="mssante", unique_id="1.2.3.5",
                                                 document_id="doc-3", document_version=1, payload=b"<x/>",
                                                 metadata={}, target="dr.a@test.mssante.fr")
        assert len(store.for_document(session.conn, "doc-3")) == 2
    assert (again.id, new) == (first.id, False)
    assert new_target and other_target.id != first.id


def test_enqueue_refuses_an_unknown_kind_or_an_empty_key(app: Any, context: Any) -> None:
    """Kinds are dmp and mssante; the idempotency key is required."""
    with context.repo.session(write=True) as session:
        with pytest.raises(ValueError, match="unknown outbox kind 'fax'"):
            store.enqueue(session.conn, kind="fax", unique_id="1", document_id="d", document_version=1,
                          payload=b"", metadata={})
        with pytest.raises(ValueError, match="unique_id"):
            store.enqueue(session.conn, kind="dmp", unique_id="", document_id="d", document_version=1,
                          payload=b"", metadata={})


def test_claim_leases_an_item_to_one_owner(app: Any, context: Any) -> None:
    """A claimed item is sending, counted as an attempt, and not claimable by anyone else while leased."""
    record = queue_document(context, "doc-4")
    s = _store(context)
    items = s.claim("worker-a")
    assert [i.id for i in items] == [record.id]
    assert items[0].payload == b"<ClinicalDocument id='doc-4'/>" and items[0].attempts == 0
    assert items[0].metadata == {"title": "test"} and items[0].document_id == "doc-4"
    assert s.claim("worker-b") == []
    claimed = record_of(context, record.id)
    assert (claimed.status, claimed.attempts) == ("sending", 1)


def test_expired_lease_is_claimed_again_and_the_old_owner_cannot_record(app: Any, context: Any) -> None:
    """After a lease expires another worker takes the item; the first one's late outcome changes nothing."""
    record = queue_document(context, "doc-5")
    s = _store(context, lease_seconds=30)
    assert s.claim("worker-a")
    later = now_utc() + timedelta(seconds=31)
    again = s.claim("worker-b", now=later)
    assert [i.id for i in again] == [record.id] and again[0].attempts == 1
    assert s.delivered(record.id, "worker-a", DeliveryResult("x")) is False
    assert s.failed(record.id, "worker-a", "late", permanent=True) is None
    assert s.delivered(record.id, "worker-b", DeliveryResult("remote-1")) is True
    done = record_of(context, record.id)
    assert (done.status, done.attempts, done.remote_id) == ("delivered", 2, "remote-1")
    assert done.delivered_at is not None


def test_transient_failure_reschedules_with_backoff(app: Any, context: Any) -> None:
    """A transient failure puts the item back to pending after base * 2**(n-1), half of it jittered."""
    record = queue_document(context, "doc-6")
    s = _store(context, backoff_seconds=10, rng=random.Random(7))
    now = now_utc()
    s.claim("w", now=now)
    assert s.failed(record.id, "w", "transient: HTTP 503", permanent=False, now=now) == "pending"
    first = record_of(context, record.id)
    assert 5 <= (first.next_attempt_at - now).total_seconds() <= 10
    assert first.last_error == "transient: HTTP 503"
    assert s.claim("w", now=now + timedelta(seconds=4)) == []  # not due yet
    second_try = now + timedelta(seconds=11)
    assert s.claim("w", now=second_try)
    s.failed(record.id, "w", "transient: timeout", permanent=False, now=second_try)
    second = record_of(context, record.id)
    assert 10 <= (second.next_attempt_at - second_try).total_seconds() <= 20


def test_max_attempts_then_failed_and_permanent_at_once(app: Any, context: Any) -> None:
    """The last allowed transient failure is final; a permanent error is final on the first attempt."""
    a = queue_document(context, "doc-7")
    b = queue_document(context, "doc-8")
    s = _store(context, max_attempts=2, backoff_seconds=0)
    assert [i.id for i in s.claim("w", limit=2)] == [a.id, b.id]
    assert s.failed(b.id, "w", "permanent: refused", permanent=True) == "failed"
    assert s.failed(a.id, "w", "transient: 1", permanent=False) == "pending"
    assert [i.id for i in s.claim("w")] == [a.id]
    assert s.failed(a.id, "w", "transient: 2", permanent=False) == "failed"
    assert (record_of(context, a.id).attempts, record_of(context, b.id).attempts) == (2, 1)
    assert s.claim("w") == []


def test_item_abandoned_by_crashed_workers_fails_after_max_attempts(app: Any, context: Any) -> None:
    """An item whose every attempt died with its worker (a poison document) ends failed, not claimed forever."""
    record = queue_document(context, "doc-9")
    s = _store(context, max_attempts=2, lease_seconds=1)
    now = now_utc()
    assert s.claim("w1", now=now)
    assert s.claim("w2", now=now + timedelta(seconds=2))
    assert s.claim("w3", now=now + timedelta(seconds=4)) == []
    failed = record_of(context, record.id)
    assert failed.status == "failed" and "attempt 2 of 2" in (failed.last_error or "")


@pytest.mark.parametrize(("attempts", "low", "high"), [(1, 5, 10), (2, 10, 20), (4, 40, 80), (30, 1800, 3600)])
def test_backoff_delay_grows_and_is_capped(attempts: int, low: float, high: float) -> None:
    """Delays double per attempt between half and all of base * 2**(n-1), never above the cap."""
    rng = random.Random(attempts)
    delays = [store.backoff_delay(attempts, 10, 3600, rng) for _ in range(50)]
    assert all(low <= d <= high for d in delays)
    assert max(delays) - min(delays) > 0  # jittered


def test_cancel_only_pending_items(app: Any, context: Any) -> None:
    """A pending item can be cancelled; one being sent cannot."""
    a = queue_document(context, "doc-10")
    b = queue_document(context, "doc-11")
    _store(context).claim("w")  # takes a
    with context.repo.session(write=True) as session:
        assert store.cancel(session.conn, a.id) is False
        assert store.cancel(session.conn, b.id) is True
    assert record_of(context, b.id).status == "cancelled"
