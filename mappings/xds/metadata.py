"""CDA R2 header (CI-SIS) → XDS.b DocumentEntry + SubmissionSet, with the DMP value sets.

Mapping: ANS CI-SIS annex "Lien entre l'en-tête CDA et les métadonnées XDS"
(https://esante.gouv.fr/annexe-lien-entre-len-tete-cda-et-les-metadonnees-xds), the kit's reference stylesheet
``FeuilleDeStyle/CDAHeaderToXDM.xsl`` and french-interop.md §6.2. Deliberate differences from the stylesheet
(which is a 2017 skeleton): times are converted to UTC (ITI TF-3 §4.2.3.1.7), patientId is the DMP form
``INS^^^&OID&ISO^NH``, formatCode follows JDV_J60 (XDS-SD, DLU, FLUDT, FLUDR), classCode comes from ASS_X16,
HL7 v2 values are built component by component (the stylesheet concatenates repeated elements).

Every problem is collected and raised at once as :class:`MetadataError` before anything is sent.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from lxml import etree

from mappings.xds import hl7v2
from mappings.xds import valuesets as vs
from mappings.xds.model import Author, Code, DocumentEntry, MetadataError, Problem, Submission, SubmissionSet

__all__ = ["Author", "Code", "DocumentEntry", "MetadataError", "Problem", "Submission", "SubmissionSet",
           "check_codes", "document_bytes", "entry_uuid_for", "from_cda"]

V3 = "urn:hl7-org:v3"
NS = {"h": V3}
INS_ROOTS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11", "1.2.250.1.213.1.4.9")
IDNPS_ROOT = "1.2.250.1.71.4.2.1"
XDS_SD_TEMPLATE = "1.3.6.1.4.1.19376.1.2.20"
_NAME_TYPES = {"BR": "L", "SP": "D", "CL": "D"}  # CDA family@qualifier -> HL7 v2 name type (PID-5.7)
# Received documents are not trusted: no DTD, no entities, no network; big base64 bodies are allowed.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
_ENTRY_NAMESPACE = uuid.UUID("0a4e5a2c-7b5e-5d8e-9a41-2f1c1f7b2e10")


def document_bytes(root: etree._Element) -> bytes:
    """The bytes whose hash and size the metadata declares: send exactly these."""
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def entry_uuid_for(unique_id: str) -> str:
    """The entryUUID this product gives the DocumentEntry of a uniqueId (stable, so RPLC can target it)."""
    return f"urn:uuid:{uuid.uuid5(_ENTRY_NAMESPACE, unique_id)}"


def _submission_oid(unique_id: str) -> str:
    return f"2.25.{uuid.uuid5(_ENTRY_NAMESPACE, 'submission-set:' + unique_id).int}"


class _Reader:
    """XPath helper that records a Problem instead of failing on the first missing element."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.problems: list[Problem] = []

    def all(self, path: str, node: etree._Element | None = None) -> list[Any]:
        result = (self.root if node is None else node).xpath(path, namespaces=NS)
        return list(result) if isinstance(result, list) else [result]

    def first(self, path: str, node: etree._Element | None = None) -> Any:
        found = self.all(path, node)
        return found[0] if found else None

    def text(self, path: str, node: etree._Element | None = None) -> str:
        found = self.first(path, node)
        if found is None:
            return ""
        return (str(found) if not isinstance(found, etree._Element) else "".join(found.itertext())).strip()

    def need(self, path: str, attribute: str, node: etree._Element | None = None) -> str:
        value = self.text(path, node)
        if not value:
            self.problem(f"{attribute}: the CDA header has no {path}", path, attribute)
        return value

    def problem(self, text: str, location: str = "", attribute: str = "") -> None:
        self.problems.append(Problem(text, location, attribute))

    def code(self, element: etree._Element | None, attribute: str, valueset: vs.ValueSet, path: str) -> Code:
        if element is None:
            self.problem(f"{attribute}: the CDA header has no {path}", path, attribute)
            return Code("", "", "")
        code, system = element.get("code", ""), element.get("codeSystem", "")
        display = valueset.display(code, system)
        if display is None:
            self.problem(f"{attribute}: code {code!r} (system {system!r}) is not in {valueset.name}",
                         path, attribute)
        return Code(code, system, element.get("displayName") or display or "")


