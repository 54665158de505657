"""« Qui a consulté mon dossier » : the usager finds, with patient/AuditEvent.rs, the events of the accesses to
their record — and only those; staff search the trail with the normal search parameters."""

from __future__ import annotations

from typing import Any

from tests.audit.conftest import usager_token
from tests.auth.conftest import Env, api


def _audit(env: Env, token: str, query: str = "") -> list[dict[str, Any]]:
    resp = api(env, token, "AuditEvent" + query)
    assert resp.status_code == 200, resp.text
    return [e["resource"] for e in resp.json().get("entry", []) if e["search"]["mode"] == "match"]


def _reads_of(events: list[dict[str, Any]], reference: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("subtype", [{}])[0].get("code") == "read"
            and any(x.get("what", {}).get("reference", "").startswith(reference) for x in e.get("entity", []))]


def test_the_usager_sees_who_read_their_observation(people: Env, pro: str) -> None:
    """After Dr Petit reads o1, jeanne's AuditEvent search returns an event naming Practitioner/dr1 and o1."""
    assert api(people, pro, "Observation/o1").status_code == 200
    [event] = _reads_of(_audit(people, usager_token(people, "jeanne")), "Observation/o1")
    assert event["agent"][0]["who"] == {"reference": "Practitioner/dr1"}


def test_another_usager_does_not_see_it(people: Env, pro: str) -> None:
    """paul (p2) finds no event about o1, even when asking for p1's compartment explicitly."""
    assert api(people, pro, "Observation/o1").status_code == 200
    paul = usager_token(people, "paul")
    assert _reads_of(_audit(people, paul), "Observation/o1") == []
    assert _reads_of(_audit(people, paul, "?patient=Patient/p1"), "Observation/o1") == []


def test_another_usager_cannot_read_the_event_by_id(people: Env, pro: str) -> None:
    """paul reading the event's id directly gets 404."""
    assert api(people, pro, "Observation/o1").status_code == 200
    jeanne = usager_token(people, "jeanne")
    [event] = _reads_of(_audit(people, jeanne), "Observation/o1")
    assert api(people, usager_token(people, "paul"), f"AuditEvent/{event['id']}").status_code == 404


def test_staff_search_by_patient_agent_subtype_and_outcome(people: Env, pro: str) -> None:
    """A professional with user/AuditEvent.rs finds the read by patient, agent, subtype, entity and outcome."""
    assert api(people, pro, "Observation/o2").status_code == 200
    found = _audit(people, pro, "?patient=Patient/p2&agent=Practitioner/dr1&subtype=read&outcome=0"
                                "&entity=Observation/o2")
    assert len(_reads_of(found, "Observation/o2")) == 1
    assert _reads_of(_audit(people, pro, "?patient=Patient/p1&subtype=read"), "Observation/o2") == []


def test_the_usager_sees_the_failed_logins_on_their_account(people: Env) -> None:
    """A login event recorded for a usager (by id or by reference) is in that usager's own audit search."""
    trail = people.ctx.services.audit
    trail.record_event(kind="login", outcome="failure", username="jeanne", patient="p1", detail="local login refused")
    trail.record_event(kind="logout", outcome="success", username="jeanne", patient="Patient/p1")
    events = _audit(people, usager_token(people, "jeanne"))
    kinds = {(e["subtype"][0]["code"], e["outcome"]) for e in events}
    # the failed login and the logout recorded here, and the successful login of usager_token itself
    assert {("login", "4"), ("logout", "0"), ("login", "0")} <= kinds
    assert any(a.get("altId") == "jeanne" for e in events for a in e.get("agent", []))
    assert not [e for e in _audit(people, usager_token(people, "paul"))
                if any(a.get("altId") == "jeanne" for a in e.get("agent", []))]
