"""What the document de liaison d'urgence (DLU-EHPAD) reads for each EHPAD resident: the DLU observations, the BMR
carriage, the flu vaccination and the advance directives."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from fhirserver.demo.context import DemoContext
from fhirserver.demo.helpers import Resource, cc, coding, instant, ref
from fhirserver.demo.model import Usager
from fhirserver.demo.systems import ATC, ICD10, LOINC, REFERENCE_DATE, SNOMED


def unit(seed: int, u: Usager, purpose: str) -> float:
    """A number in [0, 1) hashed from the seed, the usager and ``purpose`` (not drawn from ``ctx.rng``: the
    DLU data came after the rest of the data set and must not shift its random sequence)."""
    digest = hashlib.sha256(f"{seed}:{purpose}:{u.pid}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def dlu_observation(ctx: DemoContext, u: Usager, key: str, code: str, display: str, text: str, value: bool,
                    day: date) -> Resource:
    return {
        "resourceType": "Observation",
        "id": f"{u.pid}-dlu-{key}",
        "status": "final",
        "category": [
            cc("http://terminology.hl7.org/CodeSystem/observation-category", "survey", "Survey", "Évaluation")
        ],
        "code": {"coding": [coding(SNOMED, code, display)], "text": text},
        "subject": ref("Patient", u.pid, u.display),
        "effectiveDateTime": instant(day, 11, 0),
        "performer": [ref("Practitioner", ctx.first_staff(u.structure, "medco").pid)],
        "valueBoolean": value,
    }


def dlu_resources(ctx: DemoContext, u: Usager) -> list[Resource]:
    """For an EHPAD resident: the DLU observations (peut alerter, orienté / désorienté, chutes — codes of
    JDV_ObservationEtatPatient), the BMR carriage (ICD-10 U83.71), the seasonal flu vaccination and, for
    about a third of them, written advance directives (Consent scope ``adr``)."""
    day = REFERENCE_DATE - timedelta(days=10 + int(unit(ctx.seed, u, "dlu-day") * 60))
    confused = "alzheimer" in u.conditions or "sequelles-avc" in u.conditions
    falls = unit(ctx.seed, u, "dlu-falls") < (0.5 if "parkinson" in u.conditions else 0.25)
    out = [
        dlu_observation(ctx, u, "alerte", "288575003", "Able to communicate", "Peut alerter", not confused, day),
        dlu_observation(ctx, u, "oriente", "247663003", "Oriented", "Orienté", not confused, day),
        dlu_observation(ctx, u, "desoriente", "62476001", "Disorientated", "Désorienté", confused, day),
        dlu_observation(ctx, u, "chutes", "161898004", "Falls", "Chutes", falls, day),
    ]
    carrier = unit(ctx.seed, u, "bmr") < 0.08
    bmr = dlu_observation(ctx, u, "bmr", "U83.71", "Bactérie multirésistante", "Portage de BMR / BHRe",
                               carrier, day)
    bmr["code"] = {"coding": [coding(ICD10, "U83.71", "Bactérie multirésistante [BMR]")],
                   "text": "Portage de bactérie multirésistante (BMR / BHRe)"}
    bmr["category"] = [cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory",
                           "Laboratory", "Biologie")]
    if carrier:
        bmr["note"] = [{"text": "Entérobactérie productrice de BLSE, précautions contact."}]
    out.append(bmr)
    vaccination = date(REFERENCE_DATE.year - 1, 10, 15 + int(unit(ctx.seed, u, "flu-day") * 14))
    out.append({
        "resourceType": "Immunization",
        "id": f"{u.pid}-vaccin-grippe",
        "status": "completed",
        "vaccineCode": {"coding": [coding(ATC, "J07BB02", "influenza, inactivated, split virus or surface "
                                           "antigen")], "text": "Vaccin grippal inactivé"},
        "patient": ref("Patient", u.pid, u.display),
        "occurrenceDateTime": vaccination.isoformat(),
        "primarySource": True,
        "lotNumber": f"GRP{int(unit(ctx.seed, u, 'flu-lot') * 900000) + 100000}",
        "route": cc(SNOMED, "78421000", "Intramuscular route", "Voie intramusculaire"),
        "performer": [{"actor": ref("Practitioner", ctx.first_staff(u.structure, "medco").pid)}],
    })
    if unit(ctx.seed, u, "advance-directive") < 0.33:
        written = max(u.admission, REFERENCE_DATE - timedelta(days=400))
        out.append({
            "resourceType": "Consent",
            "id": f"{u.pid}-directives-anticipees",
            "status": "active",
            "scope": cc("http://terminology.hl7.org/CodeSystem/consentscope", "adr", "Advanced Care Directive",
                         "Directives anticipées"),
            "category": [cc(LOINC, "42348-3", "Advance healthcare directives", "Directives anticipées")],
            "patient": ref("Patient", u.pid, u.display),
            "dateTime": instant(written, 15, 0),
            "policy": [{"uri": "https://www.legifrance.gouv.fr/codes/article_lc/LEGIARTI000031972259"}],
            "sourceAttachment": {"contentType": "application/pdf", "title": "Directives anticipées (original "
                                 "conservé dans le dossier papier de l'EHPAD)"},
        })
    return out
