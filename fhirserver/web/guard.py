"""``@login_required(kind=…)``: the door of every portal page.

A page of the usagers' portal (``kind="usager"``: usagers and aidants) or of the professionals' (``kind=
"professional"``) runs only for a signed-in account of that kind, with ``flask.g.principal`` set to the
principal of the session's portal grant (:func:`fhirserver.web.session.portal_principal`), which the portal
passes to its FHIR calls. Otherwise:

- no session (never signed in, expired, signed out, grant revoked): a redirect to ``/auth/login?next=<this
  page>`` (a safe relative ``next``; a POST comes back to the page by GET);
- an account of the other kind: a 403 page;
- a portal switched off (``[portal] usager_enabled`` / ``pro_enabled``): 404;
- a POST / PUT / PATCH / DELETE without the session's CSRF token: the 400 "Formulaire expiré" page, before the
  view runs.

Example::

    @bp.get("/portail/")
    @login_required(kind="usager")
    def home() -> Response:
        fhir = Fhir(web_state().ctx, g.principal)  # fhirserver.interactions.client
        me = fhir.read(*g.principal.fhir_user.split("/"))
        return page("portail/accueil.html", me=me)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import abort, g, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from fhirserver.auth.first_party import PORTALS, Portal, kind_of
from fhirserver.settings import Settings
from fhirserver.web.csrf import require_csrf
from fhirserver.web.redirects import safe_next
from fhirserver.web.render import error_page
from fhirserver.web.session import current_session, portal_principal
from fhirserver.web.state import web_state

View = Callable[..., Any]
LOGIN_PATH = "/auth/login"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: who an account of each kind is, for the 403 page of the other portal
_WHO = {"usager": "aux usagers et à leurs aidants", "professional": "aux professionnels"}


def login_url(next_path: str) -> str:
    """The login page, coming back to ``next_path`` (when it is a safe relative path) after sign-in."""
    return LOGIN_PATH + "?" + urlencode({"next": safe_next(next_path)})


def redirect_to_login() -> BaseResponse:
    here = request.path
    if request.method in SAFE_METHODS and request.query_string:
        here += "?" + request.query_string.decode("latin-1")
    return redirect(login_url(here), 302)


def portal_enabled(portal: Portal, settings: Settings) -> bool:
    return settings.portal.usager_enabled if portal.kind == "usager" else settings.portal.pro_enabled


def login_required(kind: str) -> Callable[[View], View]:
    """Guard a portal view (see the module docstring); ``kind`` is ``"usager"`` or ``"professional"``."""
    if kind not in PORTALS:
        raise ValueError(f"login_required: kind must be one of {', '.join(PORTALS)}, not {kind!r}")
    portal = PORTALS[kind]

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not portal_enabled(portal, web_state().ctx.settings):
                abort(404)
            session = current_session()
            if session is None:
                return redirect_to_login()
            if kind_of(session.user.fhir_user) != portal.kind:
                return error_page("Espace réservé", f"Cet espace est réservé {_WHO[portal.kind]}. Votre "
                                  "compte ne permet pas d'y accéder.", 403)
            if request.method not in SAFE_METHODS:
                require_csrf(session.csrf)
            principal = portal_principal(session, portal)
            if principal is None:
                return redirect_to_login()
            g.principal = principal
            return view(*args, **kwargs)

        return guarded

    return decorate
