"""Pro Santé Connect logins through the stand-in provider (npm oidc-provider): end to end to a FHIR read."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

from tests.auth.conftest import Env, approve, authorize_params, code_from, exchange, parse_page, pkce, submit
from tests.auth.oidc.conftest import RPPS, audit_events, provider_links, through_provider


def psc_login(env: Env, session: requests.Session, login: str, next_url: str = "/auth/apps") -> requests.Response:
    page = session.get(env.url("login") + "?" + urlencode({"next": next_url}))
    return through_provider(session, env, provider_links(page.text)["psc"], login)


def test_smart_app_reads_as_the_psc_professional(oidc: Env) -> None:
    """Login page → PSC → callback → SMART consent → code → token → a FHIR read as Practitioner/dr1."""
    verifier, challenge = pkce()
    session = requests.Session()
    url = oidc.url("authorize") + "?" + urlencode(authorize_params(oidc, challenge, scope="openid fhirUser user/*.rs"))
    first = session.get(url, allow_redirects=False)
    assert first.status_code == 302
    next_url = parse_qs(urlsplit(first.headers["Location"]).query)["next"][0]
    back = psc_login(oidc, session, f"rpps-{RPPS}", next_url)
    assert back.status_code == 303, [e.get("outcomeDesc") for e in audit_events(oidc)]
    consent = session.get(urljoin(oidc.base, back.headers["Location"]), allow_redirects=False)
    assert consent.status_code == 200, consent.text
    tokens = exchange(oidc, code_from(approve(session, consent)), verifier).json()
    payload = tokens["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["fhirUser"].endswith("Practitioner/dr1")
    resp = requests.get(f"{oidc.fhir}/Practitioner/dr1", headers={"Authorization": f"Bearer {tokens['access_token']}"},
                        timeout=10)
    assert resp.status_code == 200 and resp.json()["id"] == "dr1"


def test_second_login_reuses_the_account(oidc: Env) -> None:
    """The (iss, sub) binding is reused: two logins of the same professional share one account."""
    psc_login(oidc, requests.Session(), f"rpps-{RPPS}")
    psc_login(oidc, requests.Session(), f"rpps-{RPPS}")
    with oidc.ctx.repo.engine.connect() as conn:
        from sqlalchemy import func, select

        from fhirserver.auth.logins.schema import auth_identity
        from fhirserver.auth.schema import auth_user
        assert conn.execute(select(func.count()).select_from(auth_identity)).scalar() == 1
        assert conn.execute(select(auth_user.c.fhir_user)).scalars().all() == ["Practitioner/dr1"]


def test_connected_page_shows_the_structure(oidc: Env) -> None:
    """The connected-apps page shows the profession and structure from SubjectRefPro."""
    session = requests.Session()
    back = psc_login(oidc, session, f"rpps-{RPPS}")
    page = session.get(urljoin(oidc.base, back.headers["Location"]))
    assert "EHPAD Les Tilleuls" in page.text and "FINESS 210012345" in page.text


def test_unknown_professional_is_refused(oidc: Env) -> None:
    """A valid PSC identity whose IDNPS matches no Practitioner gets a French refusal and no account."""
    resp = psc_login(oidc, requests.Session(), "rpps-10009876543")
    assert resp.status_code == 403 and "Professionnel inconnu" in resp.text
    assert parse_page(resp.text).alerts
    with oidc.ctx.repo.engine.connect() as conn:
        from sqlalchemy import func, select

        from fhirserver.auth.schema import auth_user
        assert conn.execute(select(func.count()).select_from(auth_user)).scalar() == 0


def test_lower_acr_than_requested_is_refused(oidc: Env) -> None:
    """The FranceConnect-style provider asks eidas2; a login that returns eidas1 is refused."""
    session = requests.Session()
    page = session.get(oidc.url("login"))
    resp = through_provider(session, oidc, provider_links(page.text)["fc"], "low-jeanne")
    assert resp.status_code == 401 and "contrôles de sécurité" in resp.text
    details = [e.get("outcomeDesc") for e in audit_events(oidc) if e["subtype"][0]["code"] == "login"]
    assert "acr 'eidas1' lower than eidas2" in details


def test_logout_goes_to_the_provider_end_session(oidc: Env, node_idp: str) -> None:
    """Logging out after a PSC login redirects to end_session_endpoint with id_token_hint, state and our
    post_logout_redirect_uri, and closes our session."""
    session = requests.Session()
    back = psc_login(oidc, session, f"rpps-{RPPS}")
    apps = session.get(urljoin(oidc.base, back.headers["Location"]))
    out = submit(session, apps, form_index=len(parse_page(apps.text).forms) - 1)
    assert out.status_code == 303
    location = out.headers["Location"]
    assert location.startswith(f"{node_idp}/session/end?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["post_logout_redirect_uri"] == oidc.url("login") and len(query["state"]) >= 32
    assert query["id_token_hint"].count(".") == 2
    assert session.get(oidc.url("apps"), allow_redirects=False).status_code == 302
    assert session.get(location).status_code == 200  # the provider accepts the hint (its logout confirmation page)
