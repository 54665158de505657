"""Substance administrations of the CI-SIS:

* FR-Traitement (1.2.250.1.213.1.1.3.42, IHE PCC Medications Entry 1.3.6.1.4.1.19376.1.5.3.1.4.7, normal
  dosing 1.3.6.1.4.1.19376.1.5.3.1.4.7.1) — from a FHIR ``MedicationStatement`` or ``MedicationRequest``;
* FR-Vaccination (1.2.250.1.213.1.1.3.45, IHE PCC Immunizations 1.3.6.1.4.1.19376.1.5.3.1.4.12) — from a FHIR
  ``Immunization``;
* both carry an FR-Produit-de-sante (1.2.250.1.213.1.1.3.43, IHE PCC Product Entry 1.3.6.1.4.1.19376.1.5.3.1.4.7.2).

Structure as in the ANS examples ``DLU-EHPAD-DLU_2022.01.xml`` and ``DLU-EHPAD-FLUDT_2022.01.xml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from mappings.cda.entries import codes
from mappings.cda.entries.base import (
    Resource,
    coded,
    find_coding,
    fixed_code,
    ident,
    interval,
    quantity_value,
    resource_key,
    sub,
    template_ids,
    text_of,
    text_reference,
    time_element,
)

TREATMENT = ("2.16.840.1.113883.10.20.1.24", "1.3.6.1.4.1.19376.1.5.3.1.4.7", "1.2.250.1.213.1.1.3.42",
             "1.3.6.1.4.1.19376.1.5.3.1.4.7.1")
IMMUNIZATION = ("2.16.840.1.113883.10.20.1.24", "1.3.6.1.4.1.19376.1.5.3.1.4.12", "1.2.250.1.213.1.1.3.45")
PRODUCT = ("2.16.840.1.113883.10.20.1.53", "1.3.6.1.4.1.19376.1.5.3.1.4.7.2", "1.2.250.1.213.1.1.3.43")

#: FHIR Timing periodUnit -> UCUM
_UNITS = {"s": "s", "min": "min", "h": "h", "d": "d", "wk": "wk", "mo": "mo", "a": "a"}
_CIS_SYSTEMS = ("https://smt.esante.gouv.fr/terminologie-cis", "urn:oid:1.2.250.1.213.2.3.1")


def medication_concept(resource: Resource) -> Mapping[str, Any]:
    concept = resource.get("medicationCodeableConcept") or resource.get("vaccineCode")
    if isinstance(concept, Mapping):
        return concept
    reference = resource.get("medicationReference") or {}
    return {"text": reference.get("display")} if isinstance(reference, Mapping) and reference.get("display") else {}


def dosages(resource: Resource) -> list[Mapping[str, Any]]:
    items = resource.get("dosage") or resource.get("dosageInstruction") or []
    return [d for d in items if isinstance(d, Mapping)]


def period(resource: Resource) -> tuple[str | None, str | None]:
    effective = resource.get("effectivePeriod")
    if isinstance(effective, Mapping):
        return effective.get("start"), effective.get("end")
    if resource.get("effectiveDateTime"):
        return resource["effectiveDateTime"], None
    bounds: Mapping[str, Any] = {}
    for dosage in dosages(resource):
        bounds = ((dosage.get("timing") or {}).get("repeat") or {}).get("boundsPeriod") or {}
        if bounds:
            break
    return bounds.get("start") or resource.get("authoredOn"), bounds.get("end")


def _frequency(parent: etree._Element, dosage: Mapping[str, Any]) -> None:
    """``PIVL_TS`` from ``timing.repeat``: ``frequency`` times per ``period periodUnit`` -> one every
    ``period / frequency`` ``periodUnit`` (twice a day -> every 12 h)."""
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    every, unit = repeat.get("period"), _UNITS.get(str(repeat.get("periodUnit")))
    frequency = repeat.get("frequency") or 1
    if not isinstance(every, int | float) or not unit or not isinstance(frequency, int) or frequency < 1:
        return
    value, unit = every / frequency, unit
    if value != int(value) and unit == "d":
        value, unit = value * 24, "h"
    node = sub(parent, "effectiveTime", {"xsi:type": "PIVL_TS", "institutionSpecified": "true",
                                         "operator": "A"})
    number = f"{value:.4f}".rstrip("0").rstrip(".")
    sub(node, "period", {"value": number, "unit": unit})


def route(parent: etree._Element, concept: Any) -> None:
    """``routeCode`` in EDQM (the CI-SIS route value sets), mapped from a SNOMED CT or EDQM route."""
    edqm = find_coding(concept, ("http://standardterms.edqm.eu",))
    if edqm:
        coded(parent, "routeCode", edqm)
        return
    snomed = find_coding(concept, ("http://snomed.info/sct",))
    if snomed and str(snomed["code"]) in codes.ROUTES_EDQM:
        code, display = codes.ROUTES_EDQM[str(snomed["code"])]
        fixed_code(parent, "routeCode", code, codes.EDQM, display)


def product(parent: etree._Element, concept: Mapping[str, Any], content_id: str, lot: str | None = None,
            class_code: str | None = None) -> etree._Element:
    """FR-Produit-de-sante: the CIS code when there is one, else a ``nullFlavor="NA"`` code (the CI-SIS allows no
    other code system there), the ATC code as its translation; the name is the concept's text."""
    consumable = sub(parent, "consumable", {"typeCode": "CSM"})
    manufactured = sub(consumable, "manufacturedProduct", {"classCode": class_code})
    template_ids(manufactured, PRODUCT)
    material = sub(manufactured, "manufacturedMaterial", {"classCode": "MMAT"})
    cis = find_coding(concept, _CIS_SYSTEMS)
    code = coded(material, "code", cis, original_text=content_id, null="NA")
    atc = find_coding(concept, ("http://www.whocc.no/atc",))
    if atc is not None:
        coded(code, "translation", atc)
    label = text_of(concept)
    sub(material, "name", {"nullFlavor": None if label else "UNK"}, label or None)
    if lot:
        sub(material, "lotNumberText", text=lot)
    return material


