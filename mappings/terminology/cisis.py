"""CI-SIS value-set conversions that are more than a change of system (ANS CI-SIS, "jeux de valeurs" of the
ANS kit ``jeuxDeValeurs/``; french-interop.md §4).

* JDV_J01 XdsAuthorSpecialty (``1.2.250.1.213.1.1.5.461``): a TRE_G15 profession ``10`` is the J01 code
  ``G15_10`` in system ``1.2.250.1.213.1.1.4.5`` (profession / savoir-faire); a TRE_R38 specialty ``SM26`` of a
  profession gives ``G15_10/SM26``; TRE_R85 roles (``1.2.250.1.213.1.6.1.107``) and TRE_R94 social professions
  (``1.2.250.1.213.1.6.1.4``) are J01 codes as they are.
* JDV_J47 FunctionCode (``1.2.250.1.213.1.1.5.124``): TRE_R85 roles.
* Confidentiality (``2.16.840.1.113883.5.25``, value set ``2.16.840.1.113883.1.11.10228``): N, R, V.
* Administrative gender (JDV_J143): F, M, UN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mappings.terminology import NOS, oid_of

__all__ = ["ACT_CODE_OID", "CONFIDENTIALITY", "DISPLAYS", "PRACTICE_SETTINGS", "TITLES", "ENCOUNTER_CLASS", "ENCOUNTER_DISPLAY", "ESSMS",
           "FACILITY_BY_CATEGORY", "FACILITY_DEFAULT", "G15", "R02_OID", "J01_PROFESSION_OID", "R38", "R85", "R94", "SEX", "author_specialty",
           "function_code"]

G15 = f"{NOS}/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
R38 = f"{NOS}/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
R85 = f"{NOS}/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge"
R94 = f"{NOS}/TRE_R94-ProfessionSocial/FHIR/TRE-R94-ProfessionSocial"
J01_PROFESSION_OID = "1.2.250.1.213.1.1.4.5"
R85_OID = "1.2.250.1.213.1.6.1.107"

#: code -> display (HL7 v3 Confidentiality as CI-SIS displays it)
CONFIDENTIALITY = {"N": "Normal", "R": "Restreint", "V": "Très restreint"}
#: FHIR AdministrativeGender -> JDV_J143 code
SEX = {"female": "F", "male": "M", "other": "UN", "unknown": "UN"}


def _codings(concepts: list[Any]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for concept in concepts:
        if isinstance(concept, Mapping):
            if "coding" in concept:
                out.extend(c for c in concept.get("coding") or [] if isinstance(c, Mapping))
            elif "code" in concept:
                out.append(concept)
    return out


def author_specialty(concepts: list[Any]) -> tuple[str, str, str | None] | None:
    """The JDV_J01 ``(code, codeSystem OID, display)`` of the first usable coding among ``concepts``
    (CodeableConcepts or Codings): a TRE_G15 profession (with a TRE_R38 specialty when one is given), else a
    TRE_R85 role or TRE_R94 social profession; None when none is there."""
    codings = _codings(concepts)
    specialty = next((c for c in codings if c.get("system") == R38 and c.get("code")), None)
    for coding in codings:
        if coding.get("system") == G15 and coding.get("code"):
            code = f"G15_{coding['code']}"
            if specialty is not None:
                return f"{code}/{specialty['code']}", J01_PROFESSION_OID, specialty.get("display")
            return code, J01_PROFESSION_OID, coding.get("display")
    for coding in codings:
        if coding.get("system") in (R85, R94) and coding.get("code"):
            oid = oid_of(str(coding["system"]))
            assert oid is not None
            return str(coding["code"]), oid, coding.get("display")
    return None


def function_code(concepts: list[Any]) -> tuple[str, str, str | None] | None:
    """The JDV_J47 ``(code, codeSystem OID, display)`` of the first TRE_R85 role among ``concepts``."""
    for coding in _codings(concepts):
        if coding.get("system") == R85 and coding.get("code"):
            return str(coding["code"]), R85_OID, coding.get("display")
    return None


#: TRE_R66 FINESS category of a structure -> TRE_R02 secteur d'activité (JDV_J02 healthCareFacility code), for a
#: document whose DocumentReference gives no facilityType. EHPAD / EHPA / résidence autonomie are SA17; MAS, FAM,
#: IME, ESAT are SA16; any other medico-social category (SSIAD, SAAD …) is SA41 "autre établissement du domaine
#: social ou médico-social" (a conservative choice: the ANS publishes no FINESS -> R02 table).
FACILITY_BY_CATEGORY: dict[str, tuple[str, str]] = {
    **{c: ("SA17", "Etablissement pour personnes âgées") for c in ("500", "501", "502", "202")},
    **{c: ("SA16", "Etablissement pour personnes handicapées") for c in ("255", "437", "183", "246")},
}
FACILITY_DEFAULT = ("SA41", "Autre établissement du domaine social ou médico-social")
R02_OID = "1.2.250.1.71.4.2.4"
#: JDV_J04 code of every ESSMS (TRE_A01 cadre d'exercice)
ESSMS = ("ESSMS", "1.2.250.1.213.1.1.4.9", "Etablissement ou Service Social ou Médico-Social")
#: HL7 v3 ActCode encounter classes -> JDV_J142 TypeRencontre (IMP, EMER, AMB, FLD, HH, VR)
ENCOUNTER_CLASS = {"IMP": "IMP", "ACUTE": "IMP", "NONAC": "IMP", "EMER": "EMER", "AMB": "AMB", "FLD": "FLD",
                   "HH": "HH", "VR": "VR"}
ENCOUNTER_DISPLAY = {
    "IMP": "Hospitalisation (établissement, y compris HAD)", "EMER": "Passage aux urgences (établissement)",
    "AMB": "Ambulatoire (hors établissement)", "FLD": "Terrain (voie publique, hélicoptère, ambulance, etc.)",
    "HH": "Soins à domicile (hors établissement)", "VR": "Virtuelle (exemple : RCP en l'absence du patient)"}
ACT_CODE_OID = "2.16.840.1.113883.5.4"

#: JDV_J04 practice settings of TRE_A01 (code -> display), used when a coding carries no display
PRACTICE_SETTINGS = {
    "AMBULATOIRE": "Ambulatoire", "AMO": "Organisme d'assurance maladie obligatoire", "DEPISTAGE": "Dépistage",
    "ESSMS": "Etablissement ou Service Social ou Médico-Social", "ETABLISSEMENT": "Etablissement de santé",
    "HAD": "Hospitalisation à domicile", "MAD": "Maintien à domicile", "PALLIATIF": "Soins palliatifs",
    "SAD": "Soins à domicile", "SAMU_SMUR": "SAMU/SMUR",
}
#: (code system OID, code) -> display, for codings that come without one (the CI-SIS rules require displayName)
DISPLAYS: dict[tuple[str, str], str] = {
    **{("1.2.250.1.213.1.1.4.9", code): display for code, display in PRACTICE_SETTINGS.items()},
    (R02_OID, "SA16"): "Etablissement pour personnes handicapées",
    (R02_OID, "SA17"): "Etablissement pour personnes âgées",
    (R02_OID, "SA18"): "Etablissement aide à la famille",
    (R02_OID, "SA41"): "Autre établissement du domaine social ou médico-social",
}
#: JDV_J246 Titre CISIS (``1.2.250.1.213.1.6.1.11``): the only name suffixes the header rules accept
TITLES = frozenset({"DR", "MC", "MG", "PC", "PG", "PR"})
