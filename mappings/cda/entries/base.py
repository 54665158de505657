"""Small building blocks shared by the CI-SIS body entries and sections: CDA elements, identifiers, times, codes.

CDA R2 (HL7 ANSI/HL7 CDA R2-2005) elements in the ``urn:hl7-org:v3`` namespace; FHIR R4 values
(https://hl7.org/fhir/R4/datatypes.html) turned into CDA data types (TS, CD, PQ, BL).

Pure: lxml and the standard library only.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree

from mappings.cda.datatypes import ts_value
from mappings.cda.entries import codes

CDA = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP: dict[str | None, str] = {None: CDA, "xsi": XSI}
XSI_TYPE = f"{{{XSI}}}type"

Resource = Mapping[str, Any]

#: characters XML 1.0 cannot carry (C0 controls other than tab / newline / carriage return, U+FFFE, U+FFFF)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

#: namespace of the stable entry identifiers (uuid5 of the FHIR resource it comes from)
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://dui.example.org/cda/entry")


def q(tag: str) -> str:
    """The qualified CDA name of ``tag``."""
    return f"{{{CDA}}}{tag}"


def element(tag: str, attrs: Mapping[str, str | None] | None = None, text: str | None = None) -> etree._Element:
    """A detached CDA element (attributes whose value is ``None`` are left out)."""
    node = etree.Element(q(tag), nsmap=NSMAP)
    _set(node, attrs, text)
    return node


def sub(parent: etree._Element, tag: str, attrs: Mapping[str, str | None] | None = None,
        text: str | None = None) -> etree._Element:
    """A CDA child element appended to ``parent``."""
    node = etree.SubElement(parent, q(tag))
    _set(node, attrs, text)
    return node


def xml_text(value: str) -> str:
    """``value`` without the characters XML cannot carry (a control character pasted into a comment)."""
    return _NOT_XML.sub("", value)


def _set(node: etree._Element, attrs: Mapping[str, str | None] | None, text: str | None) -> None:
    for key, value in (attrs or {}).items():
        if value is not None:
            node.set(XSI_TYPE if key == "xsi:type" else key, xml_text(value))
    if text is not None:
        node.text = xml_text(text)


def template_ids(parent: etree._Element, roots: Iterable[str]) -> None:
    for root in roots:
        sub(parent, "templateId", {"root": root})


def stable_id(*parts: str) -> str:
    """A deterministic UUID (upper case, as in the ANS examples) for an entry built from ``parts``."""
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(parts))).upper()


def resource_key(resource: Resource) -> str:
    return f"{resource.get('resourceType', 'Resource')}/{resource.get('id', '')}"


def ident(parent: etree._Element, *parts: str) -> etree._Element:
    return sub(parent, "id", {"root": stable_id(*parts)})


# --- times ------------------------------------------------------------------------------------------------

def ts(value: str | None) -> str | None:
    """A FHIR date / dateTime / instant as a CDA TS value (``2026-09-30T10:05:00+02:00`` ->
    ``20260930100500+0200``, :func:`mappings.cda.datatypes.ts_value`); ``None`` for a missing or malformed
    value."""
    if not value:
        return None
    try:
        return ts_value(value.strip())
    except ValueError:
        return None


def time_element(parent: etree._Element, tag: str, value: str | None, null: str = "UNK",
                 xsi_type: str | None = None) -> etree._Element:
    """``<tag value="TS"/>``, or ``<tag nullFlavor="…"/>`` when there is no usable value."""
    cda_value = ts(value)
    attrs = {"value": cda_value} if cda_value else {"nullFlavor": null}
    return sub(parent, tag, {"xsi:type": xsi_type, **attrs})


def interval(parent: etree._Element, low: str | None, high: str | None, *, tag: str = "effectiveTime",
             low_null: str = "UNK", high_null: str | None = None, xsi_type: str | None = None) -> etree._Element:
    """An IVL_TS with ``low`` (nullFlavor ``low_null`` when absent) and ``high`` (left out when absent, unless
    ``high_null`` gives its nullFlavor)."""
    node = sub(parent, tag, {"xsi:type": xsi_type})
    time_element(node, "low", low, low_null)
    if ts(high) or high_null:
        time_element(node, "high", high, high_null or "UNK")
    return node


def fr_date(value: str | None) -> str:
    """A FHIR date(time) as a French date for the narrative (``2026-09-30`` -> ``30/09/2026``)."""
    cda_value = ts(value) or ""
    if len(cda_value) >= 8:
        return f"{cda_value[6:8]}/{cda_value[4:6]}/{cda_value[0:4]}"
    if len(cda_value) == 6:
        return f"{cda_value[4:6]}/{cda_value[0:4]}"
    return cda_value


def fr_date_time(value: str | None) -> str:
    """``2026-09-30T15:35:00+02:00`` -> ``30/09/2026 à 15h35`` (the date alone when there is no time)."""
    cda_value = ts(value) or ""
    if len(cda_value) >= 12:
        return f"{fr_date(value)} à {cda_value[8:10]}h{cda_value[10:12]}"
    return fr_date(value)


# --- codes ------------------------------------------------------------------------------------------------

def codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, Mapping) and c.get("code")]


def text_of(concept: Any, default: str = "") -> str:
    """What a reader calls a CodeableConcept: its text, else the first display, else the first code."""
    if not isinstance(concept, Mapping):
        return default
    if concept.get("text"):
        return str(concept["text"])
    for coding in codings(concept):
        if coding.get("display"):
            return str(coding["display"])
    found = codings(concept)
    return str(found[0]["code"]) if found else default


def find_coding(concept: Any, systems: Iterable[str] | None = None) -> Mapping[str, Any] | None:
    """The first coding of ``concept`` in one of ``systems`` (FHIR URIs or OIDs), in the order of ``systems``;
    the first coding with a known code system when ``systems`` is None."""
    found = codings(concept)
    if systems is None:
        return next((c for c in found if codes.oid(str(c.get("system", "")))), None)
    for system in systems:
        wanted = _system(system)
        for coding in found:
            if _system(str(coding.get("system", ""))) == wanted:
                return coding
    return None


def _system(uri: str) -> str:
    """A code system's OID when it has one, else its URI (so both spellings of a system compare equal)."""
    return codes.oid(uri) or uri


