"""create and conditional create — https://hl7.org/fhir/R4/http.html#create, #ccreate.

Conditional create (``If-None-Exist``) is serialised on the normalised criteria: a transaction-scoped lock
(PostgreSQL advisory lock; SQLite's single writer) is taken before searching, so parallel identical requests
can never create duplicates.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fhirserver.errors import Invalid, MultipleMatches
from fhirserver.fhir.ids import new_id
from fhirserver.interactions.common import check_type, version_headers, write_response
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.hooks import WriteEvent, commit_write
from fhirserver.search.parse import SearchQuery
from fhirserver.storage.base import StoredResource
from fhirserver.storage.sql.repository import SqlSession
from fhirserver.validation.structural import validate_resource


def criteria_query(ctx: Context, resource_type: str, criteria: str) -> SearchQuery:
    """Parse conditional criteria (``identifier=x&birthdate=…``); unknown parameters are an error here.

    Clients often send the criteria as a relative search URL (``Patient?identifier=x``): the type prefix is
    accepted when it names the resource type being written.
    """
    head, sep, tail = criteria.partition("?")
    if sep and "=" not in head and "&" not in head:
        if head.strip("/") not in ("", resource_type):
            raise Invalid(f"conditional criteria {criteria!r} name another type than {resource_type}")
        criteria = tail
    params = parse_qsl(criteria.lstrip("?"), keep_blank_values=True)
    if not params:
        raise Invalid("conditional criteria are empty")
    query = ctx.parser.parse((resource_type,), params)
    if query.unknown:
        raise Invalid(f"unknown search parameter(s) in conditional criteria: {', '.join(query.unknown)}")
    return query


def lock_key(resource_type: str, criteria: str) -> str:
    params = sorted(parse_qsl(criteria.lstrip("?"), keep_blank_values=True))
    return resource_type + "?" + "&".join(f"{k}={v}" for k, v in params)


def find_one(ctx: Context, session: SqlSession, resource_type: str, criteria: str) -> StoredResource | None:
    """The single match of conditional criteria, None for no match; 412 for several."""
    session.lock(lock_key(resource_type, criteria))
    matches = session.search_ids(criteria_query(ctx, resource_type, criteria), limit=2)
    if len(matches) > 1:
        raise MultipleMatches(f"conditional criteria {criteria!r} match more than one {resource_type}")
    return matches[0] if matches else None


def create(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    body = req.body
    if isinstance(body, dict) and "id" in body:
        # http.html#create: an id in the body SHALL be ignored (so a malformed one cannot fail the create)
        body = {k: v for k, v in body.items() if k != "id"}
    validate_resource(body, rt)
    ctx.policy.check(req, "create", rt)
    criteria = req.header("if-none-exist")
    if criteria:
        existing = find_one(ctx, session, rt, criteria)
        if existing is not None:
            return FhirResponse(200, existing.content, version_headers(req, existing, location=True))
    content: dict[str, Any] = dict(body)
    res_id = req.assigned_id or new_id()
    stored = commit_write(WriteEvent(req, ctx, session, rt, res_id, content, None, "create"))
    return write_response(req, stored, 201)
