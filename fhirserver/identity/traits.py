"""The INS strict traits of a Patient (french-interop.md §1.3), read from and written to FHIR.

Birth family name and first birth given name: ``name[use=official]`` ``family`` / ``given[0]``; list of birth
given names: extension ``fr-core-patient-birth-list-given-name`` (on the official name, as FR Core and the ANS
examples put it; also read on the Patient); sex: ``gender``; birth date: ``birthDate``; birth place:
``patient-birthPlace`` ``valueAddress`` extension ``fr-core-address-insee-code`` (COG code, ``99xxx`` abroad).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["EXT_BIRTH_LIST_GIVEN_NAME", "EXT_BIRTH_PLACE", "EXT_INSEE_CODE", "TRAIT_LABELS", "InsTraits",
           "TRE_R13_COMMUNE", "apply_traits", "changed_traits", "fold", "read_traits"]

EXT_BIRTH_LIST_GIVEN_NAME = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
EXT_INSEE_CODE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
TRE_R13_COMMUNE = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"

TRAIT_LABELS = {
    "birth_family": "birth family name",
    "first_given": "first birth given name",
    "given_list": "list of birth given names",
    "sex": "sex",
    "birth_date": "birth date",
    "birth_place": "birth place INSEE code",
}


@dataclass(frozen=True)
class InsTraits:
    birth_family: str | None = None
    first_given: str | None = None
    given_list: str | None = None
    sex: str | None = None
    birth_date: str | None = None
    birth_place: str | None = None


def fold(text: str | None) -> str:
    """Accent-, case- and punctuation-insensitive form used to compare names (``Hélène-Marie`` -> ``helene marie``)."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    plain = "".join(c if c.isalnum() else " " for c in plain)
    return " ".join(plain.split())


def _official_name(patient: Mapping[str, Any]) -> Mapping[str, Any] | None:
    names = [n for n in patient.get("name") or [] if isinstance(n, Mapping)]
    return next((n for n in names if n.get("use") == "official"), None)


def _ext_value(holder: Mapping[str, Any] | None, url: str, key: str) -> Any:
    for ext in (holder or {}).get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == url:
            return ext.get(key)
    return None


def _strip(value: Any) -> str | None:
    return " ".join(value.split()) if isinstance(value, str) and value.strip() else None


def read_traits(patient: Mapping[str, Any]) -> InsTraits:
    name = _official_name(patient)
    given = [g for g in (name or {}).get("given") or [] if isinstance(g, str)]
    given_list = _ext_value(name, EXT_BIRTH_LIST_GIVEN_NAME, "valueString") or _ext_value(
        patient, EXT_BIRTH_LIST_GIVEN_NAME, "valueString")
    address = _ext_value(patient, EXT_BIRTH_PLACE, "valueAddress")
    insee = _ext_value(address if isinstance(address, Mapping) else None, EXT_INSEE_CODE, "valueCoding")
    return InsTraits(
        birth_family=_strip((name or {}).get("family")),
        first_given=_strip(given[0]) if given else None,
        given_list=_strip(given_list),
        sex=_strip(patient.get("gender")),
        birth_date=_strip(patient.get("birthDate")),
        birth_place=_strip(insee.get("code")) if isinstance(insee, Mapping) else None,
    )


def changed_traits(before: InsTraits, after: InsTraits) -> list[str]:
    """Names of the traits that differ (exact comparison: an accent is a change of a strict trait)."""
    return [f.name for f in fields(InsTraits) if getattr(before, f.name) != getattr(after, f.name)]


def apply_traits(patient: Mapping[str, Any], traits: InsTraits, place_label: str | None = None) -> dict[str, Any]:
    """A copy of ``patient`` carrying ``traits`` (the official name, gender, birth date, birth place); the other
    names and extensions are kept."""
    out = dict(patient)
    names = [dict(n) for n in patient.get("name") or [] if isinstance(n, Mapping)]
    official = next((n for n in names if n.get("use") == "official"), None)
    if official is None:
        official = {"use": "official"}
        names.insert(0, official)
    official["family"] = traits.birth_family
    if traits.first_given:  # FR Core officialName: given 1..1 = the first birth given name
        official["given"] = [traits.first_given]
    else:
        official.pop("given", None)
    exts = [e for e in official.get("extension") or [] if not (isinstance(e, Mapping)
                                                               and e.get("url") == EXT_BIRTH_LIST_GIVEN_NAME)]
    if traits.given_list:
        exts.insert(0, {"url": EXT_BIRTH_LIST_GIVEN_NAME, "valueString": traits.given_list})
    if exts:
        official["extension"] = exts
    else:
        official.pop("extension", None)
    out["name"] = names
    if traits.sex:
        out["gender"] = traits.sex
    if traits.birth_date:
        out["birthDate"] = traits.birth_date
    if traits.birth_place:
        coding: dict[str, Any] = {"system": TRE_R13_COMMUNE, "code": traits.birth_place}
        if place_label:
            coding["display"] = place_label
        exts = [e for e in patient.get("extension") or [] if not (isinstance(e, Mapping)
                                                                  and e.get("url") == EXT_BIRTH_PLACE)]
        old = _ext_value(patient, EXT_BIRTH_PLACE, "valueAddress")
        address = dict(old) if isinstance(old, Mapping) else {}
        address["extension"] = [{"url": EXT_INSEE_CODE, "valueCoding": coding}] + [
            e for e in address.get("extension") or [] if not (isinstance(e, Mapping) and e.get("url") == EXT_INSEE_CODE)]
        if place_label and traits.birth_place.startswith("99"):
            address.pop("city", None)
        elif place_label:
            address["city"] = place_label
        exts.append({"url": EXT_BIRTH_PLACE, "valueAddress": address})
        out["extension"] = exts
    return out
