"""PDSm FHIR resources <-> XDS metadata: the ITI-65 Bundle of a document (SubmissionSet List, DocumentReference,
Binary) and its reading back, DocumentReference statuses, OperationOutcome error codes.

Profiles: ANS PDSm 3.1.1 ``pdsm-comprehensive-provide-document-bundle``, ``pdsm-submissionset-comprehensive``,
``pdsm-comprehensive-document-reference`` (``../shared/fr/fsh/pdsm/``, french-interop.md §6.4), parents IHE MHD 4
Comprehensive. The metadata are those of :mod:`mappings.xds.model` (derived from the CDA header), so both routes
check the same DMP value sets.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import uuid
from typing import Any

from fhirserver.integrations.dmp.client import APPROVED, ARCHIVED, DEPRECATED, Actor, DocumentInfo
from mappings.terminology import oid_of, uri_of
from mappings.xds.hl7v2 import cx, parse_cx
from mappings.xds.metadata import MetadataError
from mappings.xds.model import Code, DocumentEntry, Problem, Submission, SubmissionSet

PDSM = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/"
BUNDLE_PROFILE = PDSM + "pdsm-comprehensive-provide-document-bundle"
SUBMISSION_SET_PROFILE = PDSM + "pdsm-submissionset-comprehensive"
DOCUMENT_REFERENCE_PROFILE = PDSM + "pdsm-comprehensive-document-reference"
IS_ARCHIVED = PDSM + "pdsm-isArchived"  # extension PDSm_IsArchived (canonical from the IG's naming; unverified)
MHD = "https://profiles.ihe.net/ITI/MHD/"
SOURCE_ID = MHD + "StructureDefinition/ihe-sourceId"
DESIGNATION_TYPE = MHD + "StructureDefinition/ihe-designationType"
LIST_TYPES = MHD + "CodeSystem/MHDlistTypes"
RFC3986 = "urn:ietf:rfc:3986"
IDNPS = "1.2.250.1.71.4.2.1"
IDNST = "1.2.250.1.71.4.2.2"
FHIR_JSON = "application/fhir+json"
ERROR_SYSTEM = "urn:oasis:names:tc:ebxml-regrep:ErrorCode"  # issue.details coding of XDS error codes (MHD style)
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


# --- value conversions -------------------------------------------------------------------------------------------

def instant(dtm: str) -> str:
    """HL7 v2 DTM in UTC (``YYYY[MM[DD[hh[mm[ss]]]]]``) -> FHIR date / dateTime."""
    parts = [dtm[0:4], dtm[4:6], dtm[6:8]]
    date = "-".join(p for p in parts if p)
    if len(dtm) <= 8:
        return date
    time = (dtm[8:10], dtm[10:12] or "00", dtm[12:14] or "00")
    return f"{date}T{':'.join(time)}Z"


def dtm(value: str) -> str:
    """FHIR date / dateTime (``Z`` or an offset) -> HL7 v2 DTM in UTC."""
    if len(value) <= 10:
        return value.replace("-", "")
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def coding(code: Code) -> dict[str, Any]:
    out: dict[str, Any] = {"system": uri_of(code.scheme), "code": code.code}
    if code.display:
        out["display"] = code.display
    return out


def concept(code: Code) -> dict[str, Any]:
    return {"coding": [coding(code)]}


def code_of(value: Any) -> Code:
    """The first coding of a CodeableConcept (or a Coding) as an XDS code (system URI -> OID)."""
    if isinstance(value, dict) and "coding" in value:
        value = (value.get("coding") or [{}])[0]
    if not isinstance(value, dict):
        return Code("", "", "")
    return Code(str(value.get("code", "")), oid_of(value.get("system")) or str(value.get("system", "")),
                str(value.get("display", "")))


def uid_identifier(unique_id: str) -> dict[str, str]:
    """A document / submission uniqueId as a FHIR Identifier (``urn:oid:`` for a bare OID, else root + ext)."""
    if _OID.match(unique_id):
        return {"system": RFC3986, "value": "urn:oid:" + unique_id}
    root, _, ext = unique_id.partition("^")
    return {"system": "urn:oid:" + root, "value": ext}


def uid_of(identifier: Any) -> str:
    if not isinstance(identifier, dict):
        return ""
    system, value = str(identifier.get("system", "")), str(identifier.get("value", ""))
    if system == RFC3986:
        return value.removeprefix("urn:oid:")
    return f"{system.removeprefix('urn:oid:')}^{value}" if system else value


def patient_identifier(patient_cx: str) -> dict[str, str]:
    value, oid, _ = parse_cx(patient_cx)
    return {"system": "urn:oid:" + oid, "value": value}


def sha1_base64(content: bytes) -> str:
    return base64.b64encode(hashlib.sha1(content).digest()).decode("ascii")


def _security_labels(codes: tuple[Code, ...]) -> list[dict[str, Any]]:
    return [concept(c) for c in codes]


# --- ITI-65 bundle -----------------------------------------------------------------------------------------------

def provide_bundle(submission: Submission, document: bytes, actor: Actor, *,
                   replaced_unique_id: str | None = None) -> dict[str, Any]:
    """The ITI-65 transaction Bundle of one CDA document and its metadata."""
    doc, sset = submission.document, submission.submission_set
    ss_url, dr_url, bin_url = (f"urn:uuid:{uuid.uuid4()}" for _ in range(3))
    author = {"resourceType": "Practitioner", "id": "author",
              "identifier": [{"system": "urn:oid:" + IDNPS, "value": actor.id}], "name": [{"text": actor.name}]}
    patient = {"identifier": patient_identifier(doc.patient_id)}
    context: dict[str, Any] = {
        "period": {"start": instant(doc.service_start_time or doc.creation_time)},
        "facilityType": concept(doc.healthcare_facility_type_code),
        "practiceSetting": concept(doc.practice_setting_code),
    }
    if doc.service_stop_time:
        context["period"]["end"] = instant(doc.service_stop_time)
    if doc.event_codes:
        context["event"] = [concept(c) for c in doc.event_codes]
    reference: dict[str, Any] = {
        "resourceType": "DocumentReference", "meta": {"profile": [DOCUMENT_REFERENCE_PROFILE]},
        "contained": [author], "masterIdentifier": uid_identifier(doc.unique_id),
        "identifier": [{"use": "official", "system": RFC3986, "value": doc.entry_id}],
        "status": "current", "type": concept(doc.type_code), "category": [concept(doc.class_code)],
        "subject": patient, "date": instant(doc.creation_time), "author": [{"reference": "#author"}],
        "custodian": {"identifier": {"system": "urn:oid:" + IDNST, "value": actor.structure_id}},
        "securityLabel": _security_labels(doc.confidentiality_codes),
        "content": [{"attachment": {"contentType": doc.mime_type, "language": doc.language_code, "url": bin_url,
                                    "size": doc.size, "hash": sha1_base64(document), "title": doc.title,
                                    "creation": instant(doc.creation_time)},
                     "format": coding(doc.format_code)}],
        "context": context,
    }
    if replaced_unique_id:
        reference["relatesTo"] = [{"code": "replaces",
                                   "target": {"identifier": uid_identifier(replaced_unique_id)}}]
    submission_set = {
        "resourceType": "List", "meta": {"profile": [SUBMISSION_SET_PROFILE]}, "contained": [author],
        "extension": [{"url": SOURCE_ID, "valueIdentifier": {"value": "urn:oid:" + sset.source_id}},
                      {"url": DESIGNATION_TYPE, "valueCodeableConcept": concept(sset.content_type_code)}],
        "identifier": [{"use": "usual", **uid_identifier(sset.unique_id)}],
        "status": "current", "mode": "working", "title": sset.title or doc.title,
        "code": {"coding": [{"system": LIST_TYPES, "code": "submissionset"}]},
        "subject": patient, "date": instant(sset.submission_time), "source": {"reference": "#author"},
        "entry": [{"item": {"reference": dr_url}}],
    }
    binary = {"resourceType": "Binary", "contentType": doc.mime_type,
              "data": base64.b64encode(document).decode("ascii")}
    return {"resourceType": "Bundle", "meta": {"profile": [BUNDLE_PROFILE]}, "type": "transaction", "entry": [
        {"fullUrl": ss_url, "resource": submission_set, "request": {"method": "POST", "url": "List"}},
        {"fullUrl": dr_url, "resource": reference, "request": {"method": "POST", "url": "DocumentReference"}},
        {"fullUrl": bin_url, "resource": binary, "request": {"method": "POST", "url": "Binary"}},
    ]}


def submission_of(bundle: Any) -> tuple[Submission, bytes, dict[str, Any], str | None]:
    """Read an ITI-65 Bundle back: (Submission, document bytes, DocumentReference, replaced uniqueId).

    Raises :class:`~mappings.xds.model.MetadataError` listing the structural problems (codes are checked
    separately with :func:`mappings.xds.metadata.check_codes`).
    """
    problems: list[Problem] = []

    def need(value: Any, where: str, attribute: str) -> Any:
        if value in (None, "", [], {}):
            problems.append(Problem(f"{where} is missing", where, attribute))
        return value

    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise MetadataError("not an ITI-65 transaction Bundle", [Problem("Bundle.type must be transaction",
                                                                         "Bundle.type", "")])
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_type.setdefault(e["resource"].get("resourceType", ""), []).append(e)
    lists = [e for e in by_type.get("List", []) if any(
        c.get("code") == "submissionset" for c in (e["resource"].get("code") or {}).get("coding", []))]
    refs, binaries = by_type.get("DocumentReference", []), by_type.get("Binary", [])
    if len(lists) != 1 or len(refs) != 1 or len(binaries) != 1:
        raise MetadataError("the Bundle must hold one SubmissionSet List, one DocumentReference and one Binary", [
            Problem(f"{len(lists)} SubmissionSet, {len(refs)} DocumentReference, {len(binaries)} Binary",
                    "Bundle.entry", "")])
    ss, dr, binary = lists[0]["resource"], refs[0]["resource"], binaries[0]
    content = (dr.get("content") or [{}])[0]
    attachment = content.get("attachment") or {}
    if attachment.get("url") != binary.get("fullUrl"):
        problems.append(Problem("DocumentReference.content.attachment.url must point to the Binary of the Bundle",
                                "DocumentReference.content[0].attachment.url", "URI"))
    try:
        document = base64.b64decode(binary["resource"].get("data") or "", validate=True)
    except (binascii.Error, ValueError):
        document = b""
        problems.append(Problem("Binary.data is not base64", "Binary.data", "document"))
    try:
        digest = base64.b64decode(need(attachment.get("hash"), "DocumentReference.content.attachment.hash",
                                       "hash") or "", validate=True).hex()
    except (binascii.Error, ValueError):
        digest = ""
        problems.append(Problem("attachment.hash is not base64", "DocumentReference.content.attachment.hash", "hash"))
    subject = need((dr.get("subject") or {}).get("identifier"), "DocumentReference.subject.identifier", "patientId")
    patient_cx = cx(str(subject.get("value", "")), oid_of(subject.get("system")) or "", "NH") \
        if isinstance(subject, dict) else ""
    context = dr.get("context") or {}
    period = context.get("period") or {}
    need(dr.get("custodian"), "DocumentReference.custodian", "custodian")
    need(dr.get("author"), "DocumentReference.author", "author")
    size = need(attachment.get("size"), "DocumentReference.content.attachment.size", "size")
    extensions = {x.get("url"): x for x in ss.get("extension") or [] if isinstance(x, dict)}
    designation = (extensions.get(DESIGNATION_TYPE) or {}).get("valueCodeableConcept")
    need(designation, "List.extension[designationType]", "contentTypeCode")
    related = [r for r in dr.get("relatesTo") or [] if r.get("code") == "replaces"]
    replaced = uid_of((related[0].get("target") or {}).get("identifier")) if related else None
    try:
        entry = DocumentEntry(
            unique_id=uid_of(need(dr.get("masterIdentifier"), "DocumentReference.masterIdentifier", "uniqueId")),
            patient_id=patient_cx, source_patient_id=patient_cx, source_patient_info=(),
            class_code=code_of((dr.get("category") or [{}])[0]), type_code=code_of(dr.get("type")),
            format_code=code_of(content.get("format")),
            healthcare_facility_type_code=code_of(context.get("facilityType")),
            practice_setting_code=code_of(context.get("practiceSetting")),
            confidentiality_codes=tuple(code_of(x) for x in dr.get("securityLabel") or []), authors=(),
            creation_time=dtm(need(dr.get("date"), "DocumentReference.date", "creationTime") or "1900"),
            title=str(attachment.get("title", "")), language_code=str(attachment.get("language", "")),
            hash=digest, size=int(size) if isinstance(size, int) else -1,
            mime_type=str(attachment.get("contentType", "")),
            entry_id=next((i.get("value", "") for i in dr.get("identifier") or [] if i.get("system") == RFC3986),
                          ""),
            service_start_time=dtm(period["start"]) if period.get("start") else None)
        sset = SubmissionSet(
            unique_id=uid_of(next(iter(ss.get("identifier") or []), {})),
            source_id=str(((extensions.get(SOURCE_ID) or {}).get("valueIdentifier") or {}).get("value", ""))
            .removeprefix("urn:oid:"),
            patient_id=patient_cx, submission_time=dtm(need(ss.get("date"), "List.date", "submissionTime") or "1900"),
            content_type_code=code_of(designation), authors=())
    except (ValueError, TypeError, AttributeError) as exc:
        raise MetadataError("unreadable PDSm metadata", [Problem(str(exc)[:200], "Bundle", "")]) from exc
    if problems:
        raise MetadataError("the ITI-65 Bundle is not valid PDSm metadata", problems)
    return Submission(sset, entry), document, dr, replaced


def document_info(dr: dict[str, Any]) -> DocumentInfo:
    """The DocumentInfo of a DocumentReference (isArchived -> Archived, superseded -> Deprecated)."""
    archived = any(x.get("url") == IS_ARCHIVED and x.get("valueBoolean") for x in dr.get("extension") or [])
    status = ARCHIVED if archived else DEPRECATED if dr.get("status") == "superseded" else APPROVED
    attachment = ((dr.get("content") or [{}])[0]).get("attachment") or {}
    try:
        digest = base64.b64decode(attachment.get("hash", "")).hex()
    except (binascii.Error, ValueError):
        digest = ""
    return DocumentInfo(
        unique_id=uid_of(dr.get("masterIdentifier")), entry_id=str(dr.get("id", "")), status=status, hash=digest,
        size=int(attachment.get("size") or 0), type_code=code_of(dr.get("type")).code,
        class_code=code_of((dr.get("category") or [{}])[0]).code, title=str(attachment.get("title", "")),
        confidentiality=tuple(code_of(x).code for x in dr.get("securityLabel") or []),
        extra={"version": str((dr.get("meta") or {}).get("versionId", "")), "url": str(attachment.get("url", ""))})


def with_status(dr: dict[str, Any], status: str) -> dict[str, Any]:
    """A copy of ``dr`` with an XDS availability status (Deprecated -> superseded, Archived -> isArchived)."""
    out = dict(dr)
    out["status"] = "superseded" if status == DEPRECATED else "current"
    others = [x for x in dr.get("extension") or [] if x.get("url") != IS_ARCHIVED]
    out["extension"] = others + ([{"url": IS_ARCHIVED, "valueBoolean": True}] if status == ARCHIVED else [])
    if not out["extension"]:
        del out["extension"]
    meta = dict(out.get("meta") or {})
    meta["versionId"] = str(int(meta.get("versionId") or "1") + 1)
    out["meta"] = meta
    return out


def outcome_codes(body: Any) -> tuple[str, ...]:
    """The XDS error codes an OperationOutcome carries in issue.details (else the issue codes)."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ()
    codes = []
    for issue in body.get("issue") or []:
        found = [c.get("code") for c in (issue.get("details") or {}).get("coding") or [] if c.get("code")]
        codes += found or [issue.get("code", "")]
    return tuple(dict.fromkeys(c for c in codes if c))
