"""FLUDT (DLU-EHPAD-FLUDT 2022.01) generated from FHIR resources and the facts of the transfer: the ANS kit
accepts it, and vital signs, consciousness, pains, prostheses and times reach their entries."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from mappings.cda.documents.fludt import FludtError, FludtRecord, Transfer, build_fludt
from mappings.cda.documents.liaison import contacts_from_fhir, physician_from_fhir
from tests.mappings.test_dlu_ehpad import FACILITY, GP, NIA_PATIENT, NS, RELATED, SNOMED, dlu_header, section

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
EMDN = "urn:oid:1.2.250.1.213.2.68"
WHEN = "2026-09-30T15:35:00+02:00"


def vital(oid: str, code: str, value: float, unit: str, when: str = "2026-09-30T14:00:00+02:00") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "code": {"coding": [{"system": LOINC,
                                                                                            "code": code}]},
            "effectiveDateTime": when, "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def pressure(oid: str, systolic: int, diastolic: int, when: str) -> dict[str, Any]:
    def component(code: str, value: int) -> dict[str, Any]:
        return {"code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}}
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]}, "effectiveDateTime": when,
            "component": [component("8480-6", systolic), component("8462-4", diastolic)]}


def worn(oid: str, code: str, value: bool, site: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Observation", "id": oid, "status": "final",
                           "code": {"coding": [{"system": EMDN, "code": code}]}, "valueBoolean": value,
                           "effectiveDateTime": "2026-09-01"}
    if site:
        out["bodySite"] = {"coding": [{"system": SNOMED, "code": site}]}
    return out


OBSERVATIONS = [
    vital("pulse", "8867-4", 92, "/min"), vital("temp", "8310-5", 38.4, "Cel"), vital("w1", "29463-7", 61.5, "kg"),
    vital("w0", "29463-7", 64, "kg", "2026-07-01T08:00:00+02:00"),
    pressure("bp1", 150, 85, "2026-09-30T14:05:00+02:00"), pressure("bp0", 120, 70, "2026-09-01T09:00:00+02:00"),
    {"resourceType": "Observation", "id": "pain", "status": "final",
     "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "R52.9"}]},
     "effectiveDateTime": "2026-09-30T13:00:00+02:00", "valueBoolean": True,
     "bodySite": {"coding": [{"system": SNOMED, "code": "29836001", "display": "hanche"}], "text": "Hanche droite"}},
    worn("g", "Q021003", True), worn("dh", "P0102", True, "264217000"), worn("db", "P0102", False, "261089000"),
    {"resourceType": "Observation", "id": "other", "status": "final",
     "code": {"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.322", "code": "GEN-092.02.01"}]},
     "valueString": "Canne anglaise", "effectiveDateTime": "2026-09-01"},
]


def transfer(**changes: Any) -> Transfer:
    values: dict[str, Any] = {"reason": "Chute dans la chambre, douleur de hanche, suspicion de fracture",
                              "time": WHEN, "consciousness": "DLU_003", "destination": FACILITY,
                              "last_meal": "2026-09-30T12:00:00+02:00", "last_intake": "2026-09-30T08:00:00+02:00",
                              "comment": "Accompagnée par sa fille."}
    values.update(changes)
    return Transfer(**values)


def header(**changes: Any) -> Any:
    return dlu_header(title="Fiche de liaison d'urgence", **changes)


def validate(validator: Any, root: etree._Element) -> None:
    report = validator.validate(etree.tostring(root, encoding="UTF-8", xml_declaration=True))
    assert report.schematrons == ("structuration-minimale", "DLU-EHPAD-FLUDT")
    assert report.valid, report.failures


def test_full_fludt_passes_the_kit_and_carries_the_transfer(cda_validator: Any) -> None:
    """A FLUDT with every fact passes the kit; the entries hold the reason, destination, vitals, state of
    consciousness, pain site, prostheses, last meal and last intake."""
    record = FludtRecord({"resourceType": "Patient", "id": "p1"}, transfer(), OBSERVATIONS)
    root = build_fludt(header(), record, physician=physician_from_fhir(GP), contacts=contacts_from_fhir(RELATED, {}))
    validate(cda_validator, root)
    assert root.find("c:templateId[@root='1.2.250.1.213.1.1.1.23']", NS).get("extension") == "2022.01"
    assert root.find("c:documentationOf/c:serviceEvent/c:code", NS).get("code") == "28651-8"
    events = section(root, "1.3.6.1.4.1.19376.1.7.3.1.1.13.7")
    reason = events.find(".//c:observation", NS)
    assert reason.find("c:code", NS).get("code") == "57277-6"
    ref = reason.find("c:value/c:originalText/c:reference", NS).get("value")[1:]
    assert events.xpath(f"string(.//c:content[@ID='{ref}'])", namespaces=NS).startswith("Chute dans la chambre")
    act = events.find(".//c:act", NS)
    assert act.find("c:participant/c:templateId", NS).get("extension") == "1210780581"
    assert act.xpath("string(.//c:playingEntity/c:name)", namespaces=NS).startswith("CHU de Dijon")
    vitals = section(root, "1.3.6.1.4.1.19376.1.5.3.1.3.25")
    values = {o.find("c:code", NS).get("code"): (o.find("c:value", NS).get("value"), o.find("c:value", NS).get("unit"))
              for o in vitals.iterfind(".//c:organizer/c:component/c:observation", NS)}
    assert values == {"8867-4": ("92", "/min"), "8310-5": ("38.4", "Cel"), "29463-7": ("61.5", "kg"),
                      "8480-6": ("150", "mm[Hg]"), "8462-4": ("85", "mm[Hg]")}
    results = section(root, "1.3.6.1.4.1.19376.1.5.3.1.3.28").xpath("c:entry/c:observation", namespaces=NS)
    assert [o.find("c:code", NS).get("code") for o in results] == ["DLU_003", "R52.9"]
    assert results[1].find("c:targetSiteCode", NS).get("code") == "29836001"
    prostheses = section(root, "1.2.250.1.213.1.1.2.53").xpath("c:entry/c:observation", namespaces=NS)
    answers = [(o.find("c:code", NS).get("code"), o.find("c:value", NS).get("value"),
                o.find("c:value", NS).get("nullFlavor")) for o in prostheses]
    assert answers == [("Q021003", "true", None), ("P0102", "true", None), ("P0102", "false", None),
                       ("Y2145", None, "UNK"), ("Y2145", None, "UNK"), ("GEN-092.02.01", None, None)]
    meal = section(root, "1.3.6.1.4.1.19376.1.7.3.1.1.13.5").find(".//c:observation/c:effectiveTime", NS)
    assert meal.get("value") == "20260930120000+0200"
    intake = section(root, "1.3.6.1.4.1.19376.1.5.3.1.3.19").find(".//c:effectiveTime/c:low", NS)
    assert intake.get("value") == "20260930080000+0200"


def test_minimal_fludt_passes_the_kit(cda_validator: Any) -> None:
    """Without observations, destination, meal or intake times, comment nor physician (NIA, accents), the FLUDT
    is still valid and says what is not known."""
    record = FludtRecord({"resourceType": "Patient", "id": "p3"},
                         transfer(destination=None, destination_name=None, last_meal=None, last_intake=None,
                                  comment=None, consciousness="DLU_004"))
    root = build_fludt(header(patient=NIA_PATIENT), record)
    validate(cda_validator, root)
    vitals = section(root, "1.3.6.1.4.1.19376.1.5.3.1.3.25")
    values = vitals.xpath(".//c:organizer/c:component/c:observation/c:value", namespaces=NS)
    assert [v.get("nullFlavor") for v in values] == ["UNK"] * 5
    assert "non renseigné" in "".join(vitals.find("c:text", NS).itertext())
    meal = section(root, "1.3.6.1.4.1.19376.1.7.3.1.1.13.5").find(".//c:observation/c:effectiveTime", NS)
    assert meal.get("nullFlavor") == "UNK"
    assert root.xpath("count(//c:section[c:templateId/@root='1.2.250.1.213.1.1.2.73'])", namespaces=NS) == 0


@pytest.mark.parametrize(("changes", "message"), [
    ({"consciousness": "DLU_009"}, "consciousness"),
    ({"consciousness": ""}, "consciousness"),
    ({"reason": "  "}, "reason"),
])
def test_incomplete_transfer_is_refused(changes: dict[str, Any], message: str) -> None:
    """A FLUDT needs a reason and one of the three states of consciousness the volet allows."""
    record = FludtRecord({"resourceType": "Patient", "id": "p1"}, transfer(**changes))
    with pytest.raises(FludtError, match=message):
        build_fludt(header(), record)


def test_demo_residents_get_valid_fludts(cda_validator: Any) -> None:
    """The FLUDTs of a third of the demo residents, from their recorded weights and blood pressures, pass the kit
    and carry the last weight of each."""
    from tests.mappings.test_dlu_ehpad import _demo_records, demo_header

    for patient, record, related in _demo_records()[1::3]:
        root = build_fludt(demo_header(patient), FludtRecord(patient, transfer(), record.observations),
                           contacts=contacts_from_fhir(related, patient))
        validate(cda_validator, root)
        weights = [o for o in record.observations if o["code"]["coding"][0]["code"] == "29463-7"]
        last = max(weights, key=lambda o: o["effectiveDateTime"])["valueQuantity"]["value"]
        assert root.xpath("//c:observation[c:code/@code='29463-7']/c:value/@value", namespaces=NS) == [str(last)]


def test_fludt_follows_the_cisis_content_models(cda_validator: Any) -> None:
    """The full FLUDT passes the kit's CI-SIS content-model schematrons (transfer with departure and arrival,
    section ids) and the IHE PCC entry rules."""
    from tests.mappings.test_dlu_ehpad import CONTENT_MODELS

    root = build_fludt(header(), FludtRecord({"resourceType": "Patient", "id": "p1"}, transfer(), OBSERVATIONS))
    report = cda_validator.validate(etree.tostring(root, encoding="UTF-8"), list(CONTENT_MODELS))
    assert report.valid, report.failures
