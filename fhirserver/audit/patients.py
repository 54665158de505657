"""Which usagers an access concerns: one query on the Patient-compartment index, no FHIRPath.

The index (``idx_compartment``, filled at write time by :func:`fhirserver.search.extract.extract`) already lists the
Patient compartments of every current resource (https://hl7.org/fhir/R4/compartmentdefinition-patient.html);
looking up the returned rows there costs one indexed query per 500 resources, whatever their type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from fhirserver.storage.sql.repository import SqlSession
from fhirserver.storage.sql.schema import idx_compartment, resource

CHUNK = 500


def patients_of(session: SqlSession, pairs: Iterable[tuple[str, str]]) -> set[str]:
    """The ids of the Patients whose compartment holds one of these (type, id) resources."""
    by_type: dict[str, set[str]] = {}
    for rt, res_id in pairs:
        by_type.setdefault(rt, set()).add(res_id)
    if not by_type:
        return set()
    session.flush()  # index rows written earlier in this transaction are buffered
    out = set(by_type.get("Patient", ()))
    c, r = idx_compartment, resource
    for rt, ids in sorted(by_type.items()):
        ordered = sorted(ids)
        for i in range(0, len(ordered), CHUNK):
            # one statement per type with an expanding IN: SQLAlchemy caches its compiled form (a tuple IN is not)
            stmt = (select(c.c.comp_id).join(r, r.c.rid == c.c.rid)
                    .where(r.c.res_type == rt, r.c.res_id.in_(ordered[i:i + CHUNK]), c.c.comp_type == "Patient"))
            out.update(str(row[0]) for row in session.conn.execute(stmt))
    return out


def returned_pairs(body: Any) -> list[tuple[str, str]]:
    """(type, id) of a returned resource, or of every resource of a returned Bundle."""
    if not isinstance(body, dict):
        return []
    if body.get("resourceType") == "Bundle":
        out: list[tuple[str, str]] = []
        for entry in body.get("entry") or []:
            res = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(res, dict) and res.get("resourceType") and res.get("id"):
                out.append((str(res["resourceType"]), str(res["id"])))
        return out
    if body.get("resourceType") and body.get("id") and body.get("resourceType") != "OperationOutcome":
        return [(str(body["resourceType"]), str(body["id"]))]
    return []
