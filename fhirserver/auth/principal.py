"""Who is calling the FHIR API: the principal built from a validated access token.

The access policy (:mod:`fhirserver.auth.policy`) decides from it; Provenance reads ``fhir_user``. Part 2 of the
authorization issue (professionals by structure, care teams, aidant delegations with Consent, security labels)
adds fields here (``roles``, ``structures``, ``care_teams``, ``delegations``) without changing the callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    #: the usagers this user may act for (own record and links), for user/ scopes of personal users
    patients: frozenset[str] = field(default_factory=frozenset)

    @property
    def fhir_user_type(self) -> str | None:
        return self.fhir_user.split("/", 1)[0] if self.fhir_user else None

    def allowed_patients(self, scope: ResourceScope) -> frozenset[str] | None:
        """The patients whose compartment bounds what ``scope`` grants; None: not bounded by a compartment
        (system scopes, and user scopes of professionals until part 2 narrows them by structure)."""
        if scope.context == "patient":
            return frozenset({self.patient}) if self.patient else frozenset()
        if scope.context == "user" and self.fhir_user_type in PERSONAL_TYPES:
            return self.patients
        return None
