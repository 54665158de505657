"""Sections FR-Resultats-evenements (1.2.250.1.213.1.1.2.163, LOINC 42545-4: état psychique, handicaps,
déplacements, risques) and FR-Resultats-examens (1.2.250.1.213.1.1.2.151, LOINC 30954-2: BMR / BHRe carriage and
the GIR) of the DLU-EHPAD (ANS model DLU-EHPAD-DLU 2022.01, example ``DLU-EHPAD-DLU_2022.01.xml``).

The 15 observations of the DLU form are the codes of JDV_ObservationEtatPatient_CISIS (1.2.250.1.213.1.1.5.514,
checked by the DLU schematron); every one is always sent: ``true`` / ``false`` when the record says so, a
``nullFlavor="UNK"`` value ("non renseigné") otherwise.

Input: FHIR ``Observation`` resources coded with those SNOMED CT codes (``valueBoolean``; the most recent wins),
and ``Condition`` resources with the same codes (an active one means ``true``). BMR: an Observation coded ICD-10
U83.71 (``valueBoolean``, or a coded / text value naming the bacterium). GIR: an Observation coded TA_ASIP
MED-346 "Score GIR" whose value is in JDV_GIR_CISIS (MED-339..MED-344 = GIR 1..6). The GIR has no place of its own
in the DLU 2022.01 model: it is sent as a FR-Simple-Observation of the results section, coded LOINC 10210-3
qualified by MED-346 as in the other CI-SIS volets (ANEST-CR-CPA).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from mappings.cda.entries import codes
from mappings.cda.entries.acts import procedure
from mappings.cda.entries.base import Resource, find_coding, fr_date, has_code, text_of, yes_no
from mappings.cda.entries.observations import Code, simple_observation
from mappings.cda.entries.problems import is_active
from mappings.cda.sections.narrative import Content, Narrative, attach, entry, new_section

EVENT_OUTCOMES = ("1.3.6.1.4.1.19376.1.5.3.1.1.21.2.9", "1.3.6.1.4.1.19376.1.7.3.1.1.13.7",
                  "1.2.250.1.213.1.1.2.163")
RESULTS = ("1.3.6.1.4.1.19376.1.5.3.1.3.27", "1.3.6.1.4.1.19376.1.5.3.1.3.28", "1.2.250.1.213.1.1.2.151")
SNOMED_URI = "http://snomed.info/sct"


@dataclass(frozen=True)
class StateItem:
    group: str
    label: str
    code: Code


def _s(group: str, label: str, code: str, display: str) -> StateItem:
    return StateItem(group, label, Code(code, codes.SNOMED, display))


#: JDV_ObservationEtatPatient_CISIS, in the order and with the labels of the DLU form
STATE_ITEMS: tuple[StateItem, ...] = (
    _s("État psychique", "peut alerter", "288575003", "capable de communiquer"),
    _s("État psychique", "orienté", "247663003", "bien orienté"),
    _s("État psychique", "désorienté", "62476001", "désorienté(e)"),
    _s("État psychique", "agité", "24199005", "sensation d'agitation"),
    _s("État psychique", "opposant", "248043008", "comportement non-conciliant"),
    _s("État psychique", "risque suicidaire", "425104003", "comportement suicidaire"),
    _s("Handicaps / déficits", "visuel", "397540003", "malvoyance"),
    _s("Handicaps / déficits", "auditif", "15188001", "perte auditive"),
    _s("Handicaps / déficits", "langage", "62305002", "trouble du langage"),
    _s("Déplacements / transferts", "chute", "161898004", "chutes"),
    _s("Déplacements / transferts", "déambulation", "50239007", "errance"),
    _s("Déplacements / transferts", "fugue", "248046000", "fugue"),
    _s("Déplacements / transferts", "contention", "386423001", "contention physique"),
    _s("Autres risques", "risque d'escarre", "285304000", "à risque d'escarre"),
    _s("Autres risques", "risque de fausse route", "249492002", "fausse route alimentaire"),
)

BMR = Code("U83.71", codes.ICD10, "Bactérie multirésistante [BMR]")
GIR_CODE = Code("10210-3", codes.LOINC, "Évaluation de la dépendance (grille AGGIR)")
GIR_QUALIFIER = Code("MED-346", codes.TA_ASIP, "Score GIR")
GIR_VALUES = {f"MED-{338 + n}": f"GIR-{n}" for n in range(1, 7)}


def effective(resource: Resource) -> str:
    return str(resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")
               or resource.get("issued") or "")


def latest(resources: Sequence[Resource]) -> Resource | None:
    """The most recent of ``resources`` (by effective time; ISO strings compare in time order)."""
    return max(resources, key=effective, default=None)


def _valid(observation: Resource) -> bool:
    return observation.get("status") not in ("entered-in-error", "cancelled")


#: yes / no answers coded rather than boolean (HL7 v2-0136, SNOMED CT qualifier values)
_YES_NO = {("http://terminology.hl7.org/CodeSystem/v2-0136", "Y"): True,
           ("http://terminology.hl7.org/CodeSystem/v2-0136", "N"): False,
           (SNOMED_URI, "373066001"): True, (SNOMED_URI, "373067005"): False}


def answer(observation: Resource) -> bool | None:
    """The yes / no answer of an Observation: ``valueBoolean``, or a coded Y/N value."""
    if isinstance(observation.get("valueBoolean"), bool):
        return bool(observation["valueBoolean"])
    for (system, code), value in _YES_NO.items():
        if has_code(observation.get("valueCodeableConcept"), system, code):
            return value
    return None


def state_of(item: StateItem, observations: Sequence[Resource], conditions: Sequence[Resource]) -> bool | None:
    """The answer of the record to one DLU question: the most recent Observation coded with it, else ``True``
    when an active Condition has the code, else None (not known)."""
    matching = [o for o in observations if _valid(o) and answer(o) is not None
                and has_code(o.get("code"), SNOMED_URI, item.code.code)]
    found = latest(matching)
    if found is not None:
        return answer(found)
    if any(is_active(c) and has_code(c.get("code"), SNOMED_URI, item.code.code) for c in conditions):
        return True
    return None


def patient_state(body: etree._Element, observations: Sequence[Resource], conditions: Sequence[Resource],
                  key: str) -> etree._Element:
    section = new_section(body, EVENT_OUTCOMES, "42545-4", "Evènements observés", "Observations")
    narrative = Narrative("etat")
    answers = [(item, state_of(item, observations, conditions), narrative.content(item.label))
               for item in STATE_ITEMS]
    groups: dict[str, list[tuple[Content, str]]] = {}
    for item, state, content in answers:
        groups.setdefault(item.group, []).append((content, yes_no(state)))
    for group, rows in groups.items():
        narrative.table((group, "Observation"), rows)
    attach(section, narrative)
    for item, state, content in answers:
        simple_observation(entry(section), f"{key}/state/{item.code.code}", item.code, content.content_id,
                           boolean=state)
    return section


@dataclass(frozen=True)
class Carriage:
    state: bool | None
    detail: str
    when: str | None


def bmr_carriage(observations: Sequence[Resource]) -> Carriage:
    matching = [o for o in observations if _valid(o) and has_code(o.get("code"), "http://hl7.org/fhir/sid/icd-10",
                                                                   BMR.code)]
    found = latest(matching)
    if found is None:
        return Carriage(None, "", None)
    value = answer(found)
    detail = ""
    if value is None:  # a coded or text value naming the bacterium: the usager carries it
        detail = text_of(found.get("valueCodeableConcept")) or str(found.get("valueString") or "")
        value = True if detail else None
    notes = " ".join(str(n.get("text")) for n in found.get("note") or [] if isinstance(n, Mapping) and n.get("text"))
    return Carriage(value, " – ".join(p for p in (detail, notes) if p), effective(found) or None)


def dependency(observations: Sequence[Resource]) -> tuple[Mapping[str, Any], Resource] | None:
    """The most recent GIR: (its JDV_GIR coding, the Observation)."""
    matching = []
    for obs in observations:
        if not _valid(obs) or not has_code(obs.get("code"), "urn:oid:" + codes.TA_ASIP, GIR_QUALIFIER.code):
            continue
        coding = find_coding(obs.get("valueCodeableConcept"), ("urn:oid:" + codes.TA_ASIP,))
        if coding and coding.get("code") in GIR_VALUES:
            matching.append(obs)
    found = latest(matching)
    if found is None:
        return None
    coding = find_coding(found.get("valueCodeableConcept"), ("urn:oid:" + codes.TA_ASIP,))
    assert coding is not None
    return {**coding, "display": GIR_VALUES[str(coding["code"])]}, found


def results(body: etree._Element, observations: Sequence[Resource], key: str) -> etree._Element:
    """BMR / BHRe carriage (always sent, ``UNK`` when not known) and the GIR when the record has one."""
    section = new_section(body, RESULTS, "30954-2", "Résultats d'examens", "Résultats d'examens")
    narrative = Narrative("resultat")
    carriage = bmr_carriage(observations)
    question = narrative.content("L'usager est-il porteur d'une bactérie multirésistante (BMR / BHRe) ?")
    answer = yes_no(carriage.state)
    if carriage.detail:
        answer += f" ({carriage.detail})"
    if carriage.when:
        answer += f", le {fr_date(carriage.when)}"
    rows: list[tuple[Content | str, str]] = [(question, answer)]
    gir = dependency(observations)
    gir_content = narrative.content("Groupe iso-ressources (GIR, grille AGGIR)") if gir else None
    if gir and gir_content:
        rows.append((gir_content, f"{gir[0]['display'].replace('-', ' ')}, évalué le {fr_date(effective(gir[1]))}"))
    narrative.table(("Examen", "Résultat"), rows)
    attach(section, narrative)
    procedure(entry(section), f"{key}/bmr-screening", None, question.content_id, status="completed",
              when=carriage.when)
    simple_observation(entry(section), f"{key}/bmr", BMR, question.content_id, boolean=carriage.state,
                       when=carriage.when, when_null="NASK")
    if gir and gir_content:
        simple_observation(entry(section), f"{key}/gir", GIR_CODE, gir_content.content_id,
                           qualifier=GIR_QUALIFIER, value=gir[0], value_kind="CD", when=effective(gir[1]))
    return section
