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

__all__ = ["CONFIDENTIALITY", "G15", "J01_PROFESSION_OID", "R38", "R85", "R94", "SEX", "author_specialty",
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
