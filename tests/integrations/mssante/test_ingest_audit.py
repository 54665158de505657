"""The MSSanté ingest reads and stores through the in-process client as the system principal ``dui mss ingest``:
its searches and its transaction's writes are audited with the component as the requesting application."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fhirserver.integrations.mssante.inbox import MaildirInbox
from fhirserver.integrations.mssante.ingest import COMPONENT
from fhirserver.integrations.mssante.service import MssanteService
from fhirserver.interactions.context import FhirRequest
from fhirserver.interactions.router import handle
from tests.conftest import FhirClient
from tests.integrations.mssante.conftest import SmtpServer
from tests.integrations.mssante.test_ingest import N1, dominique, drop, message_for


def test_the_ingest_is_audited_as_its_component(fhir: FhirClient, context: Any, service: MssanteService,
                                                tmp_path: Path, smtp_server: SmtpServer) -> None:
    patient = fhir.create(dominique())
    inbox = MaildirInbox(tmp_path / "maildir")
    drop(inbox, "1.msg", message_for(N1))
    stats = service.ingest(context, inbox)
    assert stats.stored == 1
    resp = handle(FhirRequest("GET", "AuditEvent", params=[("type", "rest"), ("agent-name", COMPONENT),
                                                           ("_count", "100")]), context)
    assert resp.status == 200
    events = [e["resource"] for e in resp.resource.get("entry", [])]
    kinds = sorted(e["subtype"][0]["code"] for e in events)
    assert "search-type" in kinds and "create" in kinds and "update" in kinds, kinds
    for event in events:
        [agent] = event["agent"]
        assert agent["name"] == COMPONENT and agent["who"]["identifier"]["value"] == "dui-system"
        assert agent["requestor"] is True
    created = [e for e in events if e["subtype"][0]["code"] == "create"]
    patients = {x["what"]["reference"] for e in created for x in e["entity"] if x["role"]["code"] == "1"}
    assert patients == {f"Patient/{patient['id']}"}
