"""One usager's record as a ``tddui-bundle`` — the DSR's "portabilité des données" (``Patient/{id}/$tddui-export``).

The Bundle is what a TDDUI producer sends in flux 1 (see :mod:`fhirserver.tddui.rules`): ``type = transaction``,
every entry ``POST [base]/<Type>`` with a ``urn:uuid:`` ``fullUrl`` and every reference between entries written
with those ``urn:uuid``\\ s, so it can be posted as-is to another DUI (or back to this server).

What is carried, each entry claiming its TDDUI profile (``input/fsh/Profiles/TDDUIBundle.fsh`` slices):

* the usager: ``tddui-patient-ins`` with its INS when the identity is qualified
  (:func:`fhirserver.identity.sharing.may_share_ins`), otherwise ``tddui-patient`` without the INS
  (:func:`~fhirserver.identity.sharing.without_ins`); ``ins=true`` on a non-qualified identity is refused
  (:func:`~fhirserver.identity.sharing.require_qualified`); ``ins=false`` on a qualified identity is refused too
  (a qualified status without its INS breaks FR Core's invariant and the identity rules). A non-qualified
  identity whose record holds a NIR gets the NIR's birth order (``tddui-birth-order``, required without NIR);
* from the Patient compartment and the resources the carried ones refer to: Organizations with a
  structure national id (``tddui-organization``), Encounters séjour (séjour identifier,
  ``tddui-encounter-sejour``), CarePlans projet personnalisé (projet identifier,
  ``tddui-careplan-projet-personnalise``) and the Consents they cite as agreements (``tddui-consent-accord``),
  the usager's RelatedPersons (``tddui-related-person-contact``), Practitioners with an IDNPS
  (``tddui-practitioner``) and PractitionerRoles (``tddui-practitioner-role``);
* any other resource of the record that already claims a TDDUI profile (Goals, ServiceRequests besoin, Tasks,
  QuestionnaireResponses, Observations, DocumentReferences … imported from another DUI), with that profile.

Left out: every other resource (conditions, treatments, vital signs, care teams, locations, other consents …):
TDDUI has no slice for them. They are listed, by type and id, in the OperationOutcome of ``report=true``.
A reference from a carried resource to a resource left out keeps only its ``display`` / ``identifier`` /
``type`` (a logical reference); one with nothing left is dropped. Resources of another usager's record are
never read into the export (same rule as ``$everything``).

The export is validated before it is returned: every entry against the profile it claims, the Bundle against
``tddui-bundle``; any error-severity issue refuses the export (422 naming the entry), so what leaves the server
always validates — the OperationOutcome says which data to complete.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhirserver import tddui
from fhirserver.errors import Issue, TooCostly, Unprocessable, operation_outcome
from fhirserver.fhir.definitions import resource_types
from fhirserver.identity import sharing
from fhirserver.identity.ins import ins_system_info
from fhirserver.identity.keys import IdentifierError, check_nir
from fhirserver.interactions.context import Context, FhirRequest
from fhirserver.interactions.hooks import validation_issues
from fhirserver.interactions.operations.everything import other_patients_data
from fhirserver.interactions.read import current
from fhirserver.interactions.search import build_query
from fhirserver.storage.base import StoredResource
from fhirserver.storage.sql.repository import SqlSession

#: entry order of the export: referenced resources first (as in the IG examples)
TYPE_ORDER = ("Organization", "Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Encounter",
              "Consent", "ServiceRequest", "Goal", "CarePlan", "Task", "QuestionnaireResponse", "Observation",
              "DocumentReference", "Schedule", "Slot")
#: the largest record exported in one Bundle
MAX_RESOURCES = 5000
#: how many hops of references are followed from the record (patient -> séjour -> structure -> ...)
MAX_DEPTH = 4
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://interop.esante.gouv.fr/ig/fhir/tddui/export")


def _has_identifier(resource: dict[str, Any], system: str) -> bool:
    return any(isinstance(i, dict) and i.get("system") == system and i.get("value")
               for i in resource.get("identifier") or [])


def _claimed_tddui(resource: dict[str, Any]) -> str | None:
    for url in (resource.get("meta") or {}).get("profile") or []:
        if tddui.is_tddui_profile(url) and url.split("|", 1)[0] not in (tddui.PATIENT, tddui.PATIENT_INS):
            return str(url).split("|", 1)[0]
    return None


#: resource type -> how a resource of the record maps to a TDDUI profile (None: left out)
_BY_SHAPE: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "Organization": lambda r: tddui.ORGANIZATION if _has_identifier(r, tddui.STRUCTURE_IDNAT_SYSTEM) else None,
    "Practitioner": lambda r: tddui.PRACTITIONER if _has_identifier(r, tddui.PS_IDNAT_SYSTEM) else None,
    "PractitionerRole": lambda r: tddui.PRACTITIONER_ROLE,
    "RelatedPerson": lambda r: tddui.RELATED_PERSON_CONTACT,
    "Encounter": lambda r: tddui.ENCOUNTER_SEJOUR if _has_identifier(r, tddui.SEJOUR_SYSTEM) else None,
    "CarePlan": lambda r: (tddui.CAREPLAN_PROJET_PERSONNALISE
                           if _has_identifier(r, tddui.PROJET_PERSONNALISE_SYSTEM) else None),
}


@dataclass
class Export:
    """The result: the Bundle, and what was left out (``Type/id`` -> reason)."""

    bundle: dict[str, Any]
    omitted: dict[str, str] = field(default_factory=dict)

    def outcome(self) -> dict[str, Any]:
        issues = [Issue(f"{key} is not exported: {reason}", code="informational", severity="information",
                        expression=(key,)) for key, reason in sorted(self.omitted.items())]
        count = len(self.bundle.get("entry", []))
        issues.insert(0, Issue(f"{count} resources exported as a tddui-bundle, {len(self.omitted)} left out",
                               code="informational", severity="information"))
        return operation_outcome(issues)


def _key(stored: StoredResource) -> str:
    return f"{stored.res_type}/{stored.res_id}"


def _target(reference: str, base_url: str) -> str | None:
    """``Type/id`` of a literal reference to this server (relative, absolute on our base, versioned)."""
    if base_url and reference.startswith(base_url.rstrip("/") + "/"):
        reference = reference[len(base_url.rstrip("/")) + 1:]
    if reference.startswith(("#", "urn:", "http:", "https:")) or "?" in reference:
        return None
    parts = reference.split("/")
    versioned = len(parts) == 4 and parts[2] == "_history"
    if (len(parts) == 2 or versioned) and parts[0] in resource_types() and parts[1]:
        return f"{parts[0]}/{parts[1]}"
    return None


def _references(node: Any, base_url: str, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                target = _target(value, base_url)
                if target:
                    out.add(target)
            else:
                _references(value, base_url, out)
    elif isinstance(node, list):
        for value in node:
            _references(value, base_url, out)
    return out


_DROP = object()


def _rewrite(node: Any, urls: dict[str, str], base_url: str, in_list: bool = False) -> Any:
    """References to carried resources -> their urn:uuid; to anything else -> a logical reference (display,
    identifier), or dropped when nothing is left. A repeating backbone element that loses a reference
    (``Encounter.location`` to a Location TDDUI does not carry) is dropped whole."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            target = _target(node["reference"], base_url)
            if target in urls:
                return {**{k: v for k, v in node.items() if k != "reference"}, "reference": urls[target]}
            if target is not None or node["reference"].startswith(("http:", "https:")):
                kept = {k: v for k, v in node.items() if k in ("display", "identifier", "type", "extension", "id")}
                return kept if set(kept) - {"type", "id"} else _DROP
        out = {}
        for key, value in node.items():
            new = _rewrite(value, urls, base_url)
            if new is not _DROP:
                out[key] = new
            elif in_list and isinstance(value, dict) and "reference" in value:
                return _DROP
        return out if out or not node else _DROP
    if isinstance(node, list):
        items = [_rewrite(v, urls, base_url, in_list=True) for v in node]
        kept_items = [v for v in items if v is not _DROP]
        return kept_items if kept_items or not node else _DROP
    return node


