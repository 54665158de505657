"""Read from the database what a DLU-EHPAD (DLU_2022.01) or a FLUDT says about a usager.

The mappings (:mod:`mappings.cda.documents.dlu_ehpad`, :mod:`mappings.cda.documents.fludt`) take FHIR resources;
this module finds them in the usager's record (the Patient compartment, filtered by the access policy) and builds
the CI-SIS header model with :mod:`fhirserver.documents.gather` (qualified INS, author with IDNPS, custodian
IDNST — each refusal a 422 naming the element):

* **author** — the ``author`` parameter (PractitionerRole or Practitioner), else the referent
  (``participant.individual``) of the usager's current stay (Encounter ``in-progress``);
* **custodian** — ``Patient.managingOrganization``, else the author's organisation;
* **encounter** — the current stay; the facility code comes from the custodian's FINESS category (SA17 for an
  EHPAD); the volet sets the encounter code IMP;
* **médecin traitant** — the first ``Patient.generalPractitioner`` that is a Practitioner or PractitionerRole;
* **personnes à prévenir / de confiance** — the usager's RelatedPersons coded ECON / NOK and the emergency
  ``Patient.contact``\\ s;
* **établissement de santé de préférence** — the Organization of the Patient extension
  :data:`PREFERRED_FACILITY_URL` (valueReference);
* **body** — active and past Conditions (not entered in error or refuted), current AllergyIntolerances, active
  MedicationStatements / MedicationRequests, Procedures (soins palliatifs), Consents and DocumentReferences
  (advance directives; annexed documents of the checklist), Observations (état psychique, handicaps, risques,
  BMR, GIR, vital signs, pains, prostheses), Immunizations.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fhirserver.documents import gather
from fhirserver.errors import Issue, TooCostly, Unprocessable
from fhirserver.storage.sql.repository import SqlSession
from mappings.cda import model
from mappings.cda.documents import dlu_ehpad, fludt
from mappings.cda.documents.liaison import Contact, Physician, contacts_from_fhir, physician_from_fhir
from mappings.cda.model import Code, Identifier, ModelError
from mappings.cda.sections.transfer import is_pain
from mappings.terminology import cisis

if TYPE_CHECKING:  # the operation passes its request and context; nothing of interactions is used at run time
    from fhirserver.interactions.context import Context, FhirRequest

__all__ = ["PREFERRED_FACILITY_URL", "DluSource", "Record", "dlu_source", "document_reference", "fludt_source",
           "read_record", "refuse_mapping"]

Json = dict[str, Any]
#: Patient extension naming the usager's preferred health facility (valueReference to an Organization)
PREFERRED_FACILITY_URL = "https://dui.example.org/fhir/StructureDefinition/preferred-health-facility"
#: the largest record read for one document
MAX_RESOURCES = 5000
#: how far back a pain counts as "récente" in a FLUDT
RECENT_PAIN = timedelta(days=7)
_UNUSABLE = ("entered-in-error",)
#: TRE_A06 FormatCodeComplementaire: the code system of the DLU / FLUDT formatCodes (JDV_J60)
_FORMAT_SYSTEM = "1.2.250.1.213.1.1.4.2.282"


@dataclass
class Record:
    """The usager's resources, by type."""

    patient: Json
    by_type: dict[str, list[Json]] = field(default_factory=dict)

    def of(self, resource_type: str) -> list[Json]:
        return self.by_type.get(resource_type, [])


def read_record(req: FhirRequest, ctx: Context, session: SqlSession, patient: Json) -> Record:
    """Every resource of the Patient compartment the caller may see (422 beyond :data:`MAX_RESOURCES`)."""
    query = ctx.parser.parse(("Resource",), [], req.base_url or None)
    ctx.policy.narrow(req, query)
    query.compartment = ("Patient", str(patient["id"]))
    found = session.search_ids(query, limit=MAX_RESOURCES + 1)
    if len(found) > MAX_RESOURCES:
        raise TooCostly(f"the record of Patient/{patient['id']} holds more than {MAX_RESOURCES} resources")
    record = Record(patient)
    for stored in found:
        if stored.content and stored.res_type != "Patient" and ctx.policy.can_see(req, stored.content):
            record.by_type.setdefault(stored.res_type, []).append(stored.content)
    return record


def _status_code(concept: Any) -> str | None:
    for coding in (concept or {}).get("coding") or [] if isinstance(concept, Mapping) else []:
        if isinstance(coding, Mapping) and coding.get("code"):
            return str(coding["code"])
    return None


def _conditions(record: Record) -> list[Json]:
    return [c for c in record.of("Condition")
            if _status_code(c.get("verificationStatus")) not in ("entered-in-error", "refuted")]


def _allergies(record: Record) -> list[Json]:
    return [a for a in record.of("AllergyIntolerance")
            if _status_code(a.get("verificationStatus")) not in ("entered-in-error", "refuted")
            and _status_code(a.get("clinicalStatus")) not in ("inactive", "resolved")]


