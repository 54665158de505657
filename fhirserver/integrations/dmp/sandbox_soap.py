"""The sandbox's XDS.b SOAP endpoint: ITI-41 (MTOM), ITI-18 FindDocuments / GetDocuments, ITI-43, ITI-57 and
TD0.2, dispatched on the WS-Addressing action after the VIHF check (IHE ITI TF-2b §3.41/3.18/3.43, ITI TF-2
§3.57; error codes in :mod:`.sandbox`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from flask import Response
from lxml import etree

from fhirserver.integrations.dmp import soap, xdsb
from fhirserver.integrations.dmp.client import APPROVED, DEPRECATED
from fhirserver.integrations.dmp.sandbox import (
    REPOSITORY_ID,
    STATUSES,
    Refusal,
    Sandbox,
    check_duplicate,
    refuse,
    register_entry,
    replaced_entry,
    set_status,
)
from fhirserver.integrations.dmp.sandbox_store import Entry
from fhirserver.integrations.dmp.soap import Message, RegistryError, SoapError
from fhirserver.integrations.dmp.vihf import RESOURCE_ID, Claims, VihfError, verify_assertion
from mappings.xds import ebrim
from mappings.xds.metadata import check_codes
from mappings.xds.model import MetadataError, Submission
from mappings.xds.valuesets import J58_CONFIDENTIALITY_CODE

_N = {"rim": xdsb.RIM, "lcm": xdsb.LCM, "xdsb": xdsb.XDSB}


# --- ITI-41 -------------------------------------------------------------------------------------------------------

def _submission(body: etree._Element) -> tuple[Submission, etree._Element, etree._Element]:
    if body.tag != f"{{{xdsb.XDSB}}}ProvideAndRegisterDocumentSetRequest":
        raise refuse("XDSRegistryMetadataError", "the body is not a ProvideAndRegisterDocumentSetRequest")
    request_el = body.find("lcm:SubmitObjectsRequest", _N)
    if request_el is None:
        raise refuse("XDSRegistryMetadataError", "no SubmitObjectsRequest")
    objects = request_el.findall("rim:RegistryObjectList/rim:ExtrinsicObject", _N)
    if len(objects) != 1:
        raise refuse("XDSRegistryMetadataError", f"the sandbox takes exactly one DocumentEntry ({len(objects)} given)")
    try:
        submission = ebrim.parse_submit_objects_request(request_el)
    except MetadataError as exc:
        raise Refusal(*[RegistryError("XDSRegistryMetadataError", p.text, location=p.attribute)
                        for p in exc.problems] or [RegistryError("XDSRegistryMetadataError", exc.message)]) from exc
    except (ValueError, KeyError, IndexError) as exc:
        raise refuse("XDSRegistryMetadataError", f"unreadable metadata ({type(exc).__name__})") from exc
    return submission, request_el, objects[0]


def provide_and_register(sb: Sandbox, msg: Message, claims: Claims) -> etree._Element:
    submission, _request, obj = _submission(msg.body)
    problems = check_codes(submission)
    if problems:
        raise Refusal(*[RegistryError("XDSRegistryMetadataError", p.text, location=p.attribute)
                        for p in problems])
    entry = submission.document
    ins = sb.patient(entry.patient_id, claims)
    sb.require_open(ins)
    documents = {d.get("id", ""): d for d in msg.body.iterfind("xdsb:Document", _N)}
    holder = documents.get(obj.get("id", ""))
    if holder is None:
        raise refuse("XDSMissingDocument", "no xdsb:Document for the DocumentEntry", obj.get("id", ""))
    content = msg.include(holder)
    digest = hashlib.sha1(content).hexdigest()
    if entry.hash.lower() != digest:
        raise refuse("XDSRepositoryMetadataError", "the declared hash is not the SHA-1 of the document", "hash")
    if entry.size != len(content):
        raise refuse("XDSRepositoryMetadataError", "the declared size is not the document's size", "size")
    existing = sb.store.current(entry.unique_id)
    if existing is not None:
        check_duplicate(sb, existing, digest)
    replaced = _replaced(sb, submission) if submission.replaced_entry_uuid else None
    sb.check_document(content)
    _register(sb, entry.unique_id, entry.entry_id, entry.patient_id, digest, content, obj, submission, replaced,
              claims)
    return soap.registry_response()


def _replaced(sb: Sandbox, submission: Submission) -> Entry:
    return replaced_entry(sb, sb.store.by_uuid(submission.replaced_entry_uuid or ""), submission)


def _stored_object(obj: etree._Element, entry_uuid: str, status: str) -> bytes:
    copy = etree.fromstring(etree.tostring(obj))
    old_id = copy.get("id", "")
    copy.set("id", entry_uuid)
    copy.set("lid", copy.get("lid") if (copy.get("lid") or "").startswith("urn:uuid:") else entry_uuid)
    copy.set("status", status)
    for el in copy.iter():
        for attr in ("classifiedObject", "registryObject"):
            if el.get(attr) == old_id:
                el.set(attr, entry_uuid)
    if not xdsb.slot_values(copy, "repositoryUniqueId"):
        first = copy.find("rim:Slot", _N)
        new = etree.Element(f"{{{xdsb.RIM}}}Slot", name="repositoryUniqueId")
        etree.SubElement(etree.SubElement(new, f"{{{xdsb.RIM}}}ValueList"), f"{{{xdsb.RIM}}}Value").text = \
            REPOSITORY_ID
        if first is not None:
            first.addprevious(new)
        else:
            copy.insert(0, new)
    return etree.tostring(copy)


def _register(sb: Sandbox, unique_id: str, entry_id: str, patient_id: str, digest: str, content: bytes,
              obj: etree._Element, submission: Submission, replaced: Entry | None, claims: Claims) -> None:
    entry_uuid = entry_id if entry_id.startswith("urn:uuid:") else "urn:uuid:" + str(uuid.uuid4())
    doc = submission.document
    row = Entry(entry_uuid, entry_uuid, 1, unique_id, patient_id, APPROVED, digest, len(content),
                [c.code for c in doc.confidentiality_codes], doc.class_code.code, doc.type_code.code, doc.title,
                _stored_object(obj, entry_uuid, APPROVED))
    register_entry(sb, row, content, doc.mime_type, replaced, claims)


# --- ITI-18 -------------------------------------------------------------------------------------------------------

def stored_query(sb: Sandbox, msg: Message, claims: Claims) -> etree._Element:
    query_id, params = xdsb.read_stored_query(msg.body)
    if query_id == xdsb.FIND_DOCUMENTS:
        patients = params.get("$XDSDocumentEntryPatientId", [])
        if len(patients) != 1:
            raise refuse("XDSStoredQueryParamNumber", "FindDocuments needs one $XDSDocumentEntryPatientId",
                       "$XDSDocumentEntryPatientId")
        sb.patient(patients[0], claims, "$XDSDocumentEntryPatientId")
        statuses = tuple(params.get("$XDSDocumentEntryStatus") or [APPROVED])
        entries = sb.store.find(patients[0], statuses)
    elif query_id == xdsb.GET_DOCUMENTS:
        ids = params.get("$XDSDocumentEntryUniqueId", [])
        if not ids:
            raise refuse("XDSStoredQueryParamNumber", "GetDocuments needs $XDSDocumentEntryUniqueId",
                       "$XDSDocumentEntryUniqueId")
        found = [sb.store.current(u) for u in ids]
        entries = [e for e in found if e is not None and e.patient_id == claims.first(RESOURCE_ID)]
    else:
        raise refuse("XDSUnknownStoredQuery", "the sandbox answers FindDocuments and GetDocuments only")
    return xdsb.query_response([etree.fromstring(e.object_xml) for e in entries
                                if e.object_xml and sb.visible(e, claims)])


# --- ITI-43 -------------------------------------------------------------------------------------------------------

def retrieve(sb: Sandbox, msg: Message, claims: Claims) -> tuple[etree._Element, dict[str, tuple[bytes, str]]]:
    found: list[tuple[str, str, str, str]] = []
    errors: list[RegistryError] = []
    parts: dict[str, tuple[bytes, str]] = {}
    for repository, unique_id in xdsb.read_retrieve_request(msg.body):
        entry = sb.store.current(unique_id)
        stored = sb.store.document(unique_id)
        if repository != REPOSITORY_ID:
            errors.append(RegistryError("XDSUnknownRepositoryId", "unknown repository", location=unique_id))
        elif stored is None or entry is None or entry.patient_id != claims.first(RESOURCE_ID) \
                or not sb.visible(entry, claims):
            errors.append(RegistryError("XDSDocumentUniqueIdError", "no such document for this patient",
                                        location=unique_id))
        else:
            cid = soap.new_cid()
            parts[cid] = stored
            found.append((repository, unique_id, stored[1], cid))
    return xdsb.retrieve_response(found, errors), parts


# --- ITI-57 -------------------------------------------------------------------------------------------------------

def update(sb: Sandbox, msg: Message, claims: Claims) -> etree._Element:
    if msg.body.tag != f"{{{xdsb.LCM}}}SubmitObjectsRequest":
        raise refuse("XDSMetadataUpdateError", "the body is not a SubmitObjectsRequest")
    objects = msg.body.find("rim:RegistryObjectList", _N)
    if objects is None:
        raise refuse("XDSMetadataUpdateError", "no RegistryObjectList")
    done = False
    for assoc in objects.iterfind("rim:Association", _N):
        if assoc.get("associationType") == xdsb.UPDATE_AVAILABILITY:
            _update_status(sb, assoc, claims)
            done = True
    for obj in objects.iterfind("rim:ExtrinsicObject", _N):
        _update_entry(sb, obj, objects, claims)
        done = True
    if not done:
        raise refuse("XDSMetadataUpdateError", "nothing to update (no DocumentEntry, no UpdateAvailabilityStatus)")
    return soap.registry_response()


def _update_status(sb: Sandbox, assoc: etree._Element, claims: Claims) -> None:
    target = sb.store.by_uuid(assoc.get("targetObject", ""))
    original = (xdsb.slot_values(assoc, "OriginalStatus") or [""])[0]
    new = (xdsb.slot_values(assoc, "NewStatus") or [""])[0]
    if target is None or target.patient_id != claims.first(RESOURCE_ID) or not sb.visible(target, claims):
        raise refuse("UnresolvedReferenceException", "the status update target is unknown", "targetObject")
    current = sb.store.current(target.unique_id)
    if current is None or current.entry_uuid != target.entry_uuid or original != target.status:
        raise refuse("XDSMetadataVersionError", "OriginalStatus is not the entry's current status", "OriginalStatus")
    if new not in STATUSES:
        raise refuse("XDSMetadataUpdateError", "NewStatus is not Approved, Deprecated or Archived", "NewStatus")
    with sb.store.transaction() as conn:
        set_status(sb, conn, target, new)
        sb.store.event(conn, target.unique_id, "status")


def _update_entry(sb: Sandbox, obj: etree._Element, objects: etree._Element, claims: Claims) -> None:
    unique_id = xdsb.external_id(obj, ebrim.DE_UNIQUE_ID)
    current = sb.store.current(unique_id)
    if current is None or current.patient_id != claims.first(RESOURCE_ID) or not sb.visible(current, claims):
        raise refuse("UnresolvedReferenceException", "no registered DocumentEntry has this uniqueId", "uniqueId")
    previous = ""
    for assoc in objects.iterfind("rim:Association", _N):
        if assoc.get("targetObject") == obj.get("id"):
            previous = (xdsb.slot_values(assoc, "PreviousVersion") or [""])[0]
    if obj.get("lid") != current.lid or previous != str(current.version):
        raise refuse("XDSMetadataVersionError", "lid / PreviousVersion do not name the current version", "lid")
    if xdsb.external_id(obj, ebrim.DE_PATIENT_ID) != current.patient_id:
        raise refuse("XDSPatientIdDoesNotMatch", "an update cannot change the patientId", "patientId")
    info = xdsb.document_info(obj)
    if info.hash and info.hash != current.hash:
        raise refuse("XDSMetadataUpdateError", "an update cannot change the document hash", "hash")
    if not info.confidentiality or any(
            (c, s) not in J58_CONFIDENTIALITY_CODE for c, s, _ in xdsb.coded(obj, ebrim.DE_CONFIDENTIALITY)):
        raise refuse("XDSRegistryMetadataError", "confidentialityCode outside JDV_J58", "confidentialityCode")
    entry_uuid = "urn:uuid:" + str(uuid.uuid4())
    row = Entry(entry_uuid, current.lid, current.version + 1, unique_id, current.patient_id, current.status,
                current.hash, current.size, list(info.confidentiality), current.class_code, current.type_code,
                current.title, _stored_object(obj, entry_uuid, current.status), author_id=current.author_id,
                author_structure=current.author_structure)
    row.object_xml = _keep_lid(row.object_xml or b"", current.lid, row.version)
    with sb.store.transaction() as conn:
        current.status = DEPRECATED
        sb.store.update_entry(conn, current)
        sb.store.insert_entry(conn, row)
        sb.store.event(conn, unique_id, "updated")


def _keep_lid(xml: bytes, lid: str, version: int) -> bytes:
    obj = etree.fromstring(xml)
    obj.set("lid", lid)
    info = obj.find("rim:VersionInfo", _N)
    if info is None:
        info = etree.SubElement(obj, f"{{{xdsb.RIM}}}VersionInfo")
    info.set("versionName", str(version))
    return etree.tostring(obj)


# --- the SOAP endpoint ----------------------------------------------------------------------------------------------

def _answer(env: etree._Element, status: int = 200, parts: dict[str, tuple[bytes, str]] | None = None,
            action: str = "") -> Response:
    if parts is not None:
        ctype, body = soap.pack(env, action, parts)
    else:
        ctype, body = soap.plain(env, action)
    return Response(body, status=status, content_type=ctype)


def _fault(code: str, reason: str, subcode: str = "", relates_to: str = "") -> Response:
    env = soap.envelope("http://www.w3.org/2005/08/addressing/soap/fault", soap.fault(code, reason, subcode),
                        relates_to=relates_to or "urn:uuid:unknown")
    return _answer(env, 400 if code == "env:Sender" else 500)


def _claims(sb: Sandbox, msg: Message) -> Claims:
    security = msg.security()
    if security is None or len(security) == 0:
        raise VihfError("wsse:InvalidSecurity", "no wsse:Security header with a VIHF assertion")
    assertion = security.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    if assertion is None:
        raise VihfError("wsse:InvalidSecurityToken", "the wsse:Security header holds no SAML 2.0 assertion")
    return verify_assertion(assertion, trusted=sb.trusted)


Handler = Callable[[Sandbox, Message, Claims], Any]
_HANDLERS: dict[str, Handler] = {soap.PROVIDE: provide_and_register, soap.QUERY: stored_query,
                                 soap.RETRIEVE: retrieve, soap.UPDATE: update}


def handle_soap(sb: Sandbox, content_type: str, body: bytes) -> Response:
    try:
        msg = soap.parse(content_type, body)
    except SoapError as exc:
        return _fault("env:Sender" if exc.code != "env:VersionMismatch" else exc.code, str(exc),
                      exc.code if exc.code.startswith("wsa:") else "")
    relates = (msg.envelope.findtext(f"{{{soap.SOAP}}}Header/{{{soap.WSA}}}MessageID") or "").strip()
    if msg.action not in soap.ACTIONS:
        return _fault("env:Sender", f"unsupported action {msg.action}", "wsa:ActionNotSupported", relates)
    try:
        claims = _claims(sb, msg)
    except VihfError as exc:
        return _fault("env:Sender", str(exc), exc.code, relates)
    reply = soap.response_action(msg.action)
    parts: dict[str, tuple[bytes, str]] | None = None
    try:
        if msg.action == soap.TD02:
            ins = sb.patient(xdsb.read_td02_request(msg.body), claims)
            result: etree._Element = xdsb.td02_response(sb.status(ins))
        elif msg.action == soap.RETRIEVE:
            result, parts = retrieve(sb, msg, claims)
        else:
            result = _HANDLERS[msg.action](sb, msg, claims)
    except Refusal as refusal:
        if msg.action == soap.QUERY:
            result = xdsb.query_response([], refusal.errors)
        elif msg.action == soap.RETRIEVE:
            result = xdsb.retrieve_response([], refusal.errors)
        else:
            result = soap.registry_response(refusal.errors)
    except SoapError as exc:
        return _fault("env:Sender", str(exc), "", relates)
    env = soap.envelope(reply, result, relates_to=relates)
    return _answer(env, 200, parts if parts else None, reply)
