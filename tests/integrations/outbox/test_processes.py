"""``dui worker`` as real processes: two workers never deliver the same item; a worker killed at any step (the
crash points of the test hook, or SIGKILL at a random moment) loses nothing and, the receiver being idempotent by
uniqueId, every document arrives exactly once. Runs on the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from fhirserver.integrations.outbox import status
from fhirserver.integrations.outbox.worker import CRASH_ENV, CRASH_EXIT_CODE, CRASH_POINTS
from fhirserver.search.values import now_utc
from fhirserver.storage.sql.schema import outbox
from tests.integrations.outbox.helpers import queue_document, record_of
from tests.integrations.outbox.recorder import URL_ENV, Recorder

ROOT = Path(__file__).resolve().parents[3]
DELIVERER = "dmp=tests.integrations.outbox.recorder:build"


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    rec = Recorder().start()
    yield rec
    rec.stop()


def worker(database_url: str, recorder: Recorder, *args: str, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, URL_ENV: recorder.url, "PYTHONPATH": str(ROOT)}
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.Popen([sys.executable, "-m", "fhirserver.cli", "--database-url", database_url, "worker",
                             "--kind", "dmp", "--deliverer", DELIVERER, *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], timeout: float = 120) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"worker did not finish: {err.decode()[-2000:]}") from None
    return proc.returncode, err.decode()


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


def expire_leases(ctx: Any) -> None:
    """Time passes for the leases of dead workers (instead of sleeping until they expire)."""
    with ctx.repo.engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.status == "sending").values(
            lease_until=now_utc() - timedelta(seconds=1)))


def test_crash_at_each_step_then_recovery(fhir: Any, context: Any, database_url: str, recorder: Recorder) -> None:
    """A worker dying at each step of an item (one crashed run per crash point, each on the next item) leaves a
    state the next worker completes: nothing lost, each document stored once by the receiver."""
    items = queue(context, 5, "crash")
    for item, crash_at in zip(items, CRASH_POINTS, strict=False):
        rc, err = finish(worker(database_url, recorder, "--once", "--lease-seconds", "600", crash_at=crash_at))
        assert rc == CRASH_EXIT_CODE, (crash_at, err[-1500:])
        crashed = record_of(context, item.id)
        sent = recorder.count(item.unique_id)
        if crash_at == "after_claim":
            assert (crashed.status, crashed.attempts, sent) == ("sending", 1, 0)
        elif crash_at in ("after_deliver", "before_mark"):
            assert (crashed.status, sent) == ("sending", 1), crash_at  # delivered, the outcome not committed
        else:
            assert (crashed.status, crashed.status_recorded, sent) == ("delivered", False, 1)
    assert record_of(context, items[4].id).status == "pending"
    expire_leases(context)
    rc, err = finish(worker(database_url, recorder, "--once"))
    assert rc == 0, err[-1500:]
    assert_exactly_once(context, fhir, recorder, items)
    counts = [recorder.count(i.unique_id) for i in items]
    assert counts == [1, 2, 2, 1, 1]  # the two items delivered before their crash were delivered again ...
    duplicates = [r.unique_id for r in recorder.received if r.duplicate]
    assert duplicates == [items[1].unique_id, items[2].unique_id]  # ... and the receiver kept one copy


def test_sigkill_at_random_moments(fhir: Any, context: Any, database_url: str) -> None:
    """Workers killed with SIGKILL at random moments of a run, twice, then a normal run: every document is
    stored exactly once and every item is delivered."""
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    rec = Recorder(delay=0.1).start()
    try:
        items = queue(context, 10, "kill")
        for _ in range(2):
            before = rec.total()
            proc = worker(database_url, rec, "--poll-seconds", "0.2")
            wanted = before + rng.randint(1, 3)
            deadline = time.monotonic() + 60
            while rec.total() < wanted and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.15))
            proc.send_signal(signal.SIGKILL)
            rc, err = finish(proc)
            assert rc == -signal.SIGKILL, (seed, err[-1500:])
            expire_leases(context)
        rc, err = finish(worker(database_url, rec, "--once"))
        assert rc == 0, (seed, err[-1500:])
        assert_exactly_once(context, fhir, rec, items)
        assert all(n <= 3 for n in Counter(r.unique_id for r in rec.received).values()), seed
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
