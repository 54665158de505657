"""Header parts shared by the DLU-EHPAD volets (DLU, FLUDT): the médecin traitant (``participant`` INF with
``functionCode`` PCP, 2.16.840.1.113883.5.88) and the people to call (``informant/relatedEntity`` ECON,
personne à prévenir, and NOK, personne de confiance; relationship from HL7 RoleCode 2.16.840.1.113883.5.111).

ANS models DLU-EHPAD-DLU / -FLUDT 2022.01 (``Entete_DLU-DLU.sch``, examples ``DLU-EHPAD-DLU_2022.01.xml`` and
``DLU-EHPAD-FLUDT_2022.01.xml``). Input: FHIR ``Practitioner`` (+ ``PractitionerRole``) and ``RelatedPerson`` /
``Patient.contact`` (dicts). Roles: ``RelatedPerson.relationship`` coded ECON / NOK (TRE_R260 HL7RoleClass or
v3-RoleClass); ``Patient.contact`` with relationship ``C`` (v2-0131 emergency contact) is a personne à prévenir.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from mappings.cda import datatypes as dt
from mappings.cda.datatypes import el
from mappings.cda.model import (
    Address,
    Code,
    Identifier,
    ModelError,
    PersonName,
    Telecom,
    addresses_from_fhir,
    name_from_fhir,
    professional_id,
    telecoms_from_fhir,
)

ROLE_CODE_OID = "2.16.840.1.113883.5.111"
FUNCTION_OID = "2.16.840.1.113883.5.88"
ROLE_CLASS_SYSTEMS = ("https://mos.esante.gouv.fr/NOS/TRE_R260-HL7RoleClass/FHIR/TRE-R260-HL7RoleClass",
                      "http://terminology.hl7.org/CodeSystem/v3-RoleClass")
ROLE_CODE_SYSTEMS = ("http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                     "https://mos.esante.gouv.fr/NOS/TRE_R216-HL7RoleCode/FHIR/TRE-R216-HL7RoleCode")
_CONTACT_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0131"
#: JDV_J11_RelationPatient_CISIS (HL7 RoleCode part): the relationships the structuration minimale accepts
RELATIONS: dict[str, str] = {
    "MTH": "Mère", "FTH": "Père", "NMTH": "Mère biologique", "NFTH": "Père biologique",
    "STPMTH": "Belle-mère - épouse du père ou de la mère", "STPFTH": "Beau-père - époux du père ou de la mère",
    "GRMTH": "Grand-mère", "GRFTH": "Grand-père", "GGRMTH": "Arrière-grand-mère", "GGRFTH": "Arrière-grand-père",
    "DAU": "Fille biologique", "SON": "Fils biologique", "BRO": "Frère", "SIS": "Soeur", "HBRO": "Demi-frère",
    "HSIS": "Demi-soeur", "GRNDDAU": "Petite-fille", "GRNDSO": "Petit-fils", "UNCLE": "Oncle", "AUNT": "Tante",
    "NEPHEW": "Neveu", "NIECE": "Nièce", "HUSB": "Epoux", "WIFE": "Epouse",
    "DOMPART": "Concubin(e) ou partenaire PACS", "ROOM": "Personne vivant sous le même toit", "FRND": "Autre proche",
    "NBOR": "Voisin(e)", "FAMMEMB": "Autre membre de la famille", "CHILD": "Enfant", "COUSN": "Cousin(e)",
    "SIGOTHR": "Conjoint", "DAUC": "Fille", "SONC": "Fils",
}
#: RoleCodes outside J11 and their nearest J11 code
_RELATION_ALIASES = {"SPS": "SIGOTHR", "FMRSPS": "FRND", "GRNDCHILD": "FAMMEMB", "SIB": "FAMMEMB", "PRN": "FAMMEMB"}
#: JDV_J246_Titre_CISIS: the only titles (name suffixes) the structuration minimale accepts
TITLES = frozenset({"DR", "MC", "MG", "PC", "PG", "PR"})


@dataclass(frozen=True)
class Contact:
    """A person to call: ``role`` ECON (personne à prévenir), NOK (personne de confiance) or CAREGIVER (aidant)."""

    role: str
    name: PersonName
    relationship: Code | None = None
    telecoms: tuple[Telecom, ...] = ()
    addresses: tuple[Address, ...] = ()


@dataclass(frozen=True)
class Physician:
    """The médecin traitant: IDNPS when known, name, contacts."""

    name: PersonName
    id: Identifier | None = None
    telecoms: tuple[Telecom, ...] = ()
    addresses: tuple[Address, ...] = ()


def _codes(concepts: Any, systems: Sequence[str]) -> list[Mapping[str, Any]]:
    out = []
    for concept in concepts or []:
        for coding in (concept or {}).get("coding") or [] if isinstance(concept, Mapping) else []:
            if isinstance(coding, Mapping) and coding.get("system") in systems and coding.get("code"):
                out.append(coding)
    return out


def _relationship(concepts: Any) -> Code | None:
    """The relationship to the usager in JDV_J11 (spouse -> SIGOTHR "Conjoint"); None when it has no J11 code."""
    for coding in _codes(concepts, ROLE_CODE_SYSTEMS):
        code = _RELATION_ALIASES.get(str(coding["code"]), str(coding["code"]))
        if code in RELATIONS:
            return Code(code, ROLE_CODE_OID, RELATIONS[code])
    return None


def _titled(name: PersonName) -> PersonName:
    """The name with its titles as J246 codes (``Dr`` -> ``DR``); a title outside J246 is left out."""
    titles = tuple(t.upper().rstrip(".") for t in name.suffix if t.upper().rstrip(".") in TITLES)
    return PersonName(name.family, name.given, name.prefix, titles)


def contacts_from_fhir(related: Sequence[Mapping[str, Any]], patient: Mapping[str, Any]) -> list[Contact]:
    """The ECON / NOK / CAREGIVER contacts among the usager's RelatedPersons (active ones) and the emergency
    Patient.contact entries."""
    out: list[Contact] = []
    for person in related:
        if person.get("active") is False:
            continue
        roles = {str(c["code"]) for c in _codes(person.get("relationship"), ROLE_CLASS_SYSTEMS)}
        for role in ("ECON", "NOK", "CAREGIVER"):
            if role in roles:
                try:
                    name = name_from_fhir(person.get("name"), f"RelatedPerson/{person.get('id')}")
                except ModelError:
                    continue
                out.append(Contact(role, name, _relationship(person.get("relationship")),
                                   telecoms_from_fhir(person.get("telecom")),
                                   addresses_from_fhir(person.get("address"))))
    for contact in patient.get("contact") or []:
        if not isinstance(contact, Mapping) or not _codes(contact.get("relationship"), (_CONTACT_SYSTEM,)):
            continue
        if not any(c.get("code") == "C" for c in _codes(contact.get("relationship"), (_CONTACT_SYSTEM,))):
            continue
        contact_name = contact.get("name")
        if isinstance(contact_name, Mapping) and contact_name.get("family"):
            out.append(Contact("ECON", name_from_fhir([contact_name], "Patient.contact"), None,
                               telecoms_from_fhir(contact.get("telecom")),
                               addresses_from_fhir([contact.get("address")] if contact.get("address") else [])))
    return out


def physician_from_fhir(practitioner: Mapping[str, Any], role: Mapping[str, Any] | None = None) -> Physician:
    """The médecin traitant from a Practitioner (IDNPS left out when it has none: a GP outside the structure)."""
    try:
        identifier: Identifier | None = professional_id(practitioner)
    except ModelError:
        identifier = None
    telecoms = telecoms_from_fhir((role or {}).get("telecom")) + telecoms_from_fhir(practitioner.get("telecom"))
    return Physician(_titled(name_from_fhir(practitioner.get("name"), f"Practitioner/{practitioner.get('id')}")),
                     identifier, telecoms, addresses_from_fhir(practitioner.get("address")))


def informant(contact: Contact) -> etree._Element:
    """``informant/relatedEntity`` of a contact (classCode ECON or NOK)."""
    node = dt.root_element("informant")
    entity = el(node, "relatedEntity", classCode=contact.role)
    if contact.relationship is not None:
        dt.cd(entity, "code", contact.relationship)
    if contact.addresses:
        dt.ad(entity, contact.addresses[0])
    else:
        el(entity, "addr", nullFlavor="NAV")
    dt.tels(entity, contact.telecoms)
    dt.pn(el(entity, "relatedPerson"), contact.name)
    return node


def attending_physician(physician: Physician | None, time: str) -> etree._Element:
    """``participant typeCode="INF"`` with ``functionCode PCP`` (the DLU schematron requires both); a
    médecin traitant not known is a participant whose person is unknown (``family nullFlavor="UNK"``)."""
    node = dt.root_element("participant")
    node.set("typeCode", "INF")
    el(node, "functionCode", code="PCP", codeSystem=FUNCTION_OID, displayName="Médecin traitant")
    dt.ivl_ts(node, "time", time)
    entity = el(node, "associatedEntity", classCode="PROV")
    if physician is None:
        el(entity, "addr", nullFlavor="UNK")
        el(entity, "telecom", nullFlavor="UNK")
        el(el(el(entity, "associatedPerson"), "name"), "family", nullFlavor="UNK")
        return node
    if physician.id is not None:
        dt.ii(entity, physician.id)
    if physician.addresses:
        dt.ad(entity, physician.addresses[0])
    dt.tels(entity, physician.telecoms)
    dt.pn(el(entity, "associatedPerson"), physician.name)
    return node
