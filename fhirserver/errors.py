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


def _category(name: str, status: int, code: str) -> type[FhirError]:
    def init(self: FhirError, message: str, issues: list[Issue] | None = None,
             headers: dict[str, str] | None = None) -> None:
        FhirError.__init__(self, message, list(issues or []), status, code, dict(headers or {}))

    return type(name, (FhirError,), {"__init__": init, "__doc__": f"HTTP {status}, issue code {code!r}."})


# The table: category -> HTTP status + IssueType code.
Invalid = _category("Invalid", 400, "invalid")
NotSupported = _category("NotSupported", 400, "not-supported")
Unauthorized = _category("Unauthorized", 401, "login")
Forbidden = _category("Forbidden", 403, "forbidden")
NotFound = _category("NotFound", 404, "not-found")
MethodNotAllowed = _category("MethodNotAllowed", 405, "not-supported")
NotAcceptable = _category("NotAcceptable", 406, "not-supported")
Conflict = _category("Conflict", 409, "conflict")
Gone = _category("Gone", 410, "deleted")
PreconditionFailed = _category("PreconditionFailed", 412, "conflict")
UnsupportedMediaType = _category("UnsupportedMediaType", 415, "not-supported")
Unprocessable = _category("Unprocessable", 422, "processing")
TooCostly = _category("TooCostly", 400, "too-costly")
MultipleMatches = _category("MultipleMatches", 412, "multiple-matches")
