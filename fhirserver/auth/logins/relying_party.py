"""The relying-party checks: authorization request (state, nonce, PKCE S256, acr_values), code exchange, id_token
verification and userinfo (JSON, signed ``application/jwt``, or JWE then signed).

OpenID Connect Core 1.0 §3.1.2.1 (request), §3.1.3.7 (id_token validation), §5.3.2 (userinfo ``sub``); RFC 7636
(PKCE); FranceConnect v2 (ES256 / RS256 only, signed userinfo, state and nonce ≥ 32 characters) and Pro Santé
Connect (acr ≥ eidas1, JWE userinfo): ../shared/specs/french-interop.md §8–9; negative cases of the OpenID RP
Basic plan: ../shared/specs/smart-auth-portals.md §5.3.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from joserfc import jwe, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from fhirserver.auth.logins.providers import ACR_LEVELS, TIMEOUT, Provider, ProviderError

ALGORITHMS = ("RS256", "ES256")
#: JWE key management and content encryption accepted for userinfo (PSC's Keycloak: RSA-OAEP / A256GCM by default)
JWE_ALGORITHMS = ("RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW", "A128GCM", "A256GCM",
                  "A128CBC-HS256", "A256CBC-HS512")
CLOCK_SKEW = 120
MAX_IAT_AGE = 600


class LoginRefused(Exception):
    """The provider's answer fails a check; ``reason`` is a short English code for the audit trail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PendingLogin:
    """What the authorization request binds to the browser (kept server-side until the callback)."""

    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Identity:
    issuer: str
    sub: str
    acr: str | None
    id_token: str
    claims: dict[str, Any]  # userinfo claims (identity, professional data)


def new_pending() -> PendingLogin:
    return PendingLogin(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                        code_verifier=secrets.token_urlsafe(48))


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def authorization_url(provider: Provider, pending: PendingLogin, redirect_uri: str) -> str:
    params = {"response_type": "code", "client_id": provider.client_id, "redirect_uri": redirect_uri,
              "scope": provider.scope, "state": pending.state, "nonce": pending.nonce,
              "acr_values": provider.acr_values, "code_challenge": _challenge(pending.code_verifier),
              "code_challenge_method": "S256"}
    endpoint = str(provider.metadata()["authorization_endpoint"])
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


def complete(provider: Provider, pending: PendingLogin, code: str, redirect_uri: str) -> Identity:
    """Exchange the code, verify the id_token, fetch and check userinfo."""
    tokens = _exchange(provider, pending, code, redirect_uri)
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise LoginRefused("no id_token")
    claims = verify_id_token(provider, id_token, pending.nonce)
    info: dict[str, Any] = {}
    if provider.metadata().get("userinfo_endpoint") and isinstance(tokens.get("access_token"), str):
        info = userinfo(provider, str(tokens["access_token"]))
        if info.get("sub") != claims["sub"]:
            raise LoginRefused("userinfo sub differs from the id_token sub")
    merged = {k: v for k, v in claims.items() if k not in ("aud", "exp", "iat", "nonce", "at_hash", "azp")}
    merged.update(info)
    return Identity(issuer=str(claims["iss"]), sub=str(claims["sub"]), acr=claims.get("acr"), id_token=id_token,
                    claims=merged)


def _exchange(provider: Provider, pending: PendingLogin, code: str, redirect_uri: str) -> dict[str, Any]:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": pending.code_verifier}
    auth: tuple[str, str] | None = None
    if provider.token_endpoint_auth_method == "client_secret_post":
        data.update(client_id=provider.client_id, client_secret=provider.client_secret)
    else:
        auth = (provider.client_id, provider.client_secret)
    try:
        resp = requests.post(str(provider.metadata()["token_endpoint"]), data=data, auth=auth, timeout=TIMEOUT,
                             headers={"Accept": "application/json"})
        body = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise LoginRefused(f"token endpoint unreachable or not JSON ({exc.__class__.__name__})") from exc
    if resp.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        raise LoginRefused(f"token endpoint refused the code ({error or resp.status_code})")
    return body


def _header(token: str) -> dict[str, Any]:
    try:
        part = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, IndexError) as exc:
        raise LoginRefused("malformed JWT") from exc
    if not isinstance(header, dict):
        raise LoginRefused("malformed JWT")
    return header


def _key_for(provider: Provider, header: dict[str, Any]) -> Any:
    """The provider key for this JWS header: alg allowlisted, key found by ``kid`` (JWKS fetched again once if the
    ``kid`` is unknown), or the only key of that type when the header has no ``kid``."""
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise LoginRefused(f"signature algorithm {alg!r} not accepted")
    kty = "RSA" if alg == "RS256" else "EC"
    kid = header.get("kid")
    for attempt in (False, True):
        keys = [k for k in provider.jwks(refresh=attempt).keys if k.key_type == kty]
        if kid is None:
            if len(keys) == 1:
                return keys[0]
            raise LoginRefused("JWT without kid and several provider keys")
        found = [k for k in keys if k.kid == kid]
        if found:
            return found[0]
    raise LoginRefused("unknown signing key")


