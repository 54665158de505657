"""Sending a DocumentReference to the DMP or over MSSanté through the transactional outbox.

``POST DocumentReference/{id}/$send-to-dmp`` — DMP feeding (ANS "DMP — Guide d'intégration", TD2.1 via ITI-41 or
PDSm; french-interop.md §6) in one database transaction: the CDA document of the DocumentReference (its attachment
when it already is a CDA R2 document; otherwise the N1 document generated from the attached file) is validated by
the ANS kit (XSD + schematrons: a failure is a 422 listing every failed assertion, no validator is a 503), its XDS
metadata are derived from its header (DMP value sets; visibility labels MASQUE_PS, INVISIBLE_PATIENT,
INVISIBLE_REPRESENTANTS_LEGAUX from ``DocumentReference.securityLabel``), the usager must have a qualified identity
whose INS is the document's, and the request to send is committed in the outbox with nothing else to do:
``dui worker`` delivers it (retries, backoff, idempotent by the CDA document id).

Answer: ``Parameters`` — ``status`` (``queued`` | ``sending`` | ``delivered`` | ``failed`` | ``cancelled``),
``queued`` (true when this call queued it: HTTP 202; false when the same document was already queued or sent:
HTTP 200 with its current state), ``uniqueId`` (the CDA document id), ``attempts``, ``documentVersion``, and when
known ``nextAttempt``, ``deliveredAt``, ``error`` (codes only), ``replaces``. The same document version is never
queued twice. After a change of the DocumentReference, a new call sends the new document, which must replace the
one delivered (CDA ``relatedDocument[@typeCode='RPLC']``); while an earlier version is still being sent the call
is refused (409). A failed item is queued again by a new call.

``status=true`` (URL or Parameters) only reports; ``GET|POST DocumentReference/{id}/$dmp-status`` is the read-only
form, listing every send of the document (``delivery`` parts, newest first).

``POST DocumentReference/{id}/$send-mssante`` with ``recipient`` (an MSSanté address, repeatable; the usager's
own mailbox is ``<INS>@patient.mssante.fr``) and optionally ``notificationTo`` (read receipts) and ``noReply``: the
same checks, one outbox item per recipient (the MSSanté deliverer builds the IHE XDM message);
``$mssante-status`` reports.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree

from fhirserver.documents.validation import ensure_valid
from fhirserver.errors import Conflict, Invalid, Issue, NotFound, Unavailable, Unprocessable
from fhirserver.identity.ins import ins_system_info
from fhirserver.identity.sharing import has_ins_identifier, require_qualified
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.operations import Operation
from fhirserver.interactions.operations.cda import n1_generator
from fhirserver.interactions.operations.params import flag, inputs
from fhirserver.search.values import instant_text
from fhirserver.storage.base import StoredResource
from fhirserver.storage.sql.repository import SqlSession
from mappings.xds.metadata import MetadataError, from_cda
from mappings.xds.model import Submission
from mappings.xds.valuesets import VISIBILITY_LABELS

if TYPE_CHECKING:  # reached through ctx.services: interactions do not import the integrations
    from fhirserver.integrations.outbox.store import OutboxQueue, OutboxRecord

#: the delivery status extension the outbox worker writes on the DocumentReference (fhirserver.integrations.outbox)
EXT_DELIVERY = "https://dui.example.org/fhir/StructureDefinition/document-delivery"
_DEFINITIONS = "https://dui.example.org/fhir/OperationDefinition/DocumentReference-"
CDA_NS = "urn:hl7-org:v3"
CDA_MEDIA_TYPES = ("application/hl7-v3+xml", "text/xml", "application/xml", "application/cda+xml")
_ACTIVE = ("pending", "sending", "delivered")
_STATUS_NAMES = {"pending": "queued"}
_MSSANTE_ADDRESS = re.compile(r"^[^@\s<>]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class Prepared:
    """A validated CDA document ready to queue."""

    payload: bytes
    submission: Submission
    visibility: tuple[str, ...]


def _refused(message: str, expression: str, code: str = "invalid") -> Unprocessable:
    """A 422 whose one issue repeats the message and names the element."""
    return Unprocessable(message, [Issue(message, code=code, expression=(expression,))])


# --- request ---------------------------------------------------------------------------------------

def _document(req: FhirRequest, ctx: Context, session: SqlSession, *, lock: bool) -> StoredResource:
    doc_id = req.segments[1]
    ctx.policy.check(req, "operation", "DocumentReference")
    stored = session.read("DocumentReference", doc_id, for_update=lock)
    if stored is None or stored.deleted or stored.content is None:
        raise NotFound(f"DocumentReference/{doc_id} not found")
    return stored


# --- the CDA document ------------------------------------------------------------------------------

def _attachment_bytes(req: FhirRequest, session: SqlSession, attachment: dict[str, Any], where: str) -> bytes:
    if isinstance(attachment.get("data"), str):
        try:
            return base64.b64decode(attachment["data"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _refused(f"{where}.data is not valid base64", f"{where}.data") from exc
    url = attachment.get("url")
    if isinstance(url, str) and url:
        base = req.base_url.rstrip("/") + "/"
        rel = url[len(base):] if req.base_url and url.startswith(base) else url
        parts = rel.split("/")
        if len(parts) == 2 and parts[0] == "Binary":
            binary = session.read("Binary", parts[1])
            if binary is None or binary.deleted or not binary.content:
                raise _refused(f"{where}.url: {rel} not found", f"{where}.url", "not-found")
            try:
                return base64.b64decode(binary.content.get("data") or "", validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _refused(f"{where}.url: {rel} data is not valid base64", f"{where}.url") from exc
        raise _refused(f"{where}.url must reference a Binary of this server (Binary/{{id}})", f"{where}.url",
                       "not-supported")
    raise _refused(f"{where} has neither data nor url", where, "required")


def _cda_attachment(content: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    for i, entry in enumerate(content.get("content") or []):
        att = entry.get("attachment") if isinstance(entry, dict) else None
        if isinstance(att, dict) and str(att.get("contentType", "")).split(";")[0].strip() in CDA_MEDIA_TYPES:
            return i, att
    return None


def cda_document(req: FhirRequest, ctx: Context, session: SqlSession, stored: StoredResource) -> bytes:
    """The CDA R2 document of the DocumentReference: its CDA attachment, or the N1 document generated from
    its file (:func:`fhirserver.interactions.operations.cda.n1_generator`, or ``ctx.services.n1_generator``
    when set: (req, ctx, session, DocumentReference) -> bytes)."""
    content = stored.content or {}
    found = _cda_attachment(content)
    if found is not None:
        index, attachment = found
        where = f"DocumentReference.content[{index}].attachment"
        data = _attachment_bytes(req, session, attachment, where)
        try:
            root = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise _refused(f"{where}: not well-formed XML ({exc.msg})", where) from exc
        if root.tag != f"{{{CDA_NS}}}ClinicalDocument":
            raise _refused(f"{where}: the XML document is not a CDA R2 ClinicalDocument", where)
        return data
    generator = ctx.services.n1_generator or n1_generator
    return generator(req, ctx, session, stored)


def visibility_labels(content: dict[str, Any]) -> tuple[str, ...]:
    """The DMP visibility labels among ``DocumentReference.securityLabel`` codes, in the DMP's order."""
    codes = {c.get("code") for label in content.get("securityLabel") or [] if isinstance(label, dict)
             for c in label.get("coding") or [] if isinstance(c, dict)}
    return tuple(v for v in VISIBILITY_LABELS if v in codes)


