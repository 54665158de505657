"""SMART App Launch driven by the real npm ``fhirclient`` 2.6.3 (client-js) in Node: ``tests/node/smart-client.mjs``
builds the authorize URL (``noRedirect``, ``pkceMode: 'required'``), the test plays the browser (login, patient picker,
consent), then the library exchanges the code itself (``ready()``: public, HTTP Basic secret, or private_key_jwt with
RS384 / ES384 keys made here) and calls the API. Standalone (``launch/patient``) and EHR (``iss`` + ``launch``) launches.

Specs: https://hl7.org/fhir/smart-app-launch/app-launch.html,
https://hl7.org/fhir/smart-app-launch/client-confidential-symmetric.html,
https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html; client-js:
http://docs.smarthealthit.org/client-js/api.html
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc.jwk import ECKey, RSAKey

from tests.auth.conftest import (
    CATEGORY,
    REDIRECT,
    Env,
    aidant_of_two,
    approve,
    browse_to_consent,
    parse_page,
    submit,
)

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "smart-client.mjs"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (NODE_DIR / "node_modules" / "fhirclient").is_dir(),
    reason="needs node and tests/node/node_modules/fhirclient (make install-test installs the Node peers)")

APP_LAUNCH_URL = "http://127.0.0.1:9/launch"
PATIENT_SCOPE = "openid fhirUser launch/patient offline_access patient/*.rs"
EXIT_TIMEOUT = 60  # seconds; only a guard against a hung Node process, never an assertion


@dataclass
class Run:
    """What the Node app printed: its events by kind, and its exit code."""

    returncode: int
    events: list[dict[str, Any]]
    stderr: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.results = {e["name"]: e for e in self.events if e["event"] == "result"}

    @property
    def ready(self) -> dict[str, Any]:
        found = [e for e in self.events if e["event"] == "ready"]
        assert found, (self.events, self.stderr)
        return found[0]

    def ok(self) -> Run:
        assert self.returncode == 0, (self.events, self.stderr)
        assert self.events[-1] == {"event": "done"}
        return self


class NodeApp:
    """One run of smart-client.mjs: start it with a configuration, read the authorize URL, feed the callback URL."""

    def __init__(self, auth_mode: str, launch_mode: str, config: dict[str, Any]) -> None:
        assert NODE is not None
        self.proc = subprocess.Popen([NODE, str(SCRIPT), auth_mode, launch_mode], cwd=NODE_DIR, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(config) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(EXIT_TIMEOUT)
            raise AssertionError(f"smart-client.mjs gave no authorize URL: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        first = json.loads(line)
        assert first["event"] == "authorize", first
        self.authorize_url: str = first["url"]

    def finish(self, callback_url: str) -> Run:
        out, err = self.proc.communicate(callback_url + "\n", timeout=EXIT_TIMEOUT)
        return Run(self.proc.returncode, [json.loads(x) for x in out.splitlines() if x.strip()], err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture()
def node_apps() -> Iterator[list[NodeApp]]:
    """Node processes started by a test; any still running at the end is killed."""
    apps: list[NodeApp] = []
    yield apps
    for app in apps:
        app.kill()


def start(apps: list[NodeApp], env: Env, *, auth_mode: str = "public", launch: str | None = None,
          scope: str = PATIENT_SCOPE, client_id: str = "app", actions: list[dict[str, Any]] | None = None,
          **extra: Any) -> NodeApp:
    """Open the Node app standalone (``iss`` given) or from an EHR launch URL (``iss`` + ``launch`` in its query)."""
    launch_url = APP_LAUNCH_URL + ("?" + urlencode({"iss": env.fhir, "launch": launch}) if launch else "")
    config = {"launchUrl": launch_url, "iss": env.fhir, "clientId": client_id, "scope": scope,
              "redirectUri": REDIRECT, "actions": actions or [], **extra}
    app = NodeApp(auth_mode, "ehr" if launch else "standalone", config)
    apps.append(app)
    return app


def consent_redirect(env: Env, app: NodeApp, username: str, *, patient: str | None = None,
                     untick: set[str] | None = None) -> str:
    """Play the browser from the app's authorize URL to the redirect back to the app; return that URL."""
    session = requests.Session()
    consent = browse_to_consent(env, session, app.authorize_url, username)
    location = approve(session, consent, untick=untick or set(), patient=patient).headers["Location"]
    assert location.startswith(REDIRECT), location
    return str(location)


