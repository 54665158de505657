"""``$generate-cda`` (DocumentReference, CarePlan) and ``CarePlan/$produce-document``: CI-SIS N1 documents of the
demo data, validated by the ANS kit, and precise refusals."""

from __future__ import annotations

import base64
import copy
import hashlib
from functools import cache
from typing import Any

import pytest
from lxml import etree

from fhirserver.demo import build_demo_bundle

NS = {"h": "urn:hl7-org:v3"}
DOC = "ehpad-usager-010-document-1"
PATIENT = "ehpad-usager-010"
CARE_PLAN = "ehpad-usager-001-projet-personnalise"


@cache
def _demo() -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["resource"]["resourceType"], e["resource"]["id"]): e["resource"]
            for e in build_demo_bundle()["entry"]}


def demo(resource_type: str, res_id: str) -> dict[str, Any]:
    return copy.deepcopy(_demo()[(resource_type, res_id)])


def _load(fhir: Any, resources: list[dict[str, Any]]) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources]}
    resp = fhir.post("", bundle)
    assert resp.status_code == 200, resp.get_data(as_text=True)


def _staff() -> list[dict[str, Any]]:
    return [r for (t, _), r in _demo().items() if t in ("Practitioner", "PractitionerRole", "Location")
            and r["id"].startswith("ehpad")]


def load_document(fhir: Any, **changes: Any) -> dict[str, Any]:
    """The EHPAD, its staff, usager 002, her stay and one of her documents (``changes`` applied to it)."""
    doc = demo("DocumentReference", DOC)
    doc.update(changes)
    _load(fhir, [demo("Organization", "ehpad-les-tilleuls"), *_staff(), demo("Patient", PATIENT),
                 demo("Encounter", f"{PATIENT}-sejour"), doc])
    return doc


def load_care_plan(fhir: Any) -> dict[str, Any]:
    plan = demo("CarePlan", CARE_PLAN)
    goals = [demo("Goal", g["reference"].split("/")[1]) for g in plan["goal"]]
    for key in ("careTeam", "addresses", "supportingInfo", "contributor"):
        plan.pop(key)
    _load(fhir, [demo("Organization", "ehpad-les-tilleuls"), *_staff(), demo("Patient", "ehpad-usager-001"),
                 demo("Encounter", "ehpad-usager-001-sejour"), *goals, plan])
    return plan


def xp(data: bytes, path: str) -> list[Any]:
    return list(etree.fromstring(data).xpath(path, namespaces=NS))


def test_generate_cda_of_a_document_reference(fhir: Any, cda_validator: Any) -> None:
    """The N1 of a demo DocumentReference is application/xml, valid, and carries the usager's INS and the PDF."""
    doc = load_document(fhir)
    resp = fhir.post(f"DocumentReference/{DOC}/$generate-cda")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.content_type.startswith("application/xml")
    data = resp.get_data()
    report = cda_validator.validate(data)
    assert report.valid and not report.warnings, report.failures + report.warnings
    patient = demo("Patient", PATIENT)
    ins = next(i["value"] for i in patient["identifier"] if i["system"] == "urn:oid:1.2.250.1.213.1.4.10")
    assert xp(data, "//h:recordTarget/h:patientRole/h:id[@root='1.2.250.1.213.1.4.10']/@extension") == [ins]
    role = demo("PractitionerRole", doc["author"][0]["reference"].split("/")[1])
    author = demo("Practitioner", role["practitioner"]["reference"].split("/")[1])
    idnps = next(i["value"] for i in author["identifier"] if i["system"] == "urn:oid:1.2.250.1.71.4.2.1")
    assert xp(data, "//h:author//h:assignedAuthor/h:id/@extension") == [idnps]
    assert xp(data, "//h:custodian//h:id/@extension") == ["1690158811"]
    assert xp(data, "/h:ClinicalDocument/h:code/@code") == ["11488-4"]
    assert xp(data, "//h:healthCareFacility/h:code/@code") == ["SA17"]
    stay = demo("Encounter", f"{PATIENT}-sejour")
    assert xp(data, "//h:encompassingEncounter/h:code/@code") == ["IMP"]  # class NONAC (inpatient non-acute)
    assert xp(data, "//h:encompassingEncounter/h:effectiveTime/h:low/@value")[0][:8] == \
        stay["period"]["start"][:10].replace("-", "")
    assert xp(data, "//h:legalAuthenticator/h:assignedEntity/h:id/@extension") == [idnps]
    text = xp(data, "//h:nonXMLBody/h:text")[0]
    assert text.get("mediaType") == "application/pdf"
    assert base64.b64decode(text.text) == base64.b64decode(doc["content"][0]["attachment"]["data"])