def dose(parent: etree._Element, dosage: Mapping[str, Any]) -> None:
    """``doseQuantity`` as the CI-SIS wants it (IVL_PQ with ``low`` and ``high``): a FHIR ``doseRange``, or a
    ``doseQuantity`` as low = high; nothing when the dosage has neither."""
    for dose_and_rate in dosage.get("doseAndRate") or []:
        if not isinstance(dose_and_rate, Mapping):
            continue
        single, span = dose_and_rate.get("doseQuantity"), dose_and_rate.get("doseRange")
        low = (span or {}).get("low") if isinstance(span, Mapping) else single
        high = (span or {}).get("high") if isinstance(span, Mapping) else single
        if isinstance(low, Mapping) and isinstance(high, Mapping):
            node = sub(parent, "doseQuantity")
            if quantity_value(node, low, tag="low", xsi_type=None) is not None and \
                    quantity_value(node, high, tag="high", xsi_type=None) is not None:
                return
            parent.remove(node)


def treatment(parent: etree._Element, resource: Resource, content_id: str, *, mood: str = "INT") -> etree._Element:
    """FR-Traitement from a MedicationStatement / MedicationRequest (first dosage)."""
    admin = sub(parent, "substanceAdministration", {"classCode": "SBADM", "moodCode": mood})
    template_ids(admin, TREATMENT)
    ident(admin, resource_key(resource))
    text_reference(admin, content_id)
    sub(admin, "statusCode", {"code": "completed"})
    start, end = period(resource)
    interval(admin, start, end, xsi_type="IVL_TS", high_null="UNK")  # IHE PCC: low and high (UNK: ongoing)
    dosage = dosages(resource)[0] if dosages(resource) else {}
    _frequency(admin, dosage)
    route(admin, dosage.get("route"))
    dose(admin, dosage)
    product(admin, medication_concept(resource), content_id)
    return admin


def no_treatment(parent: etree._Element, content_id: str, key: str) -> etree._Element:
    """The FR-Traitement of a record without treatment (the section is required and IHE PCC wants an entry): no
    product (``nullFlavor="NA"``), pointing at the narrative that says so."""
    admin = sub(parent, "substanceAdministration", {"classCode": "SBADM", "moodCode": "INT"})
    template_ids(admin, TREATMENT)
    ident(admin, key, "no-treatment")
    text_reference(admin, content_id)
    sub(admin, "statusCode", {"code": "completed"})
    consumable = sub(admin, "consumable", {"typeCode": "CSM"})
    manufactured = sub(consumable, "manufacturedProduct")
    template_ids(manufactured, PRODUCT)
    material = sub(manufactured, "manufacturedMaterial", {"classCode": "MMAT"})
    sub(material, "code", {"nullFlavor": "NA"})
    sub(material, "name", {"nullFlavor": "NA"})
    return admin


def last_intake(parent: etree._Element, when: str | None, content_id: str, key: str) -> etree._Element:
    """The FLUDT "dernière prise du traitement habituel": a FR-Traitement whose time is the last intake and whose
    product is unknown (as in the ANS FLUDT example)."""
    admin = sub(parent, "substanceAdministration", {"classCode": "SBADM", "moodCode": "EVN"})
    template_ids(admin, TREATMENT)
    ident(admin, key, "last-intake")
    sub(admin, "code", {"nullFlavor": "NA"})
    text_reference(admin, content_id)
    sub(admin, "statusCode", {"code": "completed"})
    node = sub(admin, "effectiveTime", {"xsi:type": "IVL_TS"})
    time_element(node, "low", when, "UNK")
    time_element(node, "high", when, "UNK")
    sub(admin, "routeCode", {"nullFlavor": "NA"})
    consumable = sub(admin, "consumable")
    manufactured = sub(consumable, "manufacturedProduct")
    template_ids(manufactured, PRODUCT)
    material = sub(manufactured, "manufacturedMaterial")
    sub(material, "code", {"nullFlavor": "UNK"})
    sub(material, "name", {"nullFlavor": "UNK"})
    return admin


def immunization(parent: etree._Element, resource: Resource, content_id: str) -> etree._Element:
    """FR-Vaccination from an Immunization (``not-done`` -> ``negationInd="true"``)."""
    not_done = resource.get("status") == "not-done"
    admin = sub(parent, "substanceAdministration", {"classCode": "SBADM", "moodCode": "EVN",
                                                     "negationInd": "true" if not_done else "false"})
    template_ids(admin, IMMUNIZATION)
    ident(admin, resource_key(resource))
    fixed_code(admin, "code", "IMMUNIZ", codes.ACT_CODE, "Immunization")
    text_reference(admin, content_id)
    sub(admin, "statusCode", {"code": "completed"})
    time_element(admin, "effectiveTime", resource.get("occurrenceDateTime"), "NASK")
    route(admin, resource.get("route"))
    dose = resource.get("doseQuantity")
    if not (isinstance(dose, Mapping) and quantity_value(admin, dose, tag="doseQuantity", xsi_type=None) is not None):
        sub(admin, "doseQuantity", {"nullFlavor": "NA"})
    product(admin, medication_concept(resource), content_id, lot=resource.get("lotNumber"), class_code="MANU")
    return admin
