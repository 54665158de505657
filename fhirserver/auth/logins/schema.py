"""Tables of the external logins (on the shared ``metadata``; created by migration 0004).

- ``auth_identity``: an external identity (``iss``, ``sub``) bound to one ``auth_user`` (ASVS 5.0 10.3.3: users
  are identified by issuer and subject, never by a claim such as an e-mail); ``claims`` keeps the professional data
  of Pro Santé Connect (``SubjectRefPro``: professions, roles, structures) for later use.
- ``auth_oidc_pending``: authorization requests waiting for their callback: hashed ``state``, the browser cookie
  they are bound to (hashed), ``nonce``, PKCE verifier, the invitation being accepted; single use, 10 minutes.
- ``auth_oidc_session``: the provider and id_token of a browser session opened by an external login (the
  ``id_token_hint`` of RP-initiated logout).
- ``auth_invitation``: one-time invitations created by staff (token stored as SHA-256 only) binding the first
  external login or local account to ``Patient/X`` or ``RelatedPerson/Y``.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text

from fhirserver.storage.sql.schema import Name, metadata
from fhirserver.storage.sql.schema import Small as Id

auth_identity = Table(
    "auth_identity",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("iss", Name, nullable=False),
    Column("sub", Name, nullable=False),
    Column("provider", String(32), nullable=False),
    Column("user_id", Integer, ForeignKey("auth_user.id", ondelete="CASCADE"), nullable=False),
    Column("claims", JSON, nullable=True),
    Column("created", DateTime, nullable=False),
    Column("last_login", DateTime, nullable=True),
    Index("ux_auth_identity_iss_sub", "iss", "sub", unique=True),
)

auth_oidc_pending = Table(
    "auth_oidc_pending",
    metadata,
    Column("state_hash", Id, primary_key=True),
    Column("browser_hash", Id, nullable=False),
    Column("provider", String(32), nullable=False),
    Column("nonce", String(255), nullable=False),
    Column("code_verifier", String(255), nullable=False),
    Column("next", String(2000), nullable=False),
    Column("invitation_token", Id, nullable=True),  # kept at most 10 minutes, deleted at the callback
    Column("expires_at", DateTime, nullable=False),
)

auth_oidc_session = Table(
    "auth_oidc_session",
    metadata,
    Column("session_hash", Id, ForeignKey("auth_session.id_hash", ondelete="CASCADE"), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("id_token", Text, nullable=False),
)

auth_invitation = Table(
    "auth_invitation",
    metadata,
    Column("id", Id, primary_key=True),
    Column("token_hash", Id, nullable=False),
    Column("fhir_user", String(200), nullable=False),
    Column("created", DateTime, nullable=False),
    Column("created_by", String(200), nullable=True),
    Column("expires_at", DateTime, nullable=False),
    Column("used_at", DateTime, nullable=True),
    Column("used_by", Integer, nullable=True),
    Column("revoked_at", DateTime, nullable=True),
    Index("ux_auth_invitation_token", "token_hash", unique=True),
)

TABLES = (auth_identity, auth_oidc_pending, auth_oidc_session, auth_invitation)
