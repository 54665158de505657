"""XDS.b message bodies other than the SubmitObjectsRequest itself: ITI-18 stored queries, ITI-43 retrieve,
ITI-57 metadata update, TD0.2 (DMP status); reading DocumentEntries out of query responses.

Specs: IHE ITI TF-2 §3.18 (Registry Stored Query: FindDocuments ``urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d``,
GetDocuments ``urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4``), §3.43 (Retrieve Document Set), §3.57 (Update
Document Set: new DocumentEntry version with ``PreviousVersion``, ``UpdateAvailabilityStatus`` association), ebRIM/
ebRS 3.0. The ITI-41 SubmitObjectsRequest is built by :mod:`mappings.xds.ebrim` (metadata derived from the CDA).
TD0.2's real message is in the DMP integration guide (not available to the project): the shape here is the
sandbox's own, marked as such.
"""

from __future__ import annotations

import re
import uuid

from lxml import etree

from fhirserver.integrations.dmp.client import DmpStatus, DocumentInfo
from fhirserver.integrations.dmp.soap import (
    FAILURE,
    RS,
    SEVERITY_ERROR,
    SUCCESS,
    RegistryError,
    SoapError,
    add_errors,
    new_cid,
    registry_response,
    xop_include,
)
from mappings.xds import ebrim
from mappings.xds.model import Submission

RIM = ebrim.RIM
LCM = ebrim.LCM
QRY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
DMP = "urn:dui:dmp-sandbox:td02"

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
UPDATE_AVAILABILITY = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
HAS_MEMBER = ebrim.HAS_MEMBER
_N = {"rim": RIM, "lcm": LCM, "query": QRY, "xdsb": XDSB, "rs": RS, "dmp": DMP}