class _Builder:
    def __init__(self, req: FhirRequest, ctx: Context, session: SqlSession, patient_id: str) -> None:
        self.req, self.ctx, self.session, self.patient_id = req, ctx, session, patient_id
        self.base_url = req.base_url
        self.loaded: dict[str, StoredResource] = {}
        self.profiles: dict[str, str] = {}
        self.omitted: dict[str, str] = {}
        self.absent: set[str] = set()  # referenced but unknown, deleted or not visible

    def compartment(self) -> list[StoredResource]:
        query = build_query(self.req, self.ctx, self.session, ("Resource",), [])
        query.compartment = ("Patient", self.patient_id)
        found = self.session.search_ids(query, limit=MAX_RESOURCES + 1)
        if len(found) > MAX_RESOURCES:
            raise TooCostly(f"the record of Patient/{self.patient_id} holds more than {MAX_RESOURCES} resources: "
                            "too large for one TDDUI bundle")
        return [s for s in found if s.content and self.ctx.policy.can_see(self.req, s.content)]

    def profile_of(self, stored: StoredResource, agreements: set[str]) -> str | None:
        content = stored.content or {}
        claimed = _claimed_tddui(content)
        if claimed:
            return claimed
        if stored.res_type == "Consent":
            return tddui.CONSENT_ACCORD if _key(stored) in agreements else None
        shape = _BY_SHAPE.get(stored.res_type)
        return shape(content) if shape else None

    def collect(self, patient: StoredResource) -> None:
        """Decide the profile of every resource of the record, then follow the references of the carried ones
        (never into another usager's record) for :data:`MAX_DEPTH` hops."""
        record = [s for s in self.compartment() if _key(s) != _key(patient)]
        self.loaded = {_key(s): s for s in [patient, *record]}
        agreements: set[str] = set()  # the Consents a projet personnalisé cites as agreements
        for stored in record:
            if self.profile_of(stored, set()) == tddui.CAREPLAN_PROJET_PERSONNALISE:
                _references((stored.content or {}).get("supportingInfo"), self.base_url, agreements)
        candidates, carried = record, [patient]
        for _ in range(MAX_DEPTH + 1):
            for stored in candidates:
                profile = self.profile_of(stored, agreements)
                if profile:
                    self.profiles[_key(stored)] = profile
                    carried.append(stored)
                else:
                    self.omitted[_key(stored)] = f"TDDUI carries no {stored.res_type} of this kind"
            wanted: set[str] = set()
            for stored in carried:
                _references(stored.content, self.base_url, wanted)
            missing = {k for k in wanted if k not in self.loaded and k not in self.absent}
            if not missing:
                return
            pairs = {(k.split("/", 1)[0], k.split("/", 1)[1]) for k in missing}
            fetched = [s for s in self.session.read_many(pairs)
                       if s.content and self.ctx.policy.can_see(self.req, s.content)]
            foreign = other_patients_data(self.session, self.patient_id, fetched)
            self.loaded.update({_key(s): s for s in fetched})
            for stored in fetched:
                if stored.rid in foreign:
                    self.omitted[_key(stored)] = "it belongs to another usager's record"
            self.absent |= missing - {_key(s) for s in fetched}
            candidates, carried = [s for s in fetched if s.rid not in foreign], []

    def patient_body(self, patient: dict[str, Any], ins: bool | None) -> tuple[dict[str, Any], str]:
        if ins is True:
            sharing.require_qualified(patient, "TDDUI export")
        if sharing.may_share_ins(patient):
            if ins is False:
                message = (f"Patient/{self.patient_id} has a qualified identity: it is exported with its INS "
                           "(FR Core: a qualified status requires the INS identifier), ins=false cannot apply")
                raise Unprocessable(message, [Issue(message, code="business-rule", expression=("ins",))])
            return dict(patient), tddui.PATIENT_INS
        return with_birth_order(sharing.without_ins(patient), patient), tddui.PATIENT


