"""The SMART App Launch 2.2 / Backend Services authorization server on Authlib's OAuth 2.0 core.

https://hl7.org/fhir/smart-app-launch/app-launch.html, backend-services.html; RFC 6749, 7636 (PKCE), 7523
(private_key_jwt), 7662 (introspection), 7009 (revocation); OpenID Connect Core 1.0 (id_token with ``fhirUser``).
The overrides of Authlib defaults are those listed in ../shared/specs/smart-auth-portals.md §3: PKCE S256 required
from every client (``plain`` refused), SMART scope grammar instead of exact-set scope validation, ``aud`` checked at
the authorization step, RS384 / ES384 client assertions with a 5-minute ``exp`` cap and ``jti`` replay store, refresh
tokens rotated with reuse detection, no scope escalation on refresh, ``private_key_jwt`` as the auth-method name.

Access tokens are RS256 JWTs (RFC 9068 claims: ``iss``, ``sub``, ``aud`` = the FHIR base URL, ``exp``, ``iat``,
``jti``, ``client_id``, ``scope``) whose ``jti`` is also stored, so that revocation takes effect at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode
from joserfc.jwk import RSAKey

from fhirserver.audit import oauth as audit
from fhirserver.auth import assertion, scopes
from fhirserver.auth.bearer import access_token_claims, sign_access_token
from fhirserver.auth.keys import SigningKey
from fhirserver.auth.models import AuthorizationCode, Client, Token, User, epoch, utcnow
from fhirserver.auth.passwords import new_token
from fhirserver.auth.store import AuthStore
from fhirserver.auth.urls import Urls
from fhirserver.settings import Settings

CODE_FLOW_AUTH = ["client_secret_basic", "private_key_jwt", "none"]
BACKEND_MAX_TTL = 300  # backend-services.html: access tokens SHOULD live 5 minutes at most


class SmartServer(AuthorizationServer):
    def __init__(self, store: AuthStore, settings: Settings, key: SigningKey, urls: Callable[[], Urls]) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.signing_key = key
        self.urls = urls
        self._query_client = store.client
        self._save_token = self._store_token
        self.register_token_generator("default", self._generate)
        cache = assertion.JwksCache()
        self.register_client_auth_method(
            "private_key_jwt",
            lambda query_client, request: assertion.authenticate(store, lambda: urls().auth("token"), cache,
                                                                 query_client, request))
        self.register_grant(SmartCodeGrant, [S256Challenge(), SmartAuthorizeRules(), SmartOpenIDCode(self)])
        self.register_grant(SmartRefreshGrant)
        self.register_grant(BackendServicesGrant)
        self.register_endpoint(SmartIntrospection)
        self.register_endpoint(SmartRevocation)

    @property
    def key(self) -> RSAKey:
        return self.signing_key.get()

    # --- scopes ----------------------------------------------------------------------------------

    def validate_requested_scope(self, scope: str | None) -> None:
        try:
            scopes.validate(scope)
        except scopes.ScopeError as exc:
            raise InvalidScopeError(description=str(exc)) from exc

    # --- tokens ----------------------------------------------------------------------------------

    def _generate(self, grant_type: str, client: Client, user: User | None = None, scope: str | None = None,
                  expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        ttl = self.settings.auth.access_token_ttl_seconds
        if grant_type == "client_credentials":
            ttl = min(ttl, BACKEND_MAX_TTL)
        token: dict[str, Any] = {"token_type": "Bearer", "access_token": "", "expires_in": expires_in or ttl,
                                 "scope": scope or ""}
        granted = scopes.split(scope)
        if include_refresh_token and ("offline_access" in granted or "online_access" in granted):
            token["refresh_token"] = new_token(32)
        return token

    def _store_token(self, token: dict[str, Any], request: Any) -> None:
        """Sign the access token, record it (and its refresh token), add the SMART launch context."""
        client: Client = request.client
        user: User | None = request.user
        code: AuthorizationCode | None = request.authorization_code
        previous: Token | None = getattr(request, "refresh_token", None)
        if code is not None:
            grant_id, patient, encounter = code.grant_id, code.patient, code.encounter
            refresh_end = utcnow() + timedelta(days=self.settings.auth.refresh_token_ttl_days)
        elif isinstance(previous, Token):
            grant_id, patient, encounter = previous.grant_id, previous.patient, previous.encounter
            refresh_end = previous.refresh_expires_at or utcnow()
        else:
            patient = encounter = None
            refresh_end = None
            grant_id = self.store.new_grant(client.client_id, None, token["scope"], None, None, None)
        jti = new_token(18)
        urls = self.urls()
        claims = access_token_claims(urls, jti=jti, subject=user.username if user else client.client_id,
                                     client_id=client.client_id, scope=token["scope"], ttl=int(token["expires_in"]),
                                     fhir_user=user.fhir_user if user else None, patient=patient)
        token["access_token"] = sign_access_token(self.key, claims)
        self.store.save_token(jti, grant_id, client.client_id, user.id if user else None, token["scope"],
                              int(token["expires_in"]), token.get("refresh_token"), refresh_end)
        if patient:
            token["patient"] = patient
            token["need_patient_banner"] = True
        if encounter:
            token["encounter"] = encounter
        if code is not None or previous is not None:
            token["smart_style_url"] = urls.auth("smart-style.json")
        grant_type = "authorization_code" if code is not None else "refresh_token" if previous is not None \
            else "client_credentials"
        audit.token_issued(grant_type, user, client.client_id, patient, token["scope"])

    def handle_error_response(self, request: Any, error: Any) -> Any:
        """Token requests refused (invalid grant, client, scope …) are audited before the error goes out."""
        payload = getattr(request, "payload", None)
        grant_type = getattr(payload, "grant_type", None)
        if grant_type:  # the token endpoint (authorization errors are redirects the login pages audit)
            audit.token_refused(grant_type, getattr(payload, "client_id", None), str(error.error))
        return super().handle_error_response(request, error)


class S256Challenge(CodeChallenge):
    """PKCE for every client, confidential ones included: ``S256`` only, ``plain`` and a missing challenge refused
    (app-launch.html#considerations-for-pkce-support; ASVS 10.4.6)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: code_challenge is missing (method S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256 (plain is not accepted)")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier' (PKCE is required)")
        super().validate_code_verifier(grant, result)


class SmartAuthorizeRules:
    """SMART checks of an authorization request: ``aud`` is this FHIR server, ``launch`` is a known launch
    context (and scope ``launch`` comes with it), at least one scope is granted to the client."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.validate)

    def validate(self, grant: Any, redirect_uri: str) -> None:
        request = grant.request
        data = request.payload.data
        server: SmartServer = grant.server
        aud = data.get("aud") or data.get("resource")
        if not aud:
            raise InvalidRequestError("aud is required: the FHIR base URL of this server")
        if str(aud).rstrip("/") != server.urls().fhir_base.rstrip("/"):
            raise InvalidRequestError("aud is not the FHIR base URL of this server")
        request.dui_aud = str(aud)
        tokens = scopes.split(request.payload.scope)
        launch = data.get("launch")
        request.dui_launch = None
        if launch:
            context = server.store.launch(str(launch))
            if context is None:
                raise InvalidRequestError("launch is not a known launch context, or it has expired")
            request.dui_launch = context
        elif "launch" in tokens:
            raise InvalidRequestError("scope 'launch' is for an EHR launch and needs the launch parameter")
        if not request.scope:
            raise InvalidScopeError("none of the requested scopes is allowed for this client")


class SmartCodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CODE_FLOW_AUTH

    def save_authorization_code(self, code: str, request: Any) -> None:
        server: SmartServer = self.server
        requested = scopes.split(request.scope)
        chosen: list[str] | None = getattr(request, "dui_scope", None)  # what the user kept at consent
        granted = requested if chosen is None else [t for t in chosen if scopes.token_covered(t, requested)]
        launch = getattr(request, "dui_launch", None)
        patient = launch[0] if launch else None
        encounter = launch[1] if launch else None
        if patient is None:
            patient = getattr(request, "dui_patient", None)
        scope = " ".join(granted)
        user: User = request.user
        grant_id = server.store.new_grant(
            request.client.client_id, user.id, scope, patient, encounter,
            utcnow() + timedelta(days=server.settings.auth.refresh_token_ttl_days))
        data = request.payload.data
        server.store.save_code(code, AuthorizationCode(
            code_hash="", grant_id=grant_id, client_id=request.client.client_id, user_id=user.id,
            redirect_uri=request.payload.redirect_uri, scope=scope, code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"], nonce=data.get("nonce"),
            aud=getattr(request, "dui_aud", ""), auth_time=getattr(request, "dui_auth_time", epoch())),
            server.settings.auth.code_ttl_seconds)
        audit.consent_given(user, request.client.client_id, patient, scope)

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        return self.server.store.claim_code(code, client.client_id)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        return None  # already marked used when claimed (a second use revokes the grant)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        return self.server.store.user(authorization_code.user_id)


class SmartOpenIDCode(OpenIDCode):
    """OpenID Connect on the code flow: RS256 id_token with ``fhirUser`` (scopes-and-launch-context.html)."""

    def __init__(self, server: SmartServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return self.server.store.nonce_used(request.payload.client_id, nonce)

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.server.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.server.key.kid or "", "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.server.urls().issuer, "aud": [client.client_id], "iat": now, "exp": now + 3600}

    def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
        info: dict[str, Any] = {"sub": user.username}
        tokens = scopes.split(scope)
        if "fhirUser" in tokens or "profile" in tokens:
            info["fhirUser"] = f"{self.server.urls().fhir_base}/{user.fhir_user}"
        return info


class SmartRefreshGrant(RefreshTokenGrant):
    """Refresh tokens bound to their client, rotated on every use; a reused one revokes the grant; the scope may
    only narrow (app-launch.html#refresh-access-token)."""

    TOKEN_ENDPOINT_AUTH_METHODS = CODE_FLOW_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True

    def validate_token_request(self) -> None:
        presented = self.request.form.get("refresh_token")
        store: AuthStore = self.server.store
        client = self._public_client_of(store, presented) or self._validate_request_client()
        self.request.client = client
        if not presented:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        found = store.token_by_refresh(presented)
        if found is None or not found.check_client(client):
            raise InvalidGrantError("the refresh token is not valid for this client")
        requested = self.request.payload.scope
        if requested:
            original = scopes.split(found.scope)
            try:
                wanted = scopes.validate(requested)
            except scopes.ScopeError as exc:
                raise InvalidScopeError(description=str(exc)) from exc
            escalated = [t for t in wanted if not scopes.token_covered(t, original)]
            if escalated:
                raise InvalidScopeError(description="a refresh cannot add scopes: " + " ".join(escalated))
        claimed = store.claim_refresh(presented)
        if claimed is None:
            raise InvalidGrantError("the refresh token was already used, revoked or has expired")
        self.request.refresh_token = claimed

    def _public_client_of(self, store: AuthStore, presented: str | None) -> Client | None:
        """The public client a refresh token belongs to, when the request carries no client identification at all.

        The SMART refresh request lists no ``client_id`` and client-js sends none by default; a public client has no
        credential beyond the (rotated, single-use) refresh token itself, so naming the client adds nothing. A
        confidential client must still authenticate: this never applies to them."""
        form = self.request.form
        if not presented or form.get("client_id") or form.get("client_assertion") or \
                self.request.headers.get("Authorization"):
            return None
        found = store.token_by_refresh(presented)
        client = store.client(found.client_id) if found is not None else None
        if client is None or not client.is_public or not client.check_grant_type(self.GRANT_TYPE):
            return None
        return client

    def authenticate_user(self, refresh_token: Token) -> User | None:
        if refresh_token.user_id is None:
            return None
        return self.server.store.user(refresh_token.user_id)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        return None  # marked used when claimed


class BackendServicesGrant(ClientCredentialsGrant):
    """SMART Backend Services: client_credentials with private_key_jwt only; scope limited to the pre-authorised
    scopes of the client (backend-services.html)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("the client is not registered for grant_type=client_credentials")
        self.validate_requested_scope()
        granted = client.get_allowed_scope(self.request.payload.scope)
        if not granted:
            raise InvalidScopeError(description="none of the requested scopes is pre-authorised for this client")
        self.request.client = client
        self.request.dui_scope = granted

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(scope=self.request.dui_scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def lookup_token(server: SmartServer, token_string: str, hint: str | None) -> Token | None:
    """An access token (by its signed jti) or a refresh token, per the RFC 7009 / 7662 ``token_type_hint``."""
    store: AuthStore = server.store
    found: Token | None = None
    if hint != "refresh_token":
        found = _by_access_token(server, token_string)
    if found is None and hint != "access_token":
        found = store.token_by_refresh(token_string)
    return found


def _by_access_token(server: SmartServer, token_string: str) -> Token | None:
    from fhirserver.auth.bearer import decode_access_token

    claims = decode_access_token(server.key, token_string, server.urls())
    if claims is None:
        return None
    return server.store.token_by_jti(str(claims.get("jti")))


class SmartIntrospection(IntrospectionEndpoint):
    """RFC 7662 / SMART token-introspection.html: ``active``, ``scope``, ``client_id``, ``exp``, launch context,
    ``sub``, ``fhirUser``, ``iss``; a client may introspect the tokens issued to it."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return lookup_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: Token, client: Client, request: Any) -> bool:
        return token.client_id == client.client_id

    def introspect_token(self, token: Token) -> dict[str, Any]:
        urls: Urls = self.server.urls()
        out: dict[str, Any] = {"active": True, "scope": token.scope, "client_id": token.client_id,
                               "exp": token.expires_epoch(), "iss": urls.issuer, "token_type": "Bearer",
                               "sub": token.username or token.client_id}
        if token.fhir_user:
            out["fhirUser"] = f"{urls.fhir_base}/{token.fhir_user}"
        if token.patient:
            out["patient"] = token.patient
        if token.encounter:
            out["encounter"] = token.encounter
        return out


class SmartRevocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return lookup_token(self.server, token_string, token_type_hint)

    def revoke_token(self, token: Token, request: Any) -> None:
        self.server.store.revoke_token(token)
