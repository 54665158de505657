"""delete and conditional delete — https://hl7.org/fhir/R4/http.html#delete, #3.1.0.7.1.

Deletion is versioned: a new history entry marks the deletion, a later read answers 410 Gone, and an update
brings the resource back with the next version number. Deleting an already deleted resource is a no-op (204).
"""

from __future__ import annotations

from fhirserver.errors import NotFound
from fhirserver.interactions.common import check_if_match, check_type
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.create import find_one
from fhirserver.storage.sql.repository import SqlSession


def delete(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    ctx.policy.check(req, "delete", rt)
    existing = session.read(rt, req.segments[1], for_update=True)
    if existing is None:
        raise NotFound(f"{rt}/{req.segments[1]} is not known")
    check_if_match(req, existing)
    if existing.deleted:
        return FhirResponse(204, None, {"ETag": f'W/"{existing.version_id}"'})
    ctx.policy.check_write(req, rt, existing.content, None)
    stored = session.delete(existing)
    return FhirResponse(204, None, {"ETag": f'W/"{stored.version_id}"'})


def conditional_delete(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    ctx.policy.check(req, "delete", rt)
    criteria = "&".join(f"{k}={v}" for k, v in req.params if k not in ("_format", "_pretty"))
    match = find_one(ctx, session, rt, criteria)
    if match is None:
        return FhirResponse(204, None, {})
    ctx.policy.check_write(req, rt, match.content, None)
    stored = session.delete(match)
    return FhirResponse(204, None, {"ETag": f'W/"{stored.version_id}"'})
