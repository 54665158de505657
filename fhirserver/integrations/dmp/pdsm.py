"""The PDSm FHIR route to the DMP (ANS *Partage de documents de santé en mobilité*, ``ans.fhir.fr.pdsm`` 3.1.1,
https://interop.esante.gouv.fr/ig/fhir/pdsm; IHE MHD 4 ITI-65/67/68; french-interop.md §6.4): a second
implementation of :class:`~fhirserver.integrations.dmp.client.DmpClient`.

* provide: an ITI-65 ``transaction`` Bundle (profile ``pdsm-comprehensive-provide-document-bundle``) holding the
  SubmissionSet List, the DocumentReference (``pdsm-comprehensive-document-reference``: masterIdentifier = uniqueId,
  contained author, custodian, securityLabel = confidentiality + visibility labels, ``relatesTo`` replaces for
  RPLC) and the Binary, POSTed to ``[dmp] url`` + ``/fhir``;
* find: ``GET DocumentReference?patient.identifier=…`` (ITI-67); retrieve: the Binary (ITI-68);
* metadata update: JSON PATCH of ``securityLabel`` / ``status`` / the ``isArchived`` extension (PDSm flux 3).

The metadata are the XDS ones derived from the CDA (:func:`mappings.xds.metadata.from_cda`), mapped to FHIR
(:func:`.pdsm_bundle.provide_bundle`) and back (:func:`.pdsm_bundle.submission_of`, used by the sandbox to check them with the same DMP value
sets). Not specified by the material available, hence the sandbox's choices: the VIHF assertion travels base64
encoded in the ``X-DMP-VIHF`` header; TD0.2 has no FHIR form and goes through the SOAP endpoint.
"""

from __future__ import annotations

import base64
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
from fhirserver.integrations.dmp.pdsm_bundle import (
    FHIR_JSON,
    IS_ARCHIVED,
    code_of,
    concept,
    document_info,
    outcome_codes,
    patient_identifier,
    provide_bundle,
    uid_identifier,
)
from fhirserver.integrations.dmp.vihf import Lps, Signer, build_assertion
from fhirserver.integrations.dmp.xds_client import SoapDmpClient, derive_submission
from mappings.xds.model import Code
from mappings.xds.valuesets import J58_CONFIDENTIALITY_CODE, TRE_A07_STATUT_VISIBILITE

#: the HTTP header carrying the base64 VIHF assertion on the PDSm route (the sandbox's choice, see above)
VIHF_HEADER = "X-DMP-VIHF"


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
