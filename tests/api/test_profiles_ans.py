"""ANS profiles as data (``config/profiles/``): TDDUI (Patient, Patient INS, CarePlan projet personnalisé, Encounter
séjour, RelatedPerson contact, Organization, Consent accord, Bundle), PDSm simplified publish DocumentReference and
Cercle de soins CareTeam.

For every profile: a conforming resource is stored (201) and ``$validate?profile=`` reports no error; broken
variants (missing mandatory element, wrong fixed value, code outside a required value set, slice cardinality,
reference target, invariant) are refused on write with 422 when the resource claims the profile, and
``$validate?profile=<url>`` answers 200 with an error issue whose ``expression`` is the concrete element and whose
``diagnostics`` names the profile, the element (with slice names) and the rule.

Sources: the ``source`` field of each profile file (TDDUI FSH in ansforge/IG-fhir-medicosocial-transfert-donnees-dui,
PDSm 3.1.1 and CDS 2.0.1 FSH in ../shared/fr/fsh/).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

TDDUI = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/"
TDDUI_CS = "https://interop.esante.gouv.fr/ig/fhir/tddui/CodeSystem/"
PDSM = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-simplified-publish"
CDS = "https://interop.esante.gouv.fr/ig/fhir/cds/StructureDefinition/cds-ihe-careteam"
FR_CORE_CS = "https://hl7.fr/ig/fhir/core/CodeSystem/"
FR_CORE_SD = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
NOS = "https://mos.esante.gouv.fr/NOS/"
R216 = NOS + "TRE_R216-HL7RoleCode/FHIR/TRE-R216-HL7RoleCode"
R217 = NOS + "TRE_R217-ProtectionJuridique/FHIR/TRE-R217-ProtectionJuridique"
R260 = NOS + "TRE_R260-HL7RoleClass/FHIR/TRE-R260-HL7RoleClass"
LOCAL_ID = "https://identifiant-medicosocial-localusager.esante.gouv.fr"
BIRTH_ORDER = TDDUI + "tddui-birth-order"
ENC_CS = TDDUI_CS + "tddui-encounter-identifier"
SEJOUR = "https://identifiant-medicosocial-sejour.esante.gouv.fr"
IDNPS = "urn:oid:1.2.250.1.71.4.2.1"
R85 = NOS + "TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge"
R23 = NOS + "TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice"
A02 = NOS + "TRE_A02-ProfessionSavFaire-CISIS/FHIR/TRE-A02-ProfessionSavFaire-CISIS"


# ---------------------------------------------------------------------------------------------- conforming resources

def local_id(value: str = "3480787529/194704032") -> dict[str, Any]:
    return {"use": "usual", "type": {"coding": [{"system": V2_0203, "code": "PI"}]}, "system": LOCAL_ID, "value": value}


def tddui_patient() -> dict[str, Any]:
    """An usager without INS: birth order in the civil registry on birthDate."""
    return {"resourceType": "Patient", "meta": {"profile": [TDDUI + "tddui-patient"]},
            "identifier": [local_id()],
            "name": [{"use": "official", "family": "MARTIN", "given": ["Louise"], "prefix": ["MME"]}],
            "gender": "female", "birthDate": "1938-05-12",
            "_birthDate": {"extension": [{"url": BIRTH_ORDER, "valuePositiveInt": 12}]}}


def ins_nir(value: str) -> dict[str, Any]:
    return {"use": "official", "type": {"coding": [{"system": FR_CORE_CS + "fr-core-cs-v2-0203", "code": "INS-NIR"}]},
            "system": "urn:oid:1.2.250.1.213.1.4.8", "value": value}


def tddui_patient_ins() -> dict[str, Any]:
    """The official example's usager with a correct NIR key (1477204253674 -> 30)."""
    return {"resourceType": "Patient", "meta": {"profile": [TDDUI + "tddui-patient-ins"]},
            "extension": [
                {"url": FR_CORE_SD + "fr-core-identity-reliability",
                 "extension": [{"url": "identityStatus",
                                "valueCoding": {"system": FR_CORE_CS + "fr-core-cs-v2-0445", "code": "VALI"}}]},
                {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                 "valueAddress": {"extension": [{"url": FR_CORE_SD + "fr-core-address-insee-code", "valueCoding": {
                     "system": NOS + "TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM", "code": "63220"}}],
                     "city": "Mazoires"}}],
            "identifier": [ins_nir("147720425367430"), local_id()],
            "name": [{"use": "official", "family": "DUPONT", "given": ["Jean"],
                      "extension": [{"url": FR_CORE_SD + "fr-core-patient-birth-list-given-name",
                                     "valueString": "Jean Stéphane Patrick"}]},
                     {"use": "usual", "family": "DUPONT"}],
            "gender": "male", "birthDate": "1947-04-03"}


