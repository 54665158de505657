"""The sandbox's PDSm FHIR endpoint (ITI-65 provide, ITI-67 search, ITI-68 Binary, JSON PATCH metadata update).

Same checks and same store as the SOAP side (:mod:`.sandbox`); refusals are OperationOutcomes whose
``issue.details.coding`` carry the XDS error code (HTTP 422; 409 for ``XDSNonIdenticalHash``; 403 for a missing
or invalid VIHF). A resubmission of the very same document answers 200 with the existing DocumentReference
(``response.status`` ``200 OK`` instead of ``201 Created``). See :mod:`.pdsm` for the mapping and the sandbox's
choices (VIHF header, TD0.2 over SOAP).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import uuid
from typing import Any

import jsonpatch
from flask import Flask, Response, request
from lxml import etree

from fhirserver.integrations.dmp.client import APPROVED, ARCHIVED, DEPRECATED
from fhirserver.integrations.dmp.pdsm import VIHF_HEADER
from fhirserver.integrations.dmp.pdsm_bundle import (
    ERROR_SYSTEM,
    FHIR_JSON,
    IS_ARCHIVED,
    code_of,
    document_info,
    submission_of,
    uid_of,
)
from fhirserver.integrations.dmp.sandbox import (
    Refusal,
    Sandbox,
    check_duplicate,
    refuse,
    register_entry,
    replaced_entry,
)
from fhirserver.integrations.dmp.sandbox_store import Entry
from fhirserver.integrations.dmp.soap import RegistryError
from fhirserver.integrations.dmp.vihf import RESOURCE_ID, Claims, VihfError, verify_assertion
from mappings.terminology import oid_of
from mappings.xds.hl7v2 import cx
from mappings.xds.metadata import MetadataError, check_codes
from mappings.xds.valuesets import HL7_CONFIDENTIALITY, J58_CONFIDENTIALITY_CODE

_PATCHABLE = ("/status", "/securityLabel", "/extension")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type=FHIR_JSON)


def outcome(errors: list[RegistryError], status: int = 422, code: str = "processing") -> Response:
    issues = []
    for e in errors:
        issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": e.context,
                                 "details": {"coding": [{"system": ERROR_SYSTEM, "code": e.code}], "text": e.code}}
        if e.location:
            issue["expression"] = [e.location]
        issues.append(issue)
    return _json({"resourceType": "OperationOutcome", "issue": issues}, status)


def _claims(sb: Sandbox) -> Claims:
    header = request.headers.get(VIHF_HEADER, "")
    if not header:
        raise VihfError("wsse:InvalidSecurity", f"no VIHF assertion ({VIHF_HEADER} header)")
    try:
        assertion = etree.fromstring(base64.b64decode(header, validate=True),
                                     etree.XMLParser(resolve_entities=False, no_network=True))
    except (binascii.Error, ValueError, etree.XMLSyntaxError) as exc:
        raise VihfError("wsse:InvalidSecurityToken", "the VIHF header is not a base64 XML assertion") from exc
    return verify_assertion(assertion, trusted=sb.trusted)


def _security(exc: VihfError) -> Response:
    return outcome([RegistryError(exc.code, str(exc))], 403, "security")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _transaction_response(locations: list[str], created: bool) -> Response:
    status = "201 Created" if created else "200 OK"
    return _json({"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": status, "location": loc, "lastModified": _now()}} for loc in locations]})


def provide(sb: Sandbox, claims: Claims, bundle: Any) -> Response:
    """ITI-65: check, store, answer (see the module docstring)."""
    try:
        submission, document, dr, replaced_uid = submission_of(bundle)
    except MetadataError as exc:
        return outcome([RegistryError("XDSRegistryMetadataError", p.text, location=p.location)
                        for p in exc.problems] or [RegistryError("XDSRegistryMetadataError", exc.message)])
    problems = check_codes(submission)
    if problems:
        return outcome([RegistryError("XDSRegistryMetadataError", p.text, location=p.attribute) for p in problems])
    entry = submission.document
    try:
        sb.require_open(sb.patient(entry.patient_id, claims))
        digest = hashlib.sha1(document).hexdigest()
        if entry.hash != digest:
            raise refuse("XDSRepositoryMetadataError", "attachment.hash is not the SHA-1 of the Binary",
                       "DocumentReference.content.attachment.hash")
        if entry.size != len(document):
            raise refuse("XDSRepositoryMetadataError", "attachment.size is not the size of the Binary",
                       "DocumentReference.content.attachment.size")
        existing = sb.store.current(entry.unique_id)
        if existing is not None:
            check_duplicate(sb, existing, digest)
        replaced = replaced_entry(sb, sb.store.current(replaced_uid), submission) if replaced_uid else None
        sb.check_document(document)
        taken = entry.entry_id.startswith("urn:uuid:") and sb.store.by_uuid(entry.entry_id) is not None
        entry_uuid = entry.entry_id if entry.entry_id.startswith("urn:uuid:") and not taken \
            else f"urn:uuid:{uuid.uuid4()}"
        rid = entry_uuid.removeprefix("urn:uuid:")
        stored = _stored(dr, rid, entry_uuid)
        row = Entry(entry_uuid, entry_uuid, 1, entry.unique_id, entry.patient_id, APPROVED, digest, len(document),
                    [c.code for c in entry.confidentiality_codes], entry.class_code.code, entry.type_code.code,
                    entry.title, resource=stored)
        register_entry(sb, row, document, entry.mime_type, replaced, claims)
    except Refusal as refusal:
        first = refusal.errors[0].code
        current = sb.store.current(entry.unique_id)
        if first == "XDSDuplicateUniqueIdInRegistry" and current is not None and current.resource is not None:
            rid = current.entry_uuid.removeprefix("urn:uuid:")
            return _transaction_response([f"List/{uuid.uuid4()}", f"DocumentReference/{rid}", f"Binary/{rid}"],
                                         created=False)
        return outcome(refusal.errors, 409 if first == "XDSNonIdenticalHash" else 422)
    return _transaction_response([f"List/{uuid.uuid4()}", f"DocumentReference/{rid}/_history/1", f"Binary/{rid}"],
                                 created=True)


def _stored(dr: dict[str, Any], rid: str, entry_uuid: str) -> dict[str, Any]:
    stored = json.loads(json.dumps(dr))
    stored["id"] = rid
    stored["meta"] = {**(stored.get("meta") or {}), "versionId": "1", "lastUpdated": _now()}
    stored["status"] = "current"
    stored["identifier"] = [i for i in stored.get("identifier") or [] if i.get("use") != "official"] + [
        {"use": "official", "system": "urn:ietf:rfc:3986", "value": entry_uuid}]
    stored["content"][0]["attachment"]["url"] = f"Binary/{rid}"
    return stored


def _token(value: str) -> tuple[str, str]:
    system, bar, code = value.partition("|")
    return (system, code) if bar else ("", value)


def search(sb: Sandbox, claims: Claims) -> Response:
    """ITI-67: by ``patient.identifier`` or ``identifier`` (masterIdentifier), optional ``status``."""
    statuses = set((request.args.get("status") or "current").split(","))
    if request.args.get("patient.identifier"):
        system, value = _token(request.args["patient.identifier"])
        patient = cx(value, oid_of(system) or "", "NH")
        try:
            sb.patient(patient, claims, "patient.identifier")
        except Refusal as refusal:
            return outcome(refusal.errors)
        entries = sb.store.find(patient, (APPROVED, DEPRECATED, ARCHIVED))
    elif request.args.get("identifier"):
        system, value = _token(request.args["identifier"])
        current = sb.store.current(uid_of({"system": system, "value": value}))
        entries = [current] if current is not None and current.patient_id == claims.first(RESOURCE_ID) else []
    else:
        return outcome([RegistryError("XDSStoredQueryParamNumber", "patient.identifier or identifier is required")],
                       400)
    found = [e.resource for e in entries if e.resource is not None and e.resource.get("status") in statuses
             and sb.visible(e, claims)]
    return _json({"resourceType": "Bundle", "type": "searchset", "total": len(found),
                  "entry": [{"fullUrl": f"{request.host_url}fhir/DocumentReference/{r['id']}", "resource": r,
                             "search": {"mode": "match"}} for r in found]})


def _entry_of(sb: Sandbox, rid: str, claims: Claims) -> Entry | None:
    entry = sb.store.by_uuid("urn:uuid:" + rid)
    if entry is None or entry.patient_id != claims.first(RESOURCE_ID) or not sb.visible(entry, claims):
        return None
    return entry


def patch(sb: Sandbox, claims: Claims, rid: str, ops: Any) -> Response:
    """PDSm flux 3: a JSON Patch limited to status, securityLabel and the isArchived extension."""
    entry = _entry_of(sb, rid, claims)
    if entry is None or entry.resource is None:
        return outcome([RegistryError("XDSDocumentUniqueIdError", "no such DocumentReference")], 404, "not-found")
    if not isinstance(ops, list) or not ops:
        return outcome([RegistryError("XDSMetadataUpdateError", "the body must be a non-empty JSON Patch")], 400)
    for op in ops:
        path = str(op.get("path", "")) if isinstance(op, dict) else ""
        if not any(path == p or path.startswith(p + "/") for p in _PATCHABLE):
            return outcome([RegistryError("XDSMetadataUpdateError", f"{path or 'an operation'} may not be patched "
                                          "(status, securityLabel, isArchived only)", location=path)], 422)
    try:
        updated = jsonpatch.apply_patch(entry.resource, ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        return outcome([RegistryError("XDSMetadataUpdateError", f"the patch does not apply ({exc})"[:200])], 422)
    problems = _patched_problems(entry.resource, updated)
    if problems:
        return outcome(problems)
    updated["meta"] = {**(updated.get("meta") or {}),
                       "versionId": str(int((entry.resource.get("meta") or {}).get("versionId") or "1") + 1),
                       "lastUpdated": _now()}
    info = document_info(updated)
    entry.resource, entry.status, entry.confidentiality = updated, info.status, list(info.confidentiality)
    with sb.store.transaction() as conn:
        sb.store.update_entry(conn, entry)
        sb.store.event(conn, entry.unique_id, "updated")
    return _json(updated)


def _patched_problems(before: dict[str, Any], after: dict[str, Any]) -> list[RegistryError]:
    problems = []
    if after.get("status") not in ("current", "superseded"):
        problems.append(RegistryError("XDSMetadataUpdateError", "status must be current or superseded",
                                      location="DocumentReference.status"))
    labels = [code_of(x) for x in after.get("securityLabel") or []]
    if not labels or labels[0].scheme != HL7_CONFIDENTIALITY:
        problems.append(RegistryError("XDSRegistryMetadataError", "the first securityLabel must be N, R or V",
                                      location="DocumentReference.securityLabel"))
    for label in labels:
        if (label.code, label.scheme) not in J58_CONFIDENTIALITY_CODE:
            problems.append(RegistryError("XDSRegistryMetadataError", f"securityLabel {label.code!r} is not in "
                                          "JDV_J58", location="DocumentReference.securityLabel"))
    kept = [x for x in after.get("extension") or [] if x.get("url") != IS_ARCHIVED]
    if kept != [x for x in before.get("extension") or [] if x.get("url") != IS_ARCHIVED]:
        problems.append(RegistryError("XDSMetadataUpdateError", "only the isArchived extension may change",
                                      location="DocumentReference.extension"))
    return problems


def register(app: Flask, sb: Sandbox) -> None:
    """Add the PDSm routes under ``/fhir`` to the sandbox app."""

    def guarded(handler: Any) -> Any:
        def run(**kwargs: Any) -> Response:
            try:
                claims = _claims(sb)
            except VihfError as exc:
                return _security(exc)
            return handler(claims, **kwargs)
        run.__name__ = "pdsm_" + handler.__name__
        return run

    def transaction(claims: Claims) -> Response:
        return provide(sb, claims, request.get_json(silent=True, force=True))

    def document_references(claims: Claims) -> Response:
        return search(sb, claims)

    def document_reference(claims: Claims, rid: str) -> Response:
        entry = _entry_of(sb, rid, claims)
        if entry is None or entry.resource is None:
            return outcome([RegistryError("XDSDocumentUniqueIdError", "no such DocumentReference")], 404,
                           "not-found")
        return _json(entry.resource)

    def patch_document_reference(claims: Claims, rid: str) -> Response:
        return patch(sb, claims, rid, request.get_json(silent=True, force=True))

    def binary(claims: Claims, rid: str) -> Response:
        entry = _entry_of(sb, rid, claims)
        stored = sb.store.document(entry.unique_id) if entry is not None else None
        if stored is None:
            return outcome([RegistryError("XDSDocumentUniqueIdError", "no such Binary")], 404, "not-found")
        return Response(stored[0], content_type=stored[1])

    app.add_url_rule("/fhir/", view_func=guarded(transaction), methods=["POST"], strict_slashes=False)
    app.add_url_rule("/fhir/DocumentReference", view_func=guarded(document_references), methods=["GET"])
    app.add_url_rule("/fhir/DocumentReference/<rid>", view_func=guarded(document_reference), methods=["GET"])
    app.add_url_rule("/fhir/DocumentReference/<rid>", view_func=guarded(patch_document_reference),
                     methods=["PATCH"])
    app.add_url_rule("/fhir/Binary/<rid>", view_func=guarded(binary), methods=["GET"])
