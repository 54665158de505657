"""patch — https://hl7.org/fhir/R4/http.html#patch: JSON Patch (``application/json-patch+json``) and
FHIRPath Patch (a ``Parameters`` body, https://hl7.org/fhir/R4/fhirpatch.html). The patched resource is
validated like any write; ``If-Match`` is honoured; conditional patch uses search criteria.
"""

from __future__ import annotations

from typing import Any

from fhirserver.errors import Invalid, Issue, NotFound, Unprocessable
from fhirserver.fhir.patch import PatchError, apply_fhirpath_patch, apply_json_patch
from fhirserver.interactions.common import check_type
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.create import find_one
from fhirserver.interactions.read import current
from fhirserver.interactions.update import store
from fhirserver.storage.sql.repository import SqlSession
from fhirserver.validation.structural import validate_resource


def _apply(req: FhirRequest, resource: dict[str, Any]) -> dict[str, Any]:
    body = req.body
    try:
        if isinstance(body, list):
            patched = apply_json_patch(resource, body)
        elif isinstance(body, dict) and body.get("resourceType") == "Parameters":
            patched = apply_fhirpath_patch(resource, body)
        else:
            raise Invalid("a patch body is a JSON Patch array (application/json-patch+json) or a FHIRPath Patch "
                          "Parameters resource")
    except PatchError as exc:
        raise Unprocessable(f"patch failed: {exc}", [Issue(f"patch failed: {exc}", code="processing")]) from exc
    if not isinstance(patched, dict):
        raise Unprocessable("the patch did not produce a resource")
    if patched.get("id") != resource.get("id") or patched.get("resourceType") != resource.get("resourceType"):
        raise Unprocessable("a patch may not change the resource's type or id")
    return patched


def patch(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    ctx.policy.check(req, "patch", rt)
    existing = current(session, rt, req.segments[1], for_update=True)
    patched = _apply(req, existing.content or {})
    validate_resource(patched, rt)
    return store(req, ctx, session, rt, existing.res_id, patched, existing, "patch")


def conditional_patch(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    ctx.policy.check(req, "patch", rt)
    criteria = "&".join(f"{k}={v}" for k, v in req.params if k not in ("_format", "_pretty"))
    match = find_one(ctx, session, rt, criteria)
    if match is None:
        raise NotFound(f"no {rt} matches the conditional patch criteria")  # http.html#patch: 404
    existing = current(session, rt, match.res_id, for_update=True)
    patched = _apply(req, existing.content or {})
    validate_resource(patched, rt)
    return store(req, ctx, session, rt, existing.res_id, patched, existing, "patch")