def _patient(ctx: Context, session: SqlSession, content: dict[str, Any], purpose: str) -> dict[str, Any]:
    ref = (content.get("subject") or {}).get("reference")
    if not isinstance(ref, str) or not ref.startswith("Patient/"):
        raise _refused("the DocumentReference has no subject Patient (the usager)", "DocumentReference.subject",
                       "required")
    patient = session.read("Patient", ref.split("/", 1)[1])
    if patient is None or patient.deleted or patient.content is None:
        raise _refused(f"DocumentReference.subject: {ref} not found", "DocumentReference.subject", "not-found")
    require_qualified(patient.content, purpose)
    if not has_ins_identifier(patient.content):
        raise _refused(f"{ref} has no INS identifier; the {purpose} needs the usager's INS", "Patient.identifier",
                       "business-rule")
    return patient.content


def _check_same_ins(patient: dict[str, Any], submission: Submission) -> None:
    value, _, rest = submission.document.patient_id.partition("^^^&")
    oid = rest.split("&", 1)[0]
    for ident in patient.get("identifier") or []:
        info = ins_system_info(ident.get("system")) if isinstance(ident, dict) else None
        if info is not None and info.oid == oid and ident.get("value") == value:
            return
    raise _refused("the CDA document's patient (recordTarget/patientRole/id, the INS) is not the "
                   "DocumentReference's subject", "DocumentReference.subject", "business-rule")


