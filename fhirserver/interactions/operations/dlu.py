"""``POST Patient/{id}/$dlu`` — the Document de liaison d'urgence of a usager (ANS CI-SIS volet DLU-EHPAD 2022.01)
as a CDA R2 document, ``application/xml``.

Parameters (a ``Parameters`` body, or the query string):

* ``type`` (code): ``dlu`` (default) — the DLU-EHPAD-DLU, built from the record
  (:mod:`fhirserver.documents.dlu`); ``fludt`` — the transfer sheet EHPAD -> service des urgences;
* ``author`` (Reference or ``PractitionerRole/x`` text): the professional who writes the document (default: the
  referent of the current stay); ``date`` (dateTime): its date (default: now); ``comment`` (string);
* ``store`` (boolean): ``true`` stores the validated document as a DocumentReference (the CDA as its
  ``application/hl7-v3+xml`` attachment, type 74207-2, formatCode of the volet) and returns it (201; 200 when
  the same document — same usager, type and date — was already stored), ready for ``$send-to-dmp``;
* FLUDT only: ``reason`` (string, required: motif du transfert), ``consciousness`` (code, required:
  ``DLU_002`` / ``conscient`` — conscient et éveillé, ``DLU_003`` / ``eveillable``, ``DLU_004`` /
  ``non-eveillable``), ``transferTime`` (dateTime, default ``date``), ``destination`` (Reference to an
  Organization) or ``destinationName`` (string), ``lastMeal`` and ``lastIntake`` (dateTime: dernier repas,
  dernière prise du traitement habituel).

The document is validated by the ANS kit (``ctx.services.cda_validator``: XSD, structuration minimale, the
volet schematron) before it leaves: a failure is a 422 listing each failed assertion, and without a kit the
operation answers 503. Bad parameters are 400 naming the parameter; missing record data (identity not
qualified, author without IDNPS, no custodian, no birth date …) are 422 naming the FHIR element.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from fhirserver.documents import dlu as gather_dlu
from fhirserver.documents.validation import ensure_valid, require_validator
from fhirserver.errors import Invalid, Issue, NotFound
from fhirserver.interactions.common import write_response
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.hooks import WriteEvent, commit_write
from fhirserver.interactions.operations import Operation
from fhirserver.interactions.operations.params import flag, inputs, one
from fhirserver.storage.sql.repository import SqlSession
from fhirserver.validation.structural import validate_resource
from mappings.cda.documents import dlu_ehpad, fludt

__all__ = ["OPERATIONS", "dlu"]

DEFINITION = "https://dui.example.org/fhir/OperationDefinition/Patient-dlu"
XML = "application/xml; charset=utf-8"
TYPES = ("dlu", "fludt")
#: accepted spellings of the state of consciousness -> TA_ASIP code
CONSCIOUSNESS = {"DLU_002": "DLU_002", "conscient": "DLU_002", "eveille": "DLU_002",
                 "DLU_003": "DLU_003", "eveillable": "DLU_003",
                 "DLU_004": "DLU_004", "non-eveillable": "DLU_004"}
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


def _param(req: FhirRequest, name: str) -> Any:
    """A single-valued parameter from the query string or the ``Parameters`` body (None when absent)."""
    return one(inputs(req), name)


def _bad(name: str, message: str) -> Invalid:
    return Invalid(f"parameter {name!r}: {message}", [Issue(f"parameter {name!r}: {message}", expression=(name,))])


def _text(req: FhirRequest, name: str, *, required: bool = False) -> str | None:
    value = _param(req, name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _bad(name, "is required for a FLUDT")
        return None
    if not isinstance(value, str):
        raise _bad(name, "must be a string")
    return value.strip()


def _date_time(req: FhirRequest, name: str, default: str | None = None) -> str | None:
    value = _text(req, name)
    if value is None:
        return default
    if not _DATE_TIME.match(value):
        raise _bad(name, f"must be a dateTime with a time zone (2026-09-30T15:35:00+02:00), found {value!r}")
    return value


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _transfer(req: FhirRequest, date: str) -> fludt.Transfer:
    reason = _text(req, "reason", required=True)
    raw = _text(req, "consciousness", required=True)
    assert reason is not None and raw is not None
    consciousness = CONSCIOUSNESS.get(raw) or CONSCIOUSNESS.get(raw.lower())
    if consciousness is None:
        raise _bad("consciousness", f"must be one of {', '.join(CONSCIOUSNESS)}, found {raw!r}")
    time = _date_time(req, "transferTime", date)
    assert time is not None
    return fludt.Transfer(reason, time, consciousness, None, _text(req, "destinationName"),
                          _date_time(req, "lastMeal"), _date_time(req, "lastIntake"), _text(req, "comment"))


def _destination(req: FhirRequest) -> Any:
    value = _param(req, "destination")
    if value is None:
        return None
    if isinstance(value, str):
        value = {"reference": value}
    if not isinstance(value, Mapping) or not isinstance(value.get("reference"), str):
        raise _bad("destination", "must be a Reference to an Organization")
    return value


def _boolean(req: FhirRequest, name: str) -> bool:
    return bool(flag(inputs(req), name))


def _store(req: FhirRequest, ctx: Context, session: SqlSession, source: gather_dlu.DluSource, data: bytes,
           kind: str, format_code: str) -> FhirResponse:
    """Create the DocumentReference of the document (once per document id)."""
    patient_id = str(source.record.patient["id"])
    digest = uuid.uuid5(uuid.NAMESPACE_OID, source.document.id.root).hex
    res_id = f"{patient_id}-{kind}-{digest[:12]}"
    res_id = res_id if len(res_id) <= 64 else f"{kind}-{digest}"
    existing = session.read("DocumentReference", res_id, for_update=True)
    if existing is not None and not existing.deleted:
        return write_response(req, existing, 200)
    body = gather_dlu.document_reference(source, data, format_code=format_code, res_id=res_id)
    validate_resource(body, "DocumentReference")
    stored = commit_write(WriteEvent(req, ctx, session, "DocumentReference", res_id, body, existing, "create"))
    return write_response(req, stored, 201)


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def dlu(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    patient_id = req.segments[1]
    ctx.policy.check(req, "operation", "Patient")
    kind = (_text(req, "type") or "dlu").lower()
    if kind not in TYPES:
        raise _bad("type", f"must be one of {', '.join(TYPES)}, found {kind!r}")
    store = _boolean(req, "store")
    if store:
        ctx.policy.check(req, "create", "DocumentReference")
    validator = require_validator(ctx.services.cda_validator)  # 503 before any work
    stored = session.read("Patient", patient_id)
    if stored is None or stored.deleted or stored.content is None or not ctx.policy.can_see(req, stored.content):
        raise NotFound(f"Patient/{patient_id} does not exist")
    date = _date_time(req, "date") or _now()
    author = _param(req, "author")
    if kind == "dlu":
        source, record = gather_dlu.dlu_source(req, ctx, session, patient_id, author=author, effective_time=date,
                                               comment=_text(req, "comment"))
        try:
            root = dlu_ehpad.build_dlu(source.document, record, physician=source.physician,
                                       contacts=source.contacts)
        except dlu_ehpad.DluError as exc:
            raise gather_dlu.refuse_mapping(exc, "Patient") from exc
    else:
        transfer = _transfer(req, date)
        source, fludt_record = gather_dlu.fludt_source(req, ctx, session, patient_id, author=author,
                                                       effective_time=date, transfer=transfer,
                                                       destination=_destination(req))
        try:
            root = fludt.build_fludt(source.document, fludt_record, physician=source.physician,
                                     contacts=source.contacts)
        except (dlu_ehpad.DluError, fludt.FludtError) as exc:
            raise gather_dlu.refuse_mapping(exc, "Patient") from exc
    data = _serialize(root)
    ensure_valid(validator, data, f"the {kind.upper()} of Patient/{patient_id}")
    if store:
        format_code = dlu_ehpad.FORMAT_CODE if kind == "dlu" else fludt.FORMAT_CODE
        return _store(req, ctx, session, source, data, kind, format_code)
    return FhirResponse(200, data, {"Content-Type": XML})


OPERATIONS: list[Operation] = [
    Operation("$dlu", dlu, frozenset({"instance"}), frozenset({"Patient"}), definition=DEFINITION),
]
