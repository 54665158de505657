"""Tables of the authorization server (on the shared ``metadata`` of :mod:`fhirserver.storage.sql.schema`).

- ``auth_client``: registered SMART apps and Backend Services clients (secret stored as an argon2id hash, JWKS by
  value or by URL) — RFC 6749 §2, SMART App Launch 2.2 app-launch.html#register-app-with-ehr.
- ``auth_user`` / ``auth_user_patient``: local accounts (argon2id, lockout) and the usagers a user may act for
  (an aidant helping several usagers: the patient picker).
- ``auth_session``: server-side browser sessions of the login / consent / connected-apps pages and of the portals
  (cookie = random token, only its SHA-256 stored; ``expires_at`` is the absolute end, ``last_seen`` the idle clock;
  ``grant_id`` / ``token_jti``: the portal grant the session signed in with and its current access token, see
  :mod:`fhirserver.auth.first_party`).
- ``auth_grant``: one authorization (a user's consent to a client, or a Backend Services token); every code, access
  token and refresh token belongs to one grant, and revoking the grant revokes them all (code reuse, refresh-token
  reuse, the "applications connectées" page).
- ``auth_code``: authorization codes (hashed; single use; PKCE challenge, aud, launch context).
- ``auth_token``: issued access tokens (by ``jti``) with their refresh token (hashed, rotated).
- ``auth_assertion_jti``: ``jti`` of client assertions already seen (RFC 7523 §3 replay protection).
- ``auth_launch``: EHR launch contexts (the opaque ``launch`` parameter).
- ``auth_key``: the server's signing key when no ``signing_key_file`` is configured.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text

from fhirserver.storage.sql.schema import Name, metadata
from fhirserver.storage.sql.schema import Small as Id

auth_client = Table(
    "auth_client",
    metadata,
    Column("client_id", Name, primary_key=True),
    Column("name", String(200), nullable=True),
    Column("auth_method", String(32), nullable=False),  # none | client_secret_basic | private_key_jwt
    Column("secret_hash", String(200), nullable=True),
    Column("jwks", JSON, nullable=True),
    Column("jwks_url", String(1000), nullable=True),
    Column("redirect_uris", JSON, nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("scope", Text, nullable=False),
    Column("created", DateTime, nullable=False),
)

auth_user = Table(
    "auth_user",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", Name, nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("fhir_user", String(200), nullable=False),  # Patient/ID, RelatedPerson/ID, Practitioner/ID …
    Column("active", Boolean, nullable=False, default=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime, nullable=True),
    Column("created", DateTime, nullable=False),
    Index("ux_auth_user_username", "username", unique=True),
)

auth_user_patient = Table(
    "auth_user_patient",
    metadata,
    Column("user_id", Integer, ForeignKey("auth_user.id", ondelete="CASCADE"), primary_key=True),
    Column("patient_id", Id, primary_key=True),
)

auth_session = Table(
    "auth_session",
    metadata,
    Column("id_hash", Id, primary_key=True),
    Column("user_id", Integer, ForeignKey("auth_user.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", Id, nullable=False),
    Column("created", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=True),  # null: not seen since it was opened (migration 0006)
    Column("grant_id", Id, nullable=True),
    Column("token_jti", Id, nullable=True),
)

auth_grant = Table(
    "auth_grant",
    metadata,
    Column("id", Id, primary_key=True),
    Column("client_id", Name, nullable=False),
    Column("user_id", Integer, nullable=True),
    Column("scope", Text, nullable=False),
    Column("patient", Id, nullable=True),
    Column("encounter", Id, nullable=True),
    Column("created", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=True),  # absolute end of the refresh chain
    Column("revoked_at", DateTime, nullable=True),
    Column("revoked_reason", String(64), nullable=True),
    Index("ix_auth_grant_user", "user_id", "revoked_at"),
)

auth_code = Table(
    "auth_code",
    metadata,
    Column("code_hash", Id, primary_key=True),
    Column("grant_id", Id, nullable=False),
    Column("client_id", Name, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("redirect_uri", String(1000), nullable=False),
    Column("scope", Text, nullable=False),
    Column("code_challenge", String(128), nullable=False),
    Column("code_challenge_method", String(16), nullable=False),
    Column("nonce", String(255), nullable=True),
    Column("aud", String(1000), nullable=False),
    Column("auth_time", Integer, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("used_at", DateTime, nullable=True),
)

auth_token = Table(
    "auth_token",
    metadata,
    Column("jti", Id, primary_key=True),
    Column("grant_id", Id, nullable=False),
    Column("client_id", Name, nullable=False),
    Column("user_id", Integer, nullable=True),
    Column("scope", Text, nullable=False),
    Column("issued_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("refresh_hash", Id, nullable=True),
    Column("refresh_expires_at", DateTime, nullable=True),
    Column("refresh_used_at", DateTime, nullable=True),
    Column("revoked_at", DateTime, nullable=True),
    Index("ux_auth_token_refresh", "refresh_hash", unique=True),
    Index("ix_auth_token_grant", "grant_id"),
)

auth_assertion_jti = Table(
    "auth_assertion_jti",
    metadata,
    Column("iss", Name, primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("expires_at", DateTime, nullable=False),
)

auth_launch = Table(
    "auth_launch",
    metadata,
    Column("id", Id, primary_key=True),
    Column("patient", Id, nullable=True),
    Column("encounter", Id, nullable=True),
    Column("created", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

auth_key = Table(
    "auth_key",
    metadata,
    Column("name", Id, primary_key=True),  # "default": the generated signing key
    Column("kid", Id, nullable=False),
    Column("private_pem", Text, nullable=False),
    Column("created", DateTime, nullable=False),
)

TABLES = (auth_client, auth_user, auth_user_patient, auth_session, auth_grant, auth_code, auth_token,
          auth_assertion_jti, auth_launch, auth_key)
