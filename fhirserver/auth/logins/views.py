"""The blueprint of external logins and invitations (French pages, no JavaScript).

- ``GET /auth/oidc/<name>/start?next=…[&invitation=…]``: a new authorization request (state, nonce, PKCE) bound to
  this browser by a cookie, then a redirect to the provider.
- ``GET /auth/oidc/callback``: one redirect URI for every provider (the ``state`` says which); error callbacks,
  state / browser mismatch, and every id_token / userinfo check end on a French page and an audit event.
- ``GET /auth/invitation/<token>``: the invitation page (buttons of the usagers' providers, and a local account form
  when local accounts are on); ``POST /auth/invitation/<token>/account`` creates that local account.

OpenID Connect Core 1.0 §3.1; RFC 9207 (``iss`` callback parameter); RP-Initiated Logout 1.0 (see
:func:`logout_redirect`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, redirect, request

from fhirserver.auth.logins import franceconnect, psc
from fhirserver.auth.logins.audit import record
from fhirserver.auth.logins.invitations import patients_of
from fhirserver.auth.logins.providers import Provider, ProviderError
from fhirserver.auth.logins.records import read
from fhirserver.auth.logins.relying_party import (
    Identity,
    LoginRefused,
    authorization_url,
    complete,
    new_pending,
)
from fhirserver.auth.logins.store import IdentityStore, Pending
from fhirserver.auth.passwords import new_token

bp = Blueprint("identity", __name__)  # templates: fhirserver/auth/templates (the auth blueprint)
BROWSER_COOKIE = "dui_oidc_browser"
MIN_PASSWORD = 12


@dataclass
class IdentityState:
    providers: dict[str, Provider]
    store: IdentityStore


def identity_state() -> IdentityState:
    state: IdentityState = current_app.config["DUI_IDENTITY"]
    return state


def buttons(next_url: str, invitation: str | None = None,
            kinds: tuple[str, ...] = ("psc", "franceconnect")) -> list[dict[str, str]]:
    """The enabled providers of these kinds, as login-page buttons (links to their start URL)."""
    query = {"next": next_url, **({"invitation": invitation} if invitation else {})}
    return [{"name": p.name, "label": p.label, "kind": p.kind,
             "href": f"/auth/oidc/{p.name}/start?{urlencode(query)}"}
            for p in identity_state().providers.values() if p.kind in kinds]


def _views() -> Any:
    from fhirserver.auth import views

    return views


def _refuse(title: str, message: str, reason: str, status: int = 403, who: str | None = None) -> Response:
    ctx = _views()._state().ctx
    record(ctx, "login", "failure", who=who, detail=reason, network=request.remote_addr)
    resp: Response = _views()._error_page(title, message, status)
    return resp


@bp.get("/auth/oidc/<name>/start")
def start(name: str) -> Any:
    views = _views()
    provider = identity_state().providers.get(name)
    if provider is None:
        return views._error_page("Fournisseur inconnu", "Ce moyen de connexion n'est pas activé sur ce serveur.", 404)
    invitation = request.args.get("invitation") or None
    if invitation is not None and (provider.kind != "franceconnect"
                                   or identity_state().store.usable_invitation(invitation) is None):
        return views._error_page("Invitation non valable", "Cette invitation n'existe pas, a expiré, a été retirée "
                                 "ou a déjà servi. Demandez une nouvelle invitation à votre établissement.", 410)
    pending = new_pending()
    browser = request.cookies.get(BROWSER_COOKIE) or new_token()
    try:
        url = authorization_url(provider, pending, views.current_urls().auth("oidc/callback"))
    except ProviderError:
        return views._error_page("Service de connexion indisponible", f"{provider.label} ne répond pas pour le "
                                 "moment. Réessayez dans quelques minutes.", 503)
    identity_state().store.save_pending(browser, name, pending, views._safe_next(request.args.get("next")),
                                        invitation)
    resp = redirect(url, 302)
    resp.set_cookie(BROWSER_COOKIE, browser, httponly=True, samesite="Lax", secure=request.is_secure,
                    path="/auth/oidc", max_age=600)
    return resp


@bp.get("/auth/oidc/callback")
def callback() -> Any:
    pending = identity_state().store.claim_pending(request.args.get("state", ""),
                                                   request.cookies.get(BROWSER_COOKIE, ""))
    if pending is None:
        return _refuse("Connexion expirée", "Cette réponse de connexion ne correspond à aucune demande en cours "
                       "depuis ce navigateur (délai dépassé ou lien réutilisé). Recommencez la connexion.",
                       "state mismatch", 400)
    provider = identity_state().providers.get(pending.provider)
    if provider is None:
        return _refuse("Fournisseur inconnu", "Ce moyen de connexion n'est plus activé.", "provider disabled", 400)
    if request.args.get("error"):
        return _refuse("Connexion non aboutie", f"La connexion avec {provider.label} a été annulée ou refusée "
                       "par le fournisseur. Vous pouvez recommencer.", f"provider error {request.args['error'][:40]}",
                       401)
    try:
        identity = _checked_identity(provider, pending)
    except LoginRefused as refused:
        return _refuse("Connexion refusée", f"La réponse de {provider.label} n'a pas passé les contrôles de "
                       "sécurité de ce serveur. Recommencez ; si le problème persiste, contactez votre "
                       "établissement.", refused.reason, 401)
    except ProviderError:
        return _refuse("Service de connexion indisponible", f"{provider.label} ne répond pas pour le moment.",
                       "provider unavailable", 503)
    return _login_as(provider, pending, identity)


def _checked_identity(provider: Provider, pending: Pending) -> Identity:
    iss = request.args.get("iss")
    if iss is not None and iss != provider.metadata()["issuer"]:
        raise LoginRefused("callback iss is not the provider's issuer")  # RFC 9207 mix-up defence
    code = request.args.get("code")
    if not code:
        raise LoginRefused("callback without code")
    return complete(provider, pending.login, code, _views().current_urls().auth("oidc/callback"))


def _login_as(provider: Provider, pending: Pending, identity: Identity) -> Any:
    store = identity_state().store
    kept = psc.kept_claims(identity.claims) if provider.kind == "psc" else franceconnect.kept_claims(identity.claims)
    user_id = store.identity_user(identity.issuer, identity.sub, kept)
    if user_id is None and provider.kind == "psc":
        outcome = _bind_professional(provider, identity, kept)
    elif user_id is None:
        outcome = _bind_invited(provider, pending, identity, kept)
    else:
        outcome = user_id
    if isinstance(outcome, Response):
        return outcome
    return _open_session(provider, pending, identity, outcome)


def _bind_professional(provider: Provider, identity: Identity, kept: dict[str, Any]) -> int | Response:
    ctx = _views()._state().ctx
    try:
        fhir_user = psc.practitioner_for(ctx, identity.claims)
    except psc.UnknownProfessional:
        return _refuse("Professionnel inconnu", "Votre identité Pro Santé Connect est valide, mais aucun "
                       "professionnel de cet établissement ne porte votre identifiant national (RPPS). Demandez à "
                       "l'établissement d'enregistrer votre fiche professionnelle.", "unknown professional")
    return identity_state().store.bind_new_user(identity.issuer, identity.sub, provider.name, fhir_user, kept)


def _bind_invited(provider: Provider, pending: Pending, identity: Identity, kept: dict[str, Any]) -> int | Response:
    store = identity_state().store
    if pending.invitation is None:
        return _refuse("Compte non associé", "Votre identité est reconnue, mais elle n'est associée à aucun dossier "
                       "de cet établissement. Demandez une invitation à votre établissement, puis ouvrez le lien "
                       "reçu pour vous connecter.", "no binding and no invitation")
    invitation = store.usable_invitation(pending.invitation)
    record_content = read(_views()._state().ctx, invitation.fhir_user) if invitation else None
    if invitation is None or record_content is None:
        return _invitation_refused("invitation not usable")
    problem = franceconnect.contradiction(identity.claims, record_content)
    if problem is not None:
        return _refuse("Identité différente", "L'identité transmise par le fournisseur (nom de naissance ou date "
                       "de naissance) ne correspond pas à la personne invitée. L'invitation n'a pas été utilisée : "
                       "contactez votre établissement.", problem, who=invitation.fhir_user)
    user_id = store.bind_invitation(pending.invitation, identity.issuer, identity.sub, provider.name, kept,
                                    patients_of(invitation.fhir_user, record_content))
    if user_id is None:
        return _invitation_refused("invitation already used")
    record(_views()._state().ctx, "invitation", "success", who=invitation.fhir_user, detail="invitation used",
           network=request.remote_addr)
    return user_id


def _invitation_refused(reason: str) -> Response:
    ctx = _views()._state().ctx
    record(ctx, "invitation", "failure", detail=reason, network=request.remote_addr)
    resp: Response = _views()._error_page("Invitation non valable", "Cette invitation n'existe pas, a expiré, a été "
                                          "retirée ou a déjà servi. Demandez une nouvelle invitation à votre "
                                          "établissement.", 410)
    return resp


def _open_session(provider: Provider, pending: Pending, identity: Identity, user_id: int) -> Any:
    views = _views()
    state = views._state()
    user = state.store.user(user_id)
    if user is None:
        return _refuse("Compte désactivé", "Le compte associé à cette identité est désactivé.", "inactive account")
    sid, _ = state.store.open_session(user_id, timedelta(hours=views.SESSION_HOURS))
    identity_state().store.save_session(sid, provider.name, identity.id_token)
    record(state.ctx, "login", "success", who=user.fhir_user, username=user.username, detail=f"{provider.kind} login",
           network=request.remote_addr)
    resp = redirect(pending.next, 303)
    resp.delete_cookie(BROWSER_COOKIE, path="/auth/oidc")
    resp.set_cookie(views.COOKIE, sid, httponly=True, samesite="Lax", secure=request.is_secure, path="/auth",
                    max_age=views.SESSION_HOURS * 3600)
    return resp


def logout_redirect(sid: str) -> str | None:
    """The provider's ``end_session_endpoint`` URL for a session opened by an external login (``id_token_hint``,
    ``post_logout_redirect_uri``, ``state``), or None. Read before the session is closed."""
    found = identity_state().store.session_login(sid) if sid else None
    provider = identity_state().providers.get(found[0]) if found else None
    if found is None or provider is None:
        return None
    try:
        endpoint = provider.metadata().get("end_session_endpoint")
    except ProviderError:
        return None
    if not isinstance(endpoint, str) or not endpoint:
        return None
    params = {"id_token_hint": found[1], "post_logout_redirect_uri": _views().current_urls().auth("login"),
              "state": secrets.token_urlsafe(32)}
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


# --- invitations ---------------------------------------------------------------------------------------

@bp.get("/auth/invitation/<token>")
def invitation_page(token: str) -> Any:
    views = _views()
    invitation = identity_state().store.usable_invitation(token)
    if invitation is None:
        return _invitation_refused("invitation not usable")
    return views._page("auth/invitation.html", token=token, providers=buttons("/auth/apps", token, ("franceconnect",)),
                       local=views._state().ctx.settings.auth_local_accounts, error=None, username="")


@bp.post("/auth/invitation/<token>/account")
def invitation_account(token: str) -> Any:
    views = _views()
    state = views._state()
    if not state.ctx.settings.auth_local_accounts:
        return views._error_page("Comptes locaux désactivés", "Ce serveur n'accepte que les fournisseurs "
                                 "d'identité.", 403)
    invitation = identity_state().store.usable_invitation(token)
    if invitation is None:
        return _invitation_refused("invitation not usable")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    problem = _account_problem(username, password, request.form.get("password2", ""))
    if problem is None:
        record_content = read(state.ctx, invitation.fhir_user) or {}
        user_id = identity_state().store.local_account_from_invitation(
            token, username, password, patients_of(invitation.fhir_user, record_content))
        if user_id is not None:
            return _after_local_account(user_id, invitation.fhir_user, username)
        if identity_state().store.usable_invitation(token) is None:
            return _invitation_refused("invitation already used")
        problem = "Cet identifiant est déjà pris : choisissez-en un autre."
    return views._page("auth/invitation.html", 400, token=token, providers=buttons("/auth/apps", token, ("franceconnect",)),
                       local=True, error=problem, username=username)


def _account_problem(username: str, password: str, again: str) -> str | None:
    if not username or len(username) > 100 or ":" in username:
        return "Choisissez un identifiant (100 caractères au plus, sans « : »)."
    if len(password) < MIN_PASSWORD:
        return f"Le mot de passe doit compter au moins {MIN_PASSWORD} caractères."
    if password != again:
        return "Les deux mots de passe saisis sont différents."
    return None


def _after_local_account(user_id: int, fhir_user: str, username: str) -> Any:
    views = _views()
    state = views._state()
    record(state.ctx, "invitation", "success", who=fhir_user, username=username, detail="local account created",
           network=request.remote_addr)
    sid, _ = state.store.open_session(user_id, timedelta(hours=views.SESSION_HOURS))
    resp = redirect("/auth/apps", 303)
    resp.set_cookie(views.COOKIE, sid, httponly=True, samesite="Lax", secure=request.is_secure, path="/auth",
                    max_age=views.SESSION_HOURS * 3600)
    return resp


def register(app: Flask, state: IdentityState) -> None:
    app.config["DUI_IDENTITY"] = state
    app.register_blueprint(bp)
