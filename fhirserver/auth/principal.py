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

from fhirserver.auth.scopes import ResourceScope

#: fhirUser types acting for identified usagers only: their user/ scopes stop at those usagers' records
PERSONAL_TYPES = frozenset({"Patient", "RelatedPerson", "Person"})


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
