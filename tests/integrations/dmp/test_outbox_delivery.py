"""The outbox worker delivering to the DMP sandbox with the real DMP deliverer (both transports): a queued CDA
document arrives exactly once, a second delivery of the same item is "already registered", a closed DMP fails
the item for good."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from fhirserver.integrations.dmp.deliverer import DmpDeliverer
from fhirserver.integrations.dmp.pdsm import PdsmDmpClient
from fhirserver.integrations.dmp.sandbox import Server
from fhirserver.integrations.dmp.vihf import self_signed
from fhirserver.integrations.dmp.xds_client import SoapDmpClient
from fhirserver.integrations.outbox import OutboxItem, store
from fhirserver.integrations.outbox.worker import Worker

from .conftest import LPS
from .test_soap import N1_UID


def _queue(ctx: Any, payload: bytes, metadata: dict[str, Any] | None = None) -> int:
    document = {"resourceType": "DocumentReference", "id": "n1", "status": "current",
                "content": [{"attachment": {"contentType": "application/hl7-v3+xml", "title": "N1"}}]}
    with ctx.repo.session(write=True) as session:
        stored = session.create("DocumentReference", document, "n1")
        record, _ = store.enqueue(session.conn, kind="dmp", unique_id=N1_UID, document_id="n1",
                                  document_version=stored.version_id, payload=payload,
                                  metadata=metadata or {"visibility": [], "replaces": None})
    return record.id


def _record(ctx: Any, item_id: int) -> store.OutboxRecord:
    with ctx.repo.engine.connect() as conn:
        found = store.get(conn, item_id)
    assert found is not None
    return found


@pytest.fixture(params=["soap", "pdsm"])
def deliverer(request: pytest.FixtureRequest, sandbox: Server) -> DmpDeliverer:
    client_type = SoapDmpClient if request.param == "soap" else PdsmDmpClient
    return DmpDeliverer(client_type(sandbox.url, self_signed, LPS, timeout=120))


def test_worker_delivers_the_queued_document_once(app: Any, context: Any, sandbox: Server, n1: bytes,
                                                  deliverer: DmpDeliverer) -> None:
    """dui worker's loop hands the item to the DMP deliverer: delivered, with the uniqueId as remote id."""
    item_id = _queue(context, n1, {"visibility": ["MASQUE_PS"], "replaces": None})
    Worker(context, {"dmp": deliverer}, poll_seconds=0).run(once=True)
    record = _record(context, item_id)
    assert (record.status, record.remote_id, record.attempts) == ("delivered", N1_UID, 1)
    [doc] = requests.get(sandbox.url + "/_sandbox/documents", timeout=10).json()
    assert (doc["uniqueId"], doc["registered"], doc["confidentiality"]) == (N1_UID, 1, ["N", "MASQUE_PS"])


def test_redelivery_after_a_lost_acknowledgement_is_not_a_second_document(app: Any, context: Any, sandbox: Server,
                                                                          n1: bytes,
                                                                          deliverer: DmpDeliverer) -> None:
    """The DMP received the document but the worker died before recording it: the retry is 'already registered'."""
    item_id = _queue(context, n1)
    deliverer.deliver(OutboxItem(id=item_id, kind="dmp", unique_id=N1_UID, document_id="n1", payload=n1))
    Worker(context, {"dmp": deliverer}, poll_seconds=0).run(once=True)
    record = _record(context, item_id)
    assert (record.status, record.remote_id) == ("delivered", N1_UID)
    [doc] = requests.get(sandbox.url + "/_sandbox/documents", timeout=10).json()
    assert (doc["registered"], doc["duplicates"]) == (1, 1)


def test_closed_dmp_fails_the_item_for_good(app: Any, context: Any, sandbox: Server, n1: bytes, n1_ins: Any,
                                            deliverer: DmpDeliverer) -> None:
    """TD0.2 says closed: the item is failed at once (no retry) and nothing reaches the DMP."""
    sandbox.sandbox.store.set_dmp_state(n1_ins.value, "closed")
    item_id = _queue(context, n1)
    Worker(context, {"dmp": deliverer}, poll_seconds=0).run(once=True)
    record = _record(context, item_id)
    assert record.status == "failed" and record.attempts == 1
    assert "TD0.2" in (record.last_error or "") and "state closed" in (record.last_error or "")
    assert "279035121518989" not in (record.last_error or "")  # no health data in the error
    assert requests.get(sandbox.url + "/_sandbox/documents", timeout=10).json() == []
