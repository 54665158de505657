"""CSRF tokens on every form (OWASP CSRF Prevention Cheat Sheet; ASVS 3.5.1 / 4.2.2).

- A signed-in browser: the session's token (``auth_session.csrf``), sent as the hidden field ``dui_csrf`` (the
  ``csrf_field()`` template global writes it) and compared in constant time.
  :func:`fhirserver.web.guard.login_required` checks it on every POST / PUT / PATCH / DELETE of a portal,
  before the view runs.
- Forms shown before any session (login, invitation account): a double-submit token, a fresh random value in a
  ``SameSite=Strict`` HttpOnly cookie scoped to the form's path and in the hidden field
  (:func:`new_form_token`, :func:`set_form_cookie`, :func:`form_cookie_ok`) — against login CSRF.

A refused token raises :class:`CsrfRefused` (HTTP 400), rendered by the shell's error handler as the French
"Formulaire expiré" page.
"""

from __future__ import annotations

import hmac

from flask import request
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from fhirserver.auth.passwords import new_token

FIELD = "dui_csrf"
FORM_COOKIE_SECONDS = 3600


class CsrfRefused(BadRequest):
    """The form's CSRF token is missing or is not the expected one."""

    description = "the form's CSRF token is missing or wrong"


def tokens_match(sent: str | None, expected: str | None) -> bool:
    """Constant-time comparison; empty values never match."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def csrf_ok(expected: str) -> bool:
    """Whether the submitted form carries ``expected`` (the session's token) in ``dui_csrf``."""
    return tokens_match(request.form.get(FIELD), expected)


def require_csrf(expected: str) -> None:
    """Refuse the request (400, French page) unless the form carries ``expected``."""
    if not csrf_ok(expected):
        raise CsrfRefused()


def new_form_token() -> str:
    return new_token(24)


def set_form_cookie(resp: Response, name: str, token: str, path: str) -> None:
    """The cookie half of a double-submit token for the form posted under ``path``."""
    resp.set_cookie(name, token, httponly=True, samesite="Strict", secure=request.is_secure, path=path,
                    max_age=FORM_COOKIE_SECONDS)


def form_cookie_ok(name: str) -> bool:
    """Whether the form's ``dui_csrf`` equals the cookie ``name`` (double submit)."""
    return tokens_match(request.form.get(FIELD), request.cookies.get(name))