def from_cda(root: etree._Element | bytes, *, visibility: Sequence[str] = (), document: bytes | None = None,
             source_id: str | None = None, submission_unique_id: str | None = None,
             submission_time: str | None = None, content_type_code: Code | None = None,
             format_code: Code | None = None, entry_id: str | None = None,
             replaced_entry_uuid: str | None = None, intended_recipients: Iterable[str] = (),
             repository_unique_id: str | None = None, uri: str | None = None) -> Submission:
    """Derive the XDS metadata of a CI-SIS CDA document, refusing codes outside the DMP value sets.

    ``root`` is the CDA (element or bytes; with bytes, the hash/size are those bytes). ``document`` overrides the
    bytes hashed (default :func:`document_bytes`). ``visibility`` adds DMP labels after the CDA confidentiality
    (MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX). ``source_id`` defaults to the CDA id@root,
    ``submission_unique_id`` to an OID derived from the document uniqueId, ``submission_time`` to now,
    ``content_type_code`` to the healthCareFacility code when J59 has it, ``entry_id`` to
    :func:`entry_uuid_for` of the uniqueId, ``replaced_entry_uuid`` (RPLC) to :func:`entry_uuid_for` of the
    parent document's id. Raises :class:`MetadataError` listing every problem.

    >>> sub = from_cda(open("N1.xml", "rb").read(), visibility=["MASQUE_PS"])   # doctest: +SKIP
    >>> sub.document.class_code.code                                             # doctest: +SKIP
    '10'
    """
    if isinstance(root, bytes):
        document = root if document is None else document
        try:
            root = etree.fromstring(root, _PARSER)
        except etree.XMLSyntaxError as error:
            raise MetadataError("the CDA document is not well-formed XML", [Problem(str(error), "/", "")]) from error
    if document is None:
        document = document_bytes(root)
    r = _Reader(root)
    if etree.QName(root).localname != "ClinicalDocument" or etree.QName(root).namespace != V3:
        raise MetadataError("not a CDA document", [Problem("the root element is not {urn:hl7-org:v3}ClinicalDocument",
                                                           "/", "")])

    unique_id = _ii(r, "/h:ClinicalDocument/h:id", "uniqueId")
    if len(unique_id) > 128:
        r.problem(f"uniqueId: {len(unique_id)} characters, XDS allows 128", "/ClinicalDocument/id", "uniqueId")
    patient_id, source_patient_id, patient_info = _patient(r)
    type_element = r.first("/h:ClinicalDocument/h:code")
    type_code = _type_code(r, type_element)
    class_code = _class_code(type_code)
    facility = r.code(r.first("/h:ClinicalDocument/h:componentOf/h:encompassingEncounter/h:location/"
                              "h:healthCareFacility/h:code"), "healthcareFacilityTypeCode",
                      vs.J61_HEALTHCARE_FACILITY_TYPE_CODE,
                      "/ClinicalDocument/componentOf/encompassingEncounter/location/healthCareFacility/code")
    practice = r.code(_practice_setting_element(r), "practiceSettingCode", vs.J04_PRACTICE_SETTING_CODE,
                      "/ClinicalDocument/documentationOf/serviceEvent/performer/assignedEntity/"
                      "representedOrganization/standardIndustryClassCode")
    confidentiality = _confidentiality(r, visibility)
    fmt = format_code if format_code is not None else _format_code(r)
    content_type = content_type_code if content_type_code is not None else _content_type(r, facility)
    authors = tuple(_author(r, a) for a in r.all("/h:ClinicalDocument/h:author"))
    if not authors:
        r.problem("author: the CDA header has no author", "/ClinicalDocument/author", "author")
    start, stop = _service_times(r)
    creation = _dtm(r, r.need("/h:ClinicalDocument/h:effectiveTime/@value", "creationTime"), "creationTime")
    title = r.need("/h:ClinicalDocument/h:title", "title")
    language = r.need("/h:ClinicalDocument/h:languageCode/@code", "languageCode")
    set_id = _ii(r, "/h:ClinicalDocument/h:setId", "setId")
    version = r.text("/h:ClinicalDocument/h:versionNumber/@value") or None
    parent = r.first("/h:ClinicalDocument/h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id")
    replaced_unique_id = _ii_value(parent) if parent is not None else None

    entry = DocumentEntry(
        unique_id=unique_id, patient_id=patient_id, source_patient_id=source_patient_id,
        source_patient_info=patient_info, class_code=class_code or Code("", "", ""), type_code=type_code,
        format_code=fmt, healthcare_facility_type_code=facility, practice_setting_code=practice,
        confidentiality_codes=confidentiality, authors=authors, creation_time=creation, title=title,
        language_code=language, hash=hashlib.sha1(document).hexdigest(), size=len(document),
        entry_id=entry_id or entry_uuid_for(unique_id), event_codes=_event_codes(r),
        legal_authenticator=_legal_authenticator(r), service_start_time=start, service_stop_time=stop,
        logical_id=set_id or None, version=version, repository_unique_id=repository_unique_id, uri=uri)
    submission_set = SubmissionSet(
        unique_id=submission_unique_id or _submission_oid(unique_id),
        source_id=source_id or r.text("/h:ClinicalDocument/h:id/@root"), patient_id=patient_id,
        submission_time=submission_time or hl7v2.dtm_now(), content_type_code=content_type,
        authors=authors[:1], title=title or None, intended_recipients=tuple(intended_recipients))
    submission = Submission(
        submission_set, entry, replaced_unique_id,
        replaced_entry_uuid or (entry_uuid_for(replaced_unique_id) if replaced_unique_id else None))
    problems = r.problems + [p for p in check_codes(submission) if p not in r.problems and p.attribute not in
                             {q.attribute for q in r.problems}]
    if problems:
        raise MetadataError("the XDS metadata cannot be derived from this CDA document", problems)
    return submission


