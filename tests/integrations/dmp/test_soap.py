"""The XDS.b SOAP route against the DMP sandbox (a real threaded HTTP server): ITI-41/18/43/57, RPLC, TD0.2,
and what the sandbox refuses (VIHF missing or badly signed, codes outside the DMP value sets, invalid CDA, wrong
hash), each with the expected error code."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import requests
from lxml import etree

from fhirserver.integrations.dmp import soap, xdsb
from fhirserver.integrations.dmp.client import (
    APPROVED,
    ARCHIVED,
    DEPRECATED,
    Actor,
    DmpRefused,
    Ins,
    TransientError,
)
from fhirserver.integrations.dmp.deliverer import DmpDeliverer
from fhirserver.integrations.dmp.sandbox import Server
from fhirserver.integrations.dmp.vihf import build_assertion, self_signed
from fhirserver.integrations.dmp.xds_client import SoapDmpClient
from fhirserver.integrations.outbox import OutboxItem, PermanentError
from mappings.xds.metadata import from_cda
from mappings.xds.model import Code
from mappings.xds.valuesets import TRE_A03_CLASSE_DOCUMENT

from .conftest import LPS

V3 = "urn:hl7-org:v3"
N1_UID = "1.3.6.1.4.1.19376.1.2.20.12345.1.1"


def _edit(document: bytes, change: Any) -> bytes:
    root = etree.fromstring(document)
    change(root)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def replacement_of(document: bytes, new_root: str) -> bytes:
    """Version 2 of a CDA document: new id, same setId, relatedDocument RPLC -> the old id."""
    def change(root: etree._Element) -> None:
        old = root.find(f"{{{V3}}}id")
        assert old is not None
        parent_root = old.get("root", "")
        old.set("root", new_root)
        version = root.find(f"{{{V3}}}versionNumber")
        assert version is not None
        version.set("value", "2")
        related = etree.Element(f"{{{V3}}}relatedDocument", typeCode="RPLC")
        parent = etree.SubElement(related, f"{{{V3}}}parentDocument")
        etree.SubElement(parent, f"{{{V3}}}id", root=parent_root)
        component_of = root.find(f"{{{V3}}}componentOf")
        assert component_of is not None
        component_of.addprevious(related)
    return _edit(document, change)


def with_foreign_element(document: bytes) -> bytes:
    """The document with an element the CDA schema does not allow, after the title (the ANS kit rejects it)."""
    def change(root: etree._Element) -> None:
        title = root.find(f"{{{V3}}}title")
        assert title is not None
        title.addnext(etree.Element(f"{{{V3}}}notACdaElement"))
    return _edit(document, change)


def post_soap(server: Server, action: str, body: etree._Element, assertion: etree._Element | None,
              attachments: dict[str, tuple[bytes, str]] | None = None) -> tuple[int, soap.Message]:
    """One hand-built SOAP exchange with the sandbox (to send what the client would never send)."""
    url = server.url + "/soap"
    env = soap.envelope(action, body, to=url, security=assertion)
    ctype, data = soap.pack(env, action, attachments) if attachments else soap.plain(env, action)
    resp = requests.post(url, data=data, headers={"Content-Type": ctype}, timeout=60)
    return resp.status_code, soap.parse(resp.headers["Content-Type"], resp.content)


def registry_codes(msg: soap.Message) -> list[str]:
    status, errors = soap.read_registry_response(msg.body)
    assert status == soap.FAILURE
    return [e.code for e in errors]


def test_iti41_round_trip_with_the_official_n1(soap_client: SoapDmpClient, sandbox: Server, n1: bytes,
                                                n1_actor: Actor, n1_ins: Ins) -> None:
    """ITI-41 registers the ANS N1 example; ITI-18 finds it with its DMP metadata; ITI-43 returns the same bytes."""
    result = soap_client.provide_and_register(n1, n1_actor)
    assert (result.unique_id, result.duplicate) == (N1_UID, False)
    found = soap_client.find_documents(n1_ins, n1_actor)
    assert [d.unique_id for d in found] == [N1_UID]
    entry = found[0]
    assert (entry.status, entry.class_code, entry.type_code, entry.size) == (APPROVED, "10", "11502-2", len(n1))
    assert entry.confidentiality == ("N",)
    assert soap_client.retrieve(n1_ins, n1_actor, N1_UID) == n1
    summary = requests.get(sandbox.url + "/_sandbox/documents", timeout=10).json()
    assert [(d["uniqueId"], d["registered"], d["stored"]) for d in summary] == [(N1_UID, 1, True)]


def test_resending_the_same_document_is_recognised_as_already_there(soap_client: SoapDmpClient, sandbox: Server,
                                                                     n1: bytes, n1_actor: Actor) -> None:
    """A redelivery (same uniqueId, same hash) answers duplicate=True and stores nothing twice."""
    assert not soap_client.provide_and_register(n1, n1_actor).duplicate
    again = soap_client.provide_and_register(n1, n1_actor)
    assert again.duplicate and again.unique_id == N1_UID
    [doc] = requests.get(sandbox.url + "/_sandbox/documents", timeout=10).json()
    assert (doc["registered"], doc["duplicates"]) == (1, 1)


def test_same_unique_id_with_other_content_is_refused(soap_client: SoapDmpClient, n1: bytes,
                                                      n1_actor: Actor) -> None:
    """The uniqueId registered with a different document is XDSNonIdenticalHash (not "already there")."""
    soap_client.provide_and_register(n1, n1_actor)
    other = n1.replace(b"<title>Compte rendu d'examens biologiques</title>",
                       b"<title>Compte rendu d'examens biologiques (bis)</title>")
    assert other != n1
    with pytest.raises(DmpRefused) as refused:
        soap_client.provide_and_register(other, n1_actor)
    assert refused.value.codes == ("XDSNonIdenticalHash",)


def test_iti57_masks_then_unmasks_and_archives(soap_client: SoapDmpClient, n1: bytes, n1_actor: Actor,
                                               n1_ins: Ins) -> None:
    """ITI-57 adds MASQUE_PS (a new metadata version), removes it, then archives the document."""
    soap_client.provide_and_register(n1, n1_actor)
    masked = soap_client.update_metadata(n1_ins, n1_actor, N1_UID, visibility=("MASQUE_PS",))
    assert masked.confidentiality == ("N", "MASQUE_PS") and masked.extra["version"] == "2"
    [listed] = soap_client.find_documents(n1_ins, n1_actor)
    assert listed.visibility == ("MASQUE_PS",) and listed.entry_id == masked.entry_id
    unmasked = soap_client.update_metadata(n1_ins, n1_actor, N1_UID, visibility=())
    assert unmasked.confidentiality == ("N",) and unmasked.extra["version"] == "3"
    archived = soap_client.update_metadata(n1_ins, n1_actor, N1_UID, status=ARCHIVED)
    assert archived.status == ARCHIVED
    assert soap_client.find_documents(n1_ins, n1_actor) == []
    assert [d.unique_id for d in soap_client.find_documents(n1_ins, n1_actor, statuses=(ARCHIVED,))] == [N1_UID]
    assert soap_client.retrieve(n1_ins, n1_actor, N1_UID) == n1


def test_masked_document_is_hidden_from_other_professionals(soap_client: SoapDmpClient, n1: bytes,
                                                            n1_actor: Actor, n1_ins: Ins) -> None:
    """MASQUE_PS: another professional of another structure neither lists nor retrieves it; its author does."""
    soap_client.provide_and_register(n1, n1_actor, visibility=("MASQUE_PS",))
    other = dataclasses.replace(n1_actor, id="810000000001", name="MARTIN Paul", structure_id="10000000001")
    assert soap_client.find_documents(n1_ins, other) == []
    with pytest.raises(DmpRefused) as refused:
        soap_client.retrieve(n1_ins, other, N1_UID)
    assert refused.value.codes == ("XDSDocumentUniqueIdError",)
    colleague = dataclasses.replace(other, structure_id=n1_actor.structure_id)  # same structure
    assert [d.unique_id for d in soap_client.find_documents(n1_ins, colleague)] == [N1_UID]
    soap_client.update_metadata(n1_ins, n1_actor, N1_UID, visibility=())
    assert [d.unique_id for d in soap_client.find_documents(n1_ins, other)] == [N1_UID]


def test_rplc_deprecates_the_replaced_document(soap_client: SoapDmpClient, n1: bytes, n1_actor: Actor,
                                               n1_ins: Ins) -> None:
    """A version 2 with relatedDocument RPLC replaces the first one, which becomes Deprecated."""
    soap_client.provide_and_register(n1, n1_actor)
    v2 = replacement_of(n1, "1.3.6.1.4.1.19376.1.2.20.12345.1.2")
    result = soap_client.provide_and_register(v2, n1_actor)
    assert result.unique_id == "1.3.6.1.4.1.19376.1.2.20.12345.1.2"
    assert [d.unique_id for d in soap_client.find_documents(n1_ins, n1_actor)] == [result.unique_id]
    [old] = soap_client.find_documents(n1_ins, n1_actor, statuses=(DEPRECATED,))
    assert (old.unique_id, old.status) == (N1_UID, DEPRECATED)


def test_redelivered_replacement_is_already_there(soap_client: SoapDmpClient, n1: bytes, n1_actor: Actor,
                                                  n1_ins: Ins) -> None:
    """Sending the replacement again (after a crash) is a duplicate, not a refusal of the now Deprecated target."""
    soap_client.provide_and_register(n1, n1_actor)
    v2 = replacement_of(n1, "1.3.6.1.4.1.19376.1.2.20.12345.1.2")
    assert not soap_client.provide_and_register(v2, n1_actor).duplicate
    assert soap_client.provide_and_register(v2, n1_actor).duplicate
    assert len(soap_client.find_documents(n1_ins, n1_actor, statuses=(APPROVED, DEPRECATED))) == 2


def test_rplc_of_an_unknown_document_is_refused(soap_client: SoapDmpClient, n1: bytes, n1_actor: Actor) -> None:
    """Replacing a document the DMP does not have is refused before anything is registered."""
    v2 = replacement_of(n1, "1.3.6.1.4.1.19376.1.2.20.12345.1.2")
    with pytest.raises(DmpRefused) as refused:
        soap_client.provide_and_register(v2, n1_actor)
    assert refused.value.codes == ("UnresolvedReferenceException",)


def test_td02_closed_dmp_is_refused(soap_client: SoapDmpClient, sandbox: Server, n1: bytes, n1_actor: Actor,
                                    n1_ins: Ins) -> None:
    """TD0.2 reports a closed DMP; the deliverer gives up (PermanentError) and ITI-41 itself is refused."""
    resp = requests.put(f"{sandbox.url}/_sandbox/dmp/{n1_ins.value}", json={"state": "closed"}, timeout=10)
    assert resp.status_code == 200
    status = soap_client.dmp_status(n1_ins, n1_actor)
    assert (status.state, status.may_feed) == ("closed", False)
    item = OutboxItem(id=1, kind="dmp", unique_id=N1_UID, document_id="doc-1", payload=n1)
    with pytest.raises(PermanentError) as refused:
        DmpDeliverer(soap_client).deliver(item)
    assert "DMP_CLOSED" in getattr(refused.value, "codes", ())
    with pytest.raises(DmpRefused) as direct:
        soap_client.provide_and_register(n1, n1_actor)
    assert direct.value.codes == ("XDSUnknownPatientId",)
    assert requests.get(sandbox.url + "/_sandbox/documents", timeout=10).json() == []


def test_td02_active_and_absent(soap_client: SoapDmpClient, sandbox: Server, n1_actor: Actor,
                                n1_ins: Ins) -> None:
    """An active DMP may be fed; a patient without a DMP may not."""
    assert soap_client.dmp_status(n1_ins, n1_actor).may_feed
    sandbox.sandbox.store.set_dmp_state(n1_ins.value, "absent")
    assert soap_client.dmp_status(n1_ins, n1_actor).state == "absent"


def test_deliverer_delivers_once_and_redelivers_as_already_registered(soap_client: SoapDmpClient,
                                                                      sandbox: Server, n1: bytes) -> None:
    """The outbox deliverer registers the document, and a redelivery after a crash is 'already registered'."""
    item = OutboxItem(id=7, kind="dmp", unique_id=N1_UID, document_id="doc-1", payload=n1,
                      metadata={"visibility": ["INVISIBLE_PATIENT"], "replaces": None})
    deliverer = DmpDeliverer(soap_client)
    first, second = deliverer.deliver(item), deliverer.deliver(item)
    assert (first.remote_id, first.detail) == (N1_UID, "registered")
    assert (second.remote_id, second.detail) == (N1_UID, "already registered")
    [doc] = requests.get(sandbox.url + "/_sandbox/documents", timeout=10).json()
    assert doc["registered"] == 1 and doc["confidentiality"] == ["N", "INVISIBLE_PATIENT"]


def test_no_vihf_is_a_security_fault(sandbox: Server, n1: bytes) -> None:
    """A request without a wsse:Security VIHF assertion gets a SOAP Sender fault wsse:InvalidSecurity."""
    body, parts = xdsb.provide_request(from_cda(n1), n1)
    status, msg = post_soap(sandbox, soap.PROVIDE, body, None, parts)
    fault = soap.read_fault(msg.body)
    assert status == 400 and fault is not None
    assert (fault.code, fault.subcode) == ("env:Sender", "wsse:InvalidSecurity")


def test_tampered_vihf_signature_is_refused(sandbox: Server, n1: bytes, n1_actor: Actor, n1_ins: Ins) -> None:
    """A VIHF whose signed content was changed after signing fails the signature check (wsse:FailedCheck)."""
    assertion = build_assertion(n1_actor, n1_ins, self_signed(), LPS)
    subject = assertion.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID")
    assert subject is not None
    subject.text = "899999999999"  # another professional
    body, parts = xdsb.provide_request(from_cda(n1), n1)
    status, msg = post_soap(sandbox, soap.PROVIDE, body, assertion, parts)
    fault = soap.read_fault(msg.body)
    assert status == 400 and fault is not None and fault.subcode == "wsse:FailedCheck"


def test_vihf_without_mandatory_attributes_is_refused(sandbox: Server, n1: bytes, n1_ins: Ins) -> None:
    """A correctly signed VIHF that lacks Secteur_Activite and the role is refused, naming what is missing."""
    incomplete = Actor("801234534765", "DUPONT Jean", "11204598760", "", ())
    status, msg = post_soap(sandbox, soap.PROVIDE, *_provide(n1, build_assertion(incomplete, n1_ins,
                                                                                 self_signed(), LPS)))
    fault = soap.read_fault(msg.body)
    assert status == 400 and fault is not None and fault.subcode == "wsse:InvalidSecurityToken"
    assert "Secteur_Activite" in fault.reason and "role" in fault.reason


def _provide(document: bytes, assertion: etree._Element, **changes: Any) -> tuple[Any, ...]:
    submission = from_cda(document)
    if changes:
        submission = dataclasses.replace(submission, document=dataclasses.replace(submission.document, **changes))
    body, parts = xdsb.provide_request(submission, document)
    return body, assertion, parts


def test_unknown_class_code_is_a_metadata_error(sandbox: Server, n1: bytes, n1_actor: Actor, n1_ins: Ins) -> None:
    """A classCode outside JDV_J57 is refused with XDSRegistryMetadataError located at classCode."""
    assertion = build_assertion(n1_actor, n1_ins, self_signed(), LPS)
    _, msg = post_soap(sandbox, soap.PROVIDE, *_provide(
        n1, assertion, class_code=Code("99", TRE_A03_CLASSE_DOCUMENT, "Inconnu")))
    _, errors = soap.read_registry_response(msg.body)
    assert {(e.code, e.location) for e in errors} >= {("XDSRegistryMetadataError", "classCode")}


def test_wrong_hash_is_refused(sandbox: Server, n1: bytes, n1_actor: Actor, n1_ins: Ins) -> None:
    """Metadata declaring another hash than the document's is XDSRepositoryMetadataError (hash)."""
    assertion = build_assertion(n1_actor, n1_ins, self_signed(), LPS)
    _, msg = post_soap(sandbox, soap.PROVIDE, *_provide(n1, assertion, hash="0" * 40))
    _, errors = soap.read_registry_response(msg.body)
    assert [(e.code, e.location) for e in errors] == [("XDSRepositoryMetadataError", "hash")]


