"""The CI-SIS header (structuration minimale): element values, and documents that pass the ANS kit."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from lxml import etree

from mappings.cda import datatypes
from mappings.cda.documents.n1 import build_n1
from mappings.cda.header import build_header
from mappings.cda.model import Code, Identifier, VoletParts
from tests.mappings import PATIENT, PRO, sample_document

NS = {"h": "urn:hl7-org:v3"}
PDF = b"%PDF-1.4\n% test\n"


def xp(root: etree._Element, path: str) -> list[Any]:
    return list(root.xpath(path, namespaces=NS))


def test_ts_value_keeps_the_time_zone() -> None:
    """FHIR dates and dateTimes become HL7 TS with their offset."""
    assert datatypes.ts_value("2026-04-22T16:00:00+02:00") == "20260422160000+0200"
    assert datatypes.ts_value("2026-04-22T16:00Z") == "20260422160000+0000"
    assert datatypes.ts_value("1940-06-22") == "19400622"
    assert datatypes.ts_value("1940") == "1940"
    with pytest.raises(ValueError):
        datatypes.ts_value("22/06/1940")


def test_header_carries_the_patient_ins_and_traits() -> None:
    """recordTarget: the INS first, birth name BR, list of birth given names, first given BR, used names CL."""
    root = build_header(sample_document(), VoletParts(template_ids=(Identifier("1.3.6.1.4.1.19376.1.2.20"),)))
    role = "/h:ClinicalDocument/h:recordTarget/h:patientRole"
    assert xp(root, f"{role}/h:id[1]/@root") == ["1.2.250.1.213.1.4.10"]
    assert xp(root, f"{role}/h:id[1]/@extension") == ["240062123191008"]
    name = f"{role}/h:patient/h:name"
    assert xp(root, f"{name}/h:family[@qualifier='BR']/text()") == ["SAINT-PIERRE"]
    assert xp(root, f"{name}/h:given[not(@qualifier)]/text()") == ["Lucienne Marie Éléonore"]
    assert xp(root, f"{name}/h:given[@qualifier='BR']/text()") == ["Lucienne"]
    assert xp(root, f"{name}/h:family[@qualifier='CL']/text()") == ["Gérard"]
    assert xp(root, f"{name}/h:given[@qualifier='CL']/text()") == ["Lucie"]
    assert xp(root, f"{role}/h:patient/h:birthTime/@value") == ["19400622"]
    assert xp(root, f"{role}/h:patient/h:birthplace/h:place/h:addr/h:county/text()") == ["21231"]
    assert xp(root, f"{role}/h:patient/h:administrativeGenderCode/@code") == ["F"]


def test_header_author_custodian_and_order() -> None:
    """Author IDNPS and J01 code, custodian IDNST, templateIds in order, RPLC only when replacing."""
    doc = sample_document(replaces=Identifier("1.2.250.1.213.1.1.9.0"), version=2)
    root = build_header(doc, VoletParts(template_ids=(Identifier("1.2.250.1.213.1.1.1.22", "2022.01"),)))
    assert xp(root, "h:templateId/@root") == ["2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1",
                                               "1.2.250.1.213.1.1.1.22"]
    assert xp(root, "h:author/h:assignedAuthor/h:id/@extension") == ["810797309118"]
    assert xp(root, "h:author/h:assignedAuthor/h:code/@code") == ["G15_10"]
    assert xp(root, "h:author/h:functionCode/@code") == ["330"]
    assert xp(root, "h:custodian//h:representedCustodianOrganization/h:id/@extension") == ["1690158811"]
    assert xp(root, "h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id/@root") == ["1.2.250.1.213.1.1.9.0"]
    assert xp(root, "h:versionNumber/@value") == ["2"]
    names = [etree.QName(c).localname for c in root]
    assert names.index("custodian") < names.index("legalAuthenticator") < names.index("documentationOf") \
        < names.index("relatedDocument") < names.index("componentOf")
    assert "component" not in names
    assert not xp(build_header(sample_document(), VoletParts(template_ids=())), "h:relatedDocument")


def test_volet_parts_take_their_schema_place() -> None:
    """Informants go before the custodian, participants after the legal authenticator, volet codes win."""
    informant = etree.Element(f"{{{datatypes.NS}}}informant")
    participant = etree.Element(f"{{{datatypes.NS}}}participant")
    code = Code("34117-2", "2.16.840.1.113883.6.1", "History and physical note")
    root = build_header(sample_document(), VoletParts((), (participant,), (informant,), code, Code("IMP", "x")))
    names = [etree.QName(c).localname for c in root]
    assert names.index("author") < names.index("informant") < names.index("custodian")
    assert names.index("legalAuthenticator") < names.index("participant") < names.index("documentationOf")
    assert xp(root, "h:documentationOf/h:serviceEvent/h:code/@code") == ["34117-2"]
    assert xp(root, "h:componentOf/h:encompassingEncounter/h:code/@code") == ["IMP"]


def test_sample_n1_passes_the_kit(cda_validator: Any) -> None:
    """The sample N1 passes the XSD and the structuration-minimale schematron."""
    report = cda_validator.validate(build_n1(sample_document(), PDF, "application/pdf"))
    assert report.valid, report.failures
    assert "structuration-minimale" in report.schematrons


def test_removing_an_ins_trait_fails_the_ins_rule(cda_validator: Any) -> None:
    """Negative control: without the birth place the schematron's INS-traits assertion fails."""
    doc = sample_document(patient=dataclasses.replace(PATIENT, birth_place=None))
    report = cda_validator.validate(build_n1(doc, PDF, "application/pdf"))
    assert not report.valid
    assert any("traits de l'INS" in f.message for f in report.failures)
    assert PRO.id.root == "1.2.250.1.71.4.2.1"