def prepare(req: FhirRequest, ctx: Context, session: SqlSession, stored: StoredResource,
            purpose: str, recipients: tuple[str, ...] = ()) -> Prepared:
    """The validated CDA and its XDS metadata, or a 4xx/503 saying why nothing can be sent."""
    content = stored.content or {}
    if content.get("status") != "current":
        raise _refused(f"DocumentReference/{stored.res_id} has status {content.get('status')!r}: only a current "
                       "document is sent", "DocumentReference.status", "business-rule")
    patient = _patient(ctx, session, content, purpose)
    payload = cda_document(req, ctx, session, stored)
    ensure_valid(ctx.services.cda_validator, payload, "the CDA document")
    visibility = visibility_labels(content)
    try:
        submission = from_cda(payload, visibility=visibility, intended_recipients=recipients)
    except MetadataError as exc:
        raise Unprocessable(f"the XDS metadata cannot be derived: {exc}", [
            Issue(p.text + (f" (at {p.location})" if p.location else ""), code="invalid") for p in exc.problems
        ] or [Issue(str(exc))]) from exc
    _check_same_ins(patient, submission)
    return Prepared(payload, submission, visibility)


# --- outbox ----------------------------------------------------------------------------------------

def _comparable(content: dict[str, Any] | None) -> dict[str, Any]:
    """A DocumentReference without what the outbox itself writes (delivery extensions, masterIdentifier, meta)."""
    out = {k: v for k, v in (content or {}).items() if k not in ("meta", "masterIdentifier")}
    ext = [e for e in out.get("extension") or [] if not (isinstance(e, dict) and e.get("url") == EXT_DELIVERY)]
    if ext:
        out["extension"] = ext
    else:
        out.pop("extension", None)
    return out


def _same_document(session: SqlSession, stored: StoredResource, record: OutboxRecord) -> bool:
    if record.document_version == stored.version_id:
        return True
    then = session.vread("DocumentReference", stored.res_id, record.document_version)
    return then is not None and _comparable(then.content) == _comparable(stored.content)


def _metadata(prepared: Prepared, stored: StoredResource, replaces: str | None, **extra: Any) -> dict[str, Any]:
    entry = prepared.submission.document
    return {
        "visibility": list(prepared.visibility), "replaces": replaces, "patient_id": entry.patient_id,
        "document_reference": {"id": stored.res_id, "version": stored.version_id},
        "xds": {"unique_id": entry.unique_id, "class_code": entry.class_code.code, "type_code": entry.type_code.code,
                "format_code": entry.format_code.code, "hash": entry.hash, "size": entry.size,
                "submission_set_unique_id": prepared.submission.submission_set.unique_id},
        **extra,
    }


