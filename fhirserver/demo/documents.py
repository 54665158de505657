"""The documents of the demo usagers: DocumentReference resources carrying a small PDF (LOINC types of JDV_J07,
XDS format code of TRE_A11)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import timedelta

from fhirserver.demo.context import DemoContext
from fhirserver.demo.data.care import DOC_TYPES
from fhirserver.demo.helpers import Resource, cc, coding, format_fr_date, instant, ref
from fhirserver.demo.model import Usager
from fhirserver.demo.pdf import minimal_pdf
from fhirserver.demo.systems import (
    LOINC,
    REFERENCE_DATE,
    TRE_A01_CADRE,
    TRE_A11_FORMAT,
    TRE_R02_SECTEUR,
    UUID_NAMESPACE,
)


def document_references(ctx: DemoContext, u: Usager) -> list[Resource]:
    """Zero to two documents of ``u``, each a DocumentReference carrying its PDF inline."""
    rng = ctx.rng
    s = u.structure
    candidates = [d for d in DOC_TYPES if s.key == "ehpad" or not d.ehpad_only]
    roll = rng.random()
    count = 0 if roll < 0.4 else (1 if roll < 0.8 else 2)
    out = []
    for number, doc in enumerate(rng.sample(candidates, count), start=1):
        role_key = doc.author_role if doc.author_role in s.staff else "idec"
        author = (
            ctx.first_staff(s, role_key)
            if role_key in ("medco", "idec")
            else ctx.pick_staff(s, role_key)
        )
        day = REFERENCE_DATE - timedelta(days=rng.randint(10, 200))
        if doc.loinc == "88348-8":
            day = u.admission
        born = (
            f"née le {format_fr_date(u.birth_date)}"
            if u.gender == "female"
            else (f"né le {format_fr_date(u.birth_date)}")
        )
        pdf = minimal_pdf(
            [
                f"{s.name} – {doc.title}",
                f"Usager : {u.civility} {' '.join(u.given)} {u.family.upper()}, {born}",
                f"Date : {format_fr_date(day)}",
                f"Auteur : {author.display} ({author.role.label(author.gender)})",
                "Document de démonstration – données fictives.",
            ]
        )
        doc_id = f"{u.pid}-document-{number}"
        resource: Resource = {
            "resourceType": "DocumentReference",
            "id": doc_id,
            "masterIdentifier": {
                "system": "urn:ietf:rfc:3986",
                "value": f"urn:uuid:{uuid.uuid5(UUID_NAMESPACE, f'{ctx.seed}:document:{doc_id}')}",
            },
            "status": "current",
            "docStatus": "final",
            "type": {"coding": [coding(LOINC, doc.loinc, doc.loinc_display)], "text": doc.title},
            "subject": ref("Patient", u.pid, u.display),
            "date": instant(day, 16, 0),
            "author": [ref("PractitionerRole", author.role_id, author.display)],
            "custodian": ref("Organization", s.org_id, s.name),
            "description": f"{doc.title} – {u.display}",
            "content": [
                {
                    "attachment": {
                        "contentType": "application/pdf",
                        "language": "fr-FR",
                        "data": base64.b64encode(pdf).decode("ascii"),
                        "size": len(pdf),
                        "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),
                        "title": f"{doc.title} du {format_fr_date(day)}",
                        "creation": instant(day, 15, 30),
                    },
                    "format": coding(
                        TRE_A11_FORMAT,
                        "urn:ihe:iti:xds-sd:pdf:2008",
                        "Document à corps non structuré en Pdf/A-1",
                    ),
                }
            ],
            "context": {
                "encounter": [ref("Encounter", f"{u.pid}-sejour")],
                "period": {"start": day.isoformat()},
                "practiceSetting": {
                    "coding": [coding(TRE_A01_CADRE, "ESSMS")],
                    "text": "Établissement ou service social ou médico-social",
                },
            },
        }
        if s.key == "ehpad":
            resource["context"]["facilityType"] = cc(
                TRE_R02_SECTEUR,
                "SA17",
                "Etablissement pour personnes âgées",
                "Établissement pour personnes âgées",
            )
        out.append(resource)
    return out
