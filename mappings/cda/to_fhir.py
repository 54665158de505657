"""CDA R2 (CI-SIS) -> FHIR R4 for a received document: DocumentReference + Binary, and the usager's INS and traits.

Implements the reading side of the ANS "Structuration minimale des documents de santé" header (CI-SIS volet,
https://esante.gouv.fr/volet-structuration-minimale; french-interop.md §4) and of the CDA -> XDS / PDSm mapping
("Annexe - Lien entre l'en-tête CDA et les métadonnées XDS", french-interop.md §6.2 and §6.4):

=====================================================  =========================================================
CDA header                                             DocumentReference
=====================================================  =========================================================
``id`` (root[^extension])                              ``masterIdentifier`` (the XDS uniqueId)
``code``                                               ``type``, ``category`` (DMP class via ASS_X16)
``title``                                              ``description``, ``content.attachment.title``
``effectiveTime``                                      ``date``, ``content.attachment.creation``
``confidentialityCode``                                ``securityLabel``
``languageCode``                                       ``content.attachment.language``
``recordTarget/patientRole/id`` (INS OID)              ``subject.identifier``
``author``                                             ``author`` (contained PractitionerRole / Device)
``legalAuthenticator``                                 ``authenticator`` (contained PractitionerRole)
``custodian/.../representedCustodianOrganization``     ``custodian`` (contained Organization)
``documentationOf/serviceEvent`` code, effectiveTime   ``context.event``, ``context.period``
``serviceEvent/performer/.../standardIndustryClass``   ``context.practiceSetting``
``componentOf/.../healthCareFacility/code``            ``context.facilityType``
``componentOf/encompassingEncounter/id``               ``context.related`` (an Encounter identifier)
``relatedDocument[@typeCode=RPLC]/parentDocument/id``  ``relatesTo`` (code ``replaces``)
``nonXMLBody/text`` (B64, N1)                          a second ``content`` (the embedded PDF) and its Binary
=====================================================  =========================================================

The CDA itself is the first ``content`` (``text/xml``), stored as a Binary. Binary ids are derived from the
document uniqueId, so storing the same document twice writes the same Binaries (idempotent ingestion).

Pure: lxml and the standard library only. The subject is left as a logical reference (INS identifier); the caller
that matched the Patient adds ``subject.reference`` and the Binaries' ``securityContext``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from mappings.terminology import uri_of
from mappings.xds import valuesets as dmp_valuesets
from mappings.xds.metadata import INS_ROOTS, XDS_SD_TEMPLATE

__all__ = [
    "INS_OIDS",
    "CdaReadError",
    "PatientIdentity",
    "ReceivedDocument",
    "binary_id",
    "fhir_datetime",
    "read_document",
]

V3 = "urn:hl7-org:v3"
_NS = {"h": V3}

#: INS assigning authorities (NIR, NIA, test NIR, demo NIR; french-interop.md §1.1) -> FHIR Identifier.system.
INS_OIDS = INS_ROOTS

_GENDERS = {"F": "female", "M": "male", "U": "unknown"}
_PARIS = ZoneInfo("Europe/Paris")
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d+)?([+-]\d{4})?$")


class CdaReadError(ValueError):
    """The document cannot be read as a CI-SIS CDA: ``path`` is the XPath of the offending element."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.message = message
        self.path = path


@dataclass(frozen=True)
class PatientIdentity:
    """What ``recordTarget/patientRole`` says of the usager (INS and its strict traits, french-interop.md §1.3).

    ``sex`` is FHIR ``Patient.gender``; ``birth_date`` is ``YYYY[-MM[-DD]]``; ``birth_place`` the INSEE COG code
    of ``birthplace/place/addr/county``.
    """

    ins_system: str | None  # FHIR Identifier.system of the INS (urn:oid:...), None when no INS is present
    ins: str | None
    other_identifiers: tuple[tuple[str, str], ...]  # (system, value): IPP, ...
    birth_family: str | None
    first_given: str | None
    given_list: str | None
    sex: str | None
    birth_date: str | None
    birth_place: str | None
    used_family: str | None = None
    used_given: str | None = None


