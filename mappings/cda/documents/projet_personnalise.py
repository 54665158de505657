"""The projet personnalisé d'accompagnement as an N1 CDA document (LOINC ``80788-3``, DMP class 44).

No CI-SIS volet structures the projet personnalisé: it is sent as an N1 document whose body is the PDF rendered
from the CarePlan (:mod:`mappings.pdf.projet_personnalise`), XDS formatCode ``urn:ihe:iti:xds-sd:pdf:2008``,
healthCareFacility SA16/SA17/SA18/SA41 and practice setting ESSMS (french-interop.md §5.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from mappings.cda.datatypes import Element
from mappings.cda.documents.n1 import FORMAT_CODES, build_n1
from mappings.cda.model import Code, Document
from mappings.pdf.projet_personnalise import PlanView, render

__all__ = ["FORMAT_CODE", "PPA_CODE", "PpaDocument", "build_ppa"]

PPA_CODE = Code("80788-3", "2.16.840.1.113883.6.1", "Projet personnalisé d'accompagnement", "LOINC")
FORMAT_CODE = FORMAT_CODES["application/pdf"]


@dataclass(frozen=True)
class PpaDocument:
    """The CDA root and the PDF it carries."""

    root: Element
    pdf: bytes


def build_ppa(document: Document, view: PlanView) -> PpaDocument:
    """Render the PDF of ``view`` and wrap it in the N1 of ``document`` (whose code must be 80788-3)."""
    if (document.code.code, document.code.system) != (PPA_CODE.code, PPA_CODE.system):
        raise ValueError(f"a projet personnalisé document has the type code {PPA_CODE.code} (LOINC), "
                         f"not {document.code.code}")
    pdf = render(view)
    return PpaDocument(build_n1(document, pdf, "application/pdf"), pdf)
