"""The SMART scope access policy on every interaction type: a patient-scope token for Patient/p1 never reaches
Patient/p2's record — read, vread, search, _include, _revinclude, chains, _has, $everything, history, compartment
search, writes and transaction / batch entries — and scopes limit types, letters and filtered categories."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.auth.conftest import CATEGORY, Env, api, delegation_consent, patient_token, user_token


@pytest.fixture()
def p1(records: Env) -> str:
    """An access token for usager p1 with patient/*.cruds."""
    records.add_client(scope="openid fhirUser launch/patient offline_access patient/*.cruds patient/*.rs "
                       "patient/*.read patient/Observation.rs patient/Patient.rs user/*.rs "
                       f"patient/Observation.rs?category={CATEGORY}|laboratory")
    records.add_user("jeanne", "Patient/p1")
    return str(patient_token(records, scope="openid fhirUser launch/patient patient/*.cruds")["access_token"])


def _ids(resp: requests.Response) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {e["resource"]["id"] for e in resp.json().get("entry", []) if e["search"]["mode"] in ("match", "include")}


def _obs(patient: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "poids"},
            "subject": {"reference": f"Patient/{patient}"}}


def test_read_of_another_usager_is_not_found(records: Env, p1: str) -> None:
    """Reading p2 or p2's observation with p1's token answers 404 (existence does not leak); p1's data is 200."""
    assert api(records, p1, "Patient/p1").status_code == 200
    assert api(records, p1, "Observation/o1").status_code == 200
    for path in ("Patient/p2", "Observation/o2", "Observation/o2/_history/1", "Patient/p2/_history"):
        resp = api(records, p1, path)
        assert resp.status_code == 404, (path, resp.text)
        assert resp.json()["resourceType"] == "OperationOutcome"


def test_search_is_narrowed_to_the_usager(records: Env, p1: str) -> None:
    """Type searches return p1's resources only, even when asking for p2 explicitly."""
    assert _ids(api(records, p1, "Patient")) == {"p1"}
    assert _ids(api(records, p1, "Observation")) == {"o1", "o1v"}
    assert _ids(api(records, p1, "Observation?subject=Patient/p2")) == set()
    assert _ids(api(records, p1, "Observation?_id=o2")) == set()
    assert _ids(api(records, p1, "RelatedPerson")) == {"rp1"}


def test_include_and_revinclude_stay_in_the_record(records: Env, p1: str) -> None:
    """_include brings the practitioner (not patient data); _revinclude from a practitioner leaves p2's data out."""
    assert _ids(api(records, p1, "Observation?_include=Observation:performer")) == {"o1", "o1v", "dr1"}
    assert _ids(api(records, p1, "Observation?_include=Observation:subject")) == {"o1", "o1v", "p1"}
    revinclude = api(records, p1, "Practitioner?_revinclude=Observation:performer")
    assert _ids(revinclude) == {"dr1", "o1", "o1v"}
    assert _ids(api(records, p1, "Patient?_revinclude=Observation:subject")) == {"p1", "o1", "o1v"}


def test_chains_and_has_cannot_probe_other_records(records: Env, p1: str) -> None:
    """A chain on a record type stays narrowed; chains on other types and _has are refused (403)."""
    assert _ids(api(records, p1, "Observation?subject:Patient.family=Durand")) == set()
    assert _ids(api(records, p1, "Observation?subject:Patient.family=Martin")) == {"o1", "o1v"}
    assert api(records, p1, "Patient?_has:Observation:subject:status=final").status_code == 403
    chained = api(records, p1, "Practitioner?_has:Observation:performer:subject=Patient/p2")
    assert chained.status_code == 403
    assert api(records, p1, "Practitioner").status_code == 200


def test_compartment_search_and_everything(records: Env, p1: str) -> None:
    """Patient/p1/* and $everything work for p1; for p2 they are 404."""
    assert _ids(api(records, p1, "Patient/p1/Observation")) == {"o1", "o1v"}
    assert api(records, p1, "Patient/p2/Observation").status_code == 404
    everything = _ids(api(records, p1, "Patient/p1/$everything"))
    assert {"p1", "o1", "o1v", "rp1"} <= everything and not {"p2", "o2"} & everything
    assert api(records, p1, "Patient/p2/$everything").status_code == 404


def test_history_is_limited(records: Env, p1: str) -> None:
    """Instance history of p1's resources is allowed; type and system history are refused; p2's is 404."""
    assert api(records, p1, "Observation/o1/_history").status_code == 200
    assert api(records, p1, "Observation/o2/_history").status_code == 404
    assert api(records, p1, "Observation/_history").status_code == 403
    assert api(records, p1, "_history").status_code == 403


def test_writes_stay_in_the_record(records: Env, p1: str) -> None:
    """Creating, updating, patching or deleting outside p1's record is refused; inside it works."""
    assert api(records, p1, "Observation", "POST", _obs("p1")).status_code == 201
    assert api(records, p1, "Observation", "POST", _obs("p2")).status_code == 403
    moved = {**_obs("p2"), "id": "o1"}
    assert api(records, p1, "Observation/o1", "PUT", moved).status_code == 403
    assert api(records, p1, "Observation/o2", "PUT", {**_obs("p2"), "id": "o2"}).status_code == 404
    assert api(records, p1, "Observation/o2", "DELETE").status_code == 404
    patch = requests.patch(f"{records.fhir}/Observation/o2", data='[{"op":"replace","path":"/status","value":"amended"}]',
                           headers={"Authorization": f"Bearer {p1}", "Content-Type": "application/json-patch+json"},
                           timeout=10)
    assert patch.status_code == 404
    assert api(records, p1, "Observation?subject=Patient/p2", "DELETE").status_code == 403
    conditional = requests.post(f"{records.fhir}/Observation", json=_obs("p1"), timeout=10, headers={
        "Authorization": f"Bearer {p1}", "Content-Type": "application/fhir+json", "If-None-Exist": "_id=o2"})
    assert conditional.status_code == 403
    # nothing of p2 changed
    stored = records.ctx.repo.run(lambda s: s.read("Observation", "o2"), write=False)
    assert stored.version_id == 1 and not stored.deleted


def test_transaction_entries_are_checked_one_by_one(records: Env, p1: str) -> None:
    """A transaction with one entry outside the record fails as a whole; a batch answers per entry."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _obs("p1"), "request": {"method": "POST", "url": "Observation"}},
        {"resource": _obs("p2"), "request": {"method": "POST", "url": "Observation"}}]}
    resp = api(records, p1, "", "POST", bundle)
    assert resp.status_code == 403, resp.text
    assert _ids(api(records, p1, "Observation")) == {"o1", "o1v"}
    read_other = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Observation/o2"}}]}
    assert api(records, p1, "", "POST", read_other).status_code == 404
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation/o1"}},
        {"request": {"method": "GET", "url": "Observation/o2"}},
        {"request": {"method": "GET", "url": "Observation?subject=Patient/p2"}}]}
    out = api(records, p1, "", "POST", batch).json()
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses[0].startswith("200") and statuses[1].startswith("404")
    assert not out["entry"][2]["resource"].get("entry")


def test_scope_letters_and_types(records: Env, p1: str) -> None:
    """v1 read scopes cannot write; a type scope covers only its type; no scope at all means 403."""
    del p1
    read_only = patient_token(records, scope="launch/patient patient/*.read")["access_token"]
    assert api(records, read_only, "Observation/o1").status_code == 200
    assert api(records, read_only, "Observation", "POST", _obs("p1")).status_code == 403
    patient_only = patient_token(records, scope="launch/patient patient/Patient.rs")["access_token"]
    assert api(records, patient_only, "Patient/p1").status_code == 200
    assert api(records, patient_only, "Observation").status_code == 403
    assert api(records, patient_only, "Observation/o1").status_code == 403
    everything = api(records, patient_only, "Patient/p1/$everything")
    assert _ids(everything) == {"p1"}  # the Bundle is filtered to what the scopes allow


def test_filtered_category_scope(records: Env, p1: str) -> None:
    """patient/Observation.rs?category=…|laboratory: the search returns laboratory results only and the
    vital-signs observation cannot be read."""
    del p1
    scope = f"launch/patient patient/Observation.rs?category={CATEGORY}|laboratory"
    token = patient_token(records, scope=scope)
    assert token["scope"].split()[-1] == f"patient/Observation.rs?category={CATEGORY}|laboratory"
    access = token["access_token"]
    assert _ids(api(records, access, "Observation")) == {"o1"}
    assert api(records, access, "Observation/o1").status_code == 200
    assert api(records, access, "Observation/o1v").status_code == 404


def test_aidant_user_scopes_reach_only_delegated_usagers(records: Env) -> None:
    """An aidant's user/ scopes reach the usagers of their active delegations, all at once in a type search; an
    account link (``dui users link``) grants an aidant nothing; a new delegation applies to the next request."""
    records.add_client(scope="openid fhirUser user/*.rs")
    records.add_user("luc", "RelatedPerson/rp1", patients=("p2",))
    records.put(delegation_consent("d1", "p1", "rp1"))
    access = user_token(records, "luc", "openid user/*.rs")
    assert _ids(api(records, access, "Observation")) == {"o1", "o1v"}
    assert api(records, access, "Patient/p2").status_code == 404  # linked, but no delegation
    assert api(records, access, "Patient/p2/Observation").status_code == 404
    records.put({"resourceType": "RelatedPerson", "id": "rp1", "patient": {"reference": "Patient/p2"}})
    records.put(delegation_consent("d2", "p2", "rp1"))  # rp1 now belongs to p2: d1 no longer matches
    assert api(records, access, "Patient/p1").status_code == 404
    assert _ids(api(records, access, "Observation")) == {"o2"}


def submit_allow(session: requests.Session, consent: requests.Response) -> requests.Response:
    from tests.auth.conftest import approve

    return approve(session, consent)


def test_revoked_token_is_rejected_by_the_api(records: Env, p1: str) -> None:
    """After RFC 7009 revocation the access token gets 401 on the next request."""
    assert api(records, p1, "Patient/p1").status_code == 200
    resp = requests.post(records.url("revoke"), data={"token": p1, "client_id": "app"}, timeout=10)
    assert resp.status_code == 200
    after = api(records, p1, "Patient/p1")
    assert after.status_code == 401 and "invalid_token" in after.headers["WWW-Authenticate"]


def test_operations_and_system_search(records: Env, p1: str) -> None:
    """Operations that change data and type-level Patient operations are refused to a patient token; read-only
    instance operations follow the record bound; a system search with _type is narrowed."""
    assert api(records, p1, "Patient/p1/$identity-validate", "POST",
               {"resourceType": "Parameters"}).status_code == 403
    assert api(records, p1, "Patient/$duplicates").status_code == 403
    assert api(records, p1, "Observation/o2/$meta").status_code == 404
    assert api(records, p1, "Observation/o1/$meta").status_code == 200
    assert _ids(api(records, p1, "?_type=Observation")) == {"o1", "o1v"}
    assert _ids(api(records, p1, "?_type=Observation,Patient")) == {"o1", "o1v", "p1"}


def test_system_read_scope_cannot_run_writing_operations(records: Env) -> None:
    """A Backend Services token with system/*.rs cannot run an operation that changes data."""
    from tests.auth.test_backend_services import JWKS, assertion, token_request

    records.add_client("backend", auth_method="private_key_jwt", jwks=JWKS, scope="system/*.rs",
                       grant_types=["client_credentials"], redirect_uris=[])
    access = token_request(records, assertion(records)).json()["access_token"]
    assert api(records, access, "Patient/p1/$everything").status_code == 200
    resp = api(records, access, "Patient/p1/$identity-validate", "POST", {"resourceType": "Parameters"})
    assert resp.status_code == 403
