"""SMART App Launch driven by the Python ``fhirclient`` 4.4.0 (discovery through the CapabilityStatement oauth-uris
extension, PKCE S256, code exchange, refresh) with the browser part played by requests + html.parser."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from fhirclient import client as smart_client
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.auth.conftest import (
    PASSWORD,
    REDIRECT,
    Env,
    aidant_of_two,
    api,
    approve,
    browse_to_consent,
    care_team,
    parse_page,
    submit,
)


def _fhirclient(env: Env, scope: str, **settings: Any) -> smart_client.FHIRClient:
    smart = smart_client.FHIRClient(settings={"app_id": "app", "api_base": env.fhir, "redirect_uri": REDIRECT,
                                              "scope": scope, **settings})
    smart.prepare()
    return smart


def test_standalone_launch_with_fhirclient_reads_the_chosen_patient(records: Env) -> None:
    """fhirclient discovers the endpoints, the aidant picks a usager, and the token reads that usager's data."""
    env = records
    env.add_client(scope="openid fhirUser launch/patient offline_access patient/*.rs")
    aidant_of_two(env)  # delegations d1 (p1) and d2 (p2): account links grant aidants nothing
    smart = _fhirclient(env, "openid fhirUser offline_access patient/*.rs")
    url = smart.authorize_url
    assert parse_qs(urlsplit(url).query)["code_challenge_method"] == ["S256"]
    session = requests.Session()
    consent = browse_to_consent(env, session, url, "luc")
    picker = parse_page(consent.text)
    radios = [i["value"] for i in picker.forms[0]["inputs"] if i.get("type") == "radio"]
    assert radios == ["p1", "p2"]
    assert "Martin Jeanne" in consent.text or "Jeanne Martin" in consent.text
    redirected = approve(session, consent, patient="p2")
    assert redirected.headers["Location"].startswith(REDIRECT)
    smart.handle_callback(redirected.headers["Location"])
    assert smart.patient_id == "p2"
    patient = Patient.read("p2", smart.server)
    assert patient.name[0].family == "Durand"
    observations = list(Observation.where(struct={}).perform_resources_iter(smart.server))
    assert {o.id for o in observations} == {"o2"}


