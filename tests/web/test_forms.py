"""Forms: CSRF tokens, safe next redirects, and FHIR errors placed on pages and fields."""

from __future__ import annotations

import pytest
import requests
from flask import Flask, render_template_string

from fhirserver.errors import Forbidden, Gone, Invalid, Issue, NotFound, PreconditionFailed, Unprocessable
from fhirserver.web import COOKIE, fhir_error_page, form_errors, safe_next
from tests.auth.conftest import login, parse_page
from tests.web.conftest import Portal, Probe, signed_in


def test_portal_post_without_the_csrf_token_is_refused(portal: Portal) -> None:
    """A portal POST without the session's token, or with another one, is the French 400 "Formulaire expiré"
    page and the view does not run; with the token it runs."""
    browser = signed_in(portal)
    url = portal.env.base + "/portail/sonde"
    before = len(portal.probe.seen)
    for data in ({}, {"dui_csrf": "not-the-token"}, {"dui_csrf": "é" * 32}):
        resp = browser.post(url, data=data, allow_redirects=False, timeout=10)
        assert resp.status_code == 400 and "Formulaire expiré" in resp.text and 'role="alert"' in resp.text
    assert len(portal.probe.seen) == before
    record = portal.env.store.session_record(browser.cookies.get(COOKIE))
    assert record is not None
    ok = browser.post(url, data={"dui_csrf": record.csrf}, allow_redirects=False, timeout=10)
    assert ok.status_code == 200 and len(portal.probe.seen) == before + 1


def test_login_form_without_its_cookie_token_is_refused(portal: Portal) -> None:
    """The login form's double-submit token must match its cookie: a forged POST opens no session."""
    page = requests.get(portal.env.url("login"), timeout=10)
    token = next(i["value"] for i in parse_page(page.text).forms[0]["inputs"] if i.get("name") == "dui_csrf")
    forged = requests.post(portal.env.url("login"), data={"username": "jeanne", "dui_csrf": token,
                                                          "password": "correct horse battery staple"},
                           allow_redirects=False, timeout=10)
    assert forged.status_code == 400 and COOKIE not in forged.cookies


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example",
                                    "/\t/evil.example", "javascript:alert(1)", "evil.example", " /auth/apps",
                                    "/auth/apps\r\nX: y", "/" + "a" * 2000, "/é"])
def test_unsafe_next_is_refused(target: str) -> None:
    """Only a relative path of this server is kept as next; anything else falls back to the default."""
    assert safe_next(target) == "/auth/apps"


def test_safe_next_keeps_relative_paths() -> None:
    """Relative paths with a query are kept as they are."""
    for target in ("/portail/", "/pro/usagers?tri=nom&page=2",
                   "/auth/authorize?client_id=app&scope=openid+fhirUser"):
        assert safe_next(target) == target


def test_login_follows_a_safe_next_only(portal: Portal) -> None:
    """After login the browser goes to a safe next, never to another site."""
    resp = login(portal.env, requests.Session(), "jeanne", next_url="/portail/sonde?onglet=2")
    assert resp.status_code == 303 and resp.headers["Location"] == "/portail/sonde?onglet=2"
    resp = login(portal.env, requests.Session(), "jeanne", next_url="//evil.example/portail")
    assert resp.headers["Location"] == "/auth/apps"


def test_fhir_errors_become_pages(web_app: tuple[Flask, Probe]) -> None:
    """A missing or foreign id is a 404 page, a refusal a 403 page, a conflict 409; all French."""
    with web_app[0].test_request_context("/portail/"):
        assert fhir_error_page(NotFound("Patient/p9 is not known")).status_code == 404
        assert fhir_error_page(Gone("deleted")).status_code == 404
        forbidden = fhir_error_page(Forbidden("the token's scopes do not permit update on Patient"))
        assert forbidden.status_code == 403 and "Action non autorisée" in forbidden.get_data(as_text=True)
        assert "scopes" not in forbidden.get_data(as_text=True)
        assert fhir_error_page(PreconditionFailed("version")).status_code == 409


def test_form_errors_are_placed_beside_their_fields() -> None:
    """Issues go to the field whose element contains their expression (longest match), with the form's French
    message or a generic one; issues of no field give one general message; English diagnostics never show."""
    error = Unprocessable("refused", [
        Issue("wrong NIR key 11", code="value", expression=("Patient.identifier[0].value",)),
        Issue("bad phone", code="value", expression=("Patient.telecom[1].value",)),
        Issue("bad city", code="value", expression=("Patient.address[0].city",)),
        Issue("unknown thing", code="invalid", expression=("Patient.extension[3]",)),
        Issue("just a warning", severity="warning", expression=("Patient.name[0]",)),
    ])
    errors = form_errors(error, {"nir": "Patient.identifier", "telephone": "Patient.telecom",
                                 "adresse": "Patient.address", "ville": "Patient.address[0].city",
                                 "nom": "Patient.name"},
                         {"nir": "Le numéro de sécurité sociale n'est pas valide."})
    assert errors.for_field("nir") == ("Le numéro de sécurité sociale n'est pas valide.",)
    assert errors.for_field("telephone") == ("Cette valeur n'est pas acceptée : vérifiez-la.",)
    assert errors.for_field("ville") and not errors.for_field("adresse") and not errors.for_field("nom")
    assert len(errors.general) == 1 and "NIR" not in " ".join(errors.general)
    near_miss = Invalid("x", [Issue("x", expression=("Patient.telecom",))])
    assert not form_errors(near_miss, {"t": "Patient.tele"}).fields


def test_form_error_macros_render_beside_the_field(web_app: tuple[Flask, Probe]) -> None:
    """web/forms.html puts the summary (role=alert) above and the message with its id beside the field."""
    refused = Invalid("x", [Issue("x", expression=("Patient.telecom[0]",))])
    errors = form_errors(refused, {"telephone": "Patient.telecom"}, {"telephone": "Numéro non valide."})
    with web_app[0].test_request_context("/"):
        html = render_template_string('{% import "web/forms.html" as forms %}'
                                      '{{ forms.error_summary(errors) }}'
                                      '{{ forms.field_errors(errors, "telephone") }}', errors=errors)
    assert 'role="alert"' in html and '<a href="#telephone">Numéro non valide.</a>' in html
    assert '<p class="field-error" id="erreur-telephone">Numéro non valide.</p>' in html
