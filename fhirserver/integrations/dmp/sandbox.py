"""The DMP sandbox: XDS.b SOAP (ITI-41/18/43/57, TD0.2) and PDSm FHIR (ITI-65) endpoints on loopback.

``dui dmp-sandbox --port N [--store FILE] [--kit-dir DIR]`` runs it (threaded werkzeug server). It CHECKS what it
receives the way the DMP would (ANS *DMP — Guide d'intégration*, IHE ITI TF-2b/TF-3, french-interop.md §6):
SOAP 1.2 envelope and WS-Addressing action; a VIHF 4.0 assertion whose XML signature verifies and whose mandatory
attributes are present, about the patient of the request; metadata codes in the DMP value sets
(:func:`mappings.xds.metadata.check_codes`); an INS patientId of a DMP that exists and is open (TD0.2 state,
configurable per INS); the declared hash and size; the CDA itself valid against the ANS kit
(:class:`mappings.cda.validate.CdaValidator`; without a kit only well-formedness is checked). It answers with
RegistryResponse error codes (below) and stores documents durably (:mod:`.sandbox_store`).

Error codes (IHE ITI TF-3 Table 4.2.4.1-2, plus ebRS ``UnresolvedReferenceException``); the DMP's own codes are
not public, so these are the sandbox's choices:

=================================  ==========================================================================
``XDSRegistryMetadataError``        unreadable metadata, a code outside the DMP value sets
``XDSUnknownPatientId``             patientId not an INS, or no open DMP for it (TD0.2 state closed / absent)
``XDSPatientIdDoesNotMatch``        the VIHF resource-id and the patientId differ
``XDSMissingDocument``              a DocumentEntry without its document
``XDSRepositoryMetadataError``      the declared hash or size differs from the document received
``InvalidDocumentContent``          the CDA fails the XSD or the ANS schematrons
``XDSDuplicateUniqueIdInRegistry``  the same document (same uniqueId and hash) is already registered
``XDSNonIdenticalHash``             the uniqueId is registered with different content
``UnresolvedReferenceException``    RPLC / update target unknown or not Approved
SOAP Fault ``wsse:*``               VIHF missing, unsigned, badly signed, expired or incomplete
=================================  ==========================================================================

Introspection for tests: ``GET /_sandbox/documents`` (uniqueIds with status and event counts),
``PUT /_sandbox/dmp/<ins>`` with ``{"state": "active" | "closed" | "absent"}``.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from lxml import etree
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from fhirserver.integrations.dmp import soap, xdsb
from fhirserver.integrations.dmp.client import APPROVED, ARCHIVED, DEPRECATED, DmpStatus
from fhirserver.integrations.dmp.sandbox_store import Entry, Store
from fhirserver.integrations.dmp.soap import Message, RegistryError, SoapError
from fhirserver.integrations.dmp.vihf import RESOURCE_ID, Claims, VihfError, verify_assertion
from mappings.xds import ebrim
from mappings.xds.hl7v2 import parse_cx
from mappings.xds.metadata import INS_ROOTS, check_codes
from mappings.xds.model import MetadataError, Submission
from mappings.xds.valuesets import J58_CONFIDENTIALITY_CODE

#: the sandbox repository's uniqueId (an OID under 2.25, derived from a fixed UUID)
REPOSITORY_ID = f"2.25.{uuid.UUID('6b1f2d4e-2c1a-4f7e-9a55-1d2b3c4d5e6f').int}"
STATUSES = (APPROVED, DEPRECATED, ARCHIVED)
_N = {"rim": xdsb.RIM, "lcm": xdsb.LCM, "xdsb": xdsb.XDSB}


class Refusal(Exception):
    """Refuse the request with these registry errors."""

    def __init__(self, *errors: RegistryError) -> None:
        super().__init__(errors[0].code if errors else "refused")
        self.errors = list(errors)


def refuse(code: str, context: str, location: str = "") -> Refusal:
    """A Refusal with one registry error."""
    return Refusal(RegistryError(code, context, location=location))


@dataclass
class Sandbox:
    """The sandbox state: its store, the CDA validator (None: well-formedness only), the TD0.2 default."""

    store: Store
    validator: Any = None
    default_state: str = "active"

    # --- shared checks -------------------------------------------------------------------------------------------

    def patient(self, patient_cx: str, claims: Claims, location: str = "patientId") -> str:
        """The INS of ``patient_cx`` when it is an INS the VIHF is about and its DMP is open."""
        value, oid, _ = parse_cx(patient_cx)
        if not value or oid not in INS_ROOTS:
            raise refuse("XDSUnknownPatientId", "the patientId is not an INS (NIR / NIA authority)", location)
        if claims.first(RESOURCE_ID) != patient_cx:
            raise refuse("XDSPatientIdDoesNotMatch", "the VIHF resource-id is not the patientId of the request",
                       location)
        return value

    def require_open(self, ins: str, location: str = "patientId") -> None:
        state = self.store.dmp_state(ins, self.default_state)
        if state != "active":
            raise refuse("XDSUnknownPatientId", f"no open DMP for this patient (state {state})", location)

    def status(self, ins: str) -> DmpStatus:
        state = self.store.dmp_state(ins, self.default_state)
        reasons = {"closed": "the DMP is closed", "absent": "the patient has no DMP"}
        return DmpStatus(state, state == "active", reasons.get(state, ""))

    def check_document(self, content: bytes) -> None:
        try:
            root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True,
                                                             huge_tree=True))
        except etree.XMLSyntaxError as exc:
            raise refuse("InvalidDocumentContent", "the document is not well-formed XML") from exc
        if self.validator is None:
            return
        report = self.validator.validate(root)
        failures = list(report.failures)
        if failures:
            raise Refusal(*[RegistryError("InvalidDocumentContent", f"{f.source}: {f.message}"[:500],
                                          location=f.location or "") for f in failures[:20]])


def _digest(content: bytes) -> str:
    return hashlib.sha1(content).hexdigest()


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
    digest = _digest(content)
    if entry.hash.lower() != digest:
        raise refuse("XDSRepositoryMetadataError", "the declared hash is not the SHA-1 of the document", "hash")
    if entry.size != len(content):
        raise refuse("XDSRepositoryMetadataError", "the declared size is not the document's size", "size")
    existing = sb.store.current(entry.unique_id)
    if existing is not None:
        check_duplicate(sb, existing, digest)
    replaced = _replaced(sb, submission) if submission.replaced_entry_uuid else None
    sb.check_document(content)
    _register(sb, entry.unique_id, entry.entry_id, entry.patient_id, digest, content, obj, submission, replaced)
    return soap.registry_response()


def check_duplicate(sb: Sandbox, existing: Entry, digest: str) -> None:
    with sb.store.transaction() as conn:
        if existing.hash == digest:
            sb.store.event(conn, existing.unique_id, "duplicate")
    if existing.hash == digest:
        raise refuse("XDSDuplicateUniqueIdInRegistry", "this document (same uniqueId, same hash) is already registered",
                   "uniqueId")
    raise refuse("XDSNonIdenticalHash", "the uniqueId is already registered with a different document", "uniqueId")


def _replaced(sb: Sandbox, submission: Submission) -> Entry:
    return replaced_entry(sb, sb.store.by_uuid(submission.replaced_entry_uuid or ""), submission)


def replaced_entry(sb: Sandbox, target: Entry | None, submission: Submission) -> Entry:
    """The RPLC target when it may be replaced (Approved, same patient); a Refusal otherwise."""
    if target is None or target.status != APPROVED:
        raise refuse("UnresolvedReferenceException", "the RPLC target is not an Approved DocumentEntry", "RPLC")
    if target.patient_id != submission.document.patient_id:
        raise refuse("XDSPatientIdDoesNotMatch", "the replaced document belongs to another patient", "RPLC")
    return target


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
              obj: etree._Element, submission: Submission, replaced: Entry | None) -> None:
    entry_uuid = entry_id if entry_id.startswith("urn:uuid:") else "urn:uuid:" + str(uuid.uuid4())
    doc = submission.document
    row = Entry(entry_uuid, entry_uuid, 1, unique_id, patient_id, APPROVED, digest, len(content),
                [c.code for c in doc.confidentiality_codes], doc.class_code.code, doc.type_code.code, doc.title,
                _stored_object(obj, entry_uuid, APPROVED))
    register_entry(sb, row, content, doc.mime_type, replaced)


def register_entry(sb: Sandbox, row: Entry, content: bytes, mime_type: str, replaced: Entry | None) -> None:
    """Store a new entry and its document in one transaction; the replaced entry (RPLC) becomes Deprecated."""
    with sb.store.transaction() as conn:
        if sb.store.current(row.unique_id) is not None:  # a concurrent twin won the race
            raise refuse("XDSDuplicateUniqueIdInRegistry", "this document is already registered", "uniqueId")
        if sb.store.by_uuid(row.entry_uuid) is not None:
            raise refuse("XDSRegistryMetadataError", "the entryUUID is already used by another entry", "entryUUID")
        sb.store.insert_entry(conn, row)
        sb.store.insert_document(conn, row.unique_id, REPOSITORY_ID, mime_type, content, row.hash)
        sb.store.event(conn, row.unique_id, "registered")
        if replaced is not None:
            replaced.replaced_by = row.unique_id
            set_status(sb, conn, replaced, DEPRECATED)
            sb.store.event(conn, replaced.unique_id, "replaced")


def set_status(sb: Sandbox, conn: Any, e: Entry, status: str) -> None:
    """Change an entry's availability status in both representations (ebRIM object, DocumentReference)."""
    e.status = status
    if e.object_xml:
        obj = etree.fromstring(e.object_xml)
        obj.set("status", status)
        e.object_xml = etree.tostring(obj)
    if e.resource is not None:
        from fhirserver.integrations.dmp.pdsm import with_status

        e.resource = with_status(e.resource, status)
    sb.store.update_entry(conn, e)


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
    return xdsb.query_response([etree.fromstring(e.object_xml) for e in entries if e.object_xml])


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
        elif stored is None or entry is None or entry.patient_id != claims.first(RESOURCE_ID):
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
    if target is None or target.patient_id != claims.first(RESOURCE_ID):
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
    if current is None or current.patient_id != claims.first(RESOURCE_ID):
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
                current.title, _stored_object(obj, entry_uuid, current.status))
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


