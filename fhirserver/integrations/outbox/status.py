"""The delivery status of a document, recorded on its DocumentReference.

When an outbox item is delivered or fails for good, the worker writes a new DocumentReference version through the
normal write path (:func:`fhirserver.interactions.hooks.commit_write`: hooks and validators run, history keeps
every step) carrying one extension per destination::

    {"url": "https://dui.example.org/fhir/StructureDefinition/document-delivery",
     "extension": [{"url": "kind", "valueCode": "dmp"},            # or "mssante"
                   {"url": "status", "valueCode": "delivered"},    # delivered | failed
                   {"url": "date", "valueDateTime": "2026-12-02T07:10:00Z"},
                   {"url": "uniqueId", "valueString": "1.2.250.1.999.1.2.3^doc-1"},  # the CDA document id
                   {"url": "target", "valueString": "dr.x@hopital.mssante.fr"},      # MSSanté only
                   {"url": "error", "valueString": "..."}]}                          # failed only

and, when the DocumentReference has none, ``masterIdentifier`` = the document uniqueId (the IHE MHD mapping of
XDS ``DocumentEntry.uniqueId``: https://profiles.ihe.net/ITI/MHD/StructureDefinition-IHE.MHD.Minimal.DocumentReference.html),
which is also where :mod:`fhirserver.documents.gather` reads the id of a generated N1: a later ``$generate-cda``
gives the document the id it was sent with.

With it, an AuditEvent of the outcome (DICOM "Export", subtype the IHE transaction: ITI-41 for the DMP, ITI-32
for MSSanté; entities the DocumentReference version and the usager). The outbox row is committed first; this
write runs in a transaction of its own together with the row's
``status_recorded`` flag, so a failing write never loses the outbox state: the worker retries it later.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from fhirserver.fhir.ids import new_id
from fhirserver.integrations.outbox.store import OutboxRecord, mark_recorded
from fhirserver.interactions.context import Context, FhirRequest
from fhirserver.interactions.hooks import WriteEvent, commit_write
from fhirserver.interactions.operations.dmp import EXT_DELIVERY
from fhirserver.search.values import instant_text
from fhirserver.storage.base import StoredResource
from fhirserver.storage.sql.repository import SqlSession

URI_SYSTEM = "urn:ietf:rfc:3986"


def _sub(ext: dict[str, Any], name: str) -> Any:
    for sub in ext.get("extension") or []:
        if isinstance(sub, dict) and sub.get("url") == name:
            return next((v for k, v in sub.items() if k.startswith("value")), None)
    return None


def delivery_extension(record: OutboxRecord) -> dict[str, Any]:
    when = record.delivered_at if record.status == "delivered" and record.delivered_at else record.updated
    subs: list[dict[str, Any]] = [
        {"url": "kind", "valueCode": record.kind},
        {"url": "status", "valueCode": record.status},
        {"url": "date", "valueDateTime": instant_text(when)},
        {"url": "uniqueId", "valueString": record.unique_id},
    ]
    if record.target:
        subs.append({"url": "target", "valueString": record.target})
    if record.status == "failed" and record.last_error:
        subs.append({"url": "error", "valueString": record.last_error})
    return {"url": EXT_DELIVERY, "extension": subs}


def master_identifier(unique_id: str) -> dict[str, str]:
    """The MHD form of an XDS uniqueId: an OID as the URI ``urn:oid:X``; ``root^extension`` as system
    ``urn:oid:root`` and value ``extension``."""
    root, _, extension = unique_id.partition("^")
    if extension:
        return {"system": f"urn:oid:{root}", "value": extension}
    return {"system": URI_SYSTEM, "value": unique_id if unique_id.startswith("urn:") else f"urn:oid:{unique_id}"}


def with_status(content: dict[str, Any], record: OutboxRecord) -> dict[str, Any]:
    """``content`` with the delivery extension of ``record``'s (kind, target) replaced or added."""
    body = {k: v for k, v in content.items() if k != "meta"}
    if content.get("meta"):
        body["meta"] = {k: v for k, v in content["meta"].items() if k not in ("versionId", "lastUpdated")}
    kept = [e for e in body.get("extension") or []
            if not (isinstance(e, dict) and e.get("url") == EXT_DELIVERY and _sub(e, "kind") == record.kind
                    and (_sub(e, "target") or "") == record.target)]
    body["extension"] = [*kept, delivery_extension(record)]
    if record.status == "delivered" and "masterIdentifier" not in body:
        body["masterIdentifier"] = master_identifier(record.unique_id)
    return body


