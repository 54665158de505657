"""Local accounts (argon2id, lockout, switch-off), browser sessions, and the ``dui clients`` / ``dui users`` /
``dui launch`` commands."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from sqlalchemy import select

from fhirserver.auth.schema import auth_client, auth_user
from fhirserver.cli import main
from tests.auth.conftest import PASSWORD, Env, login, parse_page, submit


def test_lockout_after_repeated_failures(env: Env) -> None:
    """After auth_lockout_threshold (3 here) wrong passwords even the right one is refused; the message never says
    whether the account exists."""
    env.add_user("jeanne", "Patient/p1")
    unknown = login(env, requests.Session(), "nobody", "whatever-password")
    assert unknown.status_code == 401
    for _ in range(3):
        wrong = login(env, requests.Session(), "jeanne", "wrong-password")
        assert wrong.status_code == 401 and "dui_auth_session" not in wrong.headers.get("Set-Cookie", "")
    assert parse_page(wrong.text).alerts == parse_page(unknown.text).alerts
    locked = login(env, requests.Session(), "jeanne", PASSWORD)
    assert locked.status_code == 401 and "dui_auth_session" not in locked.headers.get("Set-Cookie", "")
    with env.ctx.repo.engine.connect() as conn:
        until = conn.execute(select(auth_user.c.locked_until).where(auth_user.c.username == "jeanne")).scalar()
    assert until is not None


def test_login_page_is_accessible_french(env: Env) -> None:
    """The login page is in French with labelled fields; errors are announced (role=alert)."""
    page = requests.get(env.url("login"), timeout=10)
    assert '<html lang="fr">' in page.text
    assert '<label for="username">' in page.text and 'id="username"' in page.text
    assert '<label for="password">' in page.text and "autofocus" in page.text
    bad = login(env, requests.Session(), "x", "y")
    assert 'role="alert"' in bad.text and 'aria-invalid="true"' in bad.text


def test_local_accounts_can_be_switched_off(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """auth_local_accounts=false: the login form is not served and nobody can log in locally."""
    env.add_user("jeanne", "Patient/p1")
    monkeypatch.setattr(env.ctx, "settings", env.ctx.settings.with_overrides(auth_local_accounts=False))
    assert requests.get(env.url("login"), timeout=10).status_code == 503
    resp = requests.post(env.url("login"), data={"username": "jeanne", "password": PASSWORD}, timeout=10,
                         allow_redirects=False)
    assert resp.status_code == 503 and "Set-Cookie" not in resp.headers


def test_logout_ends_the_session(env: Env) -> None:
    """After logout the session cookie no longer opens the connected-apps page."""
    env.add_user("jeanne", "Patient/p1")
    session = requests.Session()
    apps = session.get(urljoin(env.base, login(env, session, "jeanne").headers["Location"]), allow_redirects=False)
    assert apps.status_code == 200
    cookie = session.cookies.get("dui_auth_session")
    out = submit(session, apps, len(parse_page(apps.text).forms) - 1)
    assert out.status_code == 303
    replay = requests.get(env.url("apps"), cookies={"dui_auth_session": cookie or ""}, allow_redirects=False,
                          timeout=10)
    assert replay.status_code == 302 and "/auth/login" in replay.headers["Location"]


def test_login_next_cannot_redirect_elsewhere(env: Env) -> None:
    """The next parameter only leads to this server's authorize or apps pages (no open redirect)."""
    env.add_user("jeanne", "Patient/p1")
    resp = login(env, requests.Session(), "jeanne", next_url="http://evil.example/")
    assert resp.headers["Location"] == "/auth/apps"


