"""``$send-to-dmp`` / ``$send-mssante``: checks before queueing, one item per document version, status reports."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import func, select

from fhirserver.app import create_app
from fhirserver.integrations.outbox import store
from fhirserver.integrations.outbox.worker import Worker
from fhirserver.storage.sql.schema import outbox
from mappings.cda.model import Code, Identifier
from tests.conftest import FhirClient
from tests.integrations.outbox.documents import (
    DEMO_DOC,
    cda_bytes,
    cda_document_reference,
    changed,
    load_demo_document,
    provisional_patient,
    qualified_patient,
)
from tests.integrations.outbox.helpers import ScriptedDeliverer, record_of
from tests.mappings import PATIENT


def out(resp: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for p in resp.get_json()["parameter"]:
        value = next((v for k, v in p.items() if k.startswith("value") or k == "part"), None)
        params.setdefault(p["name"], value) if p["name"] != "delivery" else params.setdefault(
            "delivery", []).append(value)
    return params


def rows(ctx: Any) -> list[store.OutboxRecord]:
    with ctx.repo.engine.connect() as conn:
        ids = conn.execute(select(outbox.c.id).order_by(outbox.c.id)).scalars().all()
        return [r for r in (store.get(conn, i) for i in ids) if r is not None]


@pytest.fixture()
def usager(fhir: FhirClient) -> dict[str, Any]:
    resp = fhir.put("Patient/p1", qualified_patient())
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def put_doc(fhir: FhirClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = fhir.put(f"DocumentReference/{body['id']}", body)
    assert resp.status_code in (200, 201), resp.get_json()
    return resp.get_json()


def test_send_to_dmp_queues_the_validated_document(fhir: FhirClient, context: Any, usager: Any) -> None:
    """The CDA attachment passes the ANS kit and is queued with its XDS metadata: 202, status queued."""
    cda = cda_bytes()
    put_doc(fhir, cda_document_reference("d1", cda, labels=("INVISIBLE_PATIENT", "MASQUE_PS")))
    resp = fhir.post("DocumentReference/d1/$send-to-dmp")
    assert resp.status_code == 202, resp.get_json()
    result = out(resp)
    assert (result["status"], result["queued"], result["uniqueId"]) == ("queued", True, "1.2.250.1.213.1.1.9.1")
    assert (result["attempts"], result["documentVersion"]) == (0, "1")
    [item] = rows(context)
    assert (item.kind, item.target, item.document_id, item.status) == ("dmp", "", "d1", "pending")
    assert item.metadata["visibility"] == ["MASQUE_PS", "INVISIBLE_PATIENT"]
    assert item.metadata["patient_id"] == "240062123191008^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert item.metadata["xds"]["format_code"] == "urn:ihe:iti:xds-sd:pdf:2008"
    assert item.metadata["replaces"] is None
    with context.repo.engine.connect() as conn:
        payload = conn.execute(select(outbox.c.payload)).scalar_one()
    assert bytes(payload) == cda


def test_a_second_call_does_not_queue_twice(fhir: FhirClient, context: Any, usager: Any) -> None:
    """Calling again for the same document version answers the existing state (200), no second item."""
    put_doc(fhir, cda_document_reference("d2", cda_bytes()))
    assert fhir.post("DocumentReference/d2/$send-to-dmp").status_code == 202
    again = fhir.post("DocumentReference/d2/$send-to-dmp")
    assert again.status_code == 200 and out(again)["queued"] is False and out(again)["status"] == "queued"
    assert len(rows(context)) == 1


def test_status_after_delivery_and_no_resend_of_the_status_version(fhir: FhirClient, context: Any,
                                                                      usager: Any) -> None:
    """The worker's status version of the DocumentReference is not a new document: a new call reports delivered."""
    put_doc(fhir, cda_document_reference("d3", cda_bytes()))
    fhir.post("DocumentReference/d3/$send-to-dmp")
    Worker(context, {"dmp": ScriptedDeliverer()}).run(once=True)
    assert fhir.get("DocumentReference/d3").get_json()["meta"]["versionId"] == "2"
    again = fhir.post("DocumentReference/d3/$send-to-dmp")
    assert again.status_code == 200
    result = out(again)
    assert result["status"] == "delivered" and "deliveredAt" in result and result["documentVersion"] == "1"
    status = fhir.get("DocumentReference/d3/$dmp-status")
    assert status.status_code == 200 and out(status)["status"] == "delivered" and len(out(status)["delivery"]) == 1
    also = fhir.post("DocumentReference/d3/$send-to-dmp?status=true")
    assert out(also)["status"] == "delivered"
    assert len(rows(context)) == 1


