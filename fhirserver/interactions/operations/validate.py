"""$validate — https://hl7.org/fhir/R4/resource-operation-validate.html.

Parameters in (``resource``, ``mode``, ``profile``) or a bare resource; an OperationOutcome out (200 whether
the resource is valid or not, as the operation defines). The structural check, then every validator of the
context (profiles, national identifiers …) with the ``profile`` parameter or the profiles the resource claims.
"""

from __future__ import annotations

from typing import Any

from fhirserver.errors import FhirError, Invalid, Issue, operation_outcome
from fhirserver.interactions.common import check_type
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.hooks import validation_issues
from fhirserver.storage.sql.repository import SqlSession
from fhirserver.validation.structural import validate_resource


def _param(parameters: dict[str, Any], name: str) -> Any:
    for p in parameters.get("parameter", []):
        if p.get("name") == name:
            return p.get("resource") or next((v for k, v in p.items() if k.startswith("value")), None)
    return None


def validate(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    ctx.policy.check(req, "operation", rt)
    body = req.body
    mode = req.param("mode")
    profile = req.param("profile")
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        resource = _param(body, "resource")
        mode = _param(body, "mode") or mode
        profile = _param(body, "profile") or profile
    else:
        resource = body
    if mode == "delete":
        return FhirResponse(200, operation_outcome([Issue("delete is allowed", code="informational",
                                                          severity="information")]))
    if len(req.segments) == 3 and resource is None:
        stored = session.read(rt, req.segments[1])
        resource = stored.content if stored and not stored.deleted else None
    if not isinstance(resource, dict):
        raise Invalid("$validate needs a resource (the body, or a 'resource' parameter)")
    issues: list[Issue] = []
    try:
        validate_resource(resource, rt)
    except FhirError as exc:
        issues.extend(exc.issues)
    if mode == "update" and len(req.segments) == 3 and resource.get("id") != req.segments[1]:
        issues.append(Issue("the resource id does not match the URL id", expression=(f"{rt}.id",)))
    issues.extend(validation_issues(ctx, resource, [profile] if profile else None))
    if not any(i.severity in ("error", "fatal") for i in issues):
        issues.insert(0, Issue("validation successful", code="informational", severity="information"))
    return FhirResponse(200, operation_outcome(issues))
