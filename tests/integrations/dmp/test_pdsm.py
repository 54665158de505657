"""The PDSm FHIR route (ITI-65 / ITI-67 / ITI-68, JSON PATCH) against the DMP sandbox: the same round trip as the
SOAP route, RPLC, TD0.2, and the refusals (no VIHF, wrong hash, unknown class code, invalid CDA, patching what
PDSm does not allow)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
import requests
from lxml import etree

from fhirserver.integrations.dmp.client import APPROVED, ARCHIVED, DEPRECATED, Actor, DmpRefused, Ins
from fhirserver.integrations.dmp.deliverer import DmpDeliverer
from fhirserver.integrations.dmp.pdsm import VIHF_HEADER, PdsmDmpClient
from fhirserver.integrations.dmp.pdsm_bundle import outcome_codes, provide_bundle
from fhirserver.integrations.dmp.sandbox import Server
from fhirserver.integrations.dmp.vihf import build_assertion, self_signed
from fhirserver.integrations.outbox import OutboxItem, PermanentError
from mappings.xds.metadata import from_cda

from .conftest import LPS
from .test_soap import N1_UID, replacement_of, with_foreign_element


@pytest.fixture()
def pdsm(sandbox: Server) -> PdsmDmpClient:
    return PdsmDmpClient(sandbox.url, self_signed, LPS, timeout=120)


def post_bundle(server: Server, bundle: dict[str, Any], actor: Actor | None, ins: Ins) -> requests.Response:
    headers = {"Content-Type": "application/fhir+json"}
    if actor is not None:
        assertion = build_assertion(actor, ins, self_signed(), LPS)
        headers[VIHF_HEADER] = base64.b64encode(etree.tostring(assertion)).decode("ascii")
    return requests.post(server.url + "/fhir", json=bundle, headers=headers, timeout=120)


def test_iti65_round_trip(pdsm: PdsmDmpClient, sandbox: Server, n1: bytes, n1_actor: Actor, n1_ins: Ins) -> None:
    """ITI-65 stores the N1 example; the search finds it; the Binary is the same bytes; resending is a duplicate."""
    result = pdsm.provide_and_register(n1, n1_actor)
    assert (result.unique_id, result.duplicate) == (N1_UID, False)
    [found] = pdsm.find_documents(n1_ins, n1_actor)
    assert (found.unique_id, found.status, found.class_code, found.type_code) == (N1_UID, APPROVED, "10", "11502-2")
    assert found.size == len(n1) and found.confidentiality == ("N",)
    assert pdsm.retrieve(n1_ins, n1_actor, N1_UID) == n1
    assert pdsm.provide_and_register(n1, n1_actor).duplicate
    [doc] = requests.get(sandbox.url + "/_sandbox/documents", timeout=10).json()
    assert (doc["registered"], doc["duplicates"]) == (1, 1)


def test_bundle_has_the_pdsm_shape(n1: bytes, n1_actor: Actor) -> None:
    """The ITI-65 Bundle: a transaction with the SubmissionSet List, the DocumentReference and the Binary."""
    bundle = provide_bundle(from_cda(n1), n1, n1_actor)
    assert bundle["type"] == "transaction"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["List", "DocumentReference", "Binary"]
    dr = bundle["entry"][1]["resource"]
    assert dr["content"][0]["attachment"]["url"] == bundle["entry"][2]["fullUrl"]
    assert dr["masterIdentifier"] == {"system": "urn:ietf:rfc:3986", "value": "urn:oid:" + N1_UID}
    assert dr["subject"]["identifier"] == {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "279035121518989"}
    assert dr["category"][0]["coding"][0]["code"] == "10"
    assert base64.b64decode(bundle["entry"][2]["resource"]["data"]) == n1


def test_bundle_resources_are_valid_r4(n1: bytes, n1_actor: Actor) -> None:
    """The Bundle and each resource in it pass the server's structural R4 validation."""
    from fhirserver.validation.structural import validate_resource

    bundle = provide_bundle(from_cda(n1, visibility=["MASQUE_PS"]), n1, n1_actor,
                            replaced_unique_id="1.2.250.1.999.7")
    validate_resource(bundle, "Bundle")
    for entry in bundle["entry"]:
        validate_resource(entry["resource"], entry["resource"]["resourceType"])
    assert bundle["entry"][1]["resource"]["relatesTo"][0]["code"] == "replaces"


def test_patch_masks_and_archives(pdsm: PdsmDmpClient, n1: bytes, n1_actor: Actor, n1_ins: Ins) -> None:
    """JSON PATCH sets MASQUE_PS, then archives (isArchived): the search by status no longer lists it."""
    pdsm.provide_and_register(n1, n1_actor)
    masked = pdsm.update_metadata(n1_ins, n1_actor, N1_UID, visibility=("MASQUE_PS",))
    assert masked.confidentiality == ("N", "MASQUE_PS") and masked.extra["version"] == "2"
    archived = pdsm.update_metadata(n1_ins, n1_actor, N1_UID, status=ARCHIVED)
    assert archived.status == ARCHIVED
    assert pdsm.find_documents(n1_ins, n1_actor) == []
    assert [d.visibility for d in pdsm.find_documents(n1_ins, n1_actor, statuses=(ARCHIVED,))] == [("MASQUE_PS",)]


def test_masked_document_is_hidden_from_other_professionals(pdsm: PdsmDmpClient, n1: bytes, n1_actor: Actor,
                                                            n1_ins: Ins) -> None:
    """MASQUE_PS over PDSm: the search of another professional of another structure does not list it."""
    pdsm.provide_and_register(n1, n1_actor, visibility=("MASQUE_PS",))
    other = Actor("810000000001", "MARTIN Paul", "10000000001", n1_actor.sector, n1_actor.roles)
    assert pdsm.find_documents(n1_ins, other) == []
    assert [d.visibility for d in pdsm.find_documents(n1_ins, n1_actor)] == [("MASQUE_PS",)]


