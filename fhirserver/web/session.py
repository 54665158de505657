"""The server-side browser session, and how a session becomes a principal (ASVS 3.2–3.4, 3.7; OWASP Session
Management Cheat Sheet).

**The session.** The cookie ``dui_auth_session`` holds a random value (HttpOnly, ``SameSite=Lax`` so that the
return from an identity provider carries it, ``Secure`` over HTTPS, path ``/``); the server keeps only its
SHA-256 (``auth_session``) with the user, the CSRF token and two clocks. A session ends at the first of:
``[portal] session_absolute_hours`` after sign-in, ``[portal] session_idle_minutes`` without a request,
logout, the account disabled, or its portal grant revoked or expired. A sign-in always opens a new session (no
fixation) and ends the browser's previous one.

**Session → principal.** The first portal page of a session (:func:`fhirserver.web.guard.login_required`)
opens a grant of that portal's first-party client for the account
(:func:`fhirserver.auth.first_party.open_grant`: an ``auth_grant`` and a recorded access token, like the token
endpoint writes for a SMART app, so it is listed on "Applications connectées"). The session row keeps the
grant id and the current token's ``jti`` — references only; no token is in the cookie, and no JWT is signed.
On every portal request :func:`portal_principal` rebuilds the principal with
:func:`fhirserver.auth.bearer.principal_of`, the function the bearer check of the FHIR API calls after
verifying a token's signature, so revocation, expiry, delegations and reach apply alike. When the short access
token has expired while the session and the grant live, a new token is recorded for the same grant; when the
token or the grant was revoked (``/auth/apps``, ``/auth/revoke``, a disabled account), the session ends and
the user is sent to the login page. Logout revokes the grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import g, request
from werkzeug.wrappers import Response

from fhirserver.audit import oauth as audit
from fhirserver.auth.bearer import InvalidToken, principal_of
from fhirserver.auth.first_party import Portal, issue_token, open_grant
from fhirserver.auth.models import User
from fhirserver.auth.principal import Principal
from fhirserver.settings import Settings
from fhirserver.web.state import web_state

COOKIE = "dui_auth_session"
COOKIE_PATH = "/"
#: the idle clock is written at most this often (not on every request)
TOUCH_SECONDS = 60
_CURRENT = "dui_session"
_FORGET = "dui_forget_session"


@dataclass
class BrowserSession:
    sid: str  # the cookie value (never stored)
    user: User
    csrf: str
    created: datetime
    ends: datetime  # the absolute end
    grant_id: str | None = None  # the portal grant, once a portal page was opened
    token_jti: str | None = None


def lifetimes(settings: Settings) -> tuple[timedelta, timedelta]:
    """(idle, absolute) lifetimes of a session."""
    return (timedelta(minutes=settings.portal.session_idle_minutes),
            timedelta(hours=settings.portal.session_absolute_hours))


def sign_in(resp: Response, user: User) -> BrowserSession:
    """Open a session for ``user`` and set its cookie on ``resp`` (the redirect after a successful login); the
    browser's previous session, if any, ends."""
    state = web_state()
    previous = current_session()
    if previous is not None:
        _end(previous.sid, previous.grant_id, "signed in again")
    _, absolute = lifetimes(state.ctx.settings)
    sid, csrf = state.store.open_session(user.id, absolute)
    resp.set_cookie(COOKIE, sid, httponly=True, samesite="Lax", secure=request.is_secure, path=COOKIE_PATH,
                    max_age=int(absolute.total_seconds()))
    record = state.store.session_record(sid)
    assert record is not None
    session = BrowserSession(sid=sid, user=user, csrf=csrf, created=record.created, ends=record.expires_at)
    setattr(g, _CURRENT, session)
    setattr(g, _FORGET, False)
    return session


def current_session() -> BrowserSession | None:
    """The live session of this request's cookie, or None (ended sessions are closed on the way and their
    cookie removed from the response). Read once per request."""
    if _CURRENT not in g:
        setattr(g, _CURRENT, _load())
    found: BrowserSession | None = getattr(g, _CURRENT)
    return found


def sign_out(resp: Response) -> BrowserSession | None:
    """End this browser's session (its portal grant is revoked) and remove the cookie; the session it was."""
    session = current_session()
    if session is not None:
        _end(session.sid, session.grant_id, "signed out")
    setattr(g, _CURRENT, None)
    setattr(g, _FORGET, False)
    resp.delete_cookie(COOKIE, path=COOKIE_PATH)
    return session


def portal_principal(session: BrowserSession, portal: Portal) -> Principal | None:
    """The principal of the session's grant for ``portal`` (opened on the first call), or None when the grant
    or its token was revoked — the session is then ended."""
    state = web_state()
    store = state.store
    if session.grant_id is None or session.token_jti is None:
        grant_id, jti = open_grant(store, session.user, portal, session.ends, state.token_seconds)
        if store.claim_session_grant(session.sid, grant_id, jti):
            audit.token_issued("portal session", session.user, portal.client_id, None, portal.scope)
        else:  # another request of this session opened the grant first: use that one
            store.revoke_grant(grant_id, "duplicate portal grant")
            record = store.session_record(session.sid)
            if record is None or record.grant_id is None or record.token_jti is None:
                return None
            grant_id, jti = record.grant_id, record.token_jti
        session.grant_id, session.token_jti = grant_id, jti
    try:
        return principal_of(store, session.token_jti)
    except InvalidToken:
        pass
    token = store.token_by_jti(session.token_jti)
    if token is None or token.revoked or not token.is_expired() or not store.grant_live(session.grant_id):
        _end(session.sid, session.grant_id, "grant or token revoked")
        return None
    # the short access token expired while the session and its grant live: a new one for the same grant
    session.token_jti = issue_token(store, session.user, portal, session.grant_id, session.ends,
                                    state.token_seconds)
    store.set_session_token(session.sid, session.grant_id, session.token_jti)
    try:
        return principal_of(store, session.token_jti)
    except InvalidToken:
        _end(session.sid, session.grant_id, "account no longer active")
        return None


def forget_ended_session(resp: Response) -> Response:
    """After each request: remove the cookie of a session that ended during the request."""
    if g.get(_FORGET):
        resp.delete_cookie(COOKIE, path=COOKIE_PATH)
    return resp


def _load() -> BrowserSession | None:
    sid = request.cookies.get(COOKIE)
    if not sid:
        return None
    state = web_state()
    store = state.store
    record = store.session_record(sid)
    if record is None:
        setattr(g, _FORGET, True)
        return None
    now = state.clock()
    idle, absolute = lifetimes(state.ctx.settings)
    user = store.user(record.user_id)
    if (user is None or now >= record.expires_at or now >= record.created + absolute
            or now >= record.last_seen + idle
            or (record.grant_id is not None and not store.grant_live(record.grant_id))):
        _end(sid, record.grant_id, "session ended")
        return None
    if (now - record.last_seen).total_seconds() >= TOUCH_SECONDS:
        store.touch_session(sid, now)
    return BrowserSession(sid=sid, user=user, csrf=record.csrf, created=record.created,
                          ends=min(record.expires_at, record.created + absolute), grant_id=record.grant_id,
                          token_jti=record.token_jti)


def _end(sid: str, grant_id: str | None, reason: str) -> None:
    store = web_state().store
    if grant_id is not None:
        store.revoke_grant(grant_id, reason)
    store.close_session(sid)
    setattr(g, _FORGET, True)
    if g.get(_CURRENT) is not None and getattr(g, _CURRENT).sid == sid:
        setattr(g, _CURRENT, None)