def _medications(record: Record) -> list[Json]:
    statements = [m for m in record.of("MedicationStatement") if m.get("status") in ("active", "intended", None)]
    requests = [m for m in record.of("MedicationRequest") if m.get("status") == "active"
                and m.get("intent") in ("order", "plan", "original-order", None)]
    return statements + requests


def _usable(resources: Sequence[Json]) -> list[Json]:
    return [r for r in resources if r.get("status") not in _UNUSABLE]


def _current_stay(record: Record) -> Json | None:
    stays = [e for e in record.of("Encounter") if e.get("status") == "in-progress"]
    return max(stays, key=lambda e: str((e.get("period") or {}).get("start") or ""), default=None)


def _reference(value: Any) -> Json | None:
    if isinstance(value, Mapping) and isinstance(value.get("reference"), str):
        return {"reference": value["reference"]}
    if isinstance(value, str) and "/" in value:
        return {"reference": value}
    return None


def _author_reference(author: Any, stay: Json | None) -> tuple[Json, str]:
    ref = _reference(author)
    if ref is not None:
        return ref, "author"
    for participant in (stay or {}).get("participant") or []:
        individual = _reference((participant or {}).get("individual"))
        if individual and individual["reference"].split("/")[0] in ("PractitionerRole", "Practitioner"):
            return individual, f"Encounter/{(stay or {}).get('id')}.participant.individual"
    raise gather.refuse("the author of the document is required: give the 'author' parameter (a PractitionerRole "
                        "or Practitioner with an IDNPS), the usager's current stay names no referent", "author")


def _physician(session: SqlSession, patient: Json) -> Physician | None:
    for ref in patient.get("generalPractitioner") or []:
        target = _reference(ref)
        kind = target["reference"].split("/")[0] if target else ""
        if target is None or kind not in ("Practitioner", "PractitionerRole"):
            continue
        resource = gather.resolve(session, target, "Patient.generalPractitioner", ("Practitioner", "PractitionerRole"))
        role = None
        if kind == "PractitionerRole":
            role = resource
            resource = gather.resolve(session, resource.get("practitioner"),
                                      f"PractitionerRole/{role.get('id')}.practitioner", ("Practitioner",))
        try:
            return physician_from_fhir(resource, role)
        except ModelError as exc:
            raise gather.refuse(str(exc), "Patient.generalPractitioner") from exc
    return None


def _preferred_facility(session: SqlSession, patient: Json) -> Json | None:
    for ext in patient.get("extension") or []:
        if isinstance(ext, Mapping) and ext.get("url") == PREFERRED_FACILITY_URL:
            return gather.resolve(session, ext.get("valueReference"), "Patient.extension(preferred-health-facility)",
                                  ("Organization",))
    return None


@dataclass(frozen=True)
class DluSource:
    """The header model, the header parts and the record of one DLU / FLUDT, and the references a stored
    DocumentReference of it uses."""

    document: model.Document
    physician: Physician | None
    contacts: list[Contact]
    record: Record
    author_reference: Json = field(default_factory=dict)
    custodian_reference: Json = field(default_factory=dict)
    stay_reference: Json | None = None


def _header(req: FhirRequest, ctx: Context, session: SqlSession, patient_id: str, *, author: Any,
            effective_time: str, title: str, purpose: str, service_start: str) -> DluSource:
    patient, patient_model = gather.patient_part(session, {"reference": f"Patient/{patient_id}"}, "Patient",
                                                 purpose)
    if not patient.get("birthDate"):
        raise gather.refuse("Patient.birthDate is required in a DLU-EHPAD document", "Patient.birthDate")
    record = read_record(req, ctx, session, patient)
    stay = _current_stay(record)
    author_ref, element = _author_reference(author, stay)
    professional, org_json = gather.professional_part(session, author_ref, element)
    custodian_ref = patient.get("managingOrganization") or (
        {"reference": f"Organization/{org_json['id']}"} if org_json else None)
    custodian, custodian_model = gather.organization_part(session, custodian_ref, "Patient.managingOrganization")
    encounter = gather.encounter_part(session, {"reference": f"Encounter/{stay['id']}"} if stay else None,
                                      "Encounter", facility_type=None, custodian=custodian,
                                      custodian_model=custodian_model, fallback_start=effective_time)
    key = f"Patient/{patient_id}/{purpose}/{effective_time}"
    document = model.Document(
        id=Identifier(gather.document_oid(f"{key}/document")), set_id=Identifier(gather.document_oid(f"{key}/set")),
        version=1, code=dlu_ehpad.DOCUMENT_TYPE, title=title, effective_time=effective_time,
        confidentiality=Code("N", model.CONFIDENTIALITY_OID, cisis.CONFIDENTIALITY["N"]), patient=patient_model,
        authors=(model.Author(effective_time, professional),), custodian=custodian_model,
        legal_authenticator=model.LegalAuthenticator(effective_time, professional),
        service_event=model.ServiceEvent(service_start, professional, Code(*cisis.ESSMS)), encounter=encounter)
    return DluSource(document, _physician(session, patient), contacts_from_fhir(record.of("RelatedPerson"), patient),
                     record, author_ref, dict(custodian_ref or {}),
                     {"reference": f"Encounter/{stay['id']}"} if stay else None)


