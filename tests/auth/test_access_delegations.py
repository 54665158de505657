"""Aidant delegations (fhirserver.auth.delegation): an aidant reaches a usager only through an active, current
delegation Consent; revocation and expiry apply to the next request; denied types are "not found"; without
``collect`` an aidant cannot write, with it they may only add; delegation Consents are validated on write."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.auth.conftest import Env, api, delegation_consent, now_iso, patient_token, user_token

SCOPE = "openid fhirUser user/*.cruds"


def _ids(resp: requests.Response) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {e["resource"]["id"] for e in resp.json().get("entry", []) if e["search"]["mode"] in ("match", "include")}


def _obs(patient: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "tension"},
            "subject": {"reference": f"Patient/{patient}"}}


@pytest.fixture()
def aidant(records: Env) -> Env:
    """Luc (RelatedPerson/rp1 of p1) with client "app" allowed user/*.cruds; no delegation yet."""
    records.add_client(scope="openid fhirUser launch/patient user/*.cruds patient/*.cruds")
    records.add_user("luc", "RelatedPerson/rp1")
    return records


def test_no_delegation_no_access(aidant: Env) -> None:
    """Without a delegation the aidant reaches nothing of p1 (404), and searches are empty."""
    token = user_token(aidant, "luc", SCOPE)
    assert api(aidant, token, "Patient/p1").status_code == 404
    assert _ids(api(aidant, token, "Observation")) == set()


def test_active_delegation_reads_then_revocation_applies_next_request(aidant: Env) -> None:
    """With delegation d1 the aidant reads p1 (never p2); once d1 is set inactive the same token gets 404."""
    aidant.put(delegation_consent("d1", "p1", "rp1"))
    token = user_token(aidant, "luc", SCOPE)
    assert api(aidant, token, "Patient/p1").status_code == 200
    assert _ids(api(aidant, token, "Observation")) == {"o1", "o1v"}
    assert api(aidant, token, "Observation/o2").status_code == 404
    aidant.put(delegation_consent("d1", "p1", "rp1", status="inactive"))
    assert api(aidant, token, "Patient/p1").status_code == 404
    assert _ids(api(aidant, token, "Observation")) == set()


def test_expired_delegation_gives_nothing(aidant: Env) -> None:
    """A delegation whose period ended grants nothing."""
    aidant.put(delegation_consent("d1", "p1", "rp1", start=now_iso(-30), end=now_iso(-1)))
    token = user_token(aidant, "luc", SCOPE)
    assert api(aidant, token, "Patient/p1").status_code == 404


def test_excluded_type_is_not_found(aidant: Env) -> None:
    """A delegation denying Observation hides p1's observations (404 on read, absent from searches)."""
    aidant.put(delegation_consent("d1", "p1", "rp1", deny_types=("Observation",)))
    token = user_token(aidant, "luc", SCOPE)
    assert api(aidant, token, "Patient/p1").status_code == 200
    assert api(aidant, token, "Observation/o1").status_code == 404
    resp = api(aidant, token, "Observation?_total=accurate")
    assert _ids(resp) == set() and resp.json()["total"] == 0


def test_excluded_code_is_hidden(aidant: Env) -> None:
    """A delegation denying a document type code hides the documents of that type ("directives anticipées")."""
    loinc = "http://loinc.org"
    aidant.put(delegation_consent("d1", "p1", "rp1", deny_codes=((loinc, "75320-2"),)))
    for doc, code in (("da", "75320-2"), ("cr", "11488-4")):
        aidant.put({"resourceType": "DocumentReference", "id": doc, "status": "current",
                    "type": {"coding": [{"system": loinc, "code": code}]}, "subject": {"reference": "Patient/p1"},
                    "content": [{"attachment": {"contentType": "text/plain", "url": "Binary/x"}}]})
    token = user_token(aidant, "luc", SCOPE)
    assert api(aidant, token, "DocumentReference/da").status_code == 404
    assert api(aidant, token, "DocumentReference/cr").status_code == 200
    assert _ids(api(aidant, token, "DocumentReference")) == {"cr"}


def test_read_only_delegation_cannot_write(aidant: Env) -> None:
    """Without collect, create is 403; update, patch and delete are 403 for any aidant."""
    aidant.put(delegation_consent("d1", "p1", "rp1"))
    token = user_token(aidant, "luc", SCOPE)
    assert api(aidant, token, "Observation", "POST", _obs("p1")).status_code == 403
    assert api(aidant, token, "Observation/o1", "PUT", {**_obs("p1"), "id": "o1"}).status_code == 403
    assert api(aidant, token, "Observation/o1", "DELETE").status_code == 403


def test_collect_delegation_may_only_add(aidant: Env) -> None:
    """With collect the aidant creates data for p1 (not for p2) but still cannot update nor delete it."""
    aidant.put(delegation_consent("d1", "p1", "rp1", actions=("access", "collect")))
    token = user_token(aidant, "luc", SCOPE)
    created = api(aidant, token, "Observation", "POST", _obs("p1"))
    assert created.status_code == 201, created.text
    assert api(aidant, token, "Observation", "POST", _obs("p2")).status_code == 403
    new_id = created.json()["id"]
    assert api(aidant, token, f"Observation/{new_id}", "PUT", {**_obs("p1"), "id": new_id}).status_code == 403
    assert api(aidant, token, f"Observation/{new_id}", "DELETE").status_code == 403


def test_aidant_cannot_write_consents(aidant: Env) -> None:
    """Even with collect, an aidant cannot create a delegation (nor any Consent) for themselves."""
    aidant.put(delegation_consent("d1", "p1", "rp1", actions=("access", "collect")))
    token = user_token(aidant, "luc", SCOPE)
    body = {k: v for k, v in delegation_consent("d9", "p1", "rp1").items() if k != "id"}
    assert api(aidant, token, "Consent", "POST", body).status_code == 403


def test_usager_revokes_their_delegation(aidant: Env) -> None:
    """The usager, with a patient-scope token, sets their delegation inactive; the aidant loses access."""
    aidant.put(delegation_consent("d1", "p1", "rp1"))
    aidant.add_user("jeanne", "Patient/p1")
    luc = user_token(aidant, "luc", SCOPE)
    assert api(aidant, luc, "Patient/p1").status_code == 200
    jeanne = str(patient_token(aidant, "jeanne", scope="openid fhirUser launch/patient patient/*.cruds")
                 ["access_token"])
    revoked = api(aidant, jeanne, "Consent/d1", "PUT", delegation_consent("d1", "p1", "rp1", status="inactive"))
    assert revoked.status_code == 200, revoked.text
    assert api(aidant, luc, "Patient/p1").status_code == 404


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["provision"].pop("actor"), "actor"),
    (lambda c: c["provision"]["period"].pop("end"), "end"),
    (lambda c: c["provision"]["period"].update(start="2026-06-01", end="2026-05-01"), "before its start"),
    (lambda c: c["provision"]["period"].update(start="2026-01-01", end="2028-01-01"), "at most"),
    (lambda c: c["provision"]["actor"][0]["reference"].update(reference="RelatedPerson/nobody"),
     "not a RelatedPerson of Patient/p1"),
])
def test_invalid_delegation_is_422(records: Env, change: Any, message: str) -> None:
    """A malformed delegation Consent is refused with a 422 OperationOutcome naming the problem."""
    from fhirserver.interactions.context import FhirRequest
    from fhirserver.interactions.router import handle

    consent = delegation_consent("dx", "p1", "rp1")
    change(consent)
    resp = handle(FhirRequest(method="PUT", path="Consent/dx", body=consent, base_url=records.fhir), records.ctx)
    assert resp.status == 422, resp.resource
    assert message in resp.resource["issue"][0]["diagnostics"]


def test_delegation_of_another_usagers_related_person_grants_nothing(aidant: Env) -> None:
    """A delegation from p2 naming rp1 (a RelatedPerson of p1) is refused on write and grants nothing."""
    from fhirserver.interactions.context import FhirRequest
    from fhirserver.interactions.router import handle

    resp = handle(FhirRequest(method="PUT", path="Consent/dz", body=delegation_consent("dz", "p2", "rp1"),
                              base_url=aidant.fhir), aidant.ctx)
    assert resp.status == 422
    token = user_token(aidant, "luc", SCOPE)
    assert api(aidant, token, "Patient/p2").status_code == 404


def test_cli_add_list_revoke(aidant: Env, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``dui delegations add`` grants access through a validated Consent, ``list`` shows it in force and
    ``revoke`` ends it; a delegation beyond the maximum length is refused (exit 2)."""
    from fhirserver.cli import main

    base = ["--database-url", database_url, "delegations"]
    token = user_token(aidant, "luc", SCOPE)
    assert main(base + ["add", "--patient", "p1", "--related-person", "rp1", "--end", now_iso(30),
                        "--id", "cli1"]) == 0
    assert api(aidant, token, "Patient/p1").status_code == 200
    assert main(base + ["list", "--patient", "p1"]) == 0
    assert "Consent/cli1" in capsys.readouterr().out
    assert main(base + ["revoke", "--id", "cli1"]) == 0
    assert api(aidant, token, "Patient/p1").status_code == 404
    assert main(base + ["add", "--patient", "p1", "--related-person", "rp1", "--start", "2026-01-01",
                        "--end", "2028-01-01"]) == 2
    assert "at most" in capsys.readouterr().err
    # each change made from the command line is in the usager's audit trail (granted, revoked, refused)
    events = aidant.ctx.repo.run(lambda s: s.search(aidant.ctx.parser.parse(
        ("AuditEvent",), [("patient", "Patient/p1"), ("_count", "100")], aidant.fhir)), write=False)
    outcomes = sorted((m.content or {}).get("outcome", "") for m in events.matches
                      if "(dui delegations)" in (m.content or {}).get("outcomeDesc", ""))
    assert outcomes == ["0", "0", "4"], outcomes
    # and each interaction the command ran, as the system principal ``dui delegations``
    rest = [m.content or {} for m in events.matches if (m.content or {}).get("type", {}).get("code") == "rest"
            and (m.content or {})["agent"][0].get("who", {}).get("identifier", {}).get("value") == "dui-system"]
    assert {e["subtype"][0]["code"] for e in rest} >= {"update", "search-type", "read"}
    assert {a.get("name") for e in rest for a in e["agent"]} == {"dui delegations"}
