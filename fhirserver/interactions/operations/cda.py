"""CDA R2 (CI-SIS) documents of DocumentReferences and of projets personnalisés (documents issue).

* ``POST DocumentReference/{id}/$generate-cda`` — the N1 document (ANS CI-SIS "Structuration minimale",
  IHE XDS-SD; french-interop.md §4) of the DocumentReference's file (inline ``attachment.data`` or
  ``attachment.url`` ``Binary/x``; PDF, JPEG, TIFF, plain text, RTF), returned as ``application/xml``;
* ``POST CarePlan/{id}/$generate-cda`` — the N1 of the projet personnalisé d'accompagnement (LOINC 80788-3):
  the PDF rendered from the CarePlan (goals, actions, staff, review date) in the CI-SIS header;
* ``POST CarePlan/{id}/$produce-document`` — "production du document": renders the PDF and stores a
  DocumentReference (type 80788-3, PDF attachment with SHA-1 hash and size, ``context.related`` the CarePlan,
  author and custodian from the CarePlan's author and organisation) that ``$generate-cda`` and
  ``$send-to-dmp`` / ``$send-mssante`` then use. One document per CarePlan version (a second call returns it,
  HTTP 200); the document of a newer CarePlan version ``replaces`` the previous one (CDA RPLC).

Every CDA returned is validated by the ANS kit (``ctx.services.cda_validator``): a failure is a 422 listing
each failed assertion; no kit configured is a 503 naming ``[cda] kit_dir``. Refusals (422) name the element:
identity not qualified, author without IDNPS, missing custodian, no attachment … (:mod:`fhirserver.documents.gather`).
:func:`n1_generator` is the ``ctx.services.n1_generator`` the DMP / MSSanté sending uses.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from lxml import etree

from fhirserver.documents import gather
from fhirserver.documents.validation import ensure_valid, require_validator
from fhirserver.errors import Issue, Unprocessable
from fhirserver.interactions.common import write_response
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.hooks import WriteEvent, commit_write
from fhirserver.interactions.operations import Operation
from fhirserver.storage.base import StoredResource
from fhirserver.storage.sql.repository import SqlSession
from fhirserver.validation.structural import validate_resource
from mappings.cda.documents import n1
from mappings.cda.documents.projet_personnalise import FORMAT_CODE, PPA_CODE, build_ppa
from mappings.pdf.projet_personnalise import PlanView
from mappings.terminology import cisis

__all__ = ["OPERATIONS", "generate_cda", "n1_generator", "produce_document"]

DEFINITION = "https://dui.example.org/fhir/OperationDefinition/generate-cda"
PRODUCE_DEFINITION = "https://dui.example.org/fhir/OperationDefinition/CarePlan-produce-document"
XML = "application/xml; charset=utf-8"
LOINC = "http://loinc.org"
NOS = "https://mos.esante.gouv.fr/NOS"


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _n1_bytes(ctx: Context, session: SqlSession, doc_ref_id: str) -> bytes:
    source = gather.n1_source(session, doc_ref_id, parser=ctx.parser)
    try:
        return _serialize(n1.build_n1(source.document, source.content, source.media_type))
    except n1.N1Error as exc:
        element = "DocumentReference.content[0].attachment"
        raise Unprocessable(str(exc), [Issue(str(exc), code="not-supported", expression=(element,))]) from exc


def n1_generator(req: FhirRequest, ctx: Context, session: SqlSession, stored: StoredResource) -> bytes:
    """The N1 document of a stored DocumentReference, not validated (the caller validates it)."""
    return _n1_bytes(ctx, session, stored.res_id)


def _view(source: gather.CarePlanSource) -> PlanView:
    return PlanView(source.care_plan, source.patient, source.goals, source.document.custodian.name, source.names)


def generate_cda(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    resource_type, res_id = req.segments[0], req.segments[1]
    ctx.policy.check(req, "operation", resource_type)
    validator = require_validator(ctx.services.cda_validator)  # 503 before any work
    if resource_type == "DocumentReference":
        data = _n1_bytes(ctx, session, res_id)
    else:
        source = gather.care_plan_source(session, res_id, parser=ctx.parser)
        data = _serialize(build_ppa(source.document, _view(source)).root)
    ensure_valid(validator, data, f"the CDA document of {resource_type}/{res_id}")
    return FhirResponse(200, data, {"Content-Type": XML})


def _sha1(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")


def _document_id(care_plan_id: str, version: int) -> str:
    candidate = f"{care_plan_id}-ppa-{version}"
    if len(candidate) <= 64:
        return candidate
    return f"ppa-{uuid.uuid5(uuid.NAMESPACE_URL, care_plan_id).hex}-{version}"


def _document_reference(source: gather.CarePlanSource, pdf: bytes, res_id: str,
                        previous: str | None) -> dict[str, Any]:
    plan, doc = source.care_plan, source.document
    version = int((plan.get("meta") or {}).get("versionId", "1"))
    facility = doc.encounter.facility_code
    date = doc.effective_time
    body: dict[str, Any] = {
        "resourceType": "DocumentReference", "id": res_id,
        "masterIdentifier": {"system": "urn:ietf:rfc:3986",
                             "value": f"urn:uuid:{gather.ppa_uuid(str(plan['id']), version)}"},
        "status": "current", "docStatus": "final",
        "type": {"coding": [{"system": LOINC, "code": PPA_CODE.code, "display": PPA_CODE.display}],
                 "text": "Projet personnalisé d'accompagnement"},
        "subject": plan["subject"], "date": date if "T" in date else f"{date}T00:00:00+00:00",
        "author": [source.author_reference], "custodian": source.custodian_reference,
        "description": str(plan.get("title") or PPA_CODE.display),
        "content": [{"attachment": {
            "contentType": "application/pdf", "language": "fr-FR", "data": base64.b64encode(pdf).decode("ascii"),
            "size": len(pdf), "hash": _sha1(pdf), "title": str(plan.get("title") or PPA_CODE.display),
            "creation": date},
            "format": {"system": f"{NOS}/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode", "code": FORMAT_CODE,
                       "display": "Document à corps non structuré en Pdf/A-1"}}],
        "context": {
            "period": {k: v for k, v in (plan.get("period") or {}).items() if k in ("start", "end")},
            "facilityType": {"coding": [{"system": f"{NOS}/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite",
                                         "code": facility.code, "display": facility.display}]},
            "practiceSetting": {"coding": [{"system": f"{NOS}/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice",
                                            "code": cisis.ESSMS[0], "display": cisis.ESSMS[2]}]},
            "related": [{"reference": f"CarePlan/{plan['id']}"}]},
    }
    if plan.get("encounter"):
        body["context"]["encounter"] = [plan["encounter"]]
    if not body["context"]["period"]:
        del body["context"]["period"]
    if previous:
        body["relatesTo"] = [{"code": "replaces", "target": {"reference": f"DocumentReference/{previous}"}}]
    return body


def produce_document(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    care_plan_id = req.segments[1]
    ctx.policy.check(req, "operation", "CarePlan")
    ctx.policy.check(req, "create", "DocumentReference")
    validator = require_validator(ctx.services.cda_validator)
    source = gather.care_plan_source(session, care_plan_id, parser=ctx.parser)
    version = int((source.care_plan.get("meta") or {}).get("versionId", "1"))
    res_id = _document_id(care_plan_id, version)
    existing = session.read("DocumentReference", res_id, for_update=True)
    if existing is not None and not existing.deleted:
        return write_response(req, existing, 200)
    produced = build_ppa(source.document, _view(source))
    ensure_valid(validator, _serialize(produced.root), f"the projet personnalisé document of CarePlan/{care_plan_id}")
    previous = next((_document_id(care_plan_id, v) for v in range(version - 1, 0, -1)
                     if (s := session.read("DocumentReference", _document_id(care_plan_id, v))) is not None
                     and not s.deleted), None)
    body = _document_reference(source, produced.pdf, res_id, previous)
    validate_resource(body, "DocumentReference")
    stored = commit_write(WriteEvent(req, ctx, session, "DocumentReference", res_id, body, existing, "create"))
    return write_response(req, stored, 201)


OPERATIONS: list[Operation] = [
    Operation("$generate-cda", generate_cda, frozenset({"instance"}), frozenset({"DocumentReference", "CarePlan"}),
              read_only=True, definition=DEFINITION),
    Operation("$produce-document", produce_document, frozenset({"instance"}), frozenset({"CarePlan"}),
              definition=PRODUCE_DEFINITION),
]