def check_codes(submission: Submission) -> list[Problem]:
    """Every coded value of a Submission checked against the DMP value sets (for metadata received, too)."""
    problems: list[Problem] = []
    doc, sset = submission.document, submission.submission_set

    def check(value: Code, valueset: vs.ValueSet, attribute: str) -> None:
        if (value.code, value.scheme) not in valueset:
            problems.append(Problem(f"{attribute}: code {value.code!r} (scheme {value.scheme!r}) is not in "
                                    f"{valueset.name}", attribute=attribute))

    if (doc.type_code.code, doc.type_code.scheme) not in vs.J66_TYPE_CODES:
        problems.append(Problem(f"typeCode: code {doc.type_code.code!r} (scheme {doc.type_code.scheme!r}) is not "
                                "in JDV_J66-TypeCode-DMP", attribute="typeCode"))
    elif (doc.class_code.code, doc.class_code.scheme) not in vs.J57_CLASS_CODE:
        problems.append(Problem(f"classCode: code {doc.class_code.code!r} (scheme {doc.class_code.scheme!r}) is "
                                "not in JDV_J57-ClassCode-DMP", attribute="classCode"))
    elif vs.X16_TYPE_TO_CLASS[(doc.type_code.code, doc.type_code.scheme)] != doc.class_code.code:
        problems.append(Problem(f"classCode: {doc.class_code.code!r} does not match typeCode "
                                f"{doc.type_code.code!r} (ASS_X16 gives "
                                f"{vs.X16_TYPE_TO_CLASS[(doc.type_code.code, doc.type_code.scheme)]!r})",
                                attribute="classCode"))
    check(doc.format_code, vs.J60_FORMAT_CODE, "formatCode")
    check(doc.healthcare_facility_type_code, vs.J61_HEALTHCARE_FACILITY_TYPE_CODE, "healthcareFacilityTypeCode")
    check(doc.practice_setting_code, vs.J04_PRACTICE_SETTING_CODE, "practiceSettingCode")
    for code in doc.confidentiality_codes:
        check(code, vs.J58_CONFIDENTIALITY_CODE, "confidentialityCode")
    if not doc.confidentiality_codes or doc.confidentiality_codes[0].scheme != vs.HL7_CONFIDENTIALITY:
        problems.append(Problem("confidentialityCode: the first code must be N, R or V (2.16.840.1.113883.5.25)",
                                attribute="confidentialityCode"))
    check(sset.content_type_code, vs.J59_CONTENT_TYPE_CODE, "contentTypeCode")
    if doc.patient_id != sset.patient_id:
        problems.append(Problem("patientId: the SubmissionSet and the DocumentEntry name different patients",
                                attribute="patientId"))
    return problems


