"""DLU-EHPAD (DLU_2022.01) generated from FHIR resources: the ANS kit (XSD, structuration minimale, DLU volet
schematron) accepts varied documents, and the record's values reach the right entries."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from lxml import etree

from mappings.cda.documents.dlu_ehpad import DOCUMENT_TYPE, DluError, DluRecord, build_dlu, structured_body
from mappings.cda.documents.liaison import contacts_from_fhir, physician_from_fhir
from mappings.cda.model import Address, Identifier, Patient
from tests.mappings import PATIENT, sample_document

NS = {"c": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
TA_ASIP = "urn:oid:1.2.250.1.213.1.1.4.322"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def dlu_header(**changes: Any) -> Any:
    values: dict[str, Any] = {"code": DOCUMENT_TYPE, "title": "Document de liaison d'urgence", **changes}
    return sample_document(**values)


def condition(cid: str, text: str, icd10: str, status: str = "active", onset: str = "2019-03-01",
              snomed: str | None = None) -> dict[str, Any]:
    coding = [{"system": ICD10, "code": icd10, "display": text}]
    if snomed:
        coding.append({"system": SNOMED, "code": snomed})
    out: dict[str, Any] = {
        "resourceType": "Condition", "id": cid, "code": {"coding": coding, "text": text},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": status}]}, "onsetDateTime": onset}
    if status != "active":
        out["abatementDateTime"] = "2021-06-30"
    return out


def allergy(aid: str, text: str, code: str, category: str = "medication") -> dict[str, Any]:
    return {"resourceType": "AllergyIntolerance", "id": aid, "type": "allergy", "category": [category],
            "criticality": "high", "code": {"coding": [{"system": SNOMED, "code": code, "display": text}],
                                            "text": text},
            "reaction": [{"manifestation": [{"text": "Œdème de Quincke"}]}], "recordedDate": "2020-01-15"}


def treatment(mid: str, text: str, atc: str, frequency: int = 1, route: str = "26643006") -> dict[str, Any]:
    return {"resourceType": "MedicationStatement", "id": mid, "status": "active",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": atc}], "text": text},
            "effectivePeriod": {"start": "2025-01-10"},
            "dosage": [{"text": f"1 comprimé {frequency} fois par jour",
                        "timing": {"repeat": {"frequency": frequency, "period": 1, "periodUnit": "d"}},
                        "route": {"coding": [{"system": SNOMED, "code": route}], "text": "Voie orale"},
                        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "comprimé"}}]}]}


def state(oid: str, code: str, value: bool, when: str = "2026-09-01T10:00:00+02:00") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": SNOMED, "code": code}]}, "effectiveDateTime": when, "valueBoolean": value}


def gir(level: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "gir", "status": "final",
            "code": {"coding": [{"system": TA_ASIP, "code": "MED-346", "display": "Score GIR"}]},
            "effectiveDateTime": "2026-06-12T14:00:00+02:00",
            "valueCodeableConcept": {"coding": [{"system": TA_ASIP, "code": f"MED-{338 + level}"}]}}


def bmr(value: bool, detail: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Observation", "id": "bmr", "status": "final",
                           "code": {"coding": [{"system": ICD10, "code": "U83.71"}]},
                           "effectiveDateTime": "2026-08-20", "valueBoolean": value}
    if detail:
        out["note"] = [{"text": detail}]
    return out


FACILITY = {"resourceType": "Organization", "id": "chu", "name": "CHU de Dijon – Hôpital François Mitterrand",
            "identifier": [{"system": "https://finess.esante.gouv.fr", "value": "210780581"}],
            "address": [{"line": ["14 rue Paul Gaffarel"], "postalCode": "21000", "city": "Dijon"}],
            "telecom": [{"system": "phone", "value": "03 80 29 30 31", "use": "work"}]}

GP = {"resourceType": "Practitioner", "id": "gp", "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1",
                                                                    "value": "810100000016"}],
      "name": [{"family": "Lefèvre", "given": ["Hélène"], "prefix": ["MME"], "suffix": ["Dr"]}],
      "telecom": [{"system": "phone", "value": "03 80 00 00 01", "use": "work"}]}

RELATED = [
    {"resourceType": "RelatedPerson", "id": "r1", "active": True, "name": [{"family": "Saint-Pierre",
                                                                            "given": ["Émile"]}],
     "relationship": [{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_R260-HL7RoleClass/FHIR/"
                                              "TRE-R260-HL7RoleClass", "code": "NOK"}]},
                      {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "SON"}],
                       "text": "Fils"}],
     "telecom": [{"system": "phone", "value": "06 11 22 33 44", "use": "mobile"}]},
    {"resourceType": "RelatedPerson", "id": "r2", "active": True, "name": [{"family": "Gérard", "given": ["Anaïs"]}],
     "relationship": [{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_R260-HL7RoleClass/FHIR/"
                                              "TRE-R260-HL7RoleClass", "code": "ECON"}]},
                      {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "SPS"}]}]},
    {"resourceType": "RelatedPerson", "id": "r3", "active": True, "name": [{"family": "Nguyễn", "given": ["Lê"]}],
     "relationship": [{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_R260-HL7RoleClass/FHIR/"
                                              "TRE-R260-HL7RoleClass", "code": "CAREGIVER"}]},
                      {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "NIECE"}]}]},
    {"resourceType": "RelatedPerson", "id": "r4", "active": False, "name": [{"family": "Ancien", "given": ["Aidant"]}],
     "relationship": [{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_R260-HL7RoleClass/FHIR/"
                                              "TRE-R260-HL7RoleClass", "code": "CAREGIVER"}]}]},
]


def full_record() -> DluRecord:
    return DluRecord(
        patient={"resourceType": "Patient", "id": "p1"},
        conditions=[condition("c1", "Maladie d'Alzheimer", "G30.9", snomed="26929004"),
                    condition("c2", "Insuffisance cardiaque", "I50.9"),
                    condition("c3", "Fracture du col du fémur", "S72.0", status="resolved", onset="2018-11-02")],
        allergies=[allergy("a1", "Pénicilline", "764146007"), allergy("a2", "Arachide", "762952008", "food")],
        medications=[treatment("m1", "Donépézil 10 mg", "N06DA02"), treatment("m2", "Furosémide 40 mg", "C03CA01", 2),
                     treatment("m3", "Salbutamol", "R03AC02", 4, route="447694001")],
        procedures=[{"resourceType": "Procedure", "id": "pal", "status": "in-progress",
                     "code": {"coding": [{"system": SNOMED, "code": "103735009"}]}}],
        advance_directives=[{"resourceType": "Consent", "id": "da", "status": "active", "dateTime": "2024-02-21",
                             "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                                   "code": "adr"}]},
                             "sourceAttachment": {"url": "https://dui.example.org/documents/da-p1.pdf"}}],
        observations=[state("o1", "62476001", True), state("o2", "161898004", True),
                      state("o3", "161898004", False, "2025-01-01T10:00:00+01:00"), state("o4", "425104003", False),
                      gir(2), bmr(True, "Portage de SARM, isolement contact")],
        immunizations=[{"resourceType": "Immunization", "id": "v1", "status": "completed",
                        "vaccineCode": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J07BB02"}],
                                        "text": "Vaccin grippal"},
                        "occurrenceDateTime": "2025-10-15", "lotNumber": "LOT-2025-A",
                        "route": {"coding": [{"system": SNOMED, "code": "78421000"}]}}],
        preferred_facility=FACILITY,
        attachments=[{"resourceType": "DocumentReference", "id": "aggir", "status": "current",
                      "type": {"coding": [{"system": TA_ASIP, "code": "DLU_009"}]},
                      "content": [{"attachment": {"contentType": "application/pdf",
                                                  "data": base64.b64encode(PDF).decode()}}]}],
        comment="Résidente anxieuse la nuit.\nPréfère qu'on l'appelle « Lucie ».")


def build(record: DluRecord, **header: Any) -> etree._Element:
    return build_dlu(dlu_header(**header), record, physician=physician_from_fhir(GP),
                     contacts=contacts_from_fhir(RELATED, {}))


def section(root: etree._Element, template: str) -> etree._Element:
    found = root.xpath(f"//c:section[c:templateId/@root='{template}']", namespaces=NS)
    assert len(found) == 1, template
    return found[0]


def assert_valid(validator: Any, root: etree._Element) -> None:
    report = validator.validate(etree.tostring(root, encoding="UTF-8", xml_declaration=True))
    assert report.schematrons == ("structuration-minimale", "DLU-EHPAD-DLU")
    assert report.valid, report.failures


def test_full_dlu_passes_the_kit_and_carries_the_record(cda_validator: Any) -> None:
    """A DLU with every kind of data passes the XSD and both schematrons, and its entries hold the values."""
    root = build(full_record())
    assert_valid(cda_validator, root)
    allergies = section(root, "1.2.250.1.213.1.1.2.137")
    agents = allergies.xpath(".//c:participant[@typeCode='CSM']//c:playingEntity/c:code", namespaces=NS)
    assert [(a.get("code"), a.get("displayName")) for a in agents] == [("764146007", "Pénicilline"),
                                                                      ("762952008", "Arachide")]
    ref = agents[0].find("c:originalText/c:reference", NS).get("value")
    assert allergies.xpath(f".//c:content[@ID='{ref[1:]}']/text()", namespaces=NS) == ["Pénicilline"]
    types = allergies.xpath(".//c:observation/c:code/@code", namespaces=NS)
    assert types == ["416098002", "414285001"]  # médicamenteuse, alimentaire
    active = section(root, "1.2.250.1.213.1.1.2.132")
    assert active.xpath(".//c:observation/c:value/@code", namespaces=NS) == ["G30.9", "I50.9"]
    assert active.xpath(".//c:act/c:statusCode/@code", namespaces=NS) == ["active", "active"]
    history = section(root, "1.2.250.1.213.1.1.2.134")
    assert history.xpath(".//c:observation/c:value/@code", namespaces=NS) == ["S72.0"]
    assert history.xpath(".//c:act/c:effectiveTime/c:high/@value", namespaces=NS) == ["20210630"]
    treatments = section(root, "1.2.250.1.213.1.1.2.143").xpath(".//c:substanceAdministration", namespaces=NS)
    assert len(treatments) == 3
    assert [t.xpath("string(.//c:manufacturedMaterial/c:name)", namespaces=NS) for t in treatments] == [
        "Donépézil 10 mg", "Furosémide 40 mg", "Salbutamol"]
    periods = [t.xpath("c:effectiveTime[@xsi:type='PIVL_TS']/c:period", namespaces=NS)[0] for t in treatments]
    assert [(p.get("value"), p.get("unit")) for p in periods] == [("1", "d"), ("12", "h"), ("6", "h")]
    assert [t.find("c:routeCode", NS).get("code") for t in treatments] == ["20053000", "20053000", "20020000"]


def test_observations_gir_bmr_directives_and_checklist(cda_validator: Any) -> None:
    """The 15 DLU observations, the BMR, the GIR, palliative care, advance directives and annexed documents."""
    root = build(full_record())
    states = section(root, "1.3.6.1.4.1.19376.1.7.3.1.1.13.7").xpath("c:entry/c:observation", namespaces=NS)
    assert len(states) == 15
    by_code = {o.find("c:code", NS).get("code"): o.find("c:value", NS) for o in states}
    assert by_code["62476001"].get("value") == "true"        # désorienté
    assert by_code["161898004"].get("value") == "true"       # chute: the most recent observation wins
    assert by_code["425104003"].get("value") == "false"      # risque suicidaire
    assert by_code["288575003"].get("nullFlavor") == "UNK"   # peut alerter: not in the record
    results = section(root, "1.2.250.1.213.1.1.2.151")
    observations = results.xpath("c:entry/c:observation", namespaces=NS)
    assert observations[0].find("c:code", NS).get("code") == "U83.71"
    assert observations[0].find("c:value", NS).get("value") == "true"
    assert "SARM" in "".join(results.find("c:text", NS).itertext())
    assert observations[1].find("c:value", NS).get("code") == "MED-340"
    assert observations[1].find("c:value", NS).get("displayName") == "GIR-2"
    palliative = section(root, "1.2.250.1.213.1.1.2.158").find(".//c:procedure", NS)
    assert palliative.get("negationInd") == "false"
    directive = section(root, "1.2.250.1.213.1.1.2.157").find(".//c:observation", NS)
    assert directive.find("c:value", NS).get("value") == "true"
    assert directive.xpath("string(.//c:externalDocument/c:text/c:reference/@value)", namespaces=NS) \
        == "https://dui.example.org/documents/da-p1.pdf"
    checklist = section(root, "1.2.250.1.213.1.1.2.37")
    assert checklist.xpath(".//c:observation/c:value/@code", namespaces=NS) == [f"DLU_{n:03}" for n in range(6, 20)]
    media = checklist.xpath(".//c:organizer[.//c:observation/c:value/@code='DLU_009']//c:observationMedia/c:value",
                            namespaces=NS)[0]
    assert base64.b64decode(media.text) == PDF
    assert checklist.xpath("count(.//c:observationMedia/c:value[@nullFlavor='NA'])", namespaces=NS) == 13
    link = checklist.find("c:text//c:renderMultiMedia", NS).get("referencedObject")
    assert checklist.xpath(f"count(.//c:observationMedia[@ID='{link}']/c:value[@mediaType='application/pdf'])",
                           namespaces=NS) == 1
    assert len(checklist.xpath("c:text//c:tr", namespaces=NS)) == 15  # header + the 14 checklist items
    facility = section(root, "1.2.250.1.213.1.1.2.172")
    assert facility.xpath(".//c:participant[@typeCode='DST']//c:id/@extension", namespaces=NS) == ["1210780581"]
    immunization = section(root, "1.2.250.1.213.1.1.2.147").find(".//c:substanceAdministration", NS)
    assert immunization.xpath("string(.//c:lotNumberText)", namespaces=NS) == "LOT-2025-A"
    assert immunization.find("c:routeCode", NS).get("code") == "20035000"
    comment = section(root, "1.2.250.1.213.1.1.2.73")
    assert [p.text for p in comment.iterfind("c:text/c:paragraph", NS)] == [
        "Résidente anxieuse la nuit.", "Préfère qu'on l'appelle « Lucie »."]


def test_header_parts_physician_and_contacts() -> None:
    """The médecin traitant is the INF/PCP participant (title as a J246 code); the NOK, ECON and CAREGIVER
    informants carry their J11 relationship (a spouse is SIGOTHR)."""
    root = build(full_record())
    participant = root.find("c:participant[@typeCode='INF']", NS)
    assert participant.find("c:functionCode", NS).get("code") == "PCP"
    assert participant.xpath("string(.//c:associatedPerson/c:name/c:family)", namespaces=NS) == "Lefèvre"
    assert participant.xpath("string(.//c:associatedPerson/c:name/c:suffix)", namespaces=NS) == "DR"
    assert participant.find("c:associatedEntity/c:id", NS).get("extension") == "810100000016"
    informants = root.findall("c:informant/c:relatedEntity", NS)
    assert [(i.get("classCode"), i.find("c:code", NS).get("code")) for i in informants] == [
        ("NOK", "SON"), ("ECON", "SIGOTHR"), ("CAREGIVER", "NIECE")]  # the inactive aidant is left out
    assert root.find("c:templateId[@root='1.2.250.1.213.1.1.1.22']", NS).get("extension") == "2022.01"
    assert root.find("c:documentationOf/c:serviceEvent/c:code", NS).get("code") == "34117-2"
    assert root.find("c:componentOf/c:encompassingEncounter/c:code", NS).get("code") == "IMP"


NIA_PATIENT = Patient((Identifier("1.2.250.1.213.1.4.9", "255082B12345678"),), "D'ALMEIDA-NGUYỄN", "Marie-Thérèse",
                      "Marie-Thérèse Éléonore Zoé", None, None, "F", "1931-02-28",
                      Address(city="Saïgon", county="99243"))


@pytest.mark.parametrize("variant", ["empty", "no-allergy-several-treatments", "nia-accents", "no-physician"])
def test_varied_dlus_pass_the_kit(cda_validator: Any, variant: str) -> None:
    """Documents with missing optional data, an NIA instead of an NIR, accents and several given names, or
    no known médecin traitant, still pass the XSD, the structuration minimale and the DLU schematron."""
    full = full_record()
    header: dict[str, Any] = {}
    physician: Any = physician_from_fhir(GP)
    record = full
    if variant == "empty":
        record = DluRecord(patient={"resourceType": "Patient", "id": "p2"})
    elif variant == "no-allergy-several-treatments":
        record = DluRecord(patient=full.patient, medications=[*full.medications, *full.medications[:1]],
                           conditions=full.conditions)
    elif variant == "nia-accents":
        header["patient"] = NIA_PATIENT
    else:
        physician = None
    root = build_dlu(dlu_header(**header), record, physician=physician, contacts=[])
    assert_valid(cda_validator, root)
    if variant == "empty":
        for template in ("1.2.250.1.213.1.1.2.172", "1.2.250.1.213.1.1.2.143", "1.2.250.1.213.1.1.2.157",
                         "1.2.250.1.213.1.1.2.163", "1.2.250.1.213.1.1.2.151", "1.2.250.1.213.1.1.2.37"):
            section(root, template)
        treatments = section(root, "1.2.250.1.213.1.1.2.143")
        assert "Aucun traitement" in "".join(treatments.find("c:text", NS).itertext())
        assert treatments.xpath("c:entry//c:manufacturedMaterial/c:code/@nullFlavor", namespaces=NS) == ["NA"]
        for optional in ("1.2.250.1.213.1.1.2.73", "1.2.250.1.213.1.1.2.132", "1.2.250.1.213.1.1.2.134",
                         "1.2.250.1.213.1.1.2.137", "1.2.250.1.213.1.1.2.147"):
            assert root.xpath(f"count(//c:section[c:templateId/@root='{optional}'])", namespaces=NS) == 0
        bmr_value = section(root, "1.2.250.1.213.1.1.2.151").find(".//c:observation/c:value", NS)
        assert bmr_value.get("nullFlavor") == "UNK"
    if variant == "no-physician":
        family = root.find("c:participant//c:associatedPerson/c:name/c:family", NS)
        assert family.get("nullFlavor") == "UNK"


def test_every_narrative_reference_resolves() -> None:
    """Content IDs are unique in the document and every ``#id`` an entry points to exists in a narrative."""
    root = build(full_record())
    ids = root.xpath("//c:content/@ID | //c:observationMedia/@ID", namespaces=NS)
    assert len(ids) == len(set(ids))
    refs = {r[1:] for r in root.xpath("//c:entry//c:reference/@value", namespaces=NS) if r.startswith("#")}
    assert refs and refs <= set(ids)


