"""The CDA R2 header of the CI-SIS "Structuration minimale des documents de santé" (ANS CI-SIS, volet
"Structuration minimale"; ANS kit ``schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch``;
french-interop.md §4).

:func:`build_header` turns a :class:`~mappings.cda.model.Document` and the volet's
:class:`~mappings.cda.model.VoletParts` into a ``ClinicalDocument`` element, in the order of the CDA schema
(``POCD_MT000040.ClinicalDocument``), without its ``component`` (the volet appends its body)::

    root = build_header(document, VoletParts(template_ids=(Identifier(XDS_SD_TEMPLATE),)))
    root.append(body)       # <component><nonXMLBody>… or <structuredBody>…

The patient's name follows the RNIV / CI-SIS INS rule: ``family@qualifier="BR"`` (birth name), the list of
birth given names without qualifier, the first birth given name with ``qualifier="BR"``, and the names used
with ``qualifier="CL"`` (the schematron allows BR and CL only).
"""

from __future__ import annotations

from mappings.cda import datatypes as dt
from mappings.cda.datatypes import Element, el
from mappings.cda.model import (
    Author,
    Document,
    Encounter,
    Identifier,
    LegalAuthenticator,
    Organization,
    Patient,
    Professional,
    ServiceEvent,
    VoletParts,
)

__all__ = ["CISIS_TEMPLATE", "CONFIDENTIALITY_OID", "GENDER_OID", "HL7_FRANCE_TEMPLATE", "IDNPS_OID",
           "IDNST_OID", "build_header"]

HL7_FRANCE_TEMPLATE = "2.16.840.1.113883.2.8.2.1"
CISIS_TEMPLATE = "1.2.250.1.213.1.1.1.1"
TYPE_ID_ROOT = "2.16.840.1.113883.1.3"
IDNPS_OID = "1.2.250.1.71.4.2.1"
IDNST_OID = "1.2.250.1.71.4.2.2"
CONFIDENTIALITY_OID = "2.16.840.1.113883.5.25"
GENDER_OID = "2.16.840.1.113883.5.1"
_GENDER_DISPLAY = {"F": "Féminin", "M": "Masculin", "UN": "Inconnu"}


def build_header(document: Document, volet: VoletParts) -> Element:
    """The ``ClinicalDocument`` of ``document`` with every header element, no ``component``."""
    root = dt.root_element()
    root.set("classCode", "DOCCLIN")
    root.set("moodCode", "EVN")
    el(root, "realmCode", code="FR")
    el(root, "typeId", root=TYPE_ID_ROOT, extension="POCD_HD000040")
    el(root, "templateId", root=HL7_FRANCE_TEMPLATE)
    el(root, "templateId", root=CISIS_TEMPLATE)
    for template in volet.template_ids:
        dt.ii(root, template, "templateId")
    dt.ii(root, document.id)
    dt.cd(root, "code", document.code)
    el(root, "title", document.title)
    dt.ts(root, "effectiveTime", document.effective_time)
    dt.cd(root, "confidentialityCode", document.confidentiality)
    el(root, "languageCode", code=document.language)
    dt.ii(root, document.set_id, "setId")
    el(root, "versionNumber", value=str(document.version))
    _record_target(root, document.patient)
    for author in document.authors:
        _author(root, author)
    root.extend(volet.informants)
    _custodian(root, document.custodian)
    _legal_authenticator(root, document.legal_authenticator)
    root.extend(volet.participants)
    _documentation_of(root, document.service_event, volet)
    if document.replaces is not None:
        related = el(root, "relatedDocument", typeCode="RPLC")
        dt.ii(el(related, "parentDocument"), document.replaces)
    _component_of(root, document.encounter, volet)
    return root


