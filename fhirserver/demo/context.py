"""The state of one demo generation: the seeded random source, the resources emitted so far, the staff, the
identifiers already drawn. Every random draw of the data set goes through ``DemoContext.rng``, in a fixed order."""

from __future__ import annotations

import random
from datetime import date

from fhirserver.demo.data.places import Commune
from fhirserver.demo.helpers import Resource
from fhirserver.demo.model import Staff, Structure
from fhirserver.identity.keys import luhn_check_digit, nir_key

# Types in the order the entries are emitted: referenced resources come before referencing ones.
TYPE_ORDER = [
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "RelatedPerson",
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "MedicationStatement",
    "Goal",
    "Consent",
    "CareTeam",
    "CarePlan",
    "DocumentReference",
    "Immunization",
]


class DemoContext:
    """What the builders of :mod:`fhirserver.demo` share; all randomness comes from one seeded ``random.Random``."""

    def __init__(self, seed: int, usagers: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.n_usagers = usagers
        self.resources: dict[str, list[Resource]] = {rt: [] for rt in TYPE_ORDER}
        self.staff: dict[str, Staff] = {}
        self.used_rpps: set[str] = set()
        self.used_nir: set[str] = set()
        self.phone_counter = 0

    # -- utilities -------------------------------------------------------------------------------------------
    def add(self, resource: Resource) -> Resource:
        self.resources[resource["resourceType"]].append(resource)
        return resource

    def random_date(self, start: date, end: date) -> date:
        return date.fromordinal(self.rng.randint(start.toordinal(), end.toordinal()))

    def fiction_phone(self, mobile: bool = False) -> str:
        # ARCEP numbers reserved for fiction: 04 65 71 xx xx (landline, south-east), 06 39 98 xx xx (mobile).
        self.phone_counter += 1
        suffix = f"{self.phone_counter:04d}"
        prefix = "06 39 98" if mobile else "04 65 71"
        return f"{prefix} {suffix[:2]} {suffix[2:]}"

    def new_finess(self, exclude: set[str]) -> str:
        while True:
            payload = "690" + "".join(str(self.rng.randint(0, 9)) for _ in range(5))
            finess = payload + str(luhn_check_digit(payload))
            if finess not in exclude:
                return finess

    def new_rpps(self) -> str:
        while True:
            payload = "10" + "".join(str(self.rng.randint(0, 9)) for _ in range(8))
            rpps = payload + str(luhn_check_digit(payload))
            if rpps not in self.used_rpps:
                self.used_rpps.add(rpps)
                return rpps

    def new_nir(self, gender: str, birth: date, commune: Commune) -> str:
        while True:
            order = self.rng.randint(1, 999)
            nir13 = (
                f"{1 if gender == 'male' else 2}{birth.year % 100:02d}{birth.month:02d}"
                f"{commune.insee[:2]}{commune.insee[2:]}{order:03d}"
            )
            nir = f"{nir13}{nir_key(nir13):02d}"
            if nir not in self.used_nir:
                self.used_nir.add(nir)
                return nir

    def pick_staff(self, structure: Structure, role_key: str) -> Staff:
        return self.staff[self.rng.choice(structure.staff[role_key])]

    def first_staff(self, structure: Structure, role_key: str) -> Staff:
        return self.staff[structure.staff[role_key][0]]
