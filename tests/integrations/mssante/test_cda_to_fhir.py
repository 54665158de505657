"""CDA -> FHIR for a received document (mappings.cda.to_fhir) on the official ANS examples."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from lxml import etree

from mappings.cda.to_fhir import CdaReadError, binary_id, fhir_datetime, read_document

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "ans" / "cda-examples"
N1 = EXAMPLES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
DLU = EXAMPLES / "DLU-EHPAD-DLU_2022.01.xml"
V3 = "{urn:hl7-org:v3}"


def _contained(doc: dict, ref: str) -> dict:
    return next(r for r in doc["contained"] if f"#{r['id']}" == ref)


def test_n1_header_maps_to_document_reference() -> None:
    """The N1 example's id, type, date, confidentiality, custodian and context land on the DocumentReference."""
    received = read_document(N1.read_bytes())
    doc = received.document_reference
    assert received.unique_id == "1.3.6.1.4.1.19376.1.2.20.12345.1.1"
    assert doc["masterIdentifier"] == {"system": "urn:ietf:rfc:3986",
                                       "value": "urn:oid:1.3.6.1.4.1.19376.1.2.20.12345.1.1"}
    assert doc["type"]["coding"] == [{"system": "http://loinc.org", "code": "11502-2",
                                      "display": "CR d'examens biologiques"}]
    assert doc["category"][0]["coding"][0]["system"] == "urn:oid:1.2.250.1.213.1.1.4.1"
    assert doc["category"][0]["coding"][0]["code"] == "10"  # ASS_X16: 11502-2 -> 10 (compte rendu)
    assert doc["date"] == "2021-04-01T13:47:45+01:00"
    assert doc["securityLabel"][0]["coding"][0]["code"] == "N"
    assert doc["subject"]["identifier"] == {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "279035121518989"}
    custodian = _contained(doc, doc["custodian"]["reference"])
    assert custodian["identifier"] == [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1120459876"}]
    assert custodian["name"] == "Laboratoire des charmes"
    context = doc["context"]
    assert context["period"] == {"start": "2021-01-04T13:47:00+01:00", "end": "2021-01-04T13:55:00+01:00"}
    assert context["facilityType"]["coding"][0]["code"] == "SA07"
    assert context["practiceSetting"]["coding"][0]["code"] == "AMBULATOIRE"
    assert context["event"][0]["coding"][0]["code"] == "18723-7"


def test_n1_author_is_a_contained_practitioner_role_with_idnps() -> None:
    """The author becomes a contained PractitionerRole whose Practitioner carries the IDNPS."""
    doc = read_document(N1.read_bytes()).document_reference
    role = _contained(doc, doc["author"][0]["reference"])
    practitioner = _contained(doc, role["practitioner"]["reference"])
    assert practitioner["identifier"] == [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "801234534765"}]
    assert practitioner["name"][0]["family"] == "CAMPARINI"
    assert role["specialty"][0]["coding"][0]["code"] == "G15_10/SM03"
    assert _contained(doc, role["organization"]["reference"])["name"] == "Laboratoire des charmes"
    authenticator = _contained(doc, doc["authenticator"]["reference"])
    assert _contained(doc, authenticator["practitioner"]["reference"])["identifier"][0]["value"] == "807505123456"


def test_n1_content_is_the_cda_and_the_embedded_pdf() -> None:
    """Two attachments: the CDA (text/xml, XDS-SD PDF format) and the PDF decoded from nonXMLBody, with Binaries
    whose size and SHA-1 match."""
    raw = N1.read_bytes()
    received = read_document(raw)
    cda_att, pdf_att = (c["attachment"] for c in received.document_reference["content"])
    assert received.document_reference["content"][0]["format"]["code"] == "urn:ihe:iti:xds-sd:pdf:2008"
    assert cda_att["contentType"] == "text/xml" and cda_att["size"] == len(raw)
    assert cda_att["hash"] == base64.b64encode(hashlib.sha1(raw).digest()).decode()  # noqa: S324
    text = etree.fromstring(raw).find(f"{V3}component/{V3}nonXMLBody/{V3}text")
    assert text is not None
    pdf = base64.b64decode("".join((text.text or "").split()))
    assert received.rendition == pdf and pdf.startswith(b"%PDF")
    assert pdf_att["contentType"] == "application/pdf" and pdf_att["size"] == len(pdf)
    cda_bin, pdf_bin = received.binaries
    assert cda_att["url"] == f"Binary/{cda_bin['id']}" and pdf_att["url"] == f"Binary/{pdf_bin['id']}"
    assert base64.b64decode(pdf_bin["data"]) == pdf and base64.b64decode(cda_bin["data"]) == raw
    assert cda_bin["id"] == binary_id(received.unique_id, "cda") != pdf_bin["id"]


def test_patient_identity_and_strict_traits() -> None:
    """recordTarget gives the INS (test OID), the IPP and the INS traits with the CI-SIS qualifiers."""
    patient = read_document(N1.read_bytes()).patient
    assert (patient.ins_system, patient.ins) == ("urn:oid:1.2.250.1.213.1.4.10", "279035121518989")
    assert patient.other_identifiers == (("urn:oid:1.2.3.4.567.8.9.10", "1234567890121"),)
    assert patient.birth_family == "PAT-TROIS"
    assert patient.first_given == "DOMINIQUE"
    assert patient.given_list == "DOMINIQUE MARIE-LOUISE"
    assert (patient.sex, patient.birth_date, patient.birth_place) == ("female", "1979-03-28", "51215")


