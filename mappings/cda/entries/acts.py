"""Act, procedure and organizer entries of the CI-SIS:

* FR-Acte (1.2.250.1.213.1.1.3.62, IHE PCC Procedure Entry 1.3.6.1.4.1.19376.1.5.3.1.4.19);
* FR-Disposition (1.2.250.1.213.1.1.3.97, IHE PCC Encounter Disposition 1.3.6.1.4.1.19376.1.5.3.1.1.10.4.2):
  the preferred health facility of the DLU;
* FR-Transfert-du-patient (1.2.250.1.213.1.1.3.28, IHE PCC Patient Transfer 1.3.6.1.4.1.19376.1.5.3.1.1.25.1.4.1):
  the FLUDT transfer to the emergency department;
* FR-Document-attache (organizer 1.2.250.1.213.1.1.3.18) with FR-Type-document-attache
  (1.2.250.1.213.1.1.3.48.18, code from JDV_ChecklistDLU_CISIS) and the document as an ``observationMedia``.

Structure as in the ANS examples ``DLU-EHPAD-DLU_2022.01.xml`` and ``DLU-EHPAD-FLUDT_2022.01.xml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from mappings.cda import datatypes as dt
from mappings.cda.entries import codes
from mappings.cda.entries.base import (
    Resource,
    fixed_code,
    ident,
    interval,
    resource_key,
    sub,
    template_ids,
    text_reference,
    time_element,
)
from mappings.cda.entries.observations import SIMPLE, Code
from mappings.cda.model import ModelError, addresses_from_fhir, structure_id, telecoms_from_fhir

PROCEDURE = ("1.3.6.1.4.1.19376.1.5.3.1.4.19", "2.16.840.1.113883.10.20.1.29", "1.2.250.1.213.1.1.3.62")
DISPOSITION = ("1.3.6.1.4.1.19376.1.5.3.1.1.10.4.2", "1.2.250.1.213.1.1.3.97")
TRANSFER = ("1.3.6.1.4.1.19376.1.5.3.1.1.25.1.4.1", "1.2.250.1.213.1.1.3.28")
ATTACHED_DOCUMENT = ("1.2.250.1.213.1.1.3.18",)
ATTACHED_DOCUMENT_TYPE = (*SIMPLE, "1.2.250.1.213.1.1.3.48.18")

def procedure(parent: etree._Element, key: str, code: Code | None, content_id: str | None, *, status: str,
              negated: bool | None = None, when: str | None = None, when_null: str = "UNK") -> etree._Element:
    """FR-Acte; ``negated=True`` states the act was not done (``negationInd``)."""
    attrs = {"classCode": "PROC", "moodCode": "EVN"}
    if negated is not None:
        attrs["negationInd"] = "true" if negated else "false"
    proc = sub(parent, "procedure", attrs)
    template_ids(proc, PROCEDURE)
    ident(proc, key)
    if code is None:
        sub(proc, "code", {"nullFlavor": "NA"})
    else:
        fixed_code(proc, "code", code.code, code.system, code.display)
    text_reference(proc, content_id)
    sub(proc, "statusCode", {"code": status})
    time_element(proc, "effectiveTime", when, when_null)
    return proc


def finess(organization: Resource) -> str | None:
    """The structure national id (IDNST: ``1`` + FINESS, the CI-SIS extension under root 1.2.250.1.71.4.2.2) of
    an Organization (:func:`mappings.cda.model.structure_id`), None when it has none."""
    try:
        return structure_id(organization).extension
    except ModelError:
        return None


def address(parent: etree._Element, addresses: Any) -> None:
    """``addr`` from the first FHIR Address (``nullFlavor`` when there is none)."""
    found = addresses_from_fhir(addresses)
    dt.ad(parent, found[0] if found else None)


def telecoms(parent: etree._Element, points: Any) -> None:
    """``telecom`` from FHIR ContactPoints (``tel:`` / ``fax:`` / ``mailto:``, CI-SIS uses)."""
    dt.tels(parent, telecoms_from_fhir(points))


def address_text(addresses: Any) -> str:
    found = next((a for a in addresses or [] if isinstance(a, Mapping)), None)
    if not found:
        return ""
    parts = [*map(str, found.get("line") or []), " ".join(str(found[k]) for k in ("postalCode", "city")
                                                          if found.get(k))]
    return ", ".join(p for p in parts if p)


def disposition(parent: etree._Element, organization: Resource | None, content_id: str, key: str) -> etree._Element:
    """FR-Disposition: the établissement de santé de préférence (receiver, organisation and destination); without
    one, the entry (required by the CI-SIS section model) only points at the narrative that says so."""
    act = sub(parent, "act", {"classCode": "ACT", "moodCode": "INT"})
    template_ids(act, DISPOSITION)
    ident(act, resource_key(organization) if organization else key, "disposition")
    fixed_code(act, "code", "11302-7", codes.LOINC, "Etablissement de santé de préférence")
    text_reference(act, content_id)
    sub(act, "statusCode", {"code": "normal"})
    sub(act, "effectiveTime", {"nullFlavor": "NAV"})
    if organization is None:
        return act
    number = finess(organization)
    for type_code in ("RCV", "ORG", "DST"):
        participant = sub(act, "participant", {"typeCode": type_code})
        sub(participant, "time", {"nullFlavor": "NAV"})
        role = sub(participant, "participantRole", {"classCode": "ROL"})
        if number:
            sub(role, "id", {"root": codes.FINESS, "extension": number})
        else:
            ident(role, resource_key(organization))
        address(role, organization.get("address"))
        telecoms(role, organization.get("telecom"))
        entity = sub(role, "playingEntity")
        sub(entity, "name", text=str(organization.get("name") or ""))
    return act


def transfer(parent: etree._Element, key: str, content_id: str, start: str | None, end: str | None,
             destination: Resource | None, destination_name: str | None) -> etree._Element:
    """FR-Transfert-du-patient: when, and to which établissement (FINESS as in the ANS FLUDT example)."""
    act = sub(parent, "act", {"classCode": "ACT", "moodCode": "EVN"})
    template_ids(act, TRANSFER)
    ident(act, key, "transfer")
    fixed_code(act, "code", "80413-8", codes.LOINC, "Transfert du patient")
    text_reference(act, content_id)
    sub(act, "statusCode", {"code": "completed"})
    interval(act, start, end, high_null="UNK")  # low: departure, high: arrival (unknown when the sheet is written)
    participant = sub(act, "participant", {"typeCode": "DST"})
    number = finess(destination) if destination else None
    if number:
        sub(participant, "templateId", {"root": codes.FINESS, "extension": number})
    role = sub(participant, "participantRole", {"classCode": "SDLOC"})
    ident(role, key, "destination")
    facility_type = _facility_type(destination)
    if facility_type:
        fixed_code(role, "code", *facility_type)
    else:  # IHE PCC: the destination's role has a code (its kind, TRE_R02 secteur d'activité)
        sub(role, "code", {"nullFlavor": "UNK"})
    if destination:
        address(role, destination.get("address"))
        telecoms(role, destination.get("telecom"))
    name = (destination or {}).get("name") or destination_name
    entity = sub(role, "playingEntity", {"classCode": "ENT"})
    sub(entity, "name", {"nullFlavor": None if name else "UNK"}, str(name) if name else None)
    return act


def _facility_type(organization: Resource | None) -> tuple[str, str, str] | None:
    """The TRE_R02 secteur d'activité of an Organization (``Organization.type``), if coded."""
    for concept in (organization or {}).get("type") or []:
        for coding in (concept or {}).get("coding") or []:
            if codes.oid(str(coding.get("system", ""))) == codes.TRE_R02 and coding.get("code"):
                return str(coding["code"]), codes.TRE_R02, str(coding.get("display") or coding["code"])
    return None


