"""Refresh tokens (app-launch.html#refresh-access-token, best-practices.html): bound to their client, rotated,
never widening the scope, and a reused one revokes the whole grant."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.auth.conftest import Env, api, exchange, get_code, patient_token, pkce


@pytest.fixture()
def jeanne(records: Env) -> Env:
    records.add_client(scope="openid fhirUser launch/patient offline_access patient/*.rs patient/*.cruds")
    records.add_user("jeanne", "Patient/p1")
    return records


def _refresh(env: Env, refresh_token: str, client_id: str = "app", **extra: str) -> requests.Response:
    return requests.post(env.url("token"), data={"grant_type": "refresh_token", "client_id": client_id,
                                                 "refresh_token": refresh_token, **extra}, timeout=10)


def _token(env: Env, scope: str = "openid fhirUser launch/patient offline_access patient/*.rs") -> dict[str, Any]:
    return patient_token(env, scope=scope)


def test_refresh_rotates_and_keeps_the_launch_context(jeanne: Env) -> None:
    """A refresh returns a new access token, a new refresh token, expires_in, the scope and the patient."""
    token = _token(jeanne)
    resp = _refresh(jeanne, token["refresh_token"])
    assert resp.status_code == 200, resp.text
    assert "no-store" in resp.headers["Cache-Control"]
    new = resp.json()
    assert new["access_token"] != token["access_token"] and new["refresh_token"] != token["refresh_token"]
    assert new["expires_in"] > 0 and new["scope"] == token["scope"] and new["patient"] == "p1"
    assert api(jeanne, new["access_token"], "Patient/p1").status_code == 200


def test_refresh_may_narrow_the_scope(jeanne: Env) -> None:
    """A refresh asking for a subset gets exactly that subset."""
    token = _token(jeanne)
    resp = _refresh(jeanne, token["refresh_token"], scope="patient/Patient.r offline_access")
    assert resp.status_code == 200, resp.text
    narrowed = resp.json()
    assert narrowed["scope"] == "patient/Patient.r offline_access"
    assert api(jeanne, narrowed["access_token"], "Observation").status_code == 403


def test_scope_escalation_on_refresh_is_refused(jeanne: Env) -> None:
    """Asking for a scope the grant does not cover is invalid_scope, and the refresh token stays usable."""
    token = _token(jeanne)
    resp = _refresh(jeanne, token["refresh_token"], scope="patient/*.cruds")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_scope"
    assert _refresh(jeanne, token["refresh_token"]).status_code == 200


def test_reused_refresh_token_revokes_the_grant(jeanne: Env) -> None:
    """Presenting a rotated-out refresh token again fails and revokes every token of the grant."""
    token = _token(jeanne)
    rotated = _refresh(jeanne, token["refresh_token"]).json()
    assert api(jeanne, rotated["access_token"], "Patient/p1").status_code == 200
    replay = _refresh(jeanne, token["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert api(jeanne, rotated["access_token"], "Patient/p1").status_code == 401
    assert _refresh(jeanne, rotated["refresh_token"]).status_code == 400


def test_refresh_token_is_bound_to_its_client(jeanne: Env) -> None:
    """Another client presenting the refresh token is refused; the owner can still use it."""
    jeanne.add_client("other")
    token = _token(jeanne)
    resp = _refresh(jeanne, token["refresh_token"], client_id="other")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert _refresh(jeanne, token["refresh_token"]).status_code == 200


def test_no_refresh_token_without_offline_access(jeanne: Env) -> None:
    """Without offline_access (or online_access) no refresh token is issued."""
    token = _token(jeanne, scope="openid launch/patient patient/*.rs")
    assert "refresh_token" not in token


def test_invalid_refresh_token_is_refused(jeanne: Env) -> None:
    """An unknown refresh token is invalid_grant."""
    assert _refresh(jeanne, "not-a-refresh-token").json()["error"] == "invalid_grant"


def test_public_client_refresh_without_client_id(jeanne: Env) -> None:
    """A public client may refresh with only grant_type and refresh_token (the SMART refresh request; client-js
    sends no client_id); the rotated token still belongs to that client."""
    first = _token(jeanne)
    resp = requests.post(jeanne.url("token"), data={"grant_type": "refresh_token",
                                                     "refresh_token": first["refresh_token"]}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["refresh_token"] != first["refresh_token"]
    again = requests.post(jeanne.url("token"), data={"grant_type": "refresh_token",
                                                      "refresh_token": first["refresh_token"]}, timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_confidential_client_refresh_without_credentials_is_refused(records: Env) -> None:
    """A confidential client's refresh token alone does not authenticate it: invalid_client."""
    records.add_client("web", auth_method="client_secret_basic", secret="s3cret-web-client-value",
                       scope="openid fhirUser launch/patient offline_access patient/*.rs")
    records.add_user("jeanne", "Patient/p1")
    verifier, challenge = pkce()
    code = get_code(records, "jeanne", challenge, client_id="web")
    token = exchange(records, code, verifier, client_id="web", auth=("web", "s3cret-web-client-value")).json()
    resp = requests.post(records.url("token"), data={"grant_type": "refresh_token",
                                                     "refresh_token": token["refresh_token"]}, timeout=10)
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