def test_dlu_is_structured_with_its_volet_format_and_no_rendition() -> None:
    """The DLU example maps with the DLU format code, the encounter's facility type and a single content."""
    received = read_document(DLU.read_bytes())
    doc = received.document_reference
    assert received.rendition is None and len(received.binaries) == 1
    assert [c["attachment"]["contentType"] for c in doc["content"]] == ["text/xml"]
    assert doc["content"][0]["format"]["code"] == "urn:asip:ci-sis:dlu:2015"
    assert doc["type"]["coding"][0]["code"] == "74207-2"
    assert doc["category"][0]["coding"][0]["code"] == "11"  # ASS_X16: DLU -> 11 (synthèse)
    assert doc["context"]["facilityType"]["coding"][0]["code"] == "SA17"
    assert doc["context"]["practiceSetting"]["coding"][0]["code"] == "ETABLISSEMENT"
    assert doc["description"] == "DOCUMENT DE LIAISON D'URGENCE"
    assert received.patient.ins == "279035121518989"


def test_replacement_maps_to_relates_to() -> None:
    """relatedDocument RPLC gives relatesTo replaces, target identified by the parent document id."""
    root = etree.fromstring(N1.read_bytes())
    related = etree.Element(f"{V3}relatedDocument", typeCode="RPLC")
    parent = etree.SubElement(related, f"{V3}parentDocument")
    etree.SubElement(parent, f"{V3}id", root="1.2.3.4.5", extension="v1")
    root.find(f"{V3}componentOf").addprevious(related)  # type: ignore[union-attr]
    received = read_document(root)
    assert received.replaces == "1.2.3.4.5^v1"
    assert received.document_reference["relatesTo"] == [
        {"code": "replaces", "target": {"identifier": {"system": "urn:oid:1.2.3.4.5", "value": "v1"}}}]


def test_missing_custodian_is_named() -> None:
    """A document without custodian is refused with the element's path."""
    root = etree.fromstring(N1.read_bytes())
    root.remove(root.find(f"{V3}custodian"))  # type: ignore[arg-type]
    with pytest.raises(CdaReadError) as caught:
        read_document(root)
    assert caught.value.path == "/ClinicalDocument/custodian"


def test_not_a_cda_and_bad_base64_are_refused() -> None:
    """Non-XML input, a foreign root element and a corrupt embedded PDF give precise errors."""
    with pytest.raises(CdaReadError, match="not well-formed"):
        read_document(b"<ClinicalDocument")
    with pytest.raises(CdaReadError, match="ClinicalDocument"):
        read_document(b"<html/>")
    root = etree.fromstring(N1.read_bytes())
    text = root.find(f"{V3}component/{V3}nonXMLBody/{V3}text")
    assert text is not None
    text.text = "bm90IGEgcGRm"  # "not a pdf"
    with pytest.raises(CdaReadError, match="not a PDF"):
        read_document(root)


def test_missing_ins_leaves_the_identity_without_ins() -> None:
    """Without an INS root in patientRole/id the identity has no INS (the caller answers 903)."""
    root = etree.fromstring(N1.read_bytes())
    role = root.find(f"{V3}recordTarget/{V3}patientRole")
    assert role is not None
    role.remove(role.find(f"{V3}id"))  # type: ignore[arg-type]
    received = read_document(root)
    assert received.patient.ins is None and "identifier" not in received.document_reference["subject"]


@pytest.mark.parametrize(("value", "kwargs", "expected"), [
    ("20210401134745+0100", {}, "2021-04-01T13:47:45+01:00"),
    ("202101040735+0100", {}, "2021-01-04T07:35:00+01:00"),
    ("19790328", {}, "1979-03-28"),
    ("197903", {}, "1979-03"),
    ("19790328", {"instant": True}, "1979-03-28T00:00:00+01:00"),
    ("20200701134745", {}, "2020-07-01T13:47:45+02:00"),  # no zone: Paris summer time
])
def test_timestamps(value: str, kwargs: dict, expected: str) -> None:
    """CDA TS values become FHIR dateTimes at their precision, Paris time when no zone is given."""
    assert fhir_datetime(value, **kwargs) == expected


def test_invalid_timestamp_is_refused() -> None:
    """A malformed TS names the element."""
    with pytest.raises(CdaReadError) as caught:
        fhir_datetime("2021-04-01", "/ClinicalDocument/effectiveTime")
    assert caught.value.path == "/ClinicalDocument/effectiveTime"


def test_jpeg_n1_keeps_its_media_type_and_format() -> None:
    """An N1 with a JPEG body: the rendition is image/jpeg and the format the JDV_J60 JPEG code."""
    from mappings.cda.documents.n1 import build_n1
    from tests.mappings import sample_document

    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 16 + b"\xff\xd9"
    received = read_document(build_n1(sample_document(), jpeg, "image/jpeg"))
    assert (received.rendition, received.rendition_type) == (jpeg, "image/jpeg")
    content = received.document_reference["content"]
    assert content[0]["format"]["code"] == "urn:ihe:iti-fr:xds-sd:jpeg:2010"
    assert content[1]["attachment"]["contentType"] == "image/jpeg"
