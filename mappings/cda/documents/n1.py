"""CDA R2 level 1 (N1) document: the CI-SIS header and a ``nonXMLBody`` carrying the file in base64.

IHE PCC / ITI "XDS-SD" (Scanned Documents, templateId ``1.3.6.1.4.1.19376.1.2.20``) as the CI-SIS uses it for
every non-structured document (ANS kit ``ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml``; french-interop.md §4):
the structuration-minimale schematron allows exactly three templateIds on an N1 document (HL7 France, CI-SIS,
XDS-SD), so an N1 takes no volet templateId. The media types are those of CDA R2 ``nonXMLBody`` that the DMP
formatCodes (JDV_J60, TRE_A11) accept for N1: PDF, JPEG, TIFF, plain text and RTF.
"""

from __future__ import annotations

import base64

from mappings.cda.datatypes import Element, el
from mappings.cda.header import build_header
from mappings.cda.model import Document, Identifier, VoletParts
from mappings.xds.valuesets import XDS_SD_FORMAT_CODES

__all__ = ["FORMAT_CODES", "MEDIA_TYPES", "XDS_SD_TEMPLATE", "N1Error", "build_n1"]

XDS_SD_TEMPLATE = "1.3.6.1.4.1.19376.1.2.20"

#: media type -> XDS formatCode (TRE_A11 IheFormatCode, in JDV_J60 FormatCode DMP)
FORMAT_CODES: dict[str, str] = XDS_SD_FORMAT_CODES
MEDIA_TYPES = tuple(FORMAT_CODES)

_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
    "text/rtf": (b"{\\rtf",),
}


class N1Error(ValueError):
    """The content cannot be carried by an N1 document (media type not allowed, or bytes of another type)."""


def check_content(content: bytes, media_type: str) -> str:
    """The normalised media type of ``content``; raises :class:`N1Error` for an unsupported type, empty
    content, or bytes that do not start as the type says (a JPEG labelled PDF)."""
    kind = media_type.split(";")[0].strip().lower()
    if kind not in FORMAT_CODES:
        raise N1Error(f"media type {media_type!r} cannot be carried by an N1 document "
                      f"(allowed: {', '.join(MEDIA_TYPES)})")
    if not content:
        raise N1Error("the document content is empty")
    magic = _MAGIC.get(kind)
    if magic and not content.startswith(magic):
        raise N1Error(f"the content is not {kind}: it does not start with the {kind} signature")
    if kind == "text/plain":
        try:
            content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise N1Error("the text/plain content is not UTF-8") from exc
    return kind


def build_n1(document: Document, content: bytes, media_type: str) -> Element:
    """The N1 ``ClinicalDocument``: the header of ``document`` and ``content`` base64-encoded in
    ``component/nonXMLBody/text``."""
    kind = check_content(content, media_type)
    root = build_header(document, VoletParts(template_ids=(Identifier(XDS_SD_TEMPLATE),)))
    body = el(el(root, "component"), "nonXMLBody")
    el(body, "text", base64.b64encode(content).decode("ascii"), mediaType=kind, representation="B64")
    return root
