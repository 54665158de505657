"""The projet personnalisé of the demo usagers (Goal, CarePlan, the structure's agreement), their care circle
(CareTeam, cds-ihe-careteam) and the delegation of access to an aidant (Consent)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fhirserver.demo.context import DemoContext
from fhirserver.demo.data.care import ACTIVITIES, GOALS
from fhirserver.demo.helpers import Resource, add_years, cc, format_fr_date, instant, ref
from fhirserver.demo.model import Usager
from fhirserver.demo.systems import (
    DEMO_ID_BASE,
    LOINC,
    PROFILE_CARETEAM,
    PROJET_PERSO_SYSTEM,
    REFERENCE_DATE,
    TRE_R260_ROLE_CLASS,
    TRE_R390_PROJET,
    V3_ACT_CODE,
    V3_PARTICIPATION,
)


def plan_goals(ctx: DemoContext, u: Usager, start: date) -> list[Resource]:
    chosen = ctx.rng.sample(GOALS, 3)
    if "alzheimer" in u.conditions and "Stimuler les fonctions cognitives" not in chosen:
        chosen[0] = "Stimuler les fonctions cognitives"
    out = []
    for number, text in enumerate(chosen, start=1):
        expressed_by = (
            ref("Patient", u.pid, u.display)
            if number == 1 or not u.aidants
            else ref("RelatedPerson", u.aidants[0])
        )
        out.append(
            {
                "resourceType": "Goal",
                "id": f"{u.pid}-objectif-{number}",
                "identifier": [
                    {
                        "system": f"{DEMO_ID_BASE}/objectif",
                        "value": f"{u.structure.local_prefix}/{u.local_id}-PPObjectif-{number}",
                    }
                ],
                "lifecycleStatus": "active",
                "achievementStatus": cc(
                    "http://terminology.hl7.org/CodeSystem/goal-achievement",
                    "in-progress",
                    "In Progress",
                    "En cours",
                ),
                "description": {"text": text},
                "subject": ref("Patient", u.pid, u.display),
                "startDate": start.isoformat(),
                "target": [{"dueDate": add_years(start, 1).isoformat()}],
                "expressedBy": expressed_by,
                "note": [{"text": f"Objectif {number} du projet personnalisé"}],
            }
        )
    return out


def structure_agreement(ctx: DemoContext, u: Usager, day: date) -> Resource:
    s = u.structure
    return {
        "resourceType": "Consent",
        "id": f"{u.pid}-accord-structure",
        "status": "active",
        "scope": cc(
            "http://terminology.hl7.org/CodeSystem/consentscope",
            "patient-privacy",
            "Privacy Consent",
            "Accord sur le projet personnalisé",
        ),
        "category": [cc(LOINC, "59284-0", "Consent Document", "Accord de la structure")],
        "patient": ref("Patient", u.pid, u.display),
        "dateTime": instant(day, 15, 0),
        "performer": [ref("Organization", s.org_id, s.name)],
        "organization": [ref("Organization", s.org_id, s.name)],
        "policy": [{"authority": "https://www.cnsa.fr/"}],
    }


def delegation_consent(ctx: DemoContext, u: Usager) -> Resource:
    s = u.structure
    start = u.admission + timedelta(days=ctx.rng.randint(3, 40))
    end = max(add_years(start, 3), add_years(REFERENCE_DATE, 1))
    aidant = u.aidants[0]
    return {
        "resourceType": "Consent",
        "id": f"{u.pid}-delegation-aidant",
        "status": "active",
        "scope": cc(
            "http://terminology.hl7.org/CodeSystem/consentscope",
            "patient-privacy",
            "Privacy Consent",
            "Délégation d'accès au dossier",
        ),
        "category": [cc(LOINC, "59284-0", "Consent Document", "Délégation à un aidant")],
        "patient": ref("Patient", u.pid, u.display),
        "dateTime": instant(start, 11, 30),
        "performer": [ref("Patient", u.pid, u.display)],
        "organization": [ref("Organization", s.org_id, s.name)],
        "policyRule": cc(V3_ACT_CODE, "OPTIN", "opt-in", "Consentement exprès de l'usager"),
        "provision": {
            "type": "permit",
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "actor": [
                {
                    "role": cc(V3_PARTICIPATION, "IRCP", "information recipient", "Aidant délégataire"),
                    "reference": ref("RelatedPerson", aidant),
                }
            ],
            "action": [
                cc(
                    "http://terminology.hl7.org/CodeSystem/consentaction",
                    "access",
                    "Access",
                    "Consultation du dossier",
                )
            ],
        },
    }


def care_team(ctx: DemoContext, u: Usager) -> Resource:
    s = u.structure
    members: list[tuple[str, str, str]] = []  # (type, id, role text)
    role_keys = ["medco", "idec", "ide", "as"] if s.key == "ehpad" else ["idec", "ide", "as"]
    if "alzheimer" in u.conditions or "depression" in u.conditions:
        role_keys.append("psy")
    for role_key in role_keys:
        if role_key not in s.staff:
            continue
        st = (
            ctx.first_staff(s, role_key)
            if role_key in ("medco", "idec")
            else ctx.pick_staff(s, role_key)
        )
        label = st.role.label(st.gender)
        if role_key in ("ide", "as"):
            label = f"{label} référente" if st.gender == "female" else f"{label} référent"
        members.append(("PractitionerRole", st.role_id, label))
    participants: list[dict[str, Any]] = [
        {"role": [{"text": text}], "member": ref(rt, rid), "period": {"start": u.admission.isoformat()}}
        for rt, rid, text in members
    ]
    for aidant in u.aidants:
        participants.append(
            {
                "role": [cc(TRE_R260_ROLE_CLASS, "CAREGIVER", "Aidant", "Aidant")],
                "member": ref("RelatedPerson", aidant),
                "period": {"start": u.admission.isoformat()},
            }
        )
    return {
        "resourceType": "CareTeam",
        "id": f"{u.pid}-cercle-soins",
        "meta": {"profile": [PROFILE_CARETEAM]},
        "identifier": [
            {"system": f"{DEMO_ID_BASE}/cercle-soins", "value": f"{s.local_prefix}/{u.local_id}-CDS"}
        ],
        "status": "active",
        "name": f"Cercle de soins de {u.display}",
        "subject": ref("Patient", u.pid, u.display),
        "period": {"start": u.admission.isoformat()},
        "participant": participants,
        "managingOrganization": [ref("Organization", s.org_id, s.name)],
    }


def care_plan(
    ctx: DemoContext, u: Usager, goals: list[Resource], agreement: Resource, start: date, version: int
) -> Resource:
    s = u.structure
    author = ctx.first_staff(s, "medco") if ctx.rng.random() < 0.5 else ctx.first_staff(s, "idec")
    review = add_years(start, 1)  # annual re-evaluation of the projet personnalisé
    activity_defs = ctx.rng.sample(ACTIVITIES, 3)
    if "alzheimer" in u.conditions and all(a[0] != ACTIVITIES[0][0] for a in activity_defs):
        activity_defs[0] = ACTIVITIES[0]
    activities = []
    for description, schedule, role_key in activity_defs:
        performer = ctx.pick_staff(s, role_key)
        activities.append(
            {
                "detail": {
                    "status": "in-progress",
                    "description": description,
                    "scheduledString": schedule,
                    "performer": [ref("PractitionerRole", performer.role_id, performer.display)],
                }
            }
        )
    contributors = [ref("Patient", u.pid, u.display)] + [ref("RelatedPerson", a) for a in u.aidants[:1]]
    return {
        "resourceType": "CarePlan",
        "id": f"{u.pid}-projet-personnalise",
        "identifier": [
            {"system": PROJET_PERSO_SYSTEM, "value": f"{s.local_prefix}/{u.local_id}-PPER-{version}"}
        ],
        "status": "active",
        "intent": "plan",
        "category": [cc(TRE_R390_PROJET, "PP", "Projet Personnalisé", "Projet personnalisé")],
        "title": f"Projet personnalisé de {u.display}",
        "description": (f"Projet personnalisé co-construit avec {u.display}, ses proches et {s.team}."),
        "subject": ref("Patient", u.pid, u.display),
        "encounter": ref("Encounter", f"{u.pid}-sejour"),
        "period": {"start": start.isoformat(), "end": add_years(start, 1).isoformat()},
        "created": start.isoformat(),
        "author": ref("Practitioner", author.pid, author.display),
        "contributor": contributors,
        "careTeam": [ref("CareTeam", f"{u.pid}-cercle-soins")],
        "addresses": [ref("Condition", f"{u.pid}-{key}") for key in u.conditions],
        "supportingInfo": [ref("Consent", agreement["id"], "Consentement structure")],
        "goal": [ref("Goal", g["id"]) for g in goals],
        "activity": activities,
        "note": [
            {
                "text": (
                    f"Date de révision prévue : {format_fr_date(review)}. Modalités de communication : "
                    "projet présenté à l'usager et à sa personne de confiance lors d'un entretien, "
                    "copie remise sur demande."
                )
            }
        ],
    }
