"""The FHIR router: a plain request in, a response out — no web framework (Medplum fhir-router style).

``handle`` runs one request in its own database transaction (with retries of serialisation failures);
``dispatch`` runs it inside a given session, which is how transaction Bundles reuse every interaction.
Routes: https://hl7.org/fhir/R4/http.html#summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from fhirserver.audit import rest as audit
from fhirserver.audit.trail import AuditTrail, AuditUnavailable
from fhirserver.errors import FhirError, MethodNotAllowed, NotFound
from fhirserver.interactions import (
    capabilities,
    create,
    delete,
    history,
    patch,
    read,
    search,
    update,
)
from fhirserver.interactions.common import outcome_response
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.operations import (
    Operation,
    cda,
    dlu,
    dmp,
    everything,
    identitovigilance,
    meta,
    tddui,
    validate,
)
from fhirserver.interactions.operations import identity as identity_ops
from fhirserver.storage.sql.repository import SqlSession

Handler = Callable[[FhirRequest, Context, SqlSession], FhirResponse]
#: handlers that open their own database transactions (or need none): the base POST and capabilities
Standalone = Callable[[FhirRequest, Context], FhirResponse]


def _core_operations() -> list[Operation]:
    every = frozenset({"type", "instance"})
    hl7 = "http://hl7.org/fhir/OperationDefinition/"
    return [
        Operation("$meta", meta.meta, frozenset({"system", "type", "instance"}), read_only=True,
                  definition=hl7 + "Resource-meta"),
        Operation("$validate", validate.validate, every, read_only=True, definition=hl7 + "Resource-validate"),
        Operation("$meta-add", meta.meta_add, frozenset({"instance"}), definition=hl7 + "Resource-meta-add"),
        Operation("$meta-delete", meta.meta_delete, frozenset({"instance"}),
                  definition=hl7 + "Resource-meta-delete"),
        Operation("$everything", everything.everything, frozenset({"instance"}), frozenset({"Patient"}),
                  read_only=True, definition=hl7 + "Patient-everything"),
    ]


def _all_operations() -> dict[str, list[Operation]]:
    table: dict[str, list[Operation]] = {}
    for op in [*_core_operations(), *identity_ops.OPERATIONS, *identitovigilance.OPERATIONS, *tddui.OPERATIONS,
               *cda.OPERATIONS, *dlu.OPERATIONS, *dmp.OPERATIONS]:
        table.setdefault(op.name, []).append(op)
    return table


OPERATIONS = _all_operations()
SCOPES = {1: "system", 2: "type", 3: "instance"}


def find_operation(segs: list[str], method: str) -> Operation:
    name, scope = segs[-1], SCOPES.get(len(segs), "")
    target = "/".join(segs[:-1]) or "the system"
    for op in OPERATIONS.get(name, []):
        if scope in op.scopes and (op.types is None or segs[0] in op.types):
            if method == "GET" and not op.read_only:
                raise MethodNotAllowed(f"operation {name} changes data: use POST")
            return op
    raise NotFound(f"operation {name} is not supported on {target}")


def route(req: FhirRequest) -> tuple[Handler | Standalone, bool | None]:
    """The handler for a request and whether it writes (None: a standalone handler, called without a session)."""
    from fhirserver.interactions import transaction

    segs, method = req.segments, req.method
    n = len(segs)
    if n == 0:
        if method == "POST":
            return transaction.bundle, None
        if method == "GET":
            return search.search_system, False
    elif n == 1 and segs[0] == "metadata" and method == "GET":
        return capabilities.capabilities, None
    elif n == 1 and segs[0] == "_history" and method == "GET":
        return history.history, False
    elif n == 1 and segs[0] == "_search" and method == "POST":
        return search.search_system, False
    elif segs[-1].startswith("$"):
        op = find_operation(segs, method)
        return op.handler, not op.read_only
    elif n == 1:
        table = {"GET": (search.search_type, False), "POST": (create.create, True),
                 "PUT": (update.conditional_update, True), "DELETE": (delete.conditional_delete, True),
                 "PATCH": (patch.conditional_patch, True)}
        if method in table:
            return table[method]
    elif n == 2 and segs[1] == "_search" and method == "POST":
        return search.search_type, False
    elif n == 2 and segs[1] == "_history" and method == "GET":
        return history.history, False
    elif n == 2:
        table = {"GET": (read.read, False), "PUT": (update.update, True), "DELETE": (delete.delete, True),
                 "PATCH": (patch.patch, True)}
        if method in table:
            return table[method]
    elif n == 3 and segs[2] == "_history" and method == "GET":
        return history.history, False
    elif n == 3 and method == "GET":
        return search.search_compartment, False
    elif n == 4 and segs[2] == "_history" and method == "GET":
        return read.vread, False
    raise MethodNotAllowed(f"{method} /{req.path} is not a FHIR interaction this server supports")


def dispatch(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    """Run a request inside an existing session (a transaction entry); its AuditEvent is written in that session,
    so it commits (or rolls back) with the transaction."""
    audit.append_only(req)
    handler, writes = route(req)
    if writes is None:
        return cast(Standalone, handler)(req, ctx)
    req.session = session
    audit.no_overwrite(session, req)
    trail = audit.active_trail(req, ctx)
    before = audit.before_write(session, req) if trail and writes else None
    resp = cast(Handler, handler)(req, ctx, session)
    if trail:
        audit.record_success(trail, req, resp, session, before)
    return resp


def handle(req: FhirRequest, ctx: Context) -> FhirResponse:
    """Run one request in its own database transaction; every FhirError becomes an OperationOutcome here.

    With a principal, the interaction is audited (:mod:`fhirserver.audit.rest`): a write and its AuditEvent commit
    together; a read's AuditEvent is written in its own transaction before the response leaves; a refusal or an
    error is recorded after the rollback. If the AuditEvent cannot be written the answer is a 503 without data.
    """
    trail = audit.active_trail(req, ctx)
    try:
        audit.append_only(req)
        resp = _run(req, ctx, trail)
    except AuditUnavailable as exc:
        return outcome_response(exc)
    except FhirError as exc:
        if trail is not None:
            try:
                audit.record_failure(trail, req, exc)
            except AuditUnavailable as audit_exc:
                return outcome_response(audit_exc)
        return outcome_response(exc)
    return resp


def _run(req: FhirRequest, ctx: Context, trail: AuditTrail | None) -> FhirResponse:
    handler, writes = route(req)
    if writes is None:
        return cast(Standalone, handler)(req, ctx)  # a Bundle: its entries are audited one by one
    session_handler = cast(Handler, handler)

    def run(session: SqlSession) -> FhirResponse:
        req.session = session
        audit.no_overwrite(session, req)
        before = audit.before_write(session, req) if trail and writes else None
        resp = session_handler(req, ctx, session)
        if trail and writes:
            audit.record_success(trail, req, resp, session, before)
        return resp

    resp = ctx.repo.run(run, write=writes)
    if trail and not writes:
        audit.record_success(trail, req, resp, None)
    return resp
