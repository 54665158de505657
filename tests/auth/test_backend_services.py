"""SMART Backend Services (backend-services.html, client-confidential-asymmetric.html, RFC 7523): client_credentials
with private_key_jwt, RS384 and ES384 keys generated here, JWKS registered by value or by URL, and every rule of the
assertion (exp at most 5 minutes ahead, jti never replayed, aud = token URL, kid / kty / alg, jku whitelist)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fhirclient import client as smart_client
from fhirclient.models.patient import Patient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.auth.conftest import Env, api

RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)
EC = ECKey.generate_key("P-384", parameters={"kid": "ec-1"}, private=True)
OTHER = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)
JWKS = {"keys": [{**RSA.as_dict(private=False), "kid": "rsa-1", "alg": "RS384"},
                 {**EC.as_dict(private=False), "kid": "ec-1", "alg": "ES384"}]}
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def assertion(env: Env, key: Any = RSA, alg: str = "RS384", *, kid: str | None = None, client_id: str = "backend",
              exp: float | None = None, jti: str | None = None, aud: str | None = None,
              extra_header: dict[str, str] | None = None) -> str:
    now = time.time()
    header = {"alg": alg, "typ": "JWT", "kid": kid or key.kid, **(extra_header or {})}
    claims = {"iss": client_id, "sub": client_id, "aud": aud or env.url("token"),
              "exp": int(exp if exp is not None else now + 300), "jti": jti or str(uuid.uuid4())}
    return jwt.encode(header, claims, key, algorithms=[alg])


def token_request(env: Env, client_assertion: str, scope: str = "system/*.rs", **extra: str) -> requests.Response:
    data = {"grant_type": "client_credentials", "scope": scope, "client_assertion_type": ASSERTION,
            "client_assertion": client_assertion, **extra}
    return requests.post(env.url("token"), data=data, timeout=10)


@pytest.fixture()
def backend(records: Env) -> Env:
    records.add_client("backend", auth_method="private_key_jwt", jwks=JWKS, scope="system/*.rs system/Patient.c",
                       grant_types=["client_credentials"], redirect_uris=[])
    return records


@pytest.mark.parametrize(("key", "alg"), [(RSA, "RS384"), (EC, "ES384")])
def test_backend_token_with_rs384_and_es384(backend: Env, key: Any, alg: str) -> None:
    """A correct assertion (exp = now + 5 min) gets a short-lived bearer token that reads every usager."""
    resp = token_request(backend, assertion(backend, key, alg))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"].lower() == "bearer" and body["scope"] == "system/*.rs"
    assert isinstance(body["expires_in"], int) and body["expires_in"] <= 300
    assert "refresh_token" not in body and "id_token" not in body
    assert "no-store" in resp.headers["Cache-Control"]
    found = api(backend, body["access_token"], "Patient").json()
    assert {e["resource"]["id"] for e in found["entry"]} == {"p1", "p2"}
    assert api(backend, body["access_token"], "Observation/o2").status_code == 200
    created = api(backend, body["access_token"], "Observation", "POST", {
        "resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": "Patient/p1"}})
    assert created.status_code == 403  # system/*.rs: no create on Observation


def test_backend_token_with_fhirclient_jwt_token(backend: Env) -> None:
    """fhirclient's client_credentials flow (a pre-signed jwt_token) gets a token and reads a Patient."""
    smart = smart_client.FHIRClient(settings={"app_id": "backend", "api_base": backend.fhir,
                                              "scope": "system/*.rs", "jwt_token": assertion(backend)})
    smart.prepare()
    smart.server.auth.authorize(smart.server)
    assert Patient.read("p1", smart.server).name[0].family == "Martin"


def test_expired_assertion_is_refused(backend: Env) -> None:
    """An assertion whose exp has passed is invalid_client."""
    resp = token_request(backend, assertion(backend, exp=time.time() - 120))
    assert resp.status_code in (400, 401) and resp.json()["error"] == "invalid_client"
    assert "expired" in resp.json()["error_description"]


def test_exp_more_than_five_minutes_ahead_is_refused(backend: Env) -> None:
    """exp 50 minutes ahead is refused (the 5-minute cap Authlib does not enforce)."""
    resp = token_request(backend, assertion(backend, exp=time.time() + 3000))
    assert resp.json()["error"] == "invalid_client" and "5 minutes" in resp.json()["error_description"]


def test_replayed_jti_is_refused(backend: Env) -> None:
    """The same assertion presented twice: the second is a replay."""
    signed = assertion(backend, jti="once-only")
    assert token_request(backend, signed).status_code == 200
    again = token_request(backend, signed)
    assert again.json()["error"] == "invalid_client" and "jti" in again.json()["error_description"]


