"""The AuditEvent of one FHIR REST interaction (called by :mod:`fhirserver.interactions.router`).

https://hl7.org/fhir/R4/auditevent.html (type ``rest``, subtype https://hl7.org/fhir/R4/codesystem-restful-interaction.html),
IHE BALP (Basic Audit Log Patterns) for the shape: the user and the client app as agents, the resource touched, one
``role 1`` entity per Patient concerned (what puts the event in that usager's compartment, ``AuditEvent?patient=``),
the base64 query of a search.

Only requests with a principal are audited: a validated access token, or the system principal of one of the
server's components (:func:`fhirserver.auth.principal.system_principal`: the CLI, the worker, the MSSanté ingest,
recorded as the application agent named after the component). Internal calls without a principal and an open
server (``[auth] required = false``) have nobody to attribute the access to. AuditEvents are append-only through
the API (:func:`append_only`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from fhirserver.audit import events
from fhirserver.audit.events import Actor, Entity, EventSpec
from fhirserver.audit.patients import patients_of, returned_pairs
from fhirserver.audit.trail import AuditTrail
from fhirserver.errors import FhirError, MethodNotAllowed
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.storage.sql.repository import SqlSession

REMOTE_ADDR = "x-dui-remote-addr"  # set by fhirserver.api.fhir from the socket, never from the client
SEARCHES = frozenset({"search-type", "search-system", "search"})
_META_WRITES = frozenset({"$meta-add", "$meta-delete"})


def append_only(req: FhirRequest) -> None:
    """Patch, delete, meta changes and conditional updates of AuditEvents are refused for everyone: 405 (an update
    of an existing one too: :func:`no_overwrite`, which needs the session)."""
    segs = req.segments
    if not segs or segs[0] != "AuditEvent":
        return
    if req.method in ("PATCH", "DELETE") or (req.method == "PUT" and len(segs) != 2) or segs[-1] in _META_WRITES:
        raise MethodNotAllowed("AuditEvents are append-only: they cannot be updated, patched or deleted")


def no_overwrite(session: SqlSession, req: FhirRequest) -> None:
    """``PUT AuditEvent/id`` creates a new event (update as create) but never replaces an existing one: 405."""
    segs = req.segments
    if req.method == "PUT" and len(segs) == 2 and segs[0] == "AuditEvent" and session.read(*segs) is not None:
        raise MethodNotAllowed("AuditEvents are append-only: they cannot be updated, patched or deleted")


def active_trail(req: FhirRequest, ctx: Context) -> AuditTrail | None:
    """The trail when this request must be audited (a principal, auditing enabled), else None."""
    if req.principal is None or req.segments == ["metadata"]:
        return None
    trail = ctx.services.audit
    return trail if trail is not None and trail.enabled else None


def interaction_of(req: FhirRequest) -> tuple[str, str | None]:
    """The restful-interaction code of a request, and the operation name for ``operation``."""
    segs, method = req.segments, req.method
    n = len(segs)
    if n and segs[-1].startswith("$"):
        return "operation", segs[-1]
    if n == 0:
        if method == "POST":
            kind = req.body.get("type") if isinstance(req.body, dict) else None
            return ("batch" if kind == "batch" else "transaction"), None
        return "search-system", None
    if segs[-1] == "_history":
        return {1: "history-system", 2: "history-type"}.get(n, "history-instance"), None
    if segs[-1] == "_search":
        return ("search-system" if n == 1 else "search-type"), None
    if n == 4:
        return "vread", None
    if n == 3:
        return "search", None  # a compartment search
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    if method in verbs:
        return verbs[method], None
    return ("search-type" if n == 1 else "read"), None


def target_pair(req: FhirRequest) -> tuple[str, str] | None:
    """(type, id) named by an instance-level path (``Observation/1``, ``Patient/1/$everything`` …)."""
    segs = req.segments
    if len(segs) >= 2 and not segs[1].startswith(("$", "_")):
        return segs[0], segs[1]
    return None


def actor_of(req: FhirRequest) -> Actor:
    """The user and client of a token's principal; for a system principal (a component of the server, no user),
    the component as the requesting application."""
    p = req.principal
    component = getattr(p, "component", None)
    username = p.subject if p.subject and p.subject != p.client_id and not component else None
    return Actor(who=p.fhir_user, username=username, client_id=p.client_id, network=req.header(REMOTE_ADDR),
                 component=component)


@dataclass
class Snapshot:
    """What is known before a write runs: the Patients of the resource it replaces or deletes."""

    patients: set[str] = field(default_factory=set)


def before_write(session: SqlSession, req: FhirRequest) -> Snapshot:
    target = target_pair(req)
    return Snapshot(patients_of(session, [target]) if target else set())


def _version_from(resp: FhirResponse) -> str | None:
    etag = resp.headers.get("ETag", "")
    return etag.removeprefix("W/").strip('"') or None


def _touched(req: FhirRequest, resp: FhirResponse, interaction: str) -> tuple[str, str, str | None] | None:
    """(type, id, version) of the one resource an instance interaction or a write touched."""
    body = resp.resource
    if interaction in SEARCHES or interaction.startswith("history-s") or interaction == "history-type":
        return None
    if isinstance(body, dict) and body.get("resourceType") not in (None, "Bundle", "OperationOutcome") \
            and body.get("id") and interaction != "operation":
        return str(body["resourceType"]), str(body["id"]), (body.get("meta") or {}).get("versionId")
    location = resp.headers.get("Location", "")
    if location.startswith(req.base_url + "/"):
        parts = location[len(req.base_url) + 1:].split("/")
        if len(parts) >= 2:
            return parts[0], parts[1], parts[3] if len(parts) >= 4 else None
    target = target_pair(req)
    if target:
        return target[0], target[1], _version_from(resp) if interaction != "operation" else None
    return None


def _entities(req: FhirRequest, interaction: str, touched: tuple[str, str, str | None] | None,
              patients: set[str]) -> tuple[Entity, ...]:
    out: list[Entity] = []
    if touched:
        rt, rid, vid = touched
        out.append(Entity(reference=f"{rt}/{rid}" + (f"/_history/{vid}" if vid else ""),
                          role="1" if rt == "Patient" else "4", type_code="1" if rt == "Patient" else "2"))
    if interaction in SEARCHES:
        out.append(Entity(role="24", query=urlencode(req.params)))
    named = {e.reference.split("/")[1] for e in out if e.reference and e.reference.startswith("Patient/")}
    out.extend(events.patient_entity(f"Patient/{pid}") for pid in sorted(patients - named))
    return tuple(out)


def success_spec(session: SqlSession, req: FhirRequest, resp: FhirResponse,
                 before: Snapshot | None = None) -> EventSpec:
    """The event of an interaction that returned ``resp`` (any status: a 4xx response is a refusal)."""
    interaction, operation = interaction_of(req)
    touched = _touched(req, resp, interaction)
    pairs = returned_pairs(resp.resource)
    if touched:
        pairs.append(touched[:2])
    target = target_pair(req)
    if target and target[0] == "Patient":
        pairs.append(target)  # Patient/X/$everything, Patient/X/Observation: about X even when nothing matched
    patients = patients_of(session, pairs) | (before.patients if before else set())
    description = None if resp.status < 400 else f"HTTP {resp.status}"
    return events.rest_spec(interaction, actor_of(req), _entities(req, interaction, touched, patients),
                            events.outcome_for(resp.status, description), operation)


def failure_spec(session: SqlSession, req: FhirRequest, error: FhirError) -> EventSpec:
    """The event of an interaction refused or failed with ``error`` (its writes were rolled back)."""
    interaction, operation = interaction_of(req)
    target = target_pair(req)
    patients = patients_of(session, [target]) if target else set()
    touched = (target[0], target[1], None) if target else None
    issue = error.issues[0].code if error.issues else type(error).__name__
    return events.rest_spec(interaction, actor_of(req), _entities(req, interaction, touched, patients),
                            events.outcome_for(error.status, f"HTTP {error.status} ({issue})"), operation)


def record_success(trail: AuditTrail, req: FhirRequest, resp: FhirResponse, session: SqlSession | None,
                   before: Snapshot | None = None) -> None:
    """Write the event in ``session`` (a write's own transaction) or in a short transaction of its own."""
    trail.record_with(lambda s: success_spec(s, req, resp, before), session=session)


def record_failure(trail: AuditTrail, req: FhirRequest, error: FhirError) -> None:
    trail.record_with(lambda s: failure_spec(s, req, error))
