"""Assembly of the demo data set: runs the builders in their fixed order and emits the transaction Bundle.

The order of the calls below *is* the data set: every builder draws from the one seeded random source of the
:class:`~fhirserver.demo.context.DemoContext`, so reordering them changes the generated data.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fhirserver.demo.aidants import related_people
from fhirserver.demo.care_plans import (
    care_plan,
    care_team,
    delegation_consent,
    plan_goals,
    structure_agreement,
)
from fhirserver.demo.clinical import allergies, conditions, encounter, medications, observations
from fhirserver.demo.context import TYPE_ORDER, DemoContext
from fhirserver.demo.dlu import dlu_resources
from fhirserver.demo.documents import document_references
from fhirserver.demo.helpers import add_years
from fhirserver.demo.staff import build_staff
from fhirserver.demo.structures import build_structures
from fhirserver.demo.systems import REFERENCE_DATE, UUID_NAMESPACE
from fhirserver.demo.usagers import build_usagers, patient


def build(ctx: DemoContext) -> dict[str, Any]:
    """Every resource of the data set, in ``TYPE_ORDER``, as the entries of a transaction Bundle."""
    ehpad, ssiad = build_structures(ctx)
    build_staff(ctx, ehpad, ssiad)
    usagers = build_usagers(ctx, ehpad, ssiad)
    for u in usagers:
        ctx.add(patient(ctx, u))
    for u in usagers:
        for aidant in related_people(ctx, u):
            ctx.add(aidant)
    # Delegation consents to the first aidant for ~30 % of usagers, chosen among those without Alzheimer.
    candidates = [u for u in usagers if u.aidants and "alzheimer" not in u.conditions]
    wanted = min(len(candidates), round(len(usagers) * 0.3))
    delegated = {u.pid for u in ctx.rng.sample(candidates, wanted)}
    for u in usagers:
        ctx.add(encounter(ctx, u))
        for resource in conditions(ctx, u):
            ctx.add(resource)
        for resource in allergies(ctx, u):
            ctx.add(resource)
        for resource in observations(ctx, u):
            ctx.add(resource)
        for resource in medications(ctx, u):
            ctx.add(resource)
        if u.structure.key == "ehpad":
            # The projet personnalisé is drawn up 1.5 to 3 months after admission and renewed every year:
            # only the current version (covering REFERENCE_DATE) is emitted.
            start = u.admission + timedelta(days=ctx.rng.randint(45, 90))
            version = 1
            while add_years(start, 1) <= REFERENCE_DATE:
                start = add_years(start, 1)
                version += 1
            goals = plan_goals(ctx, u, start)
            for goal in goals:
                ctx.add(goal)
            agreement = ctx.add(structure_agreement(ctx, u, start))
            ctx.add(care_team(ctx, u))
            ctx.add(care_plan(ctx, u, goals, agreement, start, version))
        else:
            ctx.add(care_team(ctx, u))
        if u.pid in delegated:
            ctx.add(delegation_consent(ctx, u))
        for resource in document_references(ctx, u):
            ctx.add(resource)
        if u.structure.key == "ehpad":
            for resource in dlu_resources(ctx, u):
                ctx.add(resource)
    entries: list[dict[str, Any]] = []
    for resource_type in TYPE_ORDER:
        for resource in ctx.resources[resource_type]:
            name = f"{ctx.seed}:{resource_type}/{resource['id']}"
            entries.append(
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid5(UUID_NAMESPACE, name)}",
                    "resource": resource,
                    "request": {"method": "PUT", "url": f"{resource_type}/{resource['id']}"},
                }
            )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def build_demo_bundle(seed: int = 2026, usagers: int = 50) -> dict[str, Any]:
    """Build the demo data set as a FHIR R4 transaction Bundle (dict).

    ``usagers`` is split about 70 % EHPAD residents / 30 % SSIAD usagers. The result is fully determined by
    ``seed`` and ``usagers``; entries are ``PUT <Type>/<id>`` with stable readable ids, so loading the bundle
    a second time updates the same resources.
    """
    if not 0 <= usagers <= 999:
        raise ValueError("usagers must be between 0 and 999")
    return build(DemoContext(seed, usagers))