def _describe(record: OutboxRecord | None, queued: bool = False) -> list[dict[str, Any]]:
    if record is None:
        return [{"name": "status", "valueCode": "not-sent"}, {"name": "queued", "valueBoolean": False}]
    params: list[dict[str, Any]] = [
        {"name": "status", "valueCode": _STATUS_NAMES.get(record.status, record.status)},
        {"name": "queued", "valueBoolean": queued},
        {"name": "uniqueId", "valueString": record.unique_id},
        {"name": "attempts", "valueInteger": record.attempts},
        {"name": "documentVersion", "valueString": str(record.document_version)},
    ]
    if record.target:
        params.append({"name": "recipient", "valueString": record.target})
    if record.status == "pending":
        params.append({"name": "nextAttempt", "valueInstant": instant_text(record.next_attempt_at)})
    if record.delivered_at is not None:
        params.append({"name": "deliveredAt", "valueInstant": instant_text(record.delivered_at)})
    if record.last_error and record.status != "delivered":
        params.append({"name": "error", "valueString": record.last_error})
    if record.metadata.get("replaces"):
        params.append({"name": "replaces", "valueString": record.metadata["replaces"]})
    return params


def _answer(records: list[tuple[OutboxRecord | None, bool]]) -> FhirResponse:
    """One destination: its parameters at the top level; several: one ``delivery`` part each."""
    queued = any(q for _, q in records)
    if len(records) == 1:
        params = _describe(*records[0])
    else:
        params = [{"name": "delivery", "part": _describe(r, q)} for r, q in records]
    return FhirResponse(202 if queued else 200, {"resourceType": "Parameters", "parameter": params})


def _outbox(ctx: Context) -> OutboxQueue:
    """The outbox the domain registered; without one nothing can be queued (503)."""
    if ctx.services.outbox is None:
        raise Unavailable("no outbox is registered on this server: documents cannot be queued")
    return ctx.services.outbox


def _queue(req: FhirRequest, ctx: Context, session: SqlSession, stored: StoredResource, kind: str,
           target: str, purpose: str,
           options: dict[str, Any] | None = None) -> tuple[OutboxRecord | None, bool]:
    outbox = _outbox(ctx)
    records = [r for r in outbox.for_document(session.conn, stored.res_id, kind) if r.target == target]
    active = [r for r in records if r.status in _ACTIVE]
    if active and _same_document(session, stored, active[-1]):
        return active[-1], False  # this version is already queued or sent
    prepared = prepare(req, ctx, session, stored, purpose, (target,) if target else ())
    unique_id = prepared.submission.document.unique_id
    same = next((r for r in records if r.unique_id == unique_id), None)
    if same is not None and same.status in _ACTIVE:
        if same.metadata.get("xds", {}).get("hash") == prepared.submission.document.hash:
            return same, False  # the resource changed, the document did not (same id, same bytes)
        raise _refused(f"DocumentReference/{stored.res_id} changed since it was queued as document {unique_id}, "
                       "and a document id names one content only: record the new version as a new "
                       "DocumentReference that replaces this one (relatesTo replaces)", "DocumentReference",
                       "business-rule")
    replaces = prepared.submission.replaced_unique_id
    if active and active[-1].status != "delivered":
        raise Conflict(f"an earlier version of DocumentReference/{stored.res_id} is still being sent "
                       f"(status {_STATUS_NAMES.get(active[-1].status, active[-1].status)}); try again when it "
                       "is delivered")
    if active and replaces != active[-1].unique_id:
        raise _refused(f"DocumentReference/{stored.res_id} was already sent as document {active[-1].unique_id}: "
                       "the new CDA document must replace it (relatedDocument typeCode RPLC, parentDocument/id = "
                       "that id; for a generated N1, a new DocumentReference with relatesTo replaces)",
                       "DocumentReference.content", "business-rule")
    extra = {"recipient": target, **(options or {})} if target else {}
    metadata = _metadata(prepared, stored, replaces, **extra)
    if same is not None:  # failed or cancelled before: queue it again
        again = outbox.requeue(session.conn, same.id, payload=prepared.payload, metadata=metadata,
                               document_version=stored.version_id)
        return again, True
    record, new = outbox.enqueue(session.conn, kind=kind, unique_id=unique_id, document_id=stored.res_id,
                                 document_version=stored.version_id, payload=prepared.payload, metadata=metadata,
                                 target=target)
    return record, new


