"""The Flask adapter of the authorization server: discovery, authorize (login, patient picker, consent), token,
introspection, revocation, JWKS, the connected-apps page, and the bearer-token check in front of the FHIR API.

Pages are server-rendered, in French, without JavaScript, on the web shell (:mod:`fhirserver.web`: pages and their
security headers, the server-side browser session, CSRF tokens, safe ``next``). Every form carries a CSRF token
(the session's, or a double-submit token on the login form). The OAuth parameters of an authorization request
travel in hidden fields and are validated again by Authlib on every step, so a tampered form cannot widen what was
asked.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Flask, Response, current_app, redirect, request

from fhirserver.auth import scopes
from fhirserver.auth.bearer import InvalidToken, principal_from
from fhirserver.auth.discovery import openid_configuration, smart_configuration
from fhirserver.auth.keys import public_jwks
from fhirserver.auth.logins import psc
from fhirserver.auth.logins.audit import record
from fhirserver.auth.logins.views import buttons, logins_state, logout_redirect
from fhirserver.auth.models import epoch
from fhirserver.auth.server import SmartIntrospection, SmartServer, lookup_token
from fhirserver.auth.store import AuthStore
from fhirserver.errors import Issue, operation_outcome
from fhirserver.interactions.context import Context
from fhirserver.web import (
    csrf_ok,
    current_session,
    current_urls,
    error_page,
    form_cookie_ok,
    new_form_token,
    page,
    safe_next,
    set_form_cookie,
    sign_in,
    sign_out,
)

bp = Blueprint("auth", __name__, template_folder="templates")
EXTENSION = "dui_auth"
LOGIN_COOKIE = "dui_login_csrf"
OPEN_FHIR_PATHS = {"metadata", ".well-known/smart-configuration"}
#: scopes kept whatever the user unticks (identity and launch context; what they grant is shown on the page)
ALWAYS_KEPT = {"openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter"}


class AuthState:
    def __init__(self, ctx: Context, store: AuthStore, server: SmartServer) -> None:
        self.ctx = ctx
        self.store = store
        self.server = server


def _state() -> AuthState:
    state: AuthState = current_app.extensions[EXTENSION]
    return state


def _json(payload: Any, status: int = 200) -> Response:
    resp = Response(json.dumps(payload), status=status, content_type="application/json")
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


# --- discovery ---------------------------------------------------------------------------------------

@bp.get("/fhir/.well-known/smart-configuration")
def smart_config() -> Response:
    return _json(smart_configuration(current_urls()))


@bp.get("/.well-known/openid-configuration")
def openid_config() -> Response:
    return _json(openid_configuration(current_urls()))


@bp.get("/auth/jwks")
def jwks() -> Response:
    return _json(public_jwks(_state().server.key))


@bp.get("/auth/smart-style.json")
def smart_style() -> Response:
    return _json({"color_background": "#ffffff", "color_error": "#b00020", "color_highlight": "#005fcc",
                  "color_modal_backdrop": "rgba(0,0,0,0.5)", "color_success": "#1b7f3b", "color_text": "#1a1a1a",
                  "dim_border_radius": "4px", "dim_font_size": "16px", "dim_spacing_size": "16px",
                  "font_family_body": "system-ui, Arial, sans-serif",
                  "font_family_heading": "system-ui, Arial, sans-serif"})


# --- token, introspection, revocation ---------------------------------------------------------------

@bp.post("/auth/token")
def token() -> Response:
    resp: Response = _state().server.create_token_response()
    return resp


@bp.post("/auth/introspect")
def introspect() -> Response:
    server = _state().server
    bearer = _bearer_value()
    if bearer is not None:
        try:
            caller = principal_from(_state().store, server.key, bearer, current_urls())
        except InvalidToken:
            return _json({"error": "invalid_token", "error_description": "the bearer token is not valid"}, 401)
        target = request.form.get("token")
        if not target:
            return _json({"error": "invalid_request", "error_description": "token is missing"}, 400)
        found = lookup_token(server, target, request.form.get("token_type_hint"))
        if found is not None and found.client_id != caller.client_id:
            found = None  # a client sees only its own tokens
        return _json(SmartIntrospection(server).create_introspection_payload(found))
    resp: Response = server.create_endpoint_response("introspection")
    return resp


@bp.post("/auth/revoke")
def revoke() -> Response:
    resp: Response = _state().server.create_endpoint_response("revocation")
    return resp


def _bearer_value() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


# --- authorize ----------------------------------------------------------------------------------------

def _oauth_params() -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in request.values.items(multi=True) if not str(k).startswith("dui_")]


@bp.route("/auth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    state = _state()
    current = current_session()
    user = current.user if current else None
    try:
        grant = state.server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        if error.redirect_uri:
            return state.server.handle_error_response(None, error)
        return error_page("Demande d'autorisation refusée", "L'application a envoyé une demande que ce serveur "
                          f"ne peut pas accepter ({error.error} : {error.description or 'sans détail'}). "
                          "Signalez-le à l'éditeur de l'application.")
    params = _oauth_params()
    if user is None or current is None:
        if not state.ctx.settings.auth.local_accounts and not buttons("/auth/apps"):
            return error_page("Connexion impossible", "Aucun moyen de connexion n'est activé sur ce serveur.", 503)
        return redirect("/auth/login?" + urlencode({"next": "/auth/authorize?" + urlencode(params)}), 302)
    csrf = current.csrf
    oauth_request = grant.request
    requested = scopes.split(oauth_request.scope)
    launch = oauth_request.dui_launch
    patient_needed = launch is None and ("launch/patient" in requested
                                         or any(t.startswith("patient/") for t in requested))
    reachable = _reachable(state.ctx, user.fhir_user, user.patients)
    if launch is not None and launch[0] and launch[0] not in reachable:
        return error_page("Usager non accessible", "Le contexte d'ouverture désigne un usager pour lequel votre "
                          "compte n'a pas d'accès.", 403)
    if patient_needed and not reachable:
        return error_page("Aucun usager associé", "Votre compte n'est associé à aucun usager : l'application ne "
                          "peut pas être autorisée pour un usager.", 403)
    problem = None
    if request.method == "POST" and request.form.get("dui_action"):
        if not csrf_ok(csrf):
            return error_page("Formulaire expiré", "Le formulaire a expiré ou ne vient pas de cette page. "
                              "Recommencez depuis l'application.", 400)
        if request.form["dui_action"] == "deny":
            return state.server.create_authorization_response(grant=grant, grant_user=None)
        chosen = _chosen_scopes(requested)
        patient = request.form.get("dui_patient") if patient_needed else None
        if patient_needed and patient not in reachable:
            problem = "Choisissez l'usager pour lequel vous autorisez l'application."
        else:
            oauth_request.dui_scope = chosen
            oauth_request.dui_patient = patient
            oauth_request.dui_auth_time = epoch()
            return state.server.create_authorization_response(grant=grant, grant_user=user)
    client = oauth_request.client
    items = [{"value": t, "label": scopes.describe(t), "fixed": t in ALWAYS_KEPT,
              "subs": [{"value": v, "label": label} for v, label in scopes.sub_scopes(t)]} for t in requested]
    patients = [{"id": p, "label": _patient_label(state.ctx, p)} for p in reachable] if patient_needed else []
    return page("auth/consent.html", 400 if problem else 200, client_name=client.name or client.client_id,
                 client_id=client.client_id, items=items, patients=patients, params=params, csrf=csrf,
                 error=problem, user=user, wildcard=any("/*." in t for t in requested))


def _chosen_scopes(requested: list[str]) -> list[str]:
    """The scopes the user kept: ticked ones, identity / launch ones always, and for Observation / Condition the
    ticked categories (all ticked: the unfiltered scope; some: one filtered scope per category; none: nothing)."""
    ticked = set(request.form.getlist("dui_scope"))
    ticked_subs = set(request.form.getlist("dui_sub"))
    out: list[str] = []
    for token in requested:
        if token in ALWAYS_KEPT:
            out.append(token)
            continue
        if token not in ticked:
            continue
        subs = [value for value, _ in scopes.sub_scopes(token)]
        kept = [value for value in subs if value in ticked_subs]
        out.extend([token] if not subs or len(kept) == len(subs) else kept)
    return out


def _reachable(ctx: Context, fhir_user: str, linked: list[str]) -> list[str]:
    """The usagers the user can act for now (fhirserver.auth.reach: own records, delegations, structures and care
    teams), in the order of the picker (own record first, then by id)."""
    from fhirserver.auth.reach import compute

    found = ctx.repo.run(lambda session: compute(ctx, session, fhir_user, linked), write=False)
    first = [p for p in linked if p in found.patients]
    return first + sorted(found.patients - set(first))


def _patient_label(ctx: Context, patient_id: str) -> str:
    stored = ctx.repo.run(lambda session: session.read("Patient", patient_id), write=False)
    content = stored.content if stored is not None and not stored.deleted else None
    if not content:
        return f"Usager {patient_id}"
    for name in content.get("name") or []:
        given = " ".join(name.get("given") or [])
        family = name.get("family") or ""
        text = name.get("text") or f"{given} {family}".strip()
        if text:
            birth = content.get("birthDate")
            return f"{text} (né·e le {birth})" if birth else text
    return f"Usager {patient_id}"


# --- login, logout, connected apps ---------------------------------------------------------------------

def _login_page(target: str, error: str | None, username: str, status: int = 200) -> Response:
    """The login page: the enabled external providers' buttons, and the local form (with a fresh double-submit
    token against login CSRF, cookie + hidden field) when local accounts are on."""
    token = new_form_token()
    local = _state().ctx.settings.auth.local_accounts
    resp = page("auth/login.html", status, next=target, error=error, username=username, csrf=token,
                providers=buttons(target), local=local)
    if local:
        set_form_cookie(resp, LOGIN_COOKIE, token, "/auth/login")
    return resp


@bp.route("/auth/login", methods=["GET", "POST"])
def login() -> Any:
    state = _state()
    settings = state.ctx.settings
    target = safe_next(request.values.get("next"))
    if not settings.auth.local_accounts and (request.method == "POST" or not buttons(target)):
        return error_page("Connexion impossible", "Les comptes locaux sont désactivés sur ce serveur"
                          + (" : utilisez un des fournisseurs d'identité proposés." if buttons(target) else "."), 503)
    if request.method == "GET":
        return _login_page(target, None, "")
    if not form_cookie_ok(LOGIN_COOKIE):
        return _login_page(target, "Le formulaire de connexion a expiré : saisissez à nouveau vos identifiants.",
                           "", 400)
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    user = state.store.check_password(username, password, settings.auth.lockout_threshold,
                                      settings.auth.lockout_minutes) if username and password else None
    if user is None:
        record(state.ctx, "login", "failure", username=username[:100] or None, detail="local login refused",
               network=request.remote_addr)
        message = ("Identifiant ou mot de passe incorrect. Après plusieurs échecs, le compte est verrouillé "
                   f"pendant {settings.auth.lockout_minutes} minutes.")
        return _login_page(target, message, username, 401)
    record(state.ctx, "login", "success", who=user.fhir_user, username=user.username, detail="local login",
           network=request.remote_addr)
    resp = redirect(target, 303)
    resp.delete_cookie(LOGIN_COOKIE, path="/auth/login")
    sign_in(resp, user)
    return resp


@bp.post("/auth/logout")
def logout() -> Any:
    """Close the session (and revoke its portal grant); after an external login, continue to the provider's
    logout (RP-initiated logout with ``id_token_hint``, ``post_logout_redirect_uri`` and ``state``)."""
    current = current_session()
    target = "/auth/login"
    resp = redirect(target, 303)
    if current is not None and csrf_ok(current.csrf):
        target = logout_redirect(current.sid) or target
        resp = redirect(target, 303)
        sign_out(resp)
        record(_state().ctx, "logout", "success", who=current.user.fhir_user, username=current.user.username,
               network=request.remote_addr)
    return resp


@bp.get("/auth/apps")
def apps() -> Any:
    current = current_session()
    if current is None:
        return redirect("/auth/login?" + urlencode({"next": "/auth/apps"}), 302)
    user = current.user
    grants = [{"id": g["id"], "client": g["name"] or g["client_id"], "created": g["created"],
               "patient": g["patient"], "scopes": [scopes.describe(t) for t in scopes.split(g["scope"])],
               "current": g["id"] == current.grant_id}
              for g in _state().store.user_grants(user.id)]
    lines = psc.summary(logins_state().store.identity_claims(user.id))
    return page("auth/apps.html", user=user, grants=grants, csrf=current.csrf,
                message=request.args.get("done"), identity_lines=lines)


@bp.post("/auth/apps/revoke")
def revoke_app() -> Any:
    current = current_session()
    if current is None:
        return redirect("/auth/login?" + urlencode({"next": "/auth/apps"}), 302)
    user = current.user
    if not csrf_ok(current.csrf):
        return error_page("Formulaire expiré", "Le formulaire a expiré. Rechargez la page et recommencez.", 400)
    grant_id = request.form.get("grant_id", "")
    if _state().store.grant_owner(grant_id) != user.id:
        return error_page("Autorisation inconnue", "Cette autorisation n'existe pas ou n'est pas la vôtre.", 404)
    _state().store.revoke_grant(grant_id, "revoked by the user")
    record(_state().ctx, "consent", "success", who=user.fhir_user, username=user.username,
           detail="authorization revoked by the user", network=request.remote_addr)
    if grant_id == current.grant_id:  # this browser's own portal session: it ends now
        resp = redirect("/auth/login", 303)
        sign_out(resp)
        return resp
    return redirect("/auth/apps?done=1", 303)


# --- the resource server's bearer check ----------------------------------------------------------------

def _unauthorized(message: str, error: str | None) -> Response:
    body = operation_outcome([Issue(message, code="login")])
    challenge = 'Bearer realm="fhir"'
    if error:
        challenge += f', error="{error}", error_description="{message}"'
    return Response(json.dumps(body), status=401, content_type="application/fhir+json; charset=utf-8",
                    headers={"WWW-Authenticate": challenge})


def check_bearer() -> Response | None:
    path = request.path
    if not (path == "/fhir" or path.startswith("/fhir/")):
        return None
    if path[len("/fhir"):].strip("/") in OPEN_FHIR_PATHS or request.method == "OPTIONS":
        return None
    state = _state()
    header = request.headers.get("Authorization")
    value = _bearer_value()
    if value is None:
        if not state.ctx.settings.auth.required:
            return None
        if header:
            return _unauthorized("the Authorization header must be 'Bearer <access token>'", "invalid_request")
        return _unauthorized("an access token is required (Authorization: Bearer)", None)
    try:
        principal = principal_from(state.store, state.server.key, value, current_urls())
    except InvalidToken as exc:
        return _unauthorized(str(exc), "invalid_token")
    setattr(request, "dui_principal", principal)  # noqa: B010 - read by fhirserver.api.fhir
    return None


CORS_PUBLIC = ("/fhir/metadata", "/fhir/.well-known/smart-configuration", "/.well-known/openid-configuration",
               "/auth/jwks")
CORS_CLIENTS = ("/auth/token", "/auth/introspect", "/auth/revoke")


def add_cors(resp: Response) -> Response:
    """CORS (app-launch.html#considerations-for-cross-origin-resource-sharing-cors-support): any origin on the
    discovery documents; on the token endpoint and the FHIR API only the origins of registered redirect URIs."""
    path = request.path.rstrip("/")
    if path in CORS_PUBLIC:
        resp.headers["Access-Control-Allow-Origin"] = "*"
        return resp
    origin = request.headers.get("Origin")
    if not origin or not (path in CORS_CLIENTS or path == "/fhir" or path.startswith("/fhir/")):
        return resp
    if path in CORS_CLIENTS:
        resp.headers.pop("Access-Control-Allow-Origin", None)
    if origin in _state().store.registered_origins():
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Vary"] = "Origin"
        if request.method == "OPTIONS":
            resp.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, HEAD"
            resp.headers["Access-Control-Allow-Headers"] = ("Authorization, Content-Type, Accept, Prefer, If-Match, "
                                                            "If-None-Match, If-None-Exist, If-Modified-Since")
            resp.headers["Access-Control-Max-Age"] = "600"
        else:
            resp.headers["Access-Control-Expose-Headers"] = "Location, ETag, Last-Modified, Content-Location"
    return resp


def register(app: Flask, state: AuthState) -> None:
    app.extensions[EXTENSION] = state
    app.register_blueprint(bp)
    app.before_request(check_bearer)
    app.after_request(add_cors)