@pytest.mark.parametrize("case", ["aud", "alg-rs256", "unknown-kid", "other-key", "kty-mismatch", "sub",
                                  "jku", "type", "garbage"])
def test_bad_assertions_are_refused(backend: Env, case: str) -> None:
    """Wrong aud, a non-accepted alg, unknown kid, a key not registered, kid of the wrong kty, iss != sub,
    an unregistered jku, a wrong assertion type and a non-JWT are all invalid_client."""
    extra: dict[str, str] = {}
    if case == "aud":
        signed = assertion(backend, aud=backend.fhir)
    elif case == "alg-rs256":
        signed = assertion(backend, alg="RS256")
    elif case == "unknown-kid":
        signed = assertion(backend, kid="nope")
    elif case == "other-key":
        signed = assertion(backend, OTHER)
    elif case == "kty-mismatch":
        signed = assertion(backend, EC, "ES384", kid="rsa-1")
    elif case == "sub":
        now = time.time()
        signed = jwt.encode({"alg": "RS384", "kid": "rsa-1", "typ": "JWT"},
                            {"iss": "backend", "sub": "someone", "aud": backend.url("token"), "exp": int(now + 60),
                             "jti": "x1"}, RSA, algorithms=["RS384"])
    elif case == "jku":
        signed = assertion(backend, extra_header={"jku": "http://evil.example/jwks.json"})
    elif case == "type":
        signed = assertion(backend)
        extra = {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}
    else:
        signed = "not.a.jwt"
    resp = token_request(backend, signed, **extra)
    assert resp.status_code in (400, 401), resp.text
    assert resp.json()["error"] == "invalid_client"


def test_scope_not_pre_authorised_is_refused(backend: Env) -> None:
    """Only the client's registered scopes can be granted."""
    resp = token_request(backend, assertion(backend), scope="system/*.cruds")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_scope"
    partial = token_request(backend, assertion(backend), scope="system/Patient.c system/Observation.cud")
    assert partial.status_code == 200 and partial.json()["scope"] == "system/Patient.c"


def test_bad_grant_type_is_refused(backend: Env) -> None:
    """An unknown grant_type is unsupported_grant_type (400)."""
    resp = token_request(backend, assertion(backend), grant_type="password")
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"


def test_public_client_cannot_use_client_credentials(backend: Env) -> None:
    """client_credentials needs private_key_jwt: a public client id alone gets nothing."""
    backend.add_client("pub")
    resp = requests.post(backend.url("token"), data={"grant_type": "client_credentials", "client_id": "pub",
                                                     "scope": "system/*.rs"}, timeout=10)
    assert resp.status_code in (400, 401) and resp.json()["error"] == "invalid_client"


@pytest.fixture()
def jwks_server() -> Iterator[tuple[str, list[int]]]:
    hits: list[int] = []

    @Request.application  # type: ignore[misc]
    def app(request: Request) -> Response:
        hits.append(1)
        return Response(json.dumps(JWKS), content_type="application/json",
                        headers={"Cache-Control": "max-age=300"})

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks.json", hits
    finally:
        server.shutdown()
        server.server_close()


def test_jwks_by_url_is_fetched_and_cached(records: Env, jwks_server: tuple[str, list[int]]) -> None:
    """A client registered with a JWKS URL: the keys are fetched from it (once, per Cache-Control), and a jku
    header equal to that URL is accepted."""
    url, hits = jwks_server
    records.add_client("byurl", auth_method="private_key_jwt", jwks_url=url, scope="system/*.rs",
                       grant_types=["client_credentials"], redirect_uris=[])
    first = token_request(records, assertion(records, EC, "ES384", client_id="byurl"))
    assert first.status_code == 200, first.text
    second = token_request(records, assertion(records, RSA, "RS384", client_id="byurl",
                                              extra_header={"jku": url}))
    assert second.status_code == 200, second.text
    assert len(hits) == 1


def test_introspection_of_a_backend_token(backend: Env) -> None:
    """The client introspects its own token with a client assertion; an invalid token is just active=false."""
    token = token_request(backend, assertion(backend)).json()["access_token"]
    resp = requests.post(backend.url("introspect"), data={
        "token": token, "client_assertion_type": ASSERTION, "client_assertion": assertion(backend)}, timeout=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["active"] is True and body["client_id"] == "backend" and body["scope"] == "system/*.rs"
    assert body["exp"] > time.time() and body["iss"] == backend.base
    invalid = requests.post(backend.url("introspect"), data={
        "token": "invalid_token_value", "client_assertion_type": ASSERTION, "client_assertion": assertion(backend)},
        timeout=10)
    assert invalid.json() == {"active": False}
