"""Operation inputs: the URL parameters and a ``Parameters`` body, read the same way by every operation
(https://hl7.org/fhir/R4/operations.html#request: GET carries them in the URL, POST in a Parameters resource).
"""

from __future__ import annotations

from typing import Any

from fhirserver.errors import Invalid, Issue
from fhirserver.interactions.context import FhirRequest


def inputs(req: FhirRequest) -> list[tuple[str, Any]]:
    """URL parameters, then the body's parameters, as (name, value[x] or resource) pairs in order. A body that is
    not a ``Parameters`` resource is a 400."""
    out: list[tuple[str, Any]] = list(req.params)
    body = req.body
    if body is None:
        return out
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise Invalid("the body of this operation must be a Parameters resource (or be empty)")
    for p in body.get("parameter") or []:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            continue
        value = p["resource"] if "resource" in p else next((v for k, v in p.items() if k.startswith("value")), None)
        out.append((p["name"], value))
    return out


def one(given: list[tuple[str, Any]], name: str) -> Any:
    """The value of a single-valued input (None when absent); given twice is a 400 (which one would be meant?)."""
    values = [v for k, v in given if k == name]
    if len(values) > 1:
        message = f"parameter {name!r} is given more than once"
        raise Invalid(message, [Issue(message, expression=(name,))])
    return values[0] if values else None


def flag(given: list[tuple[str, Any]], name: str) -> bool | None:
    """A boolean input: ``valueBoolean`` or the text ``true``/``false``; None when absent; anything else is a 400
    naming the parameter."""
    value = one(given, name)
    if value is None or isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    message = f"parameter {name!r} must be true or false, found {value!r}"
    raise Invalid(message, [Issue(message, expression=(name,))])
