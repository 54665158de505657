"""Section skeleton and narrative block (``section/text``, CDA R2 StrucDoc: table, content, paragraph, br).

CDA R2 §4.3.5 (Section narrative block): the narrative is what a reader sees; coded entries point at it with
``<reference value="#ID"/>``, so every text an entry carries lives in a ``content`` element with a document-wide
unique ``ID`` (each section uses its own ID prefix).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lxml import etree

from mappings.cda.entries import codes
from mappings.cda.entries.base import element, q, stable_id, sub, template_ids, xml_text


@dataclass(frozen=True)
class Content:
    """A narrative cell whose text an entry refers to (``<content ID="…">text</content>``)."""

    text: str
    content_id: str


Cell = str | Content | None


class Narrative:
    """Builds one ``section/text``; hands out content IDs ``<prefix>-<n>``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0
        self.node = element("text")

    def new_id(self) -> str:
        self.count += 1
        return f"{self.prefix}-{self.count}"

    def content(self, text: str) -> Content:
        return Content(text, self.new_id())

    def paragraph(self, *cells: Cell) -> etree._Element:
        node = sub(self.node, "paragraph")
        for cell in cells:
            _fill(node, cell, append=True)
        return node

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> etree._Element:
        table = sub(self.node, "table", {"border": "1"})
        head = sub(sub(table, "thead"), "tr")
        for header in headers:
            sub(head, "th", text=header)
        body = sub(table, "tbody")
        empty = True
        for row in rows:
            empty = False
            tr = sub(body, "tr")
            for cell in row:
                _fill(sub(tr, "td"), cell)
        if empty:
            tr = sub(body, "tr")
            sub(tr, "td", {"colspan": str(len(headers))}, "Aucune donnée renseignée")
        return table


def _fill(node: etree._Element, cell: Cell, append: bool = False) -> None:
    if cell is None:
        return
    if isinstance(cell, Content):
        sub(node, "content", {"ID": cell.content_id}, cell.text)
        return
    if append and len(node):
        last = node[-1]
        last.tail = (last.tail or "") + xml_text(cell)
    else:
        node.text = (node.text or "") + xml_text(cell)


def new_section(parent: etree._Element, templates: Sequence[str], code: str, display: str, title: str,
                section_id: str | None = None) -> etree._Element:
    """``component/section`` with its templateIds, id, LOINC code and title, appended to ``structuredBody``."""
    section = sub(sub(parent, "component"), "section")
    template_ids(section, templates)
    if section_id:
        sub(section, "id", {"root": section_id})
    sub(section, "code", {"code": code, "displayName": display, "codeSystem": codes.LOINC,
                          "codeSystemName": "LOINC"})
    sub(section, "title", text=title)
    return section


def identify_sections(body: etree._Element, seed: str) -> None:
    """Give every section of ``body`` without one a unique ``id`` (stable for the same ``seed``, the document id),
    placed after its templateIds as the schema wants (the CI-SIS section models ask for it)."""
    for number, section in enumerate(body.iter(q("section")), start=1):
        if section.find(q("id")) is not None:
            continue
        templates = section.findall(q("templateId"))
        node = element("id", {"root": stable_id(seed, "section", str(number))})
        if templates:
            templates[-1].addnext(node)
        else:
            section.insert(0, node)


def attach(section: etree._Element, narrative: Narrative) -> None:
    """Append the narrative (after ``title``, before the entries)."""
    section.append(narrative.node)


def entry(section: etree._Element, type_code: str | None = None) -> etree._Element:
    return sub(section, "entry", {"typeCode": type_code})
