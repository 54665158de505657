"""The staff of the demo structures: one Practitioner (RPPS / IDNPS when the profession has one) and one
PractitionerRole (TDDUI functional role + profession) per member."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhirserver.auth.administration import ADMISSION, habilitation_extension
from fhirserver.demo.context import DemoContext
from fhirserver.demo.data.names import FAMILY_NAMES, STAFF_FEMALE_GIVEN, STAFF_MALE_GIVEN
from fhirserver.demo.data.roles import ROLE_FUNCTIONS, ROLES
from fhirserver.demo.helpers import Resource, ascii_slug, cc, coding, ref
from fhirserver.demo.model import Staff, Structure
from fhirserver.demo.systems import (
    DEMO_ID_BASE,
    FR_CORE_V2_0203,
    IDNPS_SYSTEM,
    PROFILE_PRACTITIONER,
    RPPS_SYSTEM,
    TDDUI_PROFESSION_EXTENSION,
    TRE_G15_PROFESSION,
    TRE_R85_ROLE,
)


def build_staff(ctx: DemoContext, ehpad: Structure, ssiad: Structure) -> None:
    """Draw the staff of each structure and emit their Practitioner and PractitionerRole resources."""
    plan = [
        (ehpad, ["medco", "idec", "ide", "ide", "ide", "as", "as", "as", "psy", "ergo"]),
        (ssiad, ["idec", "ide", "ide", "as", "as"]),
    ]
    used_names: set[tuple[str, str]] = set()
    for structure, roles in plan:
        for number, role_key in enumerate(roles, start=1):
            role = ROLES[role_key]
            while True:
                gender = "female" if ctx.rng.random() < 0.75 else "male"
                pool = STAFF_FEMALE_GIVEN if gender == "female" else STAFF_MALE_GIVEN
                given, family = ctx.rng.choice(pool), ctx.rng.choice(FAMILY_NAMES)
                if (given, family) not in used_names:
                    used_names.add((given, family))
                    break
            staff = Staff(f"{structure.key}-pro-{number:03d}", role, gender, given, family, structure)
            ctx.staff[staff.pid] = staff
            structure.staff.setdefault(role_key, []).append(staff.pid)
            unit_id = structure.units[(number - 1) % len(structure.units)][0]
            ctx.add(practitioner(ctx, staff))
            ctx.add(practitioner_role(ctx, staff, unit_id))


def practitioner(ctx: DemoContext, st: Staff) -> Resource:
    domain = st.structure.email.split("@", 1)[1]
    identifiers: list[dict[str, Any]] = []
    if st.role.has_rpps:
        rpps = ctx.new_rpps()
        identifiers = [
            {
                "use": "official",
                "type": cc(FR_CORE_V2_0203, "IDNPS", "Identifiant National de Professionnel de Santé"),
                "system": IDNPS_SYSTEM,
                "value": f"8{rpps}",
            },
            {"type": cc(FR_CORE_V2_0203, "RPPS", "N° RPPS"), "system": RPPS_SYSTEM, "value": rpps},
        ]
    identifiers.append(
        {"use": "secondary", "system": f"{DEMO_ID_BASE}/personnel", "value": st.pid.upper()}
    )
    name: dict[str, Any] = {"use": "official", "family": st.family, "given": [st.given]}
    if st.role.prefix:
        # prefix is the civilité (JDV_J245: M / MME, required by tddui-human-name); the title goes in suffix
        name["prefix"] = ["MME" if st.gender == "female" else "M"]
        name["suffix"] = [st.role.prefix]
    resource: Resource = {
        "resourceType": "Practitioner",
        "id": st.pid,
        "meta": {"profile": [PROFILE_PRACTITIONER]},
        "identifier": identifiers,
        "active": True,
        "name": [name],
        "telecom": [
            {
                "system": "email",
                "value": f"{ascii_slug(st.given)}.{ascii_slug(st.family)}@{domain}",
                "use": "work",
            }
        ],
        "gender": st.gender,
    }
    if st.role.profession_system == TRE_G15_PROFESSION and st.role.profession_code:
        resource["qualification"] = [
            {
                "code": cc(
                    TRE_G15_PROFESSION,
                    st.role.profession_code,
                    st.role.profession_display,
                    st.role.profession_display,
                )
            }
        ]
    return resource


def practitioner_role(ctx: DemoContext, st: Staff, unit_id: str) -> Resource:
    # code.coding: the functional role from JDV_J47 (required by tddui-practitioner-role); the profession
    # goes in code's tddui-profession extension.
    function_code, function_display = ROLE_FUNCTIONS[st.role.key]
    code: dict[str, Any] = {
        "coding": [coding(TRE_R85_ROLE, function_code, function_display)],
        "text": st.role.label(st.gender),
    }
    if st.role.profession_system and st.role.profession_code:
        code["extension"] = [
            {
                "url": TDDUI_PROFESSION_EXTENSION,
                "valueCodeableConcept": cc(
                    st.role.profession_system, st.role.profession_code, st.role.profession_display
                ),
            }
        ]
    extra: Resource = {}
    if st.role.key == "idec":
        # the coordinating nurse admits usagers and records aidant delegations (fhirserver.auth.administration);
        # the habilitation "administrateur" is left to the operator
        extra["extension"] = [habilitation_extension(ADMISSION)]
    start = ctx.random_date(date(2012, 1, 1), date(2024, 12, 31))
    return {
        "resourceType": "PractitionerRole",
        "id": st.role_id,
        **extra,
        "active": True,
        "period": {"start": start.isoformat()},
        "practitioner": ref("Practitioner", st.pid, st.display),
        "organization": ref("Organization", st.structure.org_id, st.structure.name),
        "code": [code],
        "location": [ref("Location", unit_id)],
        "telecom": [{"system": "phone", "value": st.structure.phone, "use": "work"}],
    }
