"""Exactly once at the DMP sandbox: ``dui worker`` processes with the real DMP deliverer (ITI-41 SOAP + VIHF),
killed at every step of the test hook and with SIGKILL at random moments, then a normal run; every CDA document
is registered once by the sandbox (``GET /_sandbox/documents``) and nothing is lost. And ``$send-to-dmp`` end to
end (both transports)."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from fhirserver.integrations.dmp.deliverer import DmpDeliverer
from fhirserver.integrations.dmp.pdsm import PdsmDmpClient
from fhirserver.integrations.dmp.sandbox import Server
from fhirserver.integrations.dmp.vihf import Lps, self_signed
from fhirserver.integrations.dmp.xds_client import SoapDmpClient
from fhirserver.integrations.outbox import status
from fhirserver.integrations.outbox.worker import CRASH_EXIT_CODE, CRASH_POINTS, Worker
from tests.integrations.outbox.documents import DEMO_DOC, cda_bytes, load_demo_document
from tests.integrations.outbox.helpers import expire_leases, finish, queue_document, record_of, start_worker

ROOT = Path(__file__).resolve().parents[3]


LPS = Lps("LPS-TEST-1", "DUI server", "0.1.0", "")


def registered(sandbox: Server) -> dict[str, dict[str, Any]]:
    docs = requests.get(sandbox.url + "/_sandbox/documents", timeout=30).json()
    return {d["uniqueId"]: d for d in docs}


def worker(database_url: str, sandbox: Server, *args: str, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    return start_worker(database_url, *args, env={"DUI_DMP_URL": sandbox.url, "DUI_DMP_TRANSPORT": "soap"},
                        crash_at=crash_at)


def queue(ctx: Any, n: int, tag: int) -> list[Any]:
    """n valid N1 documents (distinct uniqueIds), queued with their DocumentReferences."""
    out = []
    for i in range(n):
        uid = f"1.2.250.1.213.1.1.9.{tag}.{i}"
        out.append(queue_document(ctx, f"sb-{tag}-{i}", uid, payload=cda_bytes(uid)))
    return out


def assert_exactly_once(ctx: Any, fhir: Any, sandbox: Server, items: list[Any]) -> dict[str, dict[str, Any]]:
    docs = registered(sandbox)
    assert sorted(docs) == sorted(i.unique_id for i in items)
    for item in items:
        doc = docs[item.unique_id]
        assert (doc["registered"], doc["stored"], doc["status"]) == (
            1, True, "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"), doc
        done = record_of(ctx, item.id)
        assert (done.status, done.status_recorded, done.remote_id) == ("delivered", True, item.unique_id), done
        resource = fhir.get(f"DocumentReference/{item.document_id}").get_json()
        assert [(d["status"], d["uniqueId"]) for d in status.deliveries(resource)] == [("delivered", item.unique_id)]
    return docs


def test_crash_at_each_step_then_recovery(fhir: Any, context: Any, database_url: str, sandbox: Server) -> None:
    """One crashed run per crash point, each on the next document; a normal run completes them all: every
    document registered once, the two sent before their crash answered "already registered" the second time."""
    items = queue(context, 5, 1)
    for item, crash_at in zip(items, CRASH_POINTS, strict=False):
        rc, err = finish(worker(database_url, sandbox, "--once", "--lease-seconds", "600", crash_at=crash_at))
        assert rc == CRASH_EXIT_CODE, (crash_at, err[-2000:])
        state = record_of(context, item.id)
        at_dmp = item.unique_id in registered(sandbox)
        expected = {"after_claim": ("sending", False), "after_deliver": ("sending", True),
                    "before_mark": ("sending", True), "after_mark": ("delivered", True)}[crash_at]
        assert (state.status, at_dmp) == expected, crash_at
    assert record_of(context, items[4].id).status == "pending"
    expire_leases(context)
    rc, err = finish(worker(database_url, sandbox, "--once"))
    assert rc == 0, err[-2000:]
    docs = assert_exactly_once(context, fhir, sandbox, items)
    assert [docs[i.unique_id]["duplicates"] for i in items] == [0, 1, 1, 0, 0]


def test_sigkill_at_random_moments(fhir: Any, context: Any, database_url: str, sandbox: Server) -> None:
    """Workers killed with SIGKILL at random moments of their run (after one or two more documents reached the
    sandbox, plus up to 0.1 s), three times, then a normal run: every document is registered exactly once and
    every item is delivered. (The deterministic kills at each step are the crash-point test above.)"""
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    items = queue(context, 30, 2)
    for _ in range(3):
        before = len(registered(sandbox))
        proc = worker(database_url, sandbox, "--poll-seconds", "0.2")
        wanted = before + rng.randint(1, 2)  # the kill falls in the middle of a run, not during start-up
        deadline = time.monotonic() + 120
        while len(registered(sandbox)) < wanted and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.1))
        assert proc.poll() is None, seed  # still running when killed
        proc.send_signal(signal.SIGKILL)
        rc, err = finish(proc)
        assert rc == -signal.SIGKILL, (seed, err[-2000:])
        expire_leases(context)
    assert len(registered(sandbox)) >= 3, seed  # the killed runs were doing the work
    rc, err = finish(worker(database_url, sandbox, "--once"))
    assert rc == 0, (seed, err[-2000:])
    assert_exactly_once(context, fhir, sandbox, items)


@pytest.mark.parametrize("transport", ["soap", "pdsm"])
def test_send_to_dmp_end_to_end(fhir: Any, context: Any, sandbox: Server, transport: str) -> None:
    """$send-to-dmp on a PDF DocumentReference, then the worker with the real DMP deliverer: the N1 reaches the
    sandbox once, with the visibility label of the DocumentReference, and the DocumentReference says delivered."""
    doc = load_demo_document(fhir)
    doc["securityLabel"] = [{"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": "MASQUE_PS"}]}]
    assert fhir.put(f"DocumentReference/{DEMO_DOC}", doc).status_code == 200
    resp = fhir.post(f"DocumentReference/{DEMO_DOC}/$send-to-dmp")
    assert resp.status_code == 202, resp.get_json()
    unique_id = next(p["valueString"] for p in resp.get_json()["parameter"] if p["name"] == "uniqueId")
    client = (PdsmDmpClient if transport == "pdsm" else SoapDmpClient)(sandbox.url, self_signed, LPS, timeout=120)
    stats = Worker(context, {"dmp": DmpDeliverer(client)}).run(once=True)
    assert stats.delivered == 1
    [entry] = registered(sandbox).values()
    assert (entry["uniqueId"], entry["registered"], entry["confidentiality"]) == (unique_id, 1, ["N", "MASQUE_PS"])
    stored = fhir.get(f"DocumentReference/{DEMO_DOC}").get_json()
    assert [(d["kind"], d["status"], d["uniqueId"]) for d in status.deliveries(stored)] == [
        ("dmp", "delivered", unique_id)]
    [audit] = fhir.search("AuditEvent?patient=Patient/ehpad-usager-010")
    assert (audit["outcome"], audit["subtype"][0]["code"]) == ("0", "ITI-41")
    after = fhir.post(f"DocumentReference/{DEMO_DOC}/$send-to-dmp")
    assert after.status_code == 200
    assert next(p["valueCode"] for p in after.get_json()["parameter"] if p["name"] == "status") == "delivered"
