"""Read from the database everything the CI-SIS header of a document needs, with precise refusals.

The CDA header (ANS CI-SIS "Structuration minimale", french-interop.md §4) draws on several resources: the
subject Patient (qualified INS and traits), the authors (PractitionerRole -> Practitioner + Organization, IDNPS),
the custodian (Organization, IDNST), the encounter and its facility, the period, the confidentiality and the
replaced document. This module reads them through a :class:`~fhirserver.storage.sql.repository.SqlSession` and
returns the typed model of :mod:`mappings.cda.model`; anything missing is an :class:`~fhirserver.errors.
Unprocessable` (422) whose issue names the FHIR element.

Reusable parts (DLU, outbox): :func:`resolve`, :func:`patient_part`, :func:`professional_part`,
:func:`organization_part`, :func:`encounter_part`, :func:`document_oid`. The two sources:

* :func:`n1_source` — a DocumentReference and its attachment (inline ``data`` or ``url`` ``Binary/x``);
* :func:`care_plan_source` — a CarePlan projet personnalisé (header of the PPA N1, LOINC 80788-3).

The INS leaves the server only for a qualified identity (:func:`fhirserver.identity.sharing.require_qualified`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fhirserver.errors import Issue, NotFound, Unprocessable
from fhirserver.identity import sharing
from fhirserver.identity.ins import ins_system_info
from fhirserver.search.parse import SearchParser
from fhirserver.storage.sql.repository import SqlSession
from mappings.cda import model
from mappings.cda.documents.projet_personnalise import PPA_CODE
from mappings.cda.model import Code, Identifier, ModelError
from mappings.terminology import cisis

__all__ = ["CarePlanSource", "N1Source", "care_plan_source", "document_oid", "encounter_part", "n1_source",
           "organization_part", "patient_part", "ppa_uuid", "professional_part", "refuse", "resolve"]

Json = dict[str, Any]
#: namespace of the name-based UUIDs of generated documents (ids, setIds): stable for the same resource version
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://dui.example.org/cda-document")
_MAX_REPLACEMENTS = 50
_MAX_ROLES = 50


def refuse(message: str, element: str, code: str = "required") -> Unprocessable:
    """The 422 of a missing or unusable element."""
    return Unprocessable(message, [Issue(message, code=code, expression=(element,))])


def _model_error(exc: ModelError) -> Unprocessable:
    return refuse(str(exc), exc.element)


def resolve(session: SqlSession, reference: Any, element: str, types: tuple[str, ...]) -> Json:
    """The current resource a Reference (``{"reference": "Type/id"}``) points to; 422 naming ``element`` when
    it is absent, of another type, or points to nothing."""
    ref = reference.get("reference") if isinstance(reference, Mapping) else None
    if not isinstance(ref, str) or not ref:
        raise refuse(f"{element} is required (a reference to {' or '.join(types)})", element)
    parts = ref.split("/")
    if len(parts) < 2 or parts[-2] not in types:
        raise refuse(f"{element} must refer to {' or '.join(types)}, found {ref!r}", element, "invalid")
    stored = session.read(parts[-2], parts[-1])
    if stored is None or stored.deleted or stored.content is None:
        raise refuse(f"{element} refers to {parts[-2]}/{parts[-1]}, which does not exist", element, "not-found")
    return stored.content


def document_oid(value: str) -> str:
    """A CDA ``id/@root`` (an OID) from an identifier value: ``urn:oid:X`` -> X, ``urn:uuid:U`` and bare UUIDs
    -> ``2.25.<the UUID as an integer>`` (ISO/IEC 9834-8), any other text -> a name-based UUID of it."""
    if value.startswith("urn:oid:"):
        return value.removeprefix("urn:oid:")
    try:
        return f"2.25.{uuid.UUID(value.removeprefix('urn:uuid:')).int}"
    except ValueError:
        return f"2.25.{uuid.uuid5(_NAMESPACE, value).int}"


def patient_part(session: SqlSession, reference: Any, element: str, purpose: str) -> tuple[Json, model.Patient]:
    """The subject Patient and its recordTarget: refused unless the identity is qualified and carries its INS."""
    patient = resolve(session, reference, element, ("Patient",))
    sharing.require_qualified(patient, purpose)
    ins = next((i for i in patient.get("identifier") or []
                if isinstance(i, Mapping) and ins_system_info(i.get("system")) and isinstance(i.get("value"), str)),
               None)
    if ins is None:
        raise refuse(f"Patient/{patient.get('id')} is qualified but carries no INS identifier", "Patient.identifier")
    info = ins_system_info(ins["system"])
    assert info is not None
    try:
        return patient, model.patient_from_fhir(patient, Identifier(info.oid, ins["value"]))
    except ModelError as exc:
        raise _model_error(exc) from exc


def organization_part(session: SqlSession, reference: Any, element: str,
                      industry_class: Code | None = None) -> tuple[Json, model.Organization]:
    """An Organization and its model (IDNST required)."""
    org = resolve(session, reference, element, ("Organization",))
    try:
        return org, model.organization_from_fhir(org, industry_class, element)
    except ModelError as exc:
        raise _model_error(exc) from exc


def _role_of(session: SqlSession, practitioner_id: str, parser: SearchParser | None) -> Json | None:
    """The first active PractitionerRole of a Practitioner (in storage order): an indexed search with
    ``parser``, else a scan of the resources that refer to the Practitioner."""
    if parser is not None:
        query = parser.parse(("PractitionerRole",), [("practitioner", f"Practitioner/{practitioner_id}")])
        candidates = session.search_ids(query, _MAX_ROLES)
    else:
        candidates = session.referring_resources("Practitioner", practitioner_id)
    for stored in candidates:
        role = stored.content or {}
        ref = (role.get("practitioner") or {}).get("reference")
        if stored.res_type == "PractitionerRole" and ref == f"Practitioner/{practitioner_id}" \
                and role.get("active", True):
            return role
    return None


def professional_part(session: SqlSession, reference: Any, element: str, *,
                      parser: SearchParser | None = None) -> tuple[model.Professional, Json | None]:
    """A PractitionerRole (or a Practitioner, then its first active PractitionerRole, found with ``parser``'s
    indexed search when given) as a professional with its IDNPS, profession and organization; also returns the
    Organization resource (None when there is none)."""
    target = resolve(session, reference, element, ("PractitionerRole", "Practitioner"))
    if target["resourceType"] == "PractitionerRole":
        role: Json | None = target
        practitioner = resolve(session, target.get("practitioner"), f"PractitionerRole/{target.get('id')}"
                               ".practitioner", ("Practitioner",))
    else:
        practitioner, role = target, _role_of(session, str(target.get("id")), parser)
    org_json: Json | None = None
    organization = None
    if role is not None and role.get("organization"):
        org_json, organization = organization_part(session, role["organization"],
                                                   f"PractitionerRole/{role.get('id')}.organization")
    try:
        pro = model.professional_from_fhir(practitioner, role, organization,
                                           f"{element} (Practitioner/{practitioner.get('id')})")
    except ModelError as exc:
        raise refuse(str(exc), element) from exc
    return pro, org_json


def _facility_code(concept: Any, organization: Json | None) -> Code:
    code = model.code_from_fhir(concept) if concept else None
    if code is not None:
        return code
    category = None
    for concept_ in (organization or {}).get("type") or []:
        for coding in concept_.get("coding") or []:
            if str(coding.get("system", "")).endswith("TRE-R66-CategorieEtablissement"):
                category = coding.get("code")
    sa, display = cisis.FACILITY_BY_CATEGORY.get(str(category), cisis.FACILITY_DEFAULT)
    return Code(sa, cisis.R02_OID, display)


def encounter_part(session: SqlSession, reference: Any, element: str, *, facility_type: Any,
                   custodian: Json, custodian_model: model.Organization,
                   fallback_start: str | None) -> model.Encounter:
    """componentOf/encompassingEncounter: the Encounter's period and class (JDV_J142), the facility code
    (``facility_type``, else from the custodian's FINESS category); without an Encounter, the period is
    ``fallback_start``."""
    facility = _facility_code(facility_type, custodian)
    if not reference:
        return model.Encounter(fallback_start, facility, facility_id=custodian_model.id,
                               facility_name=custodian_model.name)
    encounter = resolve(session, reference, element, ("Encounter",))
    period = encounter.get("period") or {}
    klass = (encounter.get("class") or {}).get("code")
    j142 = cisis.ENCOUNTER_CLASS.get(str(klass))
    code = Code(j142, cisis.ACT_CODE_OID, cisis.ENCOUNTER_DISPLAY[j142]) if j142 else None
    return model.Encounter(period.get("start") or fallback_start, facility, period.get("end"), code,
                           custodian_model.id, custodian_model.name)


@dataclass(frozen=True)
class N1Source:
    """Everything an N1 document of a DocumentReference needs."""

    document: model.Document
    content: bytes
    media_type: str
    document_reference: Json
    patient: Json


def _attachment(session: SqlSession, doc_ref: Json) -> tuple[bytes, str]:
    contents = [c for c in doc_ref.get("content") or [] if isinstance(c, Mapping)]
    if not contents or not isinstance(contents[0].get("attachment"), Mapping):
        raise refuse("DocumentReference.content.attachment is required: the document has no attachment",
                     "DocumentReference.content[0].attachment")
    att = contents[0]["attachment"]
    element = "DocumentReference.content[0].attachment"
    media_type = att.get("contentType")
    if isinstance(att.get("data"), str):
        data = att["data"]
    elif isinstance(att.get("url"), str) and "Binary/" in att["url"]:
        binary = resolve(session, {"reference": "Binary/" + att["url"].rsplit("Binary/", 1)[1]}, f"{element}.url",
                         ("Binary",))
        data = binary.get("data")
        media_type = media_type or binary.get("contentType")
        if not isinstance(data, str):
            raise refuse(f"Binary/{binary.get('id')} has no data", f"{element}.url")
    else:
        raise refuse("the attachment has neither data nor a url to a Binary", f"{element}.data")
    if not isinstance(media_type, str):
        raise refuse("the attachment has no contentType", f"{element}.contentType")
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise refuse("the attachment data is not base64", f"{element}.data", "invalid") from exc
    expected = att.get("hash")
    if isinstance(expected, str) and base64.b64encode(hashlib.sha1(content).digest()).decode() != expected:
        raise refuse("the attachment hash (SHA-1) does not match its content", f"{element}.hash", "invalid")
    return content, media_type


def _ids(session: SqlSession, doc_ref: Json) -> tuple[Identifier, Identifier, int, Identifier | None]:
    """(id, setId, version, replaced id) of a DocumentReference's CDA: the id from masterIdentifier (else the
    resource version), the setId and version from the chain of ``relatesTo`` ``replaces``."""
    def own_id(ref: Json) -> Identifier:
        master = (ref.get("masterIdentifier") or {}).get("value")
        if isinstance(master, str) and master:
            return Identifier(document_oid(master))
        version = (ref.get("meta") or {}).get("versionId", "1")
        return Identifier(document_oid(f"DocumentReference/{ref.get('id')}/_history/{version}"))

    chain = [doc_ref]
    current = doc_ref
    while len(chain) <= _MAX_REPLACEMENTS:
        replaced = next((r.get("target") for r in current.get("relatesTo") or []
                         if isinstance(r, Mapping) and r.get("code") == "replaces"), None)
        if replaced is None:
            break
        current = resolve(session, replaced, f"DocumentReference/{current.get('id')}.relatesTo.target",
                          ("DocumentReference",))
        chain.append(current)
    first = chain[-1]
    set_id = Identifier(document_oid(f"set:{own_id(first).root}"))
    parent = own_id(chain[1]) if len(chain) > 1 else None
    return own_id(doc_ref), set_id, len(chain), parent


def n1_source(session: SqlSession, doc_ref_id: str, *, parser: SearchParser | None = None) -> N1Source:
    """Gather the N1 document of ``DocumentReference/doc_ref_id`` (see the module docstring; ``parser`` makes
    the look-up of a Practitioner author's PractitionerRole an indexed search)."""
    stored = session.read("DocumentReference", doc_ref_id)
    if stored is None or stored.deleted or stored.content is None:
        raise NotFound(f"DocumentReference/{doc_ref_id} does not exist")
    doc_ref = stored.content
    content, media_type = _attachment(session, doc_ref)
    patient, patient_model = patient_part(session, doc_ref.get("subject"), "DocumentReference.subject",
                                          "CDA document")
    date = doc_ref.get("date") or (doc_ref["content"][0]["attachment"].get("creation"))
    if not isinstance(date, str):
        raise refuse("DocumentReference.date is required (the document's effectiveTime)", "DocumentReference.date")
    authors_refs = doc_ref.get("author") or []
    if not authors_refs:
        raise refuse("DocumentReference.author is required (a PractitionerRole or Practitioner with an IDNPS)",
                     "DocumentReference.author")
    authors = tuple(model.Author(date, professional_part(session, ref, f"DocumentReference.author[{i}]",
                                                             parser=parser)[0])
                    for i, ref in enumerate(authors_refs))
    custodian, custodian_model = organization_part(session, doc_ref.get("custodian"), "DocumentReference.custodian")
    legal = (professional_part(session, doc_ref["authenticator"], "DocumentReference.authenticator",
                               parser=parser)[0]
             if doc_ref.get("authenticator") else authors[0].professional)
    ctx = doc_ref.get("context") or {}
    code = model.code_from_fhir(doc_ref.get("type"))
    if code is None:
        raise refuse("DocumentReference.type needs a LOINC (or other OID-identified) coding from JDV_J07",
                     "DocumentReference.type")
    practice = model.code_from_fhir(ctx.get("practiceSetting")) or Code(*cisis.ESSMS)
    period = ctx.get("period") or {}
    encounters = ctx.get("encounter") or []
    encounter = encounter_part(session, encounters[0] if encounters else None,
                               "DocumentReference.context.encounter[0]", facility_type=ctx.get("facilityType"),
                               custodian=custodian, custodian_model=custodian_model,
                               fallback_start=period.get("start") or date)
    doc_id, set_id, version, parent = _ids(session, doc_ref)
    att = doc_ref["content"][0]["attachment"]
    title = att.get("title") or doc_ref.get("description") or (doc_ref.get("type") or {}).get("text") \
        or code.display or code.code
    document = model.Document(
        id=doc_id, set_id=set_id, version=version, code=code, title=str(title), effective_time=date,
        confidentiality=model.confidentiality_from_fhir(doc_ref.get("securityLabel")), patient=patient_model,
        authors=authors, custodian=custodian_model, legal_authenticator=model.LegalAuthenticator(date, legal),
        service_event=model.ServiceEvent(period.get("start") or date, authors[0].professional, practice,
                                         period.get("end")),
        encounter=encounter, replaces=parent)
    return N1Source(document, content, media_type, doc_ref, patient)


@dataclass(frozen=True)
class CarePlanSource:
    """A CarePlan projet personnalisé, the resources its PDF shows, and the header of its N1 document."""

    care_plan: Json
    patient: Json
    document: model.Document
    goals: list[Json] = field(default_factory=list)
    #: "Type/id" -> display name of the people the plan cites (performers, author, contributors)
    names: dict[str, str] = field(default_factory=dict)
    author_reference: Json = field(default_factory=dict)
    custodian_reference: Json = field(default_factory=dict)


def _display_name(resource: Json) -> str:
    names = resource.get("name")
    if isinstance(names, str):
        return names
    for name in names or []:
        if isinstance(name, Mapping):
            given = " ".join(g for g in name.get("given") or [] if isinstance(g, str))
            return " ".join(p for p in (given, name.get("family")) if p)
    return str(resource.get("id"))


def _names(session: SqlSession, care_plan: Json) -> dict[str, str]:
    refs: list[Any] = [care_plan.get("author"), *(care_plan.get("contributor") or [])]
    for activity in care_plan.get("activity") or []:
        refs += (activity.get("detail") or {}).get("performer") or []
    out: dict[str, str] = {}
    for ref in refs:
        target = ref.get("reference") if isinstance(ref, Mapping) else None
        if not isinstance(target, str) or target in out or "/" not in target:
            continue
        res_type, res_id = target.split("/")[-2:]
        stored = session.read(res_type, res_id)
        content = stored.content if stored is not None and not stored.deleted else None
        if content and res_type == "PractitionerRole":
            practitioner = content.get("practitioner") or {}
            role = ((content.get("code") or [{}])[0] or {}).get("text")
            name = practitioner.get("display")
            if not name and isinstance(practitioner.get("reference"), str):
                p = session.read("Practitioner", practitioner["reference"].split("/")[-1])
                name = _display_name(p.content) if p is not None and p.content else None
            out[target] = ", ".join(x for x in (name or ref.get("display") or target, role) if x)
        elif content:
            out[target] = _display_name(content)
        elif ref.get("display"):
            out[target] = str(ref["display"])
    return out


def ppa_uuid(care_plan_id: str, version: int) -> uuid.UUID:
    """The UUID of the projet personnalisé document of a CarePlan version: the CDA id of
    ``CarePlan/{id}/$generate-cda`` and the masterIdentifier of the DocumentReference ``$produce-document``
    stores, so both give the same CDA document."""
    return uuid.uuid5(_NAMESPACE, f"CarePlan/{care_plan_id}/_history/{version}/ppa")


def care_plan_source(session: SqlSession, care_plan_id: str, *, effective_time: str | None = None,
                     parser: SearchParser | None = None) -> CarePlanSource:
    """Gather the projet personnalisé ``CarePlan/care_plan_id``: its Patient (qualified), Goals, the names
    it cites, and the header of its N1 (author = CarePlan.author, custodian = the author's organization or
    the Patient's managingOrganization). ``effective_time`` defaults to the CarePlan's ``created`` date."""
    stored = session.read("CarePlan", care_plan_id)
    if stored is None or stored.deleted or stored.content is None:
        raise NotFound(f"CarePlan/{care_plan_id} does not exist")
    care_plan = stored.content
    patient, patient_model = patient_part(session, care_plan.get("subject"), "CarePlan.subject",
                                          "projet personnalisé document")
    author, org_json = professional_part(session, care_plan.get("author"), "CarePlan.author", parser=parser)
    custodian_ref = ({"reference": f"Organization/{org_json['id']}"} if org_json else
                     patient.get("managingOrganization"))
    custodian, custodian_model = organization_part(session, custodian_ref, "CarePlan.author (its Organization) or "
                                                   "Patient.managingOrganization")
    date = effective_time or care_plan.get("created") or (care_plan.get("period") or {}).get("start")
    if not isinstance(date, str):
        raise refuse("CarePlan.created is required (the date of the projet personnalisé document)",
                     "CarePlan.created")
    goals = []
    for i, ref in enumerate(care_plan.get("goal") or []):
        goals.append(resolve(session, ref, f"CarePlan.goal[{i}]", ("Goal",)))
    period = care_plan.get("period") or {}
    version = (care_plan.get("meta") or {}).get("versionId", "1")
    document_uuid = ppa_uuid(care_plan_id, int(version))
    encounter = encounter_part(session, care_plan.get("encounter"), "CarePlan.encounter", facility_type=None,
                               custodian=custodian, custodian_model=custodian_model,
                               fallback_start=period.get("start") or date)
    document = model.Document(
        id=Identifier(document_oid(f"urn:uuid:{document_uuid}")),
        set_id=Identifier(document_oid(f"set:{document_oid(f'urn:uuid:{document_uuid}')}")),
        version=1, code=PPA_CODE, title=str(care_plan.get("title") or PPA_CODE.display), effective_time=date,
        confidentiality=Code("N", model.CONFIDENTIALITY_OID, cisis.CONFIDENTIALITY["N"]), patient=patient_model,
        authors=(model.Author(date, author),), custodian=custodian_model,
        legal_authenticator=model.LegalAuthenticator(date, author),
        service_event=model.ServiceEvent(period.get("start") or date, author, Code(*cisis.ESSMS), period.get("end")),
        encounter=encounter)
    return CarePlanSource(care_plan, patient, document, goals, _names(session, care_plan),
                          care_plan.get("author") or {}, custodian_ref or {})