def careplan() -> dict[str, Any]:
    return {"resourceType": "CarePlan", "meta": {"profile": [TDDUI + "tddui-careplan-projet-personnalise"]},
            "identifier": [{"system": "https://identifiant-medicosocial-projetpersonnalise.esante.gouv.fr",
                            "value": "3480787529/194704032-PPER-1"}],
            "status": "active", "intent": "plan", "title": "Projet personnalisé de Mme Louise M.",
            "category": [{"coding": [{"system": "https://smt.esante.gouv.fr/fhir/CodeSystem/tre-r390-type-projet-personnalise",
                                      "code": "PP"}]}],
            "subject": {"reference": "Patient/usager-1"},
            "supportingInfo": [{"reference": "Consent/accord-structure", "display": "Consentement structure"},
                               {"reference": "Consent/accord-usager", "display": "Consentement usager"}]}


def sejour() -> dict[str, Any]:
    return {"resourceType": "Encounter", "meta": {"profile": [TDDUI + "tddui-encounter-sejour"]},
            "identifier": [{"type": {"coding": [{"system": ENC_CS, "code": "SEJ"}]}, "system": SEJOUR,
                            "value": "3480787529/194704032-SEJOUR-1"}],
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "serviceType": {"coding": [{"system": NOS + "TRE_R338-ModaliteAccueil/FHIR/TRE-R338-ModaliteAccueil",
                                        "code": "03"}]},
            "subject": {"reference": "Patient/usager-1"}, "serviceProvider": {"reference": "Organization/essms-1"},
            "period": {"start": "2024-01-15"},
            "extension": [{"url": TDDUI + "tddui-admission-date", "valueDateTime": "2024-01-15"}]}


def contact() -> dict[str, Any]:
    return {"resourceType": "RelatedPerson", "meta": {"profile": [TDDUI + "tddui-related-person-contact"]},
            "identifier": [{"value": "3480787529/194704032-contact-1"}],
            "patient": {"reference": "Patient/usager-1"},
            "relationship": [{"coding": [{"system": R260, "code": "CAREGIVER"}]},
                             {"coding": [{"system": R216, "code": "DAUC"}]},
                             {"coding": [{"system": R217, "code": "TUTEUR"}]}],
            "name": [{"family": "MARTIN", "given": ["Claire"], "prefix": ["MME"]}], "gender": "female"}


def organization() -> dict[str, Any]:
    return {"resourceType": "Organization", "meta": {"profile": [TDDUI + "tddui-organization"]},
            "identifier": [{"use": "official",
                            "type": {"coding": [{"system": FR_CORE_CS + "fr-core-cs-v2-0203", "code": "IDNST"}]},
                            "system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1750803447"}],
            "name": "EHPAD Les Tilleuls"}


def consent() -> dict[str, Any]:
    return {"resourceType": "Consent", "meta": {"profile": [TDDUI + "tddui-consent-accord"]},
            "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": "Patient/usager-1"}, "dateTime": "2024-02-01T10:00:00+01:00",
            "performer": [{"reference": "Organization/essms-1"}],
            "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]}}


def bundle() -> dict[str, Any]:
    patient = tddui_patient()
    return {"resourceType": "Bundle", "meta": {"profile": [TDDUI + "tddui-bundle"]}, "type": "transaction",
            "entry": [{"fullUrl": "urn:uuid:7d4bd4d6-0b5f-4f55-9f0e-4c8f0b0a1c01", "resource": patient,
                       "request": {"method": "POST", "url": "Patient"}}]}


def document() -> dict[str, Any]:
    return {"resourceType": "DocumentReference", "meta": {"profile": [PDSM]},
            "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.1.1.20240201"},
            "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
            "category": [{"coding": [{"system": NOS + "TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument", "code": "10"}]}],
            "subject": {"reference": "Patient/usager-1"}, "date": "2024-02-01T09:30:00+01:00",
            "author": [{"reference": "PractitionerRole/infirmiere-1"}],
            "custodian": {"reference": "Organization/essms-1"},
            "content": [{"attachment": {"contentType": "application/pdf", "data": "SGVsbG8gV29ybGQ=",
                                        "title": "Note de suivi"}}],
            "context": {"facilityType": {"coding": [{"system": NOS + "TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite",
                                                     "code": "SA17"}]}}}


