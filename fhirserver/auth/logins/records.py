"""Internal reads of the FHIR records a login is bound to, through the in-process client as the system principal
``dui logins`` (so the access policy and the audit trail see them like any other access)."""

from __future__ import annotations

from typing import Any

from fhirserver.auth.principal import system_principal
from fhirserver.errors import FhirError, Gone, Invalid, NotFound
from fhirserver.interactions.client import Fhir
from fhirserver.interactions.context import Context

COMPONENT = "dui logins"


def read(ctx: Context, reference: str) -> dict[str, Any] | None:
    """The current content of ``Type/id``, or None when missing, deleted or not a reference."""
    rtype, _, rid = reference.partition("/")
    if not rtype or not rid or "/" in rid:
        return None
    try:
        return Fhir(ctx, system_principal(COMPONENT)).read(rtype, rid)
    except (NotFound, Gone, Invalid):
        return None


def search_ids(ctx: Context, resource_type: str, params: list[tuple[str, str]]) -> list[str]:
    """The ids of the resources a search finds (at most a handful are expected); none when the search fails."""
    try:
        found = Fhir(ctx, system_principal(COMPONENT)).search(resource_type, [*params, ("_count", "5")])
    except FhirError:
        return []
    return [str(r["id"]) for r in found if r.get("resourceType") == resource_type and r.get("id")]
