"""N1 documents (IHE XDS-SD in the CI-SIS header): varied inputs pass the ANS kit; the FHIR input is read right."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
from lxml import etree

from mappings.cda import model
from mappings.cda.documents.n1 import N1Error, build_n1, check_content
from mappings.cda.header import build_header
from mappings.cda.model import Address, Code, Encounter, Identifier, ModelError, Patient, Telecom, VoletParts
from tests.mappings import ESSMS, PATIENT, SA17, fhir_patient, sample_document

NS = {"h": "urn:hl7-org:v3"}
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"


def xp(root: etree._Element, path: str) -> list[Any]:
    return list(root.xpath(path, namespaces=NS))


VARIANTS: dict[str, dict[str, Any]] = {
    "accents and several given names": {"patient": dataclasses.replace(
        PATIENT, birth_family="LE BRIS-DUCHÂTEAU", first_given="Anaïs", birth_given_names="Anaïs Marie-Noëlle Zoé",
        used_family="Lefèvre", used_given="Noëlle")},
    "nia and male": {"patient": dataclasses.replace(
        PATIENT, ids=(Identifier("1.2.250.1.213.1.4.9", "154079947600255"),), sex="M", first_given="Jean",
        birth_given_names="Jean", used_family=None, used_given=None)},
    "production nir, unknown sex, born abroad": {"patient": dataclasses.replace(
        PATIENT, ids=(Identifier("1.2.250.1.213.1.4.8", "299109912345645"), Identifier("1.2.3.4.5", "IPP-1")),
        sex="UN", birth_place=Address(county="99350"))},
    "minimal optional data": {"patient": Patient(
        (Identifier("1.2.250.1.213.1.4.10", "240062123191008"),), "MARTIN", "Paul", "Paul", sex="M",
        birth_date="1938-01", birth_place=Address(county="75056")),
        "custodian": model.Organization(Identifier("1.2.250.1.71.4.2.2", "1690158811"))},
    "patient contacts and structured address": {"patient": dataclasses.replace(
        PATIENT, telecoms=(Telecom("tel:0465710003", "H"), Telecom("mailto:lucie@example.org")),
        addresses=(Address(("18 bis avenue des Tilleuls", "Chambre 301"), "69008", "Lyon", "France", "69388",
                           "H"),))},
    "no encounter period, no service event end": {"encounter": Encounter(None, SA17)},
    "replacement": {"replaces": Identifier("1.2.250.1.213.1.1.9.0"), "version": 3},
    "very restricted": {"confidentiality": Code("V", "2.16.840.1.113883.5.25", "Très restreint")},
    "ppa type code, handicap facility": {
        "code": Code("80788-3", "2.16.840.1.113883.6.1", "Projet personnalisé d'accompagnement", "LOINC"),
        "encounter": Encounter("2026-01-05", Code("SA16", "1.2.250.1.71.4.2.4",
                                                  "Etablissement pour personnes handicapées"), "2026-12-31",
                               Code("IMP", "2.16.840.1.113883.5.4", "Hospitalisation (établissement, y compris HAD)"))},
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_varied_documents_pass_the_kit(name: str, cda_validator: Any) -> None:
    """Each variant passes the XSD and the structuration-minimale schematron without warnings."""
    doc = sample_document(**VARIANTS[name])
    root = build_n1(doc, PDF, "application/pdf")
    report = cda_validator.validate(root)
    assert report.valid, [f.message for f in report.failures]
    assert not report.warnings, [f.message for f in report.warnings]
    assert xp(root, "//h:recordTarget/h:patientRole/h:id[1]/@extension") == [doc.patient.ids[0].extension]
    assert xp(root, "//h:recordTarget/h:patientRole/h:id[1]/@root") == [doc.patient.ids[0].root]


@pytest.mark.parametrize(("media_type", "content"), [
    ("image/jpeg", b"\xff\xd8\xff\xe0fake-jpeg"), ("image/tiff", b"II*\x00fake"),
    ("text/plain; charset=utf-8", "Compte rendu : état stable.".encode()),
])
def test_other_media_types(media_type: str, content: bytes, cda_validator: Any) -> None:
    """JPEG, TIFF and plain text N1 documents pass the kit and keep their bytes."""
    root = build_n1(sample_document(), content, media_type)
    assert cda_validator.validate(root).valid
    text = xp(root, "//h:nonXMLBody/h:text")[0]
    assert text.get("mediaType") == media_type.split(";")[0]
    assert base64.b64decode(text.text) == content


def test_only_three_template_ids() -> None:
    """An N1 carries exactly the HL7 France, CI-SIS and XDS-SD templateIds."""
    root = build_n1(sample_document(), PDF, "application/pdf")
    assert xp(root, "h:templateId/@root") == ["2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1",
                                               "1.3.6.1.4.1.19376.1.2.20"]


def test_a_fourth_template_id_fails_the_kit(cda_validator: Any) -> None:
    """Negative control: the kit refuses an N1 with a volet templateId."""
    root = build_header(sample_document(), VoletParts((Identifier("1.3.6.1.4.1.19376.1.2.20"),
                                                       Identifier("1.2.250.1.213.1.1.1.22"))))
    body = etree.SubElement(etree.SubElement(root, "{urn:hl7-org:v3}component"), "{urn:hl7-org:v3}nonXMLBody")
    etree.SubElement(body, "{urn:hl7-org:v3}text", mediaType="application/pdf",
                     representation="B64").text = base64.b64encode(PDF).decode()
    assert not cda_validator.validate(root, ["structuration-minimale"]).valid


@pytest.mark.parametrize("trait", ["birth_given_names", "birth_place"])
def test_each_missing_ins_trait_fails_the_ins_rule(trait: str, cda_validator: Any) -> None:
    """Negative controls: with an INS, the list of birth given names and the birth place are required."""
    patient = dataclasses.replace(PATIENT, **{trait: None})  # type: ignore[arg-type]
    report = cda_validator.validate(build_n1(sample_document(patient=patient), PDF, "application/pdf"))
    assert any("traits de l'INS" in f.message for f in report.failures)


def test_unknown_birth_date_is_a_null_flavor() -> None:
    """birthTime is 1..1: an unknown birth date is written nullFlavor UNK."""
    root = build_n1(sample_document(patient=dataclasses.replace(PATIENT, birth_date=None)), PDF, "application/pdf")
    assert xp(root, "//h:patient/h:birthTime/@nullFlavor") == ["UNK"]


def test_content_checks() -> None:
    """Unsupported media types, empty content and mislabelled bytes are refused."""
    with pytest.raises(N1Error, match="image/png"):
        check_content(b"\x89PNG", "image/png")
    with pytest.raises(N1Error, match="empty"):
        check_content(b"", "application/pdf")
    with pytest.raises(N1Error, match="signature"):
        check_content(b"\xff\xd8\xff", "application/pdf")
    assert check_content(PDF, "Application/PDF") == "application/pdf"


def test_patient_from_fhir() -> None:
    """The FR Core Patient gives the INS, the INS traits and the names used; phones lose their spaces."""
    ins = Identifier("1.2.250.1.213.1.4.10", "240062123191008")
    patient = model.patient_from_fhir(fhir_patient(), ins)
    assert patient.ids == (ins,)
    assert (patient.birth_family, patient.first_given, patient.birth_given_names) == (
        "Saint-Pierre", "Lucienne", "Lucienne Marie")
    assert (patient.used_family, patient.used_given, patient.sex, patient.birth_date) == (
        "Gérard", "Lucie", "F", "1940-06-22")
    assert patient.birth_place == Address(city="Dijon", county="21231")
    assert patient.telecoms == (Telecom("tel:0465710003", "H"), Telecom("mailto:lucie@example.org"))
    assert patient.addresses[0].lines == ("18 avenue des Tilleuls",)
    male = model.patient_from_fhir(fhir_patient(gender="unknown"), ins)
    assert male.sex == "UN"
    with pytest.raises(ModelError) as err:
        model.patient_from_fhir(fhir_patient(name=[{"use": "usual", "family": "X"}]), ins)
    assert err.value.element == "Patient.name"
    with pytest.raises(ModelError):
        model.patient_from_fhir(fhir_patient(), None)  # no INS and no other OID identifier


def test_professional_and_structure_ids() -> None:
    """IDNPS from the IDNPS identifier or 8 + RPPS; IDNST from the IDNST or 1 + FINESS; J01 code from TRE_G15."""
    rpps = {"resourceType": "Practitioner", "id": "p", "identifier": [
        {"system": "https://rpps.esante.gouv.fr", "value": "10797309118"}],
        "name": [{"family": "Aubépin", "given": ["Loïc"], "prefix": ["M."], "suffix": ["Dr", "PhD"]}]}
    role = {"resourceType": "PractitionerRole", "code": [{"coding": [{
        "system": "https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge",
        "code": "330", "display": "Coordonnateur de parcours"}], "extension": [{
            "url": "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-profession",
            "valueCodeableConcept": {"coding": [{
                "system": "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante",
                "code": "10", "display": "Médecin"}]}}]}]}
    pro = model.professional_from_fhir(rpps, role)
    assert pro.id == Identifier("1.2.250.1.71.4.2.1", "810797309118")
    assert pro.code == Code("G15_10", "1.2.250.1.213.1.1.4.5", "Médecin")
    assert pro.function_code == Code("330", "1.2.250.1.213.1.6.1.107", "Coordonnateur de parcours")
    assert (pro.name.prefix, pro.name.suffix) == (("M",), ("DR",))
    with pytest.raises(ModelError, match="IDNPS"):
        model.professional_from_fhir({"resourceType": "Practitioner", "id": "x", "name": [{"family": "X"}]})
    finess = {"resourceType": "Organization", "identifier": [{"system": "https://finess.esante.gouv.fr",
                                                               "value": "690158811"}]}
    assert model.structure_id(finess) == Identifier("1.2.250.1.71.4.2.2", "1690158811")
    with pytest.raises(ModelError, match="structure identifier"):
        model.structure_id({"resourceType": "Organization", "id": "o"})


def test_confidentiality_and_codes() -> None:
    """securityLabel N/R/V (default N); a coding without display gets the CI-SIS one."""
    assert model.confidentiality_from_fhir(None).code == "N"
    label = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}]}]
    assert model.confidentiality_from_fhir(label) == Code("V", "2.16.840.1.113883.5.25", "Très restreint")
    practice = {"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/"
                                      "TRE-A01-CadreExercice", "code": "ESSMS"}]}
    assert model.code_from_fhir(practice) == ESSMS
    assert model.code_from_fhir({"coding": [{"system": "http://example.org/local", "code": "x"}]}) is None


def test_n1_format_codes_are_dmp_format_codes() -> None:
    """Every media type an N1 may carry maps to a formatCode of JDV_J60 (the DMP refuses others)."""
    from mappings.cda.documents.n1 import FORMAT_CODES
    from mappings.xds.valuesets import J60_FORMAT_CODE, TRE_A11_IHE_FORMAT_CODE

    for media_type, code in FORMAT_CODES.items():
        assert (code, TRE_A11_IHE_FORMAT_CODE) in J60_FORMAT_CODE, media_type
