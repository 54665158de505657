"""Relying-party checks against the lying provider: every twisted answer ends on a French page, no session."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.auth.conftest import Env, parse_page
from tests.auth.oidc.conftest import RPPS, audit_events, provider_links, through_provider
from tests.auth.oidc.evil_idp import EvilIdp

PSC_CLAIMS = {"SubjectNameID": "8" + RPPS, "given_name": "Claire", "family_name": "PETIT"}


def evil_login(env: Env, evil: EvilIdp, provider: str = "evil-psc", **mode: object) -> requests.Response:
    evil.mode.setdefault("claims", PSC_CLAIMS)
    evil.mode.update(mode)
    session = requests.Session()
    page = session.get(env.url("login") + "?next=/auth/apps")
    return through_provider(session, env, provider_links(page.text)[provider])


def logged_in(resp: requests.Response) -> bool:
    return resp.status_code == 303 and "dui_auth_session" in resp.cookies


def test_honest_answer_logs_the_professional_in(oidc: Env, evil: EvilIdp) -> None:
    """A correct RS256 id_token with the right nonce, iss, aud and acr opens a session for Practitioner/dr1."""
    resp = evil_login(oidc, evil)
    assert logged_in(resp), resp.text
    assert resp.headers["Location"] == "/auth/apps"


def test_es256_id_token_is_accepted(oidc: Env, evil: EvilIdp) -> None:
    """An ES256 id_token signed by the provider's EC key is accepted (FranceConnect recommends ES256)."""
    assert logged_in(evil_login(oidc, evil, alg="ES256"))


@pytest.mark.parametrize(("mode", "reason"), [
    ({"nonce": "not-the-nonce-we-sent-0123456789abcdef"}, "id_token nonce does not match"),
    ({"iss": "http://127.0.0.1:1/another-issuer"}, "id_token iss is not the provider's issuer"),
    ({"aud": "someone-else"}, "id_token aud is not our client id"),
    ({"alg": "none"}, "signature algorithm 'none' not accepted"),
    ({"signer": "stranger"}, "bad signature"),
    ({"kid": "ghost"}, "unknown signing key"),
    ({"acr": "eidas0"}, "acr 'eidas0' lower than eidas1"),
    ({"acr": None}, "acr None lower than eidas1"),
    ({"userinfo_sub": "another-subject"}, "userinfo sub differs from the id_token sub"),
    ({"callback_iss": "http://127.0.0.1:1/mix-up"}, "callback iss is not the provider's issuer"),
    ({"iat": 1_000_000}, "id_token iat missing or out of range"),
], ids=["nonce", "iss", "aud", "alg-none", "bad-signature", "unknown-kid", "low-acr", "no-acr", "userinfo-sub",
        "callback-iss", "old-iat"])
def test_twisted_answer_is_refused(oidc: Env, evil: EvilIdp, mode: dict[str, object], reason: str) -> None:
    """Each twisted provider answer is refused for its own reason, with a French alert and no session cookie."""
    resp = evil_login(oidc, evil, **mode)
    assert resp.status_code == 401, resp.text
    assert "dui_auth_session" not in resp.cookies
    assert parse_page(resp.text).alerts and 'lang="fr"' in resp.text
    details = [str(e.get("outcomeDesc")) for e in audit_events(oidc) if e["subtype"][0]["code"] == "login"]
    assert any(d.startswith(reason) for d in details), details


def test_rotated_key_is_fetched_again(oidc: Env, evil: EvilIdp) -> None:
    """After a login caches the JWKS, an id_token signed with a newly published key is verified after one refetch."""
    assert logged_in(evil_login(oidc, evil))
    evil.rotate()
    assert logged_in(evil_login(oidc, evil))


def test_signed_userinfo_is_verified(oidc: Env, evil: EvilIdp) -> None:
    """A signed application/jwt userinfo is verified and its claims used (the IDNPS comes only from userinfo)."""
    evil.mode["claims"] = {}
    evil.mode["userinfo"] = "jwt"
    original = evil.userinfo_body

    def with_idnps(client_id: str) -> object:
        evil.mode["claims"] = PSC_CLAIMS
        return original(client_id)

    evil.userinfo_body = with_idnps  # type: ignore[method-assign]
    try:
        assert logged_in(evil_login(oidc, evil))
    finally:
        evil.userinfo_body = original  # type: ignore[method-assign]


