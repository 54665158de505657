"""Plain request/response objects and the context every interaction receives. No web framework here.

Borrowed from Medplum's fhir-router: a FHIR request in, a response (status + resource + headers) out, so the
whole API is testable without HTTP and reusable inside transaction Bundles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fhirserver.search.parse import SearchParser, SearchQuery
from fhirserver.search.registry import Registry
from fhirserver.settings import Settings
from fhirserver.storage.base import StoredResource
from fhirserver.storage.sql.repository import SqlRepository, SqlSession

if TYPE_CHECKING:  # the services' own modules import this one; only their types are needed here
    from fhirserver.audit.trail import AuditTrail
    from fhirserver.identity.insi import InsiClient
    from fhirserver.integrations.dmp.client import DmpClient
    from fhirserver.integrations.outbox.store import OutboxQueue
    from fhirserver.integrations.outbox.types import Deliverer
    from mappings.cda.validate import CdaValidator


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

    def check_write(self, request: FhirRequest, resource_type: str, old: dict[str, Any] | None,
                    new: dict[str, Any] | None) -> None:
        """Judge the final form of a write (``old``: the stored version or None; ``new``: the body after the
        write hooks, or None for a delete); raise a FhirError to refuse it. Called by every create, update,
        patch, delete and ``$meta-add`` / ``$meta-delete``."""
        ...


class AllowAll:
    """The policy before authorization lands: everything is allowed (see README, security)."""

    def check(self, request: FhirRequest, interaction: str, resource_type: str | None) -> None:
        return None

    def narrow(self, request: FhirRequest, query: SearchQuery) -> None:
        return None

    def can_see(self, request: FhirRequest, resource: dict[str, Any]) -> bool:
        return True

    def check_write(self, request: FhirRequest, resource_type: str, old: dict[str, Any] | None,
                    new: dict[str, Any] | None) -> None:
        return None


#: a rule run on a transaction Bundle claiming a profile, before its entries: (bundle, request, ctx) -> bundle
BundleRule = Callable[[dict[str, Any], FhirRequest, "Context"], dict[str, Any]]
#: the N1 CDA document of a DocumentReference's file: (request, context, session, DocumentReference) -> bytes
N1Generator = Callable[[FhirRequest, "Context", SqlSession, StoredResource], bytes]


class MailService(Protocol):
    """What the kernel needs to know of the MSSanté service (:class:`fhirserver.integrations.mssante.service.
    MssanteService`, registered by the domain): the inbox ``dui mss ingest`` files. Named here as a protocol, not
    imported, because that module depends on the interactions (its ingest writes through :class:`Fhir`)."""

    def open_inbox(self) -> Any: ...

    def ingest(self, ctx: Context, inbox: Any) -> Any: ...


@dataclass
class Services:
    """The services the domain registers on a context (:func:`fhirserver.domain.configure`), so that
    operations reach the integrations without importing them. A bare context (the FHIR core alone) has none:
    each reader says what it does without its service."""

    #: the INSi teleservice client (simulator or SOAP seam, ``[identity] insi_client``); None: built on use
    insi: InsiClient | None = None
    #: the ANS CDA kit validator (``[cda] kit_dir``); None: no kit, every CDA-producing operation answers 503
    cda_validator: CdaValidator | None = None
    #: the generator of the N1 document for $send-to-dmp / $send-mssante; None: the built-in one
    n1_generator: N1Generator | None = None
    #: the DMP client (``[dmp] transport``: XDS.b SOAP or PDSm); opens nothing until used
    dmp: DmpClient | None = None
    #: the outbox operations queue documents in, in their own transaction
    outbox: OutboxQueue | None = None
    #: outbox kind ("dmp", "mssante") -> the deliverer ``dui worker`` hands its items to
    deliverers: dict[str, Deliverer] = field(default_factory=dict)
    #: the AuditEvent trail (fail closed); None: nothing is audited
    audit: AuditTrail | None = None
    #: the MSSanté service (composing, sending through the outbox, ingesting the inbox)
    mssante: MailService | None = None
    #: profile URL -> the rule a transaction Bundle claiming it goes through (e.g. the TDDUI import)
    bundle_rules: dict[str, BundleRule] = field(default_factory=dict)


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
    #: the services built from the settings (INSi, CDA validator, DMP, outbox, audit ...)
    services: Services = field(default_factory=Services)