def dlu_source(req: FhirRequest, ctx: Context, session: SqlSession, patient_id: str, *, author: Any,
               effective_time: str, comment: str | None) -> tuple[DluSource, dlu_ehpad.DluRecord]:
    """The header and body data of the DLU of ``Patient/patient_id``."""
    source = _header(req, ctx, session, patient_id, author=author, effective_time=effective_time,
                     title=dlu_ehpad.TITLE, purpose="dlu", service_start=effective_time)
    record = source.record
    body = dlu_ehpad.DluRecord(
        patient=record.patient, conditions=_conditions(record), allergies=_allergies(record),
        medications=_medications(record), procedures=_usable(record.of("Procedure")),
        advance_directives=record.of("Consent") + record.of("DocumentReference"),
        observations=_usable(record.of("Observation")), immunizations=_usable(record.of("Immunization")),
        preferred_facility=_preferred_facility(session, record.patient),
        attachments=record.of("DocumentReference"), comment=comment)
    return source, body


def _instant(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _recent(observation: Json, since: datetime | None) -> bool:
    if since is None:
        return True
    when = _instant(str(observation.get("effectiveDateTime") or (observation.get("effectivePeriod") or {})
                        .get("start") or ""))
    return when is not None and when >= since


def fludt_source(req: FhirRequest, ctx: Context, session: SqlSession, patient_id: str, *, author: Any,
                 effective_time: str, transfer: fludt.Transfer,
                 destination: Any = None) -> tuple[DluSource, fludt.FludtRecord]:
    """The header and body data of the FLUDT of ``Patient/patient_id`` (``destination``: a Reference to the
    receiving Organization, resolved here)."""
    source = _header(req, ctx, session, patient_id, author=author, effective_time=effective_time,
                     title=fludt.TITLE, purpose="fludt", service_start=transfer.time)
    if destination is not None:
        organization = gather.resolve(session, destination, "destination", ("Organization",))
        transfer = fludt.Transfer(transfer.reason, transfer.time, transfer.consciousness, organization,
                                  transfer.destination_name, transfer.last_meal, transfer.last_intake,
                                  transfer.comment)
    start = _instant(transfer.time)
    since = start - RECENT_PAIN if start else None
    observations = [o for o in _usable(source.record.of("Observation")) if not is_pain(o) or _recent(o, since)]
    return source, fludt.FludtRecord(source.record.patient, transfer, observations)


def document_reference(source: DluSource, data: bytes, *, format_code: str, res_id: str) -> Json:
    """The DocumentReference of a produced DLU / FLUDT: the CDA as its attachment (``application/hl7-v3+xml``,
    what ``$send-to-dmp`` sends as is), type LOINC 74207-2, the volet's formatCode (JDV_J60, TRE_A06), the
    facility (R02) and practice setting (ESSMS) of the header, masterIdentifier = the CDA id."""
    doc = source.document
    facility = doc.encounter.facility_code
    body: Json = {
        "resourceType": "DocumentReference", "id": res_id,
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{doc.id.root}"},
        "status": "current", "docStatus": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": doc.code.code, "display": doc.code.display}],
                 "text": doc.title},
        "subject": {"reference": f"Patient/{source.record.patient['id']}"},
        "date": doc.effective_time, "author": [source.author_reference], "custodian": source.custodian_reference,
        "description": doc.title,
        "content": [{"attachment": {
            "contentType": "application/hl7-v3+xml", "language": "fr-FR",
            "data": base64.b64encode(data).decode("ascii"), "size": len(data),
            "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"), "title": doc.title,
            "creation": doc.effective_time},
            "format": {"system": f"urn:oid:{_FORMAT_SYSTEM}", "code": format_code}}],
        "context": {
            "period": {"start": doc.service_event.low},
            "facilityType": {"coding": [{"system": f"urn:oid:{facility.system}", "code": facility.code,
                                         "display": facility.display}]},
            "practiceSetting": {"coding": [{"system": f"urn:oid:{cisis.ESSMS[1]}", "code": cisis.ESSMS[0],
                                            "display": cisis.ESSMS[2]}]}},
    }
    if source.stay_reference:
        body["context"]["encounter"] = [source.stay_reference]
    return body


def refuse_mapping(exc: ValueError, element: str) -> Unprocessable:
    """A mapping's refusal (DluError, FludtError) as a 422 naming ``element``."""
    return Unprocessable(str(exc), [Issue(str(exc), code="required", expression=(element,))])
