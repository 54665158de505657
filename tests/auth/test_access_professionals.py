"""Professionals reach the usagers of their structures (and sub-structures) and of the care teams they belong to —
never a usager of another structure, on any interaction type (fhirserver.auth.reach, fhirserver.auth.policy)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urljoin

import pytest
import requests

from tests.auth.conftest import PASSWORD, Env, api, authorize_params, now_iso, pkce, submit, user_token

SCOPE = "openid fhirUser user/*.cruds"


def _ids(resp: requests.Response) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {e["resource"]["id"] for e in resp.json().get("entry", []) if e["search"]["mode"] in ("match", "include")}


def _obs(patient: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "poids"},
            "subject": {"reference": f"Patient/{patient}"}}


@pytest.fixture()
def dr1(structures: Env) -> str:
    """dr1 (structure A) with user/*.cruds."""
    return user_token(structures, "dr1", SCOPE)


def test_reads_of_another_structure_are_not_found(structures: Env, dr1: str) -> None:
    """dr1 reads p1 (sub-structure A1) and p3 (A); p2 of structure B and its data are 404 on read, vread, history."""
    for path in ("Patient/p1", "Patient/p3", "Observation/o1", "Observation/o3"):
        assert api(structures, dr1, path).status_code == 200, path
    for path in ("Patient/p2", "Observation/o2", "Observation/o2/_history/1", "Patient/p2/_history",
                 "DocumentReference/d2"):
        resp = api(structures, dr1, path)
        assert resp.status_code == 404, (path, resp.text)
        assert resp.json()["resourceType"] == "OperationOutcome"


def test_search_spans_every_usager_of_the_structure(structures: Env, dr1: str) -> None:
    """A type search covers all of dr1's usagers at once (no compartment needed) with a right total."""
    assert _ids(api(structures, dr1, "Patient")) == {"p1", "p3"}
    resp = api(structures, dr1, "Observation?_total=accurate")
    assert _ids(resp) == {"o1", "o1v", "o3"}
    assert resp.json()["total"] == 3, resp.json()
    assert _ids(api(structures, dr1, "Observation?subject=Patient/p2")) == set()
    assert _ids(api(structures, dr1, "?_type=Observation,Patient")) == {"o1", "o1v", "o3", "p1", "p3"}


def test_compartment_everything_include_revinclude(structures: Env, dr1: str) -> None:
    """Compartment search and $everything of p2 are 404; includes and revincludes leave p2's data out."""
    assert _ids(api(structures, dr1, "Patient/p1/Observation")) == {"o1", "o1v"}
    assert api(structures, dr1, "Patient/p2/Observation").status_code == 404
    assert api(structures, dr1, "Patient/p2/$everything").status_code == 404
    assert "p1" in _ids(api(structures, dr1, "Patient/p1/$everything"))
    assert _ids(api(structures, dr1, "Practitioner?_id=dr1&_revinclude=Observation:performer")) == {
        "dr1", "o1", "o1v", "o3"}
    assert _ids(api(structures, dr1, "Observation?_include=Observation:subject")) == {
        "o1", "o1v", "o3", "p1", "p3"}


def test_has_and_chains_on_other_types_are_refused(structures: Env, dr1: str) -> None:
    """_has and chains on unbounded types are 403 for a professional; chains on record types stay narrowed."""
    assert api(structures, dr1, "Patient?_has:Observation:subject:status=final").status_code == 403
    assert api(structures, dr1, "Practitioner?_has:Observation:performer:subject=Patient/p2").status_code == 403
    assert _ids(api(structures, dr1, "Observation?subject:Patient.family=Durand")) == set()


def test_writes_outside_the_structure_are_refused(structures: Env, dr1: str) -> None:
    """Create for p2 is 403, update/patch/delete of p2's data 404, conditional writes 403; p1 works."""
    env = structures
    assert api(env, dr1, "Observation", "POST", _obs("p1")).status_code == 201
    assert api(env, dr1, "Observation", "POST", _obs("p2")).status_code == 403
    assert api(env, dr1, "Observation/o2", "PUT", {**_obs("p2"), "id": "o2"}).status_code == 404
    assert api(env, dr1, "Observation/o1", "PUT", {**_obs("p2"), "id": "o1"}).status_code == 403
    assert api(env, dr1, "Observation/o2", "DELETE").status_code == 404
    patch = requests.patch(f"{env.fhir}/Observation/o2", data='[{"op":"replace","path":"/status","value":"amended"}]',
                           headers={"Authorization": f"Bearer {dr1}", "Content-Type": "application/json-patch+json"},
                           timeout=10)
    assert patch.status_code == 404
    assert api(env, dr1, "Observation?subject=Patient/p2", "DELETE").status_code == 403
    stored = env.ctx.repo.run(lambda s: s.read("Observation", "o2"), write=False)
    assert stored.version_id == 1 and not stored.deleted


def test_transaction_entries_outside_the_structure(structures: Env, dr1: str) -> None:
    """A transaction with an entry for p2 fails as a whole (nothing written); reading p2 in a batch is 404."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _obs("p1"), "request": {"method": "POST", "url": "Observation"}},
        {"resource": _obs("p2"), "request": {"method": "POST", "url": "Observation"}}]}
    assert api(structures, dr1, "", "POST", bundle).status_code == 403
    assert _ids(api(structures, dr1, "Patient/p1/Observation")) == {"o1", "o1v"}
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation/o2"}}, {"request": {"method": "GET", "url": "Patient/p1"}}]}
    resp = api(structures, dr1, "", "POST", batch)
    assert [e["response"]["status"][:3] for e in resp.json()["entry"]] == ["404", "200"]


def test_transaction_entry_writes_for_a_usager_an_earlier_entry_admitted(structures: Env, dr1: str) -> None:
    """Inside one transaction, an entry may write data for the usager an earlier entry admitted to dr1's structure
    (the policy reads in the transaction's own session); admitting to structure B is refused."""
    admitted = {"resourceType": "Patient", "id": "pnew", "managingOrganization": {"reference": "Organization/orgA"}}
    urn = "urn:uuid:0b9c5e34-1d5e-4c1e-9d4e-6f1a2b3c4d5e"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": urn, "resource": {k: v for k, v in admitted.items() if k != "id"},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {k: v for k, v in _obs("x").items() if k != "id"} | {"subject": {"reference": urn}},
         "request": {"method": "POST", "url": "Observation"}}]}
    resp = api(structures, dr1, "", "POST", bundle)
    assert resp.status_code == 200, resp.text
    location = "/".join(resp.json()["entry"][1]["response"]["location"].split("/_history/")[0].split("/")[-2:])
    subject = api(structures, dr1, location).json()["subject"]["reference"]
    assert api(structures, dr1, subject).status_code == 200
    elsewhere = {k: v for k, v in admitted.items() if k != "id"} | {
        "managingOrganization": {"reference": "Organization/orgB"}}
    assert api(structures, dr1, "Patient", "POST", elsewhere).status_code == 403


def test_ended_role_gives_nothing_from_the_next_request(structures: Env, dr1: str) -> None:
    """When dr1's PractitionerRole period ends, the same token no longer reaches structure A's usagers."""
    assert api(structures, dr1, "Patient/p1").status_code == 200
    structures.put({"resourceType": "PractitionerRole", "id": "roleA", "active": True,
                    "period": {"start": now_iso(-30), "end": now_iso(-1)},
                    "practitioner": {"reference": "Practitioner/dr1"},
                    "organization": {"reference": "Organization/orgA"}})
    assert api(structures, dr1, "Patient/p1").status_code == 404
    assert _ids(api(structures, dr1, "Observation")) == set()


def test_care_team_member_outside_the_structure(structures: Env) -> None:
    """dr3 (structure A) reaches p2 (structure B) as a member of p2's active care team, until it becomes inactive."""
    token = user_token(structures, "dr3", SCOPE)
    assert api(structures, token, "Observation/o2").status_code == 200
    assert _ids(api(structures, token, "Patient")) == {"p1", "p2", "p3"}
    structures.put({"resourceType": "CareTeam", "id": "ct2", "status": "inactive",
                    "subject": {"reference": "Patient/p2"},
                    "participant": [{"member": {"reference": "Practitioner/dr3"}}]})
    assert api(structures, token, "Observation/o2").status_code == 404


def test_structure_b_professional_does_not_see_structure_a(structures: Env) -> None:
    """dr2 (structure B) sees p2 only."""
    token = user_token(structures, "dr2", SCOPE)
    assert _ids(api(structures, token, "Patient")) == {"p2"}
    assert api(structures, token, "Observation/o1").status_code == 404


def test_patient_scope_of_a_professional_needs_the_patient_in_reach(structures: Env) -> None:
    """An EHR launch on a usager of another structure is refused at authorization (403 page); one in reach works
    and its patient/ token stays on that usager."""
    _, challenge = pkce()
    params = authorize_params(structures, challenge, scope="openid fhirUser launch patient/*.rs",
                              launch=structures.launch("p2"))
    session = requests.Session()
    first = session.get(structures.url("authorize") + "?" + urlencode(params), allow_redirects=False)
    page = session.get(urljoin(structures.url("authorize"), first.headers["Location"]))
    logged = submit(session, page, fill={"username": "dr1", "password": PASSWORD})
    refused = session.get(urljoin(structures.url("authorize"), logged.headers["Location"]))
    assert refused.status_code == 403 and 'role="alert"' in refused.text
    token = user_token(structures, "dr1", "openid fhirUser launch patient/*.rs", launch=structures.launch("p1"))
    assert api(structures, token, "Patient/p1").status_code == 200
    assert api(structures, token, "Patient/p3").status_code == 404
