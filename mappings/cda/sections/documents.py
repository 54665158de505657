"""Sections FR-Dispositions (1.2.250.1.213.1.1.2.172, LOINC 11302-7: établissement de santé de préférence),
FR-Documents-ajoutes (1.2.250.1.213.1.1.2.37, LOINC 55107-7: checklist JDV_ChecklistDLU_CISIS) and
FR-Commentaire-non-code (1.2.250.1.213.1.1.2.73, LOINC 55112-7) of the DLU-EHPAD (ANS models DLU-EHPAD-DLU /
-FLUDT 2022.01, example ``DLU-EHPAD-DLU_2022.01.xml``).

Input: the preferred facility as a FHIR ``Organization``; the added documents as FHIR ``DocumentReference``
resources whose ``type`` or ``category`` carries a checklist code (TA_ASIP ``DLU_006`` … ``DLU_019``) and whose
first attachment holds the document inline (``attachment.data``); the comment as plain text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lxml import etree

from mappings.cda.entries import codes
from mappings.cda.entries.acts import address_text, attached_document, disposition
from mappings.cda.entries.base import Resource, codings, q, resource_key, sub
from mappings.cda.entries.observations import Code
from mappings.cda.sections.narrative import Narrative, attach, entry, new_section

DISPOSITIONS = ("1.3.6.1.4.1.19376.1.5.3.1.1.13.2.10", "1.2.250.1.213.1.1.2.172")
ADDED_DOCUMENTS = ("1.2.250.1.213.1.1.2.37",)
COMMENT = ("2.16.840.1.113883.10.12.201", "1.3.6.1.4.1.19376.1.4.1.2.16", "1.2.250.1.213.1.1.2.73")

#: JDV_ChecklistDLU_CISIS (1.2.250.1.213.1.1.5.71), TA_ASIP codes and labels
CHECKLIST: tuple[Code, ...] = tuple(Code(code, codes.TA_ASIP, label) for code, label in (
    ("DLU_006", "Attestation de la carte vitale"),
    ("DLU_007", "Attestation de mutuelle"),
    ("DLU_008", "Photocopie de la carte d’identité"),
    ("DLU_009", "Grille AGGIR (la plus récente)"),
    ("DLU_010", "Photocopie des directives anticipées"),
    ("DLU_011", "Photocopies des ordonnances en cours"),
    ("DLU_012", "Tableau d’administration des médicaments"),
    ("DLU_013", "Résultats récents de biologie (1 à 3 mois) avec clairance de la créatinine et INR (si AVK)"),
    ("DLU_014", "CR de la dernière hospitalisation"),
    ("DLU_015", "Fiche BMR (bactérie multi-résistante)"),
    ("DLU_016", "Fiche ou carnet de suivi des soins (glycémie, pansements, perfusion, ventilation, nutrition, etc.)"),
    ("DLU_017", "Carnet de suivi du pacemaker ou du défibrilateur implentable"),
    ("DLU_018", "Carte de groupe sanguin (si à jour)"),
    ("DLU_019", "Liste des capacités en soins de l’EHPAD"),
))
_BY_CODE = {c.code: c for c in CHECKLIST}


def preferred_facility(body: etree._Element, organization: Resource | None, key: str) -> etree._Element:
    section = new_section(body, DISPOSITIONS, "11302-7", "Etablissement de santé de préférence",
                          "Établissement de santé de préférence")
    narrative = Narrative("preference")
    if organization is None:
        content = narrative.content("Aucun établissement de santé de préférence renseigné dans le dossier.")
        narrative.paragraph(content)
        attach(section, narrative)
        disposition(entry(section), None, content.content_id, key)
        return section
    label = " – ".join(p for p in (str(organization.get("name") or ""), address_text(organization.get("address")))
                       if p)
    content = narrative.content(label or "Établissement sans nom")
    narrative.paragraph(content)
    attach(section, narrative)
    disposition(entry(section), organization, content.content_id, key)
    return section


def checklist_code(document: Resource) -> Code | None:
    concepts: list[Any] = [document.get("type"), *(document.get("category") or [])]
    for concept in concepts:
        for coding in codings(concept):
            if codes.oid(str(coding.get("system", ""))) == codes.TA_ASIP and coding.get("code") in _BY_CODE:
                return _BY_CODE[str(coding["code"])]
    return None


def _inline(document: Resource) -> tuple[str, str] | None:
    for content in document.get("content") or []:
        attachment = content.get("attachment") if isinstance(content, Mapping) else None
        if isinstance(attachment, Mapping) and attachment.get("data"):
            return str(attachment.get("contentType") or "application/pdf"), str(attachment["data"])
    return None


def added_documents(body: etree._Element, documents: Sequence[Resource], key: str) -> etree._Element:
    """The checklist of the documents annexed to the DLU: one FR-Document-attache per item of the checklist, the
    annexed documents embedded, the others with a ``nullFlavor`` media (the CI-SIS model wants one entry per
    item of JDV_ChecklistDLU_CISIS, at least one)."""
    section = new_section(body, ADDED_DOCUMENTS, "55107-7", "Documents ajoutés",
                          "Checklist des documents annexés au DLU")
    narrative = Narrative("document")
    annexed: dict[str, tuple[Resource, tuple[str, str]]] = {}
    for document in documents:
        code, inline = checklist_code(document), _inline(document)
        if code and inline and code.code not in annexed and document.get("status", "current") == "current":
            annexed[code.code] = (document, inline)
    rows = [(item, narrative.content(item.display)) for item in CHECKLIST]
    table = narrative.table(("Document", "Annexé au DLU"),
                            [(content, "oui" if item.code in annexed else "non") for item, content in rows])
    for number, (tr, (item, _)) in enumerate(zip(table.iterfind(f"{q('tbody')}/{q('tr')}"), rows, strict=True),
                                             start=1):
        if item.code in annexed:  # the reader opens the annexed document from the checklist
            sub(tr[1], "renderMultiMedia", {"referencedObject": f"media-{number}"})
    attach(section, narrative)
    for number, (item, content) in enumerate(rows, start=1):
        if item.code in annexed:
            document, (media_type, data) = annexed[item.code]
            attached_document(entry(section), resource_key(document), item, content.content_id,
                              f"media-{number}", media_type, data)
        else:
            attached_document(entry(section), f"{key}/checklist/{item.code}", item, content.content_id, None, None,
                              None)
    return section


def comment(body: etree._Element, text: str) -> etree._Element:
    section = new_section(body, COMMENT, "55112-7", "Commentaire", "Commentaires")
    narrative = Narrative("commentaire")
    for paragraph in [p.strip() for p in text.split("\n") if p.strip()] or [text]:
        narrative.paragraph(paragraph)
    attach(section, narrative)
    return section
