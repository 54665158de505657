"""The XDS.b SOAP implementation of :class:`~fhirserver.integrations.dmp.client.DmpClient`.

IHE ITI TF-2b §3.41 (Provide and Register Document Set-b, MTOM/XOP), §3.18 (Registry Stored Query), §3.43
(Retrieve Document Set), ITI TF-2 §3.57 (Update Document Set); DMP TD0.2/TD2/TD2.1/TD3.x (french-interop.md §6.1).
Every request carries a freshly signed VIHF 4.0 assertion (:mod:`.vihf`) about the usager concerned. The XDS
metadata comes from the CDA header (:func:`mappings.xds.metadata.from_cda`, DMP value sets) and is serialised by
:func:`mappings.xds.ebrim.to_submit_objects_request`.

Error mapping: network errors, timeouts, HTTP 5xx, SOAP ``env:Receiver`` faults and the registry's "busy" codes
are :class:`TransientError`; everything the DMP refuses is :class:`DmpRefused` (a PermanentError) with its codes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import requests
from lxml import etree

from fhirserver.integrations.dmp import soap, xdsb
from fhirserver.integrations.dmp.client import (
    APPROVED,
    Actor,
    DmpRefused,
    DmpStatus,
    DocumentInfo,
    Ins,
    SubmitResult,
    TransientError,
    check_visibility,
)
from fhirserver.integrations.dmp.soap import Message, SoapError
from fhirserver.integrations.dmp.vihf import Lps, Signer, build_assertion
from mappings.xds import ebrim
from mappings.xds.hl7v2 import dtm_now
from mappings.xds.metadata import MetadataError, from_cda
from mappings.xds.model import Submission
from mappings.xds.valuesets import J58_CONFIDENTIALITY_CODE, TRE_A07_STATUT_VISIBILITE

#: registry / repository error codes that mean "try again later"
BUSY = frozenset({"XDSRegistryBusy", "XDSRepositoryBusy", "XDSRegistryOutOfResources",
                  "XDSRepositoryOutOfResources", "XDSRegistryNotAvailable"})


def refusal(what: str, errors: list[soap.RegistryError]) -> TransientError | DmpRefused:
    """The exception for a Failure RegistryResponse (codes and code contexts only: no health data)."""
    codes = tuple(dict.fromkeys(e.code for e in errors if e.severity == soap.SEVERITY_ERROR)) or ("Failure",)
    detail = "; ".join(f"{e.code}" + (f" ({e.context[:200]})" if e.context else "") for e in errors[:5])
    if set(codes) <= BUSY:
        return TransientError(f"{what}: DMP busy ({', '.join(codes)})")
    return DmpRefused(f"{what} refused by the DMP: {detail}", codes)


def derive_submission(document: bytes, visibility: tuple[str, ...], source_id: str = "") -> Submission:
    """The XDS metadata of a CDA document (DMP value sets), or a :class:`DmpRefused` saying why not — before
    anything is sent."""
    try:
        return from_cda(document, visibility=check_visibility(visibility), source_id=source_id or None)
    except MetadataError as exc:
        raise DmpRefused("XDS metadata: " + "; ".join(p.text for p in exc.problems)[:800],
                         ("XDSRegistryMetadataError",)) from exc
    except (ValueError, etree.XMLSyntaxError) as exc:
        raise DmpRefused(f"not a sendable CDA document ({exc})"[:300], ("InvalidDocumentContent",)) from exc


class SoapDmpClient:
    """DMP over XDS.b SOAP. ``signer`` is a :class:`~.vihf.Signer` or a callable giving one (loaded lazily, so
    building the client opens nothing). ``url`` is the DMP base URL; the SOAP endpoint is ``url + "/soap"``."""

    transport = "soap"

    def __init__(self, url: str, signer: Signer | Callable[[], Signer], lps: Lps, *, timeout: float = 30,
                 source_id: str = "") -> None:
        self.endpoint = url.rstrip("/") + "/soap"
        self._signer = signer
        self.lps = lps
        self.timeout = timeout
        self.source_id = source_id

    @property
    def signer(self) -> Signer:
        if not isinstance(self._signer, Signer):
            self._signer = self._signer()
        return self._signer

    # --- transport -------------------------------------------------------------------------------------------

    def call(self, action: str, body: etree._Element, ins: Ins, actor: Actor,
             attachments: dict[str, tuple[bytes, str]] | None = None) -> Message:
        """One SOAP exchange; returns the response message (faults and HTTP errors raised as our errors)."""
        assertion = build_assertion(actor, ins, self.signer, self.lps)
        env = soap.envelope(action, body, to=self.endpoint, security=assertion)
        ctype, data = soap.pack(env, action, attachments) if attachments else soap.plain(env, action)
        try:
            resp = requests.post(self.endpoint, data=data, headers={"Content-Type": ctype}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"DMP unreachable ({type(exc).__name__})") from exc
        try:
            msg = soap.parse(resp.headers.get("Content-Type", ""), resp.content)
        except SoapError as exc:
            if resp.status_code >= 500 or resp.status_code in (408, 429):
                raise TransientError(f"DMP error: HTTP {resp.status_code}") from exc
            raise DmpRefused(f"DMP answered HTTP {resp.status_code} without a SOAP response",
                             (f"HTTP{resp.status_code}",)) from exc
        fault = soap.read_fault(msg.body)
        if fault is not None:
            if fault.code.endswith("Receiver") or resp.status_code >= 500 and not fault.code.endswith("Sender"):
                raise TransientError(f"DMP fault {fault.code} {fault.subcode}".strip())
            raise DmpRefused(f"DMP SOAP fault {fault.subcode or fault.code}: {fault.reason[:200]}",
                             (fault.subcode or fault.code,))
        if resp.status_code >= 500:
            raise TransientError(f"DMP error: HTTP {resp.status_code}")
        if msg.action != soap.response_action(action):
            raise DmpRefused(f"the DMP answered {msg.action} to {action}", ("wsa:ActionMismatch",))
        return msg

    # --- TD0.2 -----------------------------------------------------------------------------------------------

    def dmp_status(self, ins: Ins, actor: Actor) -> DmpStatus:
        msg = self.call(soap.TD02, xdsb.td02_request(ins.cx()), ins, actor)
        status, errors = soap.read_registry_response(msg.body)
        if status != soap.SUCCESS:
            raise refusal("TD0.2", errors)
        return xdsb.read_td02_response(msg.body)

    # --- ITI-18 ----------------------------------------------------------------------------------------------

    def _query(self, query: etree._Element, ins: Ins, actor: Actor) -> list[etree._Element]:
        msg = self.call(soap.QUERY, query, ins, actor)
        status, errors = soap.read_registry_response(msg.body)
        if status == soap.FAILURE:
            raise refusal("ITI-18", errors)
        return xdsb.read_query_response(msg.body)

    def entry_object(self, ins: Ins, actor: Actor, unique_id: str) -> etree._Element | None:
        """The registry's current DocumentEntry (ExtrinsicObject) of ``unique_id``, or None (GetDocuments)."""
        found = self._query(xdsb.get_documents((unique_id,)), ins, actor)
        return found[0] if found else None

    def find_documents(self, ins: Ins, actor: Actor, *,
                       statuses: tuple[str, ...] = (APPROVED,)) -> list[DocumentInfo]:
        return [xdsb.document_info(o) for o in self._query(xdsb.find_documents(ins.cx(), statuses), ins, actor)]

    # --- ITI-41 ----------------------------------------------------------------------------------------------

    def provide_and_register(self, document: bytes, actor: Actor, *, visibility: tuple[str, ...] = (),
                             replaces: str | None = None) -> SubmitResult:
        submission = derive_submission(document, visibility, self.source_id)
        entry = submission.document
        ins = Ins.from_cx(entry.patient_id)
        replaced = replaces or submission.replaced_unique_id
        if replaced:
            target = self.entry_object(ins, actor, replaced)
            if target is None:
                raise DmpRefused("the replaced document is not in the DMP", ("UnresolvedReferenceException",))
            submission = dataclasses.replace(submission, replaced_unique_id=replaced,
                                             replaced_entry_uuid=target.get("id"))
        body, attachments = xdsb.provide_request(submission, document)
        msg = self.call(soap.PROVIDE, body, ins, actor, attachments)
        status, errors = soap.read_registry_response(msg.body)
        if status == soap.SUCCESS:
            return SubmitResult(entry.unique_id, entry.entry_id)
        if any(e.code == "XDSDuplicateUniqueIdInRegistry" for e in errors):
            existing = self.entry_object(ins, actor, entry.unique_id)  # same content, or a real conflict?
            if existing is not None and xdsb.document_info(existing).hash == entry.hash.lower():
                return SubmitResult(entry.unique_id, existing.get("id", ""), duplicate=True)
        raise refusal("ITI-41", errors)

    # --- ITI-43 ----------------------------------------------------------------------------------------------

    def retrieve(self, ins: Ins, actor: Actor, unique_id: str) -> bytes:
        current = self.entry_object(ins, actor, unique_id)
        if current is None:
            raise DmpRefused("no such document in the DMP", ("XDSDocumentUniqueIdError",))
        repository = xdsb.document_info(current).repository_id
        msg = self.call(soap.RETRIEVE, xdsb.retrieve_request([(repository, unique_id)]), ins, actor)
        status, errors = soap.read_registry_response(msg.body)
        for found, holder in xdsb.read_retrieve_response(msg.body):
            if found == unique_id:
                return msg.include(holder)
        raise refusal("ITI-43", errors or [soap.RegistryError("XDSDocumentUniqueIdError", "not returned")])

    # --- ITI-57 ----------------------------------------------------------------------------------------------

    def update_metadata(self, ins: Ins, actor: Actor, unique_id: str, *,
                        visibility: tuple[str, ...] | None = None, status: str | None = None) -> DocumentInfo:
        current = self.entry_object(ins, actor, unique_id)
        if current is None:
            raise DmpRefused("no such document in the DMP", ("XDSDocumentUniqueIdError",))
        source = self.source_id or unique_id.split("^")[0]
        if visibility is not None:
            labels = check_visibility(visibility)
            kept = [c for c in xdsb.coded(current, ebrim.DE_CONFIDENTIALITY) if c[1] != TRE_A07_STATUT_VISIBILITE]
            codes = kept + [(x, TRE_A07_STATUT_VISIBILITE,
                             J58_CONFIDENTIALITY_CODE.display(x, TRE_A07_STATUT_VISIBILITE) or x) for x in labels]
            self._update(xdsb.metadata_update(current, codes, source_id=source, submission_time=dtm_now()),
                         ins, actor)
            current = self.entry_object(ins, actor, unique_id)
            if current is None:
                raise DmpRefused("the document vanished during the update", ("XDSDocumentUniqueIdError",))
        if status is not None and status != current.get("status"):
            self._update(xdsb.status_update(current, status, source_id=source, submission_time=dtm_now()),
                         ins, actor)
            current = self.entry_object(ins, actor, unique_id)
            if current is None:
                raise DmpRefused("the document vanished during the update", ("XDSDocumentUniqueIdError",))
        return xdsb.document_info(current)

    def _update(self, request: etree._Element, ins: Ins, actor: Actor) -> None:
        msg = self.call(soap.UPDATE, request, ins, actor)
        status, errors = soap.read_registry_response(msg.body)
        if status != soap.SUCCESS:
            raise refusal("ITI-57", errors)