def _qualified_demo() -> list[dict[str, Any]]:
    from fhirserver.identity.sharing import may_share_ins

    patients = {i for (t, i), r in _demo().items() if t == "Patient" and may_share_ins(r)}
    docs = [r for (t, _), r in _demo().items() if t == "DocumentReference"
            and r["subject"]["reference"].split("/")[1] in patients]
    wanted = {("Patient", p) for p in patients} | {("Encounter", f"{p}-sejour") for p in patients}
    return [r for k, r in _demo().items() if k in wanted or k[0] in ("Organization", "Practitioner",
                                                                    "PractitionerRole", "Location")] + docs


def test_every_demo_document_of_a_qualified_usager_passes_the_kit(fhir: Any, cda_validator: Any) -> None:
    """EHPAD and SSIAD documents (consultation, évaluation, PPA …) all give valid N1 documents; the SSIAD ones,
    without facilityType, get the facility code of their FINESS category."""
    resources = _qualified_demo()
    _load(fhir, copy.deepcopy(resources))
    docs = [r for r in resources if r["resourceType"] == "DocumentReference"]
    assert len(docs) >= 15
    facilities = set()
    for doc in docs:
        resp = fhir.post(f"DocumentReference/{doc['id']}/$generate-cda")
        assert resp.status_code == 200, (doc["id"], resp.get_data(as_text=True)[:2000])
        data = resp.get_data()
        assert xp(data, "/h:ClinicalDocument/h:code/@code") == [doc["type"]["coding"][0]["code"]]
        facilities.add((doc["id"].split("-")[0], xp(data, "//h:healthCareFacility/h:code/@code")[0]))
    assert facilities == {("ehpad", "SA17"), ("ssiad", "SA41")}


def test_authenticator_is_the_legal_authenticator(fhir: Any) -> None:
    """DocumentReference.authenticator, when given, is the CDA legalAuthenticator (else the first author)."""
    other = "ehpad-pro-003-role"
    load_document(fhir, authenticator={"reference": f"PractitionerRole/{other}"})
    data = fhir.post(f"DocumentReference/{DOC}/$generate-cda").get_data()
    practitioner = demo("Practitioner", demo("PractitionerRole", other)["practitioner"]["reference"].split("/")[1])
    idnps = next(i["value"] for i in practitioner["identifier"] if i["system"] == "urn:oid:1.2.250.1.71.4.2.1")
    assert xp(data, "//h:legalAuthenticator/h:assignedEntity/h:id/@extension") == [idnps]
    assert xp(data, "//h:legalAuthenticator/h:signatureCode/@code") == ["S"]


def test_practitioner_author_acts_in_its_role(fhir: Any, cda_validator: Any) -> None:
    """An author given as a Practitioner is found in its PractitionerRole: function code and organization."""
    role = demo("PractitionerRole", demo("DocumentReference", DOC)["author"][0]["reference"].split("/")[1])
    load_document(fhir, author=[role["practitioner"]])
    data = fhir.post(f"DocumentReference/{DOC}/$generate-cda").get_data()
    assert cda_validator.validate(data).valid
    assert xp(data, "//h:author/h:functionCode/@code") == [role["code"][0]["coding"][0]["code"]]
    assert xp(data, "//h:author//h:representedOrganization/h:id/@extension") == ["1690158811"]


def test_attachment_in_a_binary(fhir: Any, cda_validator: Any) -> None:
    """An attachment given by url Binary/x is read from the Binary."""
    pdf = base64.b64decode(demo("DocumentReference", DOC)["content"][0]["attachment"]["data"])
    doc = demo("DocumentReference", DOC)
    attachment = doc["content"][0]["attachment"]
    del attachment["data"]
    attachment["url"] = "Binary/pdf-1"
    _load(fhir, [{"resourceType": "Binary", "id": "pdf-1", "contentType": "application/pdf",
                  "data": base64.b64encode(pdf).decode()}])
    load_document(fhir, content=doc["content"])
    resp = fhir.post(f"DocumentReference/{DOC}/$generate-cda")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert base64.b64decode(xp(resp.get_data(), "//h:nonXMLBody/h:text/text()")[0]) == pdf


def _refused(fhir: Any, doc_id: str = DOC) -> dict[str, Any]:
    resp = fhir.post(f"DocumentReference/{doc_id}/$generate-cda")
    assert resp.status_code == 422, resp.get_data(as_text=True)
    return resp.get_json()


