"""The demo usagers: who they are (names, birth, INS for about half of them, clinical profile) and their
FR Core / TDDUI Patient resource."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

from fhirserver.demo.context import DemoContext
from fhirserver.demo.data.clinical import RANDOM_CONDITION_KEYS
from fhirserver.demo.data.names import (
    AIDANT_FEMALE_GIVEN,
    AIDANT_MALE_GIVEN,
    FAMILY_NAMES,
    FEMALE_GIVEN,
    FEMALE_MIDDLE,
    MALE_GIVEN,
    MALE_MIDDLE,
)
from fhirserver.demo.data.places import BIRTH_COMMUNES, CORSICA_COMMUNES, SSIAD_COMMUNES, STREETS, Commune
from fhirserver.demo.helpers import Resource, add_years, cc, coding, postal_address, ref
from fhirserver.demo.model import Structure, Usager
from fhirserver.demo.systems import (
    BCP47,
    EXT_BIRTH_LIST_GIVEN_NAME,
    EXT_BIRTH_PLACE,
    EXT_IDENTITY_RELIABILITY,
    EXT_INSEE_CODE,
    EXT_TDDUI_BIRTH_ORDER,
    FR_CORE_V2_0203,
    FR_CORE_V2_0445,
    INS_NIR_TEST_SYSTEM,
    LOCAL_USAGER_SYSTEM,
    PROFILE_PATIENT,
    PROFILE_PATIENT_INS,
    REFERENCE_DATE,
    TRE_R13_COMMUNE,
    V2_0203,
    V3_MARITAL,
)


def build_usagers(ctx: DemoContext, ehpad: Structure, ssiad: Structure) -> list[Usager]:
    """Draw the usagers (about 70 % EHPAD residents, 30 % SSIAD usagers); their resources come later."""
    n_ehpad = round(ctx.n_usagers * 0.7)
    n_ssiad = ctx.n_usagers - n_ehpad
    # About half of the usagers carry a qualified INS; the two young Corsican SSIAD usagers always do.
    ins_indexes = set(ctx.rng.sample(range(ctx.n_usagers), ctx.n_usagers // 2))
    usagers: list[Usager] = []
    for i in range(n_ehpad):
        usagers.append(new_usager(ctx, ehpad, i + 1, i in ins_indexes, young_corsican=None))
    for j in range(n_ssiad):
        corsican = CORSICA_COMMUNES[j] if j < len(CORSICA_COMMUNES) else None
        has_ins = (n_ehpad + j) in ins_indexes or corsican is not None
        usagers.append(new_usager(ctx, ssiad, j + 1, has_ins, young_corsican=corsican))
    return usagers


def new_usager(
    ctx: DemoContext, s: Structure, number: int, has_ins: bool, young_corsican: Commune | None
) -> Usager:
    rng = ctx.rng
    gender = "female" if rng.random() < (0.72 if s.key == "ehpad" else 0.6) else "male"
    if young_corsican is not None:
        gender = "female" if number % 2 else "male"
    pool, middles = (FEMALE_GIVEN, FEMALE_MIDDLE) if gender == "female" else (MALE_GIVEN, MALE_MIDDLE)
    if young_corsican is not None:  # born around 1980: first names of that generation
        pool = AIDANT_FEMALE_GIVEN if gender == "female" else AIDANT_MALE_GIVEN
    first = rng.choice(pool)
    given = [first] + [m for m in rng.sample(middles, rng.randint(0, 2)) if m != first]
    birth_family = rng.choice(FAMILY_NAMES)
    if young_corsican is not None:
        birth = ctx.random_date(date(1977, 1, 1), date(1982, 12, 31))
        marital = "S"
        commune = young_corsican
    else:
        if s.key == "ehpad":
            oldest, youngest = 100, 75
        else:
            oldest, youngest = 97, 62
        birth = ctx.random_date(
            add_years(REFERENCE_DATE, -oldest) + timedelta(days=1),
            add_years(REFERENCE_DATE, -youngest),
        )
        weights = [55, 25, 10, 10] if gender == "female" else [35, 45, 10, 10]
        marital = rng.choices(["W", "M", "S", "D"], weights=weights)[0]
        commune = rng.choice(BIRTH_COMMUNES)
    used_family = None
    if gender == "female" and marital in ("W", "M") and rng.random() < 0.85:
        used_family = rng.choice([f for f in FAMILY_NAMES if f != birth_family])
    if s.key == "ehpad":
        admission = ctx.random_date(date(2019, 1, 7), REFERENCE_DATE - timedelta(days=150))
    else:
        admission = ctx.random_date(
            REFERENCE_DATE - timedelta(days=900), REFERENCE_DATE - timedelta(days=130)
        )
    usager = Usager(
        pid=f"{s.key}-usager-{number:03d}",
        index=number,
        structure=s,
        gender=gender,
        given=given,
        birth_family=birth_family,
        used_family=used_family,
        birth_date=birth,
        birth_commune=commune,
        marital=marital,
        has_ins=has_ins,
        admission=admission,
        unit_id=s.units[0][0],
        local_id=f"{admission.year}{number:04d}",
    )
    # Clinical profile: Alzheimer for ~35 % of EHPAD residents (housed in the Alzheimer unit).
    if young_corsican is not None:
        usager.conditions = ["sclerose-en-plaques" if number == 1 else "sla"]
    else:
        count = rng.randint(1, 3)
        keys: list[str] = []
        if s.key == "ehpad" and rng.random() < 0.35:
            keys.append("alzheimer")
        while len(keys) < count + (1 if keys else 0):
            key = rng.choice(RANDOM_CONDITION_KEYS)
            if key not in keys:
                keys.append(key)
        usager.conditions = keys
    if s.key == "ehpad":
        if "alzheimer" in usager.conditions:
            usager.unit_id = "ehpad-unite-alzheimer"
        else:
            usager.unit_id = rng.choice(["ehpad-aile-nord", "ehpad-aile-sud"])
    else:
        usager.unit_id = (
            "ssiad-antenne-trevoux" if commune.insee.startswith("01") else "ssiad-antenne-neuville"
        )
    if has_ins:
        usager.nir = ctx.new_nir(gender, birth, commune)
    return usager


def patient(ctx: DemoContext, u: Usager) -> Resource:
    s = u.structure
    status_code, status_display = (
        ("VALI", "Identité validée") if u.has_ins else ("PROV", "Identité provisoire")
    )
    extensions: list[dict[str, Any]] = [
        {
            "url": EXT_IDENTITY_RELIABILITY,
            "extension": [
                {
                    "url": "identityStatus",
                    "valueCoding": coding(FR_CORE_V2_0445, status_code, status_display),
                }
            ],
        },
        {
            "url": EXT_BIRTH_PLACE,
            "valueAddress": {
                "extension": [
                    {
                        "url": EXT_INSEE_CODE,
                        "valueCoding": coding(
                            TRE_R13_COMMUNE, u.birth_commune.insee, u.birth_commune.label
                        ),
                    }
                ],
                "city": u.birth_commune.name,
                "country": "FRA",
            },
        },
    ]
    identifiers: list[dict[str, Any]] = []
    if u.has_ins and u.nir:
        identifiers.append(
            {
                "use": "official",
                "type": cc(FR_CORE_V2_0203, "INS-NIR-TEST", "NIR de test"),
                "system": INS_NIR_TEST_SYSTEM,
                "value": u.nir,
            }
        )
    identifiers.append(
        {
            "use": "usual",
            "type": cc(V2_0203, "PI", "Patient internal identifier"),
            "system": LOCAL_USAGER_SYSTEM,
            "value": f"{s.local_prefix}/{u.local_id}",
        }
    )
    names: list[dict[str, Any]] = [
        {
            "extension": [{"url": EXT_BIRTH_LIST_GIVEN_NAME, "valueString": " ".join(u.given)}],
            "use": "official",
            "family": u.birth_family,
            "given": [u.given[0]],
        }
    ]
    if u.used_family:
        names.append({"use": "usual", "family": u.used_family, "given": [u.given[0]]})
    if s.key == "ehpad":
        room = {"ehpad-unite-alzheimer": 300, "ehpad-aile-nord": 100, "ehpad-aile-sud": 200}[
            u.unit_id
        ] + u.index
        address = postal_address(s.commune, [s.line, f"Chambre {room}"])
        telecom = [{"system": "phone", "value": ctx.fiction_phone(), "use": "home"}]
    else:
        commune = ctx.rng.choice(
            SSIAD_COMMUNES[11:] if u.unit_id.endswith("trevoux") else SSIAD_COMMUNES[:11]
        )
        address = postal_address(commune, [f"{ctx.rng.randint(1, 120)} {ctx.rng.choice(STREETS)}"])
        telecom = [{"system": "phone", "value": ctx.fiction_phone(), "use": "home"}]
        if ctx.rng.random() < 0.4:
            telecom.append({"system": "phone", "value": ctx.fiction_phone(mobile=True), "use": "mobile"})
    u.address = address
    marital_display = {"W": "Widowed", "M": "Married", "S": "Never Married", "D": "Divorced"}[u.marital]
    marital_text = {
        "W": "Veuve" if u.gender == "female" else "Veuf",
        "M": "Mariée" if u.gender == "female" else "Marié",
        "S": "Célibataire",
        "D": "Divorcée" if u.gender == "female" else "Divorcé",
    }[u.marital]
    resource: Resource = {
        "resourceType": "Patient",
        "id": u.pid,
        "meta": {"profile": [PROFILE_PATIENT_INS if u.has_ins else PROFILE_PATIENT]},
        "extension": extensions,
        "identifier": identifiers,
        "active": True,
        "name": names,
        "telecom": telecom,
        "gender": u.gender,
        "birthDate": u.birth_date.isoformat(),
    }
    if not u.has_ins:
        # No NIR: TDDUI Patient requires the civil-status birth order (the NIR's digits 11-13 otherwise).
        resource["_birthDate"] = {
            "extension": [{"url": EXT_TDDUI_BIRTH_ORDER, "valuePositiveInt": birth_order(ctx.seed, u)}]
        }
    return resource | {
        "address": [address],
        "maritalStatus": cc(V3_MARITAL, u.marital, marital_display, marital_text),
        "communication": [
            {"language": cc(BCP47, "fr-FR", "French (France)", "Français"), "preferred": True}
        ],
        "managingOrganization": ref("Organization", s.org_id, s.name),
    }


def birth_order(seed: int, u: Usager) -> int:
    """Civil-status birth order (1-999) of a usager without NIR: hashed from the seed and the id, so that
    adding it does not shift the random sequence of the rest of the data set."""
    digest = hashlib.sha256(f"{seed}:birth-order:{u.pid}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 999 + 1
