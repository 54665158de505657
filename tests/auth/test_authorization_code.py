"""Negative cases of the authorization-code flow (SMART app-launch.html, RFC 7636, RFC 9700; ASVS 10.4.x):
each bad request gets no code or no token, with the OAuth error the spec names."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
import requests

from tests.auth.conftest import (
    REDIRECT,
    Env,
    api,
    approve,
    authorize_params,
    browse_to_consent,
    code_from,
    exchange,
    get_code,
    pkce,
    redirect_error,
)


@pytest.fixture()
def jeanne(records: Env) -> Env:
    records.add_client()
    records.add_user("jeanne", "Patient/p1")
    return records


def _authorize(env: Env, params: dict[str, str]) -> requests.Response:
    return requests.get(env.url("authorize") + "?" + urlencode(params), allow_redirects=False, timeout=10)


def test_missing_pkce_gets_no_code(jeanne: Env) -> None:
    """An authorization request without code_challenge is refused with an error redirect."""
    params = authorize_params(jeanne, "", code_challenge_method="")
    query = redirect_error(_authorize(jeanne, params))
    assert query["error"] == ["invalid_request"] and "code" not in query
    assert "PKCE" in query["error_description"][0]


def test_plain_pkce_is_refused(jeanne: Env) -> None:
    """code_challenge_method=plain is refused (S256 only)."""
    verifier, _ = pkce()
    params = authorize_params(jeanne, verifier, code_challenge_method="plain")
    query = redirect_error(_authorize(jeanne, params))
    assert query["error"] == ["invalid_request"] and "S256" in query["error_description"][0]


def test_confidential_client_also_needs_pkce(jeanne: Env) -> None:
    """A confidential client is not exempt from PKCE."""
    jeanne.add_client("conf", auth_method="client_secret_basic", secret="s3cret-s3cret")
    params = authorize_params(jeanne, "", client_id="conf", code_challenge_method="")
    assert redirect_error(_authorize(jeanne, params))["error"] == ["invalid_request"]


@pytest.mark.parametrize("aud", ["http://evil.example/fhir", "http://127.0.0.1:1/fhir", None])
def test_wrong_or_missing_aud_gets_no_code(jeanne: Env, aud: str | None) -> None:
    """aud must be this server's FHIR base URL."""
    _, challenge = pkce()
    params = authorize_params(jeanne, challenge)
    if aud is None:
        del params["aud"]
    else:
        params["aud"] = aud
    query = redirect_error(_authorize(jeanne, params))
    assert query["error"] == ["invalid_request"] and "aud" in query["error_description"][0]


def test_aud_with_trailing_slash_is_accepted(jeanne: Env) -> None:
    """aud is compared without its trailing slash (clients send the base as configured)."""
    _, challenge = pkce()
    params = authorize_params(jeanne, challenge, aud=jeanne.fhir + "/")
    resp = _authorize(jeanne, params)
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1:9/callback/", "http://127.0.0.1:9/callback?x=1",
                                          "http://127.0.0.1:9/other"])
def test_unregistered_redirect_uri_is_not_redirected_to(jeanne: Env, redirect_uri: str) -> None:
    """A redirect_uri that is not exactly a registered one gets an error page, never a redirect."""
    _, challenge = pkce()
    resp = _authorize(jeanne, authorize_params(jeanne, challenge, redirect_uri=redirect_uri))
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert 'lang="fr"' in resp.text and "Redirect URI" in resp.text


def test_unknown_client_gets_error_page(jeanne: Env) -> None:
    """client_id=BAD_CLIENT_ID: an error page (no redirect to an unverified URI)."""
    _, challenge = pkce()
    resp = _authorize(jeanne, authorize_params(jeanne, challenge, client_id="BAD_CLIENT_ID"))
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_invalid_scope_is_refused(jeanne: Env) -> None:
    """A malformed SMART scope is invalid_scope."""
    _, challenge = pkce()
    query = redirect_error(_authorize(jeanne, authorize_params(jeanne, challenge, scope="patient/Observation.dus")))
    assert query["error"] == ["invalid_scope"]


