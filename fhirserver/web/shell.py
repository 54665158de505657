"""Wiring of the shell on the Flask app: templates and stylesheet, Jinja filters and globals, the
after-request hooks, the error handlers, the portals' clients."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Flask, Response
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from fhirserver.auth.first_party import ensure_clients
from fhirserver.auth.store import AuthStore
from fhirserver.errors import FhirError
from fhirserver.interactions.context import Context
from fhirserver.web.csrf import FIELD
from fhirserver.web.errors import register_error_handlers
from fhirserver.web.formats import FILTERS
from fhirserver.web.render import secure
from fhirserver.web.session import current_session, forget_ended_session
from fhirserver.web.state import EXTENSION, WebState, web_state

log = logging.getLogger("fhirserver.web")
#: ``web/base.html``, ``web/error.html``, ``web/forms.html``; the stylesheet at /web/static/dui.css
bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/web/static")


def init_app(app: Flask, ctx: Context, fhir_outcome: Callable[[FhirError], Response]) -> WebState:
    """Attach the shell to ``app`` (``create_app`` calls it once); returns its state."""
    state = WebState(ctx=ctx, store=AuthStore(ctx.repo.engine), fhir_outcome=fhir_outcome)
    app.extensions[EXTENSION] = state
    app.register_blueprint(bp)
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals.update(csrf_field=csrf_field, support_contact=support_contact)
    app.after_request(_after_request)
    register_error_handlers(app)
    try:
        ensure_clients(state.store)
    except SQLAlchemyError:  # a database not migrated yet (dui db upgrade): registered at the first sign-in
        log.warning("the portals' clients could not be registered at start-up (is the database migrated?)")
    return state


def csrf_field() -> Markup:
    """The hidden CSRF field of the current session's forms (empty without a session)."""
    session = current_session()
    if session is None:
        return Markup("")
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(session.csrf)}">')


def support_contact() -> str:
    """The help line shown at the foot of the pages (``[portal] support_contact``), or ""."""
    return web_state().ctx.settings.portal.support_contact


def _after_request(resp: BaseResponse) -> BaseResponse:
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    if resp.mimetype == "text/html":
        secure(resp)
    return forget_ended_session(resp)
