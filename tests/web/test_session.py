"""The browser session of the shell: a grant of the authorization server (session → principal through
bearer.principal_of), idle and absolute lifetimes, revocation from "Applications connectées", logout."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import update

from fhirserver.auth.bearer import access_token_claims, principal_from, sign_access_token
from fhirserver.auth.first_party import PROFESSIONAL, USAGER
from fhirserver.auth.models import SessionRecord, utcnow
from fhirserver.auth.schema import auth_token
from fhirserver.auth.urls import urls_for
from fhirserver.web import COOKIE, WebState, web_state
from tests.auth.conftest import login, parse_page, submit
from tests.web.conftest import Portal, signed_in


def _record(portal: Portal, browser: requests.Session) -> SessionRecord:
    found = portal.env.store.session_record(browser.cookies.get(COOKIE))
    assert found is not None
    return found


def _probe(portal: Portal, browser: requests.Session, path: str = "/portail/sonde") -> requests.Response:
    return browser.get(portal.env.base + path, allow_redirects=False, timeout=10)


def _sent_to_login(resp: requests.Response, path: str = "/portail/sonde") -> None:
    assert resp.status_code == 302, resp.text
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/auth/login" and parse_qs(location.query)["next"] == [path]


def test_signed_in_page_gets_the_principal_of_a_real_grant(portal: Portal) -> None:
    """The first portal page opens a grant of the portal's client recorded like a SMART grant; g.principal is
    what a bearer token of that grant gives, and the policy bounds it (own record 200, another usager's
    404)."""
    env = portal.env
    browser = signed_in(portal)
    assert _probe(portal, browser).status_code == 200
    principal = portal.probe.seen[-1]
    assert principal.client_id == USAGER.client_id == "dui-portail"
    assert principal.fhir_user == "Patient/p1" and principal.scope == USAGER.scope
    assert principal.patients == {"p1"}
    record = _record(portal, browser)
    assert record.grant_id == principal.grant_id and record.token_jti == principal.token_id
    assert browser.cookies.get(COOKIE) not in (record.token_jti, record.grant_id)
    jeanne = env.store.check_password("jeanne", "correct horse battery staple", 5, 15)
    assert jeanne is not None
    grants = env.store.user_grants(jeanne.id)
    assert [(g["id"], g["client_id"], g["name"]) for g in grants] == [
        (principal.grant_id, "dui-portail", "Portail des usagers et des aidants")]
    # a bearer token for the same recorded token gives the same principal, through the API's own function
    server = env.app.extensions["dui_auth"].server
    urls = urls_for(env.ctx.settings, env.fhir)
    claims = access_token_claims(urls, jti=principal.token_id, subject="jeanne", client_id="dui-portail",
                                 scope=principal.scope, ttl=300, fhir_user="Patient/p1")
    bearer = sign_access_token(server.key, claims)
    assert principal_from(env.store, server.key, bearer, urls) == principal
    headers = {"Authorization": f"Bearer {bearer}", "Accept": "application/fhir+json"}
    assert requests.get(f"{env.fhir}/Patient/p1", headers=headers, timeout=10).status_code == 200
    assert requests.get(f"{env.fhir}/Patient/p2", headers=headers, timeout=10).status_code == 404


def test_portal_page_reads_through_the_policy_as_the_session(portal: Portal) -> None:
    """A page reading with Fhir(ctx, g.principal) sees the usager's own record; another usager's id is the
    French 404 page (the policy does not tell a foreign record from a missing one)."""
    browser = signed_in(portal)
    own = _probe(portal, browser, "/portail/usager/p1")
    assert own.status_code == 200 and "Martin" in own.text
    for other in ("p2", "nobody"):
        refused = _probe(portal, browser, f"/portail/usager/{other}")
        assert refused.status_code == 404 and "Élément introuvable" in refused.text
        assert "Durand" not in refused.text


def test_revoking_the_grant_signs_the_session_out(portal: Portal) -> None:
    """Revoking the portal's grant in the store ends the session at the next request (login page, no
    cookie)."""
    browser = signed_in(portal)
    assert _probe(portal, browser).status_code == 200
    grant_id = portal.probe.seen[-1].grant_id
    sid = browser.cookies.get(COOKIE)
    portal.env.store.revoke_grant(grant_id, "revoked in a test")
    _sent_to_login(_probe(portal, browser))
    assert COOKIE not in browser.cookies and portal.env.store.session_record(sid) is None
    assert browser.get(portal.env.url("apps"), allow_redirects=False, timeout=10).status_code == 302


def test_connected_apps_page_lists_and_revokes_the_portal_session(portal: Portal) -> None:
    """The portal session is on "Applications connectées"; revoking it there signs this browser out."""
    browser = signed_in(portal)
    assert _probe(portal, browser).status_code == 200
    apps = browser.get(portal.env.url("apps"), timeout=10)
    assert "Portail des usagers et des aidants" in apps.text and "C'est la session ouverte" in apps.text
    forms = parse_page(apps.text).forms
    index = next(i for i, f in enumerate(forms) if f["action"] == "/auth/apps/revoke")
    done = submit(browser, apps, index)
    assert done.status_code == 303 and done.headers["Location"] == "/auth/login"
    assert not portal.env.store.grant_live(portal.probe.seen[-1].grant_id)
    _sent_to_login(_probe(portal, browser))


def test_logout_revokes_the_grant(portal: Portal) -> None:
    """Logging out closes the session and revokes its portal grant."""
    browser = signed_in(portal)
    assert _probe(portal, browser).status_code == 200
    grant_id = portal.probe.seen[-1].grant_id
    apps = browser.get(portal.env.url("apps"), timeout=10)
    out = submit(browser, apps, len(parse_page(apps.text).forms) - 1)
    assert out.status_code == 303 and out.headers["Location"] == "/auth/login"
    assert not portal.env.store.grant_live(grant_id)
    _sent_to_login(_probe(portal, browser))


def test_expired_access_token_is_reissued_for_the_same_grant(portal: Portal) -> None:
    """When the short access token has expired while the session lives, a new token of the same grant is
    recorded and the page is served."""
    browser = signed_in(portal)
    assert _probe(portal, browser).status_code == 200
    first = portal.probe.seen[-1]
    with portal.env.ctx.repo.engine.begin() as conn:
        conn.execute(update(auth_token).where(auth_token.c.jti == first.token_id)
                     .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert _probe(portal, browser).status_code == 200
    second = portal.probe.seen[-1]
    assert second.grant_id == first.grant_id and second.token_id != first.token_id
    assert _record(portal, browser).token_jti == second.token_id


def test_idle_session_ends(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    """After [portal] session_idle_minutes without a request the session ends and its grant is revoked."""
    browser = signed_in(portal)
    assert _probe(portal, browser).status_code == 200
    grant_id = portal.probe.seen[-1].grant_id
    state = web_state_of(portal)
    idle = portal.env.ctx.settings.portal.session_idle_minutes
    start = utcnow()
    monkeypatch.setattr(state, "clock", lambda: start + timedelta(minutes=idle - 1))
    assert _probe(portal, browser).status_code == 200  # active within the idle window
    monkeypatch.setattr(state, "clock", lambda: start + timedelta(minutes=2 * idle))
    _sent_to_login(_probe(portal, browser))
    assert not portal.env.store.grant_live(grant_id)


def test_active_session_still_ends_at_its_absolute_lifetime(portal: Portal,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A session used every 20 minutes ends all the same [portal] session_absolute_hours after sign-in."""
    env = portal.env
    monkeypatch.setattr(env.ctx, "settings", env.ctx.settings.with_overrides(portal_session_absolute_hours=1,
                                                                             portal_session_idle_minutes=30))
    browser = signed_in(portal)
    state = web_state_of(portal)
    start = utcnow()
    for minutes in (0, 20, 40):
        monkeypatch.setattr(state, "clock", lambda m=minutes: start + timedelta(minutes=m))
        assert _probe(portal, browser).status_code == 200, minutes
    monkeypatch.setattr(state, "clock", lambda: start + timedelta(minutes=61))
    _sent_to_login(_probe(portal, browser))


