"""update, update-as-create and conditional update — https://hl7.org/fhir/R4/http.html#update, #cond-update.

Lost updates are impossible: the current row is locked (PostgreSQL ``SELECT … FOR UPDATE``; SQLite's single
writer) before ``If-Match`` is compared, so of concurrent updates with the same ``If-Match`` one wins and the
others get 412.
"""

from __future__ import annotations

from typing import Any

from fhirserver.errors import Invalid
from fhirserver.fhir.ids import new_id
from fhirserver.interactions.common import check_if_match, check_type, write_response
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.create import find_one
from fhirserver.interactions.hooks import WriteEvent, commit_write
from fhirserver.storage.base import StoredResource
from fhirserver.storage.sql.repository import SqlSession
from fhirserver.validation.structural import check_id, validate_resource


def store(req: FhirRequest, ctx: Context, session: SqlSession, rt: str, res_id: str, body: dict[str, Any],
          existing: StoredResource | None, interaction: str = "update") -> FhirResponse:
    """Write ``body`` as the next version of ``rt/res_id`` (or its first one) after the If-Match check."""
    check_if_match(req, existing)
    stored = commit_write(WriteEvent(req, ctx, session, rt, res_id, body, existing, interaction))
    return write_response(req, stored, 201 if existing is None or existing.deleted else 200)


def update(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    res_id = req.segments[1]
    check_id(res_id)
    body = req.body
    validate_resource(body, rt)
    if body.get("id") is None:
        raise Invalid("the resource in an update must carry an id equal to the URL's id",
                      [_issue("id is missing")])
    if body["id"] != res_id:
        raise Invalid(f"resource id {body['id']!r} does not match the URL id {res_id!r}",
                      [_issue(f"id {body['id']!r} differs from the URL id {res_id!r}")])
    ctx.policy.check(req, "update", rt)
    existing = session.read(rt, res_id, for_update=True)
    return store(req, ctx, session, rt, res_id, body, existing)


def conditional_update(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    body = req.body
    validate_resource(body, rt)
    ctx.policy.check(req, "update", rt)
    criteria = "&".join(f"{k}={v}" for k, v in req.params if k not in ("_format", "_pretty"))
    match = find_one(ctx, session, rt, criteria)
    if match is None:
        res_id = body.get("id") or req.assigned_id or new_id()
        existing = session.read(rt, res_id, for_update=True)
        if existing is not None and not existing.deleted:
            raise Invalid(f"{rt}/{res_id} exists but does not match the conditional update criteria")
        return store(req, ctx, session, rt, res_id, body, existing)
    if body.get("id") not in (None, match.res_id):
        raise Invalid(f"resource id {body['id']!r} does not match the resource found ({match.res_id})")
    current = session.read(rt, match.res_id, for_update=True)
    return store(req, ctx, session, rt, match.res_id, {**body, "id": match.res_id}, current)


def _issue(text: str) -> Any:
    from fhirserver.errors import Issue

    return Issue(text, code="invalid", expression=("id",))
