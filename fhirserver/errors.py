"""One error vocabulary for the whole server, translated to HTTP and OperationOutcome in exactly one place.

See https://hl7.org/fhir/R4/operationoutcome.html and https://hl7.org/fhir/R4/http.html (status codes).
Interactions raise :class:`FhirError` subclasses; ``fhirserver.api`` renders them once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: severity, code (IssueType), human text and the element it concerns."""

    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    expression: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            out["expression"] = list(self.expression)
        return out


@dataclass
class FhirError(Exception):
    """Base class: an HTTP status and the issues that explain it."""

    message: str
    issues: list[Issue] = field(default_factory=list)
    status: int = 400
    code: str = "invalid"
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)
        if not self.issues:
            self.issues = [Issue(self.message, code=self.code)]

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}


class _Category(FhirError):
    """A category fixes the HTTP status and the IssueType code; subclasses only set the two class attributes."""

    STATUS = 400
    CODE = "invalid"

    def __init__(self, message: str, issues: list[Issue] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        FhirError.__init__(self, message, list(issues or []), self.STATUS, self.CODE, dict(headers or {}))


# The table: category -> HTTP status + IssueType code.
class Invalid(_Category):
    STATUS, CODE = 400, "invalid"


class NotSupported(_Category):
    STATUS, CODE = 400, "not-supported"


class Unauthorized(_Category):
    STATUS, CODE = 401, "login"


class Forbidden(_Category):
    STATUS, CODE = 403, "forbidden"


class NotFound(_Category):
    STATUS, CODE = 404, "not-found"


class MethodNotAllowed(_Category):
    STATUS, CODE = 405, "not-supported"


class NotAcceptable(_Category):
    STATUS, CODE = 406, "not-supported"


class Conflict(_Category):
    STATUS, CODE = 409, "conflict"


class Gone(_Category):
    STATUS, CODE = 410, "deleted"


class PreconditionFailed(_Category):
    STATUS, CODE = 412, "conflict"


class UnsupportedMediaType(_Category):
    STATUS, CODE = 415, "not-supported"


class Unprocessable(_Category):
    STATUS, CODE = 422, "processing"


class TooCostly(_Category):
    STATUS, CODE = 400, "too-costly"


class MultipleMatches(_Category):
    STATUS, CODE = 412, "multiple-matches"


class Unavailable(_Category):
    STATUS, CODE = 503, "transient"


#: HTTP status -> the category an in-process client raises for it (412: PreconditionFailed, whose
#: MultipleMatches subclass shares the status; 400: Invalid)
_BY_STATUS: dict[int, type[_Category]] = {
    400: Invalid, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed, 406: NotAcceptable,
    409: Conflict, 410: Gone, 412: PreconditionFailed, 415: UnsupportedMediaType, 422: Unprocessable,
    503: Unavailable,
}


def issues_of(outcome: Any) -> list[Issue]:
    """The issues of an OperationOutcome (JSON); anything else gives none."""
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return []
    found: list[Issue] = []
    for item in outcome.get("issue") or []:
        if not isinstance(item, dict):
            continue
        expression = item.get("expression") or ()
        found.append(Issue(str(item.get("diagnostics") or ""), code=str(item.get("code") or "invalid"),
                           severity=str(item.get("severity") or "error"),
                           expression=tuple(str(e) for e in expression if isinstance(e, str))))
    return found


def error_from_outcome(status: int, outcome: Any, headers: dict[str, str] | None = None) -> FhirError:
    """The error an answer of ``status`` (>= 400) and body ``outcome`` (an OperationOutcome, or anything) stands
    for: the category of the status table above carrying the outcome's issues (the reverse of
    :meth:`FhirError.outcome`). 400 with a ``too-costly`` or ``not-supported`` issue and 412 with a
    ``multiple-matches`` one give those finer categories; a status outside the table (a 500) gives a plain
    :class:`FhirError` of that status."""
    issues = issues_of(outcome)
    first = issues[0] if issues else None
    message = first.diagnostics if first and first.diagnostics else f"HTTP {status}"
    codes = {i.code for i in issues}
    category: type[_Category] | None = _BY_STATUS.get(status)
    if status == 412 and "multiple-matches" in codes:
        category = MultipleMatches
    elif status == 400 and "too-costly" in codes:
        category = TooCostly
    elif status == 400 and "not-supported" in codes:
        category = NotSupported
    if category is None:
        return FhirError(message, issues, status, first.code if first else "exception", dict(headers or {}))
    return category(message, issues, headers)
