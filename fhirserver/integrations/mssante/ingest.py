"""Intégration d'un document reçu par MSSanté en N1: unpack the IHE XDM, validate the CDA, match the usager by INS,
store DocumentReference + Binary in one transaction; the standard error notification otherwise.

Flow (french-interop.md §7; ANS guide "Transmission de documents CDA par courriel MSSanté", pages ``cas-usage``,
``struct-email-standard``, ``error-codes``):

1. find the ``IHE_XDM.ZIP`` attachment and read it (:mod:`mappings.xdm`: layout, METADATA.XML, hash and size of
   each document);
2. validate each CDA with the ANS kit (``ctx.services.cda_validator``: XSD + structuration minimale + volet);
3. read the header (:func:`mappings.cda.to_fhir.read_document`);
4. identity: the INS of ``recordTarget`` must be present (else **903**), its strict traits complete (**905**),
   exactly one Patient must carry it (else **902** unknown patient) and the stored traits must agree (**904**);
5. store, in ONE FHIR transaction, the Binaries (CDA, embedded PDF; ids derived from the document uniqueId, PUT)
   and the DocumentReference (conditional create on its masterIdentifier), plus, for a replacement (RPLC), the
   replaced DocumentReference set to ``superseded``. The same document received twice gives one DocumentReference.

Anything else that prevents integration (no or unreadable XDM, invalid CDA, a store refused by the server) is
answered with **906** and its detail. A rejected message is answered with the subject
``[KO Intégration système !][<code>] XDM/1.0/DDM+<libellé> <NOM> <prénom> <ddn>``; nothing is stored. The answer
is an MDN (RFC 8098 ``multipart/report``, ``processed/Error: <code>^<libellé>``) when the message asks for one
(``Disposition-Notification-To``, and the same address as ``Return-Path`` when there is one), else the ANS
"standard" e-mail to the sender. A message asking for an MDN that was integrated gets a ``processed`` MDN.

Health data is never logged: only message keys, codes and resource ids.
"""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Literal

from fhirserver.auth.principal import system_principal
from fhirserver.errors import FhirError, Unavailable
from fhirserver.identity.traits import fold, read_traits
from fhirserver.integrations.mssante.message import (
    SUBJECT_PREFIX,
    XDM_FILENAME,
    SubjectIdentity,
    build_error_reply,
    build_mdn,
    mdn_address,
)
from fhirserver.integrations.mssante.xdm import XdmDocument, read_xdm
from fhirserver.integrations.outbox.types import TransientError
from fhirserver.interactions.client import Fhir
from fhirserver.interactions.context import Context
from mappings.cda.to_fhir import CdaReadError, PatientIdentity, ReceivedDocument, read_document

__all__ = ["IngestResult", "Rejection", "ingest_message", "match_patient"]

log = logging.getLogger(__name__)
#: the system principal the ingest reads and stores as (the AuditEvents' agent)
COMPONENT = "dui mss ingest"

Status = Literal["stored", "duplicate", "rejected"]


@dataclass
class Rejection(Exception):
    """The message cannot be integrated: ``code`` (ANS business code), a detail free of health data."""

    code: str
    detail: str
    identity: SubjectIdentity | None = None

    def __post_init__(self) -> None:
        super().__init__(f"[{self.code}] {self.detail}")


@dataclass(frozen=True)
class IngestResult:
    status: Status
    code: str | None = None
    detail: str | None = None
    document_references: tuple[str, ...] = ()  # ids of the DocumentReferences stored (or found, duplicate)
    reply: EmailMessage | None = None  # the notification sent: error e-mail, or MDN (processed / error)


@dataclass(frozen=True)
class _Matched:
    received: ReceivedDocument
    patient: dict[str, Any] = field(repr=False)


def _subject_identity(received: ReceivedDocument) -> SubjectIdentity:
    p = received.patient
    return SubjectIdentity(received.title, p.birth_family, p.first_given, p.birth_date)


def _fallback_identity(msg: EmailMessage) -> SubjectIdentity:
    """When no document could be read: the label after ``XDM/1.0/DDM+`` in the received subject."""
    subject = " ".join(str(msg.get("Subject") or "").split())
    label = subject.removeprefix(SUBJECT_PREFIX).lstrip("+").strip()
    return SubjectIdentity(label or "document")


# --- 1. the XDM attachment ---------------------------------------------------------------------------------