def _verify_jws(provider: Provider, token: str) -> dict[str, Any]:
    header = _header(token)
    key = _key_for(provider, header)
    try:
        decoded = jwt.decode(token, key, algorithms=[str(header["alg"])])
    except (JoseError, ValueError) as exc:
        raise LoginRefused(f"bad signature ({exc.__class__.__name__})") from exc
    return dict(decoded.claims)


def verify_id_token(provider: Provider, id_token: str, nonce: str) -> dict[str, Any]:
    claims = _verify_jws(provider, id_token)
    now = int(time.time())
    if claims.get("iss") != provider.metadata()["issuer"]:
        raise LoginRefused("id_token iss is not the provider's issuer")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if provider.client_id not in audiences:
        raise LoginRefused("id_token aud is not our client id")
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise LoginRefused("id_token with several audiences and another azp")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise LoginRefused("id_token without sub")
    if not isinstance(claims.get("exp"), int) or claims["exp"] + CLOCK_SKEW < now:
        raise LoginRefused("id_token expired")
    iat = claims.get("iat")
    if not isinstance(iat, int) or iat > now + CLOCK_SKEW or iat < now - MAX_IAT_AGE:
        raise LoginRefused("id_token iat missing or out of range")
    if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
        raise LoginRefused("id_token nonce does not match")
    if not acr_satisfies(claims.get("acr"), provider.acr_values):
        raise LoginRefused(f"acr {claims.get('acr')!r} lower than {provider.acr_values}")
    return claims


def acr_satisfies(returned: Any, requested: str) -> bool:
    """eidas1 < eidas2 < eidas3; a missing or unknown ``acr`` never satisfies a request."""
    if not isinstance(returned, str) or returned not in ACR_LEVELS:
        return False
    return ACR_LEVELS.index(returned) >= ACR_LEVELS.index(requested)


def userinfo(provider: Provider, access_token: str) -> dict[str, Any]:
    try:
        resp = requests.get(str(provider.metadata()["userinfo_endpoint"]), timeout=TIMEOUT,
                            headers={"Authorization": f"Bearer {access_token}",
                                     "Accept": "application/json, application/jwt"})
    except requests.RequestException as exc:
        raise LoginRefused(f"userinfo unreachable ({exc.__class__.__name__})") from exc
    if resp.status_code != 200:
        raise LoginRefused(f"userinfo refused ({resp.status_code})")
    media = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media == "application/jwt":
        return _userinfo_jwt(provider, resp.text.strip())
    try:
        data = resp.json()
    except ValueError as exc:
        raise LoginRefused("userinfo is not JSON") from exc
    if not isinstance(data, dict):
        raise LoginRefused("userinfo is not a JSON object")
    return data


def _userinfo_jwt(provider: Provider, token: str) -> dict[str, Any]:
    if token.count(".") == 4:
        token = _decrypt(provider, token)
    claims = _verify_jws(provider, token)
    iss, aud = claims.get("iss"), claims.get("aud")
    if iss is not None and iss != provider.metadata()["issuer"]:
        raise LoginRefused("userinfo iss is not the provider's issuer")
    if aud is not None and provider.client_id not in (aud if isinstance(aud, list) else [aud]):
        raise LoginRefused("userinfo aud is not our client id")
    return claims


def _decrypt(provider: Provider, token: str) -> str:
    if not provider.userinfo_decryption_key_file:
        raise LoginRefused("encrypted userinfo and no decryption key configured")
    key = decryption_key(provider.userinfo_decryption_key_file)
    try:
        plain = jwe.decrypt_compact(token, key, algorithms=JWE_ALGORITHMS).plaintext
    except (JoseError, ValueError) as exc:
        raise LoginRefused(f"userinfo cannot be decrypted ({exc.__class__.__name__})") from exc
    if plain is None:
        raise LoginRefused("userinfo cannot be decrypted")
    return plain.decode("utf-8").strip()


def decryption_key(path: str) -> RSAKey | ECKey | KeySet:
    """A private key from a PEM file or a JWK / JWKS JSON file."""
    raw = Path(path).read_bytes()
    try:
        if raw.lstrip().startswith(b"{"):
            data = json.loads(raw)
            if "keys" in data:
                return KeySet.import_key_set(data)
            return RSAKey.import_key(data) if data.get("kty") == "RSA" else ECKey.import_key(data)
        text = raw.decode("ascii")
        return RSAKey.import_key(text) if "RSA" in text or _is_rsa_pem(text) else ECKey.import_key(text)
    except (ValueError, KeyError) as exc:
        raise ProviderError(f"userinfo decryption key {path}: unreadable ({exc.__class__.__name__})") from exc


def _is_rsa_pem(text: str) -> bool:
    try:
        RSAKey.import_key(text)
    except ValueError:
        return False
    return True
