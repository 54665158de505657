"""ebRIM SubmitObjectsRequest: serialisation of a Submission, parsing back, refusals."""

from __future__ import annotations

import copy
import dataclasses

import pytest
from lxml import etree

from mappings.xds import ebrim
from mappings.xds.metadata import Code, MetadataError, Submission, from_cda
from tests.conftest import ANS_EXAMPLES

NS = ebrim.NS
N1 = "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
IMG = "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"
HOSPITAL = Code("03", "1.2.250.1.213.2.2", "Hospitalisation complète (non compris hospitalisation de semaine)")


def _submission(name: str, **kwargs: object) -> Submission:
    return from_cda((ANS_EXAMPLES / name).read_bytes(), submission_time="20260102030405",
                    content_type_code=HOSPITAL if "FLUDR" in name else None, **kwargs)  # type: ignore[arg-type]


def _round_trip(sub: Submission) -> Submission:
    data = etree.tostring(ebrim.to_submit_objects_request(sub))
    return ebrim.parse_submit_objects_request(etree.fromstring(data))


@pytest.mark.parametrize("name", sorted(p.name for p in ANS_EXAMPLES.glob("*.xml")))
def test_round_trip_gives_the_same_submission(name: str) -> None:
    """Build then parse gives the same Submission (the parent's uniqueId is not part of XDS metadata)."""
    sub = _submission(name, visibility=["MASQUE_PS", "INVISIBLE_REPRESENTANTS_LEGAUX"],
                      intended_recipients=["^^^^^^^^^mailto:someone@x.mssante.fr"], uri="DOC0001.XML",
                      repository_unique_id="1.2.250.1.213.1.1.1.9")
    assert _round_trip(sub) == dataclasses.replace(sub, replaced_unique_id=None)


def test_serialisation_is_deterministic() -> None:
    """The same Submission gives the same bytes."""
    sub = _submission(N1)
    first = etree.tostring(ebrim.to_submit_objects_request(sub))
    assert first == etree.tostring(ebrim.to_submit_objects_request(_submission(N1)))


def test_document_entry_shape() -> None:
    """The ExtrinsicObject has its slots, one classification per coded attribute and the two identifiers."""
    sub = _submission(N1, visibility=["MASQUE_PS"])
    root = ebrim.to_submit_objects_request(sub)
    (eo,) = root.findall("rim:RegistryObjectList/rim:ExtrinsicObject", NS)
    assert eo.get("objectType") == ebrim.DOCUMENT_ENTRY_TYPE and eo.get("mimeType") == "text/xml"
    assert eo.get("id") == sub.document.entry_id
    slots = {s.get("name") for s in eo.iterfind("rim:Slot", NS)}
    assert {"creationTime", "hash", "size", "languageCode", "sourcePatientId", "sourcePatientInfo",
            "serviceStartTime", "serviceStopTime", "legalAuthenticator"} <= slots
    schemes = [c.get("classificationScheme") for c in eo.iterfind("rim:Classification", NS)]
    assert schemes.count(ebrim.DE_CONFIDENTIALITY) == 2
    for scheme in (ebrim.DE_CLASS, ebrim.DE_TYPE, ebrim.DE_FORMAT, ebrim.DE_FACILITY, ebrim.DE_PRACTICE,
                   ebrim.DE_AUTHOR, ebrim.DE_EVENT):
        assert schemes.count(scheme) == 1, scheme
    ids = {e.get("identificationScheme"): e.get("value") for e in eo.iterfind("rim:ExternalIdentifier", NS)}
    assert ids == {ebrim.DE_PATIENT_ID: "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH",
                   ebrim.DE_UNIQUE_ID: "1.3.6.1.4.1.19376.1.2.20.12345.1.1"}
    # ebRIM RegistryObjectType order: Slot*, Name, Description, VersionInfo, Classification*, ExternalIdentifier*
    order = [etree.QName(child).localname for child in eo]
    assert order == sorted(order, key=["Slot", "Name", "Description", "VersionInfo", "Classification",
                                       "ExternalIdentifier"].index)