def careteam() -> dict[str, Any]:
    return {"resourceType": "CareTeam", "meta": {"profile": [CDS]},
            "identifier": [{"system": "https://cercle-de-soins.example.fr", "value": "cds-1"}],
            "status": "active", "name": "Cercle de soins de Mme Louise Martin",
            "subject": {"reference": "Patient/usager-1"}, "period": {"start": "2024-01-15"},
            "participant": [{"member": {"reference": "RelatedPerson/aidant-1"}, "period": {"start": "2024-01-15"}},
                            {"member": {"reference": "PractitionerRole/medecin-1"}, "period": {"start": "2024-01-20"}}]}


def practitioner() -> dict[str, Any]:
    """A médecin coordonnateur: IDNPS (8 + RPPS), civilité from JDV_J245, title in suffix."""
    return {"resourceType": "Practitioner", "meta": {"profile": [TDDUI + "tddui-practitioner"]},
            "identifier": [{"use": "official",
                            "type": {"coding": [{"system": FR_CORE_CS + "fr-core-cs-v2-0203", "code": "IDNPS"}]},
                            "system": IDNPS, "value": "810003456786"}],
            "name": [{"use": "official", "family": "LEROY", "given": ["Anne"], "prefix": ["MME"], "suffix": ["DR"]}]}


def practitioner_role() -> dict[str, Any]:
    """Her role in the EHPAD: functional role from JDV_J47, profession (TRE_A02 via JDV_J01) in tddui-profession."""
    return {"resourceType": "PractitionerRole", "meta": {"profile": [TDDUI + "tddui-practitioner-role"]},
            "extension": [{"url": TDDUI + "tddui-exercise-mode",
                           "valueCodeableConcept": {"coding": [{"system": R23, "code": "S", "display": "Salarié"}]}}],
            "practitioner": {"reference": "Practitioner/medco-1"},
            "organization": {"reference": "Organization/essms-1"},
            "code": [{"coding": [{"system": R85, "code": "330", "display": "Coordonnateur de parcours"}],
                      "extension": [{"url": TDDUI + "tddui-profession",
                                     "valueCodeableConcept": {"coding": [{"system": A02, "code": "G15_10",
                                                                          "display": "Médecin"}]}}],
                      "text": "Médecin coordonnatrice"}]}


CONFORMING: dict[str, Callable[[], dict[str, Any]]] = {
    "tddui-patient": tddui_patient, "tddui-patient-ins": tddui_patient_ins,
    "tddui-careplan-projet-personnalise": careplan, "tddui-encounter-sejour": sejour,
    "tddui-related-person-contact": contact, "tddui-organization": organization, "tddui-consent-accord": consent,
    "tddui-bundle": bundle, "pdsm-simplified-publish": document, "cds-ihe-careteam": careteam,
    "tddui-practitioner": practitioner, "tddui-practitioner-role": practitioner_role,
}


# ---------------------------------------------------------------------------------------------- helpers

def profile_url(resource: dict[str, Any]) -> str:
    return str(resource["meta"]["profile"][0])


def validate(fhir: Any, resource: dict[str, Any]) -> list[dict[str, Any]]:
    """``$validate?profile=<claimed profile>``: 200 and the OperationOutcome issues."""
    url = profile_url(resource)
    resp = fhir.post(f"{resource['resourceType']}/$validate?profile={quote(url, safe='')}", resource)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    issues: list[dict[str, Any]] = body["issue"]
    return issues


def errors(issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in issues if i["severity"] in ("error", "fatal")]


def find(issues: list[dict[str, Any]], expression: str, *fragments: str, code: str | None = None,
         severity: str = "error") -> dict[str, Any]:
    """The issue at ``expression`` whose diagnostics contain every fragment (asserting there is one)."""
    for issue in issues:
        if issue["severity"] != severity or expression not in issue.get("expression", []):
            continue
        if all(f in issue.get("diagnostics", "") for f in fragments) and (code is None or issue["code"] == code):
            return issue
    shown = "\n".join(f"{i['severity']} {i['code']} {i.get('expression')} {i.get('diagnostics')}" for i in issues)
    raise AssertionError(f"no {severity} issue at {expression} with {fragments} (code {code}) among:\n{shown}")


# ---------------------------------------------------------------------------------------------- conforming

@pytest.mark.parametrize("pid", sorted(CONFORMING))
def test_conforming_resource_is_stored_and_validates(fhir: Any, pid: str) -> None:
    """The conforming resource of each profile: $validate?profile= reports no error, the write is accepted."""
    resource = CONFORMING[pid]()
    assert not errors(validate(fhir, resource))
    resp = fhir.post(resource["resourceType"], resource)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["meta"]["profile"] == [profile_url(resource)]


