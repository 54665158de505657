"""XDS metadata from the CDA header: the ANS examples, the kit's value sets, the kit's CDAHeaderToXDM.xsl as oracle."""

from __future__ import annotations

import dataclasses
import hashlib
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from mappings.xds import hl7v2
from mappings.xds import valuesets as vs
from mappings.xds.metadata import Code, MetadataError, Submission, check_codes, entry_uuid_for, from_cda
from tests.conftest import ANS_EXAMPLES, ANS_KIT

JDV = ANS_KIT / "jeuxDeValeurs"
STYLESHEET = ANS_KIT / "FeuilleDeStyle" / "CDAHeaderToXDM.xsl"
SVS = {"s": "urn:ihe:iti:svs:2008"}
EXAMPLES = sorted(p.name for p in ANS_EXAMPLES.glob("*.xml"))
# The FLUDR example comes from a public hospital (SA01), a facility type JDV_J59 does not list: the caller
# must give the contentTypeCode (here "hospitalisation complète", TRE_R209 03).
HOSPITAL = Code("03", vs.TRE_R209_TYPE_ACTIVITE, "Hospitalisation complète (non compris hospitalisation de semaine)")
N1 = "DOC_NON_STRUCTURE_CDA-R2-N1.xml"


def _example(name: str) -> bytes:
    return (ANS_EXAMPLES / name).read_bytes()


@cache
def _submission(name: str) -> Submission:
    return from_cda(_example(name), submission_time="20260102030405",
                    content_type_code=HOSPITAL if "FLUDR" in name else None)


def _kit_concepts(file_name: str) -> tuple[dict[tuple[str, str], str], etree._Element]:
    tree = etree.parse(str(JDV / file_name))
    concepts = {(c.get("code"), c.get("codeSystem")): c.get("displayName")
                for c in tree.iterfind(".//s:Concept", SVS)}
    return concepts, tree.find(".//s:ValueSet", SVS)


def _replace_code(cda: bytes, old: bytes, new: bytes) -> bytes:
    assert old in cda
    return cda.replace(old, new, 1)


# ------------------------------------------------------------------ the shipped tables against the kit


@pytest.mark.parametrize(("file_name", "table", "version"), [
    ("JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.xml", vs.J61_HEALTHCARE_FACILITY_TYPE_CODE, "20241213120000"),
    ("JDV_J04_XdsPracticeSettingCode_CISIS.xml", vs.J04_PRACTICE_SETTING_CODE, "20240927120000"),
    ("JDV_J08_XdsConfidentialityCode_CISIS.xml", vs.J58_CONFIDENTIALITY_CODE, "20200424120000"),
])
def test_shipped_value_set_equals_the_kit_file(file_name: str, table: vs.ValueSet, version: str) -> None:
    """A table copied from (or equal to) a kit JDV has the same codes, systems and labels, and the noted version."""
    concepts, valueset = _kit_concepts(file_name)
    assert table.concepts == concepts
    assert valueset.get("dateMaj") == version


def test_dmp_type_codes_are_ci_sis_type_codes() -> None:
    """JDV_J66 is a subset of the kit's JDV_J07 (the CDA code value set), apart from one code J07 has dropped."""
    concepts, _ = _kit_concepts("JDV_J07_XdsTypeCode_CISIS.xml")
    missing = {code for code, _ in vs.J66_TYPE_CODES if (code, _) not in concepts}
    assert missing == {"11526-1"}
    assert len(vs.J66_TYPE_CODES) == 102


def test_every_type_code_maps_to_a_dmp_class() -> None:
    """ASS_X16 targets only JDV_J57 classes; the medico-social types map as french-interop.md §6.2 says."""
    assert {(cls, vs.TRE_A03_CLASSE_DOCUMENT) for cls in vs.X16_TYPE_TO_CLASS.values()} <= vs.J57_CLASS_CODE.codes()
    expected = {"74207-2": "11", "80788-3": "44", "28653-4": "10", "34842-5": "11", "83981-1": "10",
                "88348-8": "11", "18776-5": "44"}
    assert {code: vs.X16_TYPE_TO_CLASS[(code, vs.LOINC)] for code in expected} == expected


