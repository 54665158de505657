"""``Patient/{id}/$dlu``: the DLU-EHPAD and the FLUDT of a demo usager, validated by the ANS kit, with the record's
values in the document, and precise refusals."""

from __future__ import annotations

import base64
import copy
from functools import cache
from typing import Any

import pytest
from lxml import etree

from fhirserver.demo import build_demo_bundle
from fhirserver.documents.dlu import PREFERRED_FACILITY_URL
from fhirserver.identity.sharing import may_share_ins

NS = {"h": "urn:hl7-org:v3"}
SNOMED = "http://snomed.info/sct"
DATE = "2026-09-30T15:35:00+02:00"


@cache
def _demo() -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["resource"]["resourceType"], e["resource"]["id"]): e["resource"]
            for e in build_demo_bundle()["entry"]}


def _subject(resource: dict[str, Any]) -> str | None:
    ref = (resource.get("subject") or resource.get("patient") or {}).get("reference")
    return ref.split("/")[1] if isinstance(ref, str) and ref.startswith("Patient/") else None


@cache
def usager() -> str:
    """A qualified EHPAD usager with an allergy in the demo data."""
    allergic = {_subject(r) for (t, _), r in _demo().items() if t == "AllergyIntolerance"}
    return next(i for (t, i), r in sorted(_demo().items()) if t == "Patient" and i.startswith("ehpad")
                and may_share_ins(r) and i in allergic)


def record(patient_id: str) -> list[dict[str, Any]]:
    shared = [r for (t, i), r in _demo().items() if t in ("Organization", "Practitioner", "PractitionerRole",
                                                         "Location") and (t == "Organization" or
                                                                          i.startswith("ehpad"))]
    own = [r for (t, i), r in _demo().items() if i == patient_id or _subject(r) == patient_id]
    own = [r for r in own if r["resourceType"] not in ("CarePlan", "Goal", "CareTeam", "Consent")]
    return copy.deepcopy(shared + own)


HOSPITAL = {"resourceType": "Organization", "id": "chu-lyon", "name": "Hôpital Édouard Herriot",
            "identifier": [{"system": "https://finess.esante.gouv.fr", "value": "690781810"}],
            "address": [{"line": ["5 place d'Arsonval"], "postalCode": "69003", "city": "Lyon"}]}
GP = {"resourceType": "Practitioner", "id": "gp-lyon", "name": [{"family": "Bérard", "given": ["Jérôme"],
                                                                  "suffix": ["Dr"]}],
      "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810100000016"}]}


def extras(patient_id: str) -> list[dict[str, Any]]:
    ref = {"reference": f"Patient/{patient_id}"}
    return [
        HOSPITAL, GP,
        {"resourceType": "Observation", "id": f"{patient_id}-desoriente", "status": "final", "subject": ref,
         "code": {"coding": [{"system": SNOMED, "code": "62476001"}]}, "effectiveDateTime": "2026-09-29",
         "valueBoolean": True},
        {"resourceType": "Observation", "id": f"{patient_id}-pain", "status": "final", "subject": ref,
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "R52.9"}]},
         "effectiveDateTime": "2026-09-30T14:00:00+02:00", "valueBoolean": True,
         "bodySite": {"coding": [{"system": SNOMED, "code": "29836001"}], "text": "Hanche gauche"}},
        {"resourceType": "Observation", "id": f"{patient_id}-old-pain", "status": "final", "subject": ref,
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "R52.9"}]},
         "effectiveDateTime": "2026-03-01T14:00:00+01:00", "valueBoolean": True,
         "bodySite": {"text": "Épaule droite"}},
    ]


def load(fhir: Any, patient_id: str, *, extra: bool = True) -> dict[str, Any]:
    resources = record(patient_id)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    if extra:
        resources += extras(patient_id)
        patient["generalPractitioner"] = [{"reference": "Practitioner/gp-lyon"}]
        patient.setdefault("extension", []).append({"url": PREFERRED_FACILITY_URL,
                                                   "valueReference": {"reference": "Organization/chu-lyon"}})
    order = {"Organization": 0, "Practitioner": 1, "PractitionerRole": 2, "Location": 3, "Patient": 4}
    resources.sort(key=lambda r: order.get(r["resourceType"], 9))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources]}
    resp = fhir.post("", bundle)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:3000]
    return patient


