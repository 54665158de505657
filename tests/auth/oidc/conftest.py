"""Fixtures of the external-login tests: the stand-in provider (``node tests/node/idp.mjs``, npm oidc-provider),
the lying provider (:mod:`evil_idp`), and our app on its own port with a providers file naming both.

The app's port is chosen first because oidc-provider needs our exact redirect URI at start. The user agent is
requests + html.parser (tests/auth/conftest.py helpers); cookies are per host, as in a browser, so the providers and
our server (all on 127.0.0.1) see each other's cookies — harmless, the names differ.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

from fhirserver.app import build_context, create_app
from fhirserver.auth.store import AuthStore
from fhirserver.interactions.context import FhirRequest
from fhirserver.interactions.router import handle
from fhirserver.settings import load_settings
from fhirserver.storage.sql.migrate import upgrade
from tests.auth.conftest import Env, parse_page, submit
from tests.auth.oidc.evil_idp import CLIENT_SECRET, EvilIdp
from tests.conftest import wipe

ROOT = Path(__file__).resolve().parents[3]
NODE_DIR = ROOT / "tests" / "node"
IDNPS = "urn:oid:1.2.250.1.71.4.2.1"
RPPS = "10001234565"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    for _ in range(200):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process ended with status {proc.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        threading.Event().wait(0.05)
    raise RuntimeError(f"{url} did not answer")


@pytest.fixture(scope="session")
def app_port() -> int:
    return _free_port()


@pytest.fixture(scope="session")
def node_idp(app_port: int) -> Iterator[str]:
    """``node tests/node/idp.mjs`` on a free port; its issuer URL."""
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("node and tests/node/node_modules (make install-test) are needed")
    port = _free_port()
    ours = f"http://127.0.0.1:{app_port}"
    env = {**os.environ, "IDP_PORT": str(port), "IDP_REDIRECT_URIS": f"{ours}/auth/oidc/callback",
           "IDP_POST_LOGOUT_URIS": f"{ours}/auth/login"}
    proc = subprocess.Popen(["node", str(NODE_DIR / "idp.mjs")], cwd=NODE_DIR, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    issuer = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{issuer}/.well-known/openid-configuration", proc)
        yield issuer
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def encryption_key_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, RSAKey]:
    key = RSAKey.generate_key(2048, parameters={"kid": "our-enc"}, private=True)
    path = Path(tmp_path_factory.mktemp("enc")) / "userinfo-enc.pem"
    path.write_bytes(key.as_pem(private=True))
    return str(path), key


@pytest.fixture(scope="session")
def evil(encryption_key_file: tuple[str, RSAKey]) -> Iterator[EvilIdp]:
    idp = EvilIdp(encryption_key_file[1])
    server = make_server("127.0.0.1", 0, idp.app(), threaded=True)
    idp.base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


PROVIDERS = """
[[provider]]
name = "psc"
kind = "psc"
label = "Pro Santé Connect"
discovery_url = "{node}/.well-known/openid-configuration"
client_id = "psc-client"
client_secret_env = "TEST_PSC_SECRET"
token_endpoint_auth_method = "client_secret_basic"
scope = "openid scope_all"
acr_values = "eidas1"
enabled = true

[[provider]]
name = "fc"
kind = "franceconnect"
label = "FranceConnect"
discovery_url = "{node}/.well-known/openid-configuration"
client_id = "fc-client"
client_secret_env = "TEST_FC_SECRET"
token_endpoint_auth_method = "client_secret_post"
scope = "openid identite_pivot"
acr_values = "eidas2"
enabled = true

[[provider]]
name = "evil-psc"
kind = "psc"
label = "Fournisseur de test (professionnels)"
discovery_url = "{evil}/.well-known/openid-configuration"
client_id = "evil-psc"
client_secret_env = "TEST_EVIL_SECRET"
token_endpoint_auth_method = "client_secret_basic"
scope = "openid scope_all"
acr_values = "eidas1"
enabled = true

