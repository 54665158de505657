"""Submission ⇄ ebRIM 3.0 ``lcm:SubmitObjectsRequest`` (XDS.b, IHE ITI TF-3 §4.2.3, §4.2.4 and ITI-41 §3.41).

https://profiles.ihe.net/ITI/TF/Volume3/ch-4.2.html (classification schemes and identification schemes, table
4.2.5-1) and https://profiles.ihe.net/ITI/TF/Volume2/ITI-41.html. The same document is METADATA.XML of an IHE XDM
package (ITI-32). Ids: the DocumentEntry keeps its entryUUID (or a symbolic id), the SubmissionSet, the
Associations, Classifications and ExternalIdentifiers get symbolic ids. Extra metadata: the CDA setId travels in
the ``urn:dui:xds:setId`` slot (ITI TF-3 §4.2.3.1.2 "Extra metadata"), the versionNumber in ``VersionInfo``.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from mappings.xds.model import Author, Code, DocumentEntry, MetadataError, Problem, Submission, SubmissionSet

LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS = {"lcm": LCM, "rim": RIM}

DOCUMENT_ENTRY_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
CLASSIFICATION_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
SET_ID_SLOT = "urn:dui:xds:setId"

# DocumentEntry classification schemes (coded attributes) and identification schemes.
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_EVENT = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"

_DE_CODES = (  # (scheme, DocumentEntry field)
    (DE_CLASS, "class_code"), (DE_CONFIDENTIALITY, "confidentiality_codes"), (DE_EVENT, "event_codes"),
    (DE_FORMAT, "format_code"), (DE_FACILITY, "healthcare_facility_type_code"),
    (DE_PRACTICE, "practice_setting_code"), (DE_TYPE, "type_code"),
)
_XDS_NAMES = {"class_code": "classCode", "confidentiality_codes": "confidentialityCode",
              "event_codes": "eventCodeList", "format_code": "formatCode",
              "healthcare_facility_type_code": "healthcareFacilityTypeCode",
              "practice_setting_code": "practiceSettingCode", "type_code": "typeCode"}
_DE_SLOTS = (  # (slot name, field) for single-valued string slots, in the order written
    ("creationTime", "creation_time"), ("hash", "hash"), ("languageCode", "language_code"),
    ("legalAuthenticator", "legal_authenticator"), ("repositoryUniqueId", "repository_unique_id"),
    ("serviceStartTime", "service_start_time"), ("serviceStopTime", "service_stop_time"),
    ("sourcePatientId", "source_patient_id"), ("URI", "uri"), (SET_ID_SLOT, "logical_id"),
)
_AUTHOR_SLOTS = (("authorPerson", "person"), ("authorInstitution", "institutions"), ("authorRole", "roles"),
                 ("authorSpecialty", "specialties"), ("authorTelecommunication", "telecoms"))


def _rim(tag: str) -> str:
    return f"{{{RIM}}}{tag}"


class _Writer:
    def __init__(self) -> None:
        self.counter = 0

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:02d}"

    @staticmethod
    def slot(parent: etree._Element, name: str, values: Any) -> None:
        values = [values] if isinstance(values, str) else [v for v in values if v]
        if not values:
            return
        slot = etree.SubElement(parent, _rim("Slot"), name=name)
        value_list = etree.SubElement(slot, _rim("ValueList"))
        for value in values:
            etree.SubElement(value_list, _rim("Value")).text = value

    @staticmethod
    def localized(parent: etree._Element, tag: str, value: str | None) -> None:
        if value:
            holder = etree.SubElement(parent, _rim(tag))
            etree.SubElement(holder, _rim("LocalizedString"), {"{http://www.w3.org/XML/1998/namespace}lang": "fr-FR",
                                                               "charset": "UTF-8", "value": value})

    def code(self, parent: etree._Element, scheme: str, owner: str, code: Code) -> None:
        element = etree.SubElement(parent, _rim("Classification"), id=self.next_id("cl"),
                                   objectType=CLASSIFICATION_TYPE, classificationScheme=scheme,
                                   classifiedObject=owner, nodeRepresentation=code.code)
        self.slot(element, "codingScheme", code.scheme)
        self.localized(element, "Name", code.display)

    def author(self, parent: etree._Element, scheme: str, owner: str, author: Author) -> None:
        element = etree.SubElement(parent, _rim("Classification"), id=self.next_id("cl"),
                                   objectType=CLASSIFICATION_TYPE, classificationScheme=scheme,
                                   classifiedObject=owner, nodeRepresentation="")
        for name, attribute in _AUTHOR_SLOTS:
            value = getattr(author, attribute)
            self.slot(element, name, value if value is not None else ())

    def identifier(self, parent: etree._Element, scheme: str, owner: str, value: str, name: str) -> None:
        element = etree.SubElement(parent, _rim("ExternalIdentifier"), id=self.next_id("ei"),
                                   registryObject=owner, identificationScheme=scheme, value=value)
        self.localized(element, "Name", name)


def to_submit_objects_request(submission: Submission) -> etree._Element:
    """Build the ``lcm:SubmitObjectsRequest`` of a Submission (deterministic: same input, same tree)."""
    w = _Writer()
    root = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    objects = etree.SubElement(root, _rim("RegistryObjectList"))
    doc, sset = submission.document, submission.submission_set
    _document_entry(w, objects, doc)
    _submission_set(w, objects, sset)
    _association(w, objects, sset.entry_id, doc.entry_id, HAS_MEMBER, status="Original")
    if submission.replaced_entry_uuid:
        _association(w, objects, doc.entry_id, submission.replaced_entry_uuid, RPLC)
    return root


def _document_entry(w: _Writer, objects: etree._Element, doc: DocumentEntry) -> None:
    eo = etree.SubElement(objects, _rim("ExtrinsicObject"), id=doc.entry_id, mimeType=doc.mime_type,
                          objectType=DOCUMENT_ENTRY_TYPE)
    for name, attribute in _DE_SLOTS:
        value = getattr(doc, attribute)
        if value:
            w.slot(eo, name, value)
        if name == "sourcePatientId":
            w.slot(eo, "sourcePatientInfo", doc.source_patient_info)
        if name == "serviceStopTime":
            w.slot(eo, "size", str(doc.size))
    w.slot(eo, "urn:ihe:iti:xds:2013:referenceIdList", doc.reference_ids)
    w.localized(eo, "Name", doc.title)
    w.localized(eo, "Description", doc.comments)
    if doc.version:
        etree.SubElement(eo, _rim("VersionInfo"), versionName=doc.version)
    for author in doc.authors:
        w.author(eo, DE_AUTHOR, doc.entry_id, author)
    for scheme, attribute in _DE_CODES:
        value = getattr(doc, attribute)
        for code in (value if isinstance(value, tuple) else (value,)):
            w.code(eo, scheme, doc.entry_id, code)
    w.identifier(eo, DE_PATIENT_ID, doc.entry_id, doc.patient_id, "XDSDocumentEntry.patientId")
    w.identifier(eo, DE_UNIQUE_ID, doc.entry_id, doc.unique_id, "XDSDocumentEntry.uniqueId")


def _submission_set(w: _Writer, objects: etree._Element, sset: SubmissionSet) -> None:
    rp = etree.SubElement(objects, _rim("RegistryPackage"), id=sset.entry_id)
    w.slot(rp, "submissionTime", sset.submission_time)
    w.slot(rp, "intendedRecipient", sset.intended_recipients)
    w.localized(rp, "Name", sset.title)
    w.localized(rp, "Description", sset.comments)
    for author in sset.authors:
        w.author(rp, SS_AUTHOR, sset.entry_id, author)
    w.code(rp, SS_CONTENT_TYPE, sset.entry_id, sset.content_type_code)
    w.identifier(rp, SS_UNIQUE_ID, sset.entry_id, sset.unique_id, "XDSSubmissionSet.uniqueId")
    w.identifier(rp, SS_SOURCE_ID, sset.entry_id, sset.source_id, "XDSSubmissionSet.sourceId")
    w.identifier(rp, SS_PATIENT_ID, sset.entry_id, sset.patient_id, "XDSSubmissionSet.patientId")
    etree.SubElement(objects, _rim("Classification"), id=w.next_id("cl"), classifiedObject=sset.entry_id,
                     classificationNode=SUBMISSION_SET_NODE, objectType=CLASSIFICATION_TYPE)


def _association(w: _Writer, objects: etree._Element, source: str, target: str, kind: str,
                 status: str | None = None) -> None:
    element = etree.SubElement(objects, _rim("Association"), id=w.next_id("as"), associationType=kind,
                               sourceObject=source, targetObject=target,
                               objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association")
    if status:
        w.slot(element, "SubmissionSetStatus", status)


# ------------------------------------------------------------------------------------------------ parsing


class _Parser:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, text: str, location: str, attribute: str = "") -> None:
        self.problems.append(Problem(text, location, attribute))

    @staticmethod
    def slots(element: etree._Element) -> dict[str, list[str]]:
        return {s.get("name", ""): [v.text or "" for v in s.iterfind("rim:ValueList/rim:Value", NS)]
                for s in element.iterfind("rim:Slot", NS)}

    @staticmethod
    def localized(element: etree._Element, tag: str) -> str | None:
        found = element.find(f"rim:{tag}/rim:LocalizedString", NS)
        return None if found is None else found.get("value")

    def one(self, slots: dict[str, list[str]], name: str, where: str, required: bool = True) -> str | None:
        values = slots.get(name, [])
        if len(values) > 1:
            self.problem(f"slot {name} has {len(values)} values, one expected", where, name)
        if not values:
            if required:
                self.problem(f"slot {name} is missing", where, name)
            return None
        return values[0]

    def codes(self, element: etree._Element, scheme: str, where: str, attribute: str) -> list[Code]:
        out = []
        for cl in element.iterfind(f"rim:Classification[@classificationScheme='{scheme}']", NS):
            coding = self.slots(cl).get("codingScheme", [])
            if len(coding) != 1:
                self.problem(f"{attribute}: the classification needs one codingScheme value", where, attribute)
            out.append(Code(cl.get("nodeRepresentation", ""), coding[0] if coding else "",
                            self.localized(cl, "Name") or ""))
        return out

    def code(self, element: etree._Element, scheme: str, where: str, attribute: str) -> Code:
        found = self.codes(element, scheme, where, attribute)
        if len(found) != 1:
            self.problem(f"{attribute}: {len(found)} classifications, exactly one expected", where, attribute)
        return found[0] if found else Code("", "", "")

    def authors(self, element: etree._Element, scheme: str) -> tuple[Author, ...]:
        out = []
        for cl in element.iterfind(f"rim:Classification[@classificationScheme='{scheme}']", NS):
            slots = self.slots(cl)
            person = slots.get("authorPerson", [])
            out.append(Author(person=person[0] if person else None,
                              institutions=tuple(slots.get("authorInstitution", [])),
                              roles=tuple(slots.get("authorRole", [])),
                              specialties=tuple(slots.get("authorSpecialty", [])),
                              telecoms=tuple(slots.get("authorTelecommunication", []))))
        return tuple(out)

    def identifier(self, element: etree._Element, scheme: str, where: str, attribute: str) -> str:
        found = element.findall(f"rim:ExternalIdentifier[@identificationScheme='{scheme}']", NS)
        if len(found) != 1:
            self.problem(f"{attribute}: {len(found)} ExternalIdentifiers, exactly one expected", where, attribute)
            return ""
        return found[0].get("value", "")


def parse_submit_objects_request(root: etree._Element) -> Submission:
    """Read a SubmitObjectsRequest holding one SubmissionSet and one DocumentEntry back into a Submission.

    Raises :class:`MetadataError` listing every structural problem (codes are not checked here: use
    :func:`mappings.xds.metadata.check_codes`).
    """
    p = _Parser()
    if root.tag != f"{{{LCM}}}SubmitObjectsRequest":
        raise MetadataError("not an ebRIM SubmitObjectsRequest",
                            [Problem(f"the root element is {root.tag}", "/", "")])
    entries = root.findall(f"rim:RegistryObjectList/rim:ExtrinsicObject[@objectType='{DOCUMENT_ENTRY_TYPE}']", NS)
    packages = root.findall("rim:RegistryObjectList/rim:RegistryPackage", NS)
    set_ids = {c.get("classifiedObject") for c in root.iterfind(
        f"rim:RegistryObjectList/rim:Classification[@classificationNode='{SUBMISSION_SET_NODE}']", NS)}
    set_ids |= {rp.get("id") for rp in packages if rp.find(
        f"rim:Classification[@classificationNode='{SUBMISSION_SET_NODE}']", NS) is not None}
    sets = [rp for rp in packages if rp.get("id") in set_ids]
    if len(entries) != 1 or len(sets) != 1:
        raise MetadataError("the request must hold exactly one DocumentEntry and one SubmissionSet", [
            Problem(f"{len(entries)} DocumentEntry (ExtrinsicObject), {len(sets)} SubmissionSet (RegistryPackage)",
                    "/SubmitObjectsRequest/RegistryObjectList")])
    doc = _parse_entry(p, entries[0])
    sset = _parse_set(p, sets[0])
    replaced = None
    for assoc in root.iterfind("rim:RegistryObjectList/rim:Association", NS):
        kind, source, target = (assoc.get("associationType"), assoc.get("sourceObject"), assoc.get("targetObject"))
        if kind == RPLC and source == doc.entry_id:
            replaced = target
    has_member = [a for a in root.iterfind(f"rim:RegistryObjectList/rim:Association[@associationType='{HAS_MEMBER}']",
                                           NS) if a.get("sourceObject") == sset.entry_id
                  and a.get("targetObject") == doc.entry_id]
    if not has_member:
        p.problem("no HasMember association from the SubmissionSet to the DocumentEntry",
                  "/SubmitObjectsRequest/RegistryObjectList/Association", "HasMember")
    if p.problems:
        raise MetadataError("the SubmitObjectsRequest is not valid XDS metadata", p.problems)
    return Submission(sset, doc, replaced_entry_uuid=replaced)


def _parse_entry(p: _Parser, eo: etree._Element) -> DocumentEntry:
    where = f"ExtrinsicObject[@id='{eo.get('id')}']"
    slots = p.slots(eo)
    values: dict[str, Any] = {}
    required = {"creation_time", "hash", "language_code", "source_patient_id"}
    for name, attribute in _DE_SLOTS:
        values[attribute] = p.one(slots, name, where, attribute in required)
    size = p.one(slots, "size", where)
    if size is not None and not size.isdigit():
        p.problem(f"slot size is not a number: {size!r}", where, "size")
    version = eo.find("rim:VersionInfo", NS)
    for scheme, attribute in _DE_CODES:
        if attribute in ("confidentiality_codes", "event_codes"):
            values[attribute] = tuple(p.codes(eo, scheme, where, _XDS_NAMES[attribute]))
        else:
            values[attribute] = p.code(eo, scheme, where, _XDS_NAMES[attribute])
    return DocumentEntry(
        unique_id=p.identifier(eo, DE_UNIQUE_ID, where, "uniqueId"),
        patient_id=p.identifier(eo, DE_PATIENT_ID, where, "patientId"),
        source_patient_info=tuple(slots.get("sourcePatientInfo", [])),
        authors=p.authors(eo, DE_AUTHOR), title=p.localized(eo, "Name") or "",
        size=int(size) if size and size.isdigit() else 0, mime_type=eo.get("mimeType", ""),
        entry_id=eo.get("id", ""), comments=p.localized(eo, "Description"),
        version=version.get("versionName") if version is not None else None,
        reference_ids=tuple(slots.get("urn:ihe:iti:xds:2013:referenceIdList", [])),
        availability_status=eo.get("status", "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"),
        **_fill_required(values, required))


def _fill_required(values: dict[str, Any], required: set[str]) -> dict[str, Any]:
    return {k: (v if v is not None else "") if k in required else v for k, v in values.items()}


def _parse_set(p: _Parser, rp: etree._Element) -> SubmissionSet:
    where = f"RegistryPackage[@id='{rp.get('id')}']"
    slots = p.slots(rp)
    return SubmissionSet(
        unique_id=p.identifier(rp, SS_UNIQUE_ID, where, "uniqueId"),
        source_id=p.identifier(rp, SS_SOURCE_ID, where, "sourceId"),
        patient_id=p.identifier(rp, SS_PATIENT_ID, where, "patientId"),
        submission_time=p.one(slots, "submissionTime", where) or "",
        content_type_code=p.code(rp, SS_CONTENT_TYPE, where, "contentTypeCode"),
        authors=p.authors(rp, SS_AUTHOR), entry_id=rp.get("id", ""), title=p.localized(rp, "Name"),
        intended_recipients=tuple(slots.get("intendedRecipient", [])), comments=p.localized(rp, "Description"))
