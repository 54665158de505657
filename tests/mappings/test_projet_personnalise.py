"""The projet personnalisé PDF (French, deterministic) and its N1 CDA document (LOINC 80788-3)."""

from __future__ import annotations

import base64
import copy
import re
import zlib
from typing import Any

import pytest
from lxml import etree

from mappings.cda.documents.projet_personnalise import PPA_CODE, build_ppa
from mappings.pdf.projet_personnalise import PlanView, french_date, render
from mappings.pdf.text import latin1
from tests.mappings import FHIR_PATIENT, sample_document

NS = {"h": "urn:hl7-org:v3"}

CARE_PLAN: dict[str, Any] = {
    "resourceType": "CarePlan", "id": "cp1", "status": "active", "intent": "plan",
    "title": "Projet personnalisé de Mme Lucie Gérard", "created": "2026-06-19",
    "description": "Projet co-construit avec l’usager et sa fille — « vivre à son rythme ».",
    "subject": {"reference": "Patient/p1"}, "period": {"start": "2026-06-19", "end": "2027-06-19"},
    "author": {"reference": "Practitioner/pro-2", "display": "Grégoire Lefèvre"},
    "contributor": [{"reference": "RelatedPerson/aidant-1"}],
    "goal": [{"reference": "Goal/g1"}, {"reference": "Goal/g2"}],
    "activity": [
        {"detail": {"status": "in-progress", "description": "Atelier mémoire hebdomadaire",
                    "scheduledString": "Tous les mardis de 14 h 30 à 15 h 30",
                    "performer": [{"reference": "PractitionerRole/r9", "display": "Noémie Rousseau"}]}},
        {"detail": {"status": "scheduled", "description": "Sortie au marché",
                    "scheduledPeriod": {"start": "2026-07-01", "end": "2026-07-31"},
                    "performer": [{"reference": "PractitionerRole/r3"}]}},
    ],
    "note": [{"text": "Révision : bilan à mi-parcours ; le cœur du projet reste l’autonomie."}],
}
GOALS: list[dict[str, Any]] = [
    {"resourceType": "Goal", "id": "g1", "lifecycleStatus": "active",
     "achievementStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
                                       "code": "improving"}]},
     "description": {"text": "Stimuler les fonctions cognitives"}, "startDate": "2026-06-19",
     "target": [{"dueDate": "2027-06-19"}], "expressedBy": {"reference": "Patient/p1"}},
    {"resourceType": "Goal", "id": "g2", "lifecycleStatus": "completed",
     "description": {"text": "Maintenir le poids au-dessus de 55 kg"}, "target": [{"dueDate": "2026-12-01"}]},
]
NAMES = {"Practitioner/pro-2": "Grégoire Lefèvre, Psychologue", "RelatedPerson/aidant-1": "Sophie Gérard",
         "PractitionerRole/r3": "Stéphanie Fournier, Diététicienne", "Patient/p1": "Lucie Gérard"}


def view(**changes: Any) -> PlanView:
    plan = copy.deepcopy(CARE_PLAN)
    plan.update(changes)
    return PlanView(plan, copy.deepcopy(FHIR_PATIENT), copy.deepcopy(GOALS), "EHPAD Les Tilleuls", NAMES)


def page_text(pdf: bytes) -> str:
    """The text drawn by the PDF's content streams (fpdf2 core fonts: literal strings, WinAnsi = Latin-1)."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            stream = zlib.decompress(match.group(1))
        except zlib.error:
            continue
        out += [m.group(1).replace(rb"\(", b"(").replace(rb"\)", b")").decode("latin-1")
                for m in re.finditer(rb"\((.*?)(?<!\\)\) Tj", stream)]
    return "\n".join(out)


def test_pdf_is_deterministic() -> None:
    """The same CarePlan gives the same bytes; another creation date gives other bytes."""
    first = render(view())
    assert first.startswith(b"%PDF-") and first == render(view())
    assert b"/CreationDate (D:20260619" in first
    assert render(view(created="2026-06-20")) != first


def test_pdf_shows_the_plan_in_french() -> None:
    """Usager, period, goals with status and due date, actions with schedule and staff, responsible, notes."""
    text = page_text(render(view()))
    for expected in ["Projet personnalisé d'accompagnement", "Lucie Gérard (née Saint-Pierre)", "22/06/1940",
                     "EHPAD Les Tilleuls", "du 19/06/2026 au 19/06/2027", "Statut :", "En cours",
                     "Stimuler les fonctions cognitives", "En amélioration", "Échéance : 19/06/2027",
                     "Exprimé par : Lucie Gérard", "Maintenir le poids", "Terminé", "Échéance : 01/12/2026",
                     "Atelier mémoire hebdomadaire", "Tous les mardis de 14 h 30 à 15 h 30",
                     "Intervenant(s) : Noémie Rousseau", "Planifiée", "01/07/2026 - 31/07/2026",
                     "Stéphanie Fournier, Diététicienne", "Grégoire Lefèvre, Psychologue", "Sophie Gérard",
                     "Révision prévue :"]:
        assert expected in text, expected
    # characters outside Latin-1 are transliterated (documented), Latin-1 ones are kept
    assert "le coeur du projet reste l'autonomie" in text
    assert "l'usager et sa fille - « vivre à son rythme »" in text


def test_latin1_transliteration() -> None:
    """œ ’ – … € and narrow spaces become Latin-1; accents and guillemets stay."""
    assert latin1("Œuvre d’œil – 10\u202f€…") == "OEuvre d'oeil - 10 EUR..."
    assert latin1("« Hélène à l'île »") == "« Hélène à l'île »"
    assert latin1("Łódź") == "?ódz"  # ó is Latin-1; ź loses its accent; Ł has no decomposition
    assert latin1("漢") == "?"


def test_empty_plan_renders() -> None:
    """A plan without goals, actions, period or notes still renders, saying so."""
    plan = PlanView({"resourceType": "CarePlan", "id": "x", "status": "draft", "intent": "plan",
                     "subject": {"reference": "Patient/p1"}}, FHIR_PATIENT)
    text = page_text(render(plan))
    assert "Aucun objectif" in text and "Aucune action" in text and "Brouillon" in text
    assert french_date("2026-06") == "06/2026"


def test_ppa_n1_passes_the_kit(cda_validator: Any) -> None:
    """The PPA N1: type code 80788-3, the rendered PDF in the body, valid against the kit."""
    doc = sample_document(code=PPA_CODE, title="Projet personnalisé d'accompagnement")
    built = build_ppa(doc, view())
    assert cda_validator.validate(built.root).valid
    assert built.root.xpath("/h:ClinicalDocument/h:code/@code", namespaces=NS) == ["80788-3"]
    body = built.root.xpath("//h:nonXMLBody/h:text", namespaces=NS)[0]
    assert body.get("mediaType") == "application/pdf"
    assert base64.b64decode(body.text) == built.pdf == render(view())
    assert etree.tostring(build_ppa(doc, view()).root) == etree.tostring(built.root)


def test_ppa_needs_its_type_code() -> None:
    """A PPA document with another type code is a programming error, refused."""
    with pytest.raises(ValueError, match="80788-3"):
        build_ppa(sample_document(), view())
