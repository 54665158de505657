"""Pure builders of AuditEvent resources (FHIR R4) — no database, no request objects.

https://hl7.org/fhir/R4/auditevent.html; type and subtype codes: https://hl7.org/fhir/R4/valueset-audit-event-type.html,
https://hl7.org/fhir/R4/valueset-audit-event-sub-type.html (restful-interaction); entity roles
https://hl7.org/fhir/R4/valueset-object-role.html (1 Patient, 3 Report, 24 Query); agent types
http://terminology.hl7.org/CodeSystem/extra-security-role-type (humanuser, dataprocessor) and DICOM 110150
Application. Regulatory background: ../shared/specs/smart-auth-portals.md §9.2 (traçabilité des accès).

Never put health data in an AuditEvent: references, codes, the query string of a search (which a caller chose)
and short fixed texts only.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fhirserver.search.values import instant_text

AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
SECURITY_ROLE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
NETWORK_TYPE_IP = "2"  # https://hl7.org/fhir/R4/valueset-network-type.html: IP address
#: the CodeSystem of the non-FHIR events (login, token, consent …): this server's own codes
EVENT_SUBTYPE = "urn:dui:audit-event"
#: the CodeSystem of the operation names in the second subtype coding of an ``operation`` event
OPERATION = "urn:dui:fhir-operation"
OUTCOMES = {"success": "0", "minor": "4", "serious": "8"}

#: subtype (restful-interaction) -> action (C/R/U/D/E)
ACTIONS = {"read": "R", "vread": "R", "search": "E", "search-type": "E", "search-system": "E",
           "search-compartment": "E", "history": "R", "history-instance": "R", "history-type": "R",
           "history-system": "R", "create": "C", "update": "U", "patch": "U", "delete": "D", "operation": "E",
           "batch": "E", "transaction": "E", "capabilities": "R"}

#: non-FHIR events: kind -> (DICOM type code, display, action)
KINDS: dict[str, tuple[str, str, str]] = {
    "login": ("110114", "User Authentication", "E"),
    "logout": ("110114", "User Authentication", "E"),
    "token": ("110114", "User Authentication", "E"),
    "consent": ("110110", "Patient Record", "C"),
    "invitation": ("110110", "Patient Record", "C"),
    "delegation": ("110110", "Patient Record", "U"),
}


@dataclass(frozen=True)
class Actor:
    """Who acted: the user (fhirUser reference and username) and the client application."""

    who: str | None = None  # "Practitioner/1"
    username: str | None = None
    client_id: str | None = None
    network: str | None = None
    #: one of the server's own components (``dui worker`` …: a system principal), recorded as the application
    #: agent's name (``AuditEvent?agent-name=``) in place of a user
    component: str | None = None


@dataclass(frozen=True)
class Entity:
    """One thing the event is about."""

    reference: str | None = None  # "Observation/3/_history/2"
    role: str = "4"  # object-role: 1 Patient, 3 Report, 4 Domain Resource, 24 Query
    type_code: str = "2"  # audit-entity-type: 1 Person, 2 System Object
    query: str | None = None  # the raw query string of a search (stored base64)
    name: str | None = None


@dataclass(frozen=True)
class Outcome:
    code: str = "0"
    description: str | None = None


@dataclass(frozen=True)
class EventSpec:
    """Everything that varies between AuditEvents."""

    type_code: tuple[str, str, str]  # (system, code, display)
    subtype: tuple[tuple[str, str, str], ...]
    action: str
    actor: Actor
    entities: tuple[Entity, ...] = ()
    outcome: Outcome = field(default_factory=Outcome)
    recorded: datetime | None = None


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _agents(actor: Actor) -> list[dict[str, Any]]:
    agents: list[dict[str, Any]] = []
    if actor.who or actor.username:
        user: dict[str, Any] = {"type": {"coding": [_coding(SECURITY_ROLE, "humanuser", "human user")]},
                                "requestor": True}
        if actor.who:
            user["who"] = {"reference": actor.who}
        if actor.username:
            user["altId"] = actor.username
        if actor.network:
            user["network"] = {"address": actor.network, "type": NETWORK_TYPE_IP}
        agents.append(user)
    if actor.client_id:
        who: dict[str, Any] = {"identifier": {"system": "urn:dui:oauth-client", "value": actor.client_id}}
        if actor.component:
            who["display"] = actor.component
        app: dict[str, Any] = {"type": {"coding": [_coding(DICOM, "110150", "Application")]}, "who": who,
                               "requestor": not agents}
        if actor.component:
            app["name"] = actor.component
        if actor.network and not agents:
            app["network"] = {"address": actor.network, "type": NETWORK_TYPE_IP}
        agents.append(app)
    if not agents:  # an anonymous attempt (e.g. a failed login with an unknown client): R4 needs one agent
        agents.append({"type": {"coding": [_coding(SECURITY_ROLE, "humanuser", "human user")]},
                       "requestor": True, **({"network": {"address": actor.network, "type": NETWORK_TYPE_IP}}
                                             if actor.network else {})})
    return agents


def _entity(e: Entity) -> dict[str, Any]:
    out: dict[str, Any] = {"type": _coding(ENTITY_TYPE, e.type_code),
                           "role": _coding(OBJECT_ROLE, e.role)}
    if e.reference:
        out["what"] = {"reference": e.reference}
    if e.name:
        out["name"] = e.name
    if e.query is not None:
        out["query"] = base64.b64encode(e.query.encode("utf-8")).decode("ascii")
    return out


def build(spec: EventSpec, observer: str) -> dict[str, Any]:
    """An AuditEvent resource (no id: the store assigns it)."""
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": _coding(*spec.type_code),
        "action": spec.action,
        "recorded": instant_text(spec.recorded or now()),
        "outcome": spec.outcome.code,
        "agent": _agents(spec.actor),
        "source": {"observer": {"display": observer},
                   "type": [_coding(SOURCE_TYPE, "4", "Application Server")]},
    }
    if spec.subtype:
        event["subtype"] = [_coding(*code) for code in spec.subtype]
    if spec.outcome.description:
        event["outcomeDesc"] = spec.outcome.description
    if spec.entities:
        event["entity"] = [_entity(e) for e in spec.entities]
    return event


def patient_entity(reference: str) -> Entity:
    """The entity that puts an event in that usager's compartment (``AuditEvent?patient=``)."""
    return Entity(reference=reference, role="1", type_code="1")


