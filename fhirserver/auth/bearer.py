"""Bearer-token validation for the FHIR API (RFC 6750; SMART app-launch.html#access-token; ASVS 9.1-9.2, 10.3.1).

A token is accepted when its RS256 signature verifies with the server's key, ``iss`` is this server, ``aud`` is this
FHIR base URL, it has not expired, and neither it nor its grant is revoked (checked in the database by ``jti``, so a
revocation applies to the very next request). Portal sessions reach the same principal through
:func:`principal_of`.
"""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from fhirserver.auth import scopes
from fhirserver.auth.keys import verification_keys
from fhirserver.auth.models import epoch
from fhirserver.auth.principal import Principal
from fhirserver.auth.store import AuthStore
from fhirserver.auth.urls import Urls

LEEWAY = 5


class InvalidToken(Exception):
    """A bearer token that is missing, malformed, expired, revoked or not for this server."""


def access_token_claims(urls: Urls, *, jti: str, subject: str, client_id: str, scope: str, ttl: int,
                        fhir_user: str | None = None, patient: str | None = None) -> dict[str, Any]:
    """The claims of an access token of this server (SMART app-launch.html#access-token; RFC 9068)."""
    now = epoch()
    claims: dict[str, Any] = {"iss": urls.issuer, "sub": subject, "aud": urls.fhir_base, "iat": now,
                              "exp": now + ttl, "jti": jti, "client_id": client_id, "scope": scope}
    if fhir_user:
        claims["fhirUser"] = f"{urls.fhir_base}/{fhir_user}"
    if patient:
        claims["patient"] = patient
    return claims


def sign_access_token(key: RSAKey, claims: dict[str, Any]) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}, claims, key)


def decode_access_token(key: RSAKey, token: str, urls: Urls) -> dict[str, Any] | None:
    """The claims of one of our access tokens (signature, iss, aud, exp checked), or None."""
    try:
        claims = jwt.decode(token, verification_keys(key), algorithms=["RS256"]).claims
    except (JoseError, ValueError, UnicodeError):
        return None
    if claims.get("iss") != urls.issuer:
        return None
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if urls.fhir_base.rstrip("/") not in [a.rstrip("/") for a in audiences if isinstance(a, str)]:
        return None
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp + LEEWAY < time.time():
        return None
    return dict(claims)


def principal_from(store: AuthStore, key: RSAKey, token: str, urls: Urls) -> Principal:
    """The principal of a bearer token: signature and claims checked, then :func:`principal_of` its ``jti``."""
    claims = decode_access_token(key, token, urls)
    if claims is None:
        raise InvalidToken("the access token is not valid for this server, or it has expired")
    return principal_of(store, str(claims.get("jti")))


def principal_of(store: AuthStore, jti: str) -> Principal:
    """The principal of the recorded access token ``jti``: neither it nor its grant revoked, not expired, its
    account still active. The one place a principal is built from a grant: the bearer check calls it after the
    signature, a portal session (:mod:`fhirserver.web.session`, which keeps the ``jti`` of its grant's current
    token server-side) calls it directly."""
    stored = store.active_token(jti)
    if stored is None:
        raise InvalidToken("the access token has been revoked")
    patients: frozenset[str] = frozenset()
    if stored.user_id is not None:
        user = store.user(stored.user_id)
        if user is None:
            raise InvalidToken("the account of this token is no longer active")
        patients = frozenset(user.patients)
    return Principal(client_id=stored.client_id, scope=stored.scope, scopes=scopes.resource_scopes(stored.scope),
                     token_id=stored.jti, grant_id=stored.grant_id,
                     subject=stored.username or stored.client_id, fhir_user=stored.fhir_user,
                     patient=stored.patient, encounter=stored.encounter, patients=patients)
