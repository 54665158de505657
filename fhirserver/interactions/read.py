"""read and vread — https://hl7.org/fhir/R4/http.html#read, #vread (404 unknown, 410 deleted, 304 not modified)."""

from __future__ import annotations

from fhirserver.errors import Gone, Invalid, NotFound
from fhirserver.interactions.common import check_type, not_modified, subset, version_headers
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.storage.base import StoredResource
from fhirserver.storage.sql.repository import SqlSession


def current(session: SqlSession, rt: str, res_id: str, *, for_update: bool = False) -> StoredResource:
    stored = session.read(rt, res_id, for_update=for_update)
    if stored is None:
        raise NotFound(f"{rt}/{res_id} is not known")
    if stored.deleted:
        raise Gone(f"{rt}/{res_id} was deleted (version {stored.version_id})",
                   headers={"ETag": f'W/"{stored.version_id}"'})
    return stored


def read(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    ctx.policy.check(req, "read", rt)
    stored = current(session, rt, req.segments[1])
    if not ctx.policy.can_see(req, stored.content or {}):
        raise NotFound(f"{rt}/{req.segments[1]} is not known")
    headers = version_headers(req, stored)
    if not_modified(req, stored):
        return FhirResponse(304, None, headers)
    body = subset(stored.content or {}, _summary(req), _elements(req))
    return FhirResponse(200, body, headers)


def vread(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    ctx.policy.check(req, "vread", rt)
    res_id, vid = req.segments[1], req.segments[3]
    try:
        version = int(vid)
    except ValueError as exc:
        raise Invalid(f"version id {vid!r} is not an integer") from exc
    stored = session.vread(rt, res_id, version)
    if stored is None:
        raise NotFound(f"{rt}/{res_id}/_history/{vid} is not known")
    if stored.deleted:
        raise Gone(f"{rt}/{res_id} version {vid} is a deletion")
    if not ctx.policy.can_see(req, stored.content or {}):
        raise NotFound(f"{rt}/{res_id}/_history/{vid} is not known")
    return FhirResponse(200, stored.content, version_headers(req, stored))


def _summary(req: FhirRequest) -> str | None:
    value = req.param("_summary")
    return None if value in (None, "false") else value


def _elements(req: FhirRequest) -> tuple[str, ...]:
    value = req.param("_elements") or ""
    return tuple(e.strip() for e in value.split(",") if e.strip())