def test_token_response_and_id_token(records: Env) -> None:
    """The token response has the SMART fields, no-store headers, and an RS256 id_token with fhirUser."""
    env = records
    env.add_client()
    env.add_user("jeanne", "Patient/p1")
    smart = _fhirclient(env, "openid fhirUser offline_access patient/*.rs")
    session = requests.Session()
    consent = browse_to_consent(env, session, smart.authorize_url, "jeanne")
    location = approve(session, consent, patient="p1").headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    verifier = smart.server.auth.code_verifier
    resp = requests.post(env.url("token"), data={"grant_type": "authorization_code", "code": code,
                                                 "redirect_uri": REDIRECT, "client_id": "app",
                                                 "code_verifier": verifier}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert "no-store" in resp.headers["Cache-Control"] and "no-cache" in resp.headers["Pragma"]
    body = resp.json()
    assert body["token_type"].lower() == "bearer"
    assert body["patient"] == "p1" and body["need_patient_banner"] is True
    assert 0 < body["expires_in"] <= 3600
    assert set(body["scope"].split()) == {"openid", "fhirUser", "launch/patient", "offline_access", "patient/*.rs"}
    assert body["refresh_token"]
    jwks = requests.get(env.url("jwks"), timeout=10).json()
    id_token = jwt.decode(body["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert id_token.header["alg"] == "RS256" and id_token.header["kid"] == jwks["keys"][0]["kid"]
    claims = id_token.claims
    assert claims["iss"] == env.base and claims["aud"] == ["app"] and claims["sub"] == "jeanne"
    assert claims["fhirUser"] == f"{env.fhir}/Patient/p1"
    style = requests.get(body["smart_style_url"], timeout=10).json()
    assert style["color_background"] and style["font_family_body"]
    # the fhirUser resource is readable with the granted scopes
    assert api(env, body["access_token"], "Patient/p1").status_code == 200


def test_refresh_with_fhirclient_then_read_again(records: Env) -> None:
    """After a refresh (fhirclient.reauthorize) the new access token works and the refresh token was rotated."""
    env = records
    env.add_client()
    env.add_user("jeanne", "Patient/p1")
    smart = _fhirclient(env, "openid fhirUser offline_access patient/*.rs")
    session = requests.Session()
    consent = browse_to_consent(env, session, smart.authorize_url, "jeanne")
    smart.handle_callback(approve(session, consent).headers["Location"])
    first_access, first_refresh = smart.server.auth.access_token, smart.server.auth.refresh_token
    smart.server.auth.reauthorize(smart.server)
    assert smart.server.auth.access_token != first_access
    assert smart.server.auth.refresh_token != first_refresh
    assert Patient.read("p1", smart.server).id == "p1"


def test_consent_unticked_scope_is_not_granted(records: Env) -> None:
    """The user unticks Observation at consent: the token has only Patient, and Observation answers 403."""
    env = records
    env.add_client(scope="openid fhirUser launch/patient patient/Patient.rs patient/Observation.rs")
    env.add_user("jeanne", "Patient/p1")
    from tests.auth.conftest import authorize_params, code_from, exchange, pkce

    verifier, challenge = pkce()
    params = authorize_params(env, challenge, scope="openid fhirUser launch/patient patient/Patient.rs "
                              "patient/Observation.rs")
    session = requests.Session()
    consent = browse_to_consent(env, session, env.url("authorize") + "?" + _qs(params), "jeanne")
    code = code_from(approve(session, consent, untick={"patient/Observation.rs"}))
    token = exchange(env, code, verifier).json()
    assert "patient/Observation.rs" not in token["scope"].split()
    assert api(env, token["access_token"], "Patient/p1").status_code == 200
    denied = api(env, token["access_token"], "Observation")
    assert denied.status_code == 403
    assert denied.json()["issue"][0]["code"] == "forbidden"


def test_deny_at_consent_redirects_with_access_denied(records: Env) -> None:
    """Refusing at the consent page sends the app error=access_denied and no code."""
    env = records
    env.add_client()
    env.add_user("jeanne", "Patient/p1")
    from tests.auth.conftest import authorize_params, pkce, redirect_error

    _, challenge = pkce()
    session = requests.Session()
    consent = browse_to_consent(env, session, env.url("authorize") + "?" + _qs(authorize_params(env, challenge)),
                                "jeanne")
    query = redirect_error(submit(session, consent, button=("dui_action", "deny")))
    assert query["error"] == ["access_denied"] and "code" not in query


def test_authorize_post_is_accepted(records: Env) -> None:
    """The authorization request may be POSTed (capability authorize-post)."""
    env = records
    env.add_client()
    env.add_user("jeanne", "Patient/p1")
    from tests.auth.conftest import authorize_params, code_from, exchange, pkce

    verifier, challenge = pkce()
    session = requests.Session()
    first = session.post(env.url("authorize"), data=authorize_params(env, challenge), allow_redirects=False)
    assert first.status_code == 302 and "/auth/login" in first.headers["Location"]
    login_page = session.get(urljoin(env.base, first.headers["Location"]))
    logged = submit(session, login_page, fill={"username": "jeanne", "password": PASSWORD})
    consent = session.get(urljoin(env.base, logged.headers["Location"]))
    code = code_from(approve(session, consent))
    assert exchange(env, code, verifier).status_code == 200


def test_ehr_launch(records: Env) -> None:
    """EHR launch: the launch context fixes the patient (no picker) and comes back in the token response."""
    env = records
    env.add_client(scope="openid fhirUser launch user/*.rs patient/*.rs")
    env.add_user("drpetit", "Practitioner/dr1")
    care_team(env, "dr1", "p2")  # the launch patient must be within the professional's reach
    launch = env.launch("p2", "e1")
    smart = _fhirclient(env, "openid fhirUser patient/*.rs", launch_token=launch)
    url = smart.authorize_url
    assert parse_qs(urlsplit(url).query)["launch"] == [launch]
    session = requests.Session()
    consent = browse_to_consent(env, session, url, "drpetit")
    assert not [i for i in parse_page(consent.text).forms[0]["inputs"] if i.get("type") == "radio"]
    smart.handle_callback(approve(session, consent).headers["Location"])
    assert smart.patient_id == "p2"
    assert Patient.read("p2", smart.server).id == "p2"
    token = smart.server.auth.access_token
    assert api(env, token, "Patient/p1").status_code == 404


def test_ehr_launch_unknown_launch_gets_no_code(records: Env) -> None:
    """An unknown launch id is an error redirect, not a code."""
    env = records
    env.add_client(scope="openid fhirUser launch patient/*.rs")
    env.add_user("drpetit", "Practitioner/dr1")
    from tests.auth.conftest import authorize_params, pkce, redirect_error

    _, challenge = pkce()
    params = authorize_params(env, challenge, scope="launch patient/*.rs", launch="not-a-launch")
    resp = requests.get(env.url("authorize") + "?" + _qs(params), allow_redirects=False, timeout=10)
    assert redirect_error(resp)["error"] == ["invalid_request"]


def test_connected_apps_page_revokes_access(records: Env) -> None:
    """The user sees the app on the connected-apps page, revokes it, and the token stops working at once."""
    env = records
    env.add_client()
    env.add_user("jeanne", "Patient/p1")
    from tests.auth.conftest import login, patient_token

    token = patient_token(env)
    assert api(env, token["access_token"], "Patient/p1").status_code == 200
    session = requests.Session()
    apps = session.get(urljoin(env.base, login(env, session, "jeanne").headers["Location"]))
    assert "Appli app" in apps.text
    form = [f for f in parse_page(apps.text).forms if f["action"] == "/auth/apps/revoke"]
    assert len(form) == 1
    done = submit(session, apps, parse_page(apps.text).forms.index(form[0]))
    assert done.status_code == 303
    after = session.get(urljoin(env.base, done.headers["Location"]))
    assert "Aucune application" in after.text
    assert api(env, token["access_token"], "Patient/p1").status_code == 401
    refresh = requests.post(env.url("token"), data={"grant_type": "refresh_token", "client_id": "app",
                                                    "refresh_token": token["refresh_token"]}, timeout=10)
    assert refresh.status_code == 400


def _qs(params: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def test_fhirclient_default_v1_scopes_for_a_practitioner(records: Env) -> None:
    """fhirclient's default v1 scope (user/*.* patient/*.read openid profile): granted as requested (v1 strings
    back), user/*.* lets a professional read and write the usagers in reach (here p2, through a care team)."""
    env = records
    env.add_client(scope="openid profile fhirUser launch/patient user/*.* patient/*.read")
    env.add_user("drpetit", "Practitioner/dr1", patients=("p1",))
    care_team(env, "dr1", "p2")
    smart = smart_client.FHIRClient(settings={"app_id": "app", "api_base": env.fhir, "redirect_uri": REDIRECT})
    smart.prepare()
    session = requests.Session()
    consent = browse_to_consent(env, session, smart.authorize_url, "drpetit")
    location = approve(session, consent).headers["Location"]
    context = smart.server.auth.handle_callback(location, smart.server)
    assert set(context["scope"].split()) == {"user/*.*", "patient/*.read", "openid", "profile", "launch/patient"}
    token = smart.server.auth.access_token
    assert api(env, token, "Observation/o2").status_code == 200
    created = api(env, token, "Observation", "POST", {"resourceType": "Observation", "status": "final",
                                                      "code": {"text": "x"}, "subject": {"reference": "Patient/p2"}})
    assert created.status_code == 201


def test_consent_category_selection_narrows_observation_scope(records: Env) -> None:
    """Unticking one category under patient/Observation.rs grants one filtered scope per remaining category:
    the vital-signs observation is then out of reach, the laboratory one readable and searchable."""
    env = records
    env.add_client(scope="launch/patient patient/Observation.rs patient/Patient.rs")
    env.add_user("jeanne", "Patient/p1")
    from tests.auth.conftest import CATEGORY, authorize_params, code_from, exchange, pkce

    verifier, challenge = pkce()
    params = authorize_params(env, challenge, scope="launch/patient patient/Observation.rs patient/Patient.rs")
    session = requests.Session()
    consent = browse_to_consent(env, session, env.url("authorize") + "?" + _qs(params), "jeanne")
    vital = f"patient/Observation.rs?category={CATEGORY}|vital-signs"
    assert vital in [i.get("value") for i in parse_page(consent.text).forms[0]["inputs"]]
    token = exchange(env, code_from(approve(session, consent, untick={vital})), verifier).json()
    granted = token["scope"].split()
    assert "patient/Observation.rs" not in granted and vital not in granted
    assert f"patient/Observation.rs?category={CATEGORY}|laboratory" in granted
    access = token["access_token"]
    assert api(env, access, "Observation/o1").status_code == 200
    assert api(env, access, "Observation/o1v").status_code == 404
    found = api(env, access, "Observation").json()
    assert {e["resource"]["id"] for e in found.get("entry", [])} == {"o1"}


def test_ehr_launch_from_the_usager_portal_with_v2_granular_scopes(records: Env) -> None:
    """fhirclient EHR launch by a usager (launch context p1) with v2 scopes: the token has the launch scope and
    the two granular scopes, reads p1's Observations and nothing of p2."""
    env = records
    env.add_client(scope="openid fhirUser launch patient/Patient.rs patient/Observation.rs")
    env.add_user("jeanne", "Patient/p1")
    launch = env.launch("p1")
    smart = _fhirclient(env, "openid fhirUser patient/Patient.rs patient/Observation.rs", launch_token=launch)
    query = parse_qs(urlsplit(smart.authorize_url).query)
    assert query["launch"] == [launch] and "launch" in query["scope"][0].split()
    session = requests.Session()
    consent = browse_to_consent(env, session, smart.authorize_url, "jeanne")
    context = smart.server.auth.handle_callback(approve(session, consent).headers["Location"], smart.server)
    assert context["patient"] == "p1"
    assert set(context["scope"].split()) == {"openid", "fhirUser", "launch", "patient/Patient.rs",
                                             "patient/Observation.rs"}
    observations = list(Observation.where(struct={}).perform_resources_iter(smart.server))
    assert {o.id for o in observations} == {"o1", "o1v"}
    assert api(env, smart.server.auth.access_token, "Observation/o2").status_code == 404


def test_ehr_launch_from_the_usager_portal_with_v1_read_scope(records: Env) -> None:
    """fhirclient EHR launch with the v1 scope patient/*.read: granted as requested, reads p1, cannot write."""
    env = records
    env.add_client(scope="openid fhirUser launch patient/*.read")
    env.add_user("jeanne", "Patient/p1")
    smart = _fhirclient(env, "openid fhirUser patient/*.read", launch_token=env.launch("p1"))
    session = requests.Session()
    consent = browse_to_consent(env, session, smart.authorize_url, "jeanne")
    context = smart.server.auth.handle_callback(approve(session, consent).headers["Location"], smart.server)
    assert "patient/*.read" in context["scope"].split() and context["patient"] == "p1"
    assert Patient.read("p1", smart.server).name[0].family == "Martin"
    created = api(env, smart.server.auth.access_token, "Observation", "POST",
                  {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "subject": {"reference": "Patient/p1"}})
    assert created.status_code == 403