@dataclass(frozen=True)
class ReceivedDocument:
    unique_id: str  # XDS uniqueId: root, or root^extension
    set_id: str | None
    version: str | None
    title: str
    type_code: str
    patient: PatientIdentity
    document_reference: dict[str, Any]
    binaries: tuple[dict[str, Any], ...]  # the CDA, then the embedded rendition (N1)
    rendition: bytes | None  # the embedded PDF (or text) of an N1 document
    rendition_type: str | None
    replaces: str | None  # uniqueId of the document this one replaces (RPLC)

    @property
    def identifier_query(self) -> str:
        """The ``identifier`` search token (``system|value``) matching this document's masterIdentifier."""
        mi = self.document_reference["masterIdentifier"]
        return f"{mi['system']}|{mi['value']}"


def binary_id(unique_id: str, part: str) -> str:
    """A stable FHIR id for one part (``cda``, ``rendition``) of the document ``unique_id``."""
    return f"{part}-{hashlib.sha256(unique_id.encode()).hexdigest()[:40]}"


def fhir_datetime(value: str, path: str = "effectiveTime", *, instant: bool = False) -> str:
    """A CDA TS (``20210401134745+0100``) as a FHIR dateTime (``2021-04-01T13:47:45+01:00``).

    Hours without minutes gain ``:00``; a time without a zone is read as French legal time (Europe/Paris);
    ``instant=True`` also completes a bare date to midnight, Paris time (``DocumentReference.date`` is an instant).
    """
    m = _TS.match(value.strip())
    if not m:
        raise CdaReadError(f"{value!r} is not a CDA timestamp (YYYYMMDDHHMMSS+ZZZZ)", path)
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    if hour is None and not instant:
        return "-".join(p for p in (year, month, day) if p)
    if month is None or day is None:
        raise CdaReadError(f"{value!r}: a time needs a full date", path)
    try:
        stamp = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError as exc:
        raise CdaReadError(f"{value!r} is not a valid date ({exc})", path) from exc
    if zone:
        offset = f"{zone[:3]}:{zone[3:]}"
    else:
        offset = stamp.replace(tzinfo=_PARIS).strftime("%z")
        offset = f"{offset[:3]}:{offset[3:]}"
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (fraction or "") + offset


# --- small lxml helpers ------------------------------------------------------------------------------

def _first(node: etree._Element, xpath: str) -> etree._Element | None:
    found = node.xpath(xpath, namespaces=_NS)
    return found[0] if isinstance(found, list) and found and isinstance(found[0], etree._Element) else None


def _all(node: etree._Element, xpath: str) -> list[etree._Element]:
    found = node.xpath(xpath, namespaces=_NS)
    return [e for e in found if isinstance(e, etree._Element)] if isinstance(found, list) else []


def _text(node: etree._Element | None) -> str | None:
    if node is None:
        return None
    text = " ".join("".join(node.itertext()).split())
    return text or None


def _attr(node: etree._Element | None, name: str) -> str | None:
    if node is None:
        return None
    value = node.get(name)
    return value.strip() if value and value.strip() else None


def _system(oid: str) -> str:
    """The FHIR system of a code system OID (:mod:`mappings.terminology`; ``urn:oid:`` when not known)."""
    return uri_of(oid) or f"urn:oid:{oid}"


def _codeable(node: etree._Element | None) -> dict[str, Any] | None:
    """A CDA CD/CE as a CodeableConcept (None for an absent code or a nullFlavor)."""
    code, system = _attr(node, "code"), _attr(node, "codeSystem")
    if node is None or code is None or system is None:
        return None
    coding: dict[str, Any] = {"system": _system(system), "code": code}
    if display := _attr(node, "displayName"):
        coding["display"] = display
    return {"coding": [coding]}


def _identifier(node: etree._Element | None) -> dict[str, str] | None:
    """A CDA II as an Identifier: root + extension -> urn:oid:root | extension; root alone -> urn:ietf:rfc:3986."""
    root = _attr(node, "root")
    if root is None:
        return None
    extension = _attr(node, "extension")
    if extension:
        return {"system": f"urn:oid:{root}", "value": extension}
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{root}"}