def rest_spec(interaction: str, actor: Actor, entities: tuple[Entity, ...], outcome: Outcome,
              operation: str | None = None) -> EventSpec:
    """A FHIR REST interaction: type ``rest``, subtype the restful-interaction code; an operation has a second
    subtype coding, its name (``$everything``)."""
    subtype: tuple[tuple[str, str, str], ...] = ((RESTFUL, interaction, interaction),)
    if interaction == "operation" and operation:
        subtype += ((OPERATION, operation, operation),)
    return EventSpec(type_code=(AUDIT_TYPE, "rest", "RESTful Operation"), subtype=subtype,
                     action=ACTIONS.get(interaction, "E"), actor=actor, entities=entities, outcome=outcome)


def outcome_for(status: int, description: str | None) -> Outcome:
    """0 success; 4 a refusal or a client error (4xx); 8 a server error (5xx)."""
    if status < 400:
        return Outcome("0")
    return Outcome("4" if status < 500 else "8", description)


def kind_spec(kind: str, outcome: str, actor: Actor, entities: tuple[Entity, ...],
              detail: str | None) -> EventSpec:
    """A non-FHIR event (login, logout, token, consent, invitation, delegation)."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit event kind {kind!r}")
    if outcome not in ("success", "failure"):
        raise ValueError(f"unknown audit outcome {outcome!r}")
    code, display, action = KINDS[kind]
    result = Outcome("0", detail) if outcome == "success" else Outcome("4", detail or f"{kind} failed")
    return EventSpec(type_code=(DICOM, code, display), subtype=((EVENT_SUBTYPE, kind, kind),), action=action,
                     actor=actor, entities=entities, outcome=result)
