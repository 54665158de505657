"""The two demo structures: EHPAD Les Tilleuls (Lyon 8e) and SSIAD du Val de Saône, their Organization and
Location (units, antennas) resources."""

from __future__ import annotations

from fhirserver.demo.context import DemoContext
from fhirserver.demo.data.places import LYON_8, NEUVILLE, TREVOUX
from fhirserver.demo.helpers import Resource, cc, postal_address, ref
from fhirserver.demo.model import Structure
from fhirserver.demo.systems import (
    FINESS_SYSTEM,
    FR_CORE_V2_0203,
    IDNST_SYSTEM,
    PROFILE_ORGANIZATION,
    TRE_R66_CATEGORIE,
)


def build_structures(ctx: DemoContext) -> tuple[Structure, Structure]:
    """Emit the Organization and Location resources of the two structures; return (EHPAD, SSIAD)."""
    ehpad_finess = ctx.new_finess(set())
    ssiad_finess = ctx.new_finess({ehpad_finess})
    ehpad = Structure(
        key="ehpad",
        org_id="ehpad-les-tilleuls",
        name="EHPAD Les Tilleuls",
        team="l'équipe de l'EHPAD Les Tilleuls",
        finess=ehpad_finess,
        commune=LYON_8,
        line="18 avenue des Tilleuls",
        phone=ctx.fiction_phone(),
        email="accueil@ehpad-les-tilleuls.example",
        units=[
            (
                "ehpad-unite-alzheimer",
                "Unité Alzheimer",
                "Unité de vie protégée de 14 places pour personnes atteintes de troubles neurocognitifs",
            ),
            ("ehpad-aile-nord", "Aile Nord", "Hébergement permanent, 1er et 2e étages, 32 chambres"),
            ("ehpad-aile-sud", "Aile Sud", "Hébergement permanent et temporaire, 28 chambres"),
        ],
    )
    ssiad = Structure(
        key="ssiad",
        org_id="ssiad-val-de-saone",
        name="SSIAD du Val de Saône",
        team="l'équipe du SSIAD du Val de Saône",
        finess=ssiad_finess,
        commune=NEUVILLE,
        line="4 quai Pierre-Dupont",
        phone=ctx.fiction_phone(),
        email="secretariat@ssiad-val-de-saone.example",
        units=[
            (
                "ssiad-antenne-neuville",
                "Antenne de Neuville-sur-Saône",
                "Secteur rive gauche : Neuville, Genay, Montanay, Fleurieu, Rochetaillée, Fontaines",
            ),
            (
                "ssiad-antenne-trevoux",
                "Antenne de Trévoux",
                "Secteur Ain : Trévoux, Reyrieux, Parcieux, Massieux",
            ),
        ],
    )
    structures = [ehpad, ssiad]
    for structure in structures:
        ctx.add(organization(structure))
    for structure in structures:
        for unit_id, name, description in structure.units:
            ctx.add(location(structure, unit_id, name, description))
    return ehpad, ssiad


def organization(s: Structure) -> Resource:
    if s.key == "ehpad":
        category = cc(
            TRE_R66_CATEGORIE,
            "500",
            "Etablissement d'hébergement pour personnes âgées dépendantes",
            "EHPAD – établissement d'hébergement pour personnes âgées dépendantes",
        )
    else:
        category = cc(
            TRE_R66_CATEGORIE,
            "354",
            "Service de Soins Infirmiers A Domicile (S.S.I.A.D)",
            "SSIAD – service de soins infirmiers à domicile",
        )
    return {
        "resourceType": "Organization",
        "id": s.org_id,
        "meta": {"profile": [PROFILE_ORGANIZATION]},
        "identifier": [
            {
                "use": "official",
                "type": cc(FR_CORE_V2_0203, "IDNST", "Identifiant National de Structure"),
                "system": IDNST_SYSTEM,
                "value": f"1{s.finess}",
            },
            {
                "type": cc(FR_CORE_V2_0203, "FINEG", "FINESS d'entité géographique"),
                "system": FINESS_SYSTEM,
                "value": s.finess,
            },
        ],
        "active": True,
        "type": [category],
        "name": s.name,
        "telecom": [
            {"system": "phone", "value": s.phone, "use": "work"},
            {"system": "email", "value": s.email, "use": "work"},
        ],
        "address": [postal_address(s.commune, [s.line], use="work")],
    }


def location(s: Structure, unit_id: str, name: str, description: str) -> Resource:
    physical = {
        "ehpad-unite-alzheimer": ("wa", "Ward"),
        "ehpad-aile-nord": ("wi", "Wing"),
        "ehpad-aile-sud": ("wi", "Wing"),
    }.get(unit_id, ("bu", "Building"))
    resource: Resource = {
        "resourceType": "Location",
        "id": unit_id,
        "status": "active",
        "name": name,
        "description": description,
        "mode": "instance",
        "physicalType": cc(
            "http://terminology.hl7.org/CodeSystem/location-physical-type", physical[0], physical[1]
        ),
        "managingOrganization": ref("Organization", s.org_id, s.name),
    }
    if s.key == "ehpad":
        resource["address"] = postal_address(s.commune, [s.line, name], use="work")
    else:
        commune = TREVOUX if unit_id.endswith("trevoux") else NEUVILLE
        line = "2 montée du Parlement" if commune is TREVOUX else s.line
        resource["address"] = postal_address(commune, [line], use="work")
    return resource