def deliveries(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The delivery extensions of a DocumentReference, as plain dicts (kind, status, date, uniqueId …)."""
    out: list[dict[str, Any]] = []
    for ext in content.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == EXT_DELIVERY:
            out.append({sub["url"]: _sub(ext, sub["url"]) for sub in ext.get("extension") or []
                        if isinstance(sub, dict) and "url" in sub})
    return out


#: IHE transaction of each kind (ITI TF-2b: ITI-41 Provide and Register; ITI-32 Distribute Document Set on Media,
#: the XDM packaging MSSanté uses)
_TRANSACTIONS = {"dmp": ("ITI-41", "Provide and Register Document Set-b"),
                 "mssante": ("ITI-32", "Distribute Document Set on Media")}


def audit_event(record: OutboxRecord, document: StoredResource, software: str) -> dict[str, Any]:
    """The AuditEvent of a delivery outcome (DICOM "Export", the IHE transaction as subtype; what: the
    DocumentReference version sent and the usager). ``outcomeDesc`` carries the error codes, never health data."""
    code, display = _TRANSACTIONS.get(record.kind, ("", record.kind))
    delivered = record.status == "delivered"
    entities: list[dict[str, Any]] = [{
        "what": {"reference": f"DocumentReference/{record.document_id}/_history/{record.document_version}"},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                 "display": "System Object"},
        "name": record.unique_id}]
    subject = ((document.content or {}).get("subject") or {}).get("reference")
    if isinstance(subject, str) and subject.startswith("Patient/"):
        entities.append({"what": {"reference": subject}, "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"}})
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110106", "display": "Export"},
        "subtype": [{"system": "urn:ihe:event-type-code", "code": code, "display": display}],
        "action": "C",
        "recorded": instant_text(record.delivered_at if delivered and record.delivered_at else record.updated),
        "outcome": "0" if delivered else "8",
        "agent": [{"who": {"display": f"{software} outbox worker"}, "requestor": False}],
        "source": {"observer": {"display": software}},
        "entity": entities,
    }
    if record.target:
        event["agent"].append({"who": {"display": record.target}, "requestor": False,
                               "network": {"address": record.target, "type": "5"}})
    if not delivered and record.last_error:
        event["outcomeDesc"] = record.last_error
    return event


def record_on_document(ctx: Context, session: SqlSession, record: OutboxRecord) -> bool:
    """Write ``record``'s final status on its DocumentReference, an AuditEvent of the outcome, and flag the row,
    in the caller's transaction; False when the DocumentReference no longer exists (the row is flagged all the
    same: there is nothing to update)."""
    conn: Connection = session.conn
    current = session.read("DocumentReference", record.document_id, for_update=True)
    if current is None or current.deleted or current.content is None:
        mark_recorded(conn, record.id)
        return False
    body = with_status(current.content, record)
    req = FhirRequest(method="PUT", path=f"DocumentReference/{record.document_id}", body=body)
    commit_write(WriteEvent(req, ctx, session, "DocumentReference", record.document_id, body, current, "update",
                            notes={"outbox": record.kind}))
    audit = audit_event(record, current, ctx.settings.cda.software_name)
    audit_id = new_id()
    commit_write(WriteEvent(FhirRequest(method="POST", path="AuditEvent", body=audit), ctx, session, "AuditEvent",
                            audit_id, audit, None, "create", notes={"outbox": record.kind}))
    mark_recorded(conn, record.id)
    return True