def _claims(msg: Message) -> Claims:
    security = msg.security()
    if security is None or len(security) == 0:
        raise VihfError("wsse:InvalidSecurity", "no wsse:Security header with a VIHF assertion")
    assertion = security.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    if assertion is None:
        raise VihfError("wsse:InvalidSecurityToken", "the wsse:Security header holds no SAML 2.0 assertion")
    return verify_assertion(assertion)


Handler = Callable[[Sandbox, Message, Claims], Any]
_HANDLERS: dict[str, Handler] = {soap.PROVIDE: provide_and_register, soap.QUERY: stored_query,
                                 soap.RETRIEVE: retrieve, soap.UPDATE: update}
_ERROR_TAGS = {soap.QUERY: f"{{{xdsb.QRY}}}AdhocQueryResponse"}


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
        claims = _claims(msg)
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


# --- the application ---------------------------------------------------------------------------------------------

def create_app(sb: Sandbox) -> Flask:
    """The sandbox's WSGI app (SOAP at ``/soap``, PDSm FHIR at ``/fhir``, introspection under ``/_sandbox``)."""
    from fhirserver.integrations.dmp import sandbox_pdsm

    app = Flask("dmp-sandbox")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024

    @app.post("/soap")
    def soap_endpoint() -> Response:
        return handle_soap(sb, request.content_type or "", request.get_data())

    @app.get("/_sandbox/documents")
    def documents() -> Response:
        return jsonify(sb.store.summary())

    @app.put("/_sandbox/dmp/<ins>")
    def dmp_state(ins: str) -> Response | tuple[Response, int]:
        data = request.get_json(silent=True) or {}
        try:
            sb.store.set_dmp_state(ins, str(data.get("state", "")))
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify({"ins": ins, "state": data["state"]})

    @app.get("/_sandbox/health")
    def health() -> Response:
        return jsonify({"status": "ok", "validator": sb.validator is not None})

    sandbox_pdsm.register(app, sb)
    return app


class _QuietHandler(WSGIRequestHandler):
    """No request log lines (URLs and peers only, but the sandbox stays quiet like the server)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class Server:
    """The sandbox served by a threaded werkzeug server (``port=0``: a free port)."""

    def __init__(self, sb: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sb
        self._server: BaseWSGIServer = make_server(host, port, create_app(sb), threaded=True,
                                                   request_handler=_QuietHandler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    def start(self) -> Server:
        self._thread = threading.Thread(target=self._server.serve_forever, name="dmp-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


def open_sandbox(store: str | Path, kit_dir: str = "", cache_dir: str = "var/cda-cache") -> Sandbox:
    """A sandbox on the SQLite file ``store`` (``:memory:`` for a throwaway one), validating with the kit."""
    validator = None
    if kit_dir:
        from mappings.cda.validate import CdaValidator

        validator = CdaValidator(kit_dir, cache_dir)
    if str(store) != ":memory:":
        Path(store).parent.mkdir(parents=True, exist_ok=True)
    return Sandbox(Store(str(store)), validator)
