"""The pure AuditEvent builders: valid R4 resources (checked with the fhir.resources models), the documented codes,
and no unknown event kinds."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from fhirserver.audit import events
from fhirserver.audit.events import Actor, Entity


def _rest(interaction: str, operation: str | None = None) -> dict[str, Any]:
    spec = events.rest_spec(interaction, Actor(who="Practitioner/1", username="dr", client_id="app",
                                               network="192.0.2.1"),
                            (Entity(reference="Observation/1/_history/2"), Entity(role="24", query="code=x"),
                             events.patient_entity("Patient/p1")), events.outcome_for(200, None), operation)
    return events.build(spec, "dui")


def test_a_rest_event_is_a_valid_audit_event() -> None:
    """The built resource parses as an R4(B) AuditEvent."""
    AuditEvent.model_validate(_rest("read"))


def test_an_event_kind_is_a_valid_audit_event() -> None:
    """A login failure without a known user still has an agent and parses."""
    spec = events.kind_spec("login", "failure", Actor(network="192.0.2.1"), (), "mot de passe incorrect")
    built = events.build(spec, "dui")
    AuditEvent.model_validate(built)
    assert built["outcome"] == "4" and built["subtype"][0]["code"] == "login"


def test_the_search_query_is_base64() -> None:
    """entity.query holds the query string in base64."""
    [query] = [e for e in _rest("search-type")["entity"] if e["role"]["code"] == "24"]
    assert base64.b64decode(query["query"]) == b"code=x"


def test_an_operation_has_its_name_as_second_subtype() -> None:
    """operation events carry restful-interaction ``operation`` then the operation name."""
    assert [c["code"] for c in _rest("operation", "$dlu")["subtype"]] == ["operation", "$dlu"]


@pytest.mark.parametrize(("interaction", "action"), [("create", "C"), ("read", "R"), ("update", "U"),
                                                     ("patch", "U"), ("delete", "D"), ("search-type", "E")])
def test_actions(interaction: str, action: str) -> None:
    """Each interaction maps to its C/R/U/D/E action."""
    assert _rest(interaction)["action"] == action


def test_outcome_codes() -> None:
    """2xx/3xx are 0, 4xx are 4, 5xx are 8."""
    assert [events.outcome_for(s, "x").code for s in (200, 304, 403, 404, 503)] == ["0", "0", "4", "4", "8"]


def test_unknown_kind_and_outcome_are_refused() -> None:
    """A typo in a caller's kind or outcome raises instead of writing a meaningless event."""
    with pytest.raises(ValueError):
        events.kind_spec("logon", "success", Actor(), (), None)
    with pytest.raises(ValueError):
        events.kind_spec("login", "ok", Actor(), (), None)