def _unique_id(node: etree._Element | None) -> str | None:
    root = _attr(node, "root")
    if root is None:
        return None
    extension = _attr(node, "extension")
    return f"{root}^{extension}" if extension else root


def _human_name(node: etree._Element | None) -> dict[str, Any] | None:
    if node is None:
        return None
    out: dict[str, Any] = {}
    if family := _text(_first(node, "h:family")):
        out["family"] = family
    given = [t for t in (_text(g) for g in _all(node, "h:given")) if t]
    if given:
        out["given"] = given
    if prefix := [t for t in (_text(p) for p in _all(node, "h:prefix")) if t]:
        out["prefix"] = prefix
    if suffix := [t for t in (_text(s) for s in _all(node, "h:suffix")) if t]:
        out["suffix"] = suffix
    if not out and (text := _text(node)):
        out["text"] = text
    return out or None


def _telecoms(node: etree._Element) -> list[dict[str, str]]:
    out = []
    for tel in _all(node, "h:telecom"):
        value = _attr(tel, "value")
        if not value or ":" not in value:
            continue
        scheme, _, rest = value.partition(":")
        system = {"tel": "phone", "fax": "fax", "mailto": "email"}.get(scheme.lower(), "url")
        out.append({"system": system, "value": rest if system != "url" else value})
    return out


# --- participants ----------------------------------------------------------------------------------

def _organization(node: etree._Element | None, rid: str) -> dict[str, Any] | None:
    if node is None:
        return None
    org: dict[str, Any] = {"resourceType": "Organization", "id": rid}
    ids = [i for i in (_identifier(e) for e in _all(node, "h:id")) if i]
    if ids:
        org["identifier"] = ids
    if name := _text(_first(node, "h:name")):
        org["name"] = name
    if telecom := _telecoms(node):
        org["telecom"] = telecom
    if len(org) == 2:
        return None
    return org


def _practitioner_role(entity: etree._Element, rid: str, contained: list[dict[str, Any]]) -> str:
    """An assignedAuthor / assignedEntity as contained Practitioner + Organization + PractitionerRole; returns the
    PractitionerRole's local reference."""
    practitioner: dict[str, Any] = {"resourceType": "Practitioner", "id": f"{rid}-practitioner"}
    ids = [i for i in (_identifier(e) for e in _all(entity, "h:id")) if i]
    if ids:
        practitioner["identifier"] = ids
    if name := _human_name(_first(entity, "h:assignedPerson/h:name")):
        practitioner["name"] = [name]
    if telecom := _telecoms(entity):
        practitioner["telecom"] = telecom
    role: dict[str, Any] = {"resourceType": "PractitionerRole", "id": rid,
                            "practitioner": {"reference": f"#{practitioner['id']}"}}
    contained.append(practitioner)
    org = _organization(_first(entity, "h:representedOrganization"), f"{rid}-organization")
    if org:
        contained.append(org)
        role["organization"] = {"reference": f"#{org['id']}"}
    if code := _codeable(_first(entity, "h:code")):
        role["specialty"] = [code]
    contained.append(role)
    return f"#{rid}"


def _device(author: etree._Element, rid: str, contained: list[dict[str, Any]]) -> str:
    device_node = _first(author, "h:assignedAuthor/h:assignedAuthoringDevice")
    device: dict[str, Any] = {"resourceType": "Device", "id": rid}
    names = []
    for tag, kind in (("softwareName", "other"), ("manufacturerModelName", "model-name")):
        if device_node is not None and (value := _text(_first(device_node, f"h:{tag}"))):
            names.append({"name": value, "type": kind})
    if names:
        device["deviceName"] = names
    ids = [i for i in (_identifier(e) for e in _all(author, "h:assignedAuthor/h:id")) if i]
    if ids:
        device["identifier"] = ids
    org = _organization(_first(author, "h:assignedAuthor/h:representedOrganization"), f"{rid}-organization")
    if org:
        contained.append(org)
        device["owner"] = {"reference": f"#{org['id']}"}
    contained.append(device)
    return f"#{rid}"


