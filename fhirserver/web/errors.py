"""Error handling of the whole app (registered by ``create_app`` through :func:`fhirserver.web.init_app`), and
the ``FhirError`` → page helpers of the portals.

- Under ``/fhir``: any exception that escapes (a bug, a database failure …) is a 500 OperationOutcome in the
  format the request negotiated (JSON, or XML when it asked for XML), and an HTTP error (405 …) is an
  OperationOutcome with its status — never Flask's HTML page. The body never carries the exception's text: the
  traceback is logged on the server (logger ``fhirserver.web``) with the method and the endpoint name only,
  never the URL nor the body (both carry health data: search values, identifiers, resources).
- The OAuth / discovery JSON endpoints: a JSON error (``server_error``).
- Elsewhere: a French HTML page built on ``web/base.html`` (404, 403, 405, 500, and 400 for a refused CSRF
  token).

For the portals: :func:`fhir_error_page` turns a :class:`~fhirserver.errors.FhirError` of a FHIR call into a
page (404 for a missing or foreign id — the access policy answers "not found" for another usager's record —,
403, 409 …); :func:`form_errors` places the issues of a refused write beside the form's fields, from
``Issue.expression``::

    try:
        client.update(patient)
    except FhirError as error:
        if error.status not in (400, 422):
            return fhir_error_page(error)
        errors = form_errors(error, {"telephone": "Patient.telecom"},
                             {"telephone": "Indiquez un numéro de téléphone valide."})
        return page("portail/coordonnees.html", 422, errors=errors, form=request.form)

and in the template (``{% import "web/forms.html" as forms %}``): ``{{ forms.error_summary(errors) }}`` at the
top, ``{{ forms.field_errors(errors, "telephone") }}`` beside the field
(``aria-describedby="erreur-telephone"``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from fhirserver.errors import FhirError, Issue, operation_outcome
from fhirserver.web.csrf import CsrfRefused
from fhirserver.web.render import error_page
from fhirserver.web.state import web_state

log = logging.getLogger("fhirserver.web")
#: JSON endpoints outside /fhir (OAuth, discovery): their errors are JSON too
JSON_PATHS = ("/auth/token", "/auth/introspect", "/auth/revoke", "/auth/jwks", "/auth/smart-style.json",
              "/.well-known/", "/health")
ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               406: "not-supported", 409: "conflict", 410: "deleted", 412: "conflict", 413: "too-costly",
               415: "not-supported", 422: "processing", 429: "throttled"}
PAGES = {
    400: ("Requête incorrecte", "La demande envoyée n'a pas pu être comprise. Revenez à la page précédente "
          "et recommencez."),
    403: ("Accès refusé", "Votre compte ne permet pas d'accéder à cette page."),
    404: ("Page introuvable", "Cette page n'existe pas ou n'existe plus. Vérifiez l'adresse, ou revenez à la "
          "page précédente."),
    405: ("Action impossible", "Cette page ne permet pas cette action. Revenez à la page précédente."),
    500: ("Erreur du serveur", "Une erreur inattendue s'est produite. Elle a été enregistrée pour être "
          "corrigée. Réessayez dans quelques instants."),
}
CSRF_PAGE = ("Formulaire expiré", "Le formulaire a expiré ou ne vient pas de cette page. Rechargez la page "
             "et recommencez.")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)


def _under_fhir() -> bool:
    return request.path == "/fhir" or request.path.startswith("/fhir/")


def _json_endpoint() -> bool:
    return any(request.path == p or (p.endswith("/") and request.path.startswith(p)) for p in JSON_PATHS)


def unexpected_error(exc: Exception) -> Response:
    """Anything that escaped a view: logged with its traceback, answered without its text."""
    log.error("unexpected %s during %s %s", type(exc).__name__, request.method,
              request.endpoint or "(no endpoint)", exc_info=exc)
    if _under_fhir():
        issue = Issue("the server met an unexpected error; it has been logged", code="exception")
        return _outcome(FhirError("internal server error", [issue], status=500, code="exception"))
    if _json_endpoint():
        return _json_error(500, "server_error")
    title, message = PAGES[500]
    return error_page(title, message, 500)


def http_error(exc: HTTPException) -> Response:
    """An HTTP error raised by routing or a view (404, 405, a refused CSRF token …)."""
    status = exc.code or 500
    headers = {name: value for name, value in exc.get_headers() if name == "Allow"}
    if _under_fhir():
        issue = Issue(f"{status} {exc.name}", code=ISSUE_CODES.get(status, "exception"))
        return _outcome(FhirError(exc.name, [issue], status=status, code=issue.code, headers=headers))
    if _json_endpoint():
        return _json_error(status, "server_error" if status >= 500 else "invalid_request")
    if isinstance(exc, CsrfRefused):
        title, message = CSRF_PAGE
    else:
        title, message = PAGES.get(status, (f"Erreur {status}", "La demande n'a pas pu aboutir. Revenez à la "
                                                                "page précédente et recommencez."))
    resp = error_page(title, message, status)
    resp.headers.update(headers)
    return resp


def _outcome(error: FhirError) -> Response:
    """The OperationOutcome as the FHIR API renders it; should that fail too, a plain JSON one."""
    try:
        return web_state().fhir_outcome(error)
    except Exception:  # noqa: BLE001 - the error page of the error page: never Flask's HTML
        log.exception("rendering an OperationOutcome failed")
        body = json.dumps(operation_outcome(error.issues))
        return Response(body, status=error.status, content_type="application/fhir+json; charset=utf-8")


def _json_error(status: int, code: str) -> Response:
    body = json.dumps({"error": code, "error_description": "the request could not be completed"})
    return Response(body, status=status, content_type="application/json",
                    headers={"Cache-Control": "no-store"})


# --- for the portals: FhirError -> page, issues -> form fields ------------------------------------------

def fhir_error_page(error: FhirError) -> Response:
    """The page for a FHIR call's error: 404 (missing, deleted, or someone else's record: the policy does not
    say which), 403, 409 (changed meanwhile), 503, else 400."""
    if error.status in (404, 410):
        return error_page("Élément introuvable", "Cet élément n'existe pas, n'existe plus, ou votre compte "
                          "n'y a pas accès.", 404)
    if error.status in (401, 403):
        return error_page("Action non autorisée", "Votre compte ne permet pas cette action.", 403)
    if error.status in (409, 412):
        return error_page("Modifié entre-temps", "Ces informations ont été modifiées entre-temps. Rechargez "
                          "la page pour voir la dernière version, puis recommencez.", 409)
    if error.status == 503:
        return error_page("Service momentanément indisponible", "Ce service ne répond pas pour le moment. "
                          "Réessayez dans quelques minutes.", 503)
    return error_page("Demande refusée", "Les informations envoyées n'ont pas été acceptées. Revenez à la "
                      "page précédente, vérifiez-les et recommencez.", 400)


GENERIC_FIELD = "Cette valeur n'est pas acceptée : vérifiez-la."
GENERIC_FORM = "Certaines informations n'ont pas été acceptées : vérifiez le formulaire."


@dataclass(frozen=True)
class FormErrors:
    """Messages to show beside form fields (``fields``: field name -> messages) and above the form
    (``general``). Empty when nothing was refused."""

    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    general: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def for_field(self, name: str) -> tuple[str, ...]:
        return tuple(self.fields.get(name, ()))


def _covers(prefix: str, expression: str) -> bool:
    return expression == prefix or (expression.startswith(prefix) and expression[len(prefix)] in ".[")


def form_errors(error: FhirError, fields: Mapping[str, str],
                messages: Mapping[str, str] | None = None) -> FormErrors:
    """The issues of ``error`` placed on the form: ``fields`` maps a field name to the FHIRPath element it
    edits (``{"telephone": "Patient.telecom"}``); an issue whose ``expression`` is that element or inside it
    goes beside the field (the longest match wins) with ``messages[field]`` or a generic French text. The
    issues' English ``diagnostics`` are never shown; issues matching no field give one general message."""
    texts = messages or {}
    placed: dict[str, tuple[str, ...]] = {}
    unplaced = False
    for issue in error.issues:
        if issue.severity not in ("error", "fatal"):
            continue
        best: str | None = None
        for name, element in fields.items():
            if any(_covers(element, e) for e in issue.expression) and (best is None or
                                                                         len(element) > len(fields[best])):
                best = name
        if best is None:
            unplaced = True
            continue
        text = texts.get(best, GENERIC_FIELD)
        if text not in placed.get(best, ()):
            placed[best] = placed.get(best, ()) + (text,)
    general = (GENERIC_FORM,) if unplaced or (not placed and error.issues) else ()
    return FormErrors(fields=placed, general=general)
