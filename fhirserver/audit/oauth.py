"""Audit events of the authorization server: tokens issued or refused, consent given at the authorize step.

Called from :mod:`fhirserver.auth.server` (Authlib hooks) inside a Flask request; the trail is the app context's
``services.audit``. ASVS V16 (../shared/specs/smart-auth-portals.md §8): authentication and authorization
decisions are logged, with who, when, from where, and never the token or the password.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context, has_request_context, request

from fhirserver.audit.trail import AuditTrail


def _trail() -> AuditTrail | None:
    if not has_app_context():
        return None
    ctx = current_app.config.get("DUI_CONTEXT")
    return ctx.services.audit if ctx is not None else None


def _network() -> str | None:
    return request.remote_addr if has_request_context() else None


def _patient_ref(patient: str | None) -> str | None:
    if not patient:
        return None
    return patient if "/" in patient else f"Patient/{patient}"


def record(kind: str, outcome: str, *, user: Any = None, client_id: str | None = None, patient: str | None = None,
           detail: str | None = None) -> None:
    """One login/token/consent event; ``user`` is a :class:`fhirserver.auth.models.User` or None."""
    trail = _trail()
    if trail is None:
        return
    trail.record_event(kind=kind, outcome=outcome, who=getattr(user, "fhir_user", None),
                       username=getattr(user, "username", None), client_id=client_id,
                       patient=_patient_ref(patient), detail=detail, network=_network())


def token_issued(grant_type: str, user: Any, client_id: str, patient: str | None, scope: str) -> None:
    record("token", "success", user=user, client_id=client_id, patient=patient,
           detail=f"{grant_type}: {scope}")


def token_refused(grant_type: str | None, client_id: str | None, error: str) -> None:
    """A refused token request; the client id is the one the request claimed (it may not exist)."""
    record("token", "failure", client_id=client_id, detail=f"{grant_type or 'unknown grant'}: {error}")


def consent_given(user: Any, client_id: str, patient: str | None, scope: str) -> None:
    record("consent", "success", user=user, client_id=client_id, patient=patient, detail=f"scopes: {scope}")