def _authors(root: etree._Element, contained: list[dict[str, Any]]) -> list[dict[str, str]]:
    refs = []
    authors = _all(root, "h:author")
    if not authors:
        raise CdaReadError("the document has no author", "/ClinicalDocument/author")
    for n, author in enumerate(authors, start=1):
        if _first(author, "h:assignedAuthor/h:assignedAuthoringDevice") is not None:
            refs.append({"reference": _device(author, f"author{n}", contained)})
            continue
        entity = _first(author, "h:assignedAuthor")
        if entity is None:
            raise CdaReadError("author without assignedAuthor", f"/ClinicalDocument/author[{n}]")
        refs.append({"reference": _practitioner_role(entity, f"author{n}", contained)})
    return refs


# --- recordTarget ----------------------------------------------------------------------------------

def _given_by_qualifier(name: etree._Element | None, qualifier: str | None) -> str | None:
    if name is None:
        return None
    for given in _all(name, "h:given"):
        if (given.get("qualifier") or None) == qualifier and (text := _text(given)):
            return text
    return None


def _family_by_qualifier(name: etree._Element | None, *qualifiers: str) -> str | None:
    if name is None:
        return None
    for family in _all(name, "h:family"):
        if family.get("qualifier") in qualifiers and (text := _text(family)):
            return text
    return None


def read_patient(root: etree._Element) -> PatientIdentity:
    """The INS (first ``patientRole/id`` whose root is an INS OID) and the strict traits of the usager.

    CI-SIS convention (french-interop.md §4): ``family@qualifier="BR"`` birth family name, ``given@qualifier="BR"``
    first birth given name, ``given`` without qualifier the list of birth given names, ``CL`` the used names.
    """
    role = _first(root, "h:recordTarget/h:patientRole")
    if role is None:
        raise CdaReadError("the document has no recordTarget/patientRole", "/ClinicalDocument/recordTarget")
    ins_system = ins = None
    others: list[tuple[str, str]] = []
    for node in _all(role, "h:id"):
        oid, value = _attr(node, "root"), _attr(node, "extension")
        if oid is None or value is None:
            continue
        if oid in INS_OIDS and ins is None:
            ins_system, ins = f"urn:oid:{oid}", value
        else:
            others.append((f"urn:oid:{oid}", value))
    patient = _first(role, "h:patient")
    name = _first(patient, "h:name") if patient is not None else None
    gender = _attr(_first(patient, "h:administrativeGenderCode"), "code") if patient is not None else None
    birth = _attr(_first(patient, "h:birthTime"), "value") if patient is not None else None
    place = _text(_first(patient, "h:birthplace/h:place/h:addr/h:county")) if patient is not None else None
    return PatientIdentity(
        ins_system=ins_system,
        ins=ins,
        other_identifiers=tuple(others),
        birth_family=_family_by_qualifier(name, "BR"),
        first_given=_given_by_qualifier(name, "BR"),
        given_list=_given_by_qualifier(name, None),
        sex=_GENDERS.get(gender or ""),
        birth_date=fhir_datetime(birth[:8], "/ClinicalDocument/recordTarget/patientRole/patient/birthTime")
        if birth else None,
        birth_place=place,
        used_family=_family_by_qualifier(name, "CL", "SP"),
        used_given=_given_by_qualifier(name, "CL"),
    )


# --- body ------------------------------------------------------------------------------------------