def test_body_alone_has_the_twelve_sections_in_order() -> None:
    """The structured body lists the sections in the order of the model."""
    body = structured_body(full_record())
    codes = body.xpath("c:structuredBody/c:component/c:section/c:code/@code", namespaces=NS)
    assert codes == ["11302-7", "11450-4", "11348-0", "48765-2", "10160-0", "18776-5", "42348-3", "42545-4",
                     "30954-2", "11369-6", "55112-7", "55107-7"]


def test_wrong_header_is_refused() -> None:
    """A DLU needs the type code 74207-2 and the usager's birth date."""
    with pytest.raises(DluError, match="74207-2"):
        build_dlu(sample_document(), full_record())
    patient = Patient(PATIENT.ids, PATIENT.birth_family, PATIENT.first_given, sex="F")
    with pytest.raises(DluError, match="birth date"):
        build_dlu(dlu_header(patient=patient), full_record())


def test_markup_and_control_characters_in_the_record(cda_validator: Any) -> None:
    """Text with XML markup characters stays text, and control characters XML cannot carry are dropped."""
    record = DluRecord(patient={"resourceType": "Patient", "id": "p4"},
                       allergies=[allergy("a9", "Iode <produits de contraste> & latex", "294106006")],
                       comment="Ne pas \x0bcontenir\x00 <b>ceci</b>")
    root = build(record)
    assert_valid(cda_validator, root)
    allergies = section(root, "1.2.250.1.213.1.1.2.137")
    assert allergies.xpath("string(.//c:content)", namespaces=NS) == "Iode <produits de contraste> & latex"
    comment = section(root, "1.2.250.1.213.1.1.2.73")
    assert comment.findtext("c:text/c:paragraph", namespaces=NS) == "Ne pas contenir <b>ceci</b>"