def test_status_of_a_document_never_sent(fhir: FhirClient, usager: Any) -> None:
    """A document never queued reports not-sent."""
    put_doc(fhir, cda_document_reference("d4", cda_bytes()))
    resp = fhir.get("DocumentReference/d4/$dmp-status")
    assert resp.status_code == 200 and out(resp)["status"] == "not-sent"
    assert fhir.get("DocumentReference/nope/$dmp-status").status_code == 404
    assert fhir.post("DocumentReference/nope/$send-to-dmp").status_code == 404


def test_invalid_cda_is_refused_with_the_failed_assertions(fhir: FhirClient, context: Any, usager: Any) -> None:
    """A CDA failing the ANS kit is a 422 listing what failed; nothing is queued."""
    bad = cda_bytes().replace(b"<title>", b"<titre>").replace(b"</title>", b"</titre>")
    put_doc(fhir, cda_document_reference("d5", bad))
    resp = fhir.post("DocumentReference/d5/$send-to-dmp")
    assert resp.status_code == 422
    issues = resp.get_json()["issue"]
    assert any(i["diagnostics"].startswith("[xsd]") and "titre" in i["diagnostics"] for i in issues)
    assert rows(context) == []


def test_schematron_failure_is_listed(fhir: FhirClient, context: Any, usager: Any) -> None:
    """A structurally valid CDA breaking a CI-SIS rule (a type code outside JDV_J07) is refused by the schematron."""
    unknown_type = Code("99999-9", "2.16.840.1.113883.6.1", "Rien", "LOINC")
    put_doc(fhir, cda_document_reference("d6", cda_bytes(code=unknown_type)))
    resp = fhir.post("DocumentReference/d6/$send-to-dmp")
    assert resp.status_code == 422
    diagnostics = [i["diagnostics"] for i in resp.get_json()["issue"] if i["severity"] == "error"]
    assert any(d.startswith("[structuration-minimale]") and "value set" in d for d in diagnostics)
    assert rows(context) == []


def test_no_validator_is_503(context: Any, usager: Any, fhir: FhirClient) -> None:
    """Without the ANS kit nothing is sent: 503 naming the setting."""
    put_doc(fhir, cda_document_reference("d7", cda_bytes()))
    bare = dataclasses.replace(context, services=dataclasses.replace(context.services, cda_validator=None))
    app = create_app(context.settings, context=bare)
    resp = FhirClient(app.test_client()).post("DocumentReference/d7/$send-to-dmp")
    assert resp.status_code == 503 and "kit_dir" in resp.get_json()["issue"][0]["diagnostics"]
    assert rows(context) == []


def test_identity_must_be_qualified(fhir: FhirClient, context: Any) -> None:
    """A provisional identity cannot feed the DMP (its INS may not be transmitted)."""
    assert fhir.put("Patient/p2", provisional_patient("p2")).status_code == 201
    put_doc(fhir, cda_document_reference("d8", cda_bytes(), patient="p2"))
    resp = fhir.post("DocumentReference/d8/$send-to-dmp")
    assert resp.status_code == 422
    issue = resp.get_json()["issue"][0]
    assert issue["code"] == "business-rule" and "qualified" in issue["diagnostics"]
    assert rows(context) == []


def test_subject_is_required(fhir: FhirClient, context: Any) -> None:
    """Without a subject Patient there is no usager to send for."""
    body = cda_document_reference("d9", cda_bytes())
    del body["subject"]
    put_doc(fhir, body)
    resp = fhir.post("DocumentReference/d9/$send-to-dmp")
    assert resp.status_code == 422 and resp.get_json()["issue"][0]["expression"] == ["DocumentReference.subject"]


def test_cda_of_another_patient_is_refused(fhir: FhirClient, context: Any, usager: Any) -> None:
    """The CDA's recordTarget INS must be the subject's INS."""
    other = dataclasses.replace(PATIENT, ids=(Identifier("1.2.250.1.213.1.4.10", "185126203450342"),))
    put_doc(fhir, cda_document_reference("d10", cda_bytes(patient=other)))
    resp = fhir.post("DocumentReference/d10/$send-to-dmp")
    assert resp.status_code == 422 and "recordTarget" in resp.get_json()["issue"][0]["diagnostics"]
    assert rows(context) == []


