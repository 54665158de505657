"""The stay and small clinical record of each demo usager: Encounter (TDDUI séjour), Condition,
AllergyIntolerance, Observation (weight, blood pressure, GIR) and MedicationStatement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fhirserver.demo.context import DemoContext
from fhirserver.demo.data.clinical import ALLERGIES, CONDITIONS, DRUGS_BY_CONDITION
from fhirserver.demo.helpers import Resource, cc, coding, instant, ref
from fhirserver.demo.model import Staff, Usager
from fhirserver.demo.systems import (
    ATC,
    ICD10,
    LOINC,
    REFERENCE_DATE,
    SEJOUR_SYSTEM,
    SNOMED,
    TA_ASIP,
    TDDUI_ENCOUNTER_IDENTIFIER,
    TRE_R338_MODALITE_ACCUEIL,
    UCUM,
    V3_ACT_CODE,
    V3_PARTICIPATION,
)


def encounter(ctx: DemoContext, u: Usager) -> Resource:
    s = u.structure
    if s.key == "ehpad":
        klass = coding(V3_ACT_CODE, "NONAC", "inpatient non-acute")
        type_text = "Hébergement permanent en EHPAD"
    else:
        klass = coding(V3_ACT_CODE, "HH", "home health")
        type_text = "Prise en charge en soins infirmiers à domicile"
    referent = ctx.first_staff(s, "idec")
    if s.key == "ssiad":
        modality = ("05", "Visite à domicile")
    elif u.unit_id == "ehpad-unite-alzheimer":
        modality = ("20", "Accueil en unité protégée")
    else:
        modality = ("03", "En présentiel")
    return {
        "resourceType": "Encounter",
        "id": f"{u.pid}-sejour",
        "identifier": [
            {
                "type": cc(TDDUI_ENCOUNTER_IDENTIFIER, "SEJ", "Identifiant du séjour"),
                "system": SEJOUR_SYSTEM,
                "value": f"{s.local_prefix}/{u.local_id}-SEJOUR-1",
            }
        ],
        "status": "in-progress",
        "class": klass,
        "type": [{"text": type_text}],
        "serviceType": cc(TRE_R338_MODALITE_ACCUEIL, modality[0], modality[1]),
        "subject": ref("Patient", u.pid, u.display),
        "participant": [
            {
                "type": [
                    cc(V3_PARTICIPATION, "PPRF", "primary performer", "Référent de la prise en charge")
                ],
                "individual": ref("PractitionerRole", referent.role_id, referent.display),
            }
        ],
        "period": {"start": instant(u.admission, 10, 0)},
        "location": [{"location": ref("Location", u.unit_id), "status": "active"}],
        "serviceProvider": ref("Organization", s.org_id, s.name),
    }


def recorder_of(ctx: DemoContext, u: Usager) -> Staff:
    return ctx.first_staff(u.structure, "medco" if u.structure.key == "ehpad" else "idec")


def conditions(ctx: DemoContext, u: Usager) -> list[Resource]:
    out = []
    recorder = recorder_of(ctx, u)
    for key in u.conditions:
        c = CONDITIONS[key]
        years_before = ctx.rng.randint(1, 12)
        onset = u.admission.replace(
            year=max(u.admission.year - years_before, u.birth_date.year + 30), day=1
        )
        u.onsets[key] = onset
        out.append(
            {
                "resourceType": "Condition",
                "id": f"{u.pid}-{key}",
                "clinicalStatus": cc(
                    "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "active",
                    "Active",
                    "Active",
                ),
                "verificationStatus": cc(
                    "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "confirmed",
                    "Confirmed",
                    "Confirmé",
                ),
                "category": [
                    cc(
                        "http://terminology.hl7.org/CodeSystem/condition-category",
                        "problem-list-item",
                        "Problem List Item",
                        "Problème de santé",
                    )
                ],
                "code": {
                    "coding": [
                        coding(SNOMED, c.snomed, c.snomed_display),
                        coding(ICD10, c.icd10, c.icd10_display),
                    ],
                    "text": c.text,
                },
                "subject": ref("Patient", u.pid, u.display),
                "onsetDateTime": onset.isoformat(),
                "recordedDate": u.admission.isoformat(),
                "recorder": ref("Practitioner", recorder.pid, recorder.display),
            }
        )
    return out


def allergies(ctx: DemoContext, u: Usager) -> list[Resource]:
    if ctx.rng.random() >= 0.35:
        return []
    recorder = recorder_of(ctx, u)
    chosen = ctx.rng.sample(ALLERGIES, 2 if ctx.rng.random() < 0.2 else 1)
    out = []
    for number, a in enumerate(chosen, start=1):
        out.append(
            {
                "resourceType": "AllergyIntolerance",
                "id": f"{u.pid}-allergie-{number}",
                "clinicalStatus": cc(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "active",
                    "Active",
                    "Active",
                ),
                "verificationStatus": cc(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "confirmed",
                    "Confirmed",
                    "Confirmée",
                ),
                "type": "allergy",
                "category": [a.category],
                "criticality": a.criticality,
                "code": cc(a.system, a.code, a.display, a.text),
                "patient": ref("Patient", u.pid, u.display),
                "recordedDate": u.admission.isoformat(),
                "recorder": ref("Practitioner", recorder.pid, recorder.display),
                "reaction": [
                    {
                        "manifestation": [
                            cc(SNOMED, a.reaction_code, a.reaction_display, a.reaction_text)
                        ],
                        "severity": a.severity,
                    }
                ],
                "note": [
                    {"text": "Allergie signalée par la famille et confirmée par le médecin traitant."}
                ],
            }
        )
    return out


def observations(ctx: DemoContext, u: Usager) -> list[Resource]:
    rng = ctx.rng
    s = u.structure
    nurse = ctx.pick_staff(s, "ide")
    out: list[Resource] = []
    base_weight = rng.uniform(44.0, 72.0) if u.gender == "female" else rng.uniform(55.0, 88.0)
    for number, days_before in enumerate((75, 45, 15), start=1):
        day = REFERENCE_DATE - timedelta(days=days_before + rng.randint(0, 4))
        weight = round(base_weight + rng.uniform(-1.2, 1.2) - 0.3 * number, 1)
        out.append(
            {
                "resourceType": "Observation",
                "id": f"{u.pid}-poids-{number}",
                "status": "final",
                "category": [vital_signs_category()],
                "code": {"coding": [coding(LOINC, "29463-7", "Body weight")], "text": "Poids"},
                "subject": ref("Patient", u.pid, u.display),
                "effectiveDateTime": instant(day, 8, rng.choice([0, 15, 30, 45])),
                "performer": [ref("PractitionerRole", nurse.role_id, nurse.display)],
                "valueQuantity": {"value": weight, "unit": "kg", "system": UCUM, "code": "kg"},
            }
        )
    hypertensive = "hta" in u.conditions
    for number, days_before in enumerate((60, 30, 5), start=1):
        day = REFERENCE_DATE - timedelta(days=days_before + rng.randint(0, 3))
        systolic = rng.randint(135, 165) if hypertensive else rng.randint(110, 140)
        diastolic = rng.randint(70, 95) if hypertensive else rng.randint(60, 85)
        out.append(
            {
                "resourceType": "Observation",
                "id": f"{u.pid}-tension-{number}",
                "status": "final",
                "category": [vital_signs_category()],
                "code": {
                    "coding": [
                        coding(LOINC, "85354-9", "Blood pressure panel with all children optional")
                    ],
                    "text": "Pression artérielle",
                },
                "subject": ref("Patient", u.pid, u.display),
                "effectiveDateTime": instant(day, 9, rng.choice([0, 10, 20, 40])),
                "performer": [ref("PractitionerRole", nurse.role_id, nurse.display)],
                "component": [
                    {
                        "code": {
                            "coding": [coding(LOINC, "8480-6", "Systolic blood pressure")],
                            "text": "Pression artérielle systolique",
                        },
                        "valueQuantity": {
                            "value": systolic,
                            "unit": "mmHg",
                            "system": UCUM,
                            "code": "mm[Hg]",
                        },
                    },
                    {
                        "code": {
                            "coding": [coding(LOINC, "8462-4", "Diastolic blood pressure")],
                            "text": "Pression artérielle diastolique",
                        },
                        "valueQuantity": {
                            "value": diastolic,
                            "unit": "mmHg",
                            "system": UCUM,
                            "code": "mm[Hg]",
                        },
                    },
                ],
            }
        )
    out.append(gir_observation(ctx, u))
    return out


def vital_signs_category() -> dict[str, Any]:
    return cc(
        "http://terminology.hl7.org/CodeSystem/observation-category",
        "vital-signs",
        "Vital Signs",
        "Signes vitaux",
    )


def gir_observation(ctx: DemoContext, u: Usager) -> Resource:
    # GIR (groupe iso-ressources, AGGIR grid): coded as in the CI-SIS CDA volets -- observation code LOINC
    # 10210-3 qualified by TA_ASIP MED-346 "Score GIR", value from JDV_GIR_CISIS (TA_ASIP MED-339..MED-344
    # = GIR-1..GIR-6). LOINC has no dedicated GIR code.
    if u.structure.key == "ehpad":
        gir = ctx.rng.choice([1, 2]) if "alzheimer" in u.conditions else ctx.rng.choice([2, 3, 3, 4, 4])
        evaluator = ctx.first_staff(u.structure, "medco")
    else:
        gir = ctx.rng.choice([2, 3, 4, 4, 5])
        evaluator = ctx.first_staff(u.structure, "idec")
    day = REFERENCE_DATE - timedelta(days=ctx.rng.randint(20, 120))
    return {
        "resourceType": "Observation",
        "id": f"{u.pid}-gir",
        "status": "final",
        "category": [
            cc(
                "http://terminology.hl7.org/CodeSystem/observation-category",
                "survey",
                "Survey",
                "Évaluation",
            )
        ],
        "code": {
            "coding": [
                coding(TA_ASIP, "MED-346", "Score GIR"),
                coding(LOINC, "10210-3", "Physical findings of General status Narrative"),
            ],
            "text": "Groupe iso-ressources (GIR) – grille AGGIR",
        },
        "subject": ref("Patient", u.pid, u.display),
        "effectiveDateTime": instant(day, 14, 0),
        "performer": [ref("Practitioner", evaluator.pid, evaluator.display)],
        "valueCodeableConcept": cc(TA_ASIP, f"MED-{338 + gir}", f"GIR-{gir}", f"GIR {gir}"),
        "method": {"text": "Grille AGGIR (autonomie gérontologie groupes iso-ressources)"},
    }


def medications(ctx: DemoContext, u: Usager) -> list[Resource]:
    out = []
    prescriber = recorder_of(ctx, u)
    number = 0
    for key in u.conditions:
        for drug in DRUGS_BY_CONDITION.get(key, []):
            number += 1
            start = ctx.random_date(u.admission - timedelta(days=700), u.admission + timedelta(days=60))
            start = max(start, u.onsets.get(key, start))
            if drug.dose_unit == "inhalation":
                route = cc(SNOMED, "447694001", "Respiratory tract route", "Voie inhalée")
            else:
                route = cc(SNOMED, "26643006", "Oral route", "Voie orale")
            out.append(
                {
                    "resourceType": "MedicationStatement",
                    "id": f"{u.pid}-traitement-{number}",
                    "status": "active",
                    "medicationCodeableConcept": cc(ATC, drug.atc, drug.atc_display, drug.text),
                    "subject": ref("Patient", u.pid, u.display),
                    "context": ref("Encounter", f"{u.pid}-sejour"),
                    "effectivePeriod": {"start": start.isoformat()},
                    "dateAsserted": instant(u.admission, 11, 0),
                    "informationSource": ref("Practitioner", prescriber.pid, prescriber.display),
                    "reasonReference": [ref("Condition", f"{u.pid}-{key}")],
                    "dosage": [
                        {
                            "text": drug.dosage,
                            "timing": {
                                "repeat": {"frequency": drug.frequency, "period": 1, "periodUnit": "d"}
                            },
                            "route": route,
                            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": drug.dose_unit}}],
                        }
                    ],
                }
            )
    return out
