"""The worker loop in-process: outcomes, retries, final failures, and the status on the DocumentReference."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from fhirserver.integrations.outbox import status
from fhirserver.integrations.outbox.worker import Worker
from fhirserver.search.values import now_utc
from fhirserver.storage.sql.schema import outbox
from tests.integrations.outbox.helpers import ScriptedDeliverer, queue_document, record_of, with_settings


def _deliveries(fhir: Any, doc_id: str) -> list[dict[str, Any]]:
    resp = fhir.get(f"DocumentReference/{doc_id}")
    assert resp.status_code == 200
    return status.deliveries(resp.get_json())


def _make_due(ctx: Any) -> None:
    with ctx.repo.engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.status == "pending").values(next_attempt_at=now_utc()))


def test_delivered_item_is_recorded_on_the_document_reference(fhir: Any, context: Any) -> None:
    """A delivery marks the item delivered and writes a new DocumentReference version with its status."""
    record = queue_document(context, "w-1", "1.2.250.1.999.7.1")
    deliverer = ScriptedDeliverer("ok")
    stats = Worker(context, {"dmp": deliverer}).run(once=True)
    assert stats.delivered == 1 and [c.unique_id for c in deliverer.calls] == ["1.2.250.1.999.7.1"]
    done = record_of(context, record.id)
    assert (done.status, done.status_recorded, done.remote_id) == ("delivered", True, "1.2.250.1.999.7.1")
    doc = fhir.get("DocumentReference/w-1").get_json()
    assert doc["meta"]["versionId"] == "2"
    assert doc["masterIdentifier"] == {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.7.1"}
    [delivery] = status.deliveries(doc)
    assert delivery["kind"] == "dmp" and delivery["status"] == "delivered"
    assert delivery["uniqueId"] == "1.2.250.1.999.7.1" and delivery["date"].endswith("Z")
    history = fhir.get("DocumentReference/w-1/_history").get_json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    [audit] = fhir.search("AuditEvent")
    assert (audit["outcome"], audit["subtype"][0]["code"], audit["type"]["code"]) == ("0", "ITI-41", "110106")
    assert audit["entity"][0]["what"]["reference"] == "DocumentReference/w-1/_history/1"
    assert audit["entity"][0]["name"] == "1.2.250.1.999.7.1"


def test_transient_errors_are_retried_until_delivered(fhir: Any, context: Any) -> None:
    """Two transient failures reschedule the item; the third attempt delivers it."""
    ctx = with_settings(context, worker_backoff_seconds=30)
    record = queue_document(ctx, "w-2")
    deliverer = ScriptedDeliverer("transient", "transient", "ok")
    worker = Worker(ctx, {"dmp": deliverer})
    worker.run(once=True)
    after_one = record_of(ctx, record.id)
    assert (after_one.status, after_one.attempts) == ("pending", 1)
    assert after_one.last_error == "transient: HTTP 503 from the receiver"
    assert (after_one.next_attempt_at - now_utc()).total_seconds() > 10  # backed off, not retried at once
    assert len(deliverer.calls) == 1
    for _ in range(2):
        _make_due(ctx)
        worker.run(once=True)
    done = record_of(ctx, record.id)
    assert (done.status, done.attempts, done.last_error) == ("delivered", 3, None)
    assert [c.attempts for c in deliverer.calls] == [0, 1, 2]
    assert _deliveries(fhir, "w-2")[0]["status"] == "delivered"


def test_failed_after_max_attempts(fhir: Any, context: Any) -> None:
    """With max_attempts = 3, three transient failures end in failed, recorded on the DocumentReference."""
    ctx = with_settings(context, worker_max_attempts=3, worker_backoff_seconds=0)
    record = queue_document(ctx, "w-3")
    deliverer = ScriptedDeliverer("transient", "transient", "transient", "ok")
    stats = Worker(ctx, {"dmp": deliverer}).run(once=True)
    assert (stats.retried, stats.failed, stats.delivered) == (2, 1, 0)
    done = record_of(ctx, record.id)
    assert (done.status, done.attempts) == ("failed", 3)
    [delivery] = _deliveries(fhir, "w-3")
    assert delivery["status"] == "failed" and delivery["error"] == "transient: HTTP 503 from the receiver"
    assert "masterIdentifier" not in fhir.get("DocumentReference/w-3").get_json()
    [audit] = fhir.search("AuditEvent")
    assert (audit["outcome"], audit["outcomeDesc"]) == ("8", "transient: HTTP 503 from the receiver")


def test_permanent_error_fails_at_once(fhir: Any, context: Any) -> None:
    """A PermanentError is final on the first attempt."""
    record = queue_document(context, "w-4")
    deliverer = ScriptedDeliverer("permanent", "ok")
    Worker(context, {"dmp": deliverer}).run(once=True)
    done = record_of(context, record.id)
    assert (done.status, done.attempts, len(deliverer.calls)) == ("failed", 1, 1)
    assert done.last_error == "permanent: refused: XDSRegistryMetadataError"


def test_unexpected_exception_is_transient_and_its_text_not_stored(app: Any, context: Any) -> None:
    """Any other exception is retried; only its type is kept (its message could carry health data)."""
    ctx = with_settings(context, worker_backoff_seconds=60)
    record = queue_document(ctx, "w-5")
    Worker(ctx, {"dmp": ScriptedDeliverer(ValueError("Dupont Marie née le 1940-01-02"))}).run(once=True)
    done = record_of(ctx, record.id)
    assert done.status == "pending" and done.last_error == "unexpected error: ValueError"


def test_status_write_failure_keeps_the_outbox_state_and_is_retried(fhir: Any, context: Any) -> None:
    """When writing the status on the DocumentReference fails, the item stays delivered and the write is redone."""

    class Refuse:
        def before_write(self, event: Any) -> dict[str, Any]:
            if event.notes.get("outbox"):
                raise RuntimeError("database hiccup")
            return event.body

        def after_write(self, event: Any, stored: Any) -> None:
            return None

    record = queue_document(context, "w-6")
    refusing = with_settings(context)
    refusing.hooks = [*context.hooks, Refuse()]
    deliverer = ScriptedDeliverer("ok")
    stats = Worker(refusing, {"dmp": deliverer}).run(once=True)
    assert stats.status_errors == 2  # right after the delivery, and again in the closing pass of --once
    kept = record_of(context, record.id)
    assert (kept.status, kept.status_recorded) == ("delivered", False)
    assert fhir.get("DocumentReference/w-6").get_json()["meta"]["versionId"] == "1"
    Worker(context, {"dmp": deliverer}).run(once=True)
    assert record_of(context, record.id).status_recorded is True
    assert _deliveries(fhir, "w-6")[0]["status"] == "delivered"
    assert len(deliverer.calls) == 1  # the retry only writes the status, it does not deliver again


def test_only_the_requested_kinds_are_delivered(app: Any, context: Any) -> None:
    """A worker for mssante leaves the DMP items alone."""
    dmp = queue_document(context, "w-7")
    mss = queue_document(context, "w-8", kind="mssante", target="dr.b@test.mssante.fr")
    mailer = ScriptedDeliverer("ok", kind="mssante")
    Worker(context, {"dmp": ScriptedDeliverer(), "mssante": mailer}, kinds=["mssante"]).run(once=True)
    assert record_of(context, dmp.id).status == "pending"
    assert record_of(context, mss.id).status == "delivered"
    assert mailer.calls[0].target == "dr.b@test.mssante.fr"


def test_two_destinations_keep_two_status_extensions(fhir: Any, context: Any) -> None:
    """The DMP and an MSSanté recipient each have their own status extension on the document."""
    queue_document(context, "w-9", "1.2.3.9")
    with context.repo.session(write=True) as session:
        from fhirserver.integrations.outbox import store

        store.enqueue(session.conn, kind="mssante", unique_id="1.2.3.9", document_id="w-9", document_version=1,
                      payload=b"<x/>", metadata={}, target="dr.c@test.mssante.fr")
    Worker(context, {"dmp": ScriptedDeliverer(), "mssante": ScriptedDeliverer(kind="mssante")}).run(once=True)
    got = sorted((d["kind"], d.get("target")) for d in _deliveries(fhir, "w-9"))
    assert got == [("dmp", None), ("mssante", "dr.c@test.mssante.fr")]


def test_worker_refuses_a_kind_without_deliverer_and_bad_crash_points(app: Any, context: Any) -> None:
    """Configuration errors are reported, not ignored."""
    with pytest.raises(ValueError, match="no deliverer configured for outbox kind\\(s\\): mssante"):
        Worker(context, {"dmp": ScriptedDeliverer()}, kinds=["mssante"])
    with pytest.raises(ValueError, match="DUI_WORKER_CRASH_AT='nowhere'"):
        Worker(context, {"dmp": ScriptedDeliverer()}, crash_at="nowhere")


def test_database_error_is_retried_by_a_long_running_worker(app: Any, context: Any) -> None:
    """A lost database connection does not end a long-running worker: it waits and goes on (a --once run stops)."""
    record = queue_document(context, "w-10")
    deliverer = ScriptedDeliverer()
    worker = Worker(context, {"dmp": deliverer}, poll_seconds=0.01)
    real_claim = worker.store.claim
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))
        items = real_claim(*args, **kwargs)
        if not items:
            worker.stop.set()
        return items

    worker.store.claim = flaky  # type: ignore[method-assign]
    stats = worker.run()
    assert (stats.database_errors, stats.delivered) == (1, 1)
    assert record_of(context, record.id).status == "delivered"
    calls.clear()
    worker.stop.clear()
    with pytest.raises(OperationalError):
        worker.run(once=True)


def test_dui_outbox_lists_the_items(app: Any, context: Any, database_url: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`dui outbox` lists the latest items with their state, filtered by status; no payload, no health data."""
    from fhirserver.cli import main

    ctx = with_settings(context, worker_max_attempts=1)
    delivered = queue_document(ctx, "w-11", "1.2.3.11")
    failed = queue_document(ctx, "w-12", "1.2.3.12")
    Worker(ctx, {"dmp": ScriptedDeliverer("ok", "transient")}).run(once=True)
    assert main(["--database-url", database_url, "outbox"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [[str(failed.id), "dmp", "failed"],
                                                      [str(delivered.id), "dmp", "delivered"]]
    assert lines[0].endswith("1.2.3.12  [transient: HTTP 503 from the receiver]")
    assert "ClinicalDocument" not in "".join(lines)
    assert main(["--database-url", database_url, "outbox", "--status", "delivered"]) == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == [str(delivered.id)]
