"""history (instance, type, system) — https://hl7.org/fhir/R4/http.html#history: newest first, ``_since``,
``_at``, ``_count`` and stable next links; deletions appear as entries with ``request.method = DELETE``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fhirserver.errors import Invalid
from fhirserver.interactions.common import check_type, http_date
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.search.values import date_range
from fhirserver.storage.base import StoredResource
from fhirserver.storage.sql.repository import SqlSession


def _instant(name: str, value: str) -> tuple[datetime, datetime]:
    try:
        return date_range(value)
    except ValueError as exc:
        raise Invalid(f"{name}: {value!r} is not a valid instant") from exc


def _entry(req: FhirRequest, h: StoredResource) -> dict[str, Any]:
    url = f"{h.res_type}/{h.res_id}"
    method = h.method if h.method in ("POST", "PUT", "DELETE") else "PUT"
    out: dict[str, Any] = {"fullUrl": f"{req.base_url}/{url}"}
    if not h.deleted and h.content is not None:
        out["resource"] = h.content
    out["request"] = {"method": method, "url": url if method != "POST" else h.res_type}
    status = {"POST": "201 Created", "PUT": "200 OK", "DELETE": "204 No Content"}[method]
    out["response"] = {"status": status, "etag": f'W/"{h.version_id}"', "lastModified": http_date(h)}
    return out


def history(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    segs = req.segments
    rt = check_type(segs[0]) if segs[0] != "_history" else None
    res_id = segs[1] if len(segs) == 3 else None
    ctx.policy.check(req, "history", rt)
    since_raw, at_raw = req.param("_since"), req.param("_at")
    since = _instant("_since", since_raw)[0] if since_raw else None
    at = _instant("_at", at_raw) if at_raw else None
    try:
        search = ctx.settings.search
        count = min(int(req.param("_count") or search.default_count), search.max_count)
    except ValueError as exc:
        raise Invalid("_count must be an integer") from exc
    if count < 1:
        raise Invalid("_count must be at least 1 for history")
    if rt and res_id:
        stored = session.read(rt, res_id)
        if stored is None:
            from fhirserver.errors import NotFound

            raise NotFound(f"{rt}/{res_id} is not known")
    page = session.history(rt, res_id, since=since, at=at, count=count, cursor=req.param("_cursor"))
    path = "/".join(segs)
    used = [(k, v) for k, v in req.params if k in ("_since", "_at", "_count")]
    self_params = used + ([("_cursor", req.param("_cursor") or "")] if req.param("_cursor") else [])
    links = [{"relation": "self", "url": f"{req.base_url}/{path}" + ("?" + urlencode(self_params) if self_params else "")}]
    if page.next_cursor:
        links.append({"relation": "next",
                      "url": f"{req.base_url}/{path}?" + urlencode(used + [("_cursor", page.next_cursor)])})
    entries = [_entry(req, h) for h in page.entries if h.deleted or ctx.policy.can_see(req, h.content or {})]
    bundle = {"resourceType": "Bundle", "type": "history", "total": page.total, "link": links, "entry": entries}
    return FhirResponse(200, bundle)