def test_content_types_cover_the_medico_social_facilities() -> None:
    """The ESMS facility types (SA16, SA17, SA18, SA41) are valid contentTypeCodes; hospitals (SA01) are not."""
    for code in ("SA16", "SA17", "SA18", "SA41"):
        assert (code, vs.TRE_R02_SECTEUR_ACTIVITE) in vs.J59_CONTENT_TYPE_CODE
    assert ("SA01", vs.TRE_R02_SECTEUR_ACTIVITE) not in vs.J59_CONTENT_TYPE_CODE


# ------------------------------------------------------------------ the official examples


@pytest.mark.parametrize(("name", "class_code", "format_code"), [
    ("DLU-EHPAD-DLU_2022.01.xml", "11", "urn:asip:ci-sis:dlu:2015"),
    ("DLU-EHPAD-FLUDR_2022.01.xml", "11", "urn:asip:ci-sis:fludr:2017"),
    ("DLU-EHPAD-FLUDT_2022.01.xml", "11", "urn:asip:ci-sis:fludt:2017"),
    (N1, "10", "urn:ihe:iti:xds-sd:pdf:2008"),
    ("IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml", "31", "urn:ihe:iti:xds-sd:pdf:2008"),
])
def test_examples_give_dmp_metadata(name: str, class_code: str, format_code: str) -> None:
    """Each ANS example yields J57 class from X16, the volet's J60 format, the INS patientId and valid codes."""
    sub = _submission(name)
    doc = sub.document
    assert doc.class_code.code == class_code
    assert doc.format_code.code == format_code
    assert doc.patient_id == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert doc.source_patient_id == "1234567890121^^^&1.2.3.4.567.8.9.10&ISO^PI"
    assert doc.mime_type == "text/xml"
    assert doc.hash == hashlib.sha1(_example(name)).hexdigest()
    assert doc.size == len(_example(name))
    assert sub.submission_set.patient_id == doc.patient_id
    assert sub.submission_set.submission_time == "20260102030405"
    assert check_codes(sub) == []


def test_n1_header_fields() -> None:
    """The N1 example: times in UTC, uniqueId, author XCN/XON/specialty, legal authenticator, PID-5 names."""
    doc = _submission(N1).document
    assert doc.unique_id == "1.3.6.1.4.1.19376.1.2.20.12345.1.1"
    assert doc.creation_time == "20210401124745"          # 20210401134745+0100
    assert (doc.service_start_time, doc.service_stop_time) == ("20210104124700", "20210104125500")
    assert doc.type_code == Code("11502-2", vs.LOINC, "CR d'examens biologiques")
    assert doc.healthcare_facility_type_code == Code("SA07", vs.TRE_R02_SECTEUR_ACTIVITE, "Cabinet individuel")
    assert doc.practice_setting_code.code == "AMBULATOIRE"
    assert doc.confidentiality_codes == (Code("N", vs.HL7_CONFIDENTIALITY, "Normal"),)
    assert doc.event_codes == (Code("18723-7", vs.LOINC, "Hématologie"),)
    (author,) = doc.authors
    assert author.person == "801234534765^CAMPARINI^Marcel^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert author.institutions == ("Laboratoire des charmes^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1120459876",)
    assert author.specialties == ("G15_10/SM03^Médecin - Biologie médicale (SM)^1.2.250.1.213.1.1.4.5",)
    assert doc.legal_authenticator == "807505123456^Camparini^Marcel^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert "PID-5|PAT-TROIS^DOMINIQUE MARIE-LOUISE^^^^^L" in doc.source_patient_info
    assert "PID-5|PAT-TROIS^DOMINIQUE^^^^^D" in doc.source_patient_info
    assert doc.source_patient_info[-2:] == ("PID-7|19790328", "PID-8|F")
    assert (doc.logical_id, doc.version) == ("1.3.6.1.4.1.19376.1.2.20.12345.1", "1")
    assert doc.entry_id == entry_uuid_for(doc.unique_id)
    sset = _submission(N1).submission_set
    assert sset.source_id == "1.3.6.1.4.1.19376.1.2.20.12345.1.1"
    assert sset.unique_id.startswith("2.25.") and sset.unique_id[5:].isdigit()
    assert sset.content_type_code.code == "SA07"