def _ii_value(element: etree._Element) -> str:
    root, ext = element.get("root", ""), element.get("extension")
    return f"{root}^{ext}" if ext else root


def _ii(r: _Reader, path: str, attribute: str) -> str:
    element = r.first(path)
    if element is None or not element.get("root"):
        r.problem(f"{attribute}: the CDA header has no {path.replace('h:', '')}/@root",
                  path.replace("h:", ""), attribute)
        return ""
    return _ii_value(element)


def _dtm(r: _Reader, value: str, attribute: str) -> str:
    if not value:
        return ""
    try:
        return hl7v2.dtm_utc(value)
    except ValueError:
        r.problem(f"{attribute}: {value!r} is not an HL7 timestamp", attribute=attribute)
        return ""


def _patient(r: _Reader) -> tuple[str, str, tuple[str, ...]]:
    role = "/h:ClinicalDocument/h:recordTarget/h:patientRole"
    ids = [(i.get("root", ""), i.get("extension", "")) for i in r.all(f"{role}/h:id") if i.get("extension")]
    ins = sorted((i for i in ids if i[0] in INS_ROOTS), key=lambda i: INS_ROOTS.index(i[0]))
    if not ins:
        r.problem("patientId: recordTarget/patientRole has no INS (id with root 1.2.250.1.213.1.4.8, .9, .10 or "
                  ".11); the DMP needs the qualified INS", "/ClinicalDocument/recordTarget/patientRole/id",
                  "patientId")
        patient_id = ""
    else:
        patient_id = hl7v2.cx(ins[0][1], ins[0][0], "NH")
    local = [i for i in ids if i[0] not in INS_ROOTS]
    source = hl7v2.cx(local[0][1], local[0][0], "PI") if local else patient_id
    info = [f"PID-3|{hl7v2.cx(ext, root, 'NH' if root in INS_ROOTS else 'PI')}" for root, ext in ids]
    patient = r.first(f"{role}/h:patient")
    if patient is not None:
        info += _pid5(r, patient)
        birth = r.text("h:birthTime/@value", patient)
        if birth:
            info.append(f"PID-7|{birth[:8]}")
        gender = r.text("h:administrativeGenderCode/@code", patient)
        if gender:
            info.append(f"PID-8|{gender}")
    return patient_id, source, tuple(info)


