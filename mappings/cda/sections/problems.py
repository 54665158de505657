"""Sections FR-Problemes-actifs (1.2.250.1.213.1.1.2.132, LOINC 11450-4), FR-Antecedents-medicaux
(1.2.250.1.213.1.1.2.134, LOINC 11348-0) and FR-Allergies-et-hypersensibilites (1.2.250.1.213.1.1.2.137,
LOINC 48765-2) of the DLU-EHPAD (ANS model DLU-EHPAD-DLU 2022.01, example ``DLU-EHPAD-DLU_2022.01.xml``).

Input: FHIR ``Condition`` and ``AllergyIntolerance`` resources (dicts). A condition whose clinical status is
active / recurrence / relapse is a "pathologie en cours", any other one an "antécédent".
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from mappings.cda.entries.base import Resource, fr_date, text_of
from mappings.cda.entries.problems import allergy_concern, allergy_type, is_active, problem_concern
from mappings.cda.sections.narrative import Narrative, attach, entry, new_section

ACTIVE_PROBLEMS = ("2.16.840.1.113883.10.20.1.11", "1.3.6.1.4.1.19376.1.5.3.1.3.6", "1.2.250.1.213.1.1.2.132")
MEDICAL_HISTORY = ("1.3.6.1.4.1.19376.1.5.3.1.3.8", "1.2.250.1.213.1.1.2.134")
ALLERGIES = ("2.16.840.1.113883.10.20.1.2", "1.3.6.1.4.1.19376.1.5.3.1.3.13", "1.2.250.1.213.1.1.2.137")


def _onset(resource: Resource) -> str | None:
    return (resource.get("onsetDateTime") or (resource.get("onsetPeriod") or {}).get("start")
            or resource.get("recordedDate"))


def _problems(body: etree._Element, conditions: Sequence[Resource], templates: tuple[str, ...], code: str,
              display: str, title: str, prefix: str, empty: str) -> etree._Element:
    section = new_section(body, templates, code, display, title)
    narrative = Narrative(prefix)
    rows = [(condition, narrative.content(text_of(condition.get("code"), "Pathologie non précisée")))
            for condition in conditions]
    if rows:
        narrative.table(("Date de début", "Pathologie", "Statut"),
                        [(fr_date(_onset(c)), content, _status_fr(c)) for c, content in rows])
    else:
        narrative.paragraph(empty)
    attach(section, narrative)
    for condition, content in rows:
        problem_concern(entry(section), condition, content.content_id)
    return section


def _status_fr(condition: Resource) -> str:
    if is_active(condition):
        return "en cours"
    end = condition.get("abatementDateTime")
    return f"résolu le {fr_date(end)}" if end else "résolu"


def active_problems(body: etree._Element, conditions: Sequence[Resource]) -> etree._Element:
    return _problems(body, [c for c in conditions if is_active(c)], ACTIVE_PROBLEMS, "11450-4",
                     "Liste des problèmes actifs", "Pathologies en cours", "probleme",
                     "Aucune pathologie en cours renseignée dans le dossier.")


def medical_history(body: etree._Element, conditions: Sequence[Resource]) -> etree._Element:
    return _problems(body, [c for c in conditions if not is_active(c)], MEDICAL_HISTORY, "11348-0",
                     "Antécédents médicaux", "Antécédents médicaux", "antecedent",
                     "Aucun antécédent médical renseigné dans le dossier.")


_CRITICALITY = {"high": "élevée", "low": "faible", "unable-to-assess": "non évaluable"}


def _reactions(allergy: Resource) -> str:
    found = []
    for reaction in allergy.get("reaction") or []:
        for manifestation in (reaction or {}).get("manifestation") or []:
            label = text_of(manifestation)
            if label:
                found.append(label)
    return ", ".join(found)


def allergies(body: etree._Element, items: Sequence[Resource]) -> etree._Element:
    section = new_section(body, ALLERGIES, "48765-2", "Allergies et hypersensibilités",
                          "Allergies et hypersensibilités")
    narrative = Narrative("allergie")
    rows = [(a, narrative.content(text_of(a.get("code"), "Agent non précisé"))) for a in items]
    if rows:
        narrative.table(
            ("Date de début", "Type", "Agent", "Réaction", "Criticité"),
            [(fr_date(_onset(a)), allergy_type(a)[1], content, _reactions(a),
              _CRITICALITY.get(str(a.get("criticality")), "")) for a, content in rows])
    else:
        narrative.paragraph("Aucune allergie ni hypersensibilité renseignée dans le dossier.")
    attach(section, narrative)
    for allergy, content in rows:
        allergy_concern(entry(section), allergy, content.content_id)
    return section
