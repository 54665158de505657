"""Pages of the shell: security headers, base.html (French, skip link, landmarks, our stylesheet), and the
error pages."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from flask import Flask

from fhirserver.api import fhir as fhir_api
from fhirserver.web import SECURITY_HEADERS
from tests.web.conftest import SECRET, Probe


def _assert_secure(resp: Any) -> None:
    assert resp.headers["Cache-Control"] == "no-store"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "script-src" not in csp  # no script of any kind
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_login_page_has_the_security_headers_and_the_shell(web_app: tuple[Flask, Probe]) -> None:
    """The login page is served with every security header, in French, with a skip link to the main landmark
    and only our own stylesheet (no inline style or script)."""
    client = web_app[0].test_client()
    resp = client.get("/auth/login")
    assert resp.status_code == 200
    _assert_secure(resp)
    html = resp.get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert '<a class="skip-link" href="#contenu">' in html and '<main id="contenu"' in html
    assert "<header" in html and "<footer" in html
    assert "<script" not in html and "<style" not in html and " style=" not in html
    assert "Marianne" not in html
    sheet = re.search(r'<link rel="stylesheet" href="([^"]+)">', html)
    assert sheet is not None and sheet.group(1) == "/web/static/dui.css"
    with client.get(sheet.group(1)) as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
        assert ":focus-visible" in css.get_data(as_text=True)


def test_missing_page_is_a_french_404(web_app: tuple[Flask, Probe]) -> None:
    """Off /fhir an unknown URL is a French HTML page built on base.html, with the security headers."""
    resp = web_app[0].test_client().get("/nulle-part")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "<h1>Page introuvable</h1>" in html and 'role="alert"' in html and 'lang="fr"' in html
    _assert_secure(resp)


def test_wrong_method_is_a_french_405_with_allow(web_app: tuple[Flask, Probe]) -> None:
    """A method a page does not take is a French 405 page that keeps the Allow header."""
    resp = web_app[0].test_client().post("/auth/apps")
    assert resp.status_code == 405 and "Action impossible" in resp.get_data(as_text=True)
    assert "GET" in resp.headers["Allow"]


def test_unexpected_error_off_fhir_is_a_french_500(web_app: tuple[Flask, Probe],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """An exception in a page is a French 500 page without its text; the traceback is logged."""
    with caplog.at_level(logging.ERROR, logger="fhirserver.web"):
        resp = web_app[0].test_client().get("/sonde/panne")
    assert resp.status_code == 500 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "Erreur du serveur" in html and SECRET not in html and "Traceback" not in html
    _assert_secure(resp)
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(SECRET)


@pytest.mark.parametrize(("accept", "mimetype"), [("application/fhir+json", "application/fhir+json"),
                                                  ("application/fhir+xml", "application/fhir+xml")])
def test_unexpected_error_under_fhir_is_a_500_operation_outcome(
        web_app: tuple[Flask, Probe], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        accept: str, mimetype: str) -> None:
    """A non-FHIR exception in an interaction is a 500 OperationOutcome in the negotiated format (JSON or
    XML), never Flask's HTML page nor the exception's text; the log names the endpoint, never the URL."""
    monkeypatch.setattr(fhir_api, "handle", _boom)
    with caplog.at_level(logging.ERROR, logger="fhirserver.web"):
        resp = web_app[0].test_client().get("/fhir/Patient?name=martin-secret-search",
                                            headers={"Accept": accept})
    assert resp.status_code == 500 and resp.mimetype == mimetype
    body = resp.get_data(as_text=True)
    assert SECRET not in body and "RuntimeError" not in body and "Traceback" not in body
    assert "<html" not in body
    if mimetype.endswith("json"):
        outcome = resp.get_json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "exception" and outcome["issue"][0]["severity"] == "error"
    else:
        assert body.lstrip().startswith("<") and "OperationOutcome" in body and 'value="exception"' in body
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and logged[0].exc_info is not None and logged[0].exc_info[0] is RuntimeError
    assert all("martin-secret-search" not in r.getMessage() and "/fhir/Patient" not in r.getMessage()
               for r in caplog.records)


def test_xml_by_format_parameter_too(web_app: tuple[Flask, Probe], monkeypatch: pytest.MonkeyPatch) -> None:
    """``_format=xml`` asks for XML like Accept does, for the 500 OperationOutcome as well."""
    monkeypatch.setattr(fhir_api, "handle", _boom)
    resp = web_app[0].test_client().get("/fhir/Patient/p1?_format=xml")
    assert resp.status_code == 500 and resp.mimetype == "application/fhir+xml"


def test_http_error_under_fhir_is_an_operation_outcome(web_app: tuple[Flask, Probe]) -> None:
    """A method the FHIR API does not route is a 405 OperationOutcome, not an HTML page."""
    resp = web_app[0].test_client().open("/fhir/Patient", method="PROPFIND")
    assert resp.status_code == 405 and resp.mimetype == "application/fhir+json"
    assert resp.get_json()["issue"][0]["code"] == "not-supported"


def test_security_headers_constant_is_what_pages_send(web_app: tuple[Flask, Probe]) -> None:
    """Every header of SECURITY_HEADERS is on an error page too."""
    resp = web_app[0].test_client().get("/nulle-part")
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers[name] == value