def test_non_cda_attachment_without_generator_is_refused(fhir: FhirClient, context: Any, usager: Any) -> None:
    """A file that is not a CDA document needs the N1 generator; without it the call says so."""
    body = cda_document_reference("d11", b"")
    body["content"] = [{"attachment": {"contentType": "text/xml", "data": base64.b64encode(b"<note/>").decode()}}]
    put_doc(fhir, body)
    resp = fhir.post("DocumentReference/d11/$send-to-dmp")
    assert resp.status_code == 422 and "not a CDA R2 ClinicalDocument" in resp.get_json()["issue"][0]["diagnostics"]


def test_changed_document_must_replace_the_delivered_one(fhir: FhirClient, context: Any, usager: Any) -> None:
    """After a change: refused while the first is being sent (409), then the new CDA must carry RPLC."""
    first = put_doc(fhir, cda_document_reference("d12", cda_bytes("1.2.250.1.213.1.1.9.12")))
    fhir.post("DocumentReference/d12/$send-to-dmp")
    put_doc(fhir, changed(first, cda_bytes("1.2.250.1.213.1.1.9.13", version=2)))
    busy = fhir.post("DocumentReference/d12/$send-to-dmp")
    assert busy.status_code == 409
    Worker(context, {"dmp": ScriptedDeliverer()}).run(once=True)
    no_rplc = fhir.post("DocumentReference/d12/$send-to-dmp")
    assert no_rplc.status_code == 422 and "RPLC" in no_rplc.get_json()["issue"][0]["diagnostics"]
    current = fhir.get("DocumentReference/d12").get_json()
    put_doc(fhir, changed(current, cda_bytes("1.2.250.1.213.1.1.9.13", version=2,
                                             replaces="1.2.250.1.213.1.1.9.12")))
    replaced = fhir.post("DocumentReference/d12/$send-to-dmp")
    assert replaced.status_code == 202, replaced.get_json()
    assert out(replaced)["replaces"] == "1.2.250.1.213.1.1.9.12"
    assert [(r.unique_id, r.status) for r in rows(context)] == [
        ("1.2.250.1.213.1.1.9.12", "delivered"), ("1.2.250.1.213.1.1.9.13", "pending")]


def test_failed_item_is_queued_again_by_a_new_call(fhir: FhirClient, context: Any, usager: Any) -> None:
    """After a final failure a new call queues the same document again, attempts from zero."""
    put_doc(fhir, cda_document_reference("d13", cda_bytes()))
    fhir.post("DocumentReference/d13/$send-to-dmp")
    Worker(context, {"dmp": ScriptedDeliverer("permanent")}).run(once=True)
    assert out(fhir.get("DocumentReference/d13/$dmp-status"))["status"] == "failed"
    again = fhir.post("DocumentReference/d13/$send-to-dmp")
    assert again.status_code == 202 and out(again)["attempts"] == 0
    [item] = rows(context)
    assert (item.status, item.status_recorded) == ("pending", False)
    Worker(context, {"dmp": ScriptedDeliverer()}).run(once=True)
    assert record_of(context, item.id).status == "delivered"


def test_failure_in_the_operation_transaction_rolls_the_item_back(fhir: FhirClient, context: Any,
                                                                     usager: Any) -> None:
    """A failing transaction Bundle holding $send-to-dmp leaves no outbox item (same database transaction)."""
    put_doc(fhir, cda_document_reference("d14", cda_bytes()))
    broken = qualified_patient("p9")
    broken["identifier"][0]["value"] = "240062123191099"  # wrong NIR key: this entry fails
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "DocumentReference/d14/$send-to-dmp"},
         "resource": {"resourceType": "Parameters"}},
        {"request": {"method": "PUT", "url": "Patient/p9"}, "resource": broken},
    ]}
    resp = fhir.post("", bundle)
    assert resp.status_code in (400, 422), resp.get_json()
    with context.repo.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0
    ok = {**bundle, "entry": bundle["entry"][:1]}
    assert fhir.post("", ok).status_code == 200
    assert len(rows(context)) == 1