def test_identity_not_qualified_is_refused(fhir: Any) -> None:
    """The INS of a provisional identity never leaves: 422 business-rule on Patient.identifier."""
    load_document(fhir)
    patient = demo("Patient", PATIENT)
    patient["extension"] = [e for e in patient["extension"] if not e["url"].endswith("identity-reliability")]
    del patient["meta"]  # no fr-core-patient-ins claim on a provisional identity
    _load(fhir, [patient])
    issue = _refused(fhir)["issue"][0]
    assert issue["code"] == "business-rule" and issue["expression"] == ["Patient.identifier"]
    assert "provisoire" in issue["diagnostics"]


def test_author_without_idnps_is_refused(fhir: Any) -> None:
    """An author whose Practitioner has no IDNPS / RPPS / ADELI: 422 naming DocumentReference.author[0]."""
    doc = load_document(fhir)
    role = demo("PractitionerRole", doc["author"][0]["reference"].split("/")[1])
    practitioner = demo("Practitioner", role["practitioner"]["reference"].split("/")[1])
    practitioner["identifier"] = [i for i in practitioner["identifier"] if "personnel" in i["system"]]
    _load(fhir, [practitioner])
    issue = _refused(fhir)["issue"][0]
    assert issue["expression"] == ["DocumentReference.author[0]"]
    assert "IDNPS" in issue["diagnostics"]


@pytest.mark.parametrize(("change", "element", "words"), [
    ({"custodian": None}, "DocumentReference.custodian", "required"),
    ({"content": [{"attachment": {"contentType": "application/pdf", "title": "vide"}}]},
     "DocumentReference.content[0].attachment.data", "neither data nor a url"),
    ({"content": [{"attachment": {"contentType": "image/png", "data": base64.b64encode(b"\x89PNG").decode()}}]},
     "DocumentReference.content[0].attachment", "image/png"),
    ({"content": [{"attachment": {"contentType": "application/pdf", "data": base64.b64encode(b"%PDF-1").decode(),
                                  "hash": base64.b64encode(hashlib.sha1(b"other").digest()).decode()}}]},
     "DocumentReference.content[0].attachment.hash", "hash"),
    ({"author": None}, "DocumentReference.author", "required"),
])
def test_missing_data_is_refused_precisely(fhir: Any, change: dict[str, Any], element: str, words: str) -> None:
    """Missing custodian or author, no usable attachment, a wrong hash: 422 naming the element."""
    doc = demo("DocumentReference", DOC)
    for key, value in change.items():
        if value is None:
            doc.pop(key)
        else:
            doc[key] = value
    _load(fhir, [demo("Organization", "ehpad-les-tilleuls"), *_staff(), demo("Patient", PATIENT),
                 demo("Encounter", f"{PATIENT}-sejour"), doc])
    issue = _refused(fhir)["issue"][0]
    assert issue["expression"] == [element]
    assert words in issue["diagnostics"]


def test_kit_failures_are_listed(fhir: Any) -> None:
    """A type code outside JDV_J07 fails the schematron: 422 whose issues list each failed assertion."""
    load_document(fhir, type={"coding": [{"system": "http://loinc.org", "code": "99999-9", "display": "Inconnu"}]})
    outcome = _refused(fhir)
    errors = [i for i in outcome["issue"] if i["severity"] == "error"]
    assert errors and all(i["diagnostics"].startswith("[") for i in errors)
    assert any("structuration-minimale" in i["diagnostics"] and "/ClinicalDocument/code" in i["diagnostics"]
               for i in errors)