def xdm_attachment(msg: EmailMessage) -> bytes:
    """The bytes of the ``IHE_XDM.ZIP`` attachment (file name compared case-insensitively)."""
    for part in msg.iter_attachments():
        if (part.get_filename() or "").upper() == XDM_FILENAME:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload:
                return payload
    raise Rejection("906", f"the message has no {XDM_FILENAME} attachment")


# --- 2-3. validation and reading -------------------------------------------------------------------------------

def _validate(ctx: Context, document: XdmDocument) -> ReceivedDocument:
    validator = ctx.services.cda_validator
    if validator is None:  # never integrate unvalidated documents: leave the message for later
        raise TransientError("CDA validation unavailable ([cda] kit_dir): message left in the inbox")
    report = validator.validate(document.content)
    if not report.valid:
        first = report.failures[0]
        where = f" at {first.location}" if first.location else ""
        raise Rejection("906", f"the CDA document {document.name} fails the ANS checks "
                               f"({len(report.failures)} error(s); first: [{first.source}]{where})")
    try:
        return read_document(document.content)
    except CdaReadError as exc:
        raise Rejection("906", f"the CDA document {document.name} cannot be read: {exc.path}: {exc.message}") \
            from exc


# --- 4. identity ---------------------------------------------------------------------------------------------

def _same(a: str | None, b: str | None) -> bool:
    return fold(a) == fold(b)


def _differing_traits(identity: PatientIdentity, patient: Mapping[str, Any]) -> list[str]:
    stored = read_traits(patient)
    differing = []
    if not _same(identity.birth_family, stored.birth_family):
        differing.append("birth family name")
    if not _same(identity.first_given, stored.first_given):
        differing.append("first birth given name")
    if identity.given_list and stored.given_list and not _same(identity.given_list, stored.given_list):
        differing.append("list of birth given names")
    if identity.sex != stored.sex:
        differing.append("sex")
    if identity.birth_date != stored.birth_date:
        differing.append("birth date")
    if identity.birth_place and stored.birth_place and identity.birth_place != stored.birth_place:
        differing.append("birth place")
    return differing


def _fhir(ctx: Context) -> Fhir:
    return Fhir(ctx, system_principal(COMPONENT))


