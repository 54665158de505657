"""DLU-EHPAD — Document de liaison d'urgence, ANS model DLU-EHPAD-DLU 2022.01 (CI-SIS volet "Document de
liaison d'urgence", templateId 1.2.250.1.213.1.1.1.22 extension 2022.01, LOINC 74207-2).

https://esante.gouv.fr/volet-dlu (CI-SIS "DLU-EHPAD"), checked by ``CI-SIS_DLU-EHPAD-DLU_2022.01.sch`` of the ANS
test kit; structure as in its example ``DLU-EHPAD-DLU_2022.01.xml``.

The body has the 12 sections of the model, in its order. Every mandatory (1..1) one is always present — without
data it says so in its narrative and carries the entry the CI-SIS / IHE PCC models require (the 15 observations
and the BMR question with ``nullFlavor="UNK"``, a treatment entry without product, a disposition without
facility, the checklist with ``nullFlavor`` media); an optional (0..1) section is left out when the record has
nothing for it (IHE PCC wants at least one entry, and "none recorded" is not "none"):

=====================================================  =====  ==========================================
section                                                card.  from
=====================================================  =====  ==========================================
Dispositions – établissement de santé de préférence    1..1   ``preferred_facility`` (Organization)
Pathologies en cours                                    0..1   active ``conditions``
Antécédents médicaux                                    0..1   other ``conditions``
Allergies et hypersensibilités                          0..1   ``allergies``
Traitements                                             1..1   ``medications``
Soins palliatifs (plan de soins)                        1..1   ``procedures`` (SNOMED CT 103735009)
Directives anticipées                                   1..1   ``advance_directives`` (Consent / DocumentReference)
Observations (état psychique, handicaps, risques…)      1..1   ``observations`` (+ ``conditions``)
Résultats d'examens (BMR / BHRe, GIR)                   1..1   ``observations``
Vaccinations                                            0..1   ``immunizations``
Commentaire                                             0..1   ``comment``
Documents ajoutés (checklist)                           1..1   ``attachments`` (DocumentReference)
=====================================================  =====  ==========================================

The header (usager, author, custodian, médecin traitant, personnes à prévenir / de confiance, serviceEvent
34117-2, encounter IMP, facility SA17 …) is built by :mod:`mappings.cda.header`; this module only knows what is
specific to the DLU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree

from mappings.cda.documents.liaison import Contact, Physician, attending_physician, informant
from mappings.cda.entries import codes
from mappings.cda.entries.base import Resource, element, resource_key, sub
from mappings.cda.entries.problems import is_active
from mappings.cda.header import build_header
from mappings.cda.model import Code, Document, Identifier, VoletParts
from mappings.cda.sections import care, documents, medications, narrative, observations, problems
from mappings.terminology import cisis

TEMPLATE_ID = "1.2.250.1.213.1.1.1.22"
TEMPLATE_EXTENSION = "2022.01"
DOCUMENT_CODE = ("74207-2", "Dossier de liaison d'urgence")
TITLE = "Document de liaison d'urgence"
SERVICE_EVENT = ("34117-2", "Historique et clinique")
FORMAT_CODE = "urn:asip:ci-sis:dlu:2015"
#: the volet's document type (JDV_J07), shared by the DLU, the FLUDT and the FLUDR
DOCUMENT_TYPE = Code(DOCUMENT_CODE[0], codes.LOINC, DOCUMENT_CODE[1], "LOINC")
#: encompassingEncounter code of the DLU-EHPAD volets: the usager lives in the EHPAD (IMP)
ENCOUNTER_CODE = Code("IMP", cisis.ACT_CODE_OID, cisis.ENCOUNTER_DISPLAY["IMP"], "HL7:ActEncounterCode")


class DluError(ValueError):
    """The header given cannot be the one of a DLU-EHPAD document."""


def volet_parts(template_id: str, service_event: tuple[str, str], physician: Physician | None,
                contacts: Sequence[Contact], time: str) -> VoletParts:
    """What the DLU-EHPAD volets add to the CI-SIS header: their templateId, the médecin traitant, the people to
    call, the serviceEvent code and the encounter code IMP."""
    return VoletParts(
        template_ids=(Identifier(template_id, TEMPLATE_EXTENSION),),
        participants=(attending_physician(physician, time),),
        informants=tuple(informant(c) for c in contacts),
        service_event_code=Code(service_event[0], codes.LOINC, service_event[1], "LOINC"),
        encounter_code=ENCOUNTER_CODE)


def check_header(document: Document) -> None:
    if (document.code.code, document.code.system) != (DOCUMENT_CODE[0], codes.LOINC):
        raise DluError(f"a DLU-EHPAD document has the type LOINC {DOCUMENT_CODE[0]}, not {document.code.code}")
    if not document.patient.birth_date:
        raise DluError("the usager's birth date is required in a DLU-EHPAD document (Patient.birthDate)")


@dataclass(frozen=True)
class DluRecord:
    """What a DLU says about a usager, as FHIR resources (dicts) read from the record."""

    patient: Resource
    conditions: Sequence[Resource] = ()
    allergies: Sequence[Resource] = ()
    medications: Sequence[Resource] = ()
    procedures: Sequence[Resource] = ()
    advance_directives: Sequence[Resource] = ()
    observations: Sequence[Resource] = ()
    immunizations: Sequence[Resource] = ()
    preferred_facility: Resource | None = None
    attachments: Sequence[Resource] = field(default_factory=tuple)
    comment: str | None = None


def structured_body(record: DluRecord, seed: str | None = None) -> etree._Element:
    """``component`` holding the DLU ``structuredBody`` (12 sections); ``seed`` (the document id) makes the
    section ids unique to the document."""
    component = element("component")
    body = sub(component, "structuredBody")
    key = resource_key(record.patient)
    documents.preferred_facility(body, record.preferred_facility, key)
    # optional sections (0..1) are left out when the record has nothing for them: IHE PCC wants at least one
    # entry in each, and "none recorded" is not "none" (no entry can say "no known allergy" on its behalf)
    if any(is_active(c) for c in record.conditions):
        problems.active_problems(body, record.conditions)
    if any(not is_active(c) for c in record.conditions):
        problems.medical_history(body, record.conditions)
    if record.allergies:
        problems.allergies(body, record.allergies)
    medications.treatments(body, record.medications, key)
    care.palliative_care(body, record.procedures, key)
    care.advance_directives(body, record.advance_directives, key)
    observations.patient_state(body, record.observations, record.conditions, key)
    observations.results(body, record.observations, key)
    if record.immunizations:
        medications.immunizations(body, record.immunizations)
    if record.comment and record.comment.strip():
        documents.comment(body, record.comment)
    documents.added_documents(body, record.attachments, key)
    narrative.identify_sections(body, seed or key)
    return component


def build_dlu(document: Document, record: DluRecord, *, physician: Physician | None = None,
              contacts: Sequence[Contact] = ()) -> etree._Element:
    """The DLU ``ClinicalDocument``: the CI-SIS header of ``document`` with the DLU parts, and the 12 sections.
    ``document.code`` must be LOINC 74207-2 (:data:`DOCUMENT_TYPE`) and the usager's birth date known."""
    check_header(document)
    parts = volet_parts(TEMPLATE_ID, SERVICE_EVENT, physician, contacts, document.effective_time)
    root = build_header(document, parts)
    root.append(structured_body(record, f"{document.id.root}/{document.id.extension or ''}"))
    return root