def _demo_records() -> list[tuple[dict[str, Any], DluRecord, list[dict[str, Any]]]]:
    """(Patient, DLU record, RelatedPersons) of every EHPAD resident of the demo data set."""
    from fhirserver.demo import build_demo_bundle

    resources = [e["resource"] for e in build_demo_bundle()["entry"]]
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        ref = (r.get("subject") or r.get("patient") or {}).get("reference", "")
        if ref.startswith("Patient/"):
            by_subject.setdefault(ref.split("/")[1], []).append(r)
    out = []
    for patient in (r for r in resources if r["resourceType"] == "Patient" and r["id"].startswith("ehpad")):
        own = by_subject.get(patient["id"], [])

        def of(kind: str, own: list[dict[str, Any]] = own) -> list[dict[str, Any]]:
            return [r for r in own if r["resourceType"] == kind]
        record = DluRecord(patient=patient, conditions=of("Condition"), allergies=of("AllergyIntolerance"),
                           medications=of("MedicationStatement"), observations=of("Observation"),
                           immunizations=of("Immunization"), advance_directives=of("Consent"),
                           attachments=of("DocumentReference"))
        out.append((patient, record, of("RelatedPerson")))
    return out


def demo_header(patient: dict[str, Any]) -> Any:
    """The header of a demo resident: the INS when the identity is qualified, else the local identifier (as an
    OID-rooted IPP), and the traits of the record."""
    from mappings.cda.model import patient_from_fhir

    ins = next((i for i in patient["identifier"] if i["system"] == "urn:oid:1.2.250.1.213.1.4.10"), None)
    copy = {**patient, "identifier": [*patient["identifier"], {"system": "urn:oid:1.2.250.1.213.1.1.9.99",
                                                               "value": patient["id"]}]}
    model = patient_from_fhir(copy, Identifier("1.2.250.1.213.1.4.10", ins["value"]) if ins else None)
    return dlu_header(patient=model)


