"""Storage of the external logins and invitations (SQLAlchemy Core on the application's engine).

Single use is enforced with conditional DELETE / UPDATE statements: a ``state`` is consumed by exactly one callback,
an invitation by exactly one binding (the binding, the new account and the invitation's ``used_at`` are written in
one transaction, so a second use fails and leaves nothing behind).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from fhirserver.auth.logins.relying_party import PendingLogin
from fhirserver.auth.logins.schema import (
    auth_identity,
    auth_invitation,
    auth_oidc_pending,
    auth_oidc_session,
)
from fhirserver.auth.models import utcnow
from fhirserver.auth.passwords import digest, hash_secret, new_token
from fhirserver.auth.schema import auth_user, auth_user_patient

#: the password hash of accounts that only log in through a provider (never a valid argon2 hash)
NO_PASSWORD = "!external"
PENDING_MINUTES = 10


@dataclass(frozen=True)
class Pending:
    provider: str
    login: PendingLogin
    next: str
    invitation: str | None  # the invitation token when the login binds an invitation


@dataclass(frozen=True)
class Invitation:
    id: str
    fhir_user: str
    created: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    created_by: str | None

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.used_at is not None:
            return "used"
        return "expired" if self.expires_at <= utcnow() else "active"


class IdentityStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- pending authorization requests ------------------------------------------------------------

    def save_pending(self, browser: str, provider: str, login: PendingLogin, next_url: str,
                     invitation: str | None) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(delete(auth_oidc_pending).where(auth_oidc_pending.c.expires_at < now))
            conn.execute(insert(auth_oidc_pending).values(
                state_hash=digest(login.state), browser_hash=digest(browser), provider=provider, nonce=login.nonce,
                code_verifier=login.code_verifier, next=next_url, invitation_token=invitation,
                expires_at=now + timedelta(minutes=PENDING_MINUTES)))

    def claim_pending(self, state: str, browser: str) -> Pending | None:
        """The pending request of ``state`` if it was started by this browser and is not expired; consumed."""
        key = digest(state)
        with self.engine.begin() as conn:
            row = conn.execute(select(auth_oidc_pending).where(auth_oidc_pending.c.state_hash == key)).mappings().first()
            if row is None:
                return None
            gone = conn.execute(delete(auth_oidc_pending).where(auth_oidc_pending.c.state_hash == key))
        if gone.rowcount != 1 or row["browser_hash"] != digest(browser) or row["expires_at"] <= utcnow():
            return None
        return Pending(provider=row["provider"], next=row["next"], invitation=row["invitation_token"],
                       login=PendingLogin(state=state, nonce=row["nonce"], code_verifier=row["code_verifier"]))

    # --- identities --------------------------------------------------------------------------------

    def identity_user(self, iss: str, sub: str, claims: dict[str, Any] | None) -> int | None:
        """The user bound to (iss, sub), refreshing the kept claims and the last login time."""
        with self.engine.begin() as conn:
            row = conn.execute(select(auth_identity.c.id, auth_identity.c.user_id).where(
                auth_identity.c.iss == iss, auth_identity.c.sub == sub)).first()
            if row is None:
                return None
            conn.execute(update(auth_identity).where(auth_identity.c.id == row[0]).values(
                last_login=utcnow(), claims=claims))
        return int(row[1])

    def identity_claims(self, user_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(auth_identity.c.claims).where(auth_identity.c.user_id == user_id)
                                 .order_by(auth_identity.c.last_login.desc())).scalar()
        return dict(value) if isinstance(value, dict) else None

    def bind_new_user(self, iss: str, sub: str, provider: str, fhir_user: str, claims: dict[str, Any] | None,
                      patients: tuple[str, ...] = ()) -> int:
        """A new account for ``fhir_user`` bound to (iss, sub) (no password: external login only)."""
        with self.engine.begin() as conn:
            return self._bind(conn, iss, sub, provider, fhir_user, claims, patients)

    def _bind(self, conn: Connection, iss: str, sub: str, provider: str, fhir_user: str,
              claims: dict[str, Any] | None, patients: tuple[str, ...]) -> int:
        now = utcnow()
        user_id = self._new_user(conn, f"{provider}:{new_token(12)}", NO_PASSWORD, fhir_user, patients)
        conn.execute(insert(auth_identity).values(iss=iss, sub=sub, provider=provider, user_id=user_id,
                                                  claims=claims, created=now, last_login=now))
        return user_id

    @staticmethod
    def _new_user(conn: Connection, username: str, password_hash: str, fhir_user: str,
                  patients: tuple[str, ...]) -> int:
        result = conn.execute(insert(auth_user).values(username=username, password_hash=password_hash,
                                                       fhir_user=fhir_user, active=True, failed_logins=0,
                                                       created=utcnow()))
        pk = result.inserted_primary_key
        assert pk is not None
        for patient in patients:
            conn.execute(insert(auth_user_patient).values(user_id=int(pk[0]), patient_id=patient))
        return int(pk[0])

    # --- sessions opened by an external login ------------------------------------------------------

    def save_session(self, sid: str, provider: str, id_token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(auth_oidc_session).values(session_hash=digest(sid), provider=provider,
                                                          id_token=id_token))

    def session_login(self, sid: str) -> tuple[str, str] | None:
        """(provider, id_token) of a session opened by an external login."""
        with self.engine.connect() as conn:
            row = conn.execute(select(auth_oidc_session.c.provider, auth_oidc_session.c.id_token).where(
                auth_oidc_session.c.session_hash == digest(sid))).first()
        return (str(row[0]), str(row[1])) if row else None

    # --- invitations -------------------------------------------------------------------------------

    def create_invitation(self, fhir_user: str, days: int, created_by: str | None) -> tuple[str, str]:
        """A new invitation: (its public id, the one-time token to put in the URL)."""
        invitation_id, token, now = new_token(9), new_token(32), utcnow()
        with self.engine.begin() as conn:
            conn.execute(insert(auth_invitation).values(id=invitation_id, token_hash=digest(token),
                                                        fhir_user=fhir_user, created=now, created_by=created_by,
                                                        expires_at=now + timedelta(days=days)))
        return invitation_id, token

    def invitations(self) -> list[Invitation]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(auth_invitation).order_by(auth_invitation.c.created.desc())).mappings()
            return [_invitation(r) for r in rows]

    def revoke_invitation(self, invitation_id: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(update(auth_invitation).where(
                auth_invitation.c.id == invitation_id, auth_invitation.c.used_at.is_(None),
                auth_invitation.c.revoked_at.is_(None)).values(revoked_at=utcnow()))
        return done.rowcount == 1

    def usable_invitation(self, token: str) -> Invitation | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(auth_invitation).where(auth_invitation.c.token_hash == digest(token))
                               ).mappings().first()
        found = _invitation(row) if row else None
        return found if found is not None and found.status == "active" else None

    def bind_invitation(self, token: str, iss: str, sub: str, provider: str, claims: dict[str, Any] | None,
                        patients: tuple[str, ...]) -> int | None:
        """Bind (iss, sub) to the invitation's FHIR user and mark it used, atomically; None if it was used,
        revoked or expired meanwhile, or the identity is already bound."""
        try:
            with self.engine.begin() as conn:
                fhir_user = self._claim(conn, token)
                if fhir_user is None:
                    return None
                user_id = self._bind(conn, iss, sub, provider, fhir_user, claims, patients)
                conn.execute(update(auth_invitation).where(auth_invitation.c.token_hash == digest(token))
                             .values(used_by=user_id))
                return user_id
        except IntegrityError:
            return None

    def local_account_from_invitation(self, token: str, username: str, password: str,
                                      patients: tuple[str, ...]) -> int | None:
        """A local account (argon2id) for the invitation's FHIR user; None if the invitation is no longer usable
        or the username is taken."""
        password_hash = hash_secret(password)
        try:
            with self.engine.begin() as conn:
                fhir_user = self._claim(conn, token)
                if fhir_user is None:
                    return None
                user_id = self._new_user(conn, username, password_hash, fhir_user, patients)
                conn.execute(update(auth_invitation).where(auth_invitation.c.token_hash == digest(token))
                             .values(used_by=user_id))
                return user_id
        except IntegrityError:
            return None

    @staticmethod
    def _claim(conn: Connection, token: str) -> str | None:
        now = utcnow()
        key = digest(token)
        claimed = conn.execute(update(auth_invitation).where(
            auth_invitation.c.token_hash == key, auth_invitation.c.used_at.is_(None),
            auth_invitation.c.revoked_at.is_(None), auth_invitation.c.expires_at > now).values(used_at=now))
        if claimed.rowcount != 1:
            return None
        value = conn.execute(select(auth_invitation.c.fhir_user).where(auth_invitation.c.token_hash == key)).scalar()
        return str(value) if value is not None else None


def _invitation(row: Any) -> Invitation:
    return Invitation(id=row["id"], fhir_user=row["fhir_user"], created=row["created"], expires_at=row["expires_at"],
                      used_at=row["used_at"], revoked_at=row["revoked_at"], created_by=row["created_by"])
