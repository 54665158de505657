"""The in-process client ``Fhir(ctx, principal)``: every interaction against a real context on the test database,
the errors raised as the :mod:`fhirserver.errors` categories with their issues, the AuditEvent of the system
principal, and a user principal bounded by the access policy as it is over HTTP."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from fhirserver.app import build_context
from fhirserver.auth.bearer import principal_of
from fhirserver.auth.models import Client
from fhirserver.auth.policy import ScopePolicy
from fhirserver.auth.principal import SYSTEM_CLIENT_ID, Principal, system_principal
from fhirserver.auth.store import AuthStore
from fhirserver.errors import (
    Conflict,
    FhirError,
    Forbidden,
    Gone,
    Invalid,
    Issue,
    MethodNotAllowed,
    MultipleMatches,
    NotAcceptable,
    NotFound,
    NotSupported,
    PreconditionFailed,
    TooCostly,
    Unauthorized,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
    error_from_outcome,
)
from fhirserver.interactions.client import Fhir
from fhirserver.interactions.context import Context, FhirRequest
from fhirserver.interactions.router import handle
from fhirserver.settings import load_settings
from fhirserver.storage.sql.migrate import upgrade
from tests.conftest import wipe

COMPONENT = "dui test client"


@pytest.fixture(scope="module")
def policy_context(database_url: str) -> Iterator[Context]:
    """A context on the test database as the CLI builds it (no Flask app): the scope access policy is on it."""
    ctx = build_context(load_settings(database_url=database_url, auth_required=True))
    upgrade(ctx.repo.engine)
    assert isinstance(ctx.policy, ScopePolicy)
    yield ctx
    ctx.repo.engine.dispose()


@pytest.fixture()
def ctx(policy_context: Context) -> Context:
    wipe(policy_context)
    return policy_context


@pytest.fixture()
def fhir(ctx: Context) -> Fhir:
    return Fhir(ctx, system_principal(COMPONENT))


def _patient(pid: str, family: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}], "birthDate": "1931-04-02"}


def _observation(oid: str, pid: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "code": {"text": "poids"},
            "subject": {"reference": f"Patient/{pid}"}}


def _events(ctx: Context, **params: str) -> list[dict[str, Any]]:
    """Stored AuditEvents (an internal search without principal: not audited itself), newest first."""
    query = [*params.items(), ("_count", "1000"), ("_sort", "-date")]
    resp = handle(FhirRequest("GET", "AuditEvent", params=query), ctx)
    assert resp.status == 200, resp.resource
    return [e["resource"] for e in resp.resource.get("entry", [])]


# --- the interactions -----------------------------------------------------------------------------------------

def test_create_read_update_vread(fhir: Fhir) -> None:
    created = fhir.create({"resourceType": "Patient", "name": [{"family": "Martin"}]})
    pid = created["id"]
    assert created["meta"]["versionId"] == "1"
    assert fhir.read("Patient", pid)["name"] == [{"family": "Martin"}]
    updated = fhir.update({**created, "name": [{"family": "Martin-Durand"}]})
    assert updated["meta"]["versionId"] == "2"
    assert fhir.vread("Patient", pid, "1")["name"] == [{"family": "Martin"}]
    assert fhir.read("Patient", pid)["name"] == [{"family": "Martin-Durand"}]


def test_update_creates_with_the_id_and_honours_if_match(fhir: Fhir) -> None:
    stored = fhir.update(_patient("p1", "Martin"))
    assert (stored["id"], stored["meta"]["versionId"]) == ("p1", "1")
    assert fhir.update(_patient("p1", "Martin-Durand"), if_match="1")["meta"]["versionId"] == "2"
    with pytest.raises(PreconditionFailed) as raised:
        fhir.update(_patient("p1", "Durand"), if_match="1")
    assert raised.value.status == 412
    assert "does not match current version 2" in raised.value.issues[0].diagnostics
    assert fhir.read("Patient", "p1")["name"] == [{"family": "Martin-Durand"}]


def test_conditional_create(fhir: Fhir) -> None:
    body = {**_patient("x", "Martin"), "identifier": [{"system": "urn:test", "value": "42"}]}
    first = fhir.create(body, if_none_exist="identifier=urn:test|42")
    again = fhir.create(body, if_none_exist="identifier=urn:test|42")
    assert again["id"] == first["id"]
    assert len(fhir.search("Patient", [("identifier", "urn:test|42")])) == 1


def test_patch_with_json_patch(fhir: Fhir) -> None:
    fhir.update(_patient("p1", "Martin"))
    patched = fhir.patch("Patient", "p1", [{"op": "replace", "path": "/birthDate", "value": "1932-05-03"},
                                          {"op": "add", "path": "/gender", "value": "female"}])
    assert (patched["birthDate"], patched["gender"], patched["meta"]["versionId"]) == ("1932-05-03", "female", "2")
    assert fhir.read("Patient", "p1")["gender"] == "female"
    with pytest.raises(PreconditionFailed):
        fhir.patch("Patient", "p1", [{"op": "remove", "path": "/gender"}], if_match="1")


def test_delete_then_read_is_gone(fhir: Fhir) -> None:
    fhir.update(_patient("p1", "Martin"))
    fhir.delete("Patient", "p1")
    with pytest.raises(Gone) as raised:
        fhir.read("Patient", "p1")
    assert raised.value.status == 410
    assert raised.value.issues[0].code == "deleted"


def test_search_returns_the_matches_and_search_bundle_the_bundle(fhir: Fhir) -> None:
    fhir.update(_patient("p1", "Martin"))
    fhir.update(_patient("p2", "Durand"))
    fhir.update(_observation("o1", "p1"))
    fhir.update(_observation("o2", "p2"))
    params = [("subject", "Patient/p1"), ("_include", "Observation:subject")]
    found = fhir.search("Observation", params)
    assert [(r["resourceType"], r["id"]) for r in found] == [("Observation", "o1")]
    bundle = fhir.search_bundle("Observation", params)
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset")
    assert fhir.search_bundle("Observation", [("subject", "Patient/p1"), ("_total", "accurate")])["total"] == 1
    modes = sorted((e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"])
    assert modes == [("Observation", "match"), ("Patient", "include")]
    assert {r["id"] for r in fhir.search("Patient")} == {"p1", "p2"}
    system = fhir.search(None, [("_type", "Patient,Observation"), ("_id", "p2,o2")])
    assert {(r["resourceType"], r["id"]) for r in system} == {("Patient", "p2"), ("Observation", "o2")}


def test_transaction(fhir: Fhir) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0b4d6e4e-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Patient", "name": [{"family": "Martin"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "poids"},
                      "subject": {"reference": "urn:uuid:0b4d6e4e-0000-4000-8000-000000000001"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    answer = fhir.transaction(bundle, prefer="representation")
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"][:3] for e in answer["entry"]] == ["201", "201"]
    pid = answer["entry"][0]["resource"]["id"]
    assert answer["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{pid}"
    minimal = fhir.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _patient("p9", "Durand"), "request": {"method": "PUT", "url": "Patient/p9"}}]},
        prefer="minimal")
    assert "resource" not in minimal["entry"][0] and minimal["entry"][0]["response"]["status"].startswith("201")
    assert fhir.read("Patient", "p9")["name"] == [{"family": "Durand"}]


def test_a_failed_transaction_raises_and_stores_nothing(fhir: Fhir) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _patient("p1", "Martin"), "request": {"method": "PUT", "url": "Patient/p1"}},
        {"resource": {"resourceType": "Observation", "status": "final"},  # no code: invalid
         "request": {"method": "POST", "url": "Observation"}}]}
    with pytest.raises(FhirError) as raised:
        fhir.transaction(bundle)
    assert 400 <= raised.value.status < 500 and raised.value.issues
    with pytest.raises(NotFound):
        fhir.read("Patient", "p1")


def test_operations(fhir: Fhir) -> None:
    fhir.update(_patient("p1", "Martin"))
    fhir.update(_observation("o1", "p1"))
    everything = fhir.operation("Patient/p1/$everything", method="GET")
    assert isinstance(everything, dict) and everything["resourceType"] == "Bundle"
    found = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in everything["entry"]}
    # the AuditEvents of these very calls are in the usager's compartment too
    assert {pair for pair in found if pair[0] != "AuditEvent"} == {("Patient", "p1"), ("Observation", "o1")}
    tag = {"system": "urn:test", "code": "t1"}
    added = fhir.operation("Patient/p1/$meta-add", {"resourceType": "Parameters", "parameter": [
        {"name": "meta", "valueMeta": {"tag": [tag]}}]})
    assert isinstance(added, dict) and added["parameter"][0]["valueMeta"]["tag"] == [tag]
    assert fhir.read("Patient", "p1")["meta"]["tag"] == [tag]
    with pytest.raises(MethodNotAllowed) as raised:  # a writing operation refused over GET, as over HTTP
        fhir.operation("Patient/p1/$meta-add", method="GET")
    assert raised.value.status == 405
    with pytest.raises(NotFound):
        fhir.operation("Patient/p1/$no-such-operation")
    with pytest.raises(ValueError):
        fhir.operation("Patient/p1")


# --- errors ---------------------------------------------------------------------------------------------------

def test_errors_are_the_categories_with_the_outcome_issues(fhir: Fhir) -> None:
    with pytest.raises(NotFound) as missing:
        fhir.read("Patient", "nobody")
    assert (missing.value.status, missing.value.issues[0].code) == (404, "not-found")
    assert "nobody" in missing.value.message
    with pytest.raises(Unprocessable) as unprocessable:
        fhir.create({"resourceType": "Patient", "birthDate": "le 2 avril"})
    assert unprocessable.value.status == 422
    assert any("birthDate" in e for i in unprocessable.value.issues for e in i.expression)
    with pytest.raises(Invalid) as invalid:
        fhir.search("Patient", [("birthdate", "le 2 avril")])
    assert invalid.value.status == 400 and invalid.value.issues[0].diagnostics
    with pytest.raises(MethodNotAllowed):  # AuditEvents are append-only
        fhir.delete("AuditEvent", "any")
    body = {**_patient("x", "Martin"), "identifier": [{"system": "urn:test", "value": "7"}]}
    fhir.update({**body, "id": "a"})
    fhir.update({**body, "id": "b"})
    with pytest.raises(MultipleMatches) as several:
        fhir.create(body, if_none_exist="identifier=urn:test|7")
    assert several.value.status == 412 and several.value.issues[0].code == "multiple-matches"


CATEGORIES: list[type[FhirError]] = [Invalid, NotSupported, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
                                     NotAcceptable, Conflict, Gone, PreconditionFailed, UnsupportedMediaType,
                                     Unprocessable, TooCostly, MultipleMatches, Unavailable]


@pytest.mark.parametrize("category", CATEGORIES, ids=lambda c: c.__name__)
def test_error_from_outcome_reverses_every_category(category: Any) -> None:
    issues = [Issue("the first thing", code=category.CODE, expression=("Patient.birthDate",)),
              Issue("a warning", code="informational", severity="warning")]
    error = category("the first thing", issues)
    back = error_from_outcome(error.status, error.outcome())
    assert type(back) is category
    assert (back.status, back.message, back.issues) == (error.status, "the first thing", issues)


def test_error_from_outcome_without_an_outcome_or_outside_the_table() -> None:
    bare = error_from_outcome(404, None)
    assert type(bare) is NotFound and bare.message == "HTTP 404" and bare.issues[0].code == "not-found"
    server = error_from_outcome(500, {"resourceType": "OperationOutcome", "issue": [
        {"severity": "fatal", "code": "exception", "diagnostics": "boom"}]})
    assert type(server) is FhirError and (server.status, server.code, server.message) == (500, "exception", "boom")
    assert server.issues == [Issue("boom", code="exception", severity="fatal")]
    unavailable = error_from_outcome(503, {"resourceType": "OperationOutcome", "issue": []}, {"Retry-After": "5"})
    assert type(unavailable) is Unavailable and unavailable.headers == {"Retry-After": "5"}


# --- the system principal -------------------------------------------------------------------------------------

def test_system_principal() -> None:
    principal = system_principal("dui worker")
    assert (principal.client_id, principal.subject, principal.component) == (SYSTEM_CLIENT_ID, "dui worker",
                                                                             "dui worker")
    assert (principal.token_id, principal.grant_id, principal.fhir_user) == ("", "", None)
    assert [(s.context, s.resource_type, "".join(sorted(s.letters))) for s in principal.scopes] == [
        ("system", "*", "cdrsu")]
    assert principal.allowed_patients(principal.scopes[0]) is None  # unbounded
    with pytest.raises(ValueError):
        system_principal(" ")
    with pytest.raises(TypeError):
        Fhir(None, None)  # type: ignore[arg-type]


def test_system_principal_writes_are_audited_with_the_component_as_agent(ctx: Context, fhir: Fhir) -> None:
    fhir.update(_patient("p1", "Martin"))
    fhir.read("Patient", "p1")
    with pytest.raises(NotFound):
        fhir.read("Patient", "nobody")
    events = _events(ctx, type="rest")
    subtypes = [e["subtype"][0]["code"] for e in events]
    assert subtypes == ["read", "read", "update"]
    for event in events:
        assert event["agent"] == [{
            "type": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110150",
                                 "display": "Application"}]},
            "who": {"identifier": {"system": "urn:dui:oauth-client", "value": SYSTEM_CLIENT_ID},
                    "display": COMPONENT},
            "requestor": True, "name": COMPONENT}]
    update = events[2]
    assert update["outcome"] == "0"
    assert {e["what"]["reference"] for e in update["entity"]} == {"Patient/p1/_history/1"}
    refused = events[0]
    assert refused["outcome"] != "0" and refused["entity"][0]["what"]["reference"] == "Patient/nobody"
    assert len(_events(ctx, **{"agent-name": COMPONENT})) == 3


def test_a_transaction_audits_each_entry_as_the_component(ctx: Context, fhir: Fhir) -> None:
    fhir.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _patient("p1", "Martin"), "request": {"method": "PUT", "url": "Patient/p1"}},
        {"resource": _observation("o1", "p1"), "request": {"method": "PUT", "url": "Observation/o1"}}]})
    events = _events(ctx, type="rest")
    assert sorted(e["subtype"][0]["code"] for e in events) == ["update", "update"]  # the entries, one by one
    assert all(e["agent"][0]["name"] == COMPONENT and len(e["agent"]) == 1 for e in events)


# --- a user principal is bounded by the policy ----------------------------------------------------------------

def _usager_principal(ctx: Context, pid: str, scope: str) -> Principal:
    """The principal of a usager's access token, built from the stored token as the bearer check builds it."""
    store = AuthStore(ctx.repo.engine)
    store.add_client(Client(client_id="app", auth_method="none", redirect_uris=["http://127.0.0.1:9/cb"],
                            grant_types=["authorization_code"], scope=scope))
    user_id = store.add_user(f"user-{pid}", "correct horse battery staple", f"Patient/{pid}")
    grant = store.new_grant("app", user_id, scope, None, None, None)
    jti = secrets.token_urlsafe(16)
    store.save_token(jti, grant, "app", user_id, scope, 300, None, None)
    return principal_of(store, jti)


