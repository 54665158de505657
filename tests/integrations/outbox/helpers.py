"""Shared pieces of the outbox tests: documents, queued items, in-process deliverers, a context with settings."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from fhirserver.integrations.outbox import store
from fhirserver.integrations.outbox.types import DeliveryResult, OutboxItem, PermanentError, TransientError
from fhirserver.interactions.context import Context


def document_reference(doc_id: str) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference", "id": doc_id, "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
        "content": [{"attachment": {"contentType": "application/pdf",
                                    "data": base64.b64encode(b"%PDF-1.4 test").decode()}}],
    }


def with_settings(ctx: Context, **changes: Any) -> Context:
    """A copy of the test context whose settings differ (worker_max_attempts, worker_backoff_seconds …)."""
    return dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, **changes))


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
