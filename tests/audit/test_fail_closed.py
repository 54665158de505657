"""Fail closed: when the AuditEvent cannot be written the request answers 503 without data (and a write is rolled
back); requests without a principal are not audited; AuditEvents are append-only."""

from __future__ import annotations

import pytest

from fhirserver.audit.trail import AuditTrail
from fhirserver.interactions.context import FhirRequest
from fhirserver.interactions.router import handle
from tests.audit.conftest import patients, rest_events, stored_events
from tests.auth.conftest import Env, api


@pytest.fixture()
def broken_store(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: AuditTrail, session: object, resource: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(AuditTrail, "write", fail)


def test_a_read_that_cannot_be_audited_returns_503_without_data(people: Env, pro: str, broken_store: None) -> None:
    """The Observation is not sent: the answer is a 503 OperationOutcome."""
    resp = api(people, pro, "Observation/o1")
    assert resp.status_code == 503
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome" and "Observation" not in resp.text


def test_a_search_that_cannot_be_audited_returns_503(people: Env, pro: str, broken_store: None) -> None:
    """A search is refused the same way: no Bundle leaves the server."""
    resp = api(people, pro, "Observation")
    assert resp.status_code == 503 and resp.json()["resourceType"] == "OperationOutcome"


def test_a_write_that_cannot_be_audited_is_rolled_back(people: Env, pro: str, broken_store: None) -> None:
    """A create whose AuditEvent fails answers 503 and the Observation does not exist."""
    body = {"resourceType": "Observation", "id": "new1", "status": "final", "code": {"text": "poids"},
            "subject": {"reference": "Patient/p1"}}
    assert api(people, pro, "Observation/new1", "PUT", body).status_code == 503
    resp = handle(FhirRequest("GET", "Observation/new1", base_url=people.fhir), people.ctx)
    assert resp.status == 404


def test_requests_without_a_principal_are_not_audited(people: Env) -> None:
    """Internal calls (CLI, hooks, an open server) write no AuditEvent."""
    assert handle(FhirRequest("GET", "Observation/o1", base_url=people.fhir), people.ctx).status == 200
    assert rest_events(people) == []


def test_auditing_can_be_disabled(people: Env, pro: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With [audit] enabled = false nothing is recorded."""
    monkeypatch.setattr(people.ctx.services.audit, "enabled", False)
    assert api(people, pro, "Observation/o1").status_code == 200
    assert rest_events(people) == []


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_audit_events_cannot_be_changed_through_the_api(people: Env, pro: str, method: str) -> None:
    """Update, delete and patch of an AuditEvent answer 405, and the event is unchanged."""
    api(people, pro, "Observation/o1")
    [event] = rest_events(people, "read")
    body = [{"op": "replace", "path": "/outcome", "value": "8"}] if method == "PATCH" else \
        {**event, "outcome": "8"} if method == "PUT" else None
    resp = api(people, pro, f"AuditEvent/{event['id']}", method, body)
    assert resp.status_code == 405
    [again] = [e for e in stored_events(people) if e["id"] == event["id"]]
    assert again["outcome"] == "0" and again["meta"]["versionId"] == "1"


def test_audit_events_cannot_be_deleted_even_internally(people: Env, pro: str) -> None:
    """The append-only rule holds without a principal too (only ``dui audit purge`` deletes)."""
    api(people, pro, "Observation/o1")
    [event] = rest_events(people, "read")
    resp = handle(FhirRequest("DELETE", f"AuditEvent/{event['id']}", base_url=people.fhir), people.ctx)
    assert resp.status == 405


def test_an_app_may_record_its_own_audit_event(people: Env, pro: str) -> None:
    """A client with write scopes may create an AuditEvent about a usager it reaches (IHE BALP style); its creation
    is itself audited."""
    own = {"resourceType": "AuditEvent", "type": {"system": "http://dicom.nema.org/resources/ontology/DCM",
                                                  "code": "110112", "display": "Query"},
           "recorded": "2026-01-01T10:00:00Z", "agent": [{"requestor": True, "who": {"display": "appli"}}],
           "source": {"observer": {"display": "appli mobile"}},
           "entity": [{"what": {"reference": "Patient/p1"}, "role": {"code": "1"}}]}
    resp = api(people, pro, "AuditEvent", "POST", own)
    assert resp.status_code == 201
    [create] = rest_events(people, "create")
    assert create["entity"][0]["what"]["reference"].startswith(f"AuditEvent/{resp.json()['id']}")
    assert patients(create) == {"Patient/p1"}


def test_put_of_a_new_audit_event_is_a_create(people: Env) -> None:
    """PUT AuditEvent/id of an id not yet used creates it (update as create); a second PUT is refused."""
    event = {"resourceType": "AuditEvent", "id": "ext1", "type": {"code": "110114"},
             "recorded": "2026-01-01T10:00:00Z", "agent": [{"requestor": True}], "source": {"observer": {}}}
    first = handle(FhirRequest("PUT", "AuditEvent/ext1", body=event, base_url=people.fhir), people.ctx)
    assert first.status == 201
    again = handle(FhirRequest("PUT", "AuditEvent/ext1", body={**event, "outcome": "8"}, base_url=people.fhir),
                   people.ctx)
    assert again.status == 405
