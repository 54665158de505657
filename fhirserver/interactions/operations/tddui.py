"""``Patient/{id}/$tddui-export`` — one usager's record as a TDDUI Bundle (DSR "portabilité des données").

GET or POST (read-only). Parameters (query string, or a ``Parameters`` body on POST):

* ``ins`` (boolean): absent, the INS is exported exactly when the identity is qualified; ``true`` demands it
  and is refused (422, business-rule) unless the identity is qualified; ``false`` refuses it and is refused
  (422) for a qualified identity, which FR Core requires to carry its INS;
* ``report`` (boolean): ``true`` returns ``Parameters`` with ``return`` (the Bundle) and ``outcome`` (an
  OperationOutcome listing the resources left out); by default the Bundle itself is returned, ready to be
  posted to another DUI's base URL.

The import side needs no operation: a ``tddui-bundle`` posted to the base URL is checked by
:mod:`fhirserver.tddui.rules` and runs as an ordinary atomic transaction.
"""

from __future__ import annotations

from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.operations import Operation
from fhirserver.interactions.operations.params import flag, inputs
from fhirserver.storage.sql.repository import SqlSession
from fhirserver.tddui import export

#: our own canonical: the TDDUI IG defines the exchange (a transaction), not an export operation
DEFINITION = "https://dui.example.org/fhir/OperationDefinition/Patient-tddui-export"


def _boolean(req: FhirRequest, name: str) -> bool | None:
    return flag(inputs(req), name)


def tddui_export(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    patient_id = req.segments[1]
    ctx.policy.check(req, "operation", "Patient")
    result = export.build(req, ctx, session, patient_id, ins=_boolean(req, "ins"))
    if _boolean(req, "report"):
        return FhirResponse(200, {"resourceType": "Parameters", "parameter": [
            {"name": "return", "resource": result.bundle},
            {"name": "outcome", "resource": result.outcome()},
        ]})
    return FhirResponse(200, result.bundle)


OPERATIONS: list[Operation] = [
    Operation("$tddui-export", tddui_export, frozenset({"instance"}), frozenset({"Patient"}), read_only=True,
              definition=DEFINITION),
]
