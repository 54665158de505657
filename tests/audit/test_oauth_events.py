"""Events of the authorization server: consent given at the authorize step, tokens issued (authorization_code,
refresh_token, client_credentials) and token requests refused — never the token itself."""

from __future__ import annotations

from typing import Any

import requests

from tests.audit.conftest import patients, stored_events
from tests.auth.conftest import Env, patient_token
from tests.auth.test_backend_services import JWKS, assertion, token_request


def _kind(env: Env, kind: str) -> list[dict[str, Any]]:
    return [e for e in stored_events(env, subtype=kind)]


def test_consent_and_code_exchange_are_recorded(people: Env) -> None:
    """jeanne's authorization gives a consent event and a token event, both in p1's compartment."""
    token = patient_token(people, "jeanne", scope="openid fhirUser launch/patient offline_access patient/*.rs")
    [consent] = _kind(people, "consent")
    [issued] = _kind(people, "token")
    for event in (consent, issued):
        assert event["outcome"] == "0" and patients(event) == {"Patient/p1"}
        assert event["agent"][0]["who"] == {"reference": "Patient/p1"} and event["agent"][0]["altId"] == "jeanne"
        assert event["agent"][1]["who"]["identifier"]["value"] == "app"
    assert issued["outcomeDesc"].startswith("authorization_code")
    assert token["access_token"] not in str(issued) and token["refresh_token"] not in str(issued)


def test_refresh_is_recorded(people: Env) -> None:
    """A refresh_token grant gives a second token event."""
    token = patient_token(people, "jeanne", scope="openid fhirUser launch/patient offline_access patient/*.rs")
    resp = requests.post(people.url("token"), data={"grant_type": "refresh_token", "client_id": "app",
                                                    "refresh_token": token["refresh_token"]}, timeout=10)
    assert resp.status_code == 200
    assert sorted(e["outcomeDesc"].split(":")[0] for e in _kind(people, "token")) == [
        "authorization_code", "refresh_token"]


def test_a_refused_token_request_is_recorded(people: Env) -> None:
    """An invalid authorization code gives a token failure event naming the claimed client."""
    resp = requests.post(people.url("token"), timeout=10, data={
        "grant_type": "authorization_code", "code": "forged", "client_id": "app", "code_verifier": "x" * 43,
        "redirect_uri": "http://127.0.0.1:9/callback"})
    assert resp.status_code == 400
    [event] = _kind(people, "token")
    assert event["outcome"] == "4" and "invalid_grant" in event["outcomeDesc"]
    assert event["agent"][0]["who"]["identifier"]["value"] == "app"


def test_client_credentials_are_recorded(people: Env) -> None:
    """A Backend Services token gives a token event with the client as only agent."""
    people.add_client("backend", auth_method="private_key_jwt", jwks=JWKS, scope="system/*.rs",
                      grant_types=["client_credentials"], redirect_uris=[])
    assert token_request(people, assertion(people)).status_code == 200
    [event] = _kind(people, "token")
    assert event["outcomeDesc"].startswith("client_credentials")
    assert [a["who"]["identifier"]["value"] for a in event["agent"]] == ["backend"]
