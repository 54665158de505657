"""search (type, system, compartment; GET and POST _search) — https://hl7.org/fhir/R4/http.html#search,
https://hl7.org/fhir/R4/search.html. Builds the ``searchset`` Bundle with stable self / next / previous links.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fhirserver.errors import Invalid, Issue
from fhirserver.fhir.definitions import patient_compartment
from fhirserver.interactions.common import check_type, subset
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.search.parse import ParamClause, SearchQuery, TokenValue
from fhirserver.storage.base import Page, StoredResource
from fhirserver.storage.sql.repository import SqlSession


def _strict(req: FhirRequest) -> bool:
    return (req.prefer("handling") or "lenient").lower() == "strict"


def build_query(req: FhirRequest, ctx: Context, session: SqlSession, types: tuple[str, ...],
                params: list[tuple[str, str]]) -> SearchQuery:
    query = ctx.parser.parse(types, params, req.base_url or None)
    if query.unknown and _strict(req):
        names = ", ".join(query.unknown)
        raise Invalid(f"unknown search parameter(s): {names}",
                      [Issue(f"unknown search parameter {n!r}", code="not-supported", expression=(n,))
                       for n in query.unknown])
    if query.list_id is not None:
        _apply_list(ctx, session, query)
    ctx.policy.narrow(req, query)
    return query


def _apply_list(ctx: Context, session: SqlSession, query: SearchQuery) -> None:
    """``_list=id``: only the items of List/id, rewritten to an ``_id`` clause (https://hl7.org/fhir/R4/search.html#list)."""
    stored = session.read("List", query.list_id or "")
    items = (stored.content or {}).get("entry", []) if stored and not stored.deleted else []
    base = (query.base_url or "").rstrip("/")
    ids = []
    for entry in items:
        if entry.get("deleted") is True:
            continue  # struck out of the list
        ref = (entry.get("item") or {}).get("reference", "")
        if "://" in ref:
            if base and not ref.startswith(base + "/"):
                continue  # an item on another server, not one of ours
            ref = "/".join(ref.split("/_history/")[0].split("/")[-2:])
        rtype, _, rid = ref.partition("/_history/")[0].rpartition("/")
        if rtype in query.resource_types and rid:
            ids.append(rid)
    sp = ctx.registry.get(query.resource_types[0], "_id")
    assert sp is not None
    # no items: an empty _id set, which matches nothing (SQL ``IN ()`` is rendered as false)
    query.clauses.append(ParamClause(sp, None, tuple(TokenValue(None, i) for i in ids)))


def entry(req: FhirRequest, stored: StoredResource, mode: str, query: SearchQuery | None) -> dict[str, Any]:
    resource = stored.content or {}
    if query is not None and mode == "match":
        resource = subset(resource, query.summary, query.elements)
    return {"fullUrl": f"{req.base_url}/{stored.res_type}/{stored.res_id}", "resource": resource,
            "search": {"mode": mode}}


def searchset(req: FhirRequest, ctx: Context, query: SearchQuery, page: Page, path: str) -> dict[str, Any]:
    base_link = f"{req.base_url}/{path}" if path else req.base_url

    def link(extra: list[tuple[str, str]]) -> str:
        params = query.used + extra
        return base_link + ("?" + urlencode(params) if params else "")

    links = [{"relation": "self", "url": link([("_cursor", query.cursor)] if query.cursor else [])}]
    if page.next_cursor:
        links.append({"relation": "next", "url": link([("_cursor", page.next_cursor)])})
    if page.prev_cursor:
        links.append({"relation": "previous", "url": link([("_cursor", page.prev_cursor)])})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = links
    entries = [entry(req, m, "match", query) for m in page.matches if ctx.policy.can_see(req, m.content or {})]
    entries += [entry(req, m, "include", None) for m in page.includes if ctx.policy.can_see(req, m.content or {})]
    warnings = list(page.warnings)
    if query.unknown:
        warnings.append("unknown search parameter(s) ignored: " + ", ".join(query.unknown))
    if warnings:
        entries.append({"resource": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "warning", "code": "informational", "diagnostics": w} for w in warnings]},
            "search": {"mode": "outcome"}})
    if query.summary != "count":
        bundle["entry"] = entries
    return bundle


def run_search(req: FhirRequest, ctx: Context, session: SqlSession, types: tuple[str, ...],
               params: list[tuple[str, str]], path: str, compartment: tuple[str, str] | None = None) -> FhirResponse:
    query = build_query(req, ctx, session, types, params)
    if compartment is not None:  # else keep the compartment(s) the access policy may have set in build_query
        query.compartment = compartment
    if query.summary == "count":
        query.total = "accurate"
        query.count = 0
    page = session.search(query)
    return FhirResponse(200, searchset(req, ctx, query, page, path))


def search_type(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    ctx.policy.check(req, "search-type", rt)
    return run_search(req, ctx, session, (rt,), req.params, rt)


def search_system(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    ctx.policy.check(req, "search-system", None)
    requested = req.param("_type")
    if requested:
        types = tuple(check_type(t.strip()) for t in requested.split(",") if t.strip())
    else:
        types = ("Resource",)  # any type: only the parameters every resource has
    params = [(k, v) for k, v in req.params if k != "_type"]
    if requested:
        params.append(("_type", requested))
    return run_search(req, ctx, session, types, params, "")


def search_compartment(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    comp_type, comp_id, target = req.segments[0], req.segments[1], req.segments[2]
    if comp_type != "Patient":
        raise Invalid(f"compartment {comp_type!r} is not supported (Patient only)")
    members = patient_compartment()
    if target == "*":
        types = tuple(sorted(members))
    else:
        check_type(target)
        if target not in members:
            raise Invalid(f"{target} is not part of the Patient compartment")
        types = (target,)
    ctx.policy.check(req, "search-compartment", target)
    return run_search(req, ctx, session, types, req.params, "/".join(req.segments[:3]), (comp_type, comp_id))