def _rendition(root: etree._Element) -> tuple[bytes, str] | None:
    """The decoded ``nonXMLBody/text`` of an N1 document, with its media type."""
    text = _first(root, "h:component/h:nonXMLBody/h:text")
    if text is None:
        return None
    path = "/ClinicalDocument/component/nonXMLBody/text"
    media = _attr(text, "mediaType") or "text/plain"
    if (text.get("representation") or "TXT") != "B64":
        return ("".join(text.itertext()).encode("utf-8"), media)
    try:
        data = base64.b64decode("".join("".join(text.itertext()).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CdaReadError(f"the embedded document is not valid base64 ({exc})", path) from exc
    if media == "application/pdf" and not data.startswith(b"%PDF"):
        raise CdaReadError("mediaType is application/pdf but the content is not a PDF", path)
    return data, media


def _category(code: str, system: str) -> dict[str, Any] | None:
    """The DMP classCode (JDV_J57, TRE_A03) of a typeCode through ASS_X16 (:mod:`mappings.xds.valuesets`)."""
    cls = dmp_valuesets.X16_TYPE_TO_CLASS.get((code, system))
    if cls is None:
        return None
    coding: dict[str, Any] = {"system": _system(dmp_valuesets.TRE_A03_CLASSE_DOCUMENT), "code": cls}
    if display := dmp_valuesets.J57_CLASS_CODE.display(cls, dmp_valuesets.TRE_A03_CLASSE_DOCUMENT):
        coding["display"] = display
    return {"coding": [coding]}


def _format(root: etree._Element, media: str | None) -> dict[str, str] | None:
    """``content.format``: the JDV_J60 formatCode of the volet (templateId) or of the N1 body's media type."""
    templates = {t.get("root") for t in _all(root, "h:templateId")}
    code = next((c for template, c in dmp_valuesets.VOLET_FORMAT_CODES.items() if template in templates), None)
    if code is None and XDS_SD_TEMPLATE in templates and media:
        code = dmp_valuesets.XDS_SD_FORMAT_CODES.get(media)
    scheme = next((s for c, s in dmp_valuesets.J60_FORMAT_CODE.codes() if c == code), None)
    if code is None or scheme is None:
        return None
    coding = {"system": _system(scheme), "code": code}
    if display := dmp_valuesets.J60_FORMAT_CODE.display(code, scheme):
        coding["display"] = display
    return coding


def _attachment(data: bytes, content_type: str, url: str, title: str, creation: str,
                language: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"contentType": content_type}
    if language:
        out["language"] = language
    out.update({"url": url, "size": len(data),
                "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),  # noqa: S324 (XDS hash)
                "title": title, "creation": creation})
    return out


def _binary(bid: str, content_type: str, data: bytes) -> dict[str, Any]:
    return {"resourceType": "Binary", "id": bid, "contentType": content_type,
            "data": base64.b64encode(data).decode("ascii")}


# --- context ---------------------------------------------------------------------------------------

def _context(root: etree._Element) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    event = _first(root, "h:documentationOf/h:serviceEvent")
    if event is not None:
        if code := _codeable(_first(event, "h:code")):
            ctx["event"] = [code]
        period: dict[str, str] = {}
        base = "/ClinicalDocument/documentationOf/serviceEvent/effectiveTime"
        for bound, key in (("low", "start"), ("high", "end")):
            if value := _attr(_first(event, f"h:effectiveTime/h:{bound}"), "value"):
                period[key] = fhir_datetime(value, f"{base}/{bound}")
        if period:
            ctx["period"] = period
        setting = _first(event, "h:performer/h:assignedEntity/h:representedOrganization/h:standardIndustryClassCode")
        if code := _codeable(setting):
            ctx["practiceSetting"] = code
    encounter = _first(root, "h:componentOf/h:encompassingEncounter")
    if encounter is not None:
        if code := _codeable(_first(encounter, "h:location/h:healthCareFacility/h:code")):
            ctx["facilityType"] = code
        related = [{"type": "Encounter", "identifier": i}
                   for i in (_identifier(e) for e in _all(encounter, "h:id")) if i]
        if related:
            ctx["related"] = related
    return ctx


# --- the document ----------------------------------------------------------------------------------

def _parse(cda: bytes | etree._Element) -> tuple[etree._Element, bytes]:
    if isinstance(cda, etree._Element):
        return cda, etree.tostring(cda, xml_declaration=True, encoding="UTF-8")
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        root = etree.fromstring(cda, parser)
    except etree.XMLSyntaxError as exc:
        raise CdaReadError(f"not well-formed XML ({exc})", "/") from exc
    return root, cda


def _required(root: etree._Element, xpath: str, what: str) -> etree._Element:
    node = _first(root, xpath)
    if node is None:
        raise CdaReadError(f"the document has no {what}", "/ClinicalDocument/" + xpath.replace("h:", ""))
    return node


def read_document(cda: bytes | etree._Element) -> ReceivedDocument:
    """Read a received CI-SIS CDA: DocumentReference, Binaries (CDA, embedded rendition) and the usager's identity.

    Raises :class:`CdaReadError` naming the element when a header element the mapping needs is missing.
    """
    root, raw = _parse(cda)
    if etree.QName(root).namespace != V3 or etree.QName(root).localname != "ClinicalDocument":
        raise CdaReadError("the root element is not {urn:hl7-org:v3}ClinicalDocument", "/")
    id_node = _required(root, "h:id", "id")
    unique_id = _unique_id(id_node)
    master = _identifier(id_node)
    if unique_id is None or master is None:
        raise CdaReadError("id has no root", "/ClinicalDocument/id")
    code_node = _required(root, "h:code", "code")
    doc_type = _codeable(code_node)
    if doc_type is None:
        raise CdaReadError("code needs @code and @codeSystem", "/ClinicalDocument/code")
    time_value = _attr(_required(root, "h:effectiveTime", "effectiveTime"), "value")
    if time_value is None:
        raise CdaReadError("effectiveTime has no @value", "/ClinicalDocument/effectiveTime")
    created = fhir_datetime(time_value, "/ClinicalDocument/effectiveTime")
    title = _text(_first(root, "h:title")) or _attr(code_node, "displayName") or "Document"
    language = _attr(_first(root, "h:languageCode"), "code")
    patient = read_patient(root)

    contained: list[dict[str, Any]] = []
    doc: dict[str, Any] = {"resourceType": "DocumentReference", "contained": contained,
                           "masterIdentifier": master, "status": "current", "docStatus": "final",
                           "type": doc_type}
    if category := _category(str(_attr(code_node, "code")), str(_attr(code_node, "codeSystem"))):
        doc["category"] = [category]
    subject: dict[str, Any] = {"type": "Patient"}
    if patient.ins_system and patient.ins:
        subject["identifier"] = {"system": patient.ins_system, "value": patient.ins}
    doc["subject"] = subject
    doc["date"] = fhir_datetime(time_value, "/ClinicalDocument/effectiveTime", instant=True)
    doc["author"] = _authors(root, contained)
    legal = _first(root, "h:legalAuthenticator/h:assignedEntity")
    if legal is not None:
        doc["authenticator"] = {"reference": _practitioner_role(legal, "authenticator", contained)}
    custodian = _organization(_first(root, "h:custodian/h:assignedCustodian/h:representedCustodianOrganization"),
                              "custodian")
    if custodian is None:
        raise CdaReadError("the document has no custodian organization", "/ClinicalDocument/custodian")
    contained.append(custodian)
    doc["custodian"] = {"reference": "#custodian"}
    parent = _first(root, "h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id")
    replaces = _unique_id(parent)
    if parent is not None and (target := _identifier(parent)):
        doc["relatesTo"] = [{"code": "replaces", "target": {"identifier": target}}]
    doc["description"] = title
    if label := _codeable(_first(root, "h:confidentialityCode")):
        doc["securityLabel"] = [label]

    rendition = _rendition(root)
    media = rendition[1] if rendition else None
    cda_id = binary_id(unique_id, "cda")
    content = [{"attachment": _attachment(raw, "text/xml", f"Binary/{cda_id}", title, created, language)}]
    fmt = _format(root, media)
    if fmt:
        content[0]["format"] = fmt
    binaries = [_binary(cda_id, "text/xml", raw)]
    if rendition:
        rid = binary_id(unique_id, "rendition")
        content.append({"attachment": _attachment(rendition[0], rendition[1], f"Binary/{rid}", title, created,
                                                  language)})
        binaries.append(_binary(rid, rendition[1], rendition[0]))
    doc["content"] = content
    if context := _context(root):
        doc["context"] = context
    return ReceivedDocument(
        unique_id=unique_id,
        set_id=_unique_id(_first(root, "h:setId")),
        version=_attr(_first(root, "h:versionNumber"), "value"),
        title=title,
        type_code=str(_attr(code_node, "code")),
        patient=patient,
        document_reference=doc,
        binaries=tuple(binaries),
        rendition=rendition[0] if rendition else None,
        rendition_type=media,
        replaces=replaces,
    )
