"""``$send-mssante`` end to end: queued per recipient, delivered by the worker with the MSSanté deliverer to a real
SMTP server (aiosmtpd), one message per recipient, the status on the DocumentReference per recipient."""

from __future__ import annotations

from typing import Any

from fhirserver.integrations.mssante.service import MssanteService
from fhirserver.integrations.outbox import status
from fhirserver.integrations.outbox.worker import Worker
from tests.integrations.mssante.conftest import OURS, SmtpServer
from tests.integrations.outbox.documents import DEMO_DOC, load_demo_document

DOCTOR = "dr.martin@hopital-test.mssante.fr"


def test_send_mssante_end_to_end(fhir: Any, context: Any, smtp_server: SmtpServer) -> None:
    """Two recipients, two messages carrying the document's XDM; a second call sends nothing more."""
    load_demo_document(fhir)
    patient_box = next(i["value"] for i in fhir.get("Patient/ehpad-usager-010").get_json()["identifier"]
                       if i["system"] == "urn:oid:1.2.250.1.213.1.4.10") + "@patient.mssante.fr"
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "recipient", "valueString": DOCTOR}, {"name": "recipient", "valueString": patient_box},
        {"name": "notificationTo", "valueString": OURS}]}
    resp = fhir.post(f"DocumentReference/{DEMO_DOC}/$send-mssante", params)
    assert resp.status_code == 202, resp.get_json()
    settings = context.settings.with_overrides(
        mssante_sender=OURS, mssante_smtp_host=smtp_server.host, mssante_smtp_port=smtp_server.port,
        mssante_smtp_starttls=False, mssante_smtp_username="")
    stats = Worker(context, {"mssante": MssanteService(settings).deliverer()}, kinds=["mssante"]).run(once=True)
    assert stats.delivered == 2
    assert sorted(r for m in smtp_server.received for r in m.recipients) == sorted([DOCTOR, patient_box])
    for message in smtp_server.received:
        names = [p.get_filename() for p in message.message.iter_attachments()]
        assert "IHE_XDM.ZIP" in names
        assert message.message["Disposition-Notification-To"] == OURS
    stored = fhir.get(f"DocumentReference/{DEMO_DOC}").get_json()
    assert sorted((d["kind"], d["status"], d["target"]) for d in status.deliveries(stored)) == [
        ("mssante", "delivered", patient_box), ("mssante", "delivered", DOCTOR)]
    audits = fhir.search("AuditEvent")
    assert sorted(a["agent"][1]["who"]["display"] for a in audits) == sorted([DOCTOR, patient_box])
    assert {a["subtype"][0]["code"] for a in audits} == {"ITI-32"}
    again = fhir.post(f"DocumentReference/{DEMO_DOC}/$send-mssante", params)
    assert again.status_code == 200
    Worker(context, {"mssante": MssanteService(settings).deliverer()}, kinds=["mssante"]).run(once=True)
    assert len(smtp_server.received) == 2


def test_notification_address_is_checked(fhir: Any, context: Any) -> None:
    """notificationTo must be an address."""
    load_demo_document(fhir)
    resp = fhir.post(f"DocumentReference/{DEMO_DOC}/$send-mssante", {"resourceType": "Parameters", "parameter": [
        {"name": "recipient", "valueString": DOCTOR}, {"name": "notificationTo", "valueString": "me"}]})
    assert resp.status_code == 400 and resp.get_json()["issue"][0]["expression"] == ["notificationTo"]
