"""Shared pieces of the outbox tests: documents, queued items, in-process deliverers, a context with settings."""

from __future__ import annotations

import base64
import dataclasses
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from fhirserver.integrations.outbox import store
from fhirserver.integrations.outbox.types import DeliveryResult, OutboxItem, PermanentError, TransientError
from fhirserver.integrations.outbox.worker import CRASH_ENV
from fhirserver.interactions.context import Context
from fhirserver.search.values import now_utc
from fhirserver.storage.sql.schema import outbox

ROOT = Path(__file__).resolve().parents[3]


def document_reference(doc_id: str) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference", "id": doc_id, "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
        "content": [{"attachment": {"contentType": "application/pdf",
                                    "data": base64.b64encode(b"%PDF-1.4 test").decode()}}],
    }


def with_settings(ctx: Context, **changes: Any) -> Context:
    """A copy of the test context whose settings differ (worker_max_attempts, worker_backoff_seconds …)."""
    return dataclasses.replace(ctx, settings=ctx.settings.with_overrides(**changes))


def queue_document(ctx: Context, doc_id: str, unique_id: str | None = None, *, kind: str = "dmp",
                   target: str = "", payload: bytes | None = None) -> store.OutboxRecord:
    """Write a DocumentReference and queue it in the same transaction (as $send-to-dmp does)."""
    with ctx.repo.session(write=True) as session:
        stored = session.create("DocumentReference", document_reference(doc_id), doc_id)
        record, _ = store.enqueue(session.conn, kind=kind, unique_id=unique_id or f"1.2.250.1.999.1.{doc_id}",
                                  document_id=doc_id, document_version=stored.version_id,
                                  payload=payload or f"<ClinicalDocument id='{doc_id}'/>".encode(),
                                  metadata={"title": "test"}, target=target)
    return record


def record_of(ctx: Context, item_id: int) -> store.OutboxRecord:
    with ctx.repo.engine.connect() as conn:
        record = store.get(conn, item_id)
    assert record is not None
    return record


class ScriptedDeliverer:
    """Plays a script of outcomes ("ok", "transient", "permanent", or an exception) and records every call."""

    def __init__(self, *script: Any, kind: str = "dmp") -> None:
        self.kind = kind
        self.script = list(script)
        self.calls: list[OutboxItem] = []

    def deliver(self, item: OutboxItem) -> DeliveryResult:
        self.calls.append(item)
        step = self.script.pop(0) if self.script else "ok"
        if step == "transient":
            raise TransientError("HTTP 503 from the receiver")
        if step == "permanent":
            raise PermanentError("refused: XDSRegistryMetadataError")
        if isinstance(step, Exception):
            raise step
        return DeliveryResult(remote_id=item.unique_id, detail="registered")


def start_worker(database_url: str, *args: str, env: dict[str, str] | None = None,
                 crash_at: str | None = None) -> subprocess.Popen[bytes]:
    """``dui worker --kind dmp ARGS`` as a process of its own (``crash_at``: the test hook's crash point)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop(CRASH_ENV, None)
    if crash_at:
        environment[CRASH_ENV] = crash_at
    return subprocess.Popen([sys.executable, "-m", "fhirserver.cli", "--database-url", database_url, "worker",
                             "--kind", "dmp", *args], cwd=ROOT, env=environment, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], timeout: float = 180) -> tuple[int, str]:
    """Wait for a worker process: (exit status, the end of its stderr)."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"worker did not finish: {err.decode()[-2000:]}") from None
    return proc.returncode, err.decode()[-2000:]


def expire_leases(ctx: Context) -> None:
    """Time passes for the leases of dead workers (instead of sleeping until they expire)."""
    with ctx.repo.engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.status == "sending").values(
            lease_until=now_utc() - timedelta(seconds=1)))
