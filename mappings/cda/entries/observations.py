"""Observation entries of the CI-SIS:

* FR-Simple-Observation (1.2.250.1.213.1.1.3.48, IHE PCC Simple Observation 1.3.6.1.4.1.19376.1.5.3.1.4.13),
  with a BL, CD or PQ value or a nullFlavor when the answer is not known;
* FR-Directive-anticipee (1.2.250.1.213.1.1.3.54, IHE PCC Advance Directive Observation
  1.3.6.1.4.1.19376.1.5.3.1.4.13.7) with its external document reference;
* FR-Signes-vitaux (organizer 1.2.250.1.213.1.1.3.49) of FR-Signe-vital-observe (1.2.250.1.213.1.1.3.50).

Structure as in the ANS examples ``DLU-EHPAD-DLU_2022.01.xml`` and ``DLU-EHPAD-FLUDT_2022.01.xml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from mappings.cda.entries import codes
from mappings.cda.entries.base import (
    boolean_value,
    coded,
    fixed_code,
    ident,
    interval,
    quantity_value,
    sub,
    template_ids,
    text_reference,
    time_element,
)

SIMPLE = ("1.3.6.1.4.1.19376.1.5.3.1.4.13", "1.2.250.1.213.1.1.3.48")
ADVANCE_DIRECTIVE = ("2.16.840.1.113883.10.20.1.17", "1.3.6.1.4.1.19376.1.5.3.1.4.13",
                     "1.3.6.1.4.1.19376.1.5.3.1.4.13.7", "1.2.250.1.213.1.1.3.54")
VITAL_SIGNS_ORGANIZER = ("2.16.840.1.113883.10.20.1.32", "2.16.840.1.113883.10.20.1.35",
                         "1.3.6.1.4.1.19376.1.5.3.1.4.13.1", "1.2.250.1.213.1.1.3.49")
VITAL_SIGN = ("2.16.840.1.113883.10.20.1.31", "1.3.6.1.4.1.19376.1.5.3.1.4.13",
              "1.3.6.1.4.1.19376.1.5.3.1.4.13.2", "1.2.250.1.213.1.1.3.50")


@dataclass(frozen=True)
class Code:
    """A code the model fixes (code, code system OID, display name)."""

    code: str
    system: str
    display: str


def simple_observation(parent: etree._Element, key: str, code: Code, content_id: str | None, *,
                       when: str | None = None, when_null: str = "NA", boolean: bool | None = None,
                       value: Mapping[str, Any] | None = None, value_kind: str = "BL",
                       extra_templates: Sequence[str] = (), qualifier: Code | None = None,
                       target_site: Mapping[str, Any] | None = None, site_text: str | None = None,
                       value_null: str = "UNK") -> etree._Element:
    """One FR-Simple-Observation. ``value_kind``: ``BL`` (``boolean``, nullFlavor ``value_null`` when None),
    ``CD`` (``value`` is a FHIR Coding), ``PQ`` (``value`` is a FHIR Quantity), ``CD-text`` (the narrative
    ``content_id`` as the original text)."""
    obs = sub(parent, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    template_ids(obs, (*SIMPLE, *extra_templates))
    ident(obs, key)
    code_node = fixed_code(obs, "code", code.code, code.system, code.display)
    if qualifier is not None:
        fixed_code(sub(code_node, "qualifier"), "name", qualifier.code, qualifier.system, qualifier.display)
    text_reference(obs, content_id)
    sub(obs, "statusCode", {"code": "completed"})
    time_element(obs, "effectiveTime", when, when_null)
    if value_kind == "BL":
        boolean_value(obs, boolean, value_null)
    elif value_kind == "CD":
        coded(obs, "value", value, xsi_type="CD", null=value_null)
    elif value_kind == "PQ":
        if value is None or quantity_value(obs, value) is None:
            sub(obs, "value", {"xsi:type": "PQ", "nullFlavor": value_null})
    else:
        text_reference(sub(obs, "value", {"xsi:type": "CD"}), content_id, tag="originalText")
    if target_site is not None:
        coded(obs, "targetSiteCode", target_site, original_text=site_text, null="NASK")
    return obs


def advance_directive(parent: etree._Element, key: str, content_id: str, present: bool | None,
                      start: str | None, end: str | None, document_url: str | None) -> etree._Element:
    """FR-Directive-anticipee: has the usager written advance directives (BL), and where they are."""
    obs = sub(parent, "observation", {"classCode": "OBS", "moodCode": "EVN"})
    template_ids(obs, ADVANCE_DIRECTIVE)
    ident(obs, key)
    fixed_code(obs, "code", "42348-3", codes.LOINC, "Directives anticipées")
    text_reference(obs, content_id)
    sub(obs, "statusCode", {"code": "completed"})
    interval(obs, start, end)
    boolean_value(obs, present)
    if present:
        reference = sub(obs, "reference", {"typeCode": "REFR"})
        sub(reference, "templateId", {"root": "2.16.840.1.113883.10.20.1.36"})
        document = sub(reference, "externalDocument", {"classCode": "DOC", "moodCode": "EVN"})
        ident(document, key, "document")
        if document_url:
            text = sub(document, "text")
            sub(text, "reference", {"value": document_url})
    return obs


@dataclass(frozen=True)
class VitalSign:
    code: Code
    quantity: Mapping[str, Any]
    when: str | None
    content_id: str
    key: str


def vital_signs(parent: etree._Element, key: str, signs: Sequence[VitalSign], when: str | None) -> etree._Element:
    """FR-Signes-vitaux: one organizer, one FR-Signe-vital-observe per measure."""
    organizer = sub(parent, "organizer", {"classCode": "CLUSTER", "moodCode": "EVN"})
    template_ids(organizer, VITAL_SIGNS_ORGANIZER)
    ident(organizer, key, "vital-signs")
    fixed_code(organizer, "code", "85353-1", codes.LOINC, "Signes vitaux")
    sub(organizer, "statusCode", {"code": "completed"})
    time_element(organizer, "effectiveTime", when, "UNK")
    for sign in signs:
        obs = sub(sub(organizer, "component", {"typeCode": "COMP"}), "observation",
                  {"classCode": "OBS", "moodCode": "EVN"})
        template_ids(obs, VITAL_SIGN)
        ident(obs, sign.key, sign.code.code)
        fixed_code(obs, "code", sign.code.code, sign.code.system, sign.code.display)
        text_reference(obs, sign.content_id)
        sub(obs, "statusCode", {"code": "completed"})
        time_element(obs, "effectiveTime", sign.when, "UNK")
        if quantity_value(obs, sign.quantity) is None:
            sub(obs, "value", {"xsi:type": "PQ", "nullFlavor": "UNK"})
    return organizer
