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
