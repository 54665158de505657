"""The blueprint of external logins and invitations (French pages, no JavaScript).

- ``GET /auth/oidc/<name>/start?next=…[&invitation=…]``: a new authorization request (state, nonce, PKCE) bound to
  this browser by a cookie, then a redirect to the provider.
- ``GET /auth/oidc/callback``: one redirect URI for every provider (the ``state`` says which); error callbacks,
  state / browser mismatch, and every id_token / userinfo check end on a French page and an audit event.
- ``GET /auth/invitation/<token>``: the invitation page (buttons of the usagers' providers, and a local account form
  when local accounts are on, with a double-submit CSRF token); ``POST /auth/invitation/<token>/account`` creates
  that local account.

Pages, sessions, CSRF and ``next`` come from the web shell (:mod:`fhirserver.web`).

OpenID Connect Core 1.0 §3.1; RFC 9207 (``iss`` callback parameter); RP-Initiated Logout 1.0 (see
:func:`logout_redirect`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
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
from fhirserver.interactions.context import Context
from fhirserver.web import (
    current_urls,
    error_page,
    form_cookie_ok,
    new_form_token,
    page,
    safe_next,
    set_form_cookie,
    sign_in,
    web_state,
)

bp = Blueprint("logins", __name__)  # templates: fhirserver/auth/templates (the auth blueprint)
EXTENSION = "dui_logins"
BROWSER_COOKIE = "dui_oidc_browser"
INVITATION_COOKIE = "dui_invitation_csrf"
MIN_PASSWORD = 12


@dataclass
class LoginsState:
    providers: dict[str, Provider]
    store: IdentityStore


def logins_state() -> LoginsState:
    state: LoginsState = current_app.extensions[EXTENSION]
    return state


def _ctx() -> Context:
    return web_state().ctx


def buttons(next_url: str, invitation: str | None = None,
            kinds: tuple[str, ...] = ("psc", "franceconnect")) -> list[dict[str, str]]:
    """The enabled providers of these kinds, as login-page buttons (links to their start URL)."""
    query = {"next": next_url, **({"invitation": invitation} if invitation else {})}
    return [{"name": p.name, "label": p.label, "kind": p.kind,
             "href": f"/auth/oidc/{p.name}/start?{urlencode(query)}"}
            for p in logins_state().providers.values() if p.kind in kinds]


def _refuse(title: str, message: str, reason: str, status: int = 403, who: str | None = None) -> Response:
    record(_ctx(), "login", "failure", who=who, detail=reason, network=request.remote_addr)
    return error_page(title, message, status)


@bp.get("/auth/oidc/<name>/start")
def start(name: str) -> Any:
    provider = logins_state().providers.get(name)
    if provider is None:
        return error_page("Fournisseur inconnu", "Ce moyen de connexion n'est pas activé sur ce serveur.", 404)
    invitation = request.args.get("invitation") or None
    if invitation is not None and (provider.kind != "franceconnect"
                                   or logins_state().store.usable_invitation(invitation) is None):
        return error_page("Invitation non valable", "Cette invitation n'existe pas, a expiré, a été retirée "
                          "ou a déjà servi. Demandez une nouvelle invitation à votre établissement.", 410)
    pending = new_pending()
    browser = request.cookies.get(BROWSER_COOKIE) or new_token()
    try:
        url = authorization_url(provider, pending, current_urls().auth("oidc/callback"))
    except ProviderError:
        return error_page("Service de connexion indisponible", f"{provider.label} ne répond pas pour le "
                          "moment. Réessayez dans quelques minutes.", 503)
    logins_state().store.save_pending(browser, name, pending, safe_next(request.args.get("next")), invitation)
    resp = redirect(url, 302)
    resp.set_cookie(BROWSER_COOKIE, browser, httponly=True, samesite="Lax", secure=request.is_secure,
                    path="/auth/oidc", max_age=600)
    return resp


@bp.get("/auth/oidc/callback")
def callback() -> Any:
    pending = logins_state().store.claim_pending(request.args.get("state", ""),
                                                   request.cookies.get(BROWSER_COOKIE, ""))
    if pending is None:
        return _refuse("Connexion expirée", "Cette réponse de connexion ne correspond à aucune demande en cours "
                       "depuis ce navigateur (délai dépassé ou lien réutilisé). Recommencez la connexion.",
                       "state mismatch", 400)
    provider = logins_state().providers.get(pending.provider)
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
    return complete(provider, pending.login, code, current_urls().auth("oidc/callback"))


def _login_as(provider: Provider, pending: Pending, identity: Identity) -> Any:
    store = logins_state().store
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
    try:
        fhir_user = psc.practitioner_for(_ctx(), identity.claims)
    except psc.UnknownProfessional:
        return _refuse("Professionnel inconnu", "Votre identité Pro Santé Connect est valide, mais aucun "
                       "professionnel de cet établissement ne porte votre identifiant national (RPPS). Demandez à "
                       "l'établissement d'enregistrer votre fiche professionnelle.", "unknown professional")
    return logins_state().store.bind_new_user(identity.issuer, identity.sub, provider.name, fhir_user, kept)


def _bind_invited(provider: Provider, pending: Pending, identity: Identity, kept: dict[str, Any]) -> int | Response:
    store = logins_state().store
    if pending.invitation is None:
        return _refuse("Compte non associé", "Votre identité est reconnue, mais elle n'est associée à aucun dossier "
                       "de cet établissement. Demandez une invitation à votre établissement, puis ouvrez le lien "
                       "reçu pour vous connecter.", "no binding and no invitation")
    invitation = store.usable_invitation(pending.invitation)
    record_content = read(_ctx(), invitation.fhir_user) if invitation else None
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
    record(_ctx(), "invitation", "success", who=invitation.fhir_user, detail="invitation used",
           network=request.remote_addr)
    return user_id


def _invitation_refused(reason: str) -> Response:
    record(_ctx(), "invitation", "failure", detail=reason, network=request.remote_addr)
    return error_page("Invitation non valable", "Cette invitation n'existe pas, a expiré, a été retirée ou a "
                      "déjà servi. Demandez une nouvelle invitation à votre établissement.", 410)


def _open_session(provider: Provider, pending: Pending, identity: Identity, user_id: int) -> Any:
    user = web_state().store.user(user_id)
    if user is None:
        return _refuse("Compte désactivé", "Le compte associé à cette identité est désactivé.", "inactive account")
    record(_ctx(), "login", "success", who=user.fhir_user, username=user.username,
           detail=f"{provider.kind} login", network=request.remote_addr)
    resp = redirect(safe_next(pending.next), 303)
    resp.delete_cookie(BROWSER_COOKIE, path="/auth/oidc")
    session = sign_in(resp, user)
    logins_state().store.save_session(session.sid, provider.name, identity.id_token)
    return resp


def logout_redirect(sid: str) -> str | None:
    """The provider's ``end_session_endpoint`` URL for a session opened by an external login (``id_token_hint``,
    ``post_logout_redirect_uri``, ``state``), or None. Read before the session is closed."""
    found = logins_state().store.session_login(sid) if sid else None
    provider = logins_state().providers.get(found[0]) if found else None
    if found is None or provider is None:
        return None
    try:
        endpoint = provider.metadata().get("end_session_endpoint")
    except ProviderError:
        return None
    if not isinstance(endpoint, str) or not endpoint:
        return None
    params = {"id_token_hint": found[1], "post_logout_redirect_uri": current_urls().auth("login"),
              "state": secrets.token_urlsafe(32)}
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


# --- invitations ---------------------------------------------------------------------------------------

def _invitation_page(token: str, error: str | None, username: str, local: bool,
                     status: int = 200) -> Response:
    """The invitation page; its local account form carries a fresh double-submit token (cookie + field)."""
    form_token = new_form_token()
    resp = page("auth/invitation.html", status, token=token, csrf=form_token, local=local, error=error,
                username=username, providers=buttons("/auth/apps", token, ("franceconnect",)))
    if local:
        set_form_cookie(resp, INVITATION_COOKIE, form_token, "/auth/invitation")
    return resp


@bp.get("/auth/invitation/<token>")
def invitation_page(token: str) -> Any:
    invitation = logins_state().store.usable_invitation(token)
    if invitation is None:
        return _invitation_refused("invitation not usable")
    return _invitation_page(token, None, "", _ctx().settings.auth.local_accounts)


@bp.post("/auth/invitation/<token>/account")
def invitation_account(token: str) -> Any:
    if not _ctx().settings.auth.local_accounts:
        return error_page("Comptes locaux désactivés", "Ce serveur n'accepte que les fournisseurs d'identité.",
                          403)
    invitation = logins_state().store.usable_invitation(token)
    if invitation is None:
        return _invitation_refused("invitation not usable")
    username = request.form.get("username", "").strip()
    if not form_cookie_ok(INVITATION_COOKIE):
        return _invitation_page(token, "Le formulaire a expiré : saisissez à nouveau votre identifiant et "
                                "votre mot de passe.", username, True, 400)
    password = request.form.get("password", "")
    problem = _account_problem(username, password, request.form.get("password2", ""))
    if problem is None:
        record_content = read(_ctx(), invitation.fhir_user) or {}
        user_id = logins_state().store.local_account_from_invitation(
            token, username, password, patients_of(invitation.fhir_user, record_content))
        if user_id is not None:
            return _after_local_account(user_id, invitation.fhir_user, username)
        if logins_state().store.usable_invitation(token) is None:
            return _invitation_refused("invitation already used")
        problem = "Cet identifiant est déjà pris : choisissez-en un autre."
    return _invitation_page(token, problem, username, True, 400)


def _account_problem(username: str, password: str, again: str) -> str | None:
    if not username or len(username) > 100 or ":" in username:
        return "Choisissez un identifiant (100 caractères au plus, sans « : »)."
    if len(password) < MIN_PASSWORD:
        return f"Le mot de passe doit compter au moins {MIN_PASSWORD} caractères."
    if password != again:
        return "Les deux mots de passe saisis sont différents."
    return None


def _after_local_account(user_id: int, fhir_user: str, username: str) -> Any:
    record(_ctx(), "invitation", "success", who=fhir_user, username=username, detail="local account created",
           network=request.remote_addr)
    user = web_state().store.user(user_id)
    if user is None:
        return error_page("Compte désactivé", "Le compte créé n'est pas actif.", 403)
    resp = redirect("/auth/apps", 303)
    resp.delete_cookie(INVITATION_COOKIE, path="/auth/invitation")
    sign_in(resp, user)
    return resp


def register(app: Flask, state: LoginsState) -> None:
    app.extensions[EXTENSION] = state
    app.register_blueprint(bp)
