"""Patient/$everything — https://hl7.org/fhir/R4/patient-operation-everything.html.

The patient, every resource of its compartment (from the compartment index) and the resources they refer to
(practitioners, organizations, medications …), paged through ordinary next links (no silent cap);
``_since`` and ``_type`` honoured.
"""

from __future__ import annotations

from sqlalchemy import select

from fhirserver.errors import Invalid
from fhirserver.fhir.definitions import patient_compartment
from fhirserver.interactions.common import check_type
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.read import current
from fhirserver.interactions.search import build_query, searchset
from fhirserver.search.parse import Include
from fhirserver.storage.base import StoredResource
from fhirserver.storage.sql.repository import SqlSession
from fhirserver.storage.sql.schema import idx_compartment


def other_patients_data(session: SqlSession, patient_id: str, included: list[StoredResource]) -> set[int]:
    """rids of referenced resources that belong to other patients' compartments and not to this one.

    A reference from the record (``Patient.link``, ``Observation.hasMember`` …) may point into another
    resident's record; following it would leak that record, so such resources are left out.
    """
    if not included:
        return set()
    members: dict[int, set[str]] = {}
    rows = session.conn.execute(select(idx_compartment.c.rid, idx_compartment.c.comp_id).where(
        idx_compartment.c.comp_type == "Patient", idx_compartment.c.rid.in_([r.rid for r in included])))
    for rid, comp_id in rows:
        members.setdefault(rid, set()).add(comp_id)
    return {rid for rid, ids in members.items() if patient_id not in ids}


def everything(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    patient_id = req.segments[1]
    ctx.policy.check(req, "operation", "Patient")
    current(session, "Patient", patient_id)
    requested = req.param("_type")
    members = set(patient_compartment()) | {"Patient"}
    if requested:
        types = tuple(check_type(t.strip()) for t in requested.split(",") if t.strip())
        if not set(types) <= members:
            raise Invalid("_type lists a type outside the Patient compartment: "
                          + ", ".join(sorted(set(types) - members)))
    else:
        types = ("Resource",)
    params: list[tuple[str, str]] = []
    for key, value in req.params:
        if key == "_since":
            params.append(("_lastUpdated", "ge" + value))
        elif key in ("_count", "_cursor"):
            params.append((key, value))
    query = build_query(req, ctx, session, types, params)
    query.compartment = ("Patient", patient_id)
    query.used = [(k, v) for k, v in req.params if k in ("_since", "_type", "_count")]
    page = session.search(query)
    page_types = {m.res_type for m in page.matches}
    query.includes = [Include(t, None, None, False) for t in sorted(page_types)]
    page.includes, page.warnings = session.resolve_includes(query, page.matches) if page.matches else ([], [])
    foreign = other_patients_data(session, patient_id, page.includes)
    page.includes = [r for r in page.includes if r.rid not in foreign]
    bundle = searchset(req, ctx, query, page, f"Patient/{patient_id}/$everything")
    return FhirResponse(200, bundle)
