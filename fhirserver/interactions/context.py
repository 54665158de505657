"""Plain request/response objects and the context every interaction receives. No web framework here.

Borrowed from Medplum's fhir-router: a FHIR request in, a response (status + resource + headers) out, so the
whole API is testable without HTTP and reusable inside transaction Bundles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from fhirserver.search.parse import SearchParser, SearchQuery
from fhirserver.search.registry import Registry
from fhirserver.settings import Settings
from fhirserver.storage.sql.repository import SqlRepository


@dataclass
class FhirRequest:
    method: str
    path: str  # relative to the FHIR base, no leading slash: "Patient/1/_history/2", "" for the base
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: Any = None  # parsed JSON resource, JSON Patch list, or None
    base_url: str = ""
    principal: Any = None
    #: id chosen in advance by a transaction for a POST entry (urn:uuid resolution)
    assigned_id: str | None = None
    #: the database session the interaction runs in (set by the router), so that the access policy reads what an
    #: earlier entry of the same transaction Bundle wrote; None outside the router (then the policy opens its own)
    session: Any = field(default=None, repr=False, compare=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def segments(self) -> list[str]:
        return [s for s in self.path.split("/") if s]

    def prefer(self, key: str) -> str | None:
        """One token of the ``Prefer`` header, e.g. ``prefer("return")`` -> ``"minimal"``."""
        for part in (self.header("prefer") or "").split(";"):
            for token in part.split(","):
                name, _, value = token.strip().partition("=")
                if name.strip().lower() == key:
                    return value.strip().strip('"')
        return None


@dataclass
class FhirResponse:
    status: int = 200
    resource: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class AccessPolicy(Protocol):
    """The seam where authorization checks every interaction (implemented by the auth issue).

    ``check`` is called before an interaction runs, ``narrow`` may add clauses to a search (compartment,
    structure, delegation), and ``can_see`` filters every resource about to leave the server.
    """

    def check(self, request: FhirRequest, interaction: str, resource_type: str | None) -> None: ...

    def narrow(self, request: FhirRequest, query: SearchQuery) -> None: ...

    def can_see(self, request: FhirRequest, resource: dict[str, Any]) -> bool: ...


class AllowAll:
    """The policy before authorization lands: everything is allowed (see README, security)."""

    def check(self, request: FhirRequest, interaction: str, resource_type: str | None) -> None:
        return None

    def narrow(self, request: FhirRequest, query: SearchQuery) -> None:
        return None

    def can_see(self, request: FhirRequest, resource: dict[str, Any]) -> bool:
        return True


@dataclass
class Context:
    settings: Settings
    repo: SqlRepository
    registry: Registry
    parser: SearchParser
    policy: AccessPolicy = field(default_factory=AllowAll)
    #: pure checks run on every write and by $validate (fhirserver.interactions.hooks.Validator)
    validators: list[Any] = field(default_factory=list)
    #: domain rules around every write (fhirserver.interactions.hooks.WriteHook), in order
    hooks: list[Any] = field(default_factory=list)
    #: named services built from the settings (e.g. "insi": the INSi teleservice client)
    services: dict[str, Any] = field(default_factory=dict)
