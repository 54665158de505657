"""Storage of the authorization server (SQLAlchemy Core on the application's engine).

Single-use and rotation rules are enforced here with conditional UPDATEs, so that two concurrent requests presenting
the same authorization code or refresh token cannot both succeed (one claims the row, the other sees a reuse and
revokes the grant: RFC 9700 §4.14.2, OAuth 2.0 Security BCP; ASVS 10.4.2 / 10.4.5).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from fhirserver.auth.models import AuthorizationCode, Client, SessionRecord, Token, User, utcnow
from fhirserver.auth.passwords import digest, hash_secret, new_token, verify_secret
from fhirserver.auth.schema import (
    auth_assertion_jti,
    auth_client,
    auth_code,
    auth_grant,
    auth_launch,
    auth_session,
    auth_token,
    auth_user,
    auth_user_patient,
)


class AuthStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- clients -----------------------------------------------------------------------------------

    def add_client(self, client: Client, secret: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(auth_client).values(
                client_id=client.client_id, name=client.name, auth_method=client.auth_method,
                secret_hash=hash_secret(secret) if secret else None, jwks=client.jwks, jwks_url=client.jwks_url,
                redirect_uris=client.redirect_uris, grant_types=client.grant_types, scope=client.scope,
                created=utcnow()))

    def ensure_client(self, client: Client) -> None:
        """Register ``client`` or bring its stored registration to this one (name, method, redirect URIs,
        grant types, scope); idempotent, safe when several processes start at once (the server's own
        first-party clients: :mod:`fhirserver.auth.first_party`)."""
        values = {"name": client.name, "auth_method": client.auth_method,
                  "redirect_uris": client.redirect_uris, "grant_types": client.grant_types,
                  "scope": client.scope}
        stored = self.client(client.client_id)
        if stored is None:
            try:
                self.add_client(client)
            except IntegrityError:
                pass  # another process registered it first; the update below makes it ours
            else:
                return
            stored = self.client(client.client_id)
        if stored is not None and {k: getattr(stored, k) for k in values} == values:
            return
        with self.engine.begin() as conn:
            conn.execute(update(auth_client).where(auth_client.c.client_id == client.client_id)
                         .values(**values))

    def client(self, client_id: str) -> Client | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(auth_client).where(auth_client.c.client_id == client_id)).mappings().first()
        if row is None:
            return None
        return Client(client_id=row["client_id"], auth_method=row["auth_method"],
                      redirect_uris=list(row["redirect_uris"]), grant_types=list(row["grant_types"]),
                      scope=row["scope"], name=row["name"], secret_hash=row["secret_hash"], jwks=row["jwks"],
                      jwks_url=row["jwks_url"])

    # --- users -------------------------------------------------------------------------------------

    def add_user(self, username: str, password: str, fhir_user: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(insert(auth_user).values(
                username=username, password_hash=hash_secret(password), fhir_user=fhir_user, active=True,
                failed_logins=0, created=utcnow()))
            pk = result.inserted_primary_key
            assert pk is not None
            return int(pk[0])

    def link_patient(self, username: str, patient_id: str) -> None:
        with self.engine.begin() as conn:
            user_id = conn.execute(select(auth_user.c.id).where(auth_user.c.username == username)).scalar()
            if user_id is None:
                raise KeyError(username)
            exists = conn.execute(select(auth_user_patient.c.user_id).where(
                auth_user_patient.c.user_id == user_id, auth_user_patient.c.patient_id == patient_id)).first()
            if exists is None:
                conn.execute(insert(auth_user_patient).values(user_id=user_id, patient_id=patient_id))

    def user(self, user_id: int) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(auth_user).where(auth_user.c.id == user_id,
                                                       auth_user.c.active.is_(True))).mappings().first()
            if row is None:
                return None
            links = [r[0] for r in conn.execute(select(auth_user_patient.c.patient_id).where(
                auth_user_patient.c.user_id == user_id).order_by(auth_user_patient.c.patient_id))]
        patients = []
        rtype, _, rid = row["fhir_user"].partition("/")
        if rtype == "Patient":
            patients.append(rid)
        patients += [p for p in links if p not in patients]
        return User(id=row["id"], username=row["username"], fhir_user=row["fhir_user"], patients=patients)

    def check_password(self, username: str, password: str, threshold: int, lock_minutes: int) -> User | None:
        """The user when the password is right and the account not locked; counts failures and locks the account
        for ``lock_minutes`` after ``threshold`` consecutive ones."""
        now = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(select(auth_user).where(auth_user.c.username == username)).mappings().first()
            ok = verify_secret(row["password_hash"] if row else None, password)
            if row is None or not row["active"]:
                return None
            if row["locked_until"] is not None and row["locked_until"] > now:
                return None
            if not ok:
                failures = int(row["failed_logins"]) + 1
                values: dict[str, Any] = {"failed_logins": failures}
                if failures >= threshold:
                    values = {"failed_logins": 0, "locked_until": now + timedelta(minutes=lock_minutes)}
                conn.execute(update(auth_user).where(auth_user.c.id == row["id"]).values(**values))
                return None
            conn.execute(update(auth_user).where(auth_user.c.id == row["id"]).values(failed_logins=0,
                                                                                     locked_until=None))
        return self.user(int(row["id"]))

    # --- browser sessions --------------------------------------------------------------------------

    def open_session(self, user_id: int, ttl: timedelta) -> tuple[str, str]:
        """A new session ending ``ttl`` from now at the latest: (cookie value, CSRF token)."""
        sid, csrf = new_token(), new_token(24)
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(delete(auth_session).where(auth_session.c.expires_at < now))
            conn.execute(insert(auth_session).values(id_hash=digest(sid), user_id=user_id, csrf=csrf, created=now,
                                                     expires_at=now + ttl, last_seen=now))
        return sid, csrf

    def session_record(self, sid: str | None) -> SessionRecord | None:
        """The stored session of this cookie value, whatever its clocks say (the web shell applies the idle
        and absolute lifetimes: :mod:`fhirserver.web.session`)."""
        if not sid:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(auth_session).where(auth_session.c.id_hash == digest(sid))
                               ).mappings().first()
        if row is None:
            return None
        return SessionRecord(user_id=int(row["user_id"]), csrf=str(row["csrf"]), created=row["created"],
                             last_seen=row["last_seen"] or row["created"], expires_at=row["expires_at"],
                             grant_id=row["grant_id"], token_jti=row["token_jti"])

    def touch_session(self, sid: str, when: datetime) -> None:
        """Record activity on the session (its idle clock)."""
        with self.engine.begin() as conn:
            conn.execute(update(auth_session).where(auth_session.c.id_hash == digest(sid))
                         .values(last_seen=when))

    def claim_session_grant(self, sid: str, grant_id: str, token_jti: str) -> bool:
        """Attach the first portal grant to the session; False when the session already has one (two first
        requests at once: the caller revokes its own grant and uses the stored one)."""
        with self.engine.begin() as conn:
            claimed = conn.execute(update(auth_session).where(auth_session.c.id_hash == digest(sid),
                                                              auth_session.c.grant_id.is_(None))
                                   .values(grant_id=grant_id, token_jti=token_jti))
        return claimed.rowcount == 1

    def set_session_token(self, sid: str, grant_id: str, token_jti: str) -> None:
        """The portal grant of the session and its current access token (references only)."""
        with self.engine.begin() as conn:
            conn.execute(update(auth_session).where(auth_session.c.id_hash == digest(sid))
                         .values(grant_id=grant_id, token_jti=token_jti))

    def close_session(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(auth_session).where(auth_session.c.id_hash == digest(sid)))

    # --- grants ------------------------------------------------------------------------------------

    def new_grant(self, client_id: str, user_id: int | None, scope: str, patient: str | None,
                  encounter: str | None, expires_at: datetime | None) -> str:
        grant_id = new_token(18)
        with self.engine.begin() as conn:
            conn.execute(insert(auth_grant).values(id=grant_id, client_id=client_id, user_id=user_id, scope=scope,
                                                   patient=patient, encounter=encounter, created=utcnow(),
                                                   expires_at=expires_at))
        return grant_id

    def revoke_grant(self, grant_id: str, reason: str) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(update(auth_grant).where(auth_grant.c.id == grant_id, auth_grant.c.revoked_at.is_(None))
                         .values(revoked_at=now, revoked_reason=reason))
            conn.execute(update(auth_token).where(auth_token.c.grant_id == grant_id,
                                                  auth_token.c.revoked_at.is_(None)).values(revoked_at=now))

    def user_grants(self, user_id: int) -> list[dict[str, Any]]:
        """The active authorizations of a user (the connected-apps page), newest first."""
        now = utcnow()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(auth_grant, auth_client.c.name).join(auth_client, auth_client.c.client_id
                                                            == auth_grant.c.client_id, isouter=True)
                .where(auth_grant.c.user_id == user_id, auth_grant.c.revoked_at.is_(None),
                       or_(auth_grant.c.expires_at.is_(None), auth_grant.c.expires_at > now))
                .order_by(auth_grant.c.created.desc())).mappings().all()
        return [dict(r) for r in rows]

    def grant_live(self, grant_id: str) -> bool:
        """Whether the grant is neither revoked nor past its end."""
        now = utcnow()
        with self.engine.connect() as conn:
            found = conn.execute(select(auth_grant.c.id).where(
                auth_grant.c.id == grant_id, auth_grant.c.revoked_at.is_(None),
                or_(auth_grant.c.expires_at.is_(None), auth_grant.c.expires_at > now))).first()
        return found is not None

    def grant_owner(self, grant_id: str) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(auth_grant.c.user_id).where(auth_grant.c.id == grant_id)).scalar()
        return int(value) if value is not None else None

    # --- authorization codes -----------------------------------------------------------------------

    def save_code(self, code: str, item: AuthorizationCode, ttl_seconds: int) -> None:
        with self.engine.begin() as conn:
            # codes expired for a day are kept no longer (a reuse that late finds nothing and fails anyway)
            conn.execute(delete(auth_code).where(auth_code.c.expires_at < utcnow() - timedelta(days=1)))
            conn.execute(insert(auth_code).values(
                code_hash=digest(code), grant_id=item.grant_id, client_id=item.client_id, user_id=item.user_id,
                redirect_uri=item.redirect_uri, scope=item.scope, code_challenge=item.code_challenge,
                code_challenge_method=item.code_challenge_method, nonce=item.nonce, aud=item.aud,
                auth_time=item.auth_time, expires_at=utcnow() + timedelta(seconds=ttl_seconds)))

    def claim_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        """The code if it is valid for this client, marking it used; a second use revokes its grant."""
        now = utcnow()
        code_hash = digest(code)
        with self.engine.begin() as conn:
            row = conn.execute(select(auth_code, auth_grant.c.patient, auth_grant.c.encounter,
                                      auth_grant.c.revoked_at).join(auth_grant, auth_grant.c.id
                                                                    == auth_code.c.grant_id)
                               .where(auth_code.c.code_hash == code_hash)).mappings().first()
            if row is None:
                return None
            claimed = conn.execute(update(auth_code).where(auth_code.c.code_hash == code_hash,
                                                           auth_code.c.used_at.is_(None)).values(used_at=now))
        if claimed.rowcount != 1:
            self.revoke_grant(row["grant_id"], "code reused")
            return None
        if row["client_id"] != client_id or row["expires_at"] <= now or row["revoked_at"] is not None:
            return None
        return AuthorizationCode(
            code_hash=code_hash, grant_id=row["grant_id"], client_id=row["client_id"], user_id=row["user_id"],
            redirect_uri=row["redirect_uri"], scope=row["scope"], code_challenge=row["code_challenge"],
            code_challenge_method=row["code_challenge_method"], nonce=row["nonce"], aud=row["aud"],
            auth_time=row["auth_time"], patient=row["patient"], encounter=row["encounter"])

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(auth_code.c.code_hash).where(
                auth_code.c.client_id == client_id, auth_code.c.nonce == nonce)).first() is not None

    # --- tokens ------------------------------------------------------------------------------------

    def save_token(self, jti: str, grant_id: str, client_id: str, user_id: int | None, scope: str,
                   expires_in: int, refresh_token: str | None, refresh_expires_at: datetime | None) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            # tokens whose access and refresh lifetimes both ended a day ago are of no use to anyone
            stale = now - timedelta(days=1)
            conn.execute(delete(auth_token).where(auth_token.c.expires_at < stale, or_(
                auth_token.c.refresh_expires_at.is_(None), auth_token.c.refresh_expires_at < stale)))
            conn.execute(insert(auth_token).values(
                jti=jti, grant_id=grant_id, client_id=client_id, user_id=user_id, scope=scope, issued_at=now,
                expires_at=now + timedelta(seconds=expires_in),
                refresh_hash=digest(refresh_token) if refresh_token else None,
                refresh_expires_at=refresh_expires_at if refresh_token else None))

    def _token_query(self) -> Any:
        return (select(auth_token, auth_grant.c.patient, auth_grant.c.encounter, auth_grant.c.revoked_at
                       .label("grant_revoked_at"), auth_user.c.fhir_user, auth_user.c.username)
                .join(auth_grant, auth_grant.c.id == auth_token.c.grant_id)
                .join(auth_user, auth_user.c.id == auth_token.c.user_id, isouter=True))

    @staticmethod
    def _token(row: Any, is_refresh: bool) -> Token:
        return Token(jti=row["jti"], grant_id=row["grant_id"], client_id=row["client_id"], user_id=row["user_id"],
                     scope=row["scope"], issued_at=row["issued_at"], expires_at=row["expires_at"],
                     refresh_expires_at=row["refresh_expires_at"],
                     revoked=row["revoked_at"] is not None or row["grant_revoked_at"] is not None
                     or (is_refresh and row["refresh_used_at"] is not None),
                     patient=row["patient"], encounter=row["encounter"], fhir_user=row["fhir_user"],
                     username=row["username"], is_refresh=is_refresh)

    def token_by_jti(self, jti: str) -> Token | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._token_query().where(auth_token.c.jti == jti)).mappings().first()
        return self._token(row, False) if row else None

    def token_by_refresh(self, refresh_token: str) -> Token | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._token_query().where(auth_token.c.refresh_hash
                                                         == digest(refresh_token))).mappings().first()
        return self._token(row, True) if row else None

    def claim_refresh(self, refresh_token: str) -> Token | None:
        """The token row of a refresh token, marking the refresh token used (rotation); a refresh token presented
        a second time revokes the whole grant (best-practices.html: "expire an app's authorization if a refresh
        token is used more than once")."""
        token = self.token_by_refresh(refresh_token)
        if token is None:
            return None
        with self.engine.begin() as conn:
            claimed = conn.execute(update(auth_token).where(
                auth_token.c.refresh_hash == digest(refresh_token), auth_token.c.refresh_used_at.is_(None))
                .values(refresh_used_at=utcnow()))
        if claimed.rowcount != 1:
            self.revoke_grant(token.grant_id, "refresh token reused")
            return None
        if token.revoked or token.is_expired():
            return None
        return token

    def revoke_token(self, token: Token) -> None:
        """RFC 7009: revoking a refresh token revokes its grant; revoking an access token revokes that token."""
        if token.is_refresh:
            self.revoke_grant(token.grant_id, "refresh token revoked")
            return
        with self.engine.begin() as conn:
            conn.execute(update(auth_token).where(auth_token.c.jti == token.jti).values(revoked_at=utcnow()))

    def active_token(self, jti: str) -> Token | None:
        """The access token ``jti`` when neither it nor its grant is revoked (the resource server's check)."""
        now = utcnow()
        with self.engine.connect() as conn:
            row = conn.execute(self._token_query().where(
                auth_token.c.jti == jti, auth_token.c.revoked_at.is_(None), auth_grant.c.revoked_at.is_(None),
                auth_token.c.expires_at > now)).mappings().first()
        return self._token(row, False) if row else None

    def registered_origins(self) -> set[str]:
        """The origins (scheme://host[:port]) of every registered redirect URI: the CORS allow-list."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(auth_client.c.redirect_uris)).scalars().all()
        out = set()
        for uris in rows:
            for uri in uris or []:
                parts = urlsplit(str(uri))
                if parts.scheme and parts.netloc:
                    out.add(f"{parts.scheme}://{parts.netloc}")
        return out

    # --- client assertions -------------------------------------------------------------------------

    def remember_jti(self, iss: str, jti: str, expires_at: datetime) -> bool:
        """Record an assertion ``jti``; False when it was already seen for this issuer (a replay)."""
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(auth_assertion_jti).where(auth_assertion_jti.c.expires_at < now
                                                              - timedelta(minutes=10)))
                conn.execute(insert(auth_assertion_jti).values(iss=iss, jti=jti, expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    # --- EHR launch contexts -----------------------------------------------------------------------

    def create_launch(self, patient: str | None, encounter: str | None, ttl: timedelta) -> str:
        launch_id = new_token(24)
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(delete(auth_launch).where(auth_launch.c.expires_at < now))
            conn.execute(insert(auth_launch).values(id=launch_id, patient=patient, encounter=encounter, created=now,
                                                    expires_at=now + ttl))
        return launch_id

    def launch(self, launch_id: str) -> tuple[str | None, str | None] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(auth_launch.c.patient, auth_launch.c.encounter).where(
                and_(auth_launch.c.id == launch_id, auth_launch.c.expires_at > utcnow()))).first()
        return (row[0], row[1]) if row else None
