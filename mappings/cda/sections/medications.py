"""Sections FR-Traitements (1.2.250.1.213.1.1.2.143, LOINC 10160-0) and FR-Vaccinations (1.2.250.1.213.1.1.2.147,
LOINC 11369-6) of the DLU-EHPAD (ANS models DLU-EHPAD-DLU / -FLUDT 2022.01, examples
``DLU-EHPAD-DLU_2022.01.xml`` and ``DLU-EHPAD-FLUDT_2022.01.xml``).

Input: FHIR ``MedicationStatement`` / ``MedicationRequest`` and ``Immunization`` resources (dicts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lxml import etree

from mappings.cda.entries.base import Resource, fr_date, fr_date_time, text_of
from mappings.cda.entries.medications import (
    dosages,
    immunization,
    last_intake,
    medication_concept,
    no_treatment,
    period,
    treatment,
)
from mappings.cda.sections.narrative import Narrative, attach, entry, new_section

TREATMENTS = ("2.16.840.1.113883.10.20.1.8", "1.3.6.1.4.1.19376.1.5.3.1.3.19", "1.2.250.1.213.1.1.2.143")
IMMUNIZATIONS = ("2.16.840.1.113883.10.20.1.6", "1.3.6.1.4.1.19376.1.5.3.1.3.23", "1.2.250.1.213.1.1.2.147")


def _posology(resource: Resource) -> str:
    parts = []
    for dosage in dosages(resource):
        if dosage.get("text"):
            parts.append(str(dosage["text"]))
            continue
        repeat: Mapping[str, Any] = (dosage.get("timing") or {}).get("repeat") or {}
        if repeat.get("frequency"):
            parts.append(f"{repeat['frequency']} fois par {_PERIODS.get(str(repeat.get('periodUnit')), 'période')}")
    return " ; ".join(parts)


_PERIODS = {"d": "jour", "wk": "semaine", "mo": "mois", "h": "heure", "a": "an"}


def _route(resource: Resource) -> str:
    for dosage in dosages(resource):
        if dosage.get("route"):
            return text_of(dosage["route"])
    return ""


def treatments(body: etree._Element, items: Sequence[Resource], key: str) -> etree._Element:
    """The usager's current treatments (Traitements au long cours); without any, one entry without product."""
    section = new_section(body, TREATMENTS, "10160-0", "Historique de la prise médicamenteuse",
                          "Traitements en cours")
    narrative = Narrative("traitement")
    rows = [(m, narrative.content(text_of(medication_concept(m), "Médicament non précisé"))) for m in items]
    if rows:
        narrative.table(("Date de début", "Date de fin", "Médicament", "Posologie", "Voie"),
                        [(fr_date(period(m)[0]), fr_date(period(m)[1]), content, _posology(m), _route(m))
                         for m, content in rows])
        attach(section, narrative)
        for resource, content in rows:
            treatment(entry(section), resource, content.content_id)
        return section
    none = narrative.content("Aucun traitement en cours renseigné dans le dossier.")
    narrative.paragraph(none)
    attach(section, narrative)
    no_treatment(entry(section), none.content_id, key)
    return section


def last_treatment_intake(body: etree._Element, when: str | None, key: str) -> etree._Element:
    """FLUDT: date and time of the last intake of the usual treatment."""
    section = new_section(body, TREATMENTS, "10160-0", "Traitements",
                          "Date et heure de la dernière prise du traitement habituel")
    narrative = Narrative("derniere-prise")
    content = narrative.content(f"Dernière prise du traitement habituel le {fr_date_time(when)}." if when
                                else "Heure de la dernière prise du traitement habituel non renseignée.")
    narrative.paragraph(content)
    attach(section, narrative)
    last_intake(entry(section), when, content.content_id, key)
    return section


def immunizations(body: etree._Element, items: Sequence[Resource]) -> etree._Element:
    section = new_section(body, IMMUNIZATIONS, "11369-6", "Historique des vaccinations", "Vaccinations")
    narrative = Narrative("vaccin")
    rows = [(i, narrative.content(text_of(i.get("vaccineCode"), "Vaccin non précisé"))) for i in items]
    if rows:
        narrative.table(("Vaccin", "Date", "Effectué", "Lot"),
                        [(content, fr_date(i.get("occurrenceDateTime")),
                          "non" if i.get("status") == "not-done" else "oui", str(i.get("lotNumber") or ""))
                         for i, content in rows])
    else:
        narrative.paragraph("Aucune vaccination renseignée dans le dossier.")
    attach(section, narrative)
    for resource, content in rows:
        immunization(entry(section), resource, content.content_id)
    return section
