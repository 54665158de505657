"""Provenance records of identity changes (RNIV: every change of an identity is traceable).

One Provenance per change, written in the same database transaction as the change itself, so that a change
without its trace (or the reverse) cannot exist. https://hl7.org/fhir/R4/provenance.html

Who: the authenticated principal's FHIR user when there is one (``req.principal.fhir_user``, set by the
authorization layer), otherwise the acting software (the server itself, an import). The agent is always present
(Provenance.agent is 1..*).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhirserver.fhir.ids import new_id

#: Local code system of the identity activities this server records.
ACTIVITY_SYSTEM = "https://dui.example.org/fhir/CodeSystem/identity-activity"
ACTIVITIES = {
    "ins-lookup": "Interrogation du téléservice INSi",
    "identity-validate": "Contrôle d'une pièce d'identité à haut niveau de confiance",
    "status-change": "Changement du statut de l'identité",
    "trait-change-downgrade": "Modification d'un trait strict : statut abaissé",
    "declared-status": "Statut d'identité déclaré à l'écriture (import, reprise)",
    "merge": "Fusion de dossiers (doublon)",
}
AGENT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def _who(principal: Any) -> dict[str, Any]:
    fhir_user = getattr(principal, "fhir_user", None)
    if isinstance(fhir_user, str) and fhir_user:
        return {"reference": fhir_user}
    return {"display": "Serveur DUI (action système)"}


def provenance(targets: list[str], activity: str, *, principal: Any = None, reason: str | None = None,
               entities: list[dict[str, Any]] | None = None, extensions: list[dict[str, Any]] | None = None,
               when: datetime | None = None) -> dict[str, Any]:
    """A Provenance resource (not yet stored) for ``activity`` on ``targets`` (versioned references such as
    ``Patient/p1/_history/3`` where known). ``entities`` are Provenance.entity items (e.g. the INSi answer kept
    as a ``Binary``/``Parameters`` reference, or the merged source record)."""
    if activity not in ACTIVITIES:
        raise ValueError(f"unknown identity activity {activity!r}")
    recorded = (when or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    out: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [{"reference": t} for t in targets],
        "recorded": recorded,
        "activity": {"coding": [{"system": ACTIVITY_SYSTEM, "code": activity, "display": ACTIVITIES[activity]}]},
        "agent": [{"type": {"coding": [{"system": AGENT_TYPE_SYSTEM, "code": "performer"}]},
                   "who": _who(principal)}],
    }
    if reason:
        out["reason"] = [{"text": reason}]
    if entities:
        out["entity"] = entities
    if extensions:
        out["extension"] = extensions
    return out


def record(session: Any, targets: list[str], activity: str, **kwargs: Any) -> dict[str, Any]:
    """Store a Provenance in ``session`` (the write's own transaction) and return its stored content."""
    content = provenance(targets, activity, **kwargs)
    stored = session.create("Provenance", content, new_id())
    return dict(stored.content)
