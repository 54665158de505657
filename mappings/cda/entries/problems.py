"""Concern entries of the CI-SIS (IHE PCC Concern Entry 1.3.6.1.4.1.19376.1.5.3.1.4.5.1):

* FR-Liste-des-problemes (1.2.250.1.213.1.1.3.39, Problem Concern) holding FR-Probleme
  (1.2.250.1.213.1.1.3.37, Problem Entry) — from a FHIR ``Condition``;
* FR-Liste-des-allergies-et-hypersensibilites (1.2.250.1.213.1.1.3.40, Allergy and Intolerance Concern)
  holding FR-Allergie-ou-hypersensibilite (1.2.250.1.213.1.1.3.41) — from a FHIR ``AllergyIntolerance``.

Structure as in the ANS example ``DLU-EHPAD-DLU_2022.01.xml`` (sections Pathologies actives, Antécédents,
Allergies) and the CI-SIS "Modèles de contenus CDA" entries.
"""

from __future__ import annotations

from lxml import etree

from mappings.cda.entries import codes
from mappings.cda.entries.base import (
    Resource,
    coded,
    find_coding,
    fixed_code,
    ident,
    interval,
    resource_key,
    sub,
    template_ids,
    text_reference,
)

CONCERN = ("2.16.840.1.113883.10.20.1.27", "1.3.6.1.4.1.19376.1.5.3.1.4.5.1")
PROBLEM_CONCERN = (*CONCERN, "1.3.6.1.4.1.19376.1.5.3.1.4.5.2", "1.2.250.1.213.1.1.3.39")
PROBLEM = ("2.16.840.1.113883.10.20.1.28", "1.3.6.1.4.1.19376.1.5.3.1.4.5", "1.2.250.1.213.1.1.3.37")
ALLERGY_CONCERN = (*CONCERN, "1.3.6.1.4.1.19376.1.5.3.1.4.5.3", "1.2.250.1.213.1.1.3.40")
ALLERGY = ("2.16.840.1.113883.10.20.1.18", "2.16.840.1.113883.10.20.1.28", "1.3.6.1.4.1.19376.1.5.3.1.4.5",
           "1.3.6.1.4.1.19376.1.5.3.1.4.6", "1.2.250.1.213.1.1.3.41")

#: FHIR AllergyIntolerance type/category -> SNOMED CT allergy type (JDV_TypeAllergie / IHE ObservationIntoleranceType)
ALLERGY_TYPES: dict[tuple[str, str], tuple[str, str]] = {
    ("allergy", "food"): ("414285001", "allergie alimentaire"),
    ("allergy", "medication"): ("416098002", "allergie médicamenteuse"),
    ("allergy", "environment"): ("426232007", "allergie environnementale"),
    ("allergy", "biologic"): ("419199007", "allergie à une substance"),
    ("intolerance", "food"): ("235719002", "intolérance alimentaire"),
    ("intolerance", "medication"): ("59037007", "intolérance médicamenteuse"),
}
_ANY_ALLERGY = ("419199007", "allergie à une substance")
_ANY_INTOLERANCE = ("420134006", "tendance aux réactions indésirables")

#: the value of a problem: ICD-10 first (the ANS examples), then SNOMED CT, then ICD-11
PROBLEM_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-fr", "http://snomed.info/sct",
                   "http://id.who.int/icd/release/11/mms")


def _clinical_status(resource: Resource) -> str:
    status = resource.get("clinicalStatus") or {}
    for coding in status.get("coding") or []:
        if isinstance(coding, dict) and coding.get("code"):
            return str(coding["code"])
    return "active"


def is_active(resource: Resource) -> bool:
    return _clinical_status(resource) in ("active", "recurrence", "relapse")


def _concern(parent: etree._Element, templates: tuple[str, ...], resource: Resource, low: str | None,
             high: str | None) -> etree._Element:
    """The concern act: ``active`` (no end) while the problem is active, ``completed`` (with an end) after."""
    act = sub(parent, "act", {"classCode": "ACT", "moodCode": "EVN"})
    template_ids(act, templates)
    ident(act, resource_key(resource), "concern")
    sub(act, "code", {"nullFlavor": "NA"})
    active = is_active(resource)
    sub(act, "statusCode", {"code": "active" if active else "completed"})
    interval(act, low, None if active else high, high_null=None if active else "UNK")
    return act


def problem_concern(parent: etree._Element, condition: Resource, content_id: str) -> etree._Element:
    """A problem concern act holding one FR-Probleme observation (the condition, coded from ``Condition.code``)."""
    onset = condition.get("onsetDateTime") or (condition.get("onsetPeriod") or {}).get("start")
    onset = onset or condition.get("recordedDate")
    end = condition.get("abatementDateTime") or (condition.get("abatementPeriod") or {}).get("end")
    act = _concern(parent, PROBLEM_CONCERN, condition, onset, end)
    relationship = sub(act, "entryRelationship", {"typeCode": "SUBJ", "inversionInd": "false"})
    obs = sub(relationship, "observation", {"classCode": "OBS", "moodCode": "EVN", "negationInd": "false"})
    template_ids(obs, PROBLEM)
    ident(obs, resource_key(condition))
    fixed_code(obs, "code", "282291009", codes.SNOMED, "interprétation diagnostique")
    text_reference(obs, content_id)
    sub(obs, "statusCode", {"code": "completed"})
    interval(obs, onset, end, high_null=None if is_active(condition) else "UNK")
    coded(obs, "value", find_coding(condition.get("code"), PROBLEM_SYSTEMS), xsi_type="CD",
          original_text=content_id)
    return act


def allergy_type(allergy: Resource) -> tuple[str, str]:
    kind = str(allergy.get("type") or "allergy")
    categories = [str(c) for c in allergy.get("category") or []]
    for category in categories:
        if (kind, category) in ALLERGY_TYPES:
            return ALLERGY_TYPES[(kind, category)]
    return _ANY_INTOLERANCE if kind == "intolerance" else _ANY_ALLERGY


def allergy_concern(parent: etree._Element, allergy: Resource, content_id: str) -> etree._Element:
    """An allergy concern act holding one FR-Allergie-ou-hypersensibilite: the allergy type (SNOMED CT) as the
    observation code, the agent (``AllergyIntolerance.code``) as the consumable's playing entity."""
    onset = allergy.get("onsetDateTime") or (allergy.get("onsetPeriod") or {}).get("start")
    onset = onset or allergy.get("recordedDate")
    end = (allergy.get("onsetPeriod") or {}).get("end")
    act = _concern(parent, ALLERGY_CONCERN, allergy, onset, end)
    relationship = sub(act, "entryRelationship", {"typeCode": "SUBJ", "inversionInd": "false"})
    obs = sub(relationship, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    template_ids(obs, ALLERGY)
    ident(obs, resource_key(allergy))
    code, display = allergy_type(allergy)
    fixed_code(obs, "code", code, codes.SNOMED, display)
    text_reference(obs, content_id)
    sub(obs, "statusCode", {"code": "completed"})
    interval(obs, onset, end)
    value = sub(obs, "value", {"xsi:type": "CD"})
    text_reference(value, content_id, tag="originalText")
    participant = sub(obs, "participant", {"typeCode": "CSM"})
    role = sub(participant, "participantRole", {"classCode": "MANU"})
    entity = sub(role, "playingEntity", {"classCode": "MMAT"})
    coded(entity, "code", find_coding(allergy.get("code")), original_text=content_id)
    return act