def test_reused_code_is_refused_and_revokes_its_tokens(jeanne: Env) -> None:
    """A code used twice: the second exchange fails and the tokens of the first are revoked."""
    verifier, challenge = pkce()
    code = get_code(jeanne, "jeanne", challenge)
    first = exchange(jeanne, code, verifier)
    assert first.status_code == 200
    token = first.json()
    assert api(jeanne, token["access_token"], "Patient/p1").status_code == 200
    second = exchange(jeanne, code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert api(jeanne, token["access_token"], "Patient/p1").status_code == 401
    refresh = requests.post(jeanne.url("token"), data={"grant_type": "refresh_token", "client_id": "app",
                                                       "refresh_token": token["refresh_token"]}, timeout=10)
    assert refresh.status_code == 400


def test_expired_code_is_refused(jeanne: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A code older than auth_code_ttl_seconds is invalid_grant."""
    server = jeanne.app.extensions["dui_auth"].server
    monkeypatch.setattr(server, "settings", server.settings.with_overrides(auth_code_ttl_seconds=1))
    verifier, challenge = pkce()
    code = get_code(jeanne, "jeanne", challenge)
    time.sleep(1.2)
    resp = exchange(jeanne, code, verifier)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_bad_code_is_refused(jeanne: Env) -> None:
    """code=BAD_CODE is invalid_grant."""
    resp = exchange(jeanne, "BAD_CODE", pkce()[0])
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("kind", ["missing", "blank", "wrong", "challenge"])
def test_invalid_code_verifier_is_refused(jeanne: Env, kind: str) -> None:
    """The code_verifier must be present and hash to the challenge (missing, blank, wrong, or the challenge
    itself as a plain verifier: all refused)."""
    verifier, challenge = pkce()
    code = get_code(jeanne, "jeanne", challenge)
    value = {"missing": None, "blank": "", "wrong": pkce()[0], "challenge": challenge}[kind]
    resp = exchange(jeanne, code, value)
    assert resp.status_code in (400, 401), resp.text
    assert resp.json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in resp.json()


def test_token_redirect_uri_must_match(jeanne: Env) -> None:
    """The redirect_uri of the token request must be the one of the authorization request."""
    verifier, challenge = pkce()
    code = get_code(jeanne, "jeanne", challenge)
    resp = exchange(jeanne, code, verifier, redirect_uri="http://127.0.0.1:9/other")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_code_is_bound_to_its_client(jeanne: Env) -> None:
    """Another client cannot redeem the code."""
    jeanne.add_client("other")
    verifier, challenge = pkce()
    code = get_code(jeanne, "jeanne", challenge)
    resp = exchange(jeanne, code, verifier, client_id="other")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_confidential_client_with_basic_auth(jeanne: Env) -> None:
    """A symmetric confidential client authenticates with HTTP Basic (and client_id in the body, as fhirclient
    sends it); a bad secret is invalid_client and the client cannot fall back to public authentication."""
    jeanne.add_client("conf", auth_method="client_secret_basic", secret="s3cret-s3cret")
    verifier, challenge = pkce()
    code = get_code(jeanne, "jeanne", challenge, client_id="conf")
    bad = exchange(jeanne, code, verifier, client_id="conf", auth=("conf", "wrong-secret"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    verifier, challenge = pkce()
    code = get_code(jeanne, "jeanne", challenge, client_id="conf")
    public = exchange(jeanne, code, verifier, client_id="conf")
    assert public.status_code == 401 and public.json()["error"] == "invalid_client"
    verifier, challenge = pkce()
    code = get_code(jeanne, "jeanne", challenge, client_id="conf")
    ok = exchange(jeanne, code, verifier, client_id="conf", auth=("conf", "s3cret-s3cret"), state="ignored")
    assert ok.status_code == 200, ok.text


def test_scopes_are_limited_to_the_client_registration(jeanne: Env) -> None:
    """Scopes the client is not registered for are dropped from the grant."""
    verifier, challenge = pkce()
    code = get_code(jeanne, "jeanne", challenge, scope="openid launch/patient patient/*.rs system/*.rs")
    token = exchange(jeanne, code, verifier).json()
    assert "system/*.rs" not in token["scope"].split()
    assert "patient/*.rs" in token["scope"].split()


def test_consent_form_csrf_is_checked(jeanne: Env) -> None:
    """A consent POST without the session's CSRF token is refused (no code)."""
    _, challenge = pkce()
    session = requests.Session()
    url = jeanne.url("authorize") + "?" + urlencode(authorize_params(jeanne, challenge))
    browse_to_consent(jeanne, session, url, "jeanne")
    data = {**authorize_params(jeanne, challenge), "dui_action": "allow", "dui_csrf": "forged"}
    resp = session.post(jeanne.url("authorize"), data=data, allow_redirects=False)
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_picker_refuses_a_patient_the_user_may_not_act_for(records: Env) -> None:
    """A forged dui_patient outside the user's usagers re-shows the picker with an error, no code."""
    env = records
    env.add_client()
    env.add_user("luc", "RelatedPerson/rp1")
    from tests.auth.conftest import delegation_consent

    env.put(delegation_consent("d1", "p1", "rp1"))  # aidants act through delegations (account links grant nothing)
    _, challenge = pkce()
    session = requests.Session()
    consent = browse_to_consent(env, session, env.url("authorize") + "?" + urlencode(
        authorize_params(env, challenge)), "luc")
    resp = approve(session, consent, patient="p2")
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert "Choisissez l" in resp.text and 'role="alert"' in resp.text


def test_code_flow_redirect_keeps_state(jeanne: Env) -> None:
    """The state is echoed exactly with the code."""
    _, challenge = pkce()
    params = authorize_params(jeanne, challenge, state="abc-123_XYZ")
    session = requests.Session()
    consent = browse_to_consent(jeanne, session, jeanne.url("authorize") + "?" + urlencode(params), "jeanne")
    resp = approve(session, consent)
    assert code_from(resp)
    assert resp.headers["Location"].startswith(REDIRECT) and "state=abc-123_XYZ" in resp.headers["Location"]