def attached_document(parent: etree._Element, key: str, checklist: Code, content_id: str, media_id: str | None,
                      media_type: str | None, data_b64: str | None) -> etree._Element:
    """FR-Document-attache: the checklist item (JDV_ChecklistDLU_CISIS) and the document itself (B64); a
    document not annexed has a ``nullFlavor="NA"`` media value (as the CI-SIS model allows)."""
    organizer = sub(parent, "organizer", {"classCode": "CLUSTER", "moodCode": "EVN"})
    template_ids(organizer, ATTACHED_DOCUMENT)
    ident(organizer, key, "attached")
    fixed_code(organizer, "code", "55107-7", codes.LOINC, "Document attaché")
    sub(organizer, "statusCode", {"code": "completed"})
    obs = sub(sub(organizer, "component"), "observation", {"classCode": "OBS", "moodCode": "EVN"})
    template_ids(obs, ATTACHED_DOCUMENT_TYPE)
    ident(obs, key, "type")
    fixed_code(obs, "code", "69764-9", codes.LOINC, "Type de document")
    text_reference(obs, content_id)
    sub(obs, "statusCode", {"code": "completed"})
    sub(obs, "effectiveTime", {"nullFlavor": "NA"})
    fixed_code(obs, "value", checklist.code, checklist.system, checklist.display, xsi_type="CD")
    media = sub(sub(organizer, "component"), "observationMedia",
                {"classCode": "OBS", "moodCode": "EVN", "ID": media_id})
    if data_b64 and media_type:
        sub(media, "value", {"mediaType": media_type, "representation": "B64"}, data_b64)
    else:
        sub(media, "value", {"nullFlavor": "NA"})
    return organizer