def _search(ctx: Context, resource_type: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    try:
        return _fhir(ctx).search(resource_type, params)
    except FhirError as exc:
        if exc.status >= 500:
            raise TransientError(f"{resource_type} search failed ({exc.status})") from exc
        raise Rejection("906", f"{resource_type} search refused ({exc.status})") from exc


def match_patient(ctx: Context, received: ReceivedDocument) -> dict[str, Any]:
    """The one Patient whose INS and strict traits are those of the document's ``recordTarget``."""
    identity = received.patient
    who = _subject_identity(received)
    if not identity.ins or not identity.ins_system:
        raise Rejection("903", "recordTarget/patientRole has no INS identifier", who)
    missing = [name for name, value in (("birth family name", identity.birth_family),
                                        ("first birth given name", identity.first_given),
                                        ("sex", identity.sex), ("birth date", identity.birth_date)) if not value]
    if missing:
        raise Rejection("905", f"INS traits missing from recordTarget: {', '.join(missing)}", who)
    found = _search(ctx, "Patient", [("identifier", f"{identity.ins_system}|{identity.ins}")])
    if not found:
        raise Rejection("902", "no usager carries this INS", who)
    if len(found) > 1:
        raise Rejection("906", f"{len(found)} usagers carry this INS (identitovigilance to resolve)", who)
    differing = _differing_traits(identity, found[0])
    if differing:
        raise Rejection("904", f"INS traits differ from the usager's record: {', '.join(differing)}", who)
    return found[0]


# --- 5. store ------------------------------------------------------------------------------------------------

def _existing(ctx: Context, received: ReceivedDocument) -> str | None:
    found = _search(ctx, "DocumentReference", [("identifier", received.identifier_query)])
    return str(found[0]["id"]) if found else None


def _entries(ctx: Context, matched: _Matched) -> list[dict[str, Any]]:
    received, patient = matched.received, matched.patient
    subject_ref = f"Patient/{patient['id']}"
    entries: list[dict[str, Any]] = []
    for binary in received.binaries:
        resource = {**binary, "securityContext": {"reference": subject_ref}}
        entries.append({"resource": resource, "request": {"method": "PUT", "url": f"Binary/{binary['id']}"}})
    doc = dict(received.document_reference)
    doc["subject"] = {**doc["subject"], "reference": subject_ref}
    if received.replaces:
        old = _search(ctx, "DocumentReference", [("identifier", _identifier_query(received.replaces))])
        if old:
            target = old[0]
            doc["relatesTo"] = [{"code": "replaces", "target": {"reference": f"DocumentReference/{target['id']}"}}]
            if target.get("status") == "current":
                entries.append({"resource": {**target, "status": "superseded"},
                                "request": {"method": "PUT", "url": f"DocumentReference/{target['id']}"}})
    entries.append({"resource": doc, "request": {"method": "POST", "url": "DocumentReference",
                                                 "ifNoneExist": f"identifier={received.identifier_query}"}})
    return entries


def _identifier_query(unique_id: str) -> str:
    root, _, extension = unique_id.partition("^")
    return f"urn:oid:{root}|{extension}" if extension else f"urn:ietf:rfc:3986|urn:oid:{root}"


def _store(ctx: Context, matched: Sequence[_Matched]) -> tuple[Status, tuple[str, ...]]:
    """One transaction for every new document of the message; already stored documents are left untouched."""
    entries: list[dict[str, Any]] = []
    existing: list[str] = []
    for item in matched:
        found = _existing(ctx, item.received)
        if found:
            existing.append(found)
        else:
            entries.extend(_entries(ctx, item))
    if not entries:
        return "duplicate", tuple(existing)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    try:
        answer = _fhir(ctx).transaction(bundle)
    except FhirError as exc:
        if exc.status >= 500:
            raise TransientError(f"transaction failed ({exc.status})") from exc
        where = ", ".join(e for i in exc.issues for e in i.expression)[:200]
        raise Rejection("906", f"the document could not be stored ({exc.status}{': ' + where if where else ''})"
                        ) from exc
    stored = []
    for entry, sent in zip(answer.get("entry", []), entries, strict=False):
        if sent["request"]["url"] == "DocumentReference":
            location = str(entry.get("response", {}).get("location", ""))
            parts = location.split("/")
            stored.append(parts[parts.index("DocumentReference") + 1] if "DocumentReference" in parts else "")
    return "stored", tuple(existing + stored)


# --- the message ---------------------------------------------------------------------------------------------

def parse_message(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _integrate(ctx: Context, msg: EmailMessage) -> tuple[Status, tuple[str, ...], SubjectIdentity]:
    documents = read_xdm_documents(xdm_attachment(msg))
    matched = []
    for document in documents:
        received = _validate(ctx, document)
        if document.submission.document.unique_id != received.unique_id:
            raise Rejection("906", f"METADATA.XML describes document {document.submission.document.unique_id}, "
                                   f"the CDA is {received.unique_id}", _subject_identity(received))
        matched.append(_Matched(received, match_patient(ctx, received)))
    try:
        status, ids = _store(ctx, matched)
    except Unavailable as exc:
        raise TransientError("database unavailable") from exc
    return status, ids, _subject_identity(matched[0].received)


def read_xdm_documents(data: bytes) -> list[XdmDocument]:
    try:
        documents = read_xdm(data)
    except ValueError as exc:
        raise Rejection("906", f"{XDM_FILENAME} cannot be read: {exc}") from exc
    if not documents:
        raise Rejection("906", f"{XDM_FILENAME} holds no CDA document")
    return documents


def ingest_message(ctx: Context, raw: bytes, *, sender: str,
                   send: Callable[[EmailMessage], None]) -> IngestResult:
    """Integrate one received message; on rejection, ``send`` the error notification (from ``sender``).

    Raises :class:`~fhirserver.integrations.outbox.types.TransientError` when the message should be tried again
    later (no validator, database unavailable, the error notification could not be sent).
    """
    msg = parse_message(raw)
    wants_mdn = mdn_address(msg) is not None
    try:
        status, ids, identity = _integrate(ctx, msg)
    except Rejection as rejection:
        who = rejection.identity or _fallback_identity(msg)
        if wants_mdn:
            reply = build_mdn(msg, sender=sender, identity=who, code=rejection.code, detail=rejection.detail)
        else:
            reply = build_error_reply(msg, sender=sender, code=rejection.code, identity=who,
                                      detail=rejection.detail)
        send(reply)  # a TransientError here leaves the message for the next poll
        log.info("mssante ingest: message rejected with code %s", rejection.code)
        return IngestResult("rejected", rejection.code, rejection.detail, reply=reply)
    log.info("mssante ingest: %s as %s", status, ", ".join(f"DocumentReference/{i}" for i in ids))
    ack: EmailMessage | None = None
    if wants_mdn:  # "processed" acknowledgement (also for a duplicate: the sender may not have had the first)
        ack = build_mdn(msg, sender=sender, identity=identity)
        send(ack)
    return IngestResult(status, document_references=ids, reply=ack)
