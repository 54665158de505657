"""The RNIV identity workflow as FHIR operations: ``Patient/{id}/$ins-lookup`` and ``Patient/{id}/$identity-validate``.

Both answer **200 with a Parameters** resource, whether the identity changed or not, so that a client always gets
the same shape: ``patient`` (the Patient as stored after the call), ``status`` (the RNIV status code:
provisional | recovered | validated | qualified), ``changed`` (boolean) and, for ``$ins-lookup``, ``insiAnswer``
(``00`` one identity, ``01`` none, ``02`` several) and ``message`` (why nothing changed). A refused call (missing
traits, doubtful / fictitious identity, unknown document type, carte Vitale route) is a 4xx OperationOutcome.

A change writes a new Patient version through :func:`~fhirserver.interactions.hooks.commit_write` (every
validator runs) and a Provenance (who, when, INSi answer code and date, or document type) in the same
transaction.

``$ins-lookup`` (Parameters in, all optional: ``method`` = ``traits`` (default) | ``carte-vitale``): searches the
INSi with the Patient's strict traits. On answer ``00`` whose traits agree with the local ones (names compared
accent- and case-insensitively, the others exactly; a trait missing locally is filled in), the INSi traits
replace the local ones, the INS identifier is recorded (``INS-NIR`` in the authority of the configured
environment -- ``.8`` in production, ``.10`` (test) otherwise -- use ``official``; an NIA in ``.9``, use
``temp``: FR Core has no test authority for an NIA), with ``dateInterrogationINSi`` and ``methodCollection``
= ``INSI``; the status becomes *récupérée* (*qualifiée* when it was *validée*). ``01``, ``02``, traits that
differ, or an INS different from the one on record change nothing.

``$identity-validate`` (Parameters in: ``documentType`` (code of ``fr-core-vs-mode-validation-identity``,
required), ``comment`` (string, optional)): records the check of a high-trust identity document:
*provisoire* -> *validée*, *récupérée* -> *qualifiée* (a validated or qualified identity keeps its status, with
the new check recorded). An unknown document type is a 400 listing the allowed codes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from fhirserver.errors import Invalid, Issue, Unprocessable
from fhirserver.identity import provenance
from fhirserver.identity.hooks import OPERATION_NOTE
from fhirserver.identity.ins import ins_identifier, is_ins_system
from fhirserver.identity.insi import InsiAnswer, InsiClient, build_insi_client, traits_agree
from fhirserver.identity.reliability import (
    CS_METHOD_COLLECTION,
    CS_VALIDATION_MODE,
    VALIDATION_MODES,
    Reliability,
    normalize,
    read_reliability,
)
from fhirserver.identity.status import (
    IdentityStatus,
    IdentityStatusError,
    after_document_check,
    after_insi_retrieval,
)
from fhirserver.identity.traits import TRAIT_LABELS, apply_traits, read_traits
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.hooks import WriteEvent, commit_write
from fhirserver.interactions.operations import Operation
from fhirserver.interactions.operations.params import inputs
from fhirserver.interactions.read import current
from fhirserver.storage.base import StoredResource
from fhirserver.storage.sql.repository import SqlSession

EXT_BASE = "https://dui.example.org/fhir/StructureDefinition"
#: Provenance extension: the INSi answer (sub-extensions code, date, operation)
EXT_INSI_ANSWER = f"{EXT_BASE}/insi-answer"
#: Provenance extension: the identity document checked (valueCoding of fr-core-cs-mode-validation-identity)
EXT_IDENTITY_DOCUMENT = f"{EXT_BASE}/identity-document"
_DEFINITIONS = "https://dui.example.org/fhir/OperationDefinition/"


def _params(req: FhirRequest) -> dict[str, Any]:
    """URL parameters and the Parameters body, name -> first value (value[x] or resource)."""
    out: dict[str, Any] = {}
    for name, value in inputs(req):
        out.setdefault(name, value)
    return out


def _reliability(patient: dict[str, Any]) -> Reliability:
    try:
        rel = read_reliability(patient)
    except IdentityStatusError as exc:
        raise Unprocessable(f"the identity status of Patient/{patient.get('id')} cannot be read: {exc}") from exc
    return rel or Reliability(IdentityStatus.PROVISIONAL)


def _refuse_flagged(rel: Reliability, what: str) -> None:
    flags = set()
    for sub in rel.comments:
        concept = sub.get("valueCodeableConcept") or {}
        codings = concept.get("coding") if isinstance(concept, dict) else None
        flags |= {c.get("code") for c in (codings or ([sub["valueCoding"]] if "valueCoding" in sub else []))}
    if rel.declared_code in ("DOUT", "FICT"):
        flags.add(rel.declared_code)
    bad = sorted(str(f) for f in flags & {"DOUT", "FICT"})
    if bad:
        raise Unprocessable(f"{what} is not allowed on an identity flagged {'/'.join(bad)} (doubtful / fictitious): "
                            "the RNIV forbids it [EXI SI 09]", [Issue(
                                f"{what} refused: identity flagged {'/'.join(bad)}", code="business-rule",
                                expression=("Patient.extension",))])


def _out(stored: dict[str, Any], status: IdentityStatus, changed: bool, **extra: Any) -> FhirResponse:
    params: list[dict[str, Any]] = [
        {"name": "patient", "resource": stored},
        {"name": "status", "valueCode": status.value},
        {"name": "changed", "valueBoolean": changed},
    ]
    for name, value in extra.items():
        if value is not None:
            params.append({"name": name, "valueCode" if name == "insiAnswer" else "valueString": value})
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": params})


def _write(req: FhirRequest, ctx: Context, session: SqlSession, existing: StoredResource, body: dict[str, Any],
           activity: str) -> StoredResource:
    event = WriteEvent(req, ctx, session, "Patient", existing.res_id, body, existing, "update",
                       notes={OPERATION_NOTE: activity})
    return commit_write(event)


def _client(ctx: Context) -> InsiClient:
    client = ctx.services.insi
    return client if client is not None else build_insi_client(ctx.settings)


def _ins_of(ctx: Context, identity: Any) -> dict[str, Any]:
    if identity.kind == "NIA":
        return ins_identifier(identity.matricule, "NIA", "production")
    production = ctx.settings.identity.ins_environment == "production"
    return ins_identifier(identity.matricule, "NIR", "production" if production else "test")


def ins_lookup(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    patient_id = req.segments[1]
    ctx.policy.check(req, "operation", "Patient")
    params = _params(req)
    method = params.get("method") or "traits"
    if method not in ("traits", "carte-vitale"):
        raise Invalid(f"unknown method {method!r}: expected traits or carte-vitale")
    existing = current(session, "Patient", patient_id, for_update=True)
    patient = dict(existing.content or {})
    rel = _reliability(patient)
    _refuse_flagged(rel, "an INSi call")
    client = _client(ctx)
    local = read_traits(patient)
    answer: InsiAnswer = client.read_vitale_card() if method == "carte-vitale" else client.search_by_traits(local)
    if answer.code != "00":
        return _out(patient, rel.status, False, insiAnswer=answer.code,
                    message=f"INSi answer {answer.code} ({answer.label}): {answer.message}; nothing recorded")
    identity = answer.identities[0]
    differ = traits_agree(local, identity.traits)
    if differ:
        names = ", ".join(TRAIT_LABELS[d] for d in differ)
        return _out(patient, rel.status, False, insiAnswer=answer.code,
                    message=f"INSi answer 00 but the INSi traits differ from the local ones ({names}): nothing "
                            "recorded; check the identity with the usager before any correction")
    ins = _ins_of(ctx, identity)
    others = [i for i in patient.get("identifier") or [] if isinstance(i, dict) and is_ins_system(i.get("system"))]
    if any(i.get("value") != ins["value"] for i in others):
        return _out(patient, rel.status, False, insiAnswer=answer.code,
                    message="INSi answer 00 but the INS returned differs from the INS on record: nothing recorded; "
                            "a possible identity collision to refer to the identitovigilance referent")
    body = apply_traits(patient, identity.traits, identity.birth_place_label)
    body["identifier"] = [ins] + [i for i in patient.get("identifier") or []
                                  if not (isinstance(i, dict) and is_ins_system(i.get("system")))]
    new_status = after_insi_retrieval(rel.status)
    new_rel = replace(rel, status=new_status, insi_date=answer.queried_on,
                      method_collection={"system": CS_METHOD_COLLECTION, "code": "INSI",
                                         "display": "Téléservice INSi"})
    body = normalize(body, new_rel, ctx.settings.identity.fr_core_version)
    stored = _write(req, ctx, session, existing, body, "ins-lookup")
    reason = (f"INSi récupération by traits: answer {answer.code} ({answer.label}) on {answer.queried_on}; "
              f"identity status '{rel.status.value}' -> '{new_status.value}'")
    provenance.record(session, [f"Patient/{stored.res_id}/_history/{stored.version_id}"], "ins-lookup",
                      principal=req.principal, reason=reason, extensions=[{"url": EXT_INSI_ANSWER, "extension": [
                          {"url": "code", "valueCode": answer.code},
                          {"url": "date", "valueDate": answer.queried_on},
                          {"url": "operation", "valueCode": answer.operation}]}])
    return _out(dict(stored.content or {}), new_status, True, insiAnswer=answer.code)


def _document(params: dict[str, Any]) -> str:
    raw = params.get("documentType")
    code = raw.get("code") if isinstance(raw, dict) else raw
    allowed = ", ".join(VALIDATION_MODES)
    if not code:
        raise Invalid(f"the documentType parameter is required (fr-core-vs-mode-validation-identity: {allowed})",
                      [Issue(f"documentType is missing; allowed codes: {allowed}", code="required",
                             expression=("Parameters.parameter",))])
    if code not in VALIDATION_MODES:
        raise Invalid(f"unknown documentType {code!r}: allowed codes (fr-core-vs-mode-validation-identity) are "
                      f"{allowed}", [Issue(f"documentType {code!r} is not in fr-core-vs-mode-validation-identity; "
                                           f"allowed: {allowed}", code="code-invalid",
                                           expression=("Parameters.parameter",))])
    return str(code)


def identity_validate(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    patient_id = req.segments[1]
    ctx.policy.check(req, "operation", "Patient")
    params = _params(req)
    code = _document(params)
    comment = params.get("comment")
    existing = current(session, "Patient", patient_id, for_update=True)
    patient = dict(existing.content or {})
    rel = _reliability(patient)
    _refuse_flagged(rel, "validating the identity")
    new_status = after_document_check(rel.status)
    mode = {"system": CS_VALIDATION_MODE, "code": code, "display": VALIDATION_MODES[code]}
    today = date.today().isoformat()
    body = normalize(patient, replace(rel, status=new_status, validation_mode=mode, validation_date=today),
                     ctx.settings.identity.fr_core_version)
    stored = _write(req, ctx, session, existing, body, "identity-validate")
    reason = (f"identity document checked: {code} ({VALIDATION_MODES[code]}) on {today}; identity status "
              f"'{rel.status.value}' -> '{new_status.value}'" + (f"; {comment}" if comment else ""))
    provenance.record(session, [f"Patient/{stored.res_id}/_history/{stored.version_id}"], "identity-validate",
                      principal=req.principal, reason=reason,
                      extensions=[{"url": EXT_IDENTITY_DOCUMENT, "valueCoding": mode}])
    return _out(dict(stored.content or {}), new_status, True)


OPERATIONS: list[Operation] = [
    Operation("$ins-lookup", ins_lookup, frozenset({"instance"}), frozenset({"Patient"}),
              definition=_DEFINITIONS + "Patient-ins-lookup"),
    Operation("$identity-validate", identity_validate, frozenset({"instance"}), frozenset({"Patient"}),
              definition=_DEFINITIONS + "Patient-identity-validate"),
]
