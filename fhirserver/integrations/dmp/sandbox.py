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
``XDSDocumentUniqueIdError``        ITI-43 / PDSm read of a document this patient does not have
``XDSUnknownRepositoryId``          ITI-43 naming another repository
``XDSStoredQueryParamNumber``       ITI-18 without its required parameter
``XDSUnknownStoredQuery``           a stored query other than FindDocuments / GetDocuments
``XDSMetadataUpdateError``          ITI-57 / PATCH changing what may not change
``XDSMetadataVersionError``         ITI-57 not based on the current version / status
SOAP Fault ``wsse:*``               VIHF missing, unsigned, badly signed, expired, untrusted or incomplete
SOAP Fault ``wsa:*``                no or unknown WS-Addressing action; ``env:VersionMismatch`` for SOAP 1.1
=================================  ==========================================================================

Introspection for tests: ``GET /_sandbox/documents`` (each uniqueId with its status, version, confidentiality and
how many times it was registered / resubmitted), ``PUT /_sandbox/dmp/<ins>`` with
``{"state": "active" | "closed" | "absent"}``, ``GET /_sandbox/health``.

Visibility: a MASQUE_PS document is listed and returned only to the professional or structure that sent it
(:meth:`Sandbox.visible`); INVISIBLE_PATIENT / INVISIBLE_REPRESENTANTS_LEGAUX concern patient access, which the
sandbox does not offer. Not modelled: the médecin traitant's access to masked documents, the XAdES signature of the submission set the real DMP requires, the DMP's own error codes and TD0.2 message;
one store serves both routes (uniqueIds are shared), but a document is listed and updated only through the
route that sent it.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from flask import Flask, Response, jsonify, request
from lxml import etree
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from fhirserver.integrations.dmp.client import APPROVED, ARCHIVED, DEPRECATED, DmpStatus
from fhirserver.integrations.dmp.sandbox_store import Entry, Store
from fhirserver.integrations.dmp.soap import RegistryError
from fhirserver.integrations.dmp.vihf import RESOURCE_ID, Claims
from mappings.xds.hl7v2 import parse_cx
from mappings.xds.metadata import INS_ROOTS
from mappings.xds.model import Submission

#: the sandbox repository's uniqueId (an OID under 2.25, derived from a fixed UUID)
REPOSITORY_ID = f"2.25.{uuid.UUID('6b1f2d4e-2c1a-4f7e-9a55-1d2b3c4d5e6f').int}"
#: the availability statuses an entry may have (ebRIM + the DMP's Archived)
STATUSES = (APPROVED, DEPRECATED, ARCHIVED)


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
    """The sandbox state: its store, the CDA validator (None: well-formedness only), the TD0.2 default state,
    the trusted VIHF signing certificates."""

    store: Store
    validator: Any = None
    default_state: str = "active"
    #: certificates whose VIHF signatures are accepted; empty: any (self-signed included — sandbox only)
    trusted: tuple[x509.Certificate, ...] = ()

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

    @staticmethod
    def visible(entry: Entry, claims: Claims) -> bool:
        """A MASQUE_PS document is hidden from professionals other than the one (or the structure) who sent it
        (DMP rule: visible to the patient, its author and the médecin traitant — the last is not modelled)."""
        if "MASQUE_PS" not in entry.confidentiality:
            return True
        return claims.name_id == entry.author_id or (
            bool(entry.author_structure) and claims.first("Identifiant_Structure") == entry.author_structure)

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


def check_duplicate(sb: Sandbox, existing: Entry, digest: str) -> None:
    with sb.store.transaction() as conn:
        if existing.hash == digest:
            sb.store.event(conn, existing.unique_id, "duplicate")
    if existing.hash == digest:
        raise refuse("XDSDuplicateUniqueIdInRegistry", "this document (same uniqueId, same hash) is already registered",
                   "uniqueId")
    raise refuse("XDSNonIdenticalHash", "the uniqueId is already registered with a different document", "uniqueId")


def replaced_entry(sb: Sandbox, target: Entry | None, submission: Submission) -> Entry:
    """The RPLC target when it may be replaced (Approved, same patient); a Refusal otherwise."""
    if target is None or target.status != APPROVED:
        raise refuse("UnresolvedReferenceException", "the RPLC target is not an Approved DocumentEntry", "RPLC")
    if target.patient_id != submission.document.patient_id:
        raise refuse("XDSPatientIdDoesNotMatch", "the replaced document belongs to another patient", "RPLC")
    return target


def register_entry(sb: Sandbox, row: Entry, content: bytes, mime_type: str, replaced: Entry | None,
                   claims: Claims) -> None:
    """Store a new entry (sent by ``claims``' actor) and its document in one transaction; the replaced entry
    (RPLC) becomes Deprecated."""
    row.author_id, row.author_structure = claims.name_id, claims.first("Identifiant_Structure")
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
        from fhirserver.integrations.dmp.pdsm_bundle import with_status

        e.resource = with_status(e.resource, status)
    sb.store.update_entry(conn, e)


# --- the application ---------------------------------------------------------------------------------------------

def create_app(sb: Sandbox) -> Flask:
    """The sandbox's WSGI app (SOAP at ``/soap``, PDSm FHIR at ``/fhir``, introspection under ``/_sandbox``)."""
    from fhirserver.integrations.dmp import sandbox_pdsm
    from fhirserver.integrations.dmp.sandbox_soap import handle_soap

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


def open_sandbox(store: str | Path, kit_dir: str = "", cache_dir: str = "var/cda-cache",
                 trusted: tuple[str, ...] = ()) -> Sandbox:
    """A sandbox on the SQLite file ``store`` (``:memory:`` for a throwaway one), validating with the kit,
    accepting VIHF signatures of the PEM certificates ``trusted`` only (empty: any)."""
    certs = tuple(x509.load_pem_x509_certificate(Path(f).read_bytes()) for f in trusted)
    validator = None
    if kit_dir:
        from mappings.cda.validate import CdaValidator

        validator = CdaValidator(kit_dir, cache_dir)
    if str(store) != ":memory:":
        Path(store).parent.mkdir(parents=True, exist_ok=True)
    return Sandbox(Store(str(store)), validator, trusted=certs)
