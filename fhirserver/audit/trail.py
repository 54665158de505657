"""The audit trail service: writes AuditEvents, fail closed (``ctx.services.audit``).

https://hl7.org/fhir/R4/auditevent.html; ../shared/specs/smart-auth-portals.md §9.2 (traçabilité) and §8 (ASVS
V16: security events logged, log integrity). An event is written inside the caller's SqlSession when given (a write
and its AuditEvent commit together), else in its own short write transaction. Any failure raises
:class:`fhirserver.errors.Unavailable` (503): the caller must not answer with data it could not audit.

With ``[audit] enabled = false`` nothing is written (tests and benchmarks only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError

from fhirserver.audit import events
from fhirserver.audit.events import Actor, Entity, EventSpec
from fhirserver.errors import Unavailable
from fhirserver.fhir.ids import new_id
from fhirserver.storage.sql.repository import SqlRepository, SqlSession

log = logging.getLogger(__name__)
OBSERVER = "dui-fhir-server"


class AuditUnavailable(Unavailable):
    """The AuditEvent could not be written: the request fails with 503 and returns no data."""


class AuditTrail:
    """Builds and stores AuditEvents."""

    def __init__(self, repo: SqlRepository, *, enabled: bool = True, observer: str = OBSERVER) -> None:
        self.repo = repo
        self.enabled = enabled
        self.observer = observer

    def record_event(self, *, kind: str, outcome: str, who: str | None = None, username: str | None = None,
                     client_id: str | None = None, patient: str | None = None, entity: str | None = None,
                     detail: str | None = None, network: str | None = None, session: Any = None) -> None:
        """kind: "login" | "logout" | "token" | "consent" | "invitation" | "delegation";
        outcome: "success" | "failure"; who: the acting user's fhirUser ("Practitioner/1") when known;
        patient: the usager concerned, id or reference (so the event appears in "qui a consulté mon dossier");
        entity: a reference the event is about ("Consent/7"); detail: a short non-health text (never a password,
        never a token); session: write inside that SqlSession when given, else in its own transaction."""
        entities: list[Entity] = []
        if entity:
            entities.append(Entity(reference=entity))
        if patient:  # a Patient id ("p1") or reference ("Patient/p1")
            entities.append(events.patient_entity(patient if "/" in patient else f"Patient/{patient}"))
        actor = Actor(who=who, username=username, client_id=client_id, network=network)
        self.record(events.kind_spec(kind, outcome, actor, tuple(entities), _short(detail)), session=session)

    def record(self, spec: EventSpec, *, session: SqlSession | None = None) -> None:
        """Store one AuditEvent; raise AuditUnavailable (503) when it cannot be written."""
        self.record_with(lambda _session: spec, session=session)

    def record_with(self, make: Callable[[SqlSession], EventSpec], *, session: SqlSession | None = None) -> None:
        """Build the event inside the write's session (``make`` may query it, e.g. the Patient compartments of
        what was returned) and store it there; with no session, in a short write transaction of its own."""
        if not self.enabled:
            return
        try:
            if session is not None:
                self._store(session, make)
            else:
                self.repo.run(lambda own: self._store(own, make), write=True)
        except AuditUnavailable:
            raise
        except DBAPIError:
            if session is not None:
                raise  # inside the caller's transaction: it rolls back (or is retried) with the write
            log.error("audit event could not be written: database error")
            raise AuditUnavailable("the access could not be recorded in the audit trail; try again later") from None
        except Exception as exc:  # any failure, storage or builder: fail closed
            log.error("audit event could not be written: %s", type(exc).__name__)
            raise AuditUnavailable("the access could not be recorded in the audit trail; try again later") from exc

    def _store(self, session: SqlSession, make: Callable[[SqlSession], EventSpec]) -> None:
        self.write(session, events.build(make(session), self.observer))

    def write(self, session: SqlSession, resource: dict[str, Any]) -> None:
        """Insert a built AuditEvent (the seam tests replace to simulate a failing store)."""
        session.create("AuditEvent", resource, new_id())


def _short(detail: str | None) -> str | None:
    return detail[:200] if detail else None
