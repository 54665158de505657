"""CDA R2 data types on lxml (HL7 V3 Data Types R1 as CDA R2 uses them; namespace ``urn:hl7-org:v3``).

Builders for II, CD/CE/CV/CS, TS (with the time zone FHIR gives), IVL_TS, PN (with the CI-SIS qualifiers), AD,
TEL (``tel:``, ``fax:``, ``mailto:`` … prefixes and the CI-SIS ``use`` codes). Each builder appends one child to a
parent element and returns it, so a header reads top-down in document order. Reference:
HL7 CDA R2 (``POCD_HD000040``), ANS CI-SIS "Structuration minimale des documents de santé" (datatype rules of the
``DTr1_*`` schematrons in the ANS kit).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeAlias

from lxml import etree

if TYPE_CHECKING:
    from mappings.cda.model import Address, Code, Identifier, PersonName, Telecom

__all__ = ["NS", "XSI", "ad", "cd", "el", "ii", "ivl_ts", "null", "pn", "tel", "ts", "ts_value"]

NS = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {None: NS, "xsi": XSI}

Element: TypeAlias = etree._Element

_HOUSE_NUMBER = re.compile(r"^(\d+(?:\s?(?:bis|ter|quater|[a-dA-D]))?)[,\s]+(\S.*)$")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


def q(name: str) -> str:
    """The Clark name of a CDA element."""
    return f"{{{NS}}}{name}"


def el(parent: Element, name: str, text: str | None = None, **attributes: str | None) -> Element:
    """Append ``<name>`` to ``parent`` with the attributes whose value is not None (``xsi_type`` -> ``xsi:type``,
    a trailing underscore is dropped: ``class_`` -> ``class``)."""
    child = etree.SubElement(parent, q(name))
    for key, value in attributes.items():
        if value is None:
            continue
        if key == "xsi_type":
            child.set(f"{{{XSI}}}type", value)
        else:
            child.set(key.rstrip("_"), value)
    if text is not None:
        child.text = text
    return child


def root_element(name: str = "ClinicalDocument") -> Element:
    """A new root element in the CDA namespace (``xsi`` declared)."""
    return etree.Element(q(name), nsmap=NSMAP)


def null(parent: Element, name: str, flavor: str = "NI") -> Element:
    """``<name nullFlavor="…"/>``."""
    return el(parent, name, nullFlavor=flavor)


def ii(parent: Element, identifier: Identifier, name: str = "id") -> Element:
    """II: ``@root`` (OID or UUID) and optional ``@extension``."""
    return el(parent, name, root=identifier.root, extension=identifier.extension)


def cd(parent: Element, name: str, code: Code | None, *, null_flavor: str = "UNK") -> Element:
    """CD/CE/CV: ``@code @codeSystem @displayName [@codeSystemName]``; a missing code is ``nullFlavor``."""
    if code is None:
        return null(parent, name, null_flavor)
    return el(parent, name, code=code.code, displayName=code.display, codeSystem=code.system,
              codeSystemName=code.system_name)


def ts_value(value: str) -> str:
    """A FHIR date / dateTime / instant as an HL7 TS: ``2026-04-22T16:00:00+02:00`` -> ``20260422160000+0200``,
    ``2026-04-22`` -> ``20260422``, ``1940`` -> ``1940``; ``Z`` becomes ``+0000``. Raises ValueError otherwise."""
    match = _DATE.match(value)
    if match:
        return "".join(part for part in match.groups() if part)
    match = _DATETIME.match(value)
    if not match:
        raise ValueError(f"not a FHIR date or dateTime: {value!r}")
    year, month, day, hour, minute, second, zone = match.groups()
    out = f"{year}{month}{day}{hour}{minute}{second or '00'}"
    if zone:
        out += "+0000" if zone == "Z" else zone.replace(":", "")
    return out


def ts(parent: Element, name: str, value: str | None, *, null_flavor: str = "UNK") -> Element:
    """TS from a FHIR date/dateTime (see :func:`ts_value`); None is ``nullFlavor``."""
    if value is None:
        return null(parent, name, null_flavor)
    return el(parent, name, value=ts_value(value))


def ivl_ts(parent: Element, name: str, low: str | None, high: str | None = None, *,
           xsi_type: bool = False) -> Element:
    """IVL_TS with ``low`` (a missing low is ``nullFlavor="UNK"``) and an optional ``high``."""
    interval = el(parent, name, xsi_type="IVL_TS" if xsi_type else None)
    ts(interval, "low", low)
    if high is not None:
        ts(interval, "high", high)
    return interval


def pn(parent: Element, name: PersonName, element: str = "name") -> Element:
    """PN of a professional or a relative: prefix, given names, family, suffix (no qualifiers)."""
    out = el(parent, element)
    for prefix in name.prefix:
        el(out, "prefix", prefix)
    for given in name.given:
        el(out, "given", given)
    el(out, "family", name.family)
    for suffix in name.suffix:
        el(out, "suffix", suffix)
    return out


def ad(parent: Element, address: Address | None, element: str = "addr") -> Element:
    """AD in the structured CI-SIS form (an address with ``streetAddressLine`` may hold nothing else): the first
    line as ``houseNumber`` + ``streetName`` (``18 bis avenue X``) or ``streetName``, further lines as
    ``additionalLocator``, then postal code, ``county`` (the INSEE code, as CI-SIS puts a birth place), city,
    country; None is ``nullFlavor="UNK"``."""
    if address is None:
        return null(parent, element, "UNK")
    out = el(parent, element, use=address.use)
    for number, line in enumerate(address.lines):
        match = _HOUSE_NUMBER.match(line)
        if number == 0 and match:
            el(out, "houseNumber", match.group(1))
            el(out, "streetName", match.group(2))
        else:
            el(out, "streetName" if number == 0 else "additionalLocator", line)
    if address.postal_code:
        el(out, "postalCode", address.postal_code)
    if address.county:
        el(out, "county", address.county)
    if address.city:
        el(out, "city", address.city)
    if address.country:
        el(out, "country", address.country)
    if len(out) == 0:
        out.set("nullFlavor", "UNK")
    return out


def tel(parent: Element, telecom: Telecom) -> Element:
    """TEL: ``@value`` with its URL scheme (``tel:0144534551``, ``mailto:a@b.fr``) and the CI-SIS ``@use``."""
    return el(parent, "telecom", value=telecom.url, use=telecom.use)


def tels(parent: Element, telecoms: Iterable[Telecom]) -> None:
    """Every TEL of ``telecoms``, in order."""
    for telecom in telecoms:
        tel(parent, telecom)
