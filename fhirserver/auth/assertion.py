"""``private_key_jwt`` client authentication for SMART asymmetric clients and Backend Services —
https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html, RFC 7523 §3 (and §2.2 of
../shared/specs/smart-auth-portals.md for the Authlib pitfalls this replaces).

Rules: header ``alg`` RS384 or ES384, ``kid`` required, ``typ`` JWT when present, ``jku`` (if any) equal to the
registered JWKS URL; the key is the one key of the client's JWKS (by value or fetched from its URL, cached no longer
than ``Cache-Control: max-age``) whose ``kid`` matches and whose ``kty`` fits ``alg``; claims ``iss`` = ``sub`` =
client_id, ``aud`` = the token endpoint URL, ``exp`` in the future but at most 5 minutes ahead, ``jti`` never seen
before for this issuer. Every failure is ``invalid_client`` with a description saying which rule.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from authlib.oauth2.rfc6749 import InvalidClientError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey
from joserfc.jws import extract_compact

from fhirserver.auth.models import Client
from fhirserver.auth.store import AuthStore

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = {"RS384": "RSA", "ES384": "EC"}
MAX_LIFETIME = 300  # seconds: exp at most 5 minutes ahead (backend-services.html)
LEEWAY = 15  # seconds of clock skew tolerated


class JwksCache:
    """JWKS fetched from a client's URL, kept no longer than the response's ``Cache-Control: max-age``."""

    def __init__(self, fetch: Callable[[str], requests.Response] | None = None) -> None:
        self._fetch = fetch or (lambda url: requests.get(url, timeout=5))
        self._items: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            item = self._items.get(url)
        if item and item[0] > now:
            return item[1]
        try:
            resp = self._fetch(url)
            resp.raise_for_status()
            jwks = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise InvalidClientError(description=f"the client's JWKS could not be fetched from its URL ({exc})") \
                from exc
        match = re.search(r"max-age=(\d+)", resp.headers.get("Cache-Control", ""))
        no_store = "no-store" in resp.headers.get("Cache-Control", "") or "no-cache" in resp.headers.get(
            "Cache-Control", "")
        if match and not no_store:
            with self._lock:
                self._items[url] = (now + int(match.group(1)), jwks)
        return jwks if isinstance(jwks, dict) else {}


def _fail(text: str) -> InvalidClientError:
    return InvalidClientError(description=text)


def _select_key(jwks: dict[str, Any], kid: str, alg: str) -> RSAKey | ECKey:
    kty = ALGORITHMS[alg]
    found = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") == kid and k.get("kty") == kty]
    if len(found) != 1:
        raise _fail(f"the client's JWKS has {len(found)} keys with kid {kid!r} and kty {kty} (exactly one needed)")
    data = {k: v for k, v in found[0].items() if k not in ("d", "p", "q", "dp", "dq", "qi")}  # public part only
    try:
        return RSAKey.import_key(data) if kty == "RSA" else ECKey.import_key(data)
    except (JoseError, ValueError) as exc:
        raise _fail(f"the client's key {kid!r} cannot be used: {exc}") from exc


def authenticate(store: AuthStore, token_url: Callable[[], str], cache: JwksCache, query_client: Any,
                 request: Any) -> Client | None:
    """The Authlib client-auth callable: the client, None when no assertion is sent, or ``invalid_client``."""
    form = request.form
    assertion_type, assertion = form.get("client_assertion_type"), form.get("client_assertion")
    if not assertion_type and not assertion:
        return None
    if assertion_type != ASSERTION_TYPE:
        raise _fail(f"client_assertion_type must be {ASSERTION_TYPE}")
    if not assertion:
        raise _fail("client_assertion is missing")
    try:
        compact = extract_compact(assertion.encode("ascii"))
        header = compact.headers()
        unverified = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise _fail("client_assertion is not a compact JWS") from exc
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise _fail(f"client_assertion alg {alg!r} is not accepted (RS384 or ES384)")
    if not isinstance(kid, str) or not kid:
        raise _fail("client_assertion header needs a kid")
    if header.get("typ") not in (None, "JWT"):
        raise _fail("client_assertion typ must be JWT")
    client_id = unverified.get("iss") if isinstance(unverified, dict) else None
    client = query_client(client_id) if isinstance(client_id, str) else None
    if client is None or client.auth_method != "private_key_jwt":
        raise _fail("the assertion's iss is not a client registered for private_key_jwt")
    jku = header.get("jku")
    if jku is not None and jku != client.jwks_url:
        raise _fail("the assertion's jku is not the client's registered JWKS URL")
    jwks = client.jwks if client.jwks else cache.get(client.jwks_url or "")
    key = _select_key(jwks, kid, alg)
    try:
        claims = jwt.decode(assertion, KeySet([key]), algorithms=[alg]).claims
    except JoseError as exc:
        raise _fail(f"client_assertion signature is not valid ({exc.description or exc.error})") from exc
    _check_claims(claims, client.client_id, token_url())
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC).replace(tzinfo=None)
    if not store.remember_jti(client.client_id, str(claims["jti"]), expires):
        raise _fail("client_assertion jti was already used (replay)")
    return client


def _check_claims(claims: dict[str, Any], client_id: str, token_url: str) -> None:
    now = time.time()
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise _fail("client_assertion iss and sub must both be the client_id")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a.rstrip("/") == token_url.rstrip("/") for a in audiences):
        raise _fail("client_assertion aud must be the token endpoint URL")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise _fail("client_assertion exp is missing")
    if exp < now - LEEWAY:
        raise _fail("client_assertion has expired")
    if exp > now + MAX_LIFETIME + LEEWAY:
        raise _fail("client_assertion exp is more than 5 minutes in the future")
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and nbf > now + LEEWAY:
        raise _fail("client_assertion is not valid yet (nbf)")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise _fail("client_assertion jti is missing")