def test_demo_residents_get_valid_dlus(cda_validator: Any) -> None:
    """The DLUs of half the 35 demo residents (accents, several given names, with and without INS, allergies or
    not, several treatments, advance directives or not) all pass the kit and list each resident's treatments."""
    records = _demo_records()
    assert len(records) == 35
    chosen = records[::2]
    assert any(not r.allergies for _, r, _ in chosen) and any(r.allergies for _, r, _ in chosen)
    assert any(r.advance_directives for _, r, _ in chosen)
    for patient, record, related in chosen:
        root = build_dlu(demo_header(patient), record, contacts=contacts_from_fhir(related, patient))
        report = cda_validator.validate(etree.tostring(root, encoding="UTF-8"))
        assert report.valid, (patient["id"], report.failures)
        names = root.xpath("//c:section[c:code/@code='10160-0']//c:manufacturedMaterial/c:name/text()",
                           namespaces=NS)
        assert names == [m["medicationCodeableConcept"]["text"] for m in record.medications]


def test_coded_answers_and_conditions_answer_the_dlu_questions() -> None:
    """A Y/N coded value answers a DLU question like a boolean; an active Condition with the code means yes; a
    BMR observation naming the bacterium means the usager carries it."""
    yes_no = "http://terminology.hl7.org/CodeSystem/v2-0136"
    coded = {**state("o9", "248046000", True), "valueCodeableConcept": {"coding": [{"system": yes_no,
                                                                                     "code": "N"}]}}
    del coded["valueBoolean"]
    bacterium = {**bmr(True), "valueCodeableConcept": {"text": "Klebsiella pneumoniae BLSE"}}
    del bacterium["valueBoolean"]
    record = DluRecord(patient={"resourceType": "Patient", "id": "p5"}, observations=[coded, bacterium],
                       conditions=[condition("c9", "Surdité", "H91.9", snomed="15188001")])
    body = structured_body(record)
    states = {o.find("c:code", NS).get("code"): o.find("c:value", NS).get("value")
              for o in body.xpath("//c:section[c:code/@code='42545-4']/c:entry/c:observation", namespaces=NS)}
    assert states["248046000"] == "false"  # fugue: coded N
    assert states["15188001"] == "true"    # auditif: active Condition
    assert states["50239007"] is None      # déambulation: unknown
    results = body.xpath("//c:section[c:code/@code='30954-2']", namespaces=NS)[0]
    assert results.xpath("string(.//c:observation[c:code/@code='U83.71']/c:value/@value)", namespaces=NS) == "true"
    assert "Klebsiella pneumoniae BLSE" in "".join(results.find("c:text", NS).itertext())


