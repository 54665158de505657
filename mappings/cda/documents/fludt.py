"""FLUDT — Fiche de liaison d'urgence / document de transfert de l'EHPAD vers le service des urgences, ANS model
DLU-EHPAD-FLUDT 2022.01 (templateId 1.2.250.1.213.1.1.1.23 extension 2022.01, LOINC 74207-2, serviceEvent
LOINC 28651-8 "Transfert du patient au service des urgences").

https://esante.gouv.fr/volet-dlu (CI-SIS "DLU-EHPAD"), checked by ``CI-SIS_DLU-EHPAD-FLUDT_2022.01.sch`` of the
ANS test kit; structure as in its example ``DLU-EHPAD-FLUDT_2022.01.xml``. Sections, in the model's order:

=====================================================  =====  ==========================================
section                                                card.  from
=====================================================  =====  ==========================================
Transfert (motif, date, établissement de destination)  1..1   :class:`Transfer`
Constantes (signes vitaux)                             1..1   vital-sign ``observations``
Observations (état de conscience, douleurs récentes)   1..1   ``Transfer.consciousness``, pain ``observations``
Dernière prise du traitement habituel                  1..1   ``Transfer.last_intake``
Dernier repas                                          1..1   ``Transfer.last_meal``
Prothèses et objets personnels                         1..1   prosthesis ``observations``
Commentaire                                            0..1   ``Transfer.comment``
=====================================================  =====  ==========================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from mappings.cda.documents.dlu_ehpad import check_header, volet_parts
from mappings.cda.documents.liaison import Contact, Physician
from mappings.cda.entries.base import Resource, element, resource_key, sub
from mappings.cda.header import build_header
from mappings.cda.model import Document
from mappings.cda.sections import documents, medications, narrative, transfer, vitals

TEMPLATE_ID = "1.2.250.1.213.1.1.1.23"
TITLE = "Fiche de liaison d'urgence – transfert de l'EHPAD vers le service des urgences"
SERVICE_EVENT = ("28651-8", "Transfert du patient au service des urgences")
FORMAT_CODE = "urn:asip:ci-sis:fludt:2017"
CONSCIOUSNESS = tuple(transfer.CONSCIOUSNESS)


class FludtError(ValueError):
    """The transfer cannot be described by a FLUDT (a required fact is missing)."""


@dataclass(frozen=True)
class Transfer:
    """The facts of the transfer that the record does not hold (given by the professional who sends the usager).

    ``consciousness``: TA_ASIP ``DLU_002`` (conscient et éveillé), ``DLU_003`` (éveillable) or ``DLU_004`` (non
    éveillable). Times are FHIR dateTimes."""

    reason: str
    time: str
    consciousness: str
    destination: Resource | None = None
    destination_name: str | None = None
    last_meal: str | None = None
    last_intake: str | None = None
    comment: str | None = None

    def check(self) -> None:
        if not self.reason.strip():
            raise FludtError("the reason of the transfer is required")
        if self.consciousness not in CONSCIOUSNESS:
            raise FludtError(f"the state of consciousness must be one of {', '.join(CONSCIOUSNESS)}, "
                             f"found {self.consciousness!r}")


@dataclass(frozen=True)
class FludtRecord:
    patient: Resource
    transfer: Transfer
    observations: Sequence[Resource] = ()


def structured_body(record: FludtRecord, seed: str | None = None) -> etree._Element:
    """``component`` holding the FLUDT ``structuredBody`` (``seed``: the document id, see
    :func:`~mappings.cda.sections.narrative.identify_sections`)."""
    record.transfer.check()
    move = record.transfer
    component = element("component")
    body = sub(component, "structuredBody")
    key = f"{resource_key(record.patient)}/fludt/{move.time}"
    transfer.transfer_event(body, key, move.reason, move.time, move.destination, move.destination_name)
    vitals.vital_signs_section(body, key, record.observations)
    transfer.consciousness_and_pain(body, key, move.consciousness, move.time, record.observations)
    medications.last_treatment_intake(body, move.last_intake, key)
    transfer.last_meal(body, key, move.last_meal)
    vitals.prostheses(body, key, record.observations)
    if move.comment and move.comment.strip():
        documents.comment(body, move.comment)
    narrative.identify_sections(body, seed or key)
    return component


def build_fludt(document: Document, record: FludtRecord, *, physician: Physician | None = None,
                contacts: Sequence[Contact] = ()) -> etree._Element:
    """The FLUDT ``ClinicalDocument`` (header of ``document`` + the FLUDT parts, and its sections)."""
    check_header(document)
    body = structured_body(record, f"{document.id.root}/{document.id.extension or ''}")
    parts = volet_parts(TEMPLATE_ID, SERVICE_EVENT, physician, contacts, document.effective_time)
    root = build_header(document, parts)
    root.append(body)
    return root
