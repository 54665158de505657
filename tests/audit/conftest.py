"""Fixtures of the audit tests: the live server and real tokens of tests/auth, a professional and two usagers with
tokens, and a reader of the stored AuditEvents (an internal search: no principal, so it is not audited itself)."""

from __future__ import annotations

from typing import Any

import pytest

from fhirserver.interactions.context import FhirRequest
from fhirserver.interactions.router import handle
from tests.auth.conftest import *  # noqa: F403  (the live server, records and token fixtures)
from tests.auth.conftest import Env, patient_token

SCOPE = ("openid fhirUser launch/patient offline_access user/*.cruds user/AuditEvent.rs patient/*.rs "
         "patient/AuditEvent.rs patient/*.cruds")


@pytest.fixture()
def people(records: Env) -> Env:
    """The client ``app``, the professional ``drpetit`` (Practitioner/dr1, structure org1) and the usagers of org1
    jeanne (p1) and paul (p2)."""
    records.put({"resourceType": "Organization", "id": "org1", "name": "EHPAD Les Tilleuls"})
    records.put({"resourceType": "PractitionerRole", "id": "pr1", "active": True,
                 "practitioner": {"reference": "Practitioner/dr1"}, "organization": {"reference": "Organization/org1"}})
    for pid, family in (("p1", "Martin"), ("p2", "Durand")):  # both usagers of the professional's structure
        records.put({"resourceType": "Patient", "id": pid, "name": [{"family": family}],
                     "managingOrganization": {"reference": "Organization/org1"}})
    records.add_client(scope=SCOPE)
    records.add_user("drpetit", "Practitioner/dr1")
    records.add_user("jeanne", "Patient/p1")
    records.add_user("paul", "Patient/p2")
    return records


@pytest.fixture()
def pro(people: Env) -> str:
    """An access token of Dr Petit with user/*.cruds and user/AuditEvent.rs."""
    return str(patient_token(people, "drpetit", scope="openid fhirUser user/*.cruds user/AuditEvent.rs")
               ["access_token"])


def usager_token(env: Env, username: str) -> str:
    return str(patient_token(env, username, scope="openid fhirUser launch/patient patient/*.rs "
                             "patient/AuditEvent.rs")["access_token"])


def stored_events(env: Env, **params: str) -> list[dict[str, Any]]:
    """The AuditEvents matching ``params`` (``_count`` 1000), newest first."""
    query = [*params.items(), ("_count", "1000"), ("_sort", "-date")]
    resp = handle(FhirRequest("GET", "AuditEvent", params=query, base_url=env.fhir), env.ctx)
    assert resp.status == 200, resp.resource
    return [e["resource"] for e in resp.resource.get("entry", [])]


def rest_events(env: Env, subtype: str | None = None) -> list[dict[str, Any]]:
    """The AuditEvents of REST interactions (type rest), optionally of one restful-interaction code."""
    events = stored_events(env, type="rest")
    if subtype is None:
        return events
    return [e for e in events if e["subtype"][0]["code"] == subtype]


def references(event: dict[str, Any], role: str | None = None) -> list[str]:
    return [e["what"]["reference"] for e in event.get("entity", []) if "what" in e
            and (role is None or e["role"]["code"] == role)]


def patients(event: dict[str, Any]) -> set[str]:
    return set(references(event, "1"))
