"""FLUDT sections FR-Signes-vitaux (1.2.250.1.213.1.1.2.75, LOINC 8716-3: pouls, température, poids, tension
artérielle) and FR-Protheses-et-objets-personnels (1.2.250.1.213.1.1.2.53, LOINC 46264-8, codes of
JDV_ProtheseObjetPersonnel_CISIS checked by the FLUDT schematron) — ANS model DLU-EHPAD-FLUDT 2022.01, example
``DLU-EHPAD-FLUDT_2022.01.xml``.

Input: FHIR vital-sign ``Observation``\\ s (LOINC 8867-4, 8310-5, 29463-7, and 8480-6 / 8462-4 alone or as
components of a 85354-9 panel; the most recent of each is sent) and prosthesis ``Observation``\\ s coded EMDN
(Q021003 lunettes, P0102 prothèse dentaire, Y2145 prothèse auditive) or TA_ASIP GEN-092.02.01 (autre objet), with
``valueBoolean`` (or ``valueString`` for the other objects) and ``bodySite`` (SNOMED CT supérieur / inférieur /
droit / gauche). Each of the five prostheses of the form is always sent (``nullFlavor="UNK"`` when not known).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from mappings.cda.entries import codes
from mappings.cda.entries.base import Resource, fr_date_time, has_code, quantity_text, yes_no
from mappings.cda.entries.observations import Code, VitalSign, simple_observation, vital_signs
from mappings.cda.sections.narrative import Cell, Narrative, attach, entry, new_section
from mappings.cda.sections.observations import effective, latest

VITAL_SIGNS = ("2.16.840.1.113883.10.20.1.16", "1.3.6.1.4.1.19376.1.5.3.1.3.25",
               "1.3.6.1.4.1.19376.1.5.3.1.1.5.3.2", "1.2.250.1.213.1.1.2.75")
PROSTHESES = ("1.2.250.1.213.1.1.2.53",)
PROSTHESIS_TEMPLATE = "1.2.250.1.213.1.1.3.12"
LOINC_URI = "http://loinc.org"

#: (label, LOINC code, display)
VITALS: tuple[tuple[str, Code], ...] = (
    ("Pouls", Code("8867-4", codes.LOINC, "Fréquence cardiaque")),
    ("Température", Code("8310-5", codes.LOINC, "Température corporelle")),
    ("Poids récent", Code("29463-7", codes.LOINC, "Poids")),
    ("Tension artérielle haute", Code("8480-6", codes.LOINC, "Pression artérielle systolique")),
    ("Tension artérielle basse", Code("8462-4", codes.LOINC, "Pression artérielle diastolique")),
)
_PANEL = "85354-9"


def _measures(observations: Sequence[Resource], code: str) -> list[tuple[Mapping[str, Any], str]]:
    """(quantity, time) of every measure of ``code``: the observation itself or a component of a panel."""
    out: list[tuple[Mapping[str, Any], str]] = []
    for obs in observations:
        if obs.get("status") in ("entered-in-error", "cancelled"):
            continue
        if has_code(obs.get("code"), LOINC_URI, code) and isinstance(obs.get("valueQuantity"), Mapping):
            out.append((obs["valueQuantity"], effective(obs)))
        if has_code(obs.get("code"), LOINC_URI, _PANEL):
            for component in obs.get("component") or []:
                if has_code(component.get("code"), LOINC_URI, code) and isinstance(component.get("valueQuantity"),
                                                                                    Mapping):
                    out.append((component["valueQuantity"], effective(obs)))
    return out


def vital_signs_section(body: etree._Element, key: str, observations: Sequence[Resource]) -> etree._Element:
    section = new_section(body, VITAL_SIGNS, "8716-3", "Signes vitaux", "Constantes de l'usager")
    narrative = Narrative("constante")
    signs: list[VitalSign] = []
    rows: list[tuple[Cell, Cell, Cell]] = []
    for label, code in VITALS:
        content = narrative.content(label)
        measures = _measures(observations, code.code)
        quantity, when = max(measures, key=lambda m: m[1]) if measures else ({}, "")
        rows.append((content, quantity_text(quantity) or "non renseigné", fr_date_time(when)))
        signs.append(VitalSign(code, quantity, when or None, content.content_id, f"{key}/vital/{code.code}"))
    narrative.table(("Constante", "Mesure", "Date de la mesure"), rows)
    attach(section, narrative)
    # every measure of the form is sent, a missing one with nullFlavor="UNK" (IHE PCC: at least one)
    vital_signs(entry(section), key, signs, max((s.when or "" for s in signs), default=None) or None)
    return section


@dataclass(frozen=True)
class Prosthesis:
    label: str
    code: Code
    site: Code | None


_EMDN_URI = "urn:oid:" + codes.EMDN
PROSTHESIS_ITEMS: tuple[Prosthesis, ...] = (
    Prosthesis("Lunettes", Code("Q021003", codes.EMDN, "LUNETTES PRÊTES À PORTER (OU LUNETTES MONTÉES)"), None),
    Prosthesis("Prothèse dentaire (haut)", Code("P0102", codes.EMDN, "PROTHÈSES DENTAIRES"),
               Code("264217000", codes.SNOMED, "supérieur")),
    Prosthesis("Prothèse dentaire (bas)", Code("P0102", codes.EMDN, "PROTHÈSES DENTAIRES"),
               Code("261089000", codes.SNOMED, "inférieur")),
    Prosthesis("Prothèse auditive (droite)", Code("Y2145", codes.EMDN, "DISPOSITIFS ACCOUSTIQUES D'AIDE À L'AUDITION"),
               Code("24028007", codes.SNOMED, "droit")),
    Prosthesis("Prothèse auditive (gauche)", Code("Y2145", codes.EMDN, "DISPOSITIFS ACCOUSTIQUES D'AIDE À L'AUDITION"),
               Code("7771000", codes.SNOMED, "gauche")),
)
OTHER_OBJECT = Code("GEN-092.02.01", codes.TA_ASIP, "Autre dispositif ou objet personnel")


def _worn(item: Prosthesis, observations: Sequence[Resource]) -> bool | None:
    matching = []
    for obs in observations:
        if not has_code(obs.get("code"), _EMDN_URI, item.code.code) or not isinstance(obs.get("valueBoolean"), bool):
            continue
        if item.site is not None and not has_code(obs.get("bodySite"), "http://snomed.info/sct", item.site.code):
            continue
        matching.append(obs)
    found = latest(matching)
    return None if found is None else bool(found["valueBoolean"])


def _site_coding(site: Code | None) -> Mapping[str, Any] | None:
    return {"system": "urn:oid:" + site.system, "code": site.code, "display": site.display} if site else None


def prostheses(body: etree._Element, key: str, observations: Sequence[Resource]) -> etree._Element:
    section = new_section(body, PROSTHESES, "46264-8", "Dispositifs médicaux", "Prothèses et objets personnels")
    narrative = Narrative("prothese")
    answers = [(item, _worn(item, observations), narrative.content(item.label)) for item in PROSTHESIS_ITEMS]
    others = [o for o in observations if has_code(o.get("code"), "urn:oid:" + codes.TA_ASIP, OTHER_OBJECT.code)
              and o.get("valueString")]
    other = latest(others)
    other_content = narrative.content(str(other["valueString"])) if other else None
    rows: list[tuple[Cell, Cell]] = [(content, yes_no(state)) for _, state, content in answers]
    if other_content:
        rows.append(("Autres dispositifs ou objets personnels", other_content))
    narrative.table(("Prothèse / objet personnel", "Présent"), rows)
    attach(section, narrative)
    for item, state, content in answers:
        simple_observation(entry(section), f"{key}/prosthesis/{item.label}", item.code, content.content_id,
                           boolean=state, extra_templates=(PROSTHESIS_TEMPLATE,), target_site=_site_coding(item.site)
                           or {}, when=None, when_null="UNK")
    if other is not None and other_content:
        simple_observation(entry(section), f"Observation/{other.get('id')}", OTHER_OBJECT, other_content.content_id,
                           value_kind="CD-text", extra_templates=(PROSTHESIS_TEMPLATE,), when=effective(other))
    return section
