"""``dui worker`` as real processes against a recording receiver: two workers never hold nor deliver the same
item, SIGTERM finishes the current item, configuration errors exit 2. (Crashes at every step and SIGKILL: against
the DMP sandbox, test_sandbox_crash.py.) Runs on the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from fhirserver.integrations.outbox import status
from tests.integrations.outbox.helpers import finish, queue_document, record_of, start_worker
from tests.integrations.outbox.recorder import URL_ENV, Recorder

DELIVERER = "dmp=tests.integrations.outbox.recorder:build"


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    rec = Recorder().start()
    yield rec
    rec.stop()


def worker(database_url: str, recorder: Recorder, *args: str) -> subprocess.Popen[bytes]:
    return start_worker(database_url, "--deliverer", DELIVERER, *args, env={URL_ENV: recorder.url})


def queue(ctx: Any, n: int, prefix: str) -> list[Any]:
    return [queue_document(ctx, f"{prefix}-{i}", f"1.2.250.1.999.42.{prefix.replace('-', '.')}.{i}")
            for i in range(n)]


def assert_exactly_once(ctx: Any, fhir: Any, recorder: Recorder, items: list[Any]) -> None:
    """Every item delivered, its document stored once at the receiver, its status once on its DocumentReference."""
    assert sorted(recorder.stored) == sorted(i.unique_id for i in items)
    for item in items:
        done = record_of(ctx, item.id)
        assert (done.status, done.status_recorded) == ("delivered", True), (item.document_id, done)
        assert recorder.stored[item.unique_id].decode() == f"<ClinicalDocument id='{item.document_id}'/>"
        doc = fhir.get(f"DocumentReference/{item.document_id}").get_json()
        deliveries = status.deliveries(doc)
        assert [(d["status"], d["uniqueId"]) for d in deliveries] == [("delivered", item.unique_id)]


def test_two_worker_processes_never_deliver_the_same_item(fhir: Any, context: Any, database_url: str) -> None:
    """Two workers running at once each hold a different item (they meet at the receiver) and no item is
    delivered twice."""
    rec = Recorder(rendezvous=True).start()
    try:
        items = queue(context, 12, "conc")
        procs = [worker(database_url, rec, "--once") for _ in range(2)]
        results = [finish(p) for p in procs]
        assert [rc for rc, _ in results] == [0, 0], [err[-1500:] for _, err in results]
        per_uid = Counter(r.unique_id for r in rec.received)
        assert all(n == 1 for n in per_uid.values()), per_uid
        assert len({r.worker for r in rec.received}) == 2
        assert_exactly_once(context, fhir, rec, items)
    finally:
        rec.stop()


def test_sigterm_stops_after_the_current_item(fhir: Any, context: Any, database_url: str) -> None:
    """SIGTERM lets the item being delivered finish and be recorded, then the worker exits 0."""
    rec = Recorder(delay=0.5).start()
    try:
        items = queue(context, 4, "term")
        proc = worker(database_url, rec, "--poll-seconds", "0.2")
        deadline = time.monotonic() + 60
        while rec.total() < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        rc, err = finish(proc)
        assert rc == 0, err[-1500:]
        statuses = [record_of(context, i.id).status for i in items]
        assert "sending" not in statuses and statuses[0] == "delivered"
        assert statuses.count("delivered") == rec.total() < 4
    finally:
        rec.stop()


def test_worker_cli_reports_configuration_errors(context: Any, database_url: str, recorder: Recorder,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed --deliverer, or a factory that does not build a Deliverer, exits 2 with a message."""
    from fhirserver.cli import main

    monkeypatch.setenv(URL_ENV, recorder.url)
    base = ["--database-url", database_url, "worker", "--once"]
    assert main([*base, "--deliverer", "dmp=nothing"]) == 2
    assert "expected KIND=MODULE:CALLABLE" in capsys.readouterr().err
    assert main([*base, "--deliverer", "dmp=tests.integrations.outbox.helpers:document_reference"]) == 2
    assert "did not return a Deliverer" in capsys.readouterr().err