def test_replacement_points_at_the_parent() -> None:
    """relatedDocument RPLC gives the parent's uniqueId and, by default, the entryUUID this product gives it."""
    sub = _submission("IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml")
    assert sub.replaced_unique_id == "90E1C8EC-F951-4B26-A305-A34848818DD6"
    assert sub.replaced_entry_uuid == entry_uuid_for("90E1C8EC-F951-4B26-A305-A34848818DD6")
    given = from_cda(_example("IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"),
                     replaced_entry_uuid="urn:uuid:11111111-2222-3333-4444-555555555555")
    assert given.replaced_entry_uuid == "urn:uuid:11111111-2222-3333-4444-555555555555"
    assert _submission(N1).replaced_unique_id is None and _submission(N1).replaced_entry_uuid is None


def test_visibility_labels_follow_the_cda_confidentiality() -> None:
    """Visibility labels come after N/R/V, once each, from TRE_A07."""
    sub = from_cda(_example(N1), visibility=["INVISIBLE_PATIENT", "MASQUE_PS", "INVISIBLE_PATIENT"])
    assert [(c.code, c.scheme) for c in sub.document.confidentiality_codes] == [
        ("N", vs.HL7_CONFIDENTIALITY), ("INVISIBLE_PATIENT", vs.TRE_A07_STATUT_VISIBILITE),
        ("MASQUE_PS", vs.TRE_A07_STATUT_VISIBILITE)]
    assert sub.document.confidentiality_codes[2].display == "Masqué aux professionnels de santé"


def test_hash_is_of_the_bytes_sent() -> None:
    """With an element and explicit bytes, the hash and size are those of the bytes given."""
    root = etree.fromstring(_example(N1))
    payload = b"<not-really/>"
    doc = from_cda(root, document=payload).document
    assert (doc.hash, doc.size) == (hashlib.sha1(payload).hexdigest(), len(payload))


# ------------------------------------------------------------------ refusals


def _problems(cda: bytes, **kwargs: object) -> list[str]:
    with pytest.raises(MetadataError) as caught:
        from_cda(cda, **kwargs)  # type: ignore[arg-type]
    return [p.attribute + ": " + p.text for p in caught.value.problems]


def test_type_code_outside_j66_is_refused() -> None:
    """EXPORT_DUI is a CI-SIS type (J07) the DMP does not take (not in J66/X16)."""
    cda = _replace_code(_example(N1), b'code="11502-2" displayName="CR d\'examens biologiques" '
                                      b'codeSystem="2.16.840.1.113883.6.1"',
                        b'code="EXPORT_DUI" displayName="Export DUI" codeSystem="1.2.250.1.213.1.1.4.12"')
    problems = _problems(cda)
    assert problems == ["typeCode: typeCode: code 'EXPORT_DUI' (system '1.2.250.1.213.1.1.4.12') is not in "
                        "JDV_J66-TypeCode-DMP"]


def test_all_problems_are_reported_at_once() -> None:
    """A document without INS, with an unknown facility type and a bad visibility label lists the three."""
    cda = _example(N1).replace(b'root="1.2.250.1.213.1.4.10"', b'root="1.2.3.4"')
    cda = _replace_code(cda, b'code="SA07"', b'code="SA99"')
    with pytest.raises(MetadataError) as caught:
        from_cda(cda, visibility=["SECRET"])
    attributes = [p.attribute for p in caught.value.problems]
    assert attributes == ["patientId", "healthcareFacilityTypeCode", "confidentialityCode", "contentTypeCode"]
    text = str(caught.value)
    assert "no INS" in text and "'SA99'" in text and "'SECRET' is not one of MASQUE_PS" in text
    assert caught.value.problems[1].location.endswith("healthCareFacility/code")


def test_confidentiality_must_be_hl7() -> None:
    """A visibility label in the CDA confidentialityCode is refused: the CDA carries N, R or V only."""
    cda = _replace_code(_example(N1), b'<confidentialityCode code="N" displayName="Normal" '
                                      b'codeSystem="2.16.840.1.113883.5.25"',
                        b'<confidentialityCode code="MASQUE_PS" displayName="x" codeSystem="1.2.250.1.213.1.1.4.13"')
    assert any("must be N, R or V" in p for p in _problems(cda))