def test_submission_set_and_associations() -> None:
    """RegistryPackage classified as SubmissionSet, HasMember Original, and RPLC towards the parent entryUUID."""
    sub = _submission(IMG)
    root = ebrim.to_submit_objects_request(sub)
    (rp,) = root.findall("rim:RegistryObjectList/rim:RegistryPackage", NS)
    assert rp.get("id") == "SubmissionSet01"
    node = root.find(f"rim:RegistryObjectList/rim:Classification[@classificationNode='{ebrim.SUBMISSION_SET_NODE}']",
                     NS)
    assert node is not None and node.get("classifiedObject") == "SubmissionSet01"
    ids = {e.get("identificationScheme") for e in rp.iterfind("rim:ExternalIdentifier", NS)}
    assert ids == {ebrim.SS_UNIQUE_ID, ebrim.SS_SOURCE_ID, ebrim.SS_PATIENT_ID}
    associations = {a.get("associationType"): a for a in root.iterfind("rim:RegistryObjectList/rim:Association", NS)}
    member = associations[ebrim.HAS_MEMBER]
    assert (member.get("sourceObject"), member.get("targetObject")) == ("SubmissionSet01", sub.document.entry_id)
    assert member.findtext("rim:Slot[@name='SubmissionSetStatus']/rim:ValueList/rim:Value", namespaces=NS) == \
        "Original"
    rplc = associations[ebrim.RPLC]
    assert (rplc.get("sourceObject"), rplc.get("targetObject")) == (sub.document.entry_id, sub.replaced_entry_uuid)


def test_no_rplc_without_parent() -> None:
    """An original document has no RPLC association."""
    root = ebrim.to_submit_objects_request(_submission(N1))
    kinds = [a.get("associationType") for a in root.iterfind("rim:RegistryObjectList/rim:Association", NS)]
    assert kinds == [ebrim.HAS_MEMBER]


def _request(name: str = N1) -> etree._Element:
    return ebrim.to_submit_objects_request(_submission(name))


def test_parse_refuses_another_root() -> None:
    """Only lcm:SubmitObjectsRequest is read."""
    with pytest.raises(MetadataError, match="not an ebRIM SubmitObjectsRequest"):
        ebrim.parse_submit_objects_request(etree.fromstring(b"<x/>"))


def test_parse_refuses_two_documents() -> None:
    """Exactly one DocumentEntry is expected."""
    root = _request()
    objects = root.find("rim:RegistryObjectList", NS)
    objects.append(copy.deepcopy(objects.find("rim:ExtrinsicObject", NS)))
    with pytest.raises(MetadataError) as caught:
        ebrim.parse_submit_objects_request(root)
    assert "2 DocumentEntry" in caught.value.problems[0].text


def test_parse_lists_missing_slots_identifiers_and_association() -> None:
    """A DocumentEntry without hash, without uniqueId, with two typeCodes and no HasMember gives four problems."""
    root = _request()
    eo = root.find("rim:RegistryObjectList/rim:ExtrinsicObject", NS)
    eo.remove(eo.find("rim:Slot[@name='hash']", NS))
    eo.remove(eo.find(f"rim:ExternalIdentifier[@identificationScheme='{ebrim.DE_UNIQUE_ID}']", NS))
    type_code = eo.find(f"rim:Classification[@classificationScheme='{ebrim.DE_TYPE}']", NS)
    type_code.addnext(copy.deepcopy(type_code))
    objects = root.find("rim:RegistryObjectList", NS)
    objects.remove(objects.find(f"rim:Association[@associationType='{ebrim.HAS_MEMBER}']", NS))
    with pytest.raises(MetadataError) as caught:
        ebrim.parse_submit_objects_request(root)
    texts = [p.text for p in caught.value.problems]
    assert texts == ["slot hash is missing", "typeCode: 2 classifications, exactly one expected",
                     "uniqueId: 0 ExternalIdentifiers, exactly one expected",
                     "no HasMember association from the SubmissionSet to the DocumentEntry"]


def test_parse_refuses_a_bad_size() -> None:
    """size must be a number of bytes."""
    root = _request()
    value = root.find("rim:RegistryObjectList/rim:ExtrinsicObject/rim:Slot[@name='size']/rim:ValueList/rim:Value",
                      NS)
    value.text = "big"
    with pytest.raises(MetadataError, match="slot size is not a number"):
        ebrim.parse_submit_objects_request(root)