def params(**values: Any) -> dict[str, Any]:
    out = []
    for name, value in values.items():
        key = "valueReference" if isinstance(value, dict) else ("valueDateTime" if "T" in str(value)
                                                                 and name != "comment" else "valueString")
        out.append({"name": name, key: value})
    return {"resourceType": "Parameters", "parameter": out}


def xp(data: bytes, path: str) -> list[Any]:
    return etree.fromstring(data).xpath(path, namespaces=NS)  # type: ignore[no-any-return]


def test_dlu_of_a_demo_usager(fhir: Any, cda_validator: Any) -> None:
    """The DLU is application/xml, passes the kit, and carries the usager's allergies, treatments, GIR, médecin
    traitant, preferred facility and personne de confiance."""
    patient_id = usager()
    load(fhir, patient_id)
    resp = fhir.post(f"Patient/{patient_id}/$dlu", params(date=DATE, comment="Appeler sa fille avant 20 h."))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:3000]
    assert resp.content_type.startswith("application/xml")
    data = resp.get_data()
    report = cda_validator.validate(data)
    assert report.valid, report.failures
    assert report.schematrons == ("structuration-minimale", "DLU-EHPAD-DLU")
    demo = _demo()
    allergies = [r for (t, _), r in demo.items() if t == "AllergyIntolerance" and _subject(r) == patient_id]
    agents = xp(data, "//h:section[h:code/@code='48765-2']//h:playingEntity/h:code/@code")
    assert agents == [a["code"]["coding"][0]["code"] for a in allergies]
    treatments = [r for (t, _), r in demo.items() if t == "MedicationStatement" and _subject(r) == patient_id]
    names = xp(data, "//h:section[h:code/@code='10160-0']//h:manufacturedMaterial/h:name/text()")
    assert names == [m["medicationCodeableConcept"]["text"] for m in treatments]
    gir = demo[("Observation", f"{patient_id}-gir")]["valueCodeableConcept"]["coding"][0]["code"]
    assert xp(data, "//h:section[h:code/@code='30954-2']//h:observation[h:code/@code='10210-3']/h:value/@code") \
        == [gir]
    assert xp(data, "//h:entry/h:observation[h:code/@code='62476001']/h:value/@value") == ["true"]
    assert xp(data, "//h:participant[@typeCode='INF']//h:family/text()") == ["Bérard"]
    assert xp(data, "//h:section[h:code/@code='11302-7']//h:participant[@typeCode='DST']//h:id/@extension") \
        == ["1690781810"]
    vaccine = demo[("Immunization", f"{patient_id}-vaccin-grippe")]
    assert xp(data, "//h:section[h:code/@code='11369-6']//h:lotNumberText/text()") == [vaccine["lotNumber"]]
    assert xp(data, "//h:section[h:code/@code='55112-7']/h:text/h:paragraph/text()") == [
        "Appeler sa fille avant 20 h."]
    related = [r for (t, _), r in demo.items() if t == "RelatedPerson" and _subject(r) == patient_id]
    nok = [r for r in related if r["relationship"][0]["coding"][0]["code"] == "NOK"]
    assert xp(data, "//h:informant/h:relatedEntity[@classCode='NOK']//h:family/text()") == [
        r["name"][0]["family"] for r in nok]
    assert xp(data, "/h:ClinicalDocument/h:effectiveTime/@value") == ["20260930153500+0200"]


def test_dlu_without_optional_data(fhir: Any, cda_validator: Any) -> None:
    """Without médecin traitant, preferred facility, vaccinations nor comment the DLU is still valid."""
    patient_id = usager()
    load(fhir, patient_id, extra=False)
    resp = fhir.post(f"Patient/{patient_id}/$dlu?date=2026-09-30T10:00:00Z")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:3000]
    assert cda_validator.validate(resp.get_data()).valid
    assert xp(resp.get_data(), "//h:participant[@typeCode='INF']//h:family/@nullFlavor") == ["UNK"]


