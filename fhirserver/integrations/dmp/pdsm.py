"""The PDSm FHIR route to the DMP (ANS *Partage de documents de santé en mobilité*, ``ans.fhir.fr.pdsm`` 3.1.1,
https://interop.esante.gouv.fr/ig/fhir/pdsm; IHE MHD 4 ITI-65/67/68; french-interop.md §6.4): a second
implementation of :class:`~fhirserver.integrations.dmp.client.DmpClient`.

* provide: an ITI-65 ``transaction`` Bundle (profile ``pdsm-comprehensive-provide-document-bundle``) holding the
  SubmissionSet List, the DocumentReference (``pdsm-comprehensive-document-reference``: masterIdentifier = uniqueId,
  contained author, custodian, securityLabel = confidentiality + visibility labels, ``relatesTo`` replaces for
  RPLC) and the Binary, POSTed to ``dmp_url/fhir``;
* find: ``GET DocumentReference?patient.identifier=…`` (ITI-67); retrieve: the Binary (ITI-68);
* metadata update: JSON PATCH of ``securityLabel`` / ``status`` / the ``isArchived`` extension (PDSm flux 3).

The metadata are the XDS ones derived from the CDA (:func:`mappings.xds.metadata.from_cda`), mapped to FHIR
(:func:`provide_bundle`) and back (:func:`submission_of`, used by the sandbox to check them with the same DMP value
sets). Not specified by the material available, hence the sandbox's choices: the VIHF assertion travels base64
encoded in the ``X-DMP-VIHF`` header; TD0.2 has no FHIR form and goes through the SOAP endpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any

import requests
from lxml import etree

from fhirserver.integrations.dmp.client import (
    APPROVED,
    ARCHIVED,
    DEPRECATED,
    Actor,
    DmpRefused,
    DmpStatus,
    DocumentInfo,
    Ins,
    SubmitResult,
    TransientError,
    check_visibility,
)
from fhirserver.integrations.dmp.vihf import Lps, Signer, build_assertion
from fhirserver.integrations.dmp.xds_client import SoapDmpClient, derive_submission
from mappings.terminology import oid_of, uri_of
from mappings.xds.hl7v2 import cx, parse_cx
from mappings.xds.metadata import MetadataError
from mappings.xds.model import Code, DocumentEntry, Problem, Submission, SubmissionSet
from mappings.xds.valuesets import J58_CONFIDENTIALITY_CODE, TRE_A07_STATUT_VISIBILITE

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
VIHF_HEADER = "X-DMP-VIHF"
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
    import datetime as dt

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


def _diagnostics(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    return "; ".join(str(i.get("diagnostics", ""))[:200] for i in (body.get("issue") or [])[:5])


# --- the client --------------------------------------------------------------------------------------------------

class PdsmDmpClient:
    """DMP over PDSm FHIR at ``url + "/fhir"`` (TD0.2 over the SOAP endpoint, see the module docstring)."""

    transport = "pdsm"

    def __init__(self, url: str, signer: Signer | Callable[[], Signer], lps: Lps, *, timeout: float = 30) -> None:
        self.base = url.rstrip("/") + "/fhir"
        self.soap = SoapDmpClient(url, signer, lps, timeout=timeout)
        self.lps = lps
        self.timeout = timeout

    def _request(self, method: str, path: str, ins: Ins, actor: Actor, *, body: Any = None,
                 content_type: str = FHIR_JSON, params: dict[str, str] | None = None,
                 accept: str = FHIR_JSON) -> requests.Response:
        assertion = build_assertion(actor, ins, self.soap.signer, self.lps)
        headers = {"Accept": accept, VIHF_HEADER: base64.b64encode(etree.tostring(assertion)).decode("ascii")}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            resp = requests.request(method, f"{self.base}/{path}", json=body, params=params, headers=headers,
                                    timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"DMP unreachable ({type(exc).__name__})") from exc
        if resp.status_code >= 500 or resp.status_code in (408, 429):
            raise TransientError(f"DMP error: HTTP {resp.status_code}")
        if resp.status_code >= 400:
            try:
                payload = resp.json()
            except ValueError:
                payload = None
            codes = outcome_codes(payload) or (f"HTTP{resp.status_code}",)
            raise DmpRefused(f"{method} {path.split('/')[0]} refused by the DMP (HTTP {resp.status_code}): "
                             f"{', '.join(codes)} {_diagnostics(payload)}".strip(), codes)
        return resp

    def dmp_status(self, ins: Ins, actor: Actor) -> DmpStatus:
        return self.soap.dmp_status(ins, actor)

    def _search(self, ins: Ins, actor: Actor, params: dict[str, str]) -> list[dict[str, Any]]:
        bundle = self._request("GET", "DocumentReference", ins, actor, params=params).json()
        return [e["resource"] for e in bundle.get("entry") or [] if isinstance(e.get("resource"), dict)]

    def reference(self, ins: Ins, actor: Actor, unique_id: str) -> dict[str, Any] | None:
        """The DMP's DocumentReference of ``unique_id`` (any status), or None."""
        ident = uid_identifier(unique_id)
        found = self._search(ins, actor, {"identifier": f"{ident['system']}|{ident['value']}",
                                          "status": "current,superseded"})
        return found[0] if found else None

    def find_documents(self, ins: Ins, actor: Actor, *,
                       statuses: tuple[str, ...] = (APPROVED,)) -> list[DocumentInfo]:
        ident = patient_identifier(ins.cx())
        found = self._search(ins, actor, {"patient.identifier": f"{ident['system']}|{ident['value']}",
                                          "status": "current,superseded"})
        return [info for info in map(document_info, found) if info.status in statuses]

    def provide_and_register(self, document: bytes, actor: Actor, *, visibility: tuple[str, ...] = (),
                             replaces: str | None = None) -> SubmitResult:
        submission = derive_submission(document, visibility)
        ins = Ins.from_cx(submission.document.patient_id)
        replaced = replaces or submission.replaced_unique_id
        if replaced and self.reference(ins, actor, replaced) is None:
            raise DmpRefused("the replaced document is not in the DMP", ("UnresolvedReferenceException",))
        bundle = provide_bundle(submission, document, actor, replaced_unique_id=replaced)
        reply = self._request("POST", "", ins, actor, body=bundle).json()
        statuses = [str((e.get("response") or {}).get("status", "")) for e in reply.get("entry") or []]
        if len(statuses) != 3 or not all(s.startswith(("200", "201")) for s in statuses):
            raise DmpRefused(f"unexpected ITI-65 response statuses: {', '.join(statuses)}", ("ITI65Response",))
        location = str((reply["entry"][1].get("response") or {}).get("location", ""))
        entry_id = location.split("/")[1] if "/" in location else ""
        return SubmitResult(submission.document.unique_id, entry_id, duplicate=statuses[1].startswith("200"))

    def retrieve(self, ins: Ins, actor: Actor, unique_id: str) -> bytes:
        dr = self.reference(ins, actor, unique_id)
        if dr is None:
            raise DmpRefused("no such document in the DMP", ("XDSDocumentUniqueIdError",))
        url = document_info(dr).extra["url"]
        return self._request("GET", url, ins, actor, accept="*/*").content

    def update_metadata(self, ins: Ins, actor: Actor, unique_id: str, *,
                        visibility: tuple[str, ...] | None = None, status: str | None = None) -> DocumentInfo:
        dr = self.reference(ins, actor, unique_id)
        if dr is None:
            raise DmpRefused("no such document in the DMP", ("XDSDocumentUniqueIdError",))
        ops: list[dict[str, Any]] = []
        if visibility is not None:
            labels = check_visibility(visibility)
            kept = [x for x in dr.get("securityLabel") or [] if code_of(x).scheme != TRE_A07_STATUT_VISIBILITE]
            added = [concept(Code(x, TRE_A07_STATUT_VISIBILITE,
                                  J58_CONFIDENTIALITY_CODE.display(x, TRE_A07_STATUT_VISIBILITE) or x))
                     for x in labels]
            ops.append({"op": "replace" if "securityLabel" in dr else "add", "path": "/securityLabel",
                        "value": kept + added})
        if status is not None:
            if status not in (APPROVED, DEPRECATED, ARCHIVED):
                raise ValueError(f"unknown availability status {status}")
            others = [x for x in dr.get("extension") or [] if x.get("url") != IS_ARCHIVED]
            archived = [{"url": IS_ARCHIVED, "valueBoolean": status == ARCHIVED}]
            ops.append({"op": "add", "path": "/extension", "value": others + archived})
            ops.append({"op": "replace", "path": "/status",
                        "value": "superseded" if status == DEPRECATED else "current"})
        if not ops:
            return document_info(dr)
        updated = self._request("PATCH", f"DocumentReference/{dr['id']}", ins, actor, body=ops,
                                content_type="application/json-patch+json").json()
        return document_info(updated)