def test_replacement_supersedes_the_old_document(pdsm: PdsmDmpClient, n1: bytes, n1_actor: Actor,
                                                 n1_ins: Ins) -> None:
    """relatesTo replaces: the old DocumentReference becomes superseded (XDS Deprecated)."""
    pdsm.provide_and_register(n1, n1_actor)
    v2 = replacement_of(n1, "1.3.6.1.4.1.19376.1.2.20.12345.1.2")
    pdsm.provide_and_register(v2, n1_actor)
    assert [d.unique_id for d in pdsm.find_documents(n1_ins, n1_actor)] == ["1.3.6.1.4.1.19376.1.2.20.12345.1.2"]
    [old] = pdsm.find_documents(n1_ins, n1_actor, statuses=(DEPRECATED,))
    assert old.unique_id == N1_UID


def test_closed_dmp_is_not_fed(pdsm: PdsmDmpClient, sandbox: Server, n1: bytes, n1_actor: Actor,
                               n1_ins: Ins) -> None:
    """TD0.2 closed: the deliverer gives up and a direct ITI-65 is refused (XDSUnknownPatientId)."""
    sandbox.sandbox.store.set_dmp_state(n1_ins.value, "closed")
    with pytest.raises(PermanentError):
        DmpDeliverer(pdsm).deliver(OutboxItem(id=1, kind="dmp", unique_id=N1_UID, document_id="d", payload=n1))
    with pytest.raises(DmpRefused) as refused:
        pdsm.provide_and_register(n1, n1_actor)
    assert refused.value.codes == ("XDSUnknownPatientId",)


def test_no_vihf_is_forbidden(sandbox: Server, n1: bytes, n1_actor: Actor, n1_ins: Ins) -> None:
    """An ITI-65 without the VIHF header is 403 with the WS-Security code."""
    resp = post_bundle(sandbox, provide_bundle(from_cda(n1), n1, n1_actor), None, n1_ins)
    assert resp.status_code == 403 and outcome_codes(resp.json()) == ("wsse:InvalidSecurity",)


def test_wrong_hash_is_refused(sandbox: Server, n1: bytes, n1_actor: Actor, n1_ins: Ins) -> None:
    """attachment.hash that is not the Binary's SHA-1 is XDSRepositoryMetadataError."""
    bundle = provide_bundle(from_cda(n1), n1, n1_actor)
    bundle["entry"][1]["resource"]["content"][0]["attachment"]["hash"] = base64.b64encode(b"\0" * 20).decode()
    resp = post_bundle(sandbox, bundle, n1_actor, n1_ins)
    assert resp.status_code == 422 and outcome_codes(resp.json()) == ("XDSRepositoryMetadataError",)
    assert resp.json()["issue"][0]["expression"] == ["DocumentReference.content.attachment.hash"]


def test_unknown_class_code_is_refused(sandbox: Server, n1: bytes, n1_actor: Actor, n1_ins: Ins) -> None:
    """A category outside JDV_J57 is XDSRegistryMetadataError naming classCode."""
    bundle = provide_bundle(from_cda(n1), n1, n1_actor)
    bundle["entry"][1]["resource"]["category"][0]["coding"][0]["code"] = "99"
    resp = post_bundle(sandbox, bundle, n1_actor, n1_ins)
    body = resp.json()
    assert resp.status_code == 422 and "XDSRegistryMetadataError" in outcome_codes(body)
    assert ["classCode"] in [i.get("expression") for i in body["issue"]]


def test_invalid_cda_is_refused(pdsm: PdsmDmpClient, n1: bytes, n1_actor: Actor) -> None:
    """A document the ANS kit rejects is InvalidDocumentContent."""
    with pytest.raises(DmpRefused) as refused:
        pdsm.provide_and_register(with_foreign_element(n1), n1_actor)
    assert refused.value.codes == ("InvalidDocumentContent",)


def test_patch_outside_pdsm_flux_3_is_refused(pdsm: PdsmDmpClient, sandbox: Server, n1: bytes, n1_actor: Actor,
                                              n1_ins: Ins) -> None:
    """Only status, securityLabel and isArchived may be patched; a visibility label outside J58 is refused."""
    pdsm.provide_and_register(n1, n1_actor)
    dr = pdsm.reference(n1_ins, n1_actor, N1_UID)
    assert dr is not None
    assertion = build_assertion(n1_actor, n1_ins, self_signed(), LPS)
    headers = {VIHF_HEADER: base64.b64encode(etree.tostring(assertion)).decode("ascii"),
               "Content-Type": "application/json-patch+json"}
    url = f"{sandbox.url}/fhir/DocumentReference/{dr['id']}"
    title = requests.patch(url, json=[{"op": "replace", "path": "/content/0/attachment/title", "value": "x"}],
                           headers=headers, timeout=30)
    assert title.status_code == 422 and outcome_codes(title.json()) == ("XDSMetadataUpdateError",)
    labels = copy.deepcopy(dr["securityLabel"]) + [{"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13",
                                                                "code": "SECRET"}]}]
    bad = requests.patch(url, json=[{"op": "replace", "path": "/securityLabel", "value": labels}],
                         headers=headers, timeout=30)
    assert bad.status_code == 422 and outcome_codes(bad.json()) == ("XDSRegistryMetadataError",)
    [unchanged] = pdsm.find_documents(n1_ins, n1_actor)
    assert unchanged.confidentiality == ("N",) and unchanged.extra["version"] == "1"
