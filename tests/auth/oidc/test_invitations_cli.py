"""``dui invitations create | list | revoke``."""

from __future__ import annotations

import pytest
import requests

from fhirserver.cli import main
from tests.auth.conftest import Env


def run(env: Env, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["--database-url", env.ctx.settings.database.url, "invitations", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_create_prints_a_working_url(oidc: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """create prints the invitation URL; its token opens the invitation page of the server."""
    status, out, _ = run(oidc, capsys, "create", "--fhir-user", "Patient/p1", "--days", "3")
    assert status == 0
    url = out.strip().splitlines()[-1]
    token = url.rsplit("/", 1)[1]
    assert "/auth/invitation/" in url and len(token) >= 40
    assert requests.get(oidc.url(f"invitation/{token}"), timeout=10).status_code == 200


def test_list_shows_status_but_never_the_token(oidc: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """list shows the invitation's id, target and status, not its token."""
    _, out, _ = run(oidc, capsys, "create", "--fhir-user", "RelatedPerson/rp1", "--by", "accueil")
    token = out.strip().rsplit("/", 1)[1]
    status, listing, _ = run(oidc, capsys, "list")
    assert status == 0 and "RelatedPerson/rp1\tactive" in listing and "by accueil" in listing
    assert token not in listing


def test_revoke_makes_the_url_useless(oidc: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """revoke --id refuses the invitation afterwards; a second revoke is an error."""
    _, out, _ = run(oidc, capsys, "create", "--fhir-user", "Patient/p1")
    invitation_id = out.split()[1]
    token = out.strip().rsplit("/", 1)[1]
    assert run(oidc, capsys, "revoke", "--id", invitation_id)[0] == 0
    assert requests.get(oidc.url(f"invitation/{token}"), timeout=10).status_code == 410
    assert run(oidc, capsys, "revoke", "--id", invitation_id)[0] == 2


def test_create_refuses_an_unknown_record(oidc: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """create for a Patient that does not exist exits 2 with a message."""
    status, _, err = run(oidc, capsys, "create", "--fhir-user", "Patient/nobody")
    assert status == 2 and "does not exist" in err