def _status(ctx: Context, session: SqlSession, stored: StoredResource, kind: str) -> FhirResponse:
    records = list(reversed(_outbox(ctx).for_document(session.conn, stored.res_id, kind)))
    if not records:
        return _answer([(None, False)])
    params = _describe(records[0])
    params += [{"name": "delivery", "part": _describe(r)} for r in records]
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": params})


# --- handlers --------------------------------------------------------------------------------------

def send_to_dmp(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    params = inputs(req)
    stored = _document(req, ctx, session, lock=True)
    if flag(params, "status"):
        return _status(ctx, session, stored, "dmp")
    return _answer([_queue(req, ctx, session, stored, "dmp", "", "DMP")])


def dmp_status(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    inputs(req)
    return _status(ctx, session, _document(req, ctx, session, lock=False), "dmp")


def _recipients(params: list[tuple[str, Any]]) -> tuple[str, ...]:
    values = [v for k, v in params if k == "recipient"]
    if not values:
        message = "parameter 'recipient' (an MSSanté address) is required"
        raise Invalid(message, [Issue(message, code="required", expression=("recipient",))])
    bad = [str(v) for v in values if not isinstance(v, str) or not _MSSANTE_ADDRESS.match(v)]
    if bad:
        raise Invalid(f"recipient {bad[0]!r} is not an e-mail address",
                      [Issue(f"recipient {b!r} is not an e-mail address", code="value", expression=("recipient",))
                       for b in bad])
    return tuple(dict.fromkeys(str(v).lower() for v in values))


def _message_options(params: list[tuple[str, Any]]) -> dict[str, Any]:
    """``notificationTo`` (where read receipts go) and ``noReply`` (the message expects no answer)."""
    options: dict[str, Any] = {}
    notify = [v for k, v in params if k == "notificationTo"]
    if notify:
        if not isinstance(notify[0], str) or not _MSSANTE_ADDRESS.match(notify[0]):
            raise Invalid(f"notificationTo {notify[0]!r} is not an e-mail address", [Issue(
                f"notificationTo {notify[0]!r} is not an e-mail address", code="value",
                expression=("notificationTo",))])
        options["notification_to"] = notify[0]
    if flag(params, "noReply"):
        options["no_reply"] = True
    return options


def send_mssante(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    params = inputs(req)
    stored = _document(req, ctx, session, lock=True)
    if flag(params, "status"):
        return _status(ctx, session, stored, "mssante")
    recipients = _recipients(params)
    options = _message_options(params)
    return _answer([_queue(req, ctx, session, stored, "mssante", r, "MSSanté message", options)
                    for r in recipients])


def mssante_status(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    inputs(req)
    return _status(ctx, session, _document(req, ctx, session, lock=False), "mssante")


_DOC = frozenset({"DocumentReference"})
_INSTANCE = frozenset({"instance"})
OPERATIONS: list[Operation] = [
    Operation("$send-to-dmp", send_to_dmp, _INSTANCE, _DOC, definition=_DEFINITIONS + "send-to-dmp"),
    Operation("$dmp-status", dmp_status, _INSTANCE, _DOC, read_only=True, definition=_DEFINITIONS + "dmp-status"),
    Operation("$send-mssante", send_mssante, _INSTANCE, _DOC, definition=_DEFINITIONS + "send-mssante"),
    Operation("$mssante-status", mssante_status, _INSTANCE, _DOC, read_only=True,
              definition=_DEFINITIONS + "mssante-status"),
]
