"""The shipped configuration protects the FHIR API: a token is required unless an operator turns it off."""

from __future__ import annotations

from typing import Any

from fhirserver.app import build_context, create_app
from fhirserver.settings import load_settings
from tests.conftest import wipe


def _default_app(database_url: str) -> tuple[Any, Any]:
    ctx = build_context(load_settings(database_url=database_url))
    wipe(ctx)
    return ctx, create_app(ctx.settings, context=ctx).test_client()


def test_default_settings_require_a_token(database_url: str) -> None:
    """With config/default.toml as shipped, reads, searches and writes without a bearer token answer 401."""
    ctx, client = _default_app(database_url)
    try:
        assert ctx.settings.auth.required is True
        for method, path in (("GET", "/fhir/Patient"), ("GET", "/fhir/Patient/p1"), ("POST", "/fhir/Patient"),
                             ("GET", "/fhir/Patient/p1/$everything"), ("POST", "/fhir")):
            resp = client.open(path, method=method, json={"resourceType": "Patient"} if method == "POST" else None)
            assert resp.status_code == 401, (method, path)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert resp.get_json()["resourceType"] == "OperationOutcome"
    finally:
        ctx.repo.engine.dispose()


def test_discovery_stays_open_by_default(database_url: str) -> None:
    """The CapabilityStatement and the SMART configuration answer without a token and name the OAuth endpoints."""
    ctx, client = _default_app(database_url)
    try:
        metadata = client.get("/fhir/metadata")
        assert metadata.status_code == 200
        security = metadata.get_json()["rest"][0]["security"]
        assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
        assert client.get("/fhir/.well-known/smart-configuration").status_code == 200
    finally:
        ctx.repo.engine.dispose()
