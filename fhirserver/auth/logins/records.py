"""Internal reads of the FHIR records a login is bound to (through the interactions, without a principal)."""

from __future__ import annotations

from typing import Any

from fhirserver.interactions.context import Context, FhirRequest
from fhirserver.interactions.router import handle


def read(ctx: Context, reference: str) -> dict[str, Any] | None:
    """The current content of ``Type/id``, or None when missing or deleted."""
    rtype, _, rid = reference.partition("/")
    stored = ctx.repo.run(lambda session: session.read(rtype, rid), write=False)
    if stored is None or stored.deleted or not stored.content:
        return None
    content: dict[str, Any] = stored.content
    return content


def search_ids(ctx: Context, resource_type: str, params: list[tuple[str, str]]) -> list[str]:
    """The ids of the resources a search finds (at most a handful are expected)."""
    resp = handle(FhirRequest(method="GET", path=resource_type, params=params + [("_count", "5")]), ctx)
    if resp.status != 200 or not isinstance(resp.resource, dict):
        return []
    return [str(e["resource"]["id"]) for e in resp.resource.get("entry") or []
            if isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == resource_type]
