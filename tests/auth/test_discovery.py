"""Discovery and the resource server's front door: smart-configuration (JSON whatever the Accept), OpenID metadata,
JWKS, the CapabilityStatement security component (oauth-uris, SMART-on-FHIR service), 401 with WWW-Authenticate and
an OperationOutcome, introspection (RFC 7662 / SMART token-introspection.html)."""

from __future__ import annotations

import requests

from tests.auth.conftest import Env, patient_token


def test_smart_configuration(env: Env) -> None:
    """The SMART configuration is application/json for any Accept, lists S256 only, absolute URLs, CORS open."""
    for accept in ("text/html", "application/fhir+xml", "*/*"):
        resp = requests.get(env.fhir + "/.well-known/smart-configuration", headers={"Accept": accept,
                                                                                    "Origin": "http://app"},
                            timeout=10)
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
    config = resp.json()
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["token_endpoint"] == env.url("token") and config["authorization_endpoint"] == env.url("authorize")
    assert {"authorization_code", "client_credentials", "refresh_token"} <= set(config["grant_types_supported"])
    assert {"RS384", "ES384"} <= set(config["token_endpoint_auth_signing_alg_values_supported"])
    assert {"launch-ehr", "launch-standalone", "permission-v2", "sso-openid-connect"} <= set(config["capabilities"])
    assert config["issuer"] == env.base and config["jwks_uri"] == env.url("jwks")
    assert all(str(v).startswith("http://127.0.0.1") for k, v in config.items() if k.endswith(("_endpoint", "_uri")))


def test_openid_configuration_and_jwks(env: Env) -> None:
    """OpenID metadata at the issuer; JWKS with one bare RSA public key and a kid."""
    config = requests.get(env.base + "/.well-known/openid-configuration", timeout=10).json()
    assert config["issuer"] == env.base and "RS256" in config["id_token_signing_alg_values_supported"]
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
                 "subject_types_supported"):
        assert config[name]
    keys = requests.get(config["jwks_uri"], timeout=10).json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["kid"] and "d" not in keys[0]


def test_capability_statement_security(env: Env) -> None:
    """/metadata stays open and carries the oauth-uris extension and the SMART-on-FHIR service coding."""
    resp = requests.get(env.fhir + "/metadata", headers={"Accept": "application/fhir+json"}, timeout=10)
    assert resp.status_code == 200
    security = resp.json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert security["extension"][0]["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    assert uris["authorize"] == env.url("authorize") and uris["token"] == env.url("token")


def test_api_without_token_is_401(records: Env) -> None:
    """Every FHIR interaction without a valid token is 401 with WWW-Authenticate and an OperationOutcome."""
    for method, path in (("GET", "Patient/p1"), ("GET", "Patient"), ("POST", ""), ("GET", "Patient/p1/$everything")):
        resp = requests.request(method, f"{records.fhir}/{path}", timeout=10, json={"resourceType": "Bundle",
                                                                                    "type": "batch"})
        assert resp.status_code == 401, (method, path)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert resp.json()["issue"][0]["code"] == "login"
    forged = requests.get(f"{records.fhir}/Patient/p1", headers={"Authorization": "Bearer e30.e30.x"}, timeout=10)
    assert forged.status_code == 401 and 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    basic = requests.get(f"{records.fhir}/Patient/p1", auth=("u", "p"), timeout=10)
    assert basic.status_code == 401


def test_token_for_another_audience_is_rejected(records: Env) -> None:
    """A token signed by this server but for another aud is refused by the resource server."""
    records.add_client()
    records.add_user("jeanne", "Patient/p1")
    token = patient_token(records)["access_token"]
    other = requests.get(f"{records.fhir}/Patient/p1", timeout=10, headers={
        "Authorization": f"Bearer {token}", "Host": "other.example"})
    assert other.status_code == 401


def test_introspection_of_a_patient_token(records: Env) -> None:
    """Introspection by the public client returns active, scope, client_id, exp, patient, fhirUser, iss, sub;
    after revocation it is just active=false; a bearer token of the same client may introspect too."""
    records.add_client()
    records.add_user("jeanne", "Patient/p1")
    token = patient_token(records)
    resp = requests.post(records.url("introspect"), data={"token": token["access_token"], "client_id": "app"},
                         timeout=10)
    body = resp.json()
    assert body["active"] is True and body["client_id"] == "app" and body["patient"] == "p1"
    assert body["scope"] == token["scope"] and body["sub"] == "jeanne" and body["iss"] == records.base
    assert body["fhirUser"] == f"{records.fhir}/Patient/p1" and isinstance(body["exp"], int)
    refresh = requests.post(records.url("introspect"), data={"token": token["refresh_token"], "client_id": "app",
                                                             "token_type_hint": "refresh_token"}, timeout=10)
    assert refresh.json()["active"] is True
    by_bearer = requests.post(records.url("introspect"), data={"token": token["access_token"]},
                              headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
    assert by_bearer.json()["active"] is True
    records.add_client("other")
    foreign = requests.post(records.url("introspect"), data={"token": token["access_token"], "client_id": "other"},
                            timeout=10)
    assert foreign.json() == {"active": False}
    requests.post(records.url("revoke"), data={"token": token["refresh_token"], "client_id": "app"}, timeout=10)
    after = requests.post(records.url("introspect"), data={"token": token["access_token"], "client_id": "app"},
                          timeout=10)
    assert after.json() == {"active": False}


def test_cors_for_registered_origins_only(records: Env) -> None:
    """The token endpoint and the FHIR API answer CORS for the origins of registered redirect URIs only;
    a preflight lists the Authorization header."""
    records.add_client(redirect_uris=["https://app.example:8443/cb"])
    preflight = requests.options(f"{records.fhir}/Patient/p1", timeout=10, headers={
        "Origin": "https://app.example:8443", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example:8443"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    token = requests.post(records.url("token"), data={"grant_type": "authorization_code", "code": "x",
                                                      "client_id": "app"},
                          headers={"Origin": "https://app.example:8443"}, timeout=10)
    assert token.headers["Access-Control-Allow-Origin"] == "https://app.example:8443"
    evil = requests.post(records.url("token"), data={"grant_type": "authorization_code", "code": "x",
                                                     "client_id": "app"},
                         headers={"Origin": "https://evil.example"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in evil.headers
    api_evil = requests.get(f"{records.fhir}/Patient/p1", headers={"Origin": "https://evil.example"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in api_evil.headers


def test_nonce_is_echoed_in_the_id_token(records: Env) -> None:
    """A nonce sent with the authorization request comes back in the id_token."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    records.add_client()
    records.add_user("jeanne", "Patient/p1")
    token = patient_token(records, nonce="n-0S6_WzA2Mj")
    jwks = KeySet.import_key_set(requests.get(records.url("jwks"), timeout=10).json())
    assert jwt.decode(token["id_token"], jwks, algorithms=["RS256"]).claims["nonce"] == "n-0S6_WzA2Mj"
