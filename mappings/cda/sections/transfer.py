"""FLUDT sections (ANS model DLU-EHPAD-FLUDT 2022.01, example ``DLU-EHPAD-FLUDT_2022.01.xml``, schematron
``CI-SIS_DLU-EHPAD-FLUDT_2022.01.sch``):

* FR-Resultats-evenements (1.2.250.1.213.1.1.2.163, LOINC 42545-4): the reason of the transfer (FR-Simple-
  Observation LOINC 57277-6, the only code the FLUDT schematron allows there) and the FR-Transfert-du-patient;
* FR-Resultats-examens (1.2.250.1.213.1.1.2.151, LOINC 30954-2): the state of consciousness (TA_ASIP DLU_002
  conscient et éveillé, DLU_003 éveillable, DLU_004 non éveillable — one of them is required) and the recent pains
  (ICD-10 R52.9 with their site);
* FR-Evaluation-fonctionnelle-du-sommeil-et-de-l-alimentation (1.2.250.1.213.1.1.2.162, LOINC 47420-5): the last
  meal (TA_ASIP GEN-244).
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from mappings.cda.entries import codes
from mappings.cda.entries.acts import procedure, transfer
from mappings.cda.entries.base import Resource, find_coding, fr_date_time, has_code, text_of
from mappings.cda.entries.observations import Code, simple_observation
from mappings.cda.sections.narrative import Narrative, attach, entry, new_section
from mappings.cda.sections.observations import EVENT_OUTCOMES, RESULTS, effective

FUNCTIONAL = ("1.3.6.1.4.1.19376.1.7.3.1.1.13.5", "1.2.250.1.213.1.1.2.162")
REASON = Code("57277-6", codes.LOINC, "Motif du transfert vers le service des urgences")
LAST_MEAL = Code("GEN-244", codes.TA_ASIP, "Date et heure du dernier repas")
PAIN = Code("R52.9", codes.ICD10, "Douleur, sans précision")
#: state of consciousness (TA_ASIP), as the FLUDT schematron requires one of them
CONSCIOUSNESS: dict[str, Code] = {
    "DLU_002": Code("DLU_002", codes.TA_ASIP, "Conscient et éveillé"),
    "DLU_003": Code("DLU_003", codes.TA_ASIP, "Eveillable"),
    "DLU_004": Code("DLU_004", codes.TA_ASIP, "Non éveillable"),
}
_PAIN_CODES = (("http://hl7.org/fhir/sid/icd-10", "R52.9"), ("http://hl7.org/fhir/sid/icd-10", "R52"),
               ("http://snomed.info/sct", "22253000"))


def transfer_event(body: etree._Element, key: str, reason: str, when: str, destination: Resource | None,
                   destination_name: str | None) -> etree._Element:
    section = new_section(body, EVENT_OUTCOMES, "42545-4", "Evènements observés",
                          "Transfert de l'usager de l'EHPAD vers le service des urgences")
    narrative = Narrative("transfert")
    reason_content = narrative.content(reason)
    name = str((destination or {}).get("name") or destination_name or "non renseigné")
    place = narrative.content(name)
    narrative.table(("Transfert", "Précision"), [("Motif", reason_content), ("Date", fr_date_time(when)),
                                                 ("Établissement de destination", place)])
    attach(section, narrative)
    simple_observation(entry(section), f"{key}/reason", REASON, reason_content.content_id, when=when,
                       value_kind="CD-text")
    transfer(entry(section), key, place.content_id, when, None, destination, destination_name)
    return section


def is_pain(observation: Resource) -> bool:
    return any(has_code(observation.get("code"), system, code) for system, code in _PAIN_CODES) \
        and observation.get("status") not in ("entered-in-error", "cancelled") \
        and observation.get("valueBoolean") is not False


def consciousness_and_pain(body: etree._Element, key: str, consciousness: str, when: str,
                           observations: Sequence[Resource]) -> etree._Element:
    """The state of consciousness (``consciousness``: DLU_002 / DLU_003 / DLU_004) and the recent pains."""
    state = CONSCIOUSNESS[consciousness]
    section = new_section(body, RESULTS, "30954-2", "Résultats d'examens", "Observations")
    narrative = Narrative("examen")
    state_content = narrative.content(state.display)
    pains = [o for o in observations if is_pain(o)]
    sites = [(o, narrative.content(_site(o))) for o in pains]
    narrative.table(("Observation", "Résultat"), [("État de conscience", state_content)]
                    + [("Douleur récente", site) for _, site in sites]
                    + ([] if sites else [("Douleur récente", "aucune douleur récente renseignée")]))
    attach(section, narrative)
    procedure(entry(section), f"{key}/examination", None, state_content.content_id, status="completed", when=when)
    simple_observation(entry(section), f"{key}/consciousness", state, state_content.content_id, when=when,
                       boolean=True)
    for obs, site in sites:
        body_site = find_coding(obs.get("bodySite"), ("http://snomed.info/sct",))
        simple_observation(entry(section), f"Observation/{obs.get('id')}", PAIN, site.content_id,
                           when=effective(obs) or when, boolean=True, target_site=body_site or {},
                           site_text=site.content_id)
    return section


def _site(observation: Resource) -> str:
    site = text_of(observation.get("bodySite"))
    note = text_of(observation.get("valueCodeableConcept")) or str(observation.get("valueString") or "")
    label = site or "localisation non précisée"
    return f"{label} ({note})" if note else label


def last_meal(body: etree._Element, key: str, when: str | None) -> etree._Element:
    section = new_section(body, FUNCTIONAL, "47420-5", "Évaluation du statut fonctionnel",
                          "Date et heure du dernier repas")
    narrative = Narrative("repas")
    content = narrative.content(f"Dernier repas pris le {fr_date_time(when)}." if when
                                else "Heure du dernier repas non renseignée.")
    narrative.paragraph(content)
    attach(section, narrative)
    simple_observation(entry(section), f"{key}/last-meal", LAST_MEAL, content.content_id, when=when,
                       when_null="UNK", boolean=None, value_null="NA")
    return section