def test_send_mssante_one_item_per_recipient(fhir: FhirClient, context: Any, usager: Any) -> None:
    """Each recipient gets its own item; the recipient is required and must be an address."""
    put_doc(fhir, cda_document_reference("d15", cda_bytes()))
    assert fhir.post("DocumentReference/d15/$send-mssante").status_code == 400
    bad = fhir.post("DocumentReference/d15/$send-mssante", {"resourceType": "Parameters", "parameter": [
        {"name": "recipient", "valueString": "not an address"}]})
    assert bad.status_code == 400 and bad.get_json()["issue"][0]["expression"] == ["recipient"]
    two = {"resourceType": "Parameters", "parameter": [
        {"name": "recipient", "valueString": "dr.martin@hopital.mssante.fr"},
        {"name": "recipient", "valueString": "240062123191008@patient.mssante.fr"}]}
    resp = fhir.post("DocumentReference/d15/$send-mssante", two)
    assert resp.status_code == 202
    assert [d[0]["valueCode"] for d in out(resp)["delivery"]] == ["queued", "queued"]
    assert sorted(r.target for r in rows(context)) == ["240062123191008@patient.mssante.fr",
                                                       "dr.martin@hopital.mssante.fr"]
    assert all(r.kind == "mssante" and r.metadata["recipient"] == r.target for r in rows(context))
    assert fhir.post("DocumentReference/d15/$send-mssante", two).status_code == 200
    assert out(fhir.get("DocumentReference/d15/$mssante-status"))["status"] == "queued"
    assert out(fhir.get("DocumentReference/d15/$dmp-status"))["status"] == "not-sent"




def test_pdf_document_is_sent_as_a_generated_n1(fhir: FhirClient, context: Any) -> None:
    """A PDF DocumentReference is sent as its N1 document; once delivered, its masterIdentifier is the uniqueId
    and $generate-cda gives the document the same id."""
    load_demo_document(fhir, master_identifier=False)
    resp = fhir.post(f"DocumentReference/{DEMO_DOC}/$send-to-dmp")
    assert resp.status_code == 202, resp.get_json()
    [item] = rows(context)
    with context.repo.engine.connect() as conn:
        payload = bytes(conn.execute(select(outbox.c.payload)).scalar_one())
    root = etree.fromstring(payload)
    assert root.find("{urn:hl7-org:v3}id").get("root") == item.unique_id == out(resp)["uniqueId"]
    assert root.find(".//{urn:hl7-org:v3}nonXMLBody/{urn:hl7-org:v3}text").get("mediaType") == "application/pdf"
    assert context.services.cda_validator.validate(payload).valid
    Worker(context, {"dmp": ScriptedDeliverer()}).run(once=True)
    doc = fhir.get(f"DocumentReference/{DEMO_DOC}").get_json()
    assert doc["masterIdentifier"] == {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{item.unique_id}"}
    again = fhir.post(f"DocumentReference/{DEMO_DOC}/$generate-cda")
    assert etree.fromstring(again.get_data()).find("{urn:hl7-org:v3}id").get("root") == item.unique_id
    assert out(fhir.post(f"DocumentReference/{DEMO_DOC}/$send-to-dmp"))["status"] == "delivered"
    assert len(rows(context)) == 1


def test_changed_n1_source_is_refused_once_sent(fhir: FhirClient, context: Any) -> None:
    """Changing the file of a sent DocumentReference keeps its document id: refused, a new DocumentReference
    must replace it."""
    doc = load_demo_document(fhir)
    fhir.post(f"DocumentReference/{DEMO_DOC}/$send-to-dmp")
    Worker(context, {"dmp": ScriptedDeliverer()}).run(once=True)
    current = fhir.get(f"DocumentReference/{DEMO_DOC}").get_json()
    current["content"][0]["attachment"]["data"] = base64.b64encode(b"%PDF-1.4\n% new version\n").decode()
    current["content"][0]["attachment"].pop("hash", None)
    current["content"][0]["attachment"].pop("size", None)
    assert fhir.put(f"DocumentReference/{DEMO_DOC}", current).status_code == 200
    resp = fhir.post(f"DocumentReference/{DEMO_DOC}/$send-to-dmp")
    assert resp.status_code == 422, resp.get_json()
    assert "relatesTo replaces" in resp.get_json()["issue"][0]["diagnostics"]
    assert doc["id"] == DEMO_DOC and len(rows(context)) == 1


def test_only_a_current_document_is_sent(fhir: FhirClient, context: Any, usager: Any) -> None:
    """A DocumentReference entered in error (or superseded) is not sent."""
    body = cda_document_reference("d16", cda_bytes())
    body["status"] = "entered-in-error"
    put_doc(fhir, body)
    resp = fhir.post("DocumentReference/d16/$send-to-dmp")
    assert resp.status_code == 422 and resp.get_json()["issue"][0]["expression"] == ["DocumentReference.status"]
    assert rows(context) == []