def test_unknown_practice_setting_and_format() -> None:
    """A practice setting outside J04 and a body type without J60 formatCode are named."""
    cda = _replace_code(_example(N1), b'code="AMBULATOIRE"', b'code="PARTOUT"')
    cda = _replace_code(cda, b'mediaType="application/pdf"', b'mediaType="application/zip"')
    problems = _problems(cda)
    assert any(p.startswith("practiceSettingCode: ") and "'PARTOUT'" in p for p in problems)
    assert any(p.startswith("formatCode: ") and "'application/zip'" in p for p in problems)


def test_not_a_cda_document() -> None:
    """Another XML root is refused with one clear problem."""
    with pytest.raises(MetadataError, match="not a CDA document"):
        from_cda(b"<root/>")


def test_check_codes_finds_mismatched_class() -> None:
    """Received metadata whose classCode disagrees with ASS_X16 is flagged."""
    sub = _submission(N1)
    wrong = dataclasses.replace(sub, document=dataclasses.replace(
        sub.document, class_code=Code("44", vs.TRE_A03_CLASSE_DOCUMENT, "Plan de soins, protocole de soins")))
    assert [p.attribute for p in check_codes(wrong)] == ["classCode"]


# ------------------------------------------------------------------ HL7 v2 helpers


@pytest.mark.parametrize(("ts", "utc"), [
    ("20210401134745+0100", "20210401124745"),
    ("20210101003000+0200", "20201231223000"),
    ("202101040735-0500", "202101041235"),
    ("20200701134745", "20200701134745"),
    ("19790328", "19790328"),
    ("20240101+0100", "20240101"),
    ("20210401134745.123+0000", "20210401134745"),
])
def test_dtm_utc(ts: str, utc: str) -> None:
    """CDA timestamps become UTC DTM with their precision."""
    assert hl7v2.dtm_utc(ts) == utc


def test_hl7v2_escaping_round_trips() -> None:
    """Delimiters inside a name are escaped and read back."""
    value = hl7v2.cx("A^B&C", "1.2.3", "PI")
    assert value == "A\\S\\B\\T\\C^^^&1.2.3&ISO^PI"
    assert hl7v2.parse_cx(value) == ("A^B&C", "1.2.3", "PI")


# ------------------------------------------------------------------ the ANS stylesheet as oracle


def _strip_namespaces(cda: bytes) -> bytes:
    """CDAHeaderToXDM.xsl matches ``ClinicalDocument`` in no namespace: feed it the document without namespaces."""
    root = etree.fromstring(cda)
    for element in root.iter():
        if isinstance(element.tag, str):
            element.tag = etree.QName(element).localname
        for name in list(element.attrib):
            if name.startswith("{"):
                del element.attrib[name]
    etree.cleanup_namespaces(root)
    return etree.tostring(root)


@cache
def _stylesheet_output(name: str) -> etree._Element:
    saxonche = pytest.importorskip("saxonche")
    with saxonche.PySaxonProcessor(license=False) as proc:
        xslt = proc.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(STYLESHEET))
        node = proc.parse_xml(xml_text=_strip_namespaces(_example(name)).decode())
        result = xslt.transform_to_string(xdm_node=node)
    root = etree.fromstring(result.encode())
    for element in root.iter():
        if isinstance(element.tag, str):
            element.tag = etree.QName(element).localname
    return root


def _slot(eo: etree._Element, name: str) -> list[str]:
    return [(v.text or "").strip() for v in eo.xpath(f"Slot[@name='{name}']/ValueList/Value")]


def _classification(eo: etree._Element, ident: str) -> list[Code]:
    return [Code(c.get("nodeRepresentation", ""), "".join(c.xpath("Slot/ValueList/Value/text()")).strip(),
                 c.xpath("string(Name/LocalizedString/@value)")) for c in eo.xpath(f"Classification[@id='{ident}']")]


def _components(value: str) -> list[str]:
    return [c.strip() for c in value.split("^")]