#: the kit's CI-SIS content-model rules (sections and entries), run on demand: not part of the default checks
#: the kit's body rules (sections and entries) that the volet schematrons do not run themselves
CONTENT_MODELS = ("modeles-de-contenus", "modeles-ans", "ihe")


def test_sections_and_entries_follow_the_cisis_content_models(cda_validator: Any) -> None:
    """The full and the empty DLU also pass the kit's CI-SIS content-model schematrons (FR-Traitement doses as
    low/high, products coded in CIS only, section ids …) and the IHE PCC entry rules, as the ANS example does."""
    for record in (full_record(), DluRecord(patient={"resourceType": "Patient", "id": "p2"})):
        report = cda_validator.validate(etree.tostring(build(record), encoding="UTF-8"), list(CONTENT_MODELS))
        assert report.valid, report.failures
    treatment = section(build(full_record()), "1.2.250.1.213.1.1.2.143").find(".//c:substanceAdministration", NS)
    assert [(q.tag.split("}")[1], q.get("value")) for q in treatment.find("c:doseQuantity", NS)] == [
        ("low", "1"), ("high", "1")]
    code = treatment.find(".//c:manufacturedMaterial/c:code", NS)
    assert code.get("nullFlavor") == "NA" and code.find("c:translation", NS).get("code") == "N06DA02"


