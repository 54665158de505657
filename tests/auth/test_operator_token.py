"""`dui token` (operator-minted access tokens) and the demo's access set-up (fhirserver.auth.operator)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from joserfc.jwk import ECKey

from fhirserver.auth.keys import SigningKey
from fhirserver.auth.operator import (
    DEMO_ACCOUNTS,
    DEMO_CLIENT,
    DEMO_PASSWORD,
    TokenError,
    ensure_demo_access,
    mint_token,
)
from fhirserver.auth.urls import urls_for
from fhirserver.cli import main
from tests.auth.conftest import Env


def _backend(env: Env, scope: str = "system/*.rs") -> None:
    public = ECKey.generate_key("P-384", parameters={"kid": "k1"}, private=False).as_dict(private=False)
    env.add_client("ops", scope=scope, auth_method="private_key_jwt", grant_types=["client_credentials"],
                   redirect_uris=[], jwks={"keys": [public]})


def _mint(env: Env, client_id: str = "ops", scope: str = "system/*.rs", minutes: int = 10) -> str:
    key = SigningKey(env.ctx.repo.engine, env.ctx.settings.auth.signing_key_file).get()
    return mint_token(env.store, key, urls_for(env.ctx.settings, env.fhir), client_id, scope, minutes)


def test_minted_token_reads_the_api(records: Env) -> None:
    """A token minted for a Backend Services client is accepted by the FHIR API within its scopes."""
    _backend(records)
    token = _mint(records)
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(records.fhir + "/Patient/p1", headers=headers, timeout=10).status_code == 200
    write = requests.post(records.fhir + "/Patient", json={"resourceType": "Patient"}, headers=headers, timeout=10)
    assert write.status_code == 403


def test_minted_token_is_limited_to_the_pre_authorised_scopes(records: Env) -> None:
    """Scopes the client was not registered for are not granted; none at all is an error."""
    _backend(records, scope="system/Patient.rs")
    with pytest.raises(TokenError, match="pre-authorised"):
        _mint(records, scope="system/Observation.rs")


def test_minted_token_needs_a_backend_services_client(records: Env) -> None:
    """An app registered for the authorization code flow gets no operator token (nor does an unknown client)."""
    records.add_client("app")
    with pytest.raises(TokenError, match="client_credentials"):
        _mint(records, client_id="app", scope="patient/*.rs")
    with pytest.raises(TokenError, match="no client"):
        _mint(records, client_id="nobody")


def test_minted_token_lifetime_is_bounded(records: Env) -> None:
    """The lifetime must be between one minute and one day."""
    _backend(records)
    with pytest.raises(TokenError, match="minutes"):
        _mint(records, minutes=0)
    with pytest.raises(TokenError, match="minutes"):
        _mint(records, minutes=24 * 60 + 1)


def test_minted_token_can_be_revoked(records: Env) -> None:
    """A minted token is recorded like any other: revoking its grant makes the API refuse it."""
    _backend(records)
    token = _mint(records)
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(records.fhir + "/Patient/p1", headers=headers, timeout=10).status_code == 200
    stored = records.store.token_by_jti(_jti(token))
    assert stored is not None
    records.store.revoke_grant(stored.grant_id, "test")
    assert requests.get(records.fhir + "/Patient/p1", headers=headers, timeout=10).status_code == 401


def _jti(token: str) -> str:
    import base64
    import json

    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["jti"])


def test_demo_access_is_registered_once(env: Env) -> None:
    """The demo client and accounts are created on the first run and left as they are on the next."""
    first = ensure_demo_access(env.store)
    second = ensure_demo_access(env.store)
    assert first == second
    client = env.store.client(DEMO_CLIENT)
    assert client is not None and client.grant_types == ["client_credentials"]
    for username, fhir_user in DEMO_ACCOUNTS:
        user = env.store.check_password(username, DEMO_PASSWORD, 5, 15)
        assert user is not None and user.fhir_user == fhir_user


def test_dui_token_command_refuses_an_unknown_client(database_url: str, capsys: pytest.CaptureFixture[str],
                                                     env: Env) -> None:
    """`dui token` exits with status 2 and a message when the client is not registered."""
    status = main(["--database-url", database_url, "token", "--client-id", "nobody", "--scope", "system/*.rs"])
    assert status == 2
    assert "no client 'nobody'" in capsys.readouterr().err
