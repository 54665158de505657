"""Typed input of a CDA R2 document header (CI-SIS "Structuration minimale des documents de santé").

Plain frozen dataclasses: what :func:`mappings.cda.header.build_header` needs, already resolved (OIDs, CDA codes,
dates in FHIR form). The ``*_from_fhir`` functions at the end build them from FHIR R4 JSON dicts; a caller may
also build them by hand (tests, other sources). Dates and times are FHIR strings (``2026-04-22``,
``2026-04-22T16:00:00+02:00``), converted by :func:`mappings.cda.datatypes.ts_value`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from mappings.terminology import cisis, oid_of

__all__ = ["Address", "Author", "Code", "Document", "Encounter", "Identifier", "LegalAuthenticator", "ModelError",
           "Organization", "Patient", "PersonName", "Professional", "ServiceEvent", "Telecom", "VoletParts",
           "address_from_fhir", "code_from_fhir", "confidentiality_from_fhir", "name_from_fhir",
           "organization_from_fhir", "patient_from_fhir", "professional_from_fhir", "professional_id",
           "structure_id", "telecoms_from_fhir"]


@dataclass(frozen=True)
class Identifier:
    """An HL7 II: ``root`` (OID or UUID), optional ``extension``."""

    root: str
    extension: str | None = None


@dataclass(frozen=True)
class Code:
    """An HL7 CD/CE/CV: a code in a code system given by its OID."""

    code: str
    system: str
    display: str | None = None
    system_name: str | None = None


@dataclass(frozen=True)
class Telecom:
    """An HL7 TEL: the URL (``tel:0144534551``, ``mailto:x@y.fr``) and the CI-SIS use code (H, WP, MC …)."""

    url: str
    use: str | None = None


@dataclass(frozen=True)
class Address:
    """An HL7 AD; ``county`` is the INSEE (COG) code of a commune, as CI-SIS puts it for the birth place."""

    lines: tuple[str, ...] = ()
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    county: str | None = None
    use: str | None = None


@dataclass(frozen=True)
class PersonName:
    """The name of a professional (no CI-SIS qualifiers)."""

    family: str
    given: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()


@dataclass(frozen=True)
class Patient:
    """``recordTarget/patientRole``: identifiers (the INS first when it may be transmitted) and the INS traits.

    ``birth_given_names`` is the full list of birth given names (one string, as the INSi returns it),
    ``first_given`` the first of them; ``used_family`` / ``used_given`` the names used (RNIV *nom utilisé*,
    *prénom utilisé*), written with qualifier ``CL`` only when they differ from the birth ones.
    """

    ids: tuple[Identifier, ...]
    birth_family: str
    first_given: str
    birth_given_names: str | None = None
    used_family: str | None = None
    used_given: str | None = None
    sex: str = "UN"  # JDV_J143: F, M, UN
    birth_date: str | None = None
    birth_place: Address | None = None
    addresses: tuple[Address, ...] = ()
    telecoms: tuple[Telecom, ...] = ()


@dataclass(frozen=True)
class Organization:
    """A structure: its national id (root ``1.2.250.1.71.4.2.2``), name, contacts, and its
    ``standardIndustryClassCode`` (JDV_J04 cadre d'exercice) when it is the one of an author or performer."""

    id: Identifier
    name: str | None = None
    telecoms: tuple[Telecom, ...] = ()
    addresses: tuple[Address, ...] = ()
    industry_class: Code | None = None


@dataclass(frozen=True)
class Professional:
    """A person acting for a structure: IDNPS id (root ``1.2.250.1.71.4.2.1``), name, JDV_J01 profession /
    specialty ``code``, JDV_J47 ``function_code`` (role), organization."""

    id: Identifier
    name: PersonName
    code: Code | None = None
    function_code: Code | None = None
    organization: Organization | None = None
    telecoms: tuple[Telecom, ...] = ()
    addresses: tuple[Address, ...] = ()


@dataclass(frozen=True)
class Author:
    """``author``: when and who."""

    time: str
    professional: Professional


@dataclass(frozen=True)
class LegalAuthenticator:
    """``legalAuthenticator``: when the responsible person signed (``signatureCode S``) and who."""

    time: str
    professional: Professional


@dataclass(frozen=True)
class ServiceEvent:
    """``documentationOf/serviceEvent``: the documented act, its period and its main performer (``PRF``), whose
    organization carries the practice setting (JDV_J04, the XDS practiceSettingCode)."""

    low: str
    performer: Professional
    practice_setting: Code
    high: str | None = None
    code: Code | None = None


@dataclass(frozen=True)
class Encounter:
    """``componentOf/encompassingEncounter``: period, type (JDV_J142), and the facility whose code (JDV_J02) is
    the XDS healthcareFacilityTypeCode."""

    low: str | None
    facility_code: Code
    high: str | None = None
    code: Code | None = None
    facility_id: Identifier | None = None
    facility_name: str | None = None
    facility_address: Address | None = None


@dataclass(frozen=True)
class Document:
    """Everything the CI-SIS header of one document needs."""

    id: Identifier
    set_id: Identifier
    version: int
    code: Code  # JDV_J07 type code
    title: str
    effective_time: str
    confidentiality: Code  # N / R / V in 2.16.840.1.113883.5.25
    patient: Patient
    authors: tuple[Author, ...]
    custodian: Organization
    legal_authenticator: LegalAuthenticator
    service_event: ServiceEvent
    encounter: Encounter
    replaces: Identifier | None = None  # relatedDocument RPLC parentDocument/id
    language: str = "fr-FR"


@dataclass(frozen=True)
class VoletParts:
    """What a volet adds to the common header: its templateIds (after the HL7 France and CI-SIS ones), extra
    ``participant`` and ``informant`` elements (built by the volet, inserted at their schema place), and the
    serviceEvent / encounter codes when the volet fixes them."""

    template_ids: tuple[Identifier, ...]
    participants: tuple[etree._Element, ...] = field(default=())
    informants: tuple[etree._Element, ...] = field(default=())
    service_event_code: Code | None = None
    encounter_code: Code | None = None


# ----------------------------------------------------------------------------------------------------------
# From FHIR R4 JSON (pure: the caller has read the resources and decided what may be transmitted)
# ----------------------------------------------------------------------------------------------------------
class ModelError(ValueError):
    """A FHIR resource lacks what the CDA header needs; ``element`` is the FHIR path at fault."""

    def __init__(self, message: str, element: str) -> None:
        super().__init__(message)
        self.element = element


IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
IDNST_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
_RPPS_SYSTEMS = ("https://rpps.esante.gouv.fr", "http://rpps.fr")
_ADELI_SYSTEMS = ("https://adeli.esante.gouv.fr",)
_FINESS_SYSTEMS = ("https://finess.esante.gouv.fr", "http://finess.sante.gouv.fr")
_SIRET_SYSTEMS = ("https://sirene.fr", "http://sirene.fr", "urn:oid:1.2.250.1.71.4.2.2.3")
_TELECOM_SCHEMES = {"phone": "tel:", "fax": "fax:", "email": "mailto:", "url": ""}
_TELECOM_USES = {"home": "H", "work": "WP", "mobile": "MC"}
_ADDRESS_USES = {"home": "H", "work": "WP"}

Json = Mapping[str, Any]


def code_from_fhir(concept: Any) -> Code | None:
    """The first coding of a CodeableConcept (or a Coding) whose system has an OID, as a :class:`Code`."""
    codings = concept.get("coding") if isinstance(concept, Mapping) and "coding" in concept else [concept]
    for coding in codings or []:
        if isinstance(coding, Mapping) and coding.get("code"):
            oid = oid_of(coding.get("system"))
            if oid:
                code = str(coding["code"])
                return Code(code, oid, coding.get("display") or cisis.DISPLAYS.get((oid, code)))
    return None


def telecoms_from_fhir(points: Any) -> tuple[Telecom, ...]:
    """ContactPoints as TELs: ``phone`` -> ``tel:`` without spaces, ``email`` -> ``mailto:`` …"""
    out: list[Telecom] = []
    for point in points or []:
        if not isinstance(point, Mapping) or not isinstance(point.get("value"), str):
            continue
        scheme = _TELECOM_SCHEMES.get(str(point.get("system")))
        if scheme is None:
            continue
        value = point["value"].strip()
        if scheme in ("tel:", "fax:"):
            value = "".join(value.split()).replace(".", "")
        out.append(Telecom(value if scheme == "" else scheme + value, _TELECOM_USES.get(str(point.get("use")))))
    return tuple(out)


def address_from_fhir(address: Any) -> Address | None:
    """A FHIR Address as AD (``county`` = its ``fr-core-address-insee-code``); None when it has no part."""
    if not isinstance(address, Mapping):
        return None
    lines = tuple(line for line in address.get("line") or [] if isinstance(line, str) and line.strip())
    insee = None
    for ext in address.get("extension") or []:
        if isinstance(ext, Mapping) and str(ext.get("url", "")).endswith("fr-core-address-insee-code"):
            coding = ext.get("valueCoding")
            insee = coding.get("code") if isinstance(coding, Mapping) else None
    out = Address(lines, address.get("postalCode"), address.get("city"), address.get("country"), insee,
                  _ADDRESS_USES.get(str(address.get("use"))))
    return out if (out.lines or out.postal_code or out.city or out.country or out.county) else None


def addresses_from_fhir(addresses: Any) -> tuple[Address, ...]:
    return tuple(a for a in (address_from_fhir(x) for x in addresses or []) if a is not None)


def name_from_fhir(names: Any, element: str) -> PersonName:
    """The official (else the first) HumanName with a family name; :class:`ModelError` without one."""
    candidates = [n for n in names or [] if isinstance(n, Mapping) and n.get("family")]
    candidates.sort(key=lambda n: n.get("use") != "official")
    if not candidates:
        raise ModelError(f"{element}: a name with a family name is required", f"{element}.name")
    name = candidates[0]
    # CI-SIS writes civilities and titles in capitals without dots (M, MME, DR); the suffix must be a JDV_J246
    # title, so other suffixes (diplomas …) are left out
    prefixes = tuple(p.replace(".", "").upper() for p in name.get("prefix") or [] if isinstance(p, str))
    suffixes = tuple(t for t in (s.replace(".", "").upper() for s in name.get("suffix") or []
                                 if isinstance(s, str)) if t in cisis.TITLES)
    return PersonName(str(name["family"]), tuple(g for g in name.get("given") or [] if isinstance(g, str)),
                      prefixes, suffixes)


def _identifier(resource: Json, system: str | tuple[str, ...]) -> str | None:
    systems = (system,) if isinstance(system, str) else system
    for ident in resource.get("identifier") or []:
        if isinstance(ident, Mapping) and ident.get("system") in systems and isinstance(ident.get("value"), str):
            return str(ident["value"])
    return None


def structure_id(org: Json, element: str = "Organization") -> Identifier:
    """The national structure id (IDNST, root ``1.2.250.1.71.4.2.2``): the IDNST identifier, else ``1`` +
    FINESS, else ``3`` + SIRET; :class:`ModelError` when the Organization has none."""
    value = _identifier(org, IDNST_SYSTEM)
    if value is None and (finess := _identifier(org, _FINESS_SYSTEMS)):
        value = "1" + finess
    if value is None and (siret := _identifier(org, _SIRET_SYSTEMS)):
        value = "3" + siret
    if value is None:
        raise ModelError(f"{element} {org.get('id', '')}: no national structure identifier (IDNST "
                         f"{IDNST_SYSTEM}, FINESS or SIRET)".replace("  ", " "), f"{element}.identifier")
    return Identifier(IDNST_SYSTEM.removeprefix("urn:oid:"), value)


def professional_id(practitioner: Json, element: str = "Practitioner") -> Identifier:
    """The IDNPS (root ``1.2.250.1.71.4.2.1``): the IDNPS identifier, else ``8`` + RPPS, else ``0`` + ADELI;
    :class:`ModelError` when the Practitioner has none."""
    value = _identifier(practitioner, IDNPS_SYSTEM)
    if value is None and (rpps := _identifier(practitioner, _RPPS_SYSTEMS)):
        value = "8" + rpps
    if value is None and (adeli := _identifier(practitioner, _ADELI_SYSTEMS)):
        value = "0" + adeli
    if value is None:
        raise ModelError(f"{element} {practitioner.get('id', '')}: no IDNPS (identifier {IDNPS_SYSTEM}, "
                         "RPPS or ADELI): the author of a CDA document must be identified nationally",
                         f"{element}.identifier")
    return Identifier(IDNPS_SYSTEM.removeprefix("urn:oid:"), value)


def organization_from_fhir(org: Json, industry_class: Code | None = None,
                           element: str = "Organization") -> Organization:
    """An Organization with its IDNST, name, telecoms, addresses."""
    return Organization(structure_id(org, element), org.get("name"), telecoms_from_fhir(org.get("telecom")),
                        addresses_from_fhir(org.get("address")), industry_class)


def _as_code(found: tuple[str, str, str | None] | None) -> Code | None:
    return Code(found[0], found[1], found[2]) if found else None


def professional_from_fhir(practitioner: Json, role: Json | None = None, organization: Organization | None = None,
                           element: str = "Practitioner") -> Professional:
    """A Practitioner (and the PractitionerRole it acts in): IDNPS, name, JDV_J01 code (profession of the role's
    TDDUI profession extension or of the qualifications, else its TRE_R85 role), JDV_J47 function code (the
    TRE_R85 role), contacts (the role's first, then the Practitioner's)."""
    role_codes: list[Any] = list((role or {}).get("code") or [])
    professions: list[Any] = []
    for concept in role_codes:
        for ext in concept.get("extension") or [] if isinstance(concept, Mapping) else []:
            if isinstance(ext, Mapping) and str(ext.get("url", "")).endswith("tddui-profession"):
                professions.append(ext.get("valueCodeableConcept"))
    professions += [q.get("code") for q in practitioner.get("qualification") or [] if isinstance(q, Mapping)]
    specialty = cisis.author_specialty(professions + role_codes)
    telecoms = telecoms_from_fhir((role or {}).get("telecom")) + telecoms_from_fhir(practitioner.get("telecom"))
    return Professional(professional_id(practitioner, element), name_from_fhir(practitioner.get("name"), element),
                        _as_code(specialty), _as_code(cisis.function_code(role_codes)), organization, telecoms,
                        addresses_from_fhir(practitioner.get("address")))


def _official_name(patient: Json) -> Json:
    names = [n for n in patient.get("name") or [] if isinstance(n, Mapping)]
    official = next((n for n in names if n.get("use") == "official"), None)
    if official is None:
        raise ModelError("Patient: the birth name (name with use 'official') is required by the INS traits",
                         "Patient.name")
    return official


def _ext(holder: Json, suffix: str) -> Json | None:
    for ext in holder.get("extension") or []:
        if isinstance(ext, Mapping) and str(ext.get("url", "")).endswith(suffix):
            return ext
    return None


def patient_from_fhir(patient: Json, ins: Identifier | None) -> Patient:
    """The recordTarget of a FR Core Patient: ``ins`` first (None when the INS may not be transmitted), then
    the identifiers in an ``urn:oid:`` system that are not INS; the INS traits from the official name, the
    birth-list-given-name extension, gender, birthDate and the birth-place INSEE code; the names used from the
    ``usual`` name. :class:`ModelError` names the missing element."""
    ids: list[Identifier] = [ins] if ins else []
    for ident in patient.get("identifier") or []:
        system = ident.get("system") if isinstance(ident, Mapping) else None
        if isinstance(system, str) and system.startswith("urn:oid:") and isinstance(ident.get("value"), str):
            oid = system.removeprefix("urn:oid:")
            if not oid.startswith("1.2.250.1.213.1.4.") and Identifier(oid, ident["value"]) not in ids:
                ids.append(Identifier(oid, ident["value"]))
    if not ids:
        raise ModelError("Patient: no identifier can be sent (the INS of a qualified identity, or an "
                         "identifier in an urn:oid: system)", "Patient.identifier")
    official = _official_name(patient)
    if not official.get("family"):
        raise ModelError("Patient: the birth family name is required", "Patient.name.family")
    given = [g for g in official.get("given") or [] if isinstance(g, str) and g.strip()]
    list_ext = _ext(official, "fr-core-patient-birth-list-given-name") or _ext(
        patient, "fr-core-patient-birth-list-given-name")
    given_list = list_ext.get("valueString") if list_ext else None
    if not given and isinstance(given_list, str) and given_list.strip():
        given = [given_list.split()[0]]
    if not given:
        raise ModelError("Patient: the first birth given name is required", "Patient.name.given")
    usual = next((n for n in patient.get("name") or [] if isinstance(n, Mapping) and n.get("use") == "usual"),
                 None)
    used_family = usual.get("family") if usual else None
    used_given_list = [g for g in (usual or {}).get("given") or [] if isinstance(g, str)]
    place_ext = _ext(patient, "patient-birthPlace")
    birth_place = address_from_fhir(place_ext.get("valueAddress")) if place_ext else None
    if birth_place is not None:
        birth_place = Address(county=birth_place.county, city=birth_place.city)
    return Patient(
        ids=tuple(ids), birth_family=str(official["family"]), first_given=given[0],
        birth_given_names=given_list if isinstance(given_list, str) and given_list.strip() else None,
        used_family=used_family if isinstance(used_family, str) else None,
        used_given=used_given_list[0] if used_given_list else None,
        sex=cisis.SEX.get(str(patient.get("gender")), "UN"), birth_date=patient.get("birthDate"),
        birth_place=birth_place, addresses=addresses_from_fhir(patient.get("address")),
        telecoms=telecoms_from_fhir(patient.get("telecom")))


def confidentiality_from_fhir(labels: Any) -> Code:
    """The CDA confidentialityCode (N / R / V) of a DocumentReference ``securityLabel`` list (default N)."""
    for concept in labels or []:
        for coding in (concept.get("coding") or []) if isinstance(concept, Mapping) else []:
            if isinstance(coding, Mapping) and coding.get("code") in cisis.CONFIDENTIALITY and str(
                    coding.get("system", "")).endswith("v3-Confidentiality"):
                code = str(coding["code"])
                return Code(code, CONFIDENTIALITY_OID, cisis.CONFIDENTIALITY[code])
    return Code("N", CONFIDENTIALITY_OID, cisis.CONFIDENTIALITY["N"])


CONFIDENTIALITY_OID = "2.16.840.1.113883.5.25"