def test_anonymous_and_other_kind_are_kept_out(portal: Portal) -> None:
    """Without a session a portal page sends to the login page with a safe next; a usager's account cannot
    enter the professionals' portal (403) and a professional enters it with the dui-pro grant."""
    _sent_to_login(_probe(portal, requests.Session(), "/portail/sonde?onglet=2"), "/portail/sonde?onglet=2")
    jeanne = signed_in(portal)
    refused = _probe(portal, jeanne, "/pro/sonde")
    assert refused.status_code == 403 and "Espace réservé" in refused.text
    doctor = signed_in(portal, "dr1", "/pro/sonde")
    assert _probe(portal, doctor, "/pro/sonde").status_code == 200
    principal = portal.probe.seen[-1]
    assert principal.client_id == PROFESSIONAL.client_id and principal.scope == "fhirUser user/*.cruds"
    assert principal.fhir_user == "Practitioner/dr1"


def test_session_cookie_attributes_and_new_session_at_sign_in(portal: Portal) -> None:
    """The cookie is HttpOnly, SameSite=Lax, for the whole site; signing in again gives a new session and ends
    the previous one (no fixation)."""
    browser = requests.Session()
    first = login(portal.env, browser, "jeanne", next_url="/portail/sonde")
    header = first.headers["Set-Cookie"]
    assert f"{COOKIE}=" in header and "HttpOnly" in header and "SameSite=Lax" in header
    assert "Path=/;" in header
    old = browser.cookies.get(COOKIE)
    login(portal.env, browser, "jeanne", next_url="/portail/sonde")
    assert browser.cookies.get(COOKIE) != old and portal.env.store.session_record(old) is None


def test_portal_clients_are_registered_and_unusable_at_the_oauth_endpoints(portal: Portal) -> None:
    """Both portals are registered clients; no OAuth endpoint accepts them (their tokens never leave the
    server)."""
    env = portal.env
    for portal_def in (USAGER, PROFESSIONAL):
        client = env.store.client(portal_def.client_id)
        assert client is not None and client.auth_method == "first_party" and client.redirect_uris == []
        resp = requests.post(env.url("token"), data={"grant_type": "client_credentials",
                                                      "client_id": portal_def.client_id}, timeout=10)
        assert resp.status_code in (400, 401)
        assert resp.json()["error"] in ("invalid_client", "unauthorized_client")


def web_state_of(portal: Portal) -> WebState:
    with portal.env.app.app_context():
        return web_state()


def test_a_session_keeps_one_portal_grant(portal: Portal) -> None:
    """Two first portal requests at once cannot give a session two grants: the second claim is refused."""
    browser = signed_in(portal)
    sid = browser.cookies.get(COOKIE)
    store = portal.env.store
    assert sid is not None and store.claim_session_grant(sid, "grant-1", "jti-1")
    assert not store.claim_session_grant(sid, "grant-2", "jti-2")
    assert _record(portal, browser).grant_id == "grant-1"