def launch_as(apps: list[NodeApp], env: Env, username: str = "jeanne", *, patient: str | None = None,
              untick: set[str] | None = None, **options: Any) -> Run:
    app = start(apps, env, **options)
    return app.finish(consent_redirect(env, app, username, patient=patient, untick=untick))


def read(url: str, name: str | None = None) -> dict[str, Any]:
    return {"name": name or url, "op": "request", "url": url}


def key_pair(alg: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fresh private JWK for client-js (with alg and kid) and the public JWKS to register."""
    kid = f"{alg.lower()}-key"
    key: RSAKey | ECKey
    if alg == "RS384":
        key = RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)
    else:
        key = ECKey.generate_key("P-384", parameters={"kid": kid}, private=True)
    private = {**key.as_dict(private=True), "kid": kid, "alg": alg}
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    return private, {"keys": [public]}


@pytest.fixture()
def usager(records: Env) -> Env:
    """A public client and a usager account (fhirUser Patient/p1)."""
    records.add_client(scope="openid fhirUser launch launch/patient offline_access patient/*.rs patient/*.c")
    records.add_user("jeanne", "Patient/p1")
    return records


# --- public client, standalone -----------------------------------------------------------------------------

def test_authorize_url_has_pkce_s256_and_aud(usager: Env, node_apps: list[NodeApp]) -> None:
    """client-js with pkceMode 'required' sends an S256 challenge, the FHIR base as aud, and the requested scope."""
    app = start(node_apps, usager)
    query = parse_qs(urlsplit(app.authorize_url).query)
    assert app.authorize_url.startswith(usager.url("authorize") + "?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["aud"] == [usager.fhir] and query["scope"] == [PATIENT_SCOPE]
    assert query["client_id"] == ["app"] and query["redirect_uri"] == [REDIRECT]


def test_public_standalone_launch_gives_the_patient_and_scope(usager: Env, node_apps: list[NodeApp]) -> None:
    """After ready() the library holds the usager's own patient id, the granted scope, a refresh token and fhirUser."""
    ready = launch_as(node_apps, usager).ok().ready
    assert ready["patient"] == "p1"
    assert set(ready["scope"].split()) == set(PATIENT_SCOPE.split())
    assert ready["hasRefreshToken"] is True
    assert ready["fhirUser"] == "Patient/p1"
    assert ready["idToken"]["sub"] == "jeanne" and ready["idToken"]["aud"] in ("app", ["app"])


def test_patient_read_returns_the_launch_patient(usager: Env, node_apps: list[NodeApp]) -> None:
    """client.patient.read() returns the launch patient's record."""
    run = launch_as(node_apps, usager, actions=[{"name": "patient", "op": "patient.read"}]).ok()
    body = run.results["patient"]["body"]
    assert body["resourceType"] == "Patient" and body["id"] == "p1" and body["name"][0]["family"] == "Martin"


def test_user_read_returns_the_fhir_user(usager: Env, node_apps: list[NodeApp]) -> None:
    """client.user.read() follows the id_token's fhirUser to the usager's Patient resource."""
    run = launch_as(node_apps, usager, actions=[{"name": "user", "op": "user.read"}]).ok()
    assert run.results["user"]["ok"] and run.results["user"]["body"]["id"] == "p1"


def test_search_returns_only_the_launch_patient_observations(usager: Env, node_apps: list[NodeApp]) -> None:
    """An unfiltered Observation search through client.request is narrowed to the launch patient's compartment."""
    run = launch_as(node_apps, usager, actions=[read("Observation")]).ok()
    result = run.results["Observation"]
    assert result["status"] == 200 and result["body"]["resourceType"] == "Bundle"
    assert {e["resource"]["id"] for e in result["body"].get("entry", [])} == {"o1", "o1v"}


def test_reading_another_usager_is_not_found(usager: Env, node_apps: list[NodeApp]) -> None:
    """Another usager's Patient and Observation are 404 for the token (their existence is not revealed)."""
    run = launch_as(node_apps, usager, actions=[read("Patient/p2"), read("Observation/o2")]).ok()
    for name in ("Patient/p2", "Observation/o2"):
        assert run.results[name]["ok"] is False and run.results[name]["status"] == 404
        assert run.results[name]["body"]["resourceType"] == "OperationOutcome"


def test_create_in_the_launch_patient_record(usager: Env, node_apps: list[NodeApp]) -> None:
    """client.create() of an Observation about the launch patient succeeds with patient/*.c (201)."""
    observation = {"resourceType": "Observation", "status": "preliminary", "code": {"text": "poids"},
                   "subject": {"reference": "Patient/p1"}}
    scope = PATIENT_SCOPE + " patient/*.c"
    run = launch_as(node_apps, usager, scope=scope, actions=[{"name": "create", "op": "create",
                                                              "resource": observation}]).ok()
    assert run.results["create"]["status"] == 201, run.results["create"]
    created = run.results["create"]["body"]
    assert created["resourceType"] == "Observation" and created["subject"]["reference"] == "Patient/p1"


def test_create_in_another_usager_record_is_forbidden(usager: Env, node_apps: list[NodeApp]) -> None:
    """client.create() of an Observation about another usager is refused with 403."""
    observation = {"resourceType": "Observation", "status": "preliminary", "code": {"text": "poids"},
                   "subject": {"reference": "Patient/p2"}}
    scope = PATIENT_SCOPE + " patient/*.c"
    run = launch_as(node_apps, usager, scope=scope, actions=[{"name": "create", "op": "create",
                                                              "resource": observation}]).ok()
    assert run.results["create"]["ok"] is False and run.results["create"]["status"] == 403


def test_refresh_with_client_id_gives_a_new_access_token_that_reads(usager: Env, node_apps: list[NodeApp]) -> None:
    """client.refresh() (public client, refreshTokenWithClientId) gets a new access token with the same scope and
    patient, and the next request with it succeeds."""
    run = launch_as(node_apps, usager, refreshTokenWithClientId=True,
                    actions=[{"name": "refresh", "op": "refresh"}, read("Patient/p1")]).ok()
    refreshed = run.results["refresh"]["body"]
    assert refreshed["newAccessToken"] is True and refreshed["hasRefreshToken"] is True
    assert refreshed["patient"] == "p1" and set(refreshed["scope"].split()) == set(PATIENT_SCOPE.split())
    assert run.results["Patient/p1"]["status"] == 200


def test_refresh_with_the_library_defaults(usager: Env, node_apps: list[NodeApp]) -> None:
    """client.refresh() with client-js defaults (grant_type + refresh_token only, as in the SMART refresh request
    table) works for a public client."""
    run = launch_as(node_apps, usager, actions=[{"name": "refresh", "op": "refresh"}]).ok()
    assert run.results["refresh"]["body"]["newAccessToken"] is True


def test_unticked_scope_at_consent_gives_403_on_that_type(usager: Env, node_apps: list[NodeApp]) -> None:
    """The usager unticks Observation at consent: the library's token lacks it and an Observation search is 403."""
    scope = "openid fhirUser launch/patient patient/Patient.rs patient/Observation.rs"
    run = launch_as(node_apps, usager, scope=scope, untick={"patient/Observation.rs"},
                    actions=[read("Observation"), read("Patient/p1")]).ok()
    assert "patient/Observation.rs" not in run.ready["scope"].split()
    assert run.results["Observation"]["status"] == 403
    assert run.results["Observation"]["body"]["issue"][0]["code"] == "forbidden"
    assert run.results["Patient/p1"]["status"] == 200


def test_unticked_category_narrows_the_library_search(usager: Env, node_apps: list[NodeApp]) -> None:
    """Unticking the vital-signs category at consent leaves only the laboratory observation in the search."""
    scope = "launch/patient patient/Observation.rs"
    vital = f"patient/Observation.rs?category={CATEGORY}|vital-signs"
    run = launch_as(node_apps, usager, scope=scope, untick={vital}, actions=[read("Observation")]).ok()
    assert {e["resource"]["id"] for e in run.results["Observation"]["body"].get("entry", [])} == {"o1"}


def test_denied_consent_makes_ready_fail(usager: Env, node_apps: list[NodeApp]) -> None:
    """Refusing at consent sends error=access_denied back; ready() rejects and the script exits non-zero."""
    app = start(node_apps, usager)
    session = requests.Session()
    consent = browse_to_consent(usager, session, app.authorize_url, "jeanne")
    denied = submit(session, consent, button=("dui_action", "deny")).headers["Location"]
    run = app.finish(denied)
    assert run.returncode == 1
    assert run.events[-1]["event"] == "error" and "access_denied" in run.events[-1]["message"]
    assert not [e for e in run.events if e["event"] == "ready"]


# --- aidant with two usagers: the patient picker --------------------------------------------------------------

@pytest.fixture()
def aidant(records: Env) -> Env:
    """The conftest aidant acting for p1 and p2 (fhirUser Person/luc, two delegations) and a public client."""
    records.add_client(scope=PATIENT_SCOPE)
    aidant_of_two(records)
    return records


def test_aidant_picks_the_second_usager(aidant: Env, node_apps: list[NodeApp]) -> None:
    """An aidant acting for two usagers picks p2 in the server's picker; the library's patient is p2 and p1 is 404."""
    app = start(node_apps, aidant, actions=[{"name": "patient", "op": "patient.read"}, read("Patient/p1")])
    session = requests.Session()
    consent = browse_to_consent(aidant, session, app.authorize_url, "luc")
    radios = [i["value"] for i in parse_page(consent.text).forms[0]["inputs"] if i.get("type") == "radio"]
    assert radios == ["p1", "p2"]
    run = app.finish(approve(session, consent, patient="p2").headers["Location"]).ok()
    assert run.ready["patient"] == "p2" and run.ready["fhirUser"] == "Person/luc"
    assert run.results["patient"]["status"] == 200 and run.results["patient"]["body"]["id"] == "p2"
    assert run.results["Patient/p1"]["status"] == 404


# --- EHR launch ------------------------------------------------------------------------------------------------

def test_ehr_launch_takes_iss_and_launch_from_the_launch_url(usager: Env, node_apps: list[NodeApp]) -> None:
    """Opened at launch?iss=…&launch=…, client-js sends the launch id and adds the launch scope to the request."""
    launch = usager.launch("p1")
    app = start(node_apps, usager, launch=launch, scope="openid fhirUser patient/*.rs")
    query = parse_qs(urlsplit(app.authorize_url).query)
    assert query["launch"] == [launch] and query["aud"] == [usager.fhir]
    assert "launch" in query["scope"][0].split()


def test_ehr_launch_context_fixes_patient_and_encounter(usager: Env, node_apps: list[NodeApp]) -> None:
    """The EHR launch context (patient p1, encounter e1) comes back to the library with no picker shown."""
    launch = usager.launch("p1", "e1")
    app = start(node_apps, usager, launch=launch, scope="openid fhirUser patient/*.rs",
                actions=[{"name": "patient", "op": "patient.read"}, read("Patient/p2")])
    session = requests.Session()
    consent = browse_to_consent(usager, session, app.authorize_url, "jeanne")
    assert not [i for i in parse_page(consent.text).forms[0]["inputs"] if i.get("type") == "radio"]
    run = app.finish(approve(session, consent).headers["Location"]).ok()
    assert run.ready["patient"] == "p1" and run.ready["encounter"] == "e1"
    assert run.results["patient"]["body"]["id"] == "p1"
    assert run.results["Patient/p2"]["status"] == 404


# --- confidential clients --------------------------------------------------------------------------------------

def test_symmetric_client_exchanges_with_http_basic(records: Env, node_apps: list[NodeApp]) -> None:
    """A confidential client with clientSecret (HTTP Basic at the token endpoint) gets a token that reads."""
    records.add_client("web", auth_method="client_secret_basic", secret="s3cret-for-the-node-app", scope=PATIENT_SCOPE)
    records.add_user("jeanne", "Patient/p1")
    run = launch_as(node_apps, records, auth_mode="secret", client_id="web", clientSecret="s3cret-for-the-node-app",
                    actions=[{"name": "patient", "op": "patient.read"}]).ok()
    assert run.ready["patient"] == "p1" and run.results["patient"]["body"]["id"] == "p1"


def test_symmetric_client_refreshes_with_http_basic(records: Env, node_apps: list[NodeApp]) -> None:
    """client.refresh() of a confidential symmetric client (HTTP Basic) rotates the token."""
    records.add_client("web", auth_method="client_secret_basic", secret="s3cret-for-the-node-app", scope=PATIENT_SCOPE)
    records.add_user("jeanne", "Patient/p1")
    run = launch_as(node_apps, records, auth_mode="secret", client_id="web", clientSecret="s3cret-for-the-node-app",
                    actions=[{"name": "refresh", "op": "refresh"}, read("Patient/p1")]).ok()
    assert run.results["refresh"]["body"]["newAccessToken"] is True
    assert run.results["Patient/p1"]["status"] == 200


def test_symmetric_client_with_a_wrong_secret_gets_no_token(records: Env, node_apps: list[NodeApp]) -> None:
    """With a wrong clientSecret the code exchange fails: ready() rejects with invalid_client."""
    records.add_client("web", auth_method="client_secret_basic", secret="s3cret-for-the-node-app", scope=PATIENT_SCOPE)
    records.add_user("jeanne", "Patient/p1")
    run = launch_as(node_apps, records, auth_mode="secret", client_id="web", clientSecret="not-the-secret")
    assert run.returncode == 1 and "invalid_client" in run.events[-1]["message"]


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_asymmetric_client_assertion_is_accepted(records: Env, node_apps: list[NodeApp], alg: str) -> None:
    """client-js signs its private_key_jwt assertion with an RS384 or ES384 key; the server accepts it."""
    private, jwks = key_pair(alg)
    records.add_client("signed", auth_method="private_key_jwt", jwks=jwks, scope=PATIENT_SCOPE)
    records.add_user("jeanne", "Patient/p1")
    run = launch_as(node_apps, records, auth_mode="jwk", client_id="signed", clientPrivateJwk=private,
                    actions=[{"name": "patient", "op": "patient.read"}]).ok()
    assert run.ready["patient"] == "p1" and run.results["patient"]["body"]["id"] == "p1"


def test_asymmetric_client_with_an_unregistered_key_gets_no_token(records: Env, node_apps: list[NodeApp]) -> None:
    """An assertion signed with a key that is not in the client's JWKS is refused: ready() rejects."""
    private, _ = key_pair("RS384")
    _, registered = key_pair("RS384")  # same kid, other key
    records.add_client("signed", auth_method="private_key_jwt", jwks=registered, scope=PATIENT_SCOPE)
    records.add_user("jeanne", "Patient/p1")
    run = launch_as(node_apps, records, auth_mode="jwk", client_id="signed", clientPrivateJwk=private)
    assert run.returncode == 1 and "invalid_client" in run.events[-1]["message"]


def test_asymmetric_client_refresh_without_an_assertion_is_refused(records: Env, node_apps: list[NodeApp]) -> None:
    """client-js sends no client_assertion on refresh; a private_key_jwt client's unauthenticated refresh is refused
    (invalid_client), so the library cannot refresh as an asymmetric client."""
    private, jwks = key_pair("ES384")
    records.add_client("signed", auth_method="private_key_jwt", jwks=jwks, scope=PATIENT_SCOPE)
    records.add_user("jeanne", "Patient/p1")
    run = launch_as(node_apps, records, auth_mode="jwk", client_id="signed", clientPrivateJwk=private,
                    refreshTokenWithClientId=True, actions=[{"name": "refresh", "op": "refresh"}])
    assert run.ready["hasRefreshToken"] is True
    assert run.returncode == 1 and "invalid_client" in run.events[-1]["message"]