def test_store_creates_a_document_reference_once(fhir: Any, cda_validator: Any) -> None:
    """``store=true`` keeps the validated DLU as a DocumentReference (CDA attachment, type 74207-2, DLU
    formatCode, the stay and the EHPAD); the same document asked again is the same DocumentReference, and
    ``$send-to-dmp`` queues it with the CDA's id as uniqueId."""
    patient_id = usager()
    load(fhir, patient_id, extra=False)
    body = params(date=DATE)
    body["parameter"].append({"name": "store", "valueBoolean": True})
    resp = fhir.post(f"Patient/{patient_id}/$dlu", body)
    assert resp.status_code == 201, resp.get_data(as_text=True)[:3000]
    doc = resp.get_json()
    assert doc["resourceType"] == "DocumentReference" and doc["subject"] == {"reference": f"Patient/{patient_id}"}
    assert doc["type"]["coding"][0]["code"] == "74207-2"
    content = doc["content"][0]
    assert content["attachment"]["contentType"] == "application/hl7-v3+xml"
    assert content["format"]["code"] == "urn:asip:ci-sis:dlu:2015"
    data = base64.b64decode(content["attachment"]["data"])
    assert cda_validator.validate(data).valid
    assert doc["masterIdentifier"]["value"] == "urn:oid:" + xp(data, "/h:ClinicalDocument/h:id/@root")[0]
    assert doc["context"]["encounter"] == [{"reference": f"Encounter/{patient_id}-sejour"}]
    assert doc["context"]["facilityType"]["coding"][0]["code"] == "SA17"
    again = fhir.post(f"Patient/{patient_id}/$dlu", body)
    assert again.status_code == 200 and again.get_json()["id"] == doc["id"]
    assert len(fhir.search(f"DocumentReference?subject=Patient/{patient_id}&type=http://loinc.org|74207-2")) == 1
    queued = fhir.post(f"DocumentReference/{doc['id']}/$send-to-dmp")
    assert queued.status_code == 202, queued.get_data(as_text=True)[:2000]
    unique = [p for p in queued.get_json()["parameter"] if p["name"] == "uniqueId"]
    assert unique == [{"name": "uniqueId", "valueString": xp(data, "/h:ClinicalDocument/h:id/@root")[0]}]


def test_fludt_of_a_demo_usager(fhir: Any, cda_validator: Any) -> None:
    """The FLUDT carries the reason, destination, state of consciousness, the recent pain only, and the last
    measures of the record; it passes the FLUDT schematron."""
    patient_id = usager()
    load(fhir, patient_id)
    resp = fhir.post(f"Patient/{patient_id}/$dlu", params(
        type="fludt", date=DATE, reason="Chute avec douleur de hanche", consciousness="eveillable",
        destination={"reference": "Organization/chu-lyon"}, lastMeal="2026-09-30T12:00:00+02:00"))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:3000]
    data = resp.get_data()
    report = cda_validator.validate(data)
    assert report.valid, report.failures
    assert report.schematrons == ("structuration-minimale", "DLU-EHPAD-FLUDT")
    assert xp(data, "//h:serviceEvent/h:code/@code") == ["28651-8"]
    assert xp(data, "//h:act[h:code/@code='80413-8']/h:participant/h:templateId/@extension") == ["1690781810"]
    assert xp(data, "//h:section[h:code/@code='30954-2']//h:observation/h:code/@code") == ["DLU_003", "R52.9"]
    weights = [r for (t, _), r in _demo().items() if t == "Observation" and _subject(r) == patient_id
               and r["code"]["coding"][0]["code"] == "29463-7"]
    last = max(weights, key=lambda r: r["effectiveDateTime"])["valueQuantity"]["value"]
    assert xp(data, "//h:observation[h:code/@code='29463-7']/h:value/@value") == [str(last)]