def _birth_order_from_nir(patient: dict[str, Any]) -> int | None:
    for identifier in patient.get("identifier") or []:
        info = ins_system_info(identifier.get("system")) if isinstance(identifier, dict) else None
        if info is None or info.kind != "NIR":
            continue
        try:
            order = int(check_nir(str(identifier.get("value") or "")).order)
        except (IdentifierError, ValueError):
            continue
        if order > 0:
            return order
    return None


def with_birth_order(exported: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """``tddui-patient`` requires the civil-status birth order (``birthDate.extension[tddui-birth-order]``) since
    no NIR is transmitted; when the record has none but holds a NIR, it is the NIR's order digits (characters
    11-13, "il compose les 3 derniers chiffres du NIR" — ``TDDUIPatientMultipleBirthExtension.fsh``)."""
    element = exported.get("_birthDate") or {}
    if "birthDate" not in exported or any(isinstance(e, dict) and e.get("url") == tddui.BIRTH_ORDER
                                          for e in element.get("extension") or []):
        return exported
    order = _birth_order_from_nir(stored)
    if order is None:
        return exported
    extension = [*(element.get("extension") or []), {"url": tddui.BIRTH_ORDER, "valuePositiveInt": order}]
    return {**exported, "_birthDate": {**element, "extension": extension}}


def _entry_body(content: dict[str, Any], profile: str) -> dict[str, Any]:
    body = {k: v for k, v in content.items() if k not in ("id", "meta", "text")}
    meta = {k: v for k, v in (content.get("meta") or {}).items() if k in ("security", "tag")}
    meta["profile"] = [profile]
    return {"resourceType": content["resourceType"], "meta": meta, **body}


def _sort_key(item: tuple[str, str]) -> tuple[int, str]:
    key = item[0]
    rt = key.split("/")[0]
    rank = TYPE_ORDER.index(rt) if rt in TYPE_ORDER else len(TYPE_ORDER)
    return rank, key


def build(req: FhirRequest, ctx: Context, session: SqlSession, patient_id: str, *,
          ins: bool | None = None, validate: bool = True) -> Export:
    """Build (and validate) the TDDUI export of ``Patient/{patient_id}``."""
    stored_patient = current(session, "Patient", patient_id)
    builder = _Builder(req, ctx, session, patient_id)
    patient_content, patient_profile = builder.patient_body(stored_patient.content or {}, ins)
    builder.collect(stored_patient)
    builder.profiles[_key(stored_patient)] = patient_profile
    carried = sorted(builder.profiles.items(), key=_sort_key)
    urls = {key: f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{patient_id}:{key}')}" for key, _ in carried}
    entries = []
    for key, profile in carried:
        content = patient_content if key == _key(stored_patient) else builder.loaded[key].content or {}
        body = _rewrite(_entry_body(content, profile), urls, builder.base_url)
        entries.append({"fullUrl": urls[key], "resource": body,
                        "request": {"method": "POST", "url": body["resourceType"]}})
    bundle = {"resourceType": "Bundle", "meta": {"profile": [tddui.BUNDLE]}, "type": "transaction",
              "entry": entries}
    if validate:
        check(ctx, bundle, [key for key, _ in carried])
    return Export(bundle, builder.omitted)


def check(ctx: Context, bundle: dict[str, Any], sources: list[str] | None = None) -> None:
    """Refuse (422) an export whose Bundle or entries do not validate against the profiles they claim."""
    errors: list[Issue] = []
    for i, entry in enumerate(bundle["entry"]):
        source = f" ({sources[i]})" if sources else ""
        for issue in validation_issues(ctx, entry["resource"]):
            if issue.severity in ("error", "fatal"):
                errors.append(Issue(f"Bundle.entry[{i}]{source}: {issue.diagnostics}", issue.code, issue.severity,
                                    tuple(f"Bundle.entry[{i}].resource.{e.split('.', 1)[-1]}" if "." in e
                                          else f"Bundle.entry[{i}].resource" for e in issue.expression)))
    errors.extend(i for i in validation_issues(ctx, bundle) if i.severity in ("error", "fatal"))
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise Unprocessable(f"the TDDUI export does not validate: {errors[0].diagnostics}{more}", errors)
