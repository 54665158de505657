"""Who is calling the FHIR API: the principal built from a validated access token.

The access policy (:mod:`fhirserver.auth.policy`) decides from it; Provenance reads ``fhir_user``. What the user
can reach (structures, care teams, delegations, usagers: :class:`fhirserver.auth.reach.Reach`) is computed from the
FHIR resources once per request, the first time the policy needs it, and kept in ``memo`` for that request only (a
new principal is built for every request, so a revoked delegation or a removed PractitionerRole applies to the next
one: ASVS 8.3.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhirserver.auth.scopes import ResourceScope, resource_scopes

#: fhirUser types acting for identified usagers only: their user/ scopes stop at those usagers' records
PERSONAL_TYPES = frozenset({"Patient", "RelatedPerson", "Person"})
#: the client id of the server's own components (:func:`system_principal`); no OAuth client of that name
SYSTEM_CLIENT_ID = "dui-system"
#: what a component may do: every interaction on every type, bounded by the scopes only (like the operator)
SYSTEM_SCOPE = "system/*.cruds"


@dataclass(frozen=True)
class Principal:
    client_id: str
    scope: str
    scopes: tuple[ResourceScope, ...]
    token_id: str
    grant_id: str
    subject: str  # the user's name, or the client id of a Backend Services client
    fhir_user: str | None = None  # relative reference: Patient/ID, RelatedPerson/ID, Practitioner/ID …
    patient: str | None = None  # the launch context (patient/ scopes)
    encounter: str | None = None
    #: the Patient records of the account (own record and ``dui users link`` links); they bound a usager's
    #: user/ scopes; for aidants and professionals the reach decides (links grant them nothing)
    patients: frozenset[str] = field(default_factory=frozenset)
    #: the in-process component acting (``dui worker``, ``dui mss ingest`` …: :func:`system_principal`); None for
    #: the principal of an access token. The audit trail records it as the requesting application agent.
    component: str | None = None
    #: per-request memo of the access policy (the reach); never shared between requests
    memo: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def fhir_user_type(self) -> str | None:
        return self.fhir_user.split("/", 1)[0] if self.fhir_user else None

    def allowed_patients(self, scope: ResourceScope) -> frozenset[str] | None:
        """The account-level bound of ``scope`` before the reach is known: the launch patient for patient/ scopes,
        the account's Patient records for user/ scopes, None (unbounded) for system/ scopes. The policy intersects
        this with the reach (structures, care teams, delegations)."""
        if scope.context == "patient":
            return frozenset({self.patient}) if self.patient else frozenset()
        if scope.context == "user":
            return self.patients if self.fhir_user_type == "Patient" else frozenset()
        return None


def system_principal(component: str) -> Principal:
    """The principal of one of the server's own components (the CLI, the worker, the MSSanté ingest, the demo
    loader) calling the FHIR interactions in process: ``system/*.cruds``, so the access policy treats it as an
    unbounded system client, and ``component`` (e.g. ``"dui worker"``) names it in the AuditEvents. It comes from
    no token: ``token_id`` and ``grant_id`` are empty, and nothing revokes it. Build one per unit of work."""
    if not component.strip():
        raise ValueError("a system principal names the component acting")
    return Principal(client_id=SYSTEM_CLIENT_ID, scope=SYSTEM_SCOPE, scopes=resource_scopes(SYSTEM_SCOPE),
                     token_id="", grant_id="", subject=component, component=component)
