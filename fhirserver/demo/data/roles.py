"""Staff roles (professions, functional roles) and aidant relationships of the demo data set."""

from __future__ import annotations

from dataclasses import dataclass

from fhirserver.demo.systems import TRE_G15_PROFESSION, TRE_R85_ROLE


@dataclass(frozen=True)
class RoleDef:
    key: str
    label_male: str
    label_female: str
    profession_system: str | None
    profession_code: str | None
    profession_display: str | None
    has_rpps: bool
    prefix: str | None = None

    def label(self, gender: str) -> str:
        return self.label_female if gender == "female" else self.label_male


# Profession codes: TRE_G15 (médecin 10, infirmier 60, ergothérapeute 94); aide-soignant: TRE_R85 #313 because
# TRE_G15 #35 is deprecated since 2024-12; psychologue: TRE_G15 #93 is deprecated, so plain text only.
ROLES: dict[str, RoleDef] = {
    r.key: r
    for r in [
        RoleDef(
            "medco",
            "Médecin coordonnateur",
            "Médecin coordonnatrice",
            TRE_G15_PROFESSION,
            "10",
            "Médecin",
            True,
            "Dr",
        ),
        RoleDef(
            "idec",
            "Infirmier coordinateur (IDEC)",
            "Infirmière coordinatrice (IDEC)",
            TRE_G15_PROFESSION,
            "60",
            "Infirmier",
            True,
        ),
        RoleDef(
            "ide",
            "Infirmier diplômé d'État",
            "Infirmière diplômée d'État",
            TRE_G15_PROFESSION,
            "60",
            "Infirmier",
            True,
        ),
        RoleDef("as", "Aide-soignant", "Aide-soignante", TRE_R85_ROLE, "313", "Aide-soignant", False),
        RoleDef("psy", "Psychologue", "Psychologue", None, None, None, False),
        RoleDef("ergo", "Ergothérapeute", "Ergothérapeute", TRE_G15_PROFESSION, "94", "Ergothérapeute", True),
    ]
}

# Functional role of each staff role (JDV_J47-FunctionCode-CISIS, TRE_R85 part): coordinators coordinate the
# usager's path, the others are members of the care team.
ROLE_FUNCTIONS: dict[str, tuple[str, str]] = {
    "medco": ("330", "Coordonnateur de parcours"),
    "idec": ("330", "Coordonnateur de parcours"),
    "ide": ("353", "Membre de l'équipe de soins"),
    "as": ("353", "Membre de l'équipe de soins"),
    "psy": ("353", "Membre de l'équipe de soins"),
    "ergo": ("353", "Membre de l'équipe de soins"),
}

# (relationship code, v3 display, TRE_R216 display, French text, gender)
RELATIONS: dict[str, tuple[str, str, str, str]] = {
    "DAU": ("natural daughter", "Fille biologique", "Fille", "female"),
    "SON": ("natural son", "Fils biologique", "Fils", "male"),
    "NIECE": ("niece", "Nièce", "Nièce", "female"),
    "NEPHEW": ("nephew", "Neveu", "Neveu", "male"),
    "GRNDDAU": ("granddaughter", "Petite-fille", "Petite-fille", "female"),
    "GRNDSO": ("grandson", "Petit-fils", "Petit-fils", "male"),
}
AIDANT_ROLES = {
    "CAREGIVER": "Aidant",
    "NOK": "Personne de confiance",
    "ECON": "Personne à prévenir",
}