def test_cli_clients_users_launch(env: Env, database_url: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """dui clients add / users add / users link / launch store what they say; secrets are hashed."""
    base = ["--database-url", database_url]
    assert main(base + ["clients", "add", "--client-id", "web", "--secret", "s3cret-value", "--redirect-uri",
                        "https://app.example/cb", "--scope", "openid launch/patient patient/*.rs"]) == 0
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{"kty": "EC", "kid": "k1", "crv": "P-384", "x": "a", "y": "b"}]}))
    assert main(base + ["clients", "add", "--client-id", "svc", "--jwks", str(jwks), "--scope", "system/*.rs",
                        "--grant-type", "client_credentials"]) == 0
    assert main(base + ["clients", "add", "--client-id", "pub", "--public", "--redirect-uri", "http://localhost/cb",
                        "--scope", "patient/Observation.rs?category=laboratory launch/patient"]) == 0
    with env.ctx.repo.engine.connect() as conn:
        rows = {r["client_id"]: r for r in conn.execute(select(auth_client)).mappings()}
    assert rows["web"]["auth_method"] == "client_secret_basic"
    assert rows["web"]["secret_hash"].startswith("$argon2id$") and "s3cret-value" not in rows["web"]["secret_hash"]
    assert rows["svc"]["auth_method"] == "private_key_jwt" and rows["svc"]["grant_types"] == ["client_credentials"]
    assert rows["pub"]["auth_method"] == "none" and rows["pub"]["secret_hash"] is None
    assert main(base + ["users", "add", "--username", "luc", "--password", "a-long-password-1",
                        "--fhir-user", "RelatedPerson/rp1"]) == 0
    assert main(base + ["users", "link", "--username", "luc", "--patient", "p2"]) == 0
    with env.ctx.repo.engine.connect() as conn:
        user_id = conn.execute(select(auth_user.c.id).where(auth_user.c.username == "luc")).scalar_one()
    user = env.store.user(user_id)
    assert user is not None and user.fhir_user == "RelatedPerson/rp1" and user.patients == ["p2"]
    capsys.readouterr()
    assert main(base + ["launch", "--patient", "p2", "--encounter", "e1"]) == 0
    launch = capsys.readouterr().out.strip()
    assert env.store.launch(launch) == ("p2", "e1")


@pytest.mark.parametrize(("args", "message"), [
    (["clients", "add", "--client-id", "x", "--scope", "patient/*.rs", "--redirect-uri", "https://a/cb"],
     "exactly one of"),
    (["clients", "add", "--client-id", "x", "--public", "--scope", "patient/Obs.xyz", "--redirect-uri",
      "https://a/cb"], "--scope"),
    (["clients", "add", "--client-id", "x", "--public", "--scope", "patient/*.rs"], "--redirect-uri is required"),
    (["clients", "add", "--client-id", "x", "--public", "--scope", "system/*.rs", "--grant-type",
      "client_credentials"], "authenticate with a key"),
    (["clients", "add", "--client-id", "x", "--jwks", "/nonexistent.json", "--scope", "system/*.rs",
      "--grant-type", "client_credentials"], "--jwks"),
    (["users", "add", "--username", "u", "--password", "a-long-password-1", "--fhir-user", "Organization/1"],
     "--fhir-user"),
    (["users", "add", "--username", "u", "--password", "short", "--fhir-user", "Patient/p1"], "12 characters"),
    (["users", "link", "--username", "ghost", "--patient", "p1"], "no user named"),
])
def test_cli_refuses_bad_input(env: Env, database_url: str, capsys: pytest.CaptureFixture[str], args: list[str],
                               message: str) -> None:
    """Invalid options exit with status 2 and a message naming the problem."""
    assert main(["--database-url", database_url] + args) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_duplicates(env: Env, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A second client or user with the same id is a clear error, not a traceback."""
    base = ["--database-url", database_url]
    client = ["clients", "add", "--client-id", "dup", "--public", "--redirect-uri", "https://a/cb", "--scope",
              "patient/*.rs"]
    assert main(base + client) == 0
    assert main(base + client) == 2
    user = ["users", "add", "--username", "dup", "--password", "a-long-password-1", "--fhir-user", "Patient/p1"]
    assert main(base + user) == 0
    assert main(base + user) == 2
    assert "already exists" in capsys.readouterr().err


def test_login_form_needs_its_csrf_cookie(env: Env) -> None:
    """A login POST without the form's double-submit token (a cross-site login) does not open a session."""
    env.add_user("jeanne", "Patient/p1")
    forged = requests.post(env.url("login"), data={"username": "jeanne", "password": PASSWORD}, timeout=10,
                           allow_redirects=False)
    assert forged.status_code == 400 and "dui_auth_session" not in forged.cookies
    assert login(env, requests.Session(), "jeanne").status_code == 303