def test_a_usager_through_the_client_is_bounded_like_over_http(ctx: Context, fhir: Fhir) -> None:
    for pid, family in (("p1", "Martin"), ("p2", "Durand")):
        fhir.update(_patient(pid, family))
        fhir.update(_observation(f"o-{pid}", pid))
    principal = _usager_principal(ctx, "p1", "openid fhirUser user/*.cruds")
    jeanne = Fhir(ctx, principal)
    assert jeanne.read("Patient", "p1")["id"] == "p1"
    with pytest.raises(NotFound):  # another usager: as if it did not exist
        jeanne.read("Patient", "p2")
    with pytest.raises(NotFound):
        jeanne.read("Observation", "o-p2")
    assert {r["id"] for r in jeanne.search("Observation")} == {"o-p1"}
    assert {r["id"] for r in jeanne.search("Patient")} == {"p1"}
    with pytest.raises(Forbidden):  # writing in another usager's record
        jeanne.create({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                       "subject": {"reference": "Patient/p2"}})
    with pytest.raises(Forbidden):  # a usager never creates a usager
        jeanne.create({"resourceType": "Patient", "name": [{"family": "Nouveau"}]})
    assert len(fhir.search("Patient")) == 2 and len(fhir.search("Observation")) == 2
    # the same request run the way the HTTP API runs it after the bearer check gives the same answer
    over_http = handle(FhirRequest("GET", "Patient/p2", principal=_usager_principal_again(ctx, principal)), ctx)
    assert over_http.status == 404
    refused = [e for e in _events(ctx, type="rest")
               if any(a.get("who", {}).get("reference") == "Patient/p1" for a in e["agent"])]
    assert refused and all(e["agent"][0]["altId"] == "user-p1" for e in refused)


def _usager_principal_again(ctx: Context, principal: Principal) -> Principal:
    """A fresh principal of the same token (a new one per request, as the bearer check builds it)."""
    return principal_of(AuthStore(ctx.repo.engine), principal.token_id)
