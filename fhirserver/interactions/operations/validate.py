"""$validate — https://hl7.org/fhir/R4/resource-operation-validate.html.

Parameters in (``resource``, ``mode``, ``profile``) or a bare resource; an OperationOutcome out (200 whether
the resource is valid or not, as the operation defines). The structural check, then every validator of the
context (profiles, national identifiers …) with the profiles asked for — ``profile`` in the query string
(``$validate?profile=<url>``, repeatable) or in the Parameters body (``valueUri``/``valueCanonical``) — followed by
the profiles the resource claims in ``meta.profile``. An unknown profile gives a ``not-supported`` warning (an error
when ``validation.strict_profiles``), a profile of another resource type an error.
"""

from __future__ import annotations

from typing import Any

from fhirserver.errors import FhirError, Invalid, Issue, operation_outcome
from fhirserver.interactions.common import check_type
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.hooks import claimed_profiles, validation_issues
from fhirserver.storage.sql.repository import SqlSession
from fhirserver.validation.structural import validate_resource


def _params(parameters: dict[str, Any], name: str) -> list[Any]:
    return [p.get("resource") or next((v for k, v in p.items() if k.startswith("value")), None)
            for p in parameters.get("parameter", []) if isinstance(p, dict) and p.get("name") == name]


def _param(parameters: dict[str, Any], name: str) -> Any:
    values = _params(parameters, name)
    return values[0] if values else None


def _profiles(asked: list[Any], resource: dict[str, Any]) -> list[str]:
    """The profiles asked for, then the ones the resource claims (each once)."""
    for value in asked:
        if not isinstance(value, str) or not value.strip():
            raise Invalid(f"$validate: the profile parameter must be a canonical URL, got {value!r}")
    return list(dict.fromkeys([*(a.strip() for a in asked), *claimed_profiles(resource)]))


def validate(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    rt = check_type(req.segments[0])
    ctx.policy.check(req, "operation", rt)
    body = req.body
    mode = req.param("mode")
    asked: list[Any] = [value for key, value in req.params if key == "profile"]
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        resource = _param(body, "resource")
        mode = _param(body, "mode") or mode
        asked += _params(body, "profile")
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
    issues.extend(validation_issues(ctx, resource, _profiles(asked, resource)))
    if not any(i.severity in ("error", "fatal") for i in issues):
        issues.insert(0, Issue("validation successful", code="informational", severity="information"))
    return FhirResponse(200, operation_outcome(issues))
