"""Operator access without the OAuth dance: ``dui token`` mints an access token for a registered Backend Services
client, for scripts, ``curl`` and the demo (the API requires a token: ``auth.required``).

The token is the same kind the token endpoint issues (RS256 JWT, ``aud`` = the FHIR base, recorded by ``jti`` in
``auth_token`` under a new grant, so ``/auth/revoke`` and introspection work on it), for a client registered with the
``client_credentials`` grant, with at most the scopes pre-authorised for that client. Whoever can run ``dui`` on the
server already holds the database, so this grants nothing new; it is audited as a token issuance all the same.

- ``dui token --client-id ID --scope "system/*.rs" [--minutes N] [--base-url URL]`` prints the access token.

:func:`ensure_demo_access` registers what the demo needs (``dui demo``): the client ``demo-console`` and three local
accounts (a usager, a professional of the EHPAD, the same password, printed — demo data only).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from joserfc.jwk import ECKey, RSAKey

from fhirserver.auth import scopes
from fhirserver.auth.bearer import access_token_claims, sign_access_token
from fhirserver.auth.keys import SigningKey
from fhirserver.auth.models import Client
from fhirserver.auth.passwords import new_token
from fhirserver.auth.store import AuthStore
from fhirserver.auth.urls import Urls, urls_for

MAX_MINUTES = 24 * 60
DEFAULT_BASE = "http://127.0.0.1:8080/fhir"
DEMO_CLIENT = "demo-console"
DEMO_PASSWORD = "demo-dui-tilleuls"  # noqa: S105 - demo accounts on fictitious data, printed by `dui demo`
#: (username, fhirUser) of the demo's local accounts
DEMO_ACCOUNTS = (("demo.usager", "Patient/ehpad-usager-001"), ("demo.soignant", "Practitioner/ehpad-pro-001"))


class TokenError(ValueError):
    """The token cannot be minted (unknown client, wrong grant type, scope not pre-authorised …)."""


def mint_token(store: AuthStore, key: RSAKey, urls: Urls, client_id: str, scope: str, minutes: int) -> str:
    """A recorded access token for a ``client_credentials`` client, limited to its pre-authorised scopes."""
    client = store.client(client_id)
    if client is None:
        raise TokenError(f"no client {client_id!r} is registered (dui clients add)")
    if "client_credentials" not in client.grant_types:
        raise TokenError(f"client {client_id!r} is not a Backend Services client (grant type client_credentials)")
    if not 1 <= minutes <= MAX_MINUTES:
        raise TokenError(f"--minutes must be between 1 and {MAX_MINUTES}")
    try:
        scopes.validate(scope)
    except scopes.ScopeError as exc:
        raise TokenError(f"--scope: {exc}") from exc
    granted = client.get_allowed_scope(scope)
    if not granted:
        raise TokenError(f"none of the requested scopes is pre-authorised for client {client_id!r}")
    ttl = minutes * 60
    grant_id = store.new_grant(client_id, None, granted, None, None, None)
    jti = new_token(18)
    claims = access_token_claims(urls, jti=jti, subject=client_id, client_id=client_id, scope=granted, ttl=ttl)
    token = sign_access_token(key, claims)
    store.save_token(jti, grant_id, client_id, None, granted, ttl, None, None)
    return token


def _audit(ctx: Any, client_id: str, outcome: str, detail: str) -> None:
    audit = ctx.services.audit
    if audit is not None:
        audit.record_event(kind="token", outcome=outcome, client_id=client_id, detail=detail)


def cmd_token(args: argparse.Namespace) -> int:
    from fhirserver.cli import _context, _settings

    settings = _settings(args)
    base = (args.base_url or settings.server.base_url or DEFAULT_BASE).rstrip("/")
    with _context(settings) as ctx:
        store = AuthStore(ctx.repo.engine)
        key = SigningKey(ctx.repo.engine, settings.auth.signing_key_file).get()
        try:
            token = mint_token(store, key, urls_for(settings, base), args.client_id, args.scope, args.minutes)
        except TokenError as exc:
            _audit(ctx, args.client_id, "failure", "dui token refused")
            print(f"error: {exc}", file=sys.stderr)
            return 2
        _audit(ctx, args.client_id, "success", "dui token (operator)")
    print(token)
    return 0


def _has_user(store: AuthStore, username: str) -> bool:
    from sqlalchemy import select

    from fhirserver.auth.schema import auth_user

    with store.engine.connect() as conn:
        return conn.execute(select(auth_user.c.id).where(auth_user.c.username == username)).first() is not None


def ensure_demo_access(store: AuthStore) -> list[str]:
    """Register the demo client and accounts when they are missing; the lines to print."""
    lines = []
    if store.client(DEMO_CLIENT) is None:
        public = ECKey.generate_key("P-384", parameters={"kid": "demo-console-1"}, private=False)
        store.add_client(Client(client_id=DEMO_CLIENT, auth_method="private_key_jwt", redirect_uris=[],
                                grant_types=["client_credentials"], scope="system/*.cruds",
                                name="Console de démonstration", jwks={"keys": [public.as_dict(private=False)]}))
    lines.append(f"API token for curl: TOKEN=$(.venv/bin/dui token --client-id {DEMO_CLIENT} --scope 'system/*.rs')")
    for username, fhir_user in DEMO_ACCOUNTS:
        if not _has_user(store, username):
            store.add_user(username, DEMO_PASSWORD, fhir_user)
        lines.append(f"local account {username} / {DEMO_PASSWORD} ({fhir_user})")
    return lines


def register(sub: Any) -> None:
    token = sub.add_parser("token", help="mint an access token for a Backend Services client (scripts, curl)")
    token.add_argument("--client-id", required=True)
    token.add_argument("--scope", required=True, help="space-separated; at most the client's pre-authorised scopes")
    token.add_argument("--minutes", type=int, default=60, help=f"lifetime, 1 to {MAX_MINUTES} (default 60)")
    token.add_argument("--base-url", help=f"the FHIR base the token is for (default [server] base_url, else "
                                          f"{DEFAULT_BASE})")
    token.set_defaults(func=cmd_token)
