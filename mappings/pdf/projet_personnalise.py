"""The projet personnalisé d'accompagnement as a readable French PDF, rendered from a CarePlan.

Content (the ESSMS projet personnalisé, TDDUI ``tddui-careplan-projet-personnalise`` and its Goals; ANS
"Transfert de données DUI", french-interop.md §3.2, §5.2): the usager, the structure, the period and status, the
goals with their status, start and target dates, the actions / activities with their schedule, status and the
staff in charge, the responsible professional and contributors, the review date and the notes.

The PDF is deterministic: the same input gives the same bytes (creation date taken from the CarePlan, core font
Helvetica, no system font; see :mod:`mappings.pdf.text` for the characters outside Latin-1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from mappings.pdf.text import latin1

__all__ = ["PlanView", "render"]

Json = Mapping[str, Any]

CARE_PLAN_STATUS = {"draft": "Brouillon", "active": "En cours", "on-hold": "Suspendu", "revoked": "Révoqué",
                    "completed": "Terminé", "entered-in-error": "Saisi par erreur", "unknown": "Inconnu"}
GOAL_LIFECYCLE = {"proposed": "Proposé", "planned": "Planifié", "accepted": "Accepté", "active": "En cours",
                  "on-hold": "Suspendu", "completed": "Terminé", "cancelled": "Annulé",
                  "entered-in-error": "Saisi par erreur", "rejected": "Rejeté"}
GOAL_ACHIEVEMENT = {"in-progress": "En cours", "improving": "En amélioration", "worsening": "En dégradation",
                    "no-change": "Sans changement", "achieved": "Atteint", "sustaining": "Maintenu",
                    "not-achieved": "Non atteint", "no-progress": "Sans progrès", "not-attainable": "Inatteignable"}
ACTIVITY_STATUS = {"not-started": "Non commencée", "scheduled": "Planifiée", "in-progress": "En cours",
                   "on-hold": "Suspendue", "completed": "Terminée", "cancelled": "Annulée", "stopped": "Arrêtée",
                   "unknown": "Inconnu", "entered-in-error": "Saisie par erreur"}


@dataclass(frozen=True)
class PlanView:
    """What the PDF shows: the FHIR resources and the display names of the people they cite."""

    care_plan: Json
    patient: Json
    goals: Sequence[Json] = ()
    structure: str | None = None
    #: "Type/id" -> name (and role) of a person the plan cites
    names: Mapping[str, str] = field(default_factory=dict)


def french_date(value: Any) -> str:
    """``2026-06-19`` (or a dateTime) -> ``19/06/2026``; ``2026-06`` -> ``06/2026``; other values as they are."""
    if not isinstance(value, str) or not value:
        return ""
    parts = value[:10].split("-")
    return "/".join(reversed(parts))


def _creation(view: PlanView) -> datetime:
    value = view.care_plan.get("created") or (view.care_plan.get("period") or {}).get("start") or "2000-01-01"
    year, month, day = (int(p) for p in (str(value)[:10].split("-") + ["01", "01"])[:3])
    return datetime(year, month, day, tzinfo=UTC)


def _person(patient: Json) -> str:
    names = [n for n in patient.get("name") or [] if isinstance(n, Mapping)]
    usual = next((n for n in names if n.get("use") == "usual"), None)
    official = next((n for n in names if n.get("use") == "official"), None)
    chosen = usual or official or (names[0] if names else {})
    given = " ".join(g for g in chosen.get("given") or [] if isinstance(g, str))
    text = " ".join(p for p in (given, chosen.get("family")) if p)
    if official and usual and official.get("family") != usual.get("family"):
        text += f" (née {official.get('family')})" if patient.get("gender") == "female" else \
            f" (né {official.get('family')})"
    return text or str(patient.get("id"))


def _concept_text(concept: Any, table: Mapping[str, str] | None = None) -> str:
    if not isinstance(concept, Mapping):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        code = coding.get("code")
        if table and code in table:
            return table[code]
        if coding.get("display"):
            return str(coding["display"])
    return ""


def _who(view: PlanView, refs: Any) -> str:
    out = []
    for ref in refs or []:
        if isinstance(ref, Mapping):
            target = ref.get("reference")
            out.append(view.names.get(str(target)) or ref.get("display") or str(target or ""))
    return ", ".join(o for o in out if o)


class _Doc(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("helvetica", size=8)
        self.cell(0, 8, f"Page {self.page_no()}/{{nb}}", align="C")


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font("helvetica", "B", 12)
    pdf.set_fill_color(230, 236, 245)
    pdf.cell(0, 8, latin1(text), fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def _line(pdf: FPDF, label: str, value: str) -> None:
    if not value:
        return
    pdf.set_font("helvetica", "B", 10)
    pdf.cell(48, 6, latin1(label))
    pdf.set_font("helvetica", size=10)
    pdf.multi_cell(0, 6, latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _paragraph(pdf: FPDF, text: str, *, bold: bool = False, indent: float = 0) -> None:
    pdf.set_font("helvetica", "B" if bold else "", 10)
    pdf.set_x(pdf.l_margin + indent)
    pdf.multi_cell(0, 5.5, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _goals(pdf: FPDF, view: PlanView) -> None:
    _heading(pdf, "Objectifs")
    if not view.goals:
        _paragraph(pdf, "Aucun objectif n'est enregistré.")
    for number, goal in enumerate(view.goals, 1):
        description = _concept_text(goal.get("description")) or "(objectif sans description)"
        _paragraph(pdf, f"{number}. {description}", bold=True)
        status = _concept_text(goal.get("achievementStatus"), GOAL_ACHIEVEMENT) or GOAL_LIFECYCLE.get(
            str(goal.get("lifecycleStatus")), "")
        dues = [french_date(t.get("dueDate")) for t in goal.get("target") or [] if t.get("dueDate")]
        details = [f"Statut : {status}" if status else "",
                   f"Début : {french_date(goal.get('startDate'))}" if goal.get("startDate") else "",
                   f"Échéance : {', '.join(dues)}" if dues else "",
                   f"Exprimé par : {_who(view, [goal['expressedBy']])}" if goal.get("expressedBy") else ""]
        _paragraph(pdf, " - ".join(d for d in details if d), indent=6)
        for note in goal.get("note") or []:
            if note.get("text"):
                _paragraph(pdf, str(note["text"]), indent=6)


def _activities(pdf: FPDF, view: PlanView) -> None:
    _heading(pdf, "Actions et activités")
    activities = [a.get("detail") or {} for a in view.care_plan.get("activity") or []]
    if not activities:
        _paragraph(pdf, "Aucune action n'est enregistrée.")
    for number, detail in enumerate(activities, 1):
        title = detail.get("description") or _concept_text(detail.get("code")) or "(action sans description)"
        _paragraph(pdf, f"{number}. {title}", bold=True)
        period = detail.get("scheduledPeriod") or {}
        schedule = detail.get("scheduledString") or " - ".join(
            p for p in (french_date(period.get("start")), french_date(period.get("end"))) if p)
        details = [f"Quand : {schedule}" if schedule else "",
                   f"Statut : {ACTIVITY_STATUS.get(str(detail.get('status')), '')}" if detail.get("status") else "",
                   f"Intervenant(s) : {_who(view, detail.get('performer'))}" if detail.get("performer") else ""]
        _paragraph(pdf, " - ".join(d for d in details if d), indent=6)


def render(view: PlanView) -> bytes:
    """The PDF of the projet personnalisé (deterministic for the same ``view``)."""
    plan = view.care_plan
    pdf = _Doc(format="A4")
    pdf.set_title(latin1(str(plan.get("title") or "Projet personnalisé d'accompagnement")))
    pdf.set_lang("fr-FR")
    pdf.set_creator("DUI server")
    pdf.set_creation_date(_creation(view))
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.multi_cell(0, 9, latin1("Projet personnalisé d'accompagnement"), align="C",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if plan.get("title"):
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 6, latin1(str(plan["title"])), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _heading(pdf, "Usager")
    _line(pdf, "Nom :", _person(view.patient))
    _line(pdf, "Date de naissance :", french_date(view.patient.get("birthDate")))
    _line(pdf, "Structure :", view.structure or "")
    _heading(pdf, "Projet")
    period = plan.get("period") or {}
    _line(pdf, "Période :", " au ".join(p for p in (f"du {french_date(period.get('start'))}"
                                                     if period.get("start") else "",
                                                     french_date(period.get("end"))) if p))
    _line(pdf, "Statut :", CARE_PLAN_STATUS.get(str(plan.get("status")), str(plan.get("status") or "")))
    _line(pdf, "Élaboré le :", french_date(plan.get("created")))
    _line(pdf, "Révision prévue :", french_date(period.get("end")))
    _line(pdf, "Responsable :", _who(view, [plan["author"]]) if plan.get("author") else "")
    _line(pdf, "Participants :", _who(view, plan.get("contributor")))
    if plan.get("description"):
        _paragraph(pdf, str(plan["description"]))
    _goals(pdf, view)
    _activities(pdf, view)
    notes = [str(n["text"]) for n in plan.get("note") or [] if isinstance(n, Mapping) and n.get("text")]
    if notes:
        _heading(pdf, "Notes")
        for note in notes:
            _paragraph(pdf, note)
    return bytes(pdf.output())
