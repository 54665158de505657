"""Sections FR-Plan-de-soins (1.2.250.1.213.1.1.2.158, LOINC 18776-5: soins palliatifs) and
FR-Directives-anticipees (1.2.250.1.213.1.1.2.157, LOINC 42348-3) of the DLU-EHPAD (ANS model DLU-EHPAD-DLU
2022.01, example ``DLU-EHPAD-DLU_2022.01.xml``).

Input:

* palliative care: FHIR ``Procedure`` resources coded SNOMED CT 103735009 (soins palliatifs); ``not-done`` /
  ``stopped`` means no, ``in-progress`` / ``completed`` / ``preparation`` yes; none means "non renseigné";
* advance directives: FHIR ``Consent`` resources of scope ``adr`` (advance directive, R4
  ``consentscope``) or category LOINC 42348-3 / 75320-2, and ``DocumentReference`` resources of type LOINC
  42348-3 (the written directives). Any current one means yes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lxml import etree

from mappings.cda.entries import codes
from mappings.cda.entries.acts import procedure
from mappings.cda.entries.base import Resource, fr_date, has_code, yes_no
from mappings.cda.entries.observations import Code, advance_directive
from mappings.cda.sections.narrative import Cell, Narrative, attach, entry, new_section

CARE_PLAN = ("2.16.840.1.113883.10.20.1.10", "1.3.6.1.4.1.19376.1.5.3.1.3.36", "1.2.250.1.213.1.1.2.158")
ADVANCE_DIRECTIVES = ("2.16.840.1.113883.10.20.1.1", "1.3.6.1.4.1.19376.1.5.3.1.3.34",
                      "1.3.6.1.4.1.19376.1.5.3.1.3.35", "1.2.250.1.213.1.1.2.157")
PALLIATIVE = Code("103735009", codes.SNOMED, "Soins palliatifs")
_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"


def palliative_state(procedures: Sequence[Resource]) -> bool | None:
    state: bool | None = None
    for proc in procedures:
        if not has_code(proc.get("code"), "http://snomed.info/sct", PALLIATIVE.code):
            continue
        if proc.get("status") in ("in-progress", "completed", "preparation", "on-hold"):
            return True
        if proc.get("status") in ("not-done", "stopped"):
            state = False
    return state


def palliative_care(body: etree._Element, procedures: Sequence[Resource], key: str) -> etree._Element:
    section = new_section(body, CARE_PLAN, "18776-5", "Plan de soins", "Soins palliatifs")
    narrative = Narrative("soins-palliatifs")
    state = palliative_state(procedures)
    content = narrative.content(yes_no(state))
    narrative.table(("Plan de soins", "Réponse"), [("Soins palliatifs", content)])
    attach(section, narrative)
    if state is not None:
        procedure(entry(section), f"{key}/palliative", PALLIATIVE, content.content_id,
                  status="active" if state else "cancelled", negated=not state)
    return section


def is_advance_directive(resource: Resource) -> bool:
    if resource.get("resourceType") == "Consent":
        return has_code(resource.get("scope"), _SCOPE, "adr") or any(
            has_code(c, "http://loinc.org", code) for c in resource.get("category") or []
            for code in ("42348-3", "75320-2"))
    if resource.get("resourceType") == "DocumentReference":
        return has_code(resource.get("type"), "http://loinc.org", "42348-3")
    return False


def _current(resource: Resource) -> bool:
    return resource.get("status") in ("active", "current")


def _document_url(resource: Resource) -> str | None:
    attachments: list[Mapping[str, object]] = []
    if resource.get("resourceType") == "DocumentReference":
        attachments = [c.get("attachment") or {} for c in resource.get("content") or [] if isinstance(c, Mapping)]
    else:
        source = resource.get("sourceAttachment")
        attachments = [source] if isinstance(source, Mapping) else []
    for attachment in attachments:
        url = attachment.get("url")
        if isinstance(url, str) and url and not url.startswith("#"):
            return url
    return None


def advance_directives(body: etree._Element, resources: Sequence[Resource], key: str) -> etree._Element:
    section = new_section(body, ADVANCE_DIRECTIVES, "42348-3", "Directives anticipées", "Directives anticipées")
    narrative = Narrative("directives")
    found = [r for r in resources if is_advance_directive(r)]
    current = [r for r in found if _current(r)]
    state: bool | None = True if current else (False if found else None)
    chosen = current[0] if current else None
    date = (chosen or {}).get("dateTime") or (chosen or {}).get("date")
    answer = yes_no(state)
    if chosen is not None and date:
        answer += f" (rédigées le {fr_date(str(date))})"
    content = narrative.content(answer)
    rows: list[tuple[Cell, Cell]] = [("Directives anticipées", content)]
    url = _document_url(chosen) if chosen else None
    if url:
        rows.append(("Document", url))
    narrative.table(("Directive", "Choix de l'usager"), rows)
    attach(section, narrative)
    advance_directive(entry(section), f"{key}/advance-directive", content.content_id, state,
                      str(date) if date else None, None, url)
    return section
