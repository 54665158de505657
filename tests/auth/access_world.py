"""The world of the access-table tests: structures A (with sub-structure A1) and B, their usagers, staff with and
without habilitations, aidants with delegations, and one token per principal kind, on a live server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from werkzeug.serving import make_server

from fhirserver.app import create_app
from fhirserver.auth.administration import ADMINISTRATEUR, ADMISSION
from fhirserver.auth.keys import SigningKey
from fhirserver.auth.operator import mint_token
from fhirserver.auth.store import AuthStore
from fhirserver.auth.urls import urls_for
from tests.auth.conftest import ALL_SCOPES, Env, delegation_consent, habilitation, now_iso, user_token
from tests.conftest import wipe

USER_SCOPE = "openid fhirUser user/*.cruds"


def _obs(oid: str | None, patient: str) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "Observation", "status": "final", "code": {"text": "poids"},
                            "subject": {"reference": f"Patient/{patient}"}}
    return {**body, "id": oid} if oid else body


def _role(rid: str | None, practitioner: str, org: str, *codes: str) -> dict[str, Any]:
    body = {"resourceType": "PractitionerRole", "active": True, "period": {"start": now_iso(-30)},
            "practitioner": {"reference": f"Practitioner/{practitioner}"},
            "organization": {"reference": f"Organization/{org}"}, **habilitation(*codes)}
    return {**body, "id": rid} if rid else body


def _team(tid: str | None, patient: str, org: str, member: str) -> dict[str, Any]:
    body = {"resourceType": "CareTeam", "status": "active", "subject": {"reference": f"Patient/{patient}"},
            "managingOrganization": [{"reference": f"Organization/{org}"}],
            "participant": [{"member": {"reference": f"Practitioner/{member}"}}]}
    return {**body, "id": tid} if tid else body


def _patient(pid: str | None, org: str, family: str) -> dict[str, Any]:
    body = {"resourceType": "Patient", "name": [{"family": family, "given": ["Test"]}], "birthDate": "1935-03-04",
            "managingOrganization": {"reference": f"Organization/{org}"}}
    return {**body, "id": pid} if pid else body


def _without_id(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "id"}


def _org(oid: str | None, name: str, part_of: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "Organization", "name": name}
    if part_of:
        body["partOf"] = {"reference": f"Organization/{part_of}"}
    return {**body, "id": oid} if oid else body


def _location(lid: str | None, org: str) -> dict[str, Any]:
    body = {"resourceType": "Location", "name": f"Salle {org}", "managingOrganization": {"reference": f"Organization/{org}"}}
    return {**body, "id": lid} if lid else body


@dataclass(frozen=True)
class Family:
    """One resource family of the table: the existing record it targets and the record a create tries."""

    rtype: str
    rid: str | None  # None: create only
    new: Callable[[], dict[str, Any]]
    revoke: bool = False  # update / patch revoke a delegation instead of a harmless change


FAMILIES = {
    "own record": Family("Observation", "obs1", lambda: _obs(None, "u1")),
    "other record": Family("Observation", "obs2", lambda: _obs(None, "u2")),
    "own Patient": Family("Patient", "u1", lambda: _patient(None, "orgA1", "Nouveau")),
    "other Patient": Family("Patient", "u2", lambda: _patient(None, "orgB", "Nouveau")),
    "new Patient in A": Family("Patient", None, lambda: _patient(None, "orgA", "Admis")),
    "new Patient in B": Family("Patient", None, lambda: _patient(None, "orgB", "Admis")),
    "Organization A": Family("Organization", "orgA", lambda: _org(None, "Nouvelle unité", "orgA")),
    "Organization B": Family("Organization", "orgB", lambda: _org(None, "Nouvelle antenne", "orgB")),
    "PractitionerRole in A": Family("PractitionerRole", "role-soignant", lambda: _role(None, "pro-b", "orgA")),
    "PractitionerRole in B": Family("PractitionerRole", "role-b", lambda: _role(None, "soignant", "orgB")),
    "administrateur role": Family("PractitionerRole", "role-admin",
                                  lambda: _role(None, "soignant", "orgA", ADMINISTRATEUR)),
    "Practitioner of A": Family("Practitioner", "soignant",
                                lambda: {"resourceType": "Practitioner", "name": [{"family": "Nouvelle"}]}),
    "Practitioner of B": Family("Practitioner", "pro-b", lambda: {}),
    "CareTeam of u1": Family("CareTeam", "ct1", lambda: _team(None, "u1", "orgA", "pro-b")),
    "CareTeam of u2": Family("CareTeam", "ct2", lambda: _team(None, "u2", "orgB", "soignant")),
    "Location of A": Family("Location", "loc-a", lambda: _location(None, "orgA")),
    "Location of B": Family("Location", "loc-b", lambda: _location(None, "orgB")),
    "delegation of u1": Family("Consent", "del-a", lambda: _without_id(delegation_consent("x", "u1", "rpA")),
                               revoke=True),
}

ACCOUNTS = {"usager": ("usager", "Patient/u1"), "aidant (access)": ("aidant-a", "RelatedPerson/rpA"),
            "aidant (collect)": ("aidant-c", "RelatedPerson/rpC"), "soignant": ("soignant", "Practitioner/soignant"),
            "admission": ("accueil", "Practitioner/accueil"), "administrateur": ("admin", "Practitioner/admin")}


def seed(env: Env) -> None:
    """Structure A (orgA, sub-structure orgA1) and B (orgB); u1 in A1, u2 in B; staff of A (soignant, accueil with
    ``admission``, admin with ``administrateur``) and of B (pro-b); aidants rpA (access) and rpC (collect) of u1."""
    env.put(_org("orgA", "EHPAD A"))
    env.put(_org("orgA1", "Unité A1", "orgA"))
    env.put(_org("orgB", "SSIAD B"))
    env.put(_patient("u1", "orgA1", "Martin"))
    env.put(_patient("u2", "orgB", "Durand"))
    env.put(_obs("obs1", "u1"))
    env.put(_obs("obs2", "u2"))
    for prac, role, org, codes in (("soignant", "role-soignant", "orgA", ()), ("accueil", "role-accueil", "orgA",
                                                                             (ADMISSION,)),
                                   ("admin", "role-admin", "orgA", (ADMINISTRATEUR,)), ("pro-b", "role-b", "orgB", ())):
        env.put({"resourceType": "Practitioner", "id": prac, "name": [{"family": prac}]})
        env.put(_role(role, prac, org, *codes))
    for rp in ("rpA", "rpC"):
        env.put({"resourceType": "RelatedPerson", "id": rp, "patient": {"reference": "Patient/u1"},
                 "name": [{"family": "Martin", "given": [rp]}]})
    env.put(delegation_consent("del-a", "u1", "rpA"))
    env.put(delegation_consent("del-c", "u1", "rpC", actions=("access", "collect")))
    env.put(_team("ct1", "u1", "orgA", "soignant"))
    env.put(_team("ct2", "u2", "orgB", "pro-b"))
    env.put(_location("loc-a", "orgA"))
    env.put(_location("loc-b", "orgB"))


@dataclass
class World:
    env: Env
    tokens: dict[str, str]

    @property
    def operator(self) -> str:
        return self.tokens["operator"]


@contextmanager
def live_world(auth_context: Any) -> Iterator[World]:
    """Wipe the test database, seed the world, serve it on 127.0.0.1 and sign every principal kind in."""
    wipe(auth_context)
    app = create_app(auth_context.settings, context=auth_context)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = Env(f"http://127.0.0.1:{server.server_port}", auth_context, AuthStore(auth_context.repo.engine), app)
        seed(env)
        env.add_client(scope=ALL_SCOPES)
        tokens: dict[str, str] = {}
        for kind, (username, fhir_user) in ACCOUNTS.items():
            env.add_user(username, fhir_user)
            tokens[kind] = user_token(env, username, USER_SCOPE)
        key = SigningKey(auth_context.repo.engine, auth_context.settings.auth.signing_key_file).get()
        urls = urls_for(auth_context.settings, env.fhir)
        for kind, client_id, scope in (("operator", "ops", "system/*.cruds"),
                                       ("system (read-only)", "reader", "system/*.rs")):
            env.add_client(client_id, scope=scope, auth_method="private_key_jwt", grant_types=["client_credentials"],
                           redirect_uris=[], jwks={"keys": []})
            tokens[kind] = mint_token(env.store, key, urls, client_id, scope, 60)
        yield World(env, tokens)
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def send(world: World, token: str, path: str, method: str, body: Any, *, patch: bool = False) -> requests.Response:
    """A FHIR request with ``token`` (JSON Patch when ``patch``)."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json",
               "Content-Type": "application/json-patch+json" if patch else "application/fhir+json"}
    return requests.request(method, f"{world.env.fhir}/{path}", json=body, headers=headers, timeout=20)