def test_no_kit_is_503(fhir: Any, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a validator nothing is produced: 503 naming the [cda] kit_dir setting."""
    load_document(fhir)
    monkeypatch.setattr(context.services, "cda_validator", None)
    resp = fhir.post(f"DocumentReference/{DOC}/$generate-cda")
    assert resp.status_code == 503
    assert "[cda] kit_dir" in resp.get_json()["issue"][0]["diagnostics"]


def test_unknown_document_is_404(fhir: Any) -> None:
    """$generate-cda of a DocumentReference that does not exist is 404."""
    assert fhir.post("DocumentReference/nope/$generate-cda").status_code == 404


def test_replacement_and_confidentiality(fhir: Any, cda_validator: Any) -> None:
    """A DocumentReference that replaces another: RPLC with the parent's id, same setId, version 2; its
    securityLabel R is the confidentialityCode."""
    first = load_document(fhir)
    second = copy.deepcopy(first)
    second.update(id=f"{DOC}-v2", masterIdentifier={"system": "urn:ietf:rfc:3986",
                                                     "value": "urn:uuid:0f5e6a3c-4c44-4c1e-9d36-3c0d5d8f0a11"},
                  relatesTo=[{"code": "replaces", "target": {"reference": f"DocumentReference/{DOC}"}}],
                  securityLabel=[{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                                              "code": "R"}]}])
    _load(fhir, [second])
    parent = fhir.post(f"DocumentReference/{DOC}/$generate-cda").get_data()
    resp = fhir.post(f"DocumentReference/{DOC}-v2/$generate-cda")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    child = resp.get_data()
    assert cda_validator.validate(child).valid
    assert xp(child, "//h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id/@root") == \
        xp(parent, "/h:ClinicalDocument/h:id/@root")
    assert xp(child, "/h:ClinicalDocument/h:setId/@root") == xp(parent, "/h:ClinicalDocument/h:setId/@root")
    assert xp(child, "/h:ClinicalDocument/h:versionNumber/@value") == ["2"]
    assert xp(child, "/h:ClinicalDocument/h:id/@root") == [f"2.25.{0x0f5e6a3c4c444c1e9d363c0d5d8f0a11}"]
    assert xp(child, "/h:ClinicalDocument/h:confidentialityCode/@code") == ["R"]
    assert not xp(parent, "//h:relatedDocument")


def test_care_plan_generate_cda(fhir: Any, cda_validator: Any) -> None:
    """The PPA N1 of a CarePlan: type 80788-3, the rendered PDF, author and custodian from the plan."""
    plan = load_care_plan(fhir)
    resp = fhir.post(f"CarePlan/{CARE_PLAN}/$generate-cda")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_data()
    assert cda_validator.validate(data).valid
    assert xp(data, "/h:ClinicalDocument/h:code/@code") == ["80788-3"]
    practitioner = demo("Practitioner", plan["author"]["reference"].split("/")[1])
    idnps = next(i["value"] for i in practitioner["identifier"] if i["system"] == "urn:oid:1.2.250.1.71.4.2.1")
    assert xp(data, "//h:author//h:assignedAuthor/h:id/@extension") == [idnps]
    assert xp(data, "//h:custodian//h:id/@extension") == ["1690158811"]
    pdf = base64.b64decode(xp(data, "//h:nonXMLBody/h:text/text()")[0])
    assert pdf.startswith(b"%PDF-")
    assert fhir.post(f"CarePlan/{CARE_PLAN}/$generate-cda").get_data() == data  # deterministic


def test_produce_document(fhir: Any, cda_validator: Any) -> None:
    """$produce-document stores the PPA DocumentReference once per CarePlan version; its N1 is the CarePlan's;
    a new CarePlan version gives a document that replaces the previous one."""
    plan = load_care_plan(fhir)
    resp = fhir.post(f"CarePlan/{CARE_PLAN}/$produce-document")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    doc = resp.get_json()
    attachment = doc["content"][0]["attachment"]
    pdf = base64.b64decode(attachment["data"])
    assert attachment["size"] == len(pdf) and attachment["hash"] == base64.b64encode(
        hashlib.sha1(pdf).digest()).decode()
    assert doc["type"]["coding"][0]["code"] == "80788-3"
    assert doc["context"]["related"] == [{"reference": f"CarePlan/{CARE_PLAN}"}]
    assert doc["author"] == [plan["author"]]
    assert doc["custodian"]["reference"] == "Organization/ehpad-les-tilleuls"
    again = fhir.post(f"CarePlan/{CARE_PLAN}/$produce-document")
    assert again.status_code == 200 and again.get_json()["id"] == doc["id"]
    from_doc = fhir.post(f"DocumentReference/{doc['id']}/$generate-cda").get_data()
    from_plan = fhir.post(f"CarePlan/{CARE_PLAN}/$generate-cda").get_data()
    assert cda_validator.validate(from_doc).valid
    assert xp(from_doc, "/h:ClinicalDocument/h:id/@root") == xp(from_plan, "/h:ClinicalDocument/h:id/@root")
    assert base64.b64decode(xp(from_doc, "//h:nonXMLBody/h:text/text()")[0]) == pdf
    plan["title"] = "Projet personnalisé révisé"
    assert fhir.put(f"CarePlan/{CARE_PLAN}", plan).status_code == 200
    newer = fhir.post(f"CarePlan/{CARE_PLAN}/$produce-document")
    assert newer.status_code == 201, newer.get_data(as_text=True)
    assert newer.get_json()["relatesTo"] == [{"code": "replaces",
                                              "target": {"reference": f"DocumentReference/{doc['id']}"}}]
    replaced = fhir.post(f"DocumentReference/{newer.get_json()['id']}/$generate-cda").get_data()
    assert xp(replaced, "//h:relatedDocument/h:parentDocument/h:id/@root") == \
        xp(from_doc, "/h:ClinicalDocument/h:id/@root")