@pytest.mark.parametrize("name", EXAMPLES)
def test_metadata_agree_with_the_ans_stylesheet(name: str) -> None:
    """Field by field against CDAHeaderToXDM.xsl, normalising only where the stylesheet is known to differ.

    Known differences (not bugs here): the stylesheet copies CDA times with their offset (we convert to UTC as
    ITI TF-3 requires), concatenates repeated elements (several ids, several lows) into one value, writes the
    assigning authority without ``&…&ISO`` and the 2017 patientId form ``…^INS-C^^DateEffective``; its formatCode
    table predates XDS-SD/DLU/FLUDT/FLUDR so it answers ``urn:asipSante:modelesHorsProfils:2011`` for every example.
    """
    ours = _submission(name).document
    eo = _stylesheet_output(name).xpath("//ExtrinsicObject")[0]
    assert hl7v2.dtm_utc(_slot(eo, "creationTime")[0]) == ours.creation_time
    assert _slot(eo, "languageCode") == [ours.language_code]
    assert eo.xpath("string(Name/LocalizedString/@value)") == ours.title
    assert eo.xpath("string(ExternalIdentifier[@id='uniqueId']/@value)") == ours.unique_id
    assert _classification(eo, "Type") == [ours.type_code]
    assert _classification(eo, "healthCareFacility") == [ours.healthcare_facility_type_code]
    (practice,) = _classification(eo, "standardIndustryClassCode")  # one value per performer, space-joined
    assert (practice.code.split()[0], practice.scheme.split()[0]) == (ours.practice_setting_code.code,
                                                                      ours.practice_setting_code.scheme)
    assert practice.display.startswith(ours.practice_setting_code.display)
    (confidentiality,) = _classification(eo, "confidentialityCode")
    assert (confidentiality.code, confidentiality.scheme) == (ours.confidentiality_codes[0].code,
                                                              ours.confidentiality_codes[0].scheme)
    assert tuple(_classification(eo, "serviceEvent")) == ours.event_codes
    lows = _slot(eo, "serviceStartTime")[0].split()
    assert (min(hl7v2.dtm_utc(v) for v in lows) if lows else None) == ours.service_start_time
    highs = _slot(eo, "serviceStopTime")
    assert (max(hl7v2.dtm_utc(v) for v in highs) if highs else None) == ours.service_stop_time
    (format_code,) = _classification(eo, "formatCode")
    assert format_code.code == "urn:asipSante:modelesHorsProfils:2011" != ours.format_code.code
    # patient: the stylesheet joins every recordTarget id; the INS comes first in the examples
    patient = eo.xpath("string(Slot[@name='PatientId']/ValueList/Value)").split("^")[0].split()
    assert patient[0] == hl7v2.parse_cx(ours.patient_id)[0]
    info = _slot(eo, "SourcePatientInfo")
    assert [v for v in info if v.startswith(("PID-7", "PID-8"))] == [
        v for v in ours.source_patient_info if v.startswith(("PID-7", "PID-8"))]
    # author and legal authenticator: id, family and given name components
    (author,) = ours.authors
    theirs = _components(_slot(eo.xpath("classification")[0], "authorPerson")[0])
    assert theirs[:3] == _components(author.person or "")[:3]
    specialty = _slot(eo.xpath("classification")[0], "authorSpecialty")
    assert specialty == list(author.specialties)
    institution = _components(_slot(eo.xpath("classification")[0], "authorInstitution")[0])
    mine = _components(author.institutions[0])
    assert (institution[0], institution[5], institution[9]) == (mine[0], mine[5].split("&")[1], mine[9])
    legal = _components(_slot(eo, "legalAuthenticator")[0])
    assert legal[:3] == _components(ours.legal_authenticator or "")[:3]


def test_stylesheet_path_is_the_kit() -> None:
    """The oracle is the kit's own file (not a copy in the repository)."""
    assert STYLESHEET.is_file() and Path(STYLESHEET).parent.name == "FeuilleDeStyle"


# ------------------------------------------------------------------ documents this product generates


def _generated(**changes: object) -> Submission:
    from mappings.cda.documents.n1 import build_n1
    from tests.mappings import sample_document

    root = build_n1(sample_document(**changes), b"%PDF-1.4\n% test\n", "application/pdf")
    return from_cda(root, visibility=["MASQUE_PS"])