@pytest.mark.parametrize(("body", "status", "element"), [
    (params(type="lettre"), 400, "type"),
    (params(type="fludt", consciousness="DLU_002"), 400, "reason"),
    (params(type="fludt", reason="Malaise", consciousness="somnolent"), 400, "consciousness"),
    (params(date="30/09/2026"), 400, "date"),
    ({"resourceType": "Parameters", "parameter": [{"name": "store", "valueString": "oui"}]}, 400, "store"),
    (params(author={"reference": "Organization/chu-lyon"}), 422, "author"),
])
def test_bad_parameters_are_refused(fhir: Any, body: dict[str, Any], status: int, element: str) -> None:
    """Bad parameters are refused with an issue naming the parameter."""
    patient_id = usager()
    load(fhir, patient_id)
    resp = fhir.post(f"Patient/{patient_id}/$dlu", body)
    assert resp.status_code == status, resp.get_data(as_text=True)
    issues = resp.get_json()["issue"]
    assert any(element in i.get("expression", []) for i in issues), issues


def test_unknown_patient_is_404(fhir: Any) -> None:
    """A DLU of a usager that does not exist is a 404."""
    resp = fhir.post("Patient/nobody/$dlu", params(date=DATE))
    assert resp.status_code == 404, resp.get_data(as_text=True)


def test_unqualified_identity_is_refused(fhir: Any) -> None:
    """A usager whose identity is not qualified gets no DLU (the INS may not leave the server)."""
    patient_id = next(i for (t, i), r in sorted(_demo().items()) if t == "Patient" and i.startswith("ehpad")
                      and not may_share_ins(r))
    load(fhir, patient_id, extra=False)
    resp = fhir.post(f"Patient/{patient_id}/$dlu", params(date=DATE))
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert "qualif" in resp.get_data(as_text=True).lower()


def test_no_kit_is_503(fhir: Any, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a validator no DLU is produced: 503."""
    patient_id = usager()
    load(fhir, patient_id, extra=False)
    monkeypatch.setattr(context.services, "cda_validator", None)
    resp = fhir.post(f"Patient/{patient_id}/$dlu")
    assert resp.status_code == 503
    assert "kit_dir" in resp.get_data(as_text=True)


def test_failed_assertions_are_listed(fhir: Any, context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A document the kit refuses is a 422 listing the failed assertions (here: a validator that runs a volet
    schematron of another document type)."""
    patient_id = usager()
    load(fhir, patient_id, extra=False)
    validator = context.services.cda_validator

    class WrongVolet:
        def validate(self, document: bytes, schematrons: Any = None) -> Any:
            return validator.validate(document, ["structuration-minimale", "DLU-EHPAD-FLUDT"])

    monkeypatch.setattr(context.services, "cda_validator", WrongVolet())
    resp = fhir.post(f"Patient/{patient_id}/$dlu", params(date=DATE))
    assert resp.status_code == 422, resp.get_data(as_text=True)[:2000]
    texts = [i["diagnostics"] for i in resp.get_json()["issue"]]
    assert any("DLU-EHPAD-FLUDT" in t and "Signes vitaux" in t for t in texts), texts


def test_every_qualified_demo_resident_gets_a_valid_dlu(fhir: Any, cda_validator: Any) -> None:
    """The demo data set (6 usagers) loads through the write checks, and each EHPAD resident with a qualified
    identity gets a valid DLU whose observations, BMR and vaccination come from the demo's DLU data."""
    demo = build_demo_bundle(usagers=6)
    resp = fhir.post("", demo)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    residents = [e["resource"] for e in demo["entry"] if e["resource"]["resourceType"] == "Patient"
                 and e["resource"]["id"].startswith("ehpad") and may_share_ins(e["resource"])]
    assert residents
    for patient in residents:
        resp = fhir.post(f"Patient/{patient['id']}/$dlu", params(date=DATE))
        assert resp.status_code == 200, (patient["id"], resp.get_data(as_text=True)[:2000])
        data = resp.get_data()
        assert cda_validator.validate(data).valid, patient["id"]
        known = xp(data, "//h:section[h:code/@code='42545-4']/h:entry/h:observation/h:value[@value]/../h:code/@code")
        assert sorted(known) == ["161898004", "247663003", "288575003", "62476001"]
        assert xp(data, "//h:observation[h:code/@code='U83.71']/h:value/@value") in (["true"], ["false"])
        assert xp(data, "//h:section[h:code/@code='11369-6']//h:manufacturedMaterial/h:code/h:translation/@code") \
            == ["J07BB02"]
