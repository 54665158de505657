"""One AuditEvent per FHIR interaction of an authenticated caller, with its type, subtype, action, outcome, agents,
entities and the Patients concerned (https://hl7.org/fhir/R4/auditevent.html)."""

from __future__ import annotations

import base64
from typing import Any

import requests

from tests.audit.conftest import patients, references, rest_events
from tests.auth.conftest import Env, api


def _only(env: Env, subtype: str) -> dict[str, Any]:
    found = rest_events(env, subtype)
    assert len(found) == 1, [e["subtype"] for e in rest_events(env)]
    return found[0]


def test_read_event_names_the_user_the_app_the_resource_and_the_patient(people: Env, pro: str) -> None:
    """A read gives one rest/read event: action R, outcome 0, the practitioner and the app as agents, the
    Observation with its version, and Patient/p1 as role 1 entity."""
    assert api(people, pro, "Observation/o1").status_code == 200
    event = _only(people, "read")
    assert event["type"]["code"] == "rest" and event["action"] == "R" and event["outcome"] == "0"
    user, app = event["agent"]
    assert user["who"] == {"reference": "Practitioner/dr1"} and user["altId"] == "drpetit" and user["requestor"]
    assert user["network"]["address"] == "127.0.0.1"
    assert app["who"]["identifier"]["value"] == "app" and app["type"]["coding"][0]["code"] == "110150"
    assert event["source"]["observer"]["display"]
    assert references(event) == ["Observation/o1/_history/1", "Patient/p1"]
    assert patients(event) == {"Patient/p1"}


def test_the_client_cannot_choose_its_network_address(people: Env, pro: str) -> None:
    """An x-dui-remote-addr header sent by the client is replaced by the socket's address."""
    resp = requests.get(f"{people.fhir}/Observation/o1", timeout=10,
                        headers={"Authorization": f"Bearer {pro}", "x-dui-remote-addr": "203.0.113.9"})
    assert resp.status_code == 200
    assert _only(people, "read")["agent"][0]["network"]["address"] == "127.0.0.1"


def test_vread_event(people: Env, pro: str) -> None:
    """A vread is audited as vread with the version read."""
    assert api(people, pro, "Observation/o2/_history/1").status_code == 200
    event = _only(people, "vread")
    assert references(event) == ["Observation/o2/_history/1", "Patient/p2"]


def test_type_search_event_has_the_query_and_every_patient_returned(people: Env, pro: str) -> None:
    """A type search gives search-type, action E, the base64 query and one entity per Patient in the results."""
    assert api(people, pro, "Observation?status=final").status_code == 200
    event = _only(people, "search-type")
    assert event["action"] == "E"
    [query] = [e for e in event["entity"] if e["role"]["code"] == "24"]
    assert base64.b64decode(query["query"]).decode() == "status=final"
    assert patients(event) == {"Patient/p1", "Patient/p2"}


def test_compartment_search_names_the_patient_even_without_results(people: Env, pro: str) -> None:
    """Patient/p2/Condition (nothing there) still puts the event in p2's compartment."""
    resp = api(people, pro, "Patient/p2/Condition")
    assert resp.status_code == 200 and not resp.json().get("entry")
    assert patients(_only(people, "search")) == {"Patient/p2"}


def test_history_event(people: Env, pro: str) -> None:
    """The history of one resource is audited as history-instance."""
    assert api(people, pro, "Observation/o1/_history").status_code == 200
    assert patients(_only(people, "history-instance")) == {"Patient/p1"}


def test_create_event_in_the_same_transaction(people: Env, pro: str) -> None:
    """A create gives action C with the new resource's reference and its Patient."""
    body = {"resourceType": "Observation", "status": "final", "code": {"text": "poids"},
            "subject": {"reference": "Patient/p2"}}
    resp = api(people, pro, "Observation", "POST", body)
    assert resp.status_code == 201
    event = _only(people, "create")
    assert event["action"] == "C"
    assert references(event) == [f"Observation/{resp.json()['id']}/_history/1", "Patient/p2"]


def test_update_and_patch_events(people: Env, pro: str) -> None:
    """An update and a JSON Patch both give action U with the new version."""
    body = {"resourceType": "Observation", "id": "o1", "status": "amended", "code": {"text": "test"},
            "subject": {"reference": "Patient/p1"}}
    assert api(people, pro, "Observation/o1", "PUT", body).status_code == 200
    patched = requests.patch(f"{people.fhir}/Observation/o1", timeout=10, json=[
        {"op": "replace", "path": "/status", "value": "final"}], headers={
        "Authorization": f"Bearer {pro}", "Content-Type": "application/json-patch+json"})
    assert patched.status_code == 200
    update, patch = _only(people, "update"), _only(people, "patch")
    assert update["action"] == patch["action"] == "U"
    assert references(update)[0] == "Observation/o1/_history/2"
    assert references(patch)[0] == "Observation/o1/_history/3"


def test_update_moving_a_resource_names_both_patients(people: Env, pro: str) -> None:
    """An update that changes the subject from p1 to p2 is visible to both usagers."""
    body = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "test"},
            "subject": {"reference": "Patient/p2"}}
    assert api(people, pro, "Observation/o1", "PUT", body).status_code == 200
    assert patients(_only(people, "update")) == {"Patient/p1", "Patient/p2"}


def test_delete_event_keeps_the_patient_of_the_deleted_resource(people: Env, pro: str) -> None:
    """A delete gives action D, the version of the deletion, and the Patient the resource belonged to."""
    assert api(people, pro, "Observation/o1", "DELETE").status_code in (200, 204)
    event = _only(people, "delete")
    assert event["action"] == "D"
    assert references(event) == ["Observation/o1/_history/2", "Patient/p1"]


def test_operation_event_has_the_operation_name(people: Env, pro: str) -> None:
    """$everything is audited as operation + $everything, with the Patient."""
    assert api(people, pro, "Patient/p1/$everything").status_code == 200
    event = _only(people, "operation")
    assert event["subtype"][1]["code"] == "$everything"
    assert patients(event) == {"Patient/p1"}