def test_signed_userinfo_with_bad_signature_is_refused(oidc: Env, evil: EvilIdp) -> None:
    """A signed userinfo whose signature does not verify is refused."""
    original = evil._sign
    calls = []

    def second_is_forged(claims: dict[str, object]) -> str:
        calls.append(1)
        if len(calls) == 2:
            evil.mode["signer"] = "stranger"
        return original(claims)

    evil._sign = second_is_forged  # type: ignore[method-assign]
    try:
        resp = evil_login(oidc, evil, userinfo="jwt")
    finally:
        evil._sign = original  # type: ignore[method-assign]
    assert resp.status_code == 401 and len(calls) == 2


def test_encrypted_userinfo_is_decrypted_then_verified(oidc: Env, evil: EvilIdp) -> None:
    """A JWE userinfo (RSA-OAEP-256, A256GCM) is decrypted with our key, then its signature verified."""
    oidc.put({"resourceType": "Patient", "id": "p1", "name": [{"family": "Martin"}], "birthDate": "1931-04-02"})
    resp = evil_login(oidc, evil, provider="evil-psc", userinfo="jwe")
    assert resp.status_code == 401  # evil-psc has no decryption key configured
    resp = evil_login(oidc, evil, provider="evil-fc", userinfo="jwe")
    assert resp.status_code == 403 and "invitation" in resp.text  # decrypted, verified; then no binding


def test_error_callback_shows_a_french_page(oidc: Env, evil: EvilIdp) -> None:
    """error=access_denied on the callback ends on a French page and no session."""
    resp = evil_login(oidc, evil, error="access_denied")
    assert resp.status_code == 401 and "annulée ou refusée" in resp.text
    assert "dui_auth_session" not in resp.cookies


def test_state_mismatch_is_refused(oidc: Env, evil: EvilIdp) -> None:
    """A callback whose state is not the one this browser sent is refused."""
    resp = evil_login(oidc, evil, state="forged-state-0123456789abcdefghijklmnop")
    assert resp.status_code == 400 and "Connexion expirée" in resp.text


def test_callback_from_another_browser_is_refused(oidc: Env, evil: EvilIdp) -> None:
    """A genuine callback URL replayed in another browser (no binding cookie) is refused."""
    evil.mode["claims"] = PSC_CLAIMS
    session = requests.Session()
    page = session.get(oidc.url("login"))
    to_idp = session.get(oidc.base + provider_links(page.text)["evil-psc"], allow_redirects=False)
    back = session.get(to_idp.headers["Location"], allow_redirects=False)
    resp = requests.get(back.headers["Location"], allow_redirects=False)
    assert resp.status_code == 400 and "dui_auth_session" not in resp.cookies


def test_authorization_request_carries_state_nonce_pkce_and_acr(oidc: Env, evil: EvilIdp) -> None:
    """The request sent to the provider has state and nonce of 32+ characters, PKCE S256 and acr_values."""
    session = requests.Session()
    page = session.get(oidc.url("login"))
    to_idp = session.get(oidc.base + provider_links(page.text)["evil-psc"], allow_redirects=False)
    query = {k: v[0] for k, v in parse_qs(urlsplit(to_idp.headers["Location"]).query).items()}
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32 and query["state"] != query["nonce"]
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["acr_values"] == "eidas1" and query["scope"] == "openid scope_all"
    assert query["redirect_uri"] == oidc.url("oidc/callback")


def test_login_success_and_failure_are_audited(oidc: Env, evil: EvilIdp) -> None:
    """A refused and an accepted external login each leave a login AuditEvent (failure, then success)."""
    evil_login(oidc, evil, aud="someone-else")
    evil.reset()
    evil_login(oidc, evil)
    logins = [(e["outcome"], e.get("outcomeDesc")) for e in audit_events(oidc)
              if e["subtype"][0]["code"] == "login"]
    assert ("4", "id_token aud is not our client id") in logins
    assert ("0", "psc login") in logins
