"""Refusals and errors are audited with outcome 4 and a description; transaction and batch entries each get their
own event; a failed transaction leaves one failure event and no entry event."""

from __future__ import annotations

from typing import Any

from tests.audit.conftest import patients, references, rest_events, usager_token
from tests.auth.conftest import Env, api


def _obs(patient: str, full_url: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "poids"},
                                          "subject": {"reference": f"Patient/{patient}"}},
                             "request": {"method": "POST", "url": "Observation"}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def test_a_read_out_of_reach_is_audited_as_a_refusal(people: Env) -> None:
    """p1 reading p2's Observation gets 404; the event has outcome 4, an outcomeDesc and names p2."""
    token = usager_token(people, "jeanne")
    assert api(people, token, "Observation/o2").status_code == 404
    [event] = rest_events(people, "read")
    assert event["outcome"] == "4" and "404" in event["outcomeDesc"]
    assert event["agent"][0]["who"] == {"reference": "Patient/p1"}
    assert references(event) == ["Observation/o2", "Patient/p2"]


def test_a_forbidden_search_is_audited(people: Env) -> None:
    """A _has search refused to a patient token (403) gives a search-type event with outcome 4."""
    token = usager_token(people, "jeanne")
    assert api(people, token, "Patient?_has:Observation:subject:status=final").status_code == 403
    [event] = rest_events(people, "search-type")
    assert event["outcome"] == "4" and "403" in event["outcomeDesc"]


def test_transaction_entries_are_audited_one_by_one(people: Env, pro: str) -> None:
    """Two creates in a transaction give two create events, each with its Patient; the Bundle itself adds none."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [_obs("p1"), _obs("p2")]}
    assert api(people, pro, "", "POST", bundle).status_code == 200
    creates = rest_events(people, "create")
    assert sorted(patients(e).pop() for e in creates) == ["Patient/p1", "Patient/p2"]
    assert rest_events(people, "transaction") == []


def test_a_failed_transaction_leaves_one_failure_event_only(people: Env, pro: str) -> None:
    """A transaction whose second entry is invalid writes nothing: no create event, one transaction failure."""
    bad = {"resource": {"resourceType": "Observation", "status": "not-a-status", "code": {"text": "x"}},
           "request": {"method": "POST", "url": "Observation"}}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [_obs("p1"), bad]}
    assert api(people, pro, "", "POST", bundle).status_code >= 400
    assert rest_events(people, "create") == []
    [event] = rest_events(people, "transaction")
    assert event["outcome"] == "4"


def test_batch_entries_are_audited_one_by_one(people: Env, pro: str) -> None:
    """A batch with a create and a read gives one create and one read event."""
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        _obs("p2"), {"request": {"method": "GET", "url": "Observation/o1"}}]}
    assert api(people, pro, "", "POST", bundle).status_code == 200
    assert patients(rest_events(people, "create")[0]) == {"Patient/p2"}
    assert references(rest_events(people, "read")[0]) == ["Observation/o1/_history/1", "Patient/p1"]
