"""$meta, $meta-add, $meta-delete — https://hl7.org/fhir/R4/resource-operation-meta.html (and -meta-add,
-meta-delete). Tags, profiles and security labels change in place: no new version is created (as the
operations' definitions describe them: metadata is not content). The index rows are rebuilt.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from fhirserver.errors import Invalid
from fhirserver.interactions.common import check_type
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.read import current
from fhirserver.search.parse import SearchQuery
from fhirserver.storage.sql.repository import SqlSession
from fhirserver.storage.sql.schema import idx_token, idx_uri, resource, resource_history

_LISTS = ("tag", "security", "profile")


def _meta_out(meta: dict[str, Any]) -> dict[str, Any]:
    out = {k: meta[k] for k in _LISTS if meta.get(k)}
    return {"resourceType": "Parameters", "parameter": [{"name": "return", "valueMeta": out}]}


def _input_meta(req: FhirRequest) -> dict[str, Any]:
    body = req.body
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise Invalid("expected a Parameters resource with a 'meta' parameter (valueMeta)")
    for p in body.get("parameter", []):
        if p.get("name") == "meta" and isinstance(p.get("valueMeta"), dict):
            return dict(p["valueMeta"])
    raise Invalid("the 'meta' parameter (valueMeta) is missing")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return bool(a.get("system") == b.get("system") and a.get("code") == b.get("code"))


def meta(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    segs = req.segments
    if len(segs) == 3:
        rt = check_type(segs[0])
        ctx.policy.check(req, "read", rt)
        stored = current(session, rt, segs[1])
        return FhirResponse(200, _meta_out((stored.content or {}).get("meta", {})))
    only_type = check_type(segs[0]) if len(segs) == 2 else None
    ctx.policy.check(req, "search-type" if only_type else "search-system", only_type)
    # what the caller may see: the access policy narrows a search of every resource (of the type), and the tags,
    # labels and profiles are gathered from its matches only (compartments, labels, delegations applied)
    query = SearchQuery(resource_types=(only_type or "Resource",), total="accurate", base_url=req.base_url or None)
    ctx.policy.narrow(req, query)
    narrowed = query.compartment is not None or bool(query.clauses) or bool(query.excluded_rids)
    visible = session.matching_rids(query) if narrowed else None
    session.flush()
    tags: list[dict[str, Any]] = []
    security: list[dict[str, Any]] = []
    for code, bucket in (("_tag", tags), ("_security", security)):
        stmt = select(idx_token.c.system, idx_token.c.code).where(idx_token.c.param == code).distinct()
        if only_type:
            stmt = stmt.where(idx_token.c.res_type == only_type)
        if visible is not None:
            stmt = stmt.where(idx_token.c.rid.in_(visible))
        bucket.extend({"system": s, "code": c} if s else {"code": c} for s, c in session.conn.execute(stmt))
    profile_stmt = select(idx_uri.c.value).where(idx_uri.c.param == "_profile").distinct()
    if only_type:
        profile_stmt = profile_stmt.where(idx_uri.c.res_type == only_type)
    if visible is not None:
        profile_stmt = profile_stmt.where(idx_uri.c.rid.in_(visible))
    profiles = sorted(v for (v,) in session.conn.execute(profile_stmt))
    return FhirResponse(200, _meta_out({"tag": tags, "security": security, "profile": profiles}))


def _change(req: FhirRequest, ctx: Context, session: SqlSession, add: bool) -> FhirResponse:
    rt = check_type(req.segments[0])
    ctx.policy.check(req, "update", rt)
    stored = current(session, rt, req.segments[1], for_update=True)
    content = dict(stored.content or {})
    meta_now = dict(content.get("meta") or {})
    change = _input_meta(req)
    for key in _LISTS:
        existing = list(meta_now.get(key) or [])
        for item in change.get(key) or []:
            if add and not any(_same(item, e) for e in existing):
                existing.append(item)
            elif not add:
                existing = [e for e in existing if not _same(item, e)]
        if existing:
            meta_now[key] = existing
        else:
            meta_now.pop(key, None)
    content["meta"] = meta_now
    ctx.policy.check_write(req, rt, stored.content, content)
    session.conn.execute(update(resource).where(resource.c.rid == stored.rid).values(content=content))
    session.conn.execute(update(resource_history).where(resource_history.c.rid == stored.rid,
                                                        resource_history.c.version_id == stored.version_id)
                         .values(content=content))
    session.reindex(type(stored)(**{**stored.__dict__, "content": content}))
    return FhirResponse(200, _meta_out(meta_now))


def meta_add(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    return _change(req, ctx, session, add=True)


def meta_delete(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    return _change(req, ctx, session, add=False)
