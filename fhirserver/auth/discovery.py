"""Discovery documents: SMART ``.well-known/smart-configuration`` (conformance.html#using-well-known), OpenID
Provider metadata (OpenID Connect Discovery 1.0 §3) and the CapabilityStatement security component with the
``oauth-uris`` extension that the Python ``fhirclient`` reads (conformance.html, deprecated there but still used).
"""

from __future__ import annotations

from typing import Any

from fhirserver.auth.urls import Urls

CAPABILITIES = [
    "launch-ehr", "launch-standalone", "authorize-post", "client-public", "client-confidential-symmetric",
    "client-confidential-asymmetric", "sso-openid-connect", "context-banner", "context-style",
    "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient", "permission-offline",
    "permission-patient", "permission-user", "permission-v1", "permission-v2",
]
SCOPES = ["openid", "fhirUser", "profile", "launch", "launch/patient", "offline_access",
          "patient/*.cruds", "user/*.cruds", "system/*.cruds", "patient/*.read", "user/*.read", "system/*.read",
          "patient/*.write", "user/*.write", "system/*.write"]
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def smart_configuration(urls: Urls) -> dict[str, Any]:
    return {
        "issuer": urls.issuer,
        "jwks_uri": urls.auth("jwks"),
        "authorization_endpoint": urls.auth("authorize"),
        "token_endpoint": urls.auth("token"),
        "introspection_endpoint": urls.auth("introspect"),
        "revocation_endpoint": urls.auth("revoke"),
        "management_endpoint": urls.auth("apps"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": ["code"],
        "scopes_supported": SCOPES,
        "capabilities": CAPABILITIES,
    }


def openid_configuration(urls: Urls) -> dict[str, Any]:
    return {
        "issuer": urls.issuer,
        "authorization_endpoint": urls.auth("authorize"),
        "token_endpoint": urls.auth("token"),
        "jwks_uri": urls.auth("jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser", "profile", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "fhirUser"],
    }


def capability_security(urls: Urls) -> dict[str, Any]:
    """``CapabilityStatement.rest.security`` when tokens are required."""
    return {
        "cors": True,
        "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                 "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}],
                     "text": "OAuth 2.0 bearer tokens (SMART App Launch 2.2, Backend Services)"}],
        "extension": [{"url": OAUTH_URIS, "extension": [
            {"url": "authorize", "valueUri": urls.auth("authorize")},
            {"url": "token", "valueUri": urls.auth("token")},
            {"url": "introspect", "valueUri": urls.auth("introspect")},
            {"url": "revoke", "valueUri": urls.auth("revoke")},
            {"url": "manage", "valueUri": urls.auth("apps")},
        ]}],
        "description": "Bearer tokens from this server's SMART authorization server; see "
                       ".well-known/smart-configuration.",
    }
