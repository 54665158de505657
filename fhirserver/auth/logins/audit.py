"""Audit events of logins, logouts and invitations (``ctx.services.audit``, fhirserver/audit/trail.py).

Never a secret in ``detail``: short English reasons only (no token, no password, no claim values).
"""

from __future__ import annotations

from typing import Any


def record(ctx: Any, kind: str, outcome: str, *, who: str | None = None, username: str | None = None,
           detail: str | None = None, network: str | None = None, patient: str | None = None) -> None:
    trail = ctx.services.audit
    if trail is None:
        return
    if patient is None and who and who.startswith("Patient/"):
        patient = who.split("/", 1)[1]
    trail.record_event(kind=kind, outcome=outcome, who=who, username=username, patient=patient, detail=detail,
                       network=network)
