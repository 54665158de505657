"""The login page: provider buttons, the local form when local accounts are on, and the local login audit."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlencode

import requests

from fhirserver.app import build_context, create_app
from fhirserver.settings import load_settings
from tests.auth.conftest import PASSWORD, Env, authorize_params, login, parse_page, pkce
from tests.auth.oidc.conftest import SECRETS, audit_events, provider_links


def test_login_page_lists_the_providers_and_the_form(oidc: Env) -> None:
    """Every enabled provider has a 'Se connecter avec …' button, next to the local form."""
    page = requests.get(oidc.url("login"), timeout=10)
    assert set(provider_links(page.text)) == {"psc", "fc", "evil-psc", "evil-fc"}
    assert "Se connecter avec Pro Santé Connect" in page.text and "Se connecter avec FranceConnect" in page.text
    assert [f["action"] for f in parse_page(page.text).forms] == ["/auth/login"]


def test_without_local_accounts_only_buttons_remain(oidc: Env, providers_file: str) -> None:
    """With auth.local_accounts off, the page has the provider buttons and no password form; a POST is refused."""
    saved = {k: os.environ.get(k) for k in SECRETS}
    os.environ.update(SECRETS)
    try:
        settings = load_settings(database_url=oidc.ctx.settings.database.url, auth_required=True,
                                 auth_local_accounts=False, auth_identity_providers_file=providers_file,
                                 auth_signing_key_file=oidc.ctx.settings.auth.signing_key_file)
        ctx = build_context(settings)
        client: Any = create_app(settings, context=ctx).test_client()
        page = client.get("/auth/login")
        refused = client.post("/auth/login", data={"username": "x", "password": "y"})
        _, challenge = pkce()
        params = {**authorize_params(oidc, challenge), "aud": "http://localhost/fhir"}
        authorize = client.get("/auth/authorize?" + urlencode(params))
    finally:
        ctx.repo.engine.dispose()
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Se connecter avec Pro Santé Connect" in html
    assert parse_page(html).forms == []
    assert refused.status_code == 503
    # an app's authorization request is sent to the login page (the providers), not refused
    assert authorize.status_code == 302 and authorize.headers["Location"].startswith("/auth/login?")


def test_local_login_is_audited(oidc: Env) -> None:
    """A failed then a successful local login each leave a login AuditEvent."""
    oidc.add_user("jeanne", "Patient/p1")
    login(oidc, requests.Session(), "jeanne", "wrong password!")
    login(oidc, requests.Session(), "jeanne", PASSWORD)
    logins = [(e["outcome"], e.get("outcomeDesc")) for e in audit_events(oidc) if e["subtype"][0]["code"] == "login"]
    assert ("4", "local login refused") in logins and ("0", "local login") in logins
