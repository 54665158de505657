"""batch and transaction — https://hl7.org/fhir/R4/http.html#transaction.

A transaction runs in ONE database transaction: all entries succeed or nothing is written. Processing follows
the spec's order (DELETE, POST, PUT/PATCH, GET/HEAD); ``urn:uuid:`` full URLs are resolved to the ids the server
assigns (or finds, for conditional creates and updates) and every reference to them is rewritten, as are
conditional references (``Patient?identifier=…``: exactly one match or the transaction fails).
Batch entries are independent, each in its own database transaction.

A Bundle claiming a profile (``meta.profile``) for which a rule is registered in ``ctx.services.bundle_rules``
(profile URL -> ``rule(bundle, req, ctx) -> bundle``) is first checked and, if need be, normalised by that rule
(e.g. the TDDUI exchange: create-only transactions, :mod:`fhirserver.tddui.rules`).
"""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhirserver.errors import FhirError, Invalid, Issue, NotFound, PreconditionFailed
from fhirserver.fhir.ids import new_id
from fhirserver.interactions.common import check_type, outcome_response
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.create import criteria_query, lock_key
from fhirserver.interactions.hooks import claimed_profiles
from fhirserver.storage.sql.repository import SqlSession

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


def status_text(status: int) -> str:
    """``"201 Created"``: Bundle.entry.response.status is the code and, optionally, its reason phrase."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _entry_request(req: FhirRequest, entry: dict[str, Any], index: int) -> FhirRequest:
    request = entry.get("request")
    if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
        raise Invalid(f"Bundle.entry[{index}].request with method and url is required",
                      [Issue("request.method and request.url are required", expression=(f"Bundle.entry[{index}].request",))])
    method = str(request["method"]).upper()
    if method not in ORDER:
        raise Invalid(f"Bundle.entry[{index}]: unsupported method {method}")
    url = str(request["url"])
    if url.startswith(req.base_url + "/"):
        url = url[len(req.base_url) + 1:]
    parts = urlsplit(url)
    if method == "POST" and not parts.path.strip("/"):
        raise Invalid(f"Bundle.entry[{index}]: a batch or transaction cannot contain another batch or transaction",
                      [Issue("a batch or transaction cannot contain another batch or transaction",
                             expression=(f"Bundle.entry[{index}].request.url",))])
    headers = {}
    for field, header in (("ifMatch", "if-match"), ("ifNoneExist", "if-none-exist"),
                          ("ifNoneMatch", "if-none-match"), ("ifModifiedSince", "if-modified-since")):
        if request.get(field):
            headers[header] = str(request[field])
    if "prefer" in req.headers:
        headers["prefer"] = req.headers["prefer"]
    body = entry.get("resource")
    if method == "PATCH" and isinstance(body, dict) and body.get("resourceType") == "Binary":
        try:
            body = json.loads(base64.b64decode(body.get("data", "")))
        except (ValueError, TypeError) as exc:
            raise Invalid(f"Bundle.entry[{index}]: the PATCH Binary does not hold a JSON Patch") from exc
    return FhirRequest(method=method, path=parts.path.strip("/"), params=parse_qsl(parts.query, keep_blank_values=True),
                       headers=headers, body=body, base_url=req.base_url, principal=req.principal)


def _entry_response(resp: FhirResponse, include_resource: bool) -> dict[str, Any]:
    response: dict[str, Any] = {"status": status_text(resp.status)}
    if "Location" in resp.headers:
        response["location"] = resp.headers["Location"]
    if "ETag" in resp.headers:
        response["etag"] = resp.headers["ETag"]
    if "Last-Modified" in resp.headers and isinstance(resp.resource, dict):
        response["lastModified"] = (resp.resource.get("meta") or {}).get("lastUpdated")
    out: dict[str, Any] = {}
    if isinstance(resp.resource, dict) and resp.resource.get("resourceType") == "OperationOutcome":
        response["outcome"] = resp.resource
    elif include_resource and isinstance(resp.resource, bytes):  # a raw document (e.g. a CDA) inside a Bundle
        out["resource"] = {"resourceType": "Binary", "data": base64.b64encode(resp.resource).decode("ascii"),
                           "contentType": resp.headers.get("Content-Type", "application/octet-stream")}
    elif include_resource and resp.resource is not None:
        out["resource"] = resp.resource
    out["response"] = response
    return out



def apply_bundle_rules(req: FhirRequest, ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    """Run the rules registered for the profiles the Bundle claims (``|version`` suffixes ignored)."""
    rules = ctx.services.bundle_rules
    for url in claimed_profiles(body):
        rule = rules.get(url.split("|", 1)[0])
        if rule is not None:
            body = rule(body, req, ctx)
    return body


def bundle(req: FhirRequest, ctx: Context) -> FhirResponse:
    body = req.body
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise Invalid("POST to the base URL takes a Bundle of type transaction or batch")
    body = apply_bundle_rules(req, ctx, body)
    kind = body.get("type")
    entries = body.get("entry") or []
    if not isinstance(entries, list):
        raise Invalid("Bundle.entry must be a list")
    if kind == "batch":
        return _batch(req, ctx, entries)
    if kind == "transaction":
        ctx.policy.check(req, "transaction", None)
        return ctx.repo.run(lambda session: _transaction(req, ctx, session, entries), write=True)
    raise Invalid(f"POST to the base URL takes a transaction or batch Bundle, not {kind!r}",
                  [Issue("Bundle.type must be transaction or batch", expression=("Bundle.type",))])


def _batch(req: FhirRequest, ctx: Context, entries: list[Any]) -> FhirResponse:
    from fhirserver.interactions.router import handle

    include = (req.prefer("return") or "representation") != "minimal"
    out = []
    for i, entry in enumerate(entries):
        try:
            sub = _entry_request(req, entry if isinstance(entry, dict) else {}, i)
        except FhirError as exc:
            resp = outcome_response(exc)
        else:
            resp = handle(sub, ctx)  # each entry in its own database transaction
        out.append(_entry_response(resp, include))
    return FhirResponse(200, {"resourceType": "Bundle", "type": "batch-response", "entry": out})


# --- transaction ---------------------------------------------------------------------------------

def _resolve_conditional(ctx: Context, session: SqlSession, reference: str, where: str) -> str:
    rt, _, criteria = reference.partition("?")
    check_type(rt)
    session.lock(lock_key(rt, criteria))
    matches = session.search_ids(criteria_query(ctx, rt, criteria), limit=2)
    if len(matches) != 1:
        found = "no" if not matches else "several"
        raise PreconditionFailed(f"{where}: conditional reference {reference!r} matches {found} resources",
                                 [Issue(f"conditional reference {reference!r} matches {found} resources",
                                        code="not-found" if not matches else "multiple-matches",
                                        expression=(where,))])
    return f"{rt}/{matches[0].res_id}"


def _rewrite(node: Any, mapping: dict[str, str], resolve: Any, path: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                if value in mapping:
                    value = mapping[value]
                elif "?" in value and not value.startswith(("http:", "https:", "urn:")):
                    value = resolve(value, f"{path}.reference")
                elif value.startswith("urn:uuid:") or value.startswith("urn:oid:"):
                    raise NotFound(f"{path}.reference: {value} is not the fullUrl of any entry of the transaction")
                out[key] = value
            else:
                out[key] = _rewrite(value, mapping, resolve, f"{path}.{key}")
        return out
    if isinstance(node, list):
        return [_rewrite(v, mapping, resolve, f"{path}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str) and node in mapping and node.startswith("urn:"):
        return mapping[node]  # urn:uuid used in a uri/canonical/attachment url
    return node


def _plan(ctx: Context, session: SqlSession, sub: FhirRequest) -> str | None:
    """The ``Type/id`` an entry will write (assigning the id of a POST in advance), None when not known yet."""
    segs = sub.segments
    if sub.method == "POST" and len(segs) == 1 and not segs[0].startswith(("$", "_")):
        rt = check_type(segs[0])
        existing = None
        criteria = sub.header("if-none-exist")
        if criteria:
            session.lock(lock_key(rt, criteria))
            found = session.search_ids(criteria_query(ctx, rt, criteria), limit=2)
            existing = found[0].res_id if len(found) == 1 else None
        sub.assigned_id = existing or new_id()
        return f"{rt}/{sub.assigned_id}"
    if sub.method in ("PUT", "PATCH", "DELETE") and len(segs) == 2:
        return f"{check_type(segs[0])}/{segs[1]}"
    if sub.method in ("PUT", "PATCH", "DELETE") and len(segs) == 1 and sub.params:
        rt = check_type(segs[0])
        criteria = "&".join(f"{k}={v}" for k, v in sub.params)
        found = session.search_ids(criteria_query(ctx, rt, criteria), limit=2)
        if len(found) == 1:
            return f"{rt}/{found[0].res_id}"
        if not found and sub.method == "PUT":
            body_id = sub.body.get("id") if isinstance(sub.body, dict) else None
            sub.assigned_id = body_id or new_id()
            return f"{rt}/{sub.assigned_id}"
    return None


def _transaction(req: FhirRequest, ctx: Context, session: SqlSession, entries: list[Any]) -> FhirResponse:
    from fhirserver.interactions.router import dispatch

    subs = [_entry_request(req, e if isinstance(e, dict) else {}, i) for i, e in enumerate(entries)]
    include = (req.prefer("return") or "minimal") != "minimal"
    results: list[dict[str, Any] | None] = [None] * len(subs)
    mapping: dict[str, str] = {}
    targets: set[str] = set()

    def claim(i: int, target: str) -> None:
        if target in targets:
            raise Invalid(f"Bundle.entry[{i}]: {target} is the target of more than one entry",
                          [Issue(f"{target} appears more than once", expression=(f"Bundle.entry[{i}]",))])
        targets.add(target)

    def execute(i: int) -> None:
        try:
            resp = dispatch(subs[i], ctx, session)
        except FhirError as exc:
            exc.message = f"Bundle.entry[{i}]: {exc.message}"
            exc.issues = [Issue(f"Bundle.entry[{i}]: {x.diagnostics}", x.code, x.severity, x.expression)
                          for x in exc.issues]
            raise
        if resp.status >= 400:
            raise FhirError(f"Bundle.entry[{i}] failed with status {resp.status}", status=resp.status)
        results[i] = _entry_response(resp, include or subs[i].method == "GET")

    # 1. DELETEs come first (http.html#trules): conditional creates, conditional updates and searches of the
    #    later entries must see their effect, so they run before the other entries are even planned.
    deletes = [i for i, sub in enumerate(subs) if sub.method == "DELETE"]
    for i in deletes:
        target = _plan(ctx, session, subs[i])
        if target:
            claim(i, target)
    for i in deletes:
        execute(i)

    # 2. The identity of every other write, so that urn:uuid full URLs can be mapped before anything is written.
    for i, (entry, sub) in enumerate(zip(entries, subs, strict=True)):
        if sub.method == "DELETE":
            continue
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        target = _plan(ctx, session, sub)
        if target and sub.method != "GET":
            claim(i, target)
        if full_url and target:
            mapping[full_url] = target

    def resolve(reference: str, where: str) -> str:
        return _resolve_conditional(ctx, session, reference, where)

    for i, sub in enumerate(subs):
        if isinstance(sub.body, dict) and sub.method in ("POST", "PUT"):
            sub.body = _rewrite(sub.body, mapping, resolve, f"Bundle.entry[{i}].resource")
            if sub.method == "PUT" and len(sub.segments) == 1 and sub.assigned_id and "id" not in sub.body:
                sub.body = {**sub.body, "id": sub.assigned_id}

    # 3. POST, then PUT / PATCH, then GET / HEAD.
    for i in sorted(range(len(subs)), key=lambda k: ORDER[subs[k].method]):
        if subs[i].method != "DELETE":
            execute(i)
    return FhirResponse(200, {"resourceType": "Bundle", "type": "transaction-response",
                              "entry": [r for r in results if r is not None]})