def _pid5(r: _Reader, patient: etree._Element) -> list[str]:
    """PID-5 per family name: the birth name (BR → L) with the birth given names, then the used name (D)."""
    out = []
    for name in r.all("h:name", patient):
        givens = r.all("h:given", name)
        for family in r.all("h:family", name):
            qualifier = family.get("qualifier", "")
            same = [g for g in givens if g.get("qualifier") == qualifier]
            plain = [g for g in givens if not g.get("qualifier")]
            chosen = (plain or same) if qualifier == "BR" else (same or plain)
            given = " ".join("".join(g.itertext()).strip() for g in chosen[:1])
            text = "".join(family.itertext()).strip()
            out.append(f"PID-5|{hl7v2.escape(text)}^{hl7v2.escape(given)}^^^^^{_NAME_TYPES.get(qualifier, 'U')}")
    return out


def _type_code(r: _Reader, element: etree._Element | None) -> Code:
    if element is None:
        r.problem("typeCode: the CDA header has no code", "/ClinicalDocument/code", "typeCode")
        return Code("", "", "")
    code, system = element.get("code", ""), element.get("codeSystem", "")
    if (code, system) not in vs.J66_TYPE_CODES:
        r.problem(f"typeCode: code {code!r} (system {system!r}) is not in JDV_J66-TypeCode-DMP",
                  "/ClinicalDocument/code", "typeCode")
    return Code(code, system, element.get("displayName", ""))


def _class_code(type_code: Code) -> Code | None:
    cls = vs.X16_TYPE_TO_CLASS.get((type_code.code, type_code.scheme))
    if cls is None:
        return None
    display = vs.J57_CLASS_CODE.display(cls, vs.TRE_A03_CLASSE_DOCUMENT) or ""
    return Code(cls, vs.TRE_A03_CLASSE_DOCUMENT, display)


def _practice_setting_element(r: _Reader) -> etree._Element | None:
    """serviceEvent performer's organisation (the CI-SIS rule); the author's organisation when there is none."""
    found = r.first("/h:ClinicalDocument/h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/"
                    "h:representedOrganization/h:standardIndustryClassCode")
    if found is None:
        found = r.first("/h:ClinicalDocument/h:author/h:assignedAuthor/h:representedOrganization/"
                        "h:standardIndustryClassCode")
    return found


def _confidentiality(r: _Reader, visibility: Sequence[str]) -> tuple[Code, ...]:
    path = "/ClinicalDocument/confidentialityCode"
    first = r.code(r.first("/h:ClinicalDocument/h:confidentialityCode"), "confidentialityCode",
                   vs.J58_CONFIDENTIALITY_CODE, path)
    if first.code and first.scheme != vs.HL7_CONFIDENTIALITY:
        r.problem(f"confidentialityCode: the CDA code must be N, R or V, not {first.code!r}", path,
                  "confidentialityCode")
    codes = [first]
    for label in dict.fromkeys(visibility):
        display = vs.J58_CONFIDENTIALITY_CODE.display(label, vs.TRE_A07_STATUT_VISIBILITE)
        if display is None:
            r.problem(f"confidentialityCode: visibility label {label!r} is not one of "
                      f"{', '.join(vs.VISIBILITY_LABELS)} (JDV_J58)", "visibility", "confidentialityCode")
            continue
        codes.append(Code(label, vs.TRE_A07_STATUT_VISIBILITE, display))
    return tuple(codes)


def _format_code(r: _Reader) -> Code:
    templates = [str(t) for t in r.all("/h:ClinicalDocument/h:templateId/@root")]
    code = next((vs.VOLET_FORMAT_CODES[t] for t in templates if t in vs.VOLET_FORMAT_CODES), None)
    if code is None and XDS_SD_TEMPLATE in templates:
        media = r.text("/h:ClinicalDocument/h:component/h:nonXMLBody/h:text/@mediaType")
        code = vs.XDS_SD_FORMAT_CODES.get(media)
        if code is None:
            r.problem(f"formatCode: no JDV_J60 formatCode for an XDS-SD body of media type {media!r}",
                      "/ClinicalDocument/component/nonXMLBody/text/@mediaType", "formatCode")
    elif code is None:
        r.problem(f"formatCode: no JDV_J60 formatCode is known for the templateIds {', '.join(templates)}; "
                  "give format_code", "/ClinicalDocument/templateId", "formatCode")
    if code is None:
        return Code("", "", "")
    scheme = next(s for c, s in vs.J60_FORMAT_CODE.codes() if c == code)
    return Code(code, scheme, vs.J60_FORMAT_CODE.display(code, scheme) or "")