def test_wrong_size_is_refused(sandbox: Server, n1: bytes, n1_actor: Actor, n1_ins: Ins) -> None:
    """Metadata declaring another size than the document's is XDSRepositoryMetadataError (size)."""
    assertion = build_assertion(n1_actor, n1_ins, self_signed(), LPS)
    _, msg = post_soap(sandbox, soap.PROVIDE, *_provide(n1, assertion, size=len(n1) + 1))
    assert registry_codes(msg) == ["XDSRepositoryMetadataError"]


def test_invalid_cda_is_refused_with_the_failed_rules(soap_client: SoapDmpClient, sandbox: Server, n1: bytes,
                                                       n1_actor: Actor) -> None:
    """A CDA the ANS kit rejects (an element the CDA schema does not allow) is InvalidDocumentContent."""
    with pytest.raises(DmpRefused) as refused:
        soap_client.provide_and_register(with_foreign_element(n1), n1_actor)
    assert refused.value.codes == ("InvalidDocumentContent",)
    assert "notACdaElement" in str(refused.value)
    assert requests.get(sandbox.url + "/_sandbox/documents", timeout=10).json() == []


def test_vihf_about_another_patient_is_refused(sandbox: Server, n1: bytes, n1_actor: Actor) -> None:
    """The VIHF resource-id must be the patient of the submission (XDSPatientIdDoesNotMatch)."""
    other = Ins("180012345678901", "1.2.250.1.213.1.4.10")
    assertion = build_assertion(n1_actor, other, self_signed(), LPS)
    _, msg = post_soap(sandbox, soap.PROVIDE, *_provide(n1, assertion))
    assert registry_codes(msg) == ["XDSPatientIdDoesNotMatch"]


