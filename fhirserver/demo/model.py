"""The demo world's entities while it is generated: a structure, a staff member, a usager (not FHIR resources)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fhirserver.demo.data.places import Commune
from fhirserver.demo.data.roles import RoleDef


@dataclass
class Structure:
    key: str
    org_id: str
    name: str
    team: str  # "l'équipe de l'EHPAD ..." -- French article depends on the structure name
    finess: str
    commune: Commune
    line: str
    phone: str
    email: str
    units: list[tuple[str, str, str]]  # (location id, name, description)
    staff: dict[str, list[str]] = field(default_factory=dict)  # role key -> practitioner ids

    @property
    def local_prefix(self) -> str:
        # TDDUI local identifiers are "3" + FINESS + "/" + local id.
        return f"3{self.finess}"


@dataclass
class Staff:
    pid: str
    role: RoleDef
    gender: str
    given: str
    family: str
    structure: Structure

    @property
    def display(self) -> str:
        prefix = f"{self.role.prefix} " if self.role.prefix else ""
        return f"{prefix}{self.given} {self.family}"

    @property
    def role_id(self) -> str:
        return f"{self.pid}-role"


@dataclass
class Usager:
    pid: str
    index: int
    structure: Structure
    gender: str
    given: list[str]
    birth_family: str
    used_family: str | None
    birth_date: date
    birth_commune: Commune
    marital: str
    has_ins: bool
    admission: date
    unit_id: str
    local_id: str
    nir: str | None = None
    conditions: list[str] = field(default_factory=list)
    onsets: dict[str, date] = field(default_factory=dict)
    address: dict[str, Any] = field(default_factory=dict)
    aidants: list[str] = field(default_factory=list)

    @property
    def family(self) -> str:
        return self.used_family or self.birth_family

    @property
    def civility(self) -> str:
        return "Mme" if self.gender == "female" else "M."

    @property
    def display(self) -> str:
        return f"{self.civility} {self.given[0]} {self.family}"