def _content_type(r: _Reader, facility: Code) -> Code:
    display = vs.J59_CONTENT_TYPE_CODE.display(facility.code, facility.scheme)
    if display is None:
        r.problem(f"contentTypeCode: the healthCareFacility code {facility.code!r} is not in "
                  "JDV_J59-ContentTypeCode-DMP; give content_type_code", "content_type_code", "contentTypeCode")
        return Code("", "", "")
    return Code(facility.code, facility.scheme, display)


def _person_xcn(r: _Reader, entity: etree._Element, person_path: str) -> str | None:
    ident = r.first("h:id", entity)
    if ident is None or not ident.get("root"):
        return None
    root, ext = ident.get("root", ""), ident.get("extension", "")
    type_code = ("EI" if "/" in ext else "IDNPS") if root == IDNPS_ROOT else "RI"
    family = r.text(f"{person_path}/h:name/h:family", entity)
    given = r.text(f"{person_path}/h:name/h:given", entity)
    if not family:
        family = r.text("h:assignedAuthoringDevice/h:softwareName", entity)
    return hl7v2.xcn(ext or root, root if ext else "", family, given, type_code)


def _coded(element: etree._Element | None) -> tuple[str, ...]:
    if element is None or not element.get("code"):
        return ()
    parts = (element.get("code", ""), element.get("displayName", ""), element.get("codeSystem", ""))
    return ("^".join(hl7v2.escape(p) for p in parts),)


def _author(r: _Reader, author: etree._Element) -> Author:
    assigned = r.first("h:assignedAuthor", author)
    if assigned is None:
        r.problem("author: an author has no assignedAuthor", "/ClinicalDocument/author", "author")
        return Author()
    institutions = []
    for org in r.all("h:representedOrganization", assigned):
        org_id = r.first("h:id", org)
        if org_id is not None and org_id.get("root"):
            institutions.append(hl7v2.xon(r.text("h:name", org), org_id.get("root", ""),
                                          org_id.get("extension", "")))
    return Author(person=_person_xcn(r, assigned, "h:assignedPerson"), institutions=tuple(institutions),
                  roles=_coded(r.first("h:functionCode", author)), specialties=_coded(r.first("h:code", assigned)))


def _legal_authenticator(r: _Reader) -> str | None:
    entity = r.first("/h:ClinicalDocument/h:legalAuthenticator/h:assignedEntity")
    return None if entity is None else _person_xcn(r, entity, "h:assignedPerson")


def _event_codes(r: _Reader) -> tuple[Code, ...]:
    codes = []
    for element in r.all("/h:ClinicalDocument/h:documentationOf/h:serviceEvent/h:code[@code]"):
        codes.append(Code(element.get("code", ""), element.get("codeSystem", ""), element.get("displayName", "")))
    return tuple(dict.fromkeys(codes))


def _service_times(r: _Reader) -> tuple[str | None, str | None]:
    event = "/h:ClinicalDocument/h:documentationOf/h:serviceEvent/h:effectiveTime"
    lows = [_dtm(r, str(v), "serviceStartTime") for v in r.all(f"{event}/h:low/@value")]
    highs = [_dtm(r, str(v), "serviceStopTime") for v in r.all(f"{event}/h:high/@value")]
    lows, highs = [v for v in lows if v], [v for v in highs if v]
    return (min(lows, key=lambda v: v.ljust(14, "0")) if lows else None,
            max(highs, key=lambda v: v.ljust(14, "0")) if highs else None)
