"""The aidants of each demo usager (spouse, children, nephews…): FR Core RelatedPerson resources."""

from __future__ import annotations

from fhirserver.demo.context import DemoContext
from fhirserver.demo.data.names import (
    AIDANT_FEMALE_GIVEN,
    AIDANT_MALE_GIVEN,
    FAMILY_NAMES,
    FEMALE_GIVEN,
    MALE_GIVEN,
)
from fhirserver.demo.data.places import BIRTH_COMMUNES, SSIAD_COMMUNES, STREETS
from fhirserver.demo.data.roles import AIDANT_ROLES, RELATIONS
from fhirserver.demo.helpers import Resource, ascii_slug, cc, coding, postal_address, ref
from fhirserver.demo.model import Usager
from fhirserver.demo.systems import (
    DEMO_ID_BASE,
    PROFILE_RELATED_PERSON,
    TRE_R216_ROLE_CODE,
    TRE_R260_ROLE_CLASS,
    V3_ROLE_CODE,
)


def related_people(ctx: DemoContext, u: Usager) -> list[Resource]:
    """The one or two aidants of ``u`` (recorded in ``u.aidants``), as RelatedPerson resources."""
    rng = ctx.rng
    plans: list[str] = []
    if u.marital == "M":
        plans.append("SPS")
    elif u.marital == "S":
        plans.append(rng.choice(["NIECE", "NEPHEW"]))
    else:
        plans.append(rng.choice(["DAU", "DAU", "SON"]))
    if rng.random() < 0.5:
        second = rng.choice(
            ["DAU", "SON", "GRNDDAU", "GRNDSO"] if u.marital != "S" else ["NIECE", "NEPHEW"]
        )
        if second != plans[0]:
            plans.append(second)
    resources = []
    for number, code in enumerate(plans, start=1):
        resources.append(related_person(ctx, u, number, code))
    return resources


def related_person(ctx: DemoContext, u: Usager, number: int, code: str) -> Resource:
    rng = ctx.rng
    if code == "SPS":
        gender = "male" if u.gender == "female" else "female"
        v3_display, r216_display = "spouse", "Epoux ou épouse"
        text = "Épouse" if gender == "female" else "Époux"
        family = u.family
    else:
        v3_display, r216_display, text, gender = RELATIONS[code]
        if code in ("NIECE", "NEPHEW"):
            family = rng.choice(FAMILY_NAMES)
        elif gender == "female" and rng.random() < 0.5:
            family = rng.choice(FAMILY_NAMES)  # married daughter / granddaughter using her spouse's name
        else:
            family = u.family
    pool = AIDANT_FEMALE_GIVEN if gender == "female" else AIDANT_MALE_GIVEN
    given = rng.choice(pool)
    if code == "SPS":
        given = rng.choice(FEMALE_GIVEN if gender == "female" else MALE_GIVEN)
    roles = ["CAREGIVER"]
    if number == 1 and rng.random() < 0.7:
        roles.append("NOK")
    if number > 1 and rng.random() < 0.6:
        roles = ["ECON"]
    # FR Core RelatedPerson allows one Role (relationship[Role] 0..1, JDV_J384): the personne de confiance
    # role wins over "aidant" (the aidant role is also carried by the care circle, CareTeam.participant).
    role = "NOK" if "NOK" in roles else roles[0]
    relationship = [cc(TRE_R260_ROLE_CLASS, role, AIDANT_ROLES[role], AIDANT_ROLES[role])]
    relationship.append(
        {
            "coding": [
                coding(V3_ROLE_CODE, code, v3_display),
                coding(TRE_R216_ROLE_CODE, code, r216_display),
            ],
            "text": text,
        }
    )
    rid = f"{u.pid}-aidant-{number}"
    u.aidants.append(rid)
    telecom = [{"system": "phone", "value": ctx.fiction_phone(mobile=True), "use": "mobile"}]
    if rng.random() < 0.7:
        telecom.append(
            {
                "system": "email",
                "value": f"{ascii_slug(given)}.{ascii_slug(family)}@courriel.example",
                "use": "home",
            }
        )
    commune = rng.choice(BIRTH_COMMUNES[:14] + SSIAD_COMMUNES)
    resource: Resource = {
        "resourceType": "RelatedPerson",
        "id": rid,
        "meta": {"profile": [PROFILE_RELATED_PERSON]},
        "identifier": [
            {
                "system": f"{DEMO_ID_BASE}/aidant",
                "value": f"{u.structure.local_prefix}/{u.local_id}-{number}",
            }
        ],
        "active": True,
        "patient": ref("Patient", u.pid, u.display),
        "relationship": relationship,
        "name": [{"use": "usual", "family": family, "given": [given]}],
        "telecom": telecom,
        "gender": gender,
    }
    if code == "SPS" and u.structure.key == "ssiad":
        resource["address"] = [dict(u.address)]  # the spouse lives with the usager
    else:
        resource["address"] = [postal_address(commune, [f"{rng.randint(1, 90)} {rng.choice(STREETS)}"])]
    return resource
