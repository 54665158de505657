"""What the authorization server stores, as the objects Authlib's grants expect (the ``ClientMixin``,
``AuthorizationCodeMixin`` and ``TokenMixin`` methods of ``authlib.oauth2.rfc6749.models``, duck-typed).

A client authenticates with exactly one method (``auth_method``): ``none`` (public app, PKCE only),
``client_secret_basic`` (secret stored as an argon2id hash) or ``private_key_jwt`` (RFC 7523 assertion signed with a
key of its JWKS, registered by value or by URL).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fhirserver.auth import scopes
from fhirserver.auth.passwords import verify_secret

AUTH_METHODS = ("none", "client_secret_basic", "private_key_jwt")
GRANT_TYPES = ("authorization_code", "client_credentials")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class Client:
    client_id: str
    auth_method: str
    redirect_uris: list[str]
    grant_types: list[str]
    scope: str
    name: str | None = None
    secret_hash: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None

    # --- authlib ClientMixin ---
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # SMART: redirect_uri is always sent and must match a registered one exactly

    def get_allowed_scope(self, scope: str | None) -> str:
        return scopes.restrict(scope, self.scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact string match (RFC 9700 §4.1.3)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and verify_secret(self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "refresh_token":
            return "authorization_code" in self.grant_types
        return grant_type in self.grant_types

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"


@dataclass
class User:
    id: int
    username: str
    fhir_user: str
    patients: list[str] = field(default_factory=list)  # usagers this user may act for (own record included)

    def get_user_id(self) -> int:
        return self.id


@dataclass(frozen=True)
class SessionRecord:
    """A stored browser session (``auth_session``): its user, CSRF token, clocks, and the portal grant it
    signed in with (:mod:`fhirserver.auth.first_party`) with that grant's current access token, by reference."""

    user_id: int
    csrf: str
    created: datetime
    last_seen: datetime
    expires_at: datetime
    grant_id: str | None = None
    token_jti: str | None = None


@dataclass
class AuthorizationCode:
    code_hash: str
    grant_id: str
    client_id: str
    user_id: int
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    aud: str
    auth_time: int
    patient: str | None = None
    encounter: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return ["pwd"]


@dataclass
class Token:
    jti: str
    grant_id: str
    client_id: str
    user_id: int | None
    scope: str
    issued_at: datetime
    expires_at: datetime
    refresh_expires_at: datetime | None = None
    revoked: bool = False
    patient: str | None = None
    encounter: str | None = None
    fhir_user: str | None = None
    username: str | None = None
    is_refresh: bool = False  # found by its refresh token (introspection / revocation)

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        end = self.refresh_expires_at if self.is_refresh else self.expires_at
        return end is None or end <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked

    def expires_epoch(self) -> int:
        end = (self.refresh_expires_at if self.is_refresh else self.expires_at) or self.expires_at
        return int(end.replace(tzinfo=UTC).timestamp())


def epoch() -> int:
    return int(time.time())