[[provider]]
name = "evil-fc"
kind = "franceconnect"
label = "Fournisseur de test (usagers)"
discovery_url = "{evil}/.well-known/openid-configuration"
client_id = "evil-fc"
client_secret_env = "TEST_EVIL_SECRET"
token_endpoint_auth_method = "client_secret_post"
scope = "openid identite_pivot"
acr_values = "eidas1"
userinfo_decryption_key_file = "{key}"
enabled = true
"""
SECRETS = {"TEST_PSC_SECRET": "psc-secret", "TEST_FC_SECRET": "fc-secret", "TEST_EVIL_SECRET": CLIENT_SECRET}


@pytest.fixture(scope="session")
def providers_file(tmp_path_factory: pytest.TempPathFactory, node_idp: str, evil: EvilIdp,
                   encryption_key_file: tuple[str, RSAKey]) -> str:
    path = Path(tmp_path_factory.mktemp("idp")) / "identity_providers.toml"
    path.write_text(PROVIDERS.format(node=node_idp, evil=evil.base, key=encryption_key_file[0]), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def oidc_server(database_url: str, signing_key_file: str, providers_file: str, app_port: int) -> Iterator[Env]:
    """Our app (auth required, local accounts on) with the four providers, served on ``app_port``."""
    saved = {k: os.environ.get(k) for k in SECRETS}
    os.environ.update(SECRETS)
    settings = load_settings(database_url=database_url, auth_required=True, auth_signing_key_file=signing_key_file,
                             auth_identity_providers_file=providers_file)
    ctx = build_context(settings)
    upgrade(ctx.repo.engine)
    app = create_app(settings, context=ctx)
    server = make_server("127.0.0.1", app_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Env(f"http://127.0.0.1:{app_port}", ctx, AuthStore(ctx.repo.engine), app)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        ctx.repo.engine.dispose()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture()
def oidc(oidc_server: Env, evil: EvilIdp) -> Env:
    """An empty database with a usager (p1), an aidant (rp1), a practitioner known by IDNPS (dr1) and an app."""
    wipe(oidc_server.ctx)
    evil.reset()
    env = oidc_server
    env.put({"resourceType": "Patient", "id": "p1", "name": [{"family": "Martin", "given": ["Jeanne"]}],
             "birthDate": "1931-04-02"})
    env.put({"resourceType": "RelatedPerson", "id": "rp1", "patient": {"reference": "Patient/p1"},
             "name": [{"family": "Martin", "given": ["Luc"]}], "birthDate": "1931-04-02"})
    env.put({"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "Petit", "given": ["Claire"]}],
             "identifier": [{"system": IDNPS, "value": "8" + RPPS}]})
    env.add_client("app", scope="openid fhirUser launch/patient user/*.rs patient/*.rs")
    return env


# --- the user agent ----------------------------------------------------------------------------------

START = re.compile(r'href="(/auth/oidc/([a-z0-9-]+)/start\?[^"]*)"')


def provider_links(html: str) -> dict[str, str]:
    """Provider name -> start URL of the buttons of a login or invitation page."""
    return {m.group(2): m.group(1).replace("&amp;", "&") for m in START.finditer(html)}


def through_provider(session: requests.Session, env: Env, start: str, login: str | None = None) -> requests.Response:
    """Follow a start URL through the provider (answering oidc-provider's login and consent forms with ``login``)
    up to and including our callback; returns our callback's response."""
    resp = session.get(urljoin(env.base, start), allow_redirects=False)
    for _ in range(20):
        if resp.status_code in (302, 303):
            url = urljoin(resp.url, resp.headers["Location"])
            resp = session.get(url, allow_redirects=False)
            if url.startswith(env.url("oidc/callback")):
                return resp
            continue
        assert resp.status_code == 200, resp.text
        forms = parse_page(resp.text).forms
        assert forms, resp.text
        fill = {"login": login or "", "password": "any"} if any(
            i.get("name") == "login" for i in forms[0]["inputs"]) else None
        resp = submit(session, resp, fill=fill)
    raise AssertionError("too many redirects")


def audit_events(env: Env) -> list[dict[str, Any]]:
    resp = handle(FhirRequest(method="GET", path="AuditEvent", params=[("_count", "100")]), env.ctx)
    assert resp.status == 200, resp.resource
    return [e["resource"] for e in resp.resource.get("entry") or []]