def test_not_soap_12_is_refused(sandbox: Server) -> None:
    """A SOAP 1.1 envelope is answered with a VersionMismatch fault."""
    body = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body/>'
            b'</s:Envelope>')
    resp = requests.post(sandbox.url + "/soap", data=body, headers={"Content-Type": "text/xml"}, timeout=10)
    fault = soap.read_fault(soap.parse(resp.headers["Content-Type"], resp.content).body)
    assert resp.status_code >= 400 and fault is not None and fault.code == "env:VersionMismatch"


def test_unreachable_dmp_is_transient(n1: bytes, n1_actor: Actor) -> None:
    """A DMP that does not answer is a TransientError (the outbox retries later)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = SoapDmpClient(f"http://127.0.0.1:{port}", self_signed, LPS, timeout=5)
    with pytest.raises(TransientError):
        client.provide_and_register(n1, n1_actor)


def test_documents_survive_a_sandbox_restart(tmp_path: Any, cda_validator: Any, n1: bytes, n1_actor: Actor,
                                             n1_ins: Ins) -> None:
    """The store is a file: a new sandbox process on it still has the document and still sees duplicates."""
    from fhirserver.integrations.dmp.sandbox import Sandbox
    from fhirserver.integrations.dmp.sandbox_store import Store

    path = str(tmp_path / "durable.sqlite3")
    for attempt in range(2):
        store = Store(path)
        server = Server(Sandbox(store, cda_validator)).start()
        try:
            client = SoapDmpClient(server.url, self_signed, LPS)
            assert client.provide_and_register(n1, n1_actor).duplicate is (attempt == 1)
            assert client.retrieve(n1_ins, n1_actor, N1_UID) == n1
        finally:
            server.stop()
            store.close()


def test_sandbox_restricted_to_a_trusted_certificate(tmp_path: Any, cda_validator: Any, n1: bytes,
                                                     n1_actor: Actor) -> None:
    """With trusted certificates configured, a VIHF signed by another one is wsse:FailedAuthentication."""
    from fhirserver.integrations.dmp.sandbox import Sandbox
    from fhirserver.integrations.dmp.sandbox_store import Store
    from fhirserver.integrations.dmp.vihf import generate_self_signed

    structure = generate_self_signed()
    store = Store(str(tmp_path / "trusted.sqlite3"))
    server = Server(Sandbox(store, cda_validator, trusted=(structure.cert,))).start()
    try:
        with pytest.raises(DmpRefused) as refused:
            SoapDmpClient(server.url, self_signed, LPS).provide_and_register(n1, n1_actor)
        assert refused.value.codes == ("wsse:FailedAuthentication",)
        accepted = SoapDmpClient(server.url, structure, LPS).provide_and_register(n1, n1_actor)
        assert accepted.unique_id == N1_UID
    finally:
        server.stop()
        store.close()
