"""The web shell: what every server-rendered page uses — the login pages (:mod:`fhirserver.auth.views`,
:mod:`fhirserver.auth.logins.views`) and the coming portals (``/portail`` for usagers and aidants, ``/pro``
for professionals). Flask lives here (and in ``fhirserver.api``), never in the FHIR logic.

Public API:

- pages: :func:`page` (render a template extending ``web/base.html`` with the security headers),
  :func:`error_page`, :data:`SECURITY_HEADERS`; templates ``web/base.html`` (French, skip link, landmarks, our
  own stylesheet), ``web/error.html``, ``web/forms.html`` (error macros); Jinja filters ``french_date``,
  ``french_time``, ``french_datetime``, ``time_ago``, ``birth_date`` (:mod:`fhirserver.web.formats`) and
  globals ``csrf_field()``, ``support_contact()``;
- session: :func:`sign_in`, :func:`sign_out`, :func:`current_session` (:class:`BrowserSession`),
  :data:`COOKIE`; :func:`portal_principal` turns a session into a principal through its grant
  (:mod:`fhirserver.web.session`);
- guard: :func:`login_required` (``@login_required(kind="usager"|"professional")``; sets
  ``flask.g.principal``), :func:`login_url`;
- forms: :func:`csrf_ok`, :func:`require_csrf`, :class:`CsrfRefused`, and the pre-session double-submit tokens
  :func:`new_form_token`, :func:`set_form_cookie`, :func:`form_cookie_ok`; :func:`safe_next` for ``next``;
- errors: :func:`fhir_error_page`, :func:`form_errors` (:class:`FormErrors`) for FHIR calls' errors; the
  app-wide handlers (500 OperationOutcome under ``/fhir``, French pages elsewhere) are installed by
  :func:`init_app`;
- :func:`init_app` (``create_app`` calls it), :func:`web_state`, :func:`current_urls`.

A portal page::

    from flask import Blueprint, Response, g
    from fhirserver.errors import FhirError
    from fhirserver.interactions.client import Fhir
    from fhirserver.web import fhir_error_page, login_required, page, web_state

    bp = Blueprint("portail", __name__, template_folder="templates")

    @bp.route("/portail/", methods=["GET", "POST"])
    @login_required(kind="usager")  # signed in as a usager or an aidant; a POST carries the CSRF token
    def home() -> Response:
        fhir = Fhir(web_state().ctx, g.principal)  # scopes, reach, delegations, labels, audit
        try:
            me = fhir.read(*g.principal.fhir_user.split("/"))
        except FhirError as error:
            return fhir_error_page(error)
        return page("portail/accueil.html", me=me)

with ``portail/accueil.html``::

    {% extends "web/base.html" %}
    {% block title %}Accueil{% endblock %}
    {% block content %}<h1>Bonjour</h1>
    <p>Né·e le {{ me.birthDate|birth_date }}</p>
    <form method="post">{{ csrf_field() }}<button type="submit">Envoyer</button></form>{% endblock %}
"""

from __future__ import annotations

from fhirserver.web.csrf import (
    CsrfRefused,
    csrf_ok,
    form_cookie_ok,
    new_form_token,
    require_csrf,
    set_form_cookie,
)
from fhirserver.web.errors import FormErrors, fhir_error_page, form_errors
from fhirserver.web.guard import login_required, login_url
from fhirserver.web.redirects import safe_next
from fhirserver.web.render import SECURITY_HEADERS, error_page, page
from fhirserver.web.session import (
    COOKIE,
    BrowserSession,
    current_session,
    portal_principal,
    sign_in,
    sign_out,
)
from fhirserver.web.shell import init_app
from fhirserver.web.state import WebState, current_urls, web_state

__all__ = [
    "COOKIE", "SECURITY_HEADERS", "BrowserSession", "CsrfRefused", "FormErrors", "WebState", "csrf_ok",
    "current_session", "current_urls", "error_page", "fhir_error_page", "form_cookie_ok", "form_errors",
    "init_app", "login_required", "login_url", "new_form_token", "page", "portal_principal", "require_csrf",
    "safe_next", "set_form_cookie", "sign_in", "sign_out", "web_state",
]