def test_requests_ranges_and_intolerances() -> None:
    """A MedicationRequest (dosageInstruction, dose range, bounds period) is a treatment like a statement; an
    intolerance gets the intolerance type; an agent without a known code system is a nullFlavor code with its
    text."""
    request = {"resourceType": "MedicationRequest", "id": "rq", "status": "active", "intent": "order",
               "medicationCodeableConcept": {"coding": [{"system": "urn:oid:1.2.250.1.213.2.3.1", "code": "60234100",
                                                         "display": "DOLIPRANE 500 mg"}], "text": "Doliprane 500 mg"},
               "dosageInstruction": [{"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d",
                                                            "boundsPeriod": {"start": "2026-09-01",
                                                                             "end": "2026-09-10"}}},
                                      "doseAndRate": [{"doseRange": {"low": {"value": 1}, "high": {"value": 2}}}]}]}
    intolerance = {"resourceType": "AllergyIntolerance", "id": "in", "type": "intolerance", "category": ["food"],
                   "code": {"coding": [{"system": "https://example.org/local", "code": "LAC"}], "text": "Lactose"}}
    body = structured_body(DluRecord(patient={"resourceType": "Patient", "id": "p6"}, medications=[request],
                                     allergies=[intolerance]))
    admin = body.xpath("//c:section[c:code/@code='10160-0']//c:substanceAdministration", namespaces=NS)[0]
    assert admin.xpath("c:effectiveTime[1]/c:low/@value | c:effectiveTime[1]/c:high/@value", namespaces=NS) == [
        "20260901", "20260910"]
    assert admin.xpath("c:effectiveTime[2]/c:period/@value", namespaces=NS) == ["8"]
    assert admin.xpath("c:doseQuantity/c:low/@value | c:doseQuantity/c:high/@value", namespaces=NS) == ["1", "2"]
    assert admin.xpath(".//c:manufacturedMaterial/c:code/@code", namespaces=NS) == ["60234100"]
    allergy = body.xpath("//c:section[c:code/@code='48765-2']//c:observation", namespaces=NS)[0]
    assert allergy.find("c:code", NS).get("code") == "235719002"  # intolérance alimentaire
    agent = allergy.find(".//c:playingEntity/c:code", NS)
    ref = agent.find("c:originalText/c:reference", NS).get("value")[1:]
    assert agent.get("nullFlavor") == "UNK"
    assert body.xpath(f"string(//c:content[@ID='{ref}'])", namespaces=NS) == "Lactose"