def has_code(concept: Any, system: str, code: str) -> bool:
    wanted = _system(system)
    return any(_system(str(c.get("system", ""))) == wanted and c.get("code") == code for c in codings(concept))


def coded(parent: etree._Element, tag: str, coding: Mapping[str, Any] | None, *, xsi_type: str | None = None,
          original_text: str | None = None, null: str = "UNK", display: str | None = None) -> etree._Element:
    """A CD from a FHIR Coding (code system URI -> OID); ``nullFlavor`` when there is no coding with a known
    system. ``original_text`` is a narrative ``content`` ID the value points to (``#id``)."""
    system = codes.oid(str(coding.get("system", ""))) if coding else None
    if coding and system:
        node = sub(parent, tag, {"xsi:type": xsi_type, "code": str(coding["code"]),
                                 "displayName": display or coding.get("display"),
                                 "codeSystem": system, "codeSystemName": codes.name(system)})
    else:
        node = sub(parent, tag, {"xsi:type": xsi_type, "nullFlavor": null})
    if original_text:
        text_reference(node, original_text, tag="originalText")
    return node


def fixed_code(parent: etree._Element, tag: str, code: str, system: str, display: str,
               xsi_type: str | None = None) -> etree._Element:
    return sub(parent, tag, {"xsi:type": xsi_type, "code": code, "displayName": display, "codeSystem": system,
                             "codeSystemName": codes.name(system)})


def text_reference(parent: etree._Element, content_id: str | None, tag: str = "text") -> etree._Element:
    """``<text><reference value="#id"/></text>`` pointing into the section narrative."""
    node = sub(parent, tag)
    if content_id:
        sub(node, "reference", {"value": f"#{content_id}"})
    return node


def boolean_value(parent: etree._Element, value: bool | None, null: str = "UNK") -> etree._Element:
    if value is None:
        return sub(parent, "value", {"xsi:type": "BL", "nullFlavor": null})
    return sub(parent, "value", {"xsi:type": "BL", "value": "true" if value else "false"})


def yes_no(value: bool | None) -> str:
    return "non renseigné" if value is None else ("oui" if value else "non")


def quantity_value(parent: etree._Element, quantity: Mapping[str, Any], tag: str = "value",
                   xsi_type: str | None = "PQ") -> etree._Element | None:
    """A PQ from a FHIR Quantity (UCUM code as the unit; ``1`` when the unit is not UCUM)."""
    number = quantity.get("value")
    if not isinstance(number, int | float) or isinstance(number, bool):
        return None
    unit = quantity.get("code") if quantity.get("system") == codes.UCUM else None
    return sub(parent, tag, {"xsi:type": xsi_type, "value": _number(number), "unit": unit or "1"})


def _number(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def quantity_text(quantity: Mapping[str, Any]) -> str:
    number = quantity.get("value")
    if not isinstance(number, int | float) or isinstance(number, bool):
        return ""
    unit = str(quantity.get("unit") or quantity.get("code") or "")
    return f"{_number(number).replace('.', ',')} {_UNIT_LABELS.get(unit, unit)}".strip()


#: how a reader writes the UCUM codes a FHIR Quantity may carry as its unit
_UNIT_LABELS = {"Cel": "°C", "mm[Hg]": "mmHg", "{beats}/min": "/min", "/min": "/min", "kg": "kg"}
