"""The shell's state on the Flask app (``app.extensions["dui_web"]``) and the public URLs of this server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Response, current_app, request

from fhirserver.auth.first_party import TOKEN_SECONDS
from fhirserver.auth.models import utcnow
from fhirserver.auth.store import AuthStore
from fhirserver.auth.urls import Urls, urls_for
from fhirserver.errors import FhirError
from fhirserver.interactions.context import Context

EXTENSION = "dui_web"


@dataclass
class WebState:
    """What the shell needs at request time. ``fhir_outcome`` renders a FhirError as the FHIR API does (JSON
    or XML per the request: :func:`fhirserver.api.fhir.error_response`), given by ``create_app`` so that the
    shell does not import the API; ``clock`` is the shell's "now" (naive UTC, like the stored times; tests
    move it)."""

    ctx: Context
    store: AuthStore
    fhir_outcome: Callable[[FhirError], Response]
    clock: Callable[[], datetime] = field(default=utcnow)
    token_seconds: int = TOKEN_SECONDS


def web_state() -> WebState:
    state: WebState = current_app.extensions[EXTENSION]
    return state


def fhir_base() -> str:
    """The public FHIR base URL for this request: ``[server] base_url``, else the request's host + ``/fhir``."""
    ctx: Context = current_app.config["DUI_CONTEXT"]
    configured = ctx.settings.server.base_url
    return configured.rstrip("/") if configured else request.host_url.rstrip("/") + "/fhir"


def current_urls() -> Urls:
    """The authorization server's URLs for this request (issuer and endpoints derived from :func:`fhir_base`)."""
    ctx: Context = current_app.config["DUI_CONTEXT"]
    return urls_for(ctx.settings, fhir_base())
