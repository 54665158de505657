"""Server-rendered pages with their security headers (OWASP Secure Headers; ASVS 14.4, 3.4).

Every HTML response of the server gets the headers below (:func:`secure`, also applied after each request to
any ``text/html`` response, error pages included): no caching (pages show health data), a Content Security
Policy with no script at all and our own stylesheet only, no framing, no referrer, no MIME sniffing. The CSP
has no ``form-action``: the consent form and the logout form end in redirects to other origins (the app's
redirect URI, the identity provider's logout), which browsers check against ``form-action`` too.
"""

from __future__ import annotations

from typing import Any

from flask import Response, render_template
from werkzeug.wrappers import Response as BaseResponse

CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def secure(resp: BaseResponse) -> BaseResponse:
    """Add the security headers of pages (values already set on the response are kept)."""
    for name, value in SECURITY_HEADERS.items():
        resp.headers.setdefault(name, value)
    return resp


def page(template: str, status: int = 200, **values: Any) -> Response:
    """Render ``template`` (extending ``web/base.html``) as a page: ``page("portail/accueil.html", me=…)``."""
    html = render_template(template, **values)
    resp = Response(html, status=status, content_type="text/html; charset=utf-8")
    secure(resp)
    return resp


def error_page(title: str, message: str, status: int = 400, **values: Any) -> Response:
    """A French error page: a heading and one message (``role="alert"``)."""
    return page("web/error.html", status, title=title, message=message, **values)