def test_generated_n1_consultation() -> None:
    """The product's N1 (consultation report in an EHPAD): class 10, XDS-SD PDF, SA17/ESSMS, accents kept."""
    sub = _generated()
    doc = sub.document
    assert (doc.class_code.code, doc.format_code.code) == ("10", "urn:ihe:iti:xds-sd:pdf:2008")
    assert (doc.healthcare_facility_type_code.code, doc.practice_setting_code.code) == ("SA17", "ESSMS")
    assert sub.submission_set.content_type_code.code == "SA17"
    assert doc.patient_id == "240062123191008^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert doc.creation_time == "20260422140000"
    assert doc.authors[0].person == "810797309118^Aubépin^Loïc^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    assert [c.code for c in doc.confidentiality_codes] == ["N", "MASQUE_PS"]
    assert any(v.startswith("PID-5|SAINT-PIERRE^Lucienne Marie Éléonore^") for v in doc.source_patient_info)


def test_generated_projet_personnalise_is_a_care_plan() -> None:
    """80788-3 (projet personnalisé d'accompagnement) is DMP class 44."""
    from mappings.cda.model import Code as CdaCode

    sub = _generated(code=CdaCode("80788-3", vs.LOINC, "Projet personnalisé d'accompagnement", "LOINC"),
                     title="Projet personnalisé")
    assert sub.document.class_code == Code("44", vs.TRE_A03_CLASSE_DOCUMENT, "Plan de soins, protocole de soins")


def test_generated_with_nia_and_replacement() -> None:
    """An INS-NIA is the patientId when there is no NIR; a replacement points at the replaced document."""
    from mappings.cda.model import Identifier
    from tests.mappings import PATIENT

    nia = dataclasses.replace(PATIENT, ids=(Identifier("1.2.250.1.213.1.4.9", "240062123191999"),))
    sub = _generated(patient=nia, replaces=Identifier("1.2.250.1.213.1.1.9.0"))
    assert sub.document.patient_id == "240062123191999^^^&1.2.250.1.213.1.4.9&ISO^NH"
    assert sub.replaced_unique_id == "1.2.250.1.213.1.1.9.0"
    assert sub.replaced_entry_uuid == entry_uuid_for("1.2.250.1.213.1.1.9.0")


def test_device_author() -> None:
    """An authoring device is named by its software in authorPerson, with its identifier."""
    cda = _example(N1)
    start = cda.index(b"<assignedPerson>")
    end = cda.index(b"</assignedPerson>") + len(b"</assignedPerson>")
    device = (b"<assignedAuthoringDevice><manufacturerModelName>DUI</manufacturerModelName>"
              b"<softwareName>DUI server</softwareName></assignedAuthoringDevice>")
    doc = from_cda(cda[:start] + device + cda[end:]).document
    assert doc.authors[0].person == "801234534765^DUI server^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"


def test_missing_header_elements_are_named() -> None:
    """No title and no effectiveTime: creationTime and title are reported with their CDA path."""
    cda = _replace_code(_example(N1), b"<title>Compte rendu d'examens biologiques</title>", b"")
    cda = _replace_code(cda, b'<effectiveTime value="20210401134745+0100"/>', b"")
    with pytest.raises(MetadataError) as caught:
        from_cda(cda)
    assert [(p.attribute, p.location) for p in caught.value.problems] == [
        ("creationTime", "/h:ClinicalDocument/h:effectiveTime/@value"), ("title", "/h:ClinicalDocument/h:title")]


def test_received_bytes_are_parsed_safely() -> None:
    """Entities are not expanded (no XXE) and malformed XML is a MetadataError."""
    evil = _example(N1).replace(b"<ClinicalDocument", b"<!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM "
                                b"'file:///etc/hostname'>]>\n<ClinicalDocument", 1)
    evil = evil.replace(b"<title>Compte rendu d'examens biologiques</title>", b"<title>&x;</title>", 1)
    assert from_cda(evil).document.title == "&x;"  # the reference is kept as is, the file is never read
    with pytest.raises(MetadataError, match="not well-formed"):
        from_cda(b"<ClinicalDocument")