# ---------------------------------------------------------------------------------------------- broken variants

@dataclass(frozen=True)
class Broken:
    """A conforming resource, a change that breaks one rule, and the issue the rule gives."""

    label: str
    make: Callable[[], dict[str, Any]]
    change: Callable[[dict[str, Any]], None]
    expression: str
    fragments: tuple[str, ...]
    code: str


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Setter for a dotted path with list indices (``identifier.0.system``); value ``...`` deletes."""
    def change(res: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = res
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        key: Any = int(last) if last.isdigit() else last
        if value is ...:
            del node[key]
        else:
            node[key] = copy.deepcopy(value)
    return change


def _append(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(res: dict[str, Any]) -> None:
        node: Any = res
        for part in path.split("."):
            node = node[int(part)] if part.isdigit() else node[part]
        node.append(copy.deepcopy(value))
    return change


def _all(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(res: dict[str, Any]) -> None:
        for c in changes:
            c(res)
    return change


P, PI_ = "tddui-patient: ", "tddui-patient-ins: "
BROKEN = [
    # -- tddui-patient
    Broken("patient: birth order missing (invariant)", tddui_patient, _set("_birthDate", ...), "Patient",
           (P, "invariant tddui-birth-order-1 failed", "birth order"), "invariant"),
    Broken("patient: birthDate missing", tddui_patient, _all(_set("birthDate", ...), _set("_birthDate", ...)),
           "Patient.birthDate", (P, "Patient.birthDate: minimum cardinality 1, found 0"), "required"),
    Broken("patient: local id system (fixed)", tddui_patient,
           _set("identifier.0.system", "https://identifiant-medicosocial-localusager.cnsa.fr"), "Patient.identifier[0].system",
           (P, "Patient.identifier:PI.system: fixed value", LOCAL_ID, "identifiant-medicosocial-localusager.cnsa.fr"),
           "value"),
    Broken("patient: gender outside fr-core-vs-patient-gender-INS", tddui_patient, _set("gender", "other"),
           "Patient.gender", (P, "Patient.gender: code 'other' is not in the required value set", "fr-core-vs-patient-gender-INS"),
           "code-invalid"),
    Broken("patient: two official names (slice max)", tddui_patient,
           _append("name", {"use": "official", "family": "MARTIN", "given": ["Lucie"]}), "Patient.name",
           (P, "Patient.name:officialName: maximum cardinality 1, found 2"), "structure"),
    Broken("patient: prefix outside JDV_J245", tddui_patient, _set("name.0.prefix", ["Madame"]), "Patient.name[0].prefix[0]",
           (P, "Patient.name.prefix: code 'Madame' is not in the required value set JDV_J245_Civilite_CISIS"), "code-invalid"),
    Broken("patient: identifier type outside tddui-patient-identifier", tddui_patient,
           _append("identifier", {"type": {"coding": [{"system": "http://example.org/types", "code": "BADGE"}]},
                                  "system": "http://example.org/badges", "value": "42"}), "Patient.identifier[1].type",
           (P, "Patient.identifier.type: none of the codings (http://example.org/types|BADGE)", "TDDUIPatientIdentifier"),
           "code-invalid"),
    Broken("patient: MDPH initial number use (fixed)", tddui_patient,
           _append("identifier", {"use": "official", "type": {"coding": [{"system": TDDUI_CS + "tddui-identifier",
                                                                           "code": "PIN"}]},
                                  "system": "https://mdph.example.fr", "value": "0012"}), "Patient.identifier[1].use",
           (P, "Patient.identifier:InitialNumberMDPH.use: fixed value \"usual\" required, found \"official\""), "value"),
    # -- tddui-patient-ins
    Broken("patient INS: two INS-NIR (slice max)", tddui_patient_ins,
           _append("identifier", {**ins_nir("269029934173285"), "use": "old"}), "Patient.identifier",
           (PI_, "Patient.identifier:INS-NIR: maximum cardinality 1, found 2"), "structure"),
    Broken("patient INS: two usual names (slice max)", tddui_patient_ins,
           _append("name", {"use": "usual", "family": "DURAND"}), "Patient.name",
           (PI_, "Patient.name:usualName: maximum cardinality 1, found 2"), "structure"),
    Broken("patient INS: local id system (fixed)", tddui_patient_ins,
           _set("identifier.1.system", "https://identifiant-medicosocial-localusager.cnsa.fr"), "Patient.identifier[1].system",
           (PI_, "Patient.identifier:PI.system: fixed value"), "value"),
    # -- CarePlan projet personnalisé
    Broken("careplan: title missing", careplan, _set("title", ...), "CarePlan.title",
           ("tddui-careplan-projet-personnalise: CarePlan.title: minimum cardinality 1, found 0",), "required"),
    Broken("careplan: identifier system (fixed)", careplan, _set("identifier.0.system", "urn:oid:1.2.3"),
           "CarePlan.identifier[0].system",
           ("tddui-careplan-projet-personnalise: CarePlan.identifier.system: fixed value",
            "identifiant-medicosocial-projetpersonnalise.esante.gouv.fr"), "value"),
    Broken("careplan: category outside JDV_J367", careplan, _set("category.0.coding.0.code", "XYZ"), "CarePlan.category[0]",
           ("tddui-careplan-projet-personnalise: CarePlan.category: none of the codings", "|XYZ",
            "required value set JdvJ367TypeProjetPersonnaliseMs"), "code-invalid"),
    Broken("careplan: no accord of the structure (slice min)", careplan, _set("supportingInfo", [
        {"reference": "Consent/accord-usager", "display": "Consentement usager"}]), "CarePlan.supportingInfo",
           ("tddui-careplan-projet-personnalise: CarePlan.supportingInfo:accordStructure: minimum cardinality 1, found 0",),
           "required"),
    Broken("careplan: accord structure is not a Consent", careplan,
           _set("supportingInfo.0.reference", "Practitioner/directeur-1"), "CarePlan.supportingInfo[0].reference",
           ("tddui-careplan-projet-personnalise: CarePlan.supportingInfo:accordStructure.reference: value "
            "\"Practitioner/directeur-1\" does not match the regex",), "value"),
    Broken("careplan: subject is a Group", careplan, _set("subject", {"reference": "Group/g1"}), "CarePlan.subject",
           ("tddui-careplan-projet-personnalise: CarePlan.subject: reference to a Group, allowed targets: Patient",),
           "structure"),
    Broken("careplan: two notes", careplan, _set("note", [{"text": "courrier"}, {"text": "réunion"}]), "CarePlan.note",
           ("tddui-careplan-projet-personnalise: CarePlan.note: maximum cardinality 1, found 2",), "structure"),
    # -- Encounter séjour
    Broken("sejour: no stay identifier (slice min)", sejour,
           _set("identifier", [{"system": "https://dossiers.example.fr", "value": "D-1"}]), "Encounter.identifier",
           ("tddui-encounter-sejour: Encounter.identifier:idStay: minimum cardinality 1, found 0",), "required"),
    Broken("sejour: stay identifier system (fixed)", sejour, _set("identifier.0.system", "https://sejours.example.fr"),
           "Encounter.identifier[0].system",
           ("tddui-encounter-sejour: Encounter.identifier:idStay.system: fixed value", SEJOUR), "value"),
    Broken("sejour: serviceType outside JDV_J226", sejour, _set("serviceType.coding.0.code", "99"), "Encounter.serviceType",
           ("tddui-encounter-sejour: Encounter.serviceType: none of the codings", "|99",
            "required value set JDV_J226_ModaliteAccueil_ROR"), "code-invalid"),
    Broken("sejour: serviceProvider missing", sejour, _set("serviceProvider", ...), "Encounter.serviceProvider",
           ("tddui-encounter-sejour: Encounter.serviceProvider: minimum cardinality 1, found 0",), "required"),
    Broken("sejour: serviceProvider is a Practitioner", sejour,
           _set("serviceProvider", {"reference": "Practitioner/p1"}), "Encounter.serviceProvider",
           ("tddui-encounter-sejour: Encounter.serviceProvider: reference to a Practitioner, allowed targets: Organization",),
           "structure"),
    Broken("sejour: two admission dates (extension slice max)", sejour,
           _append("extension", {"url": TDDUI + "tddui-admission-date", "valueDateTime": "2024-01-16"}),
           "Encounter.extension",
           ("tddui-encounter-sejour: Encounter.extension:TDDUIAdmissionDate: maximum cardinality 1, found 2",), "structure"),
    # -- RelatedPerson contact (and its FR Core base)
    Broken("contact: relation outside TDDUIRelation", contact, _set("relationship.1.coding.0.code", "XYZ"),
           "RelatedPerson.relationship[1].coding[0].code",
           ("tddui-related-person-contact: RelatedPerson.relationship:RelationType.coding:R216.code: code 'XYZ' is not "
            "in the required value set TDDUIRelation",), "code-invalid"),
    Broken("contact: legal protection outside TRE_R217", contact, _set("relationship.2.coding.0.code", "CHILD"),
           "RelatedPerson.relationship[2].coding[0].code",
           ("tddui-related-person-contact: RelatedPerson.relationship:LegalProtection.coding:R217.code: code 'CHILD' is "
            "not in the required value set TDDUIProtectionJuridique",), "code-invalid"),
    Broken("contact: two legal protections (slice max)", contact,
           _append("relationship", {"coding": [{"system": R217, "code": "CURATEUR"}]}), "RelatedPerson.relationship",
           ("tddui-related-person-contact: RelatedPerson.relationship:LegalProtection: maximum cardinality 1, found 2",),
           "structure"),
    Broken("contact: identifier missing (FR Core base)", contact, _set("identifier", ...), "RelatedPerson.identifier",
           ("tddui-related-person-contact (from fr-core-related-person): RelatedPerson.identifier: minimum cardinality 1, "
            "found 0",), "required"),
    Broken("contact: gender outside fr-core-vs-patient-gender-INS", contact, _set("gender", "other"), "RelatedPerson.gender",
           ("tddui-related-person-contact: RelatedPerson.gender: code 'other' is not in the required value set",),
           "code-invalid"),
    Broken("contact: two addresses", contact, _set("address", [{"city": "Lyon"}, {"city": "Nantes"}]),
           "RelatedPerson.address",
           ("tddui-related-person-contact: RelatedPerson.address: maximum cardinality 1, found 2",), "structure"),
    # -- Organization
    Broken("organization: no idNatSt (slice min)", organization,
           _set("identifier", [{"system": "https://finess.esante.gouv.fr", "value": "750803447"}]), "Organization.identifier",
           ("tddui-organization: Organization.identifier:idNatSt: minimum cardinality 1, found 0",), "required"),
    # -- Consent accord
    Broken("consent: dateTime missing", consent, _set("dateTime", ...), "Consent.dateTime",
           ("tddui-consent-accord: Consent.dateTime: minimum cardinality 1, found 0",), "required"),
    Broken("consent: performer is a Device", consent, _set("performer", [{"reference": "Device/d1"}]),
           "Consent.performer[0]",
           ("tddui-consent-accord: Consent.performer: reference to a Device, allowed targets:",), "structure"),
    # -- Bundle
    Broken("bundle: type batch (fixed)", bundle, _set("type", "batch"), "Bundle.type",
           ("tddui-bundle: Bundle.type: fixed value \"transaction\" required, found \"batch\"",), "value"),
    Broken("bundle: PUT entry (fixed POST)", bundle, _set("entry.0.request.method", "PUT"), "Bundle.entry[0].request.method",
           ("tddui-bundle: Bundle.entry.request.method: fixed value \"POST\" required, found \"PUT\"",), "value"),
    # -- tddui-practitioner
    Broken("practitioner: no IDNPS (slice min)", practitioner,
           _set("identifier", [{"system": "https://personnel.example.fr", "value": "P-12"}]), "Practitioner.identifier",
           ("tddui-practitioner: Practitioner.identifier:idNatPs: minimum cardinality 1, found 0",), "required"),
    Broken("practitioner: two names", practitioner, _append("name", {"use": "usual", "family": "LEROY-MARTIN"}),
           "Practitioner.name", ("tddui-practitioner: Practitioner.name: maximum cardinality 1, found 2",), "structure"),
    Broken("practitioner: title 'Dr' as prefix (outside JDV_J245)", practitioner, _set("name.0.prefix", ["Dr"]),
           "Practitioner.name[0].prefix[0]",
           ("tddui-practitioner: Practitioner.name.prefix: code 'Dr' is not in the required value set "
            "JDV_J245_Civilite_CISIS",), "code-invalid"),
    # -- tddui-practitioner-role
    Broken("practitioner role: profession code as role (outside JDV_J47)", practitioner_role,
           _set("code.0.coding", [{"system": NOS + "TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante", "code": "10"}]),
           "PractitionerRole.code[0].coding[0]",
           ("tddui-practitioner-role: PractitionerRole.code.coding: code", "TRE-G15-ProfessionSante|10' is not in",
            "required value set JDV_J47_FunctionCode_CISIS"), "code-invalid"),
    Broken("practitioner role: two roles (code max 1)", practitioner_role,
           _append("code", {"coding": [{"system": R85, "code": "353"}]}), "PractitionerRole.code",
           ("tddui-practitioner-role: PractitionerRole.code: maximum cardinality 1, found 2",), "structure"),
    Broken("practitioner role: organization is a Patient", practitioner_role,
           _set("organization", {"reference": "Patient/usager-1"}), "PractitionerRole.organization",
           ("tddui-practitioner-role: PractitionerRole.organization: reference to a Patient, allowed targets: "
            "Organization",), "structure"),
    Broken("practitioner role: two professions (extension slice max)", practitioner_role,
           _append("code.0.extension", {"url": TDDUI + "tddui-profession",
                                        "valueCodeableConcept": {"coding": [{"system": A02, "code": "G15_60"}]}}),
           "PractitionerRole.code[0].extension",
           ("tddui-practitioner-role: PractitionerRole.code.extension:tddui-profession: maximum cardinality 1, found 2",),
           "structure"),
    # -- PDSm simplified publish
    Broken("pdsm: document by url instead of data", document,
           _all(_set("content.0.attachment.data", ...), _set("content.0.attachment.url", "https://docs.example.fr/1.pdf")),
           "DocumentReference.content[0].attachment.data",
           ("pdsm-simplified-publish: DocumentReference.content.attachment.data: minimum cardinality 1, found 0",),
           "required"),
    Broken("pdsm: attachment url (max 0)", document, _set("content.0.attachment.url", "https://docs.example.fr/1.pdf"),
           "DocumentReference.content[0].attachment.url",
           ("pdsm-simplified-publish: DocumentReference.content.attachment.url: maximum cardinality 0, found 1",),
           "structure"),
    Broken("pdsm: status superseded (fixed)", document, _set("status", "superseded"), "DocumentReference.status",
           ("pdsm-simplified-publish: DocumentReference.status: fixed value \"current\" required, found \"superseded\"",),
           "value"),
    Broken("pdsm: custodian missing", document, _set("custodian", ...), "DocumentReference.custodian",
           ("pdsm-simplified-publish: DocumentReference.custodian: minimum cardinality 1, found 0",), "required"),
    Broken("pdsm: identifier given (MHD identifier 0..0)", document,
           _set("identifier", [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:0d6f1c0e-8a8e-4d7b-9c61-1f7f2b1b2c3d"}]),
           "DocumentReference.identifier",
           ("pdsm-simplified-publish: DocumentReference.identifier: maximum cardinality 0, found 1",), "structure"),
    Broken("pdsm: context without producer (invariant)", document,
           _set("context", {"period": {"start": "2024-01-31"}}), "DocumentReference.context",
           ("pdsm-simplified-publish: invariant constr-bind-ProducteurDoc-simplified failed",), "invariant"),
    Broken("pdsm: subject is a Group", document, _set("subject", {"reference": "Group/g1"}), "DocumentReference.subject",
           ("pdsm-simplified-publish: DocumentReference.subject: reference to a Group, allowed targets: Patient",),
           "structure"),
    # -- Cercle de soins
    Broken("careteam: name missing", careteam, _set("name", ...), "CareTeam.name",
           ("cds-ihe-careteam: CareTeam.name: minimum cardinality 1, found 0",), "required"),
    Broken("careteam: period missing", careteam, _set("period", ...), "CareTeam.period",
           ("cds-ihe-careteam: CareTeam.period: minimum cardinality 1, found 0",), "required"),
    Broken("careteam: member is a Patient", careteam, _set("participant.0.member", {"reference": "Patient/p1"}),
           "CareTeam.participant[0].member",
           ("cds-ihe-careteam: CareTeam.participant.member: reference to a Patient, allowed targets: PractitionerRole, "
            "RelatedPerson, Organization",), "structure"),
    Broken("careteam: participant period without start", careteam, _set("participant.1.period", {"end": "2024-12-31"}),
           "CareTeam.participant[1].period.start",
           ("cds-ihe-careteam: CareTeam.participant.period.start: minimum cardinality 1, found 0",), "required"),
    Broken("careteam: identifier without value", careteam, _set("identifier.0.value", ...), "CareTeam.identifier[0].value",
           ("cds-ihe-careteam: CareTeam.identifier.value: minimum cardinality 1, found 0",), "required"),
]


@pytest.mark.parametrize("case", BROKEN, ids=[b.label for b in BROKEN])
def test_broken_variant_is_refused_and_named(fhir: Any, case: Broken) -> None:
    """Write (resource claiming the profile) → 422 naming element and rule; $validate?profile= → the same issue."""
    resource = case.make()
    case.change(resource)
    resp = fhir.post(resource["resourceType"], resource)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    find(body["issue"], case.expression, *case.fragments, code=case.code)
    find(validate(fhir, resource), case.expression, *case.fragments, code=case.code)
    assert not fhir.search(f"{resource['resourceType']}?_count=10")


# ---------------------------------------------------------------------------------------------- finer points

def test_validate_profile_parameter_applies_without_meta_profile(fhir: Any) -> None:
    """$validate?profile= checks the profile even when the resource does not claim it."""
    resource = careplan()
    del resource["meta"]
    del resource["title"]
    find(validate(fhir, {**resource, "meta": {"profile": [TDDUI + "tddui-careplan-projet-personnalise"]}}),
         "CarePlan.title", "minimum cardinality 1", code="required")
    resp = fhir.post("CarePlan/$validate?profile=" + quote(TDDUI + "tddui-careplan-projet-personnalise", safe=""),
                     resource)
    assert resp.status_code == 200
    find(resp.get_json()["issue"], "CarePlan.title", "tddui-careplan-projet-personnalise: CarePlan.title: minimum "
         "cardinality 1, found 0", code="required")
    assert fhir.post("CarePlan", resource).status_code == 201  # not claimed: only base FHIR applies on write


def test_contact_role_outside_j384_is_a_warning_only(fhir: Any) -> None:
    """relationship[Role] PAT ('aidé', TRE_R260 without the médico-social flag) is outside JDV_J384: TDDUI 2.2.0-ballot
    does not bind it (later versions do, required), so it is a warning and the write is accepted."""
    resource = contact()
    resource["relationship"][0]["coding"][0]["code"] = "PAT"
    issues = validate(fhir, resource)
    assert not errors(issues)
    find(issues, "RelatedPerson.relationship[0].coding[0].code",
         "tddui-related-person-contact: RelatedPerson.relationship:Role.coding:R260.code: code 'PAT' is not in the "
         "extensible value set JdvJ384RoleMembreFamilleMs", code="code-invalid", severity="warning")
    assert fhir.post("RelatedPerson", resource).status_code == 201


def test_patient_ins_inherits_fr_core_rules(fhir: Any) -> None:
    """tddui-patient-ins applies FR Core Patient INS too: the birth place is mandatory there."""
    resource = tddui_patient_ins()
    resource["extension"] = resource["extension"][:1]
    resp = fhir.post("Patient", resource)
    assert resp.status_code == 422
    find(resp.get_json()["issue"], "Patient.extension", "tddui-patient-ins (from fr-core-patient-ins): "
         "Patient.extension:birthPlace: minimum cardinality 1, found 0", code="required")


def test_bundle_entry_without_request_is_refused(fhir: Any) -> None:
    """tddui-bundle: every entry carries a request (POST)."""
    resource = bundle()
    del resource["entry"][0]["request"]
    find(validate(fhir, resource), "Bundle.entry[0].request",
         "tddui-bundle: Bundle.entry.request: minimum cardinality 1, found 0", code="required")


def test_careplan_display_slicing_counts_every_structure_accord(fhir: Any) -> None:
    """Two accords of the structure are allowed (accordStructure 1..*); an accord without a display is in no slice
    and does not count."""
    resource = careplan()
    resource["supportingInfo"] = [{"reference": "Consent/a1", "display": "Consentement structure"},
                                  {"reference": "Consent/a2", "display": "Consentement structure"}]
    assert not errors(validate(fhir, resource))
    resource["supportingInfo"] = [{"reference": "Consent/a1"}]
    find(validate(fhir, resource), "CarePlan.supportingInfo", "accordStructure: minimum cardinality 1, found 0")


def test_demo_export_claims_only_known_profiles_and_validates(fhir: Any) -> None:
    """Every entry of a demo usager's $tddui-export (Practitioners and PractitionerRoles included) claims a profile
    this server knows, and ``$validate`` of each entry against it gives neither an error nor a 'not known' warning."""
    from fhirserver.demo import build_demo_bundle

    demo = build_demo_bundle(usagers=6)
    assert fhir.post("", demo).status_code == 200
    patient_id = next(e["resource"]["id"] for e in demo["entry"] if e["resource"]["resourceType"] == "Patient")
    resp = fhir.get(f"Patient/{patient_id}/$tddui-export")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    entries = [e["resource"] for e in resp.get_json()["entry"]]
    types = {r["resourceType"] for r in entries}
    assert {"Practitioner", "PractitionerRole"} <= types
    for resource in entries:
        issues = validate(fhir, resource)
        assert not errors(issues), (resource["resourceType"], issues)
        assert not [i for i in issues if "is not known" in i.get("diagnostics", "")], (resource["resourceType"], issues)
    roles = [r for r in entries if r["resourceType"] == "PractitionerRole"]
    assert all(c["system"].endswith("TRE-R85-RolePriseCharge") and c["code"] in ("330", "353")
               for r in roles for c in r["code"][0]["coding"])