def _el(tag: str, parent: etree._Element | None = None, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.Element(tag, attrib) if parent is None else etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def slot(parent: etree._Element, name: str, values: list[str] | tuple[str, ...]) -> etree._Element:
    s = _el(f"{{{RIM}}}Slot", parent, name=name)
    holder = _el(f"{{{RIM}}}ValueList", s)
    for value in values:
        _el(f"{{{RIM}}}Value", holder, value)
    return s


def slot_values(el: etree._Element, name: str) -> list[str]:
    for s in el.iterfind("rim:Slot", _N):
        if s.get("name") == name:
            return [(v.text or "").strip() for v in s.iterfind("rim:ValueList/rim:Value", _N)]
    return []


def _quoted(values: list[str] | tuple[str, ...]) -> str:
    return "(" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def unquote_values(values: list[str]) -> list[str]:
    """Stored-query parameter values: ``'a'`` or ``('a','b')`` (several Value elements allowed)."""
    out: list[str] = []
    for text in values:
        found = re.findall(r"'((?:[^']|'')*)'", text)
        if not found and text:
            raise SoapError(f"a stored query value is not quoted: {text[:40]}")
        out += [f.replace("''", "'") for f in found]
    return out


# --- ITI-41 -----------------------------------------------------------------------------------------------------

def provide_request(submission: Submission, document: bytes) -> tuple[etree._Element, dict[str, tuple[bytes, str]]]:
    """ProvideAndRegisterDocumentSetRequest for one document: its SubmitObjectsRequest (from the metadata) and
    the document as an MTOM part (``xdsb:Document`` -> ``xop:Include``). Returns (body, MTOM attachments)."""
    body = etree.Element(f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": XDSB})
    body.append(ebrim.to_submit_objects_request(submission))
    holder = _el(f"{{{XDSB}}}Document", body, id=submission.document.entry_id)
    cid = new_cid()
    xop_include(holder, cid)
    return body, {cid: (document, submission.document.mime_type)}


# --- ITI-18 -----------------------------------------------------------------------------------------------------

def stored_query(query_id: str, params: dict[str, list[str] | tuple[str, ...]]) -> etree._Element:
    """An AdhocQueryRequest (LeafClass) for a stored query; each parameter's values are quoted as a list."""
    req = etree.Element(f"{{{QRY}}}AdhocQueryRequest", nsmap={"query": QRY, "rim": RIM})
    _el(f"{{{QRY}}}ResponseOption", req, returnComposedObjects="true", returnType="LeafClass")
    query = _el(f"{{{RIM}}}AdhocQuery", req, id=query_id)
    for name, values in params.items():
        slot(query, name, [_quoted(values)[1:-1] if len(values) == 1 else _quoted(values)])
    return req


def find_documents(patient_cx: str, statuses: tuple[str, ...]) -> etree._Element:
    return stored_query(FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": [patient_cx],
                                         "$XDSDocumentEntryStatus": statuses})


def get_documents(unique_ids: tuple[str, ...]) -> etree._Element:
    return stored_query(GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": unique_ids})


def read_stored_query(req: etree._Element) -> tuple[str, dict[str, list[str]]]:
    """(query id, parameters with their unquoted values) of an AdhocQueryRequest."""
    if req.tag != f"{{{QRY}}}AdhocQueryRequest":
        raise SoapError("the body is not an AdhocQueryRequest")
    query = req.find("rim:AdhocQuery", _N)
    if query is None:
        raise SoapError("the AdhocQueryRequest has no AdhocQuery")
    params = {s.get("name", ""): unquote_values([(v.text or "").strip()
                                                  for v in s.iterfind("rim:ValueList/rim:Value", _N)])
              for s in query.iterfind("rim:Slot", _N)}
    return query.get("id", ""), params


def query_response(objects: list[etree._Element], errors: list[RegistryError] | None = None) -> etree._Element:
    failed = any(e.severity == SEVERITY_ERROR for e in errors or [])
    resp = etree.Element(f"{{{QRY}}}AdhocQueryResponse", nsmap={"query": QRY, "rim": RIM, "rs": RS},
                         status=FAILURE if failed else SUCCESS)
    add_errors(resp, errors or [])
    holder = _el(f"{{{RIM}}}RegistryObjectList", resp)
    for obj in objects:
        holder.append(obj)
    return resp


def read_query_response(resp: etree._Element) -> list[etree._Element]:
    if resp.tag != f"{{{QRY}}}AdhocQueryResponse":
        raise SoapError("the body is not an AdhocQueryResponse")
    return resp.findall("rim:RegistryObjectList/rim:ExtrinsicObject", _N)


def _classification(obj: etree._Element, scheme: str) -> list[str]:
    return [c.get("nodeRepresentation", "") for c in obj.iterfind("rim:Classification", _N)
            if c.get("classificationScheme") == scheme]


def external_id(obj: etree._Element, scheme: str) -> str:
    for ext in obj.iterfind("rim:ExternalIdentifier", _N):
        if ext.get("identificationScheme") == scheme:
            return ext.get("value", "")
    return ""


def document_info(obj: etree._Element) -> DocumentInfo:
    """The fields of a DocumentEntry (ExtrinsicObject, LeafClass) the client reports."""
    size = (slot_values(obj, "size") or ["0"])[0]
    title = obj.find("rim:Name/rim:LocalizedString", _N)
    return DocumentInfo(
        unique_id=external_id(obj, ebrim.DE_UNIQUE_ID), entry_id=obj.get("id", ""), status=obj.get("status", ""),
        hash=(slot_values(obj, "hash") or [""])[0].lower(), size=int(size) if size.isdigit() else 0,
        type_code=(_classification(obj, ebrim.DE_TYPE) or [""])[0],
        class_code=(_classification(obj, ebrim.DE_CLASS) or [""])[0],
        title=title.get("value", "") if title is not None else "",
        repository_id=(slot_values(obj, "repositoryUniqueId") or [""])[0],
        confidentiality=tuple(_classification(obj, ebrim.DE_CONFIDENTIALITY)),
        extra={"lid": obj.get("lid", ""), "version": _version(obj)})


def _version(obj: etree._Element) -> str:
    info = obj.find("rim:VersionInfo", _N)
    return info.get("versionName", "1") if info is not None else "1"


# --- ITI-43 -----------------------------------------------------------------------------------------------------

def retrieve_request(items: list[tuple[str, str]]) -> etree._Element:
    """RetrieveDocumentSetRequest for (repositoryUniqueId, documentUniqueId) pairs."""
    req = etree.Element(f"{{{XDSB}}}RetrieveDocumentSetRequest", nsmap={"xdsb": XDSB})
    for repository, unique_id in items:
        doc = _el(f"{{{XDSB}}}DocumentRequest", req)
        _el(f"{{{XDSB}}}RepositoryUniqueId", doc, repository)
        _el(f"{{{XDSB}}}DocumentUniqueId", doc, unique_id)
    return req


def read_retrieve_request(req: etree._Element) -> list[tuple[str, str]]:
    if req.tag != f"{{{XDSB}}}RetrieveDocumentSetRequest":
        raise SoapError("the body is not a RetrieveDocumentSetRequest")
    return [((d.findtext("xdsb:RepositoryUniqueId", "", _N)).strip(),
             (d.findtext("xdsb:DocumentUniqueId", "", _N)).strip())
            for d in req.iterfind("xdsb:DocumentRequest", _N)]


def retrieve_response(found: list[tuple[str, str, str, str]], errors: list[RegistryError]) -> etree._Element:
    """RetrieveDocumentSetResponse; ``found`` = (repository, uniqueId, mimeType, MTOM Content-ID) per document."""
    resp = etree.Element(f"{{{XDSB}}}RetrieveDocumentSetResponse", nsmap={"xdsb": XDSB, "rs": RS})
    status = registry_response(errors)
    if found and errors:
        status.set("status", "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess")
    resp.append(status)
    for repository, unique_id, mime, cid in found:
        doc = _el(f"{{{XDSB}}}DocumentResponse", resp)
        _el(f"{{{XDSB}}}RepositoryUniqueId", doc, repository)
        _el(f"{{{XDSB}}}DocumentUniqueId", doc, unique_id)
        _el(f"{{{XDSB}}}mimeType", doc, mime)
        xop_include(_el(f"{{{XDSB}}}Document", doc), cid)
    return resp


def read_retrieve_response(resp: etree._Element) -> list[tuple[str, etree._Element]]:
    """(documentUniqueId, the xdsb:Document element) of each DocumentResponse."""
    if resp.tag != f"{{{XDSB}}}RetrieveDocumentSetResponse":
        raise SoapError("the body is not a RetrieveDocumentSetResponse")
    out = []
    for doc in resp.iterfind("xdsb:DocumentResponse", _N):
        holder = doc.find("xdsb:Document", _N)
        if holder is not None:
            out.append((doc.findtext("xdsb:DocumentUniqueId", "", _N).strip(), holder))
    return out


# --- ITI-57 -----------------------------------------------------------------------------------------------------

def _identifier(parent: etree._Element, scheme: str, owner: str, value: str, name: str) -> None:
    ext = _el(f"{{{RIM}}}ExternalIdentifier", parent, id="ei-" + uuid.uuid4().hex[:8], registryObject=owner,
              identificationScheme=scheme, value=value)
    _el(f"{{{RIM}}}LocalizedString", _el(f"{{{RIM}}}Name", ext), value=name)


def _update_request(patient_cx: str, source_id: str, content_type: tuple[str, str, str],
                    submission_time: str) -> tuple[etree._Element, etree._Element]:
    """An ITI-57 SubmitObjectsRequest holding only its SubmissionSet ("SubmissionSet01"); -> (request, list)."""
    req = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    objects = _el(f"{{{RIM}}}RegistryObjectList", req)
    package = _el(f"{{{RIM}}}RegistryPackage", objects, id="SubmissionSet01")
    slot(package, "submissionTime", [submission_time])
    code, scheme, display = content_type
    cl = _el(f"{{{RIM}}}Classification", package, id="cl-ss-content", classificationScheme=ebrim.SS_CONTENT_TYPE,
             classifiedObject="SubmissionSet01", nodeRepresentation=code)
    slot(cl, "codingScheme", [scheme])
    _el(f"{{{RIM}}}LocalizedString", _el(f"{{{RIM}}}Name", cl), value=display)
    _identifier(package, ebrim.SS_UNIQUE_ID, "SubmissionSet01", f"2.25.{uuid.uuid4().int}",
                "XDSSubmissionSet.uniqueId")
    _identifier(package, ebrim.SS_SOURCE_ID, "SubmissionSet01", source_id, "XDSSubmissionSet.sourceId")
    _identifier(package, ebrim.SS_PATIENT_ID, "SubmissionSet01", patient_cx, "XDSSubmissionSet.patientId")
    _el(f"{{{RIM}}}Classification", objects, id="cl-ss-node", classifiedObject="SubmissionSet01",
        classificationNode=ebrim.SUBMISSION_SET_NODE)
    return req, objects


def coded(obj: etree._Element, scheme: str) -> list[tuple[str, str, str]]:
    """(code, codingScheme, display) of the classifications of ``obj`` under ``scheme``."""
    out = []
    for c in obj.iterfind("rim:Classification", _N):
        if c.get("classificationScheme") == scheme:
            name = c.find("rim:Name/rim:LocalizedString", _N)
            out.append((c.get("nodeRepresentation", ""), (slot_values(c, "codingScheme") or [""])[0],
                        name.get("value", "") if name is not None else ""))
    return out


def metadata_update(current: etree._Element, confidentiality: list[tuple[str, str, str]], *, source_id: str,
                    submission_time: str) -> etree._Element:
    """ITI-57 "Update DocumentEntry metadata": the next version of ``current`` (a DocumentEntry as the registry
    returned it) with new confidentiality codes ``(code, scheme, display)``; same lid, new symbolic id, a HasMember
    association carrying ``PreviousVersion``."""
    patient = external_id(current, ebrim.DE_PATIENT_ID)
    facility = coded(current, ebrim.DE_FACILITY)
    req, objects = _update_request(patient, source_id, facility[0] if facility else ("", "", ""),
                                   submission_time)
    obj = etree.fromstring(etree.tostring(current))
    previous = _version(obj)
    old_id = obj.get("id", "")
    obj.set("id", "DocumentEntry01")
    obj.set("lid", current.get("lid") or old_id)
    obj.attrib.pop("status", None)
    for el in obj.iter():
        for attr in ("classifiedObject", "registryObject"):
            if el.get(attr) == old_id:
                el.set(attr, "DocumentEntry01")
    for c in obj.findall("rim:Classification", _N):
        if c.get("classificationScheme") == ebrim.DE_CONFIDENTIALITY:
            obj.remove(c)
    anchor = obj.find("rim:ExternalIdentifier", _N)
    for n, (code, scheme, display) in enumerate(confidentiality, start=1):
        c = etree.Element(f"{{{RIM}}}Classification", id=f"cl-conf-{n}",
                          classificationScheme=ebrim.DE_CONFIDENTIALITY, classifiedObject="DocumentEntry01",
                          nodeRepresentation=code)
        slot(c, "codingScheme", [scheme])
        _el(f"{{{RIM}}}LocalizedString", _el(f"{{{RIM}}}Name", c), value=display)
        if anchor is not None:
            anchor.addprevious(c)
        else:
            obj.append(c)
    objects.insert(0, obj)
    assoc = _el(f"{{{RIM}}}Association", objects, id="as-update", associationType=HAS_MEMBER,
                sourceObject="SubmissionSet01", targetObject="DocumentEntry01")
    slot(assoc, "SubmissionSetStatus", ["Original"])
    slot(assoc, "PreviousVersion", [previous])
    return req


def status_update(current: etree._Element, new_status: str, *, source_id: str,
                  submission_time: str) -> etree._Element:
    """ITI-57 "Update DocumentEntry availability status" (UpdateAvailabilityStatus association)."""
    patient = external_id(current, ebrim.DE_PATIENT_ID)
    facility = coded(current, ebrim.DE_FACILITY)
    req, objects = _update_request(patient, source_id, facility[0] if facility else ("", "", ""),
                                   submission_time)
    assoc = _el(f"{{{RIM}}}Association", objects, id="as-status", associationType=UPDATE_AVAILABILITY,
                sourceObject="SubmissionSet01", targetObject=current.get("id", ""))
    slot(assoc, "OriginalStatus", [current.get("status", "")])
    slot(assoc, "NewStatus", [new_status])
    return req


# --- TD0.2 (sandbox shape, see the module docstring) -------------------------------------------------------------

def td02_request(patient_cx: str) -> etree._Element:
    req = etree.Element(f"{{{DMP}}}PatientDmpStatusRequest", nsmap={"dmp": DMP})
    _el(f"{{{DMP}}}patientId", req, patient_cx)
    return req


def read_td02_request(req: etree._Element) -> str:
    if req.tag != f"{{{DMP}}}PatientDmpStatusRequest":
        raise SoapError("the body is not a TD0.2 PatientDmpStatusRequest")
    patient = req.findtext("dmp:patientId", "", _N).strip()
    if not patient:
        raise SoapError("the TD0.2 request has no patientId")
    return patient


def td02_response(status: DmpStatus) -> etree._Element:
    resp = etree.Element(f"{{{DMP}}}PatientDmpStatusResponse", nsmap={"dmp": DMP, "rs": RS},
                         status=SUCCESS)
    _el(f"{{{DMP}}}dmpState", resp, status.state)
    _el(f"{{{DMP}}}mayFeed", resp, "true" if status.may_feed else "false")
    if status.reason:
        _el(f"{{{DMP}}}reason", resp, status.reason)
    return resp


def read_td02_response(resp: etree._Element) -> DmpStatus:
    if resp.tag != f"{{{DMP}}}PatientDmpStatusResponse":
        raise SoapError("the body is not a TD0.2 PatientDmpStatusResponse")
    return DmpStatus(resp.findtext("dmp:dmpState", "", _N).strip(),
                     resp.findtext("dmp:mayFeed", "", _N).strip() == "true",
                     resp.findtext("dmp:reason", "", _N).strip())