def _record_target(root: Element, patient: Patient) -> None:
    role = el(el(root, "recordTarget"), "patientRole")
    for identifier in patient.ids:
        dt.ii(role, identifier)
    for address in patient.addresses:
        dt.ad(role, address)
    dt.tels(role, patient.telecoms)
    person = el(role, "patient", classCode="PSN")
    name = el(person, "name")
    el(name, "family", patient.birth_family, qualifier="BR")
    if patient.birth_given_names:
        el(name, "given", patient.birth_given_names)
    el(name, "given", patient.first_given, qualifier="BR")
    if patient.used_family:
        el(name, "family", patient.used_family, qualifier="CL")
    if patient.used_given:
        el(name, "given", patient.used_given, qualifier="CL")
    el(person, "administrativeGenderCode", code=patient.sex, displayName=_GENDER_DISPLAY.get(patient.sex),
       codeSystem=GENDER_OID)
    dt.ts(person, "birthTime", patient.birth_date)
    if patient.birth_place is not None:
        dt.ad(el(el(person, "birthplace"), "place"), patient.birth_place)


def _organization(parent: Element, org: Organization, name: str) -> Element:
    out = el(parent, name)
    dt.ii(out, org.id)
    if org.name:
        el(out, "name", org.name)
    dt.tels(out, org.telecoms)
    for address in org.addresses:
        dt.ad(out, address)
    if org.industry_class is not None:
        dt.cd(out, "standardIndustryClassCode", org.industry_class)
    return out


def _entity(parent: Element, pro: Professional, name: str, *, person: str = "assignedPerson",
            organization: str | None = "representedOrganization") -> Element:
    """assignedAuthor / assignedEntity: id, code, addr, telecom, the person, the organization."""
    out = el(parent, name)
    dt.ii(out, pro.id)
    if pro.code is not None:
        dt.cd(out, "code", pro.code)
    for address in pro.addresses:
        dt.ad(out, address)
    dt.tels(out, pro.telecoms)
    dt.pn(el(out, person), pro.name)
    if organization and pro.organization is not None:
        _organization(out, pro.organization, organization)
    return out


def _author(root: Element, author: Author) -> None:
    node = el(root, "author")
    if author.professional.function_code is not None:
        dt.cd(node, "functionCode", author.professional.function_code)
    dt.ts(node, "time", author.time)
    _entity(node, author.professional, "assignedAuthor")


def _custodian(root: Element, org: Organization) -> None:
    assigned = el(el(root, "custodian"), "assignedCustodian")
    custodian = el(assigned, "representedCustodianOrganization")
    dt.ii(custodian, org.id)
    if org.name:
        el(custodian, "name", org.name)
    if org.telecoms:  # the schema allows one telecom and one addr here
        dt.tel(custodian, org.telecoms[0])
    if org.addresses:
        dt.ad(custodian, org.addresses[0])


def _legal_authenticator(root: Element, legal: LegalAuthenticator) -> None:
    node = el(root, "legalAuthenticator")
    dt.ts(node, "time", legal.time)
    el(node, "signatureCode", code="S")
    _entity(node, legal.professional, "assignedEntity")


def _documentation_of(root: Element, event: ServiceEvent, volet: VoletParts) -> None:
    service = el(el(root, "documentationOf"), "serviceEvent")
    dt.cd(service, "code", volet.service_event_code or event.code)
    dt.ivl_ts(service, "effectiveTime", event.low, event.high)
    performer = el(service, "performer", typeCode="PRF")
    pro = event.performer
    base = pro.organization or Organization(Identifier(IDNST_OID))
    organization = Organization(base.id, base.name, base.telecoms, base.addresses, event.practice_setting)
    _entity(performer, Professional(pro.id, pro.name, pro.code, pro.function_code, organization, pro.telecoms,
                                    pro.addresses), "assignedEntity")


def _component_of(root: Element, encounter: Encounter, volet: VoletParts) -> None:
    node = el(el(root, "componentOf"), "encompassingEncounter")
    code = volet.encounter_code or encounter.code
    if code is not None:
        dt.cd(node, "code", code)
    dt.ivl_ts(node, "effectiveTime", encounter.low, encounter.high)
    facility = el(el(node, "location"), "healthCareFacility")
    if encounter.facility_id is not None:
        dt.ii(facility, encounter.facility_id)
    dt.cd(facility, "code", encounter.facility_code)
    if encounter.facility_name or encounter.facility_address:
        place = el(facility, "location")
        if encounter.facility_name:
            el(place, "name", encounter.facility_name)
        if encounter.facility_address is not None:
            dt.ad(place, encounter.facility_address)
