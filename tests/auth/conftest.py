"""Fixtures of the authorization tests: an app with ``auth_required=True`` on the test database, served by a real
werkzeug server on 127.0.0.1 (the SMART clients and the "browser" talk HTTP to it), plus helpers that play the user
agent (login form, consent form, patient picker) with requests and html.parser.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

from fhirserver.app import build_context, create_app
from fhirserver.auth.administration import ADMISSION, habilitation_extension
from fhirserver.auth.models import Client
from fhirserver.auth.store import AuthStore
from fhirserver.interactions.context import FhirRequest
from fhirserver.interactions.router import handle
from fhirserver.settings import load_settings
from fhirserver.storage.sql.migrate import upgrade
from tests.conftest import wipe

REDIRECT = "http://127.0.0.1:9/callback"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def signing_key_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = Path(tmp_path_factory.mktemp("keys")) / "signing.pem"
    path.write_bytes(RSAKey.generate_key(2048, private=True).as_pem(private=True))
    return str(path)


@pytest.fixture(scope="session")
def auth_context(database_url: str, signing_key_file: str) -> Iterator[Any]:
    settings = load_settings(database_url=database_url, auth_required=True, auth_signing_key_file=signing_key_file,
                             auth_lockout_threshold=3, auth_lockout_minutes=15)
    ctx = build_context(settings)
    upgrade(ctx.repo.engine)
    yield ctx
    ctx.repo.engine.dispose()


@dataclass
class Env:
    base: str
    ctx: Any
    store: AuthStore
    app: Any

    @property
    def fhir(self) -> str:
        return self.base + "/fhir"

    def url(self, name: str) -> str:
        return f"{self.base}/auth/{name}"

    def put(self, resource: dict[str, Any]) -> None:
        """Store a resource directly through the interactions (an internal call: no principal)."""
        req = FhirRequest(method="PUT", path=f"{resource['resourceType']}/{resource['id']}", body=resource,
                          base_url=self.fhir)
        resp = handle(req, self.ctx)
        assert resp.status in (200, 201), resp.resource

    def add_client(self, client_id: str = "app", *, scope: str = "openid fhirUser launch/patient offline_access "
                   "patient/*.rs", auth_method: str = "none", secret: str | None = None,
                   redirect_uris: list[str] | None = None, grant_types: list[str] | None = None,
                   jwks: dict[str, Any] | None = None, jwks_url: str | None = None) -> None:
        self.store.add_client(Client(client_id=client_id, auth_method=auth_method,
                                     redirect_uris=redirect_uris or [REDIRECT],
                                     grant_types=grant_types or ["authorization_code"], scope=scope,
                                     name=f"Appli {client_id}", jwks=jwks, jwks_url=jwks_url), secret)

    def add_user(self, username: str, fhir_user: str, patients: tuple[str, ...] = ()) -> None:
        self.store.add_user(username, PASSWORD, fhir_user)
        for p in patients:
            self.store.link_patient(username, p)

    def launch(self, patient: str | None, encounter: str | None = None) -> str:
        return self.store.create_launch(patient, encounter, timedelta(minutes=5))


@pytest.fixture()
def env(auth_context: Any) -> Iterator[Env]:
    wipe(auth_context)
    app = create_app(auth_context.settings, context=auth_context)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Env(f"http://127.0.0.1:{server.server_port}", auth_context, AuthStore(auth_context.repo.engine), app)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.fixture()
def records(env: Env) -> Env:
    """Two usagers with an observation each (one laboratory, one vital-signs for p1), a practitioner, an aidant."""
    env.put({"resourceType": "Patient", "id": "p1", "name": [{"family": "Martin", "given": ["Jeanne"]}],
             "birthDate": "1931-04-02"})
    env.put({"resourceType": "Patient", "id": "p2", "name": [{"family": "Durand", "given": ["Paul"]}],
             "birthDate": "1938-11-20"})
    env.put({"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "Petit"}]})
    for oid, pid, category in (("o1", "p1", "laboratory"), ("o1v", "p1", "vital-signs"), ("o2", "p2", "laboratory")):
        env.put({"resourceType": "Observation", "id": oid, "status": "final",
                 "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
                 "code": {"text": "test"}, "subject": {"reference": f"Patient/{pid}"},
                 "performer": [{"reference": "Practitioner/dr1"}]})
    env.put({"resourceType": "RelatedPerson", "id": "rp1", "patient": {"reference": "Patient/p1"},
             "name": [{"family": "Martin", "given": ["Luc"]}]})
    return env


CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


# --- the user agent ----------------------------------------------------------------------------------

class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.alerts: list[str] = []
        self._in_alert = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "inputs": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(a)
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1]["inputs"].append({**a, "type": "submit"})
        if a.get("role") == "alert":
            self._in_alert = True

    def handle_endtag(self, tag: str) -> None:
        self._in_alert = False

    def handle_data(self, data: str) -> None:
        if self._in_alert and data.strip():
            self.alerts.append(data.strip())


def parse_page(html: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(html)
    return parser


def submit(session: requests.Session, page: requests.Response, form_index: int = 0, *,
           fill: dict[str, str] | None = None, untick: set[str] = frozenset(), radio: dict[str, str] | None = None,
           button: tuple[str, str] | None = None) -> requests.Response:
    """Submit a form of ``page`` as a browser would (hidden fields, ticked boxes, the chosen radio and button)."""
    form = parse_page(page.text).forms[form_index]
    data: list[tuple[str, str]] = []
    for field in form["inputs"]:
        kind, name, value = field.get("type", "text"), field.get("name"), field.get("value", "")
        if not name:
            continue
        if kind == "checkbox":
            if "checked" in field and value not in untick:
                data.append((name, value))
        elif kind == "radio":
            chosen = (radio or {}).get(name)
            if chosen == value or (chosen is None and "checked" in field):
                data.append((name, value))
        elif kind == "submit":
            continue
        else:
            data.append((name, (fill or {}).get(name, value)))
    if button:
        data.append(button)
    return session.post(urljoin(page.url, form["action"]), data=data, allow_redirects=False)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(env: Env, challenge: str, *, client_id: str = "app",
                     scope: str = "openid fhirUser launch/patient offline_access patient/*.rs",
                     **extra: str) -> dict[str, str]:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": scope,
              "state": secrets.token_urlsafe(16), "aud": env.fhir, "code_challenge": challenge,
              "code_challenge_method": "S256"}
    params.update(extra)
    return {k: v for k, v in params.items() if v != ""}


def login(env: Env, session: requests.Session, username: str, password: str = PASSWORD,
          next_url: str = "/auth/apps") -> requests.Response:
    page = session.get(env.url("login") + "?" + urlencode({"next": next_url}))
    return submit(session, page, fill={"username": username, "password": password})


def browse_to_consent(env: Env, session: requests.Session, url: str, username: str) -> requests.Response:
    """Follow an authorize URL through the login page to the consent page."""
    first = session.get(url, allow_redirects=False)
    assert first.status_code == 302, first.text
    login_page = session.get(urljoin(url, first.headers["Location"]))
    assert login_page.status_code == 200 and "Connexion" in login_page.text
    logged = submit(session, login_page, fill={"username": username, "password": PASSWORD})
    assert logged.status_code == 303, logged.text
    consent = session.get(urljoin(url, logged.headers["Location"]), allow_redirects=False)
    assert consent.status_code == 200, consent.text
    return consent


def approve(session: requests.Session, consent: requests.Response, *, untick: set[str] = frozenset(),
            patient: str | None = None) -> requests.Response:
    return submit(session, consent, untick=untick, radio={"dui_patient": patient} if patient else None,
                  button=("dui_action", "allow"))


def code_from(resp: requests.Response) -> str:
    assert resp.status_code == 302, resp.text
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert "error" not in query, query
    return query["code"][0]


def redirect_error(resp: requests.Response) -> dict[str, list[str]]:
    assert resp.status_code == 302, resp.text
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT), location
    return parse_qs(urlsplit(location).query)


def get_code(env: Env, username: str, challenge: str, *, patient: str | None = None, untick: set[str] = frozenset(),
             **params: str) -> str:
    session = requests.Session()
    url = env.url("authorize") + "?" + urlencode(authorize_params(env, challenge, **params))
    consent = browse_to_consent(env, session, url, username)
    return code_from(approve(session, consent, untick=untick, patient=patient))


def exchange(env: Env, code: str, verifier: str | None, *, client_id: str = "app",
             auth: tuple[str, str] | None = None, redirect_uri: str = REDIRECT, **extra: str) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": client_id}
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    return requests.post(env.url("token"), data=data, auth=auth, timeout=10)


def patient_token(env: Env, username: str = "jeanne", patient: str | None = None, **params: str) -> dict[str, Any]:
    verifier, challenge = pkce()
    code = get_code(env, username, challenge, patient=patient, **params)
    resp = exchange(env, code, verifier)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def api(env: Env, token: str, path: str, method: str = "GET", body: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    if body is not None:
        headers["Content-Type"] = "application/fhir+json"
    return requests.request(method, f"{env.fhir}/{path}", json=body, headers=headers, timeout=10)


# --- access policy part 2: structures, care teams, delegations (fhirserver.auth.reach / delegation) -----------

ALL_SCOPES = ("openid fhirUser launch launch/patient offline_access user/*.cruds patient/*.cruds patient/*.rs "
              "user/*.rs")


def now_iso(days: float = 0) -> str:
    """An instant ``days`` from now (negative: in the past), FHIR dateTime with offset."""
    from datetime import UTC, datetime

    return (datetime.now(UTC) + timedelta(days=days)).isoformat(timespec="seconds")


def delegation_consent(consent_id: str, patient: str, related_person: str, *, actions: tuple[str, ...] = ("access",),
                       start: str | None = None, end: str | None = None, status: str = "active",
                       deny_types: tuple[str, ...] = (), deny_codes: tuple[tuple[str, str], ...] = ()
                       ) -> dict[str, Any]:
    """A delegation Consent following fhirserver.auth.delegation (granted by the usager)."""
    provision: dict[str, Any] = {
        "type": "permit", "period": {"start": start or now_iso(-1), "end": end or now_iso(300)},
        "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                        "code": "POWATT"}]},
                   "reference": {"reference": f"RelatedPerson/{related_person}"}}],
        "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": a}]}
                   for a in actions]}
    denied = []
    if deny_types:
        denied.append({"type": "deny", "class": [{"system": "http://hl7.org/fhir/resource-types", "code": t}
                                                 for t in deny_types]})
    if deny_codes:
        denied.append({"type": "deny", "code": [{"coding": [{"system": s, "code": c}]} for s, c in deny_codes]})
    if denied:
        provision["provision"] = denied
    return {"resourceType": "Consent", "id": consent_id, "status": status,
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "https://dui.example.org/fhir/CodeSystem/access-delegation",
                                      "code": "delegation"}]}],
            "patient": {"reference": f"Patient/{patient}"}, "performer": [{"reference": f"Patient/{patient}"}],
            "provision": provision}


def user_token(env: Env, username: str, scope: str, patient: str | None = None, launch: str | None = None) -> str:
    """An access token for ``username`` with ``scope`` (through login and consent; ``patient``: the picker choice)."""
    verifier, challenge = pkce()
    extra = {"launch": launch} if launch else {}
    code = get_code(env, username, challenge, patient=patient, scope=scope, **extra)
    resp = exchange(env, code, verifier)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


@pytest.fixture()
def structures(records: Env) -> Env:
    """Structure A (orgA and its sub-structure orgA1) manages p1 and p3, structure B (orgB) manages p2; dr1 works
    at orgA (PractitionerRole roleA, habilitation ``admission``: may admit usagers), dr2 at orgB; dr3 (role at orgA too) is in the active care team of p2 (B);
    DocumentReferences d1 (p1, author dr1) and d2 (p2); client "app" may ask for every scope."""
    env = records
    env.put({"resourceType": "Organization", "id": "orgA", "name": "EHPAD A"})
    env.put({"resourceType": "Organization", "id": "orgA1", "name": "Unité A1", "partOf": {"reference": "Organization/orgA"}})
    env.put({"resourceType": "Organization", "id": "orgB", "name": "SSIAD B"})
    for pid, family, org in (("p1", "Martin", "orgA1"), ("p2", "Durand", "orgB"), ("p3", "Bernard", "orgA")):
        env.put({"resourceType": "Patient", "id": pid, "name": [{"family": family}],
                 "managingOrganization": {"reference": f"Organization/{org}"}})
    env.put({"resourceType": "Observation", "id": "o3", "status": "final", "code": {"text": "test"},
             "subject": {"reference": "Patient/p3"}, "performer": [{"reference": "Practitioner/dr1"}]})
    for prac, role, org, codes in (("dr1", "roleA", "orgA", [ADMISSION]), ("dr2", "roleB", "orgB", []),
                                   ("dr3", "roleA3", "orgA", [])):
        env.put({"resourceType": "Practitioner", "id": prac, "name": [{"family": prac}]})
        env.put({"resourceType": "PractitionerRole", "id": role, "active": True,
                 "period": {"start": now_iso(-30)}, "practitioner": {"reference": f"Practitioner/{prac}"},
                 "organization": {"reference": f"Organization/{org}"}, **habilitation(*codes)})
    env.put({"resourceType": "CareTeam", "id": "ct2", "status": "active", "subject": {"reference": "Patient/p2"},
             "participant": [{"member": {"reference": "Practitioner/dr3"}}]})
    for doc, pid, author in (("d1", "p1", "dr1"), ("d2", "p2", "dr2")):
        env.put({"resourceType": "DocumentReference", "id": doc, "status": "current",
                 "subject": {"reference": f"Patient/{pid}"}, "author": [{"reference": f"Practitioner/{author}"}],
                 "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/b{doc}"}}]})
    env.add_client(scope=ALL_SCOPES)
    for name in ("dr1", "dr2", "dr3"):
        env.add_user(name, f"Practitioner/{name}")
    return env


def habilitation(*codes: str) -> dict[str, Any]:
    """The ``extension`` of a PractitionerRole carrying these habilitations (``admission``, ``administrateur``)."""
    if not codes:
        return {}
    return {"extension": [habilitation_extension(c) for c in codes]}


def care_team(env: Env, practitioner: str, patient: str, team_id: str | None = None) -> None:
    """Put ``practitioner`` in an active care team of ``patient`` (so that the professional reaches that usager)."""
    env.put({"resourceType": "CareTeam", "id": team_id or f"ct-{practitioner}-{patient}", "status": "active",
             "subject": {"reference": f"Patient/{patient}"},
             "participant": [{"member": {"reference": f"Practitioner/{practitioner}"}}]})


def aidant_of_two(env: Env, username: str = "luc") -> None:
    """An aidant account (fhirUser Person/luc) acting for p1 and p2 through RelatedPersons rp1 / rp2 and two active
    delegations d1 / d2."""
    env.put({"resourceType": "RelatedPerson", "id": "rp2", "patient": {"reference": "Patient/p2"},
             "name": [{"family": "Martin", "given": ["Luc"]}]})
    env.put({"resourceType": "Person", "id": "luc", "name": [{"family": "Martin", "given": ["Luc"]}],
             "link": [{"target": {"reference": "RelatedPerson/rp1"}}, {"target": {"reference": "RelatedPerson/rp2"}}]})
    env.put(delegation_consent("d1", "p1", "rp1"))
    env.put(delegation_consent("d2", "p2", "rp2"))
    env.add_user(username, "Person/luc")
