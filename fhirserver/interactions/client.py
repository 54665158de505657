"""One way in: a small typed in-process FHIR client, ``Fhir(ctx, principal)``.

Every call builds a :class:`~fhirserver.interactions.context.FhirRequest` carrying the principal and runs it through
:func:`fhirserver.interactions.router.handle`, exactly as an HTTP request does after the bearer check: the access
policy bounds it, the write hooks and validators run, and it is audited. It never reads storage itself. An answer
of status 400 or more is raised as the :mod:`fhirserver.errors` category of that status, carrying the
OperationOutcome's issues (:func:`fhirserver.errors.error_from_outcome`).

The server's own components (the CLI, the worker, the MSSanté ingest, the demo loader) call it with an explicit
:func:`~fhirserver.auth.principal.system_principal`; a portal page with the principal of its browser session. One
client per unit of work (a command, a message, a page): the principal's per-request memo (the reach) lives as long
as the principal does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fhirserver.auth.principal import Principal, system_principal
from fhirserver.errors import error_from_outcome
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.router import handle

__all__ = ["DEFAULT_BASE", "Fhir", "Params", "Resource", "system_principal"]

#: a FHIR resource as parsed JSON
Resource = dict[str, Any]
#: search or operation parameters, in order (a name may repeat)
Params = Sequence[tuple[str, str]]
#: the base URL of the requests when ``[server] base_url`` is empty and none is given
DEFAULT_BASE = "http://localhost/fhir"


class Fhir:
    """The FHIR interactions in process, as ``principal``."""

    def __init__(self, ctx: Context, principal: Principal, *, base_url: str | None = None) -> None:
        if not isinstance(principal, Principal):
            raise TypeError("Fhir needs a Principal (a token's, a session's, or system_principal(component))")
        self.ctx = ctx
        self.principal = principal
        self.base_url = (base_url or ctx.settings.server.base_url or DEFAULT_BASE).rstrip("/")

    # --- the one request --------------------------------------------------------------------------

    def send(self, method: str, path: str, *, params: Params = (), body: Any = None,
             headers: Mapping[str, str] | None = None) -> FhirResponse:
        """Run one interaction (``path`` relative to the base, no leading slash); the response when its status is
        below 400, else the :mod:`fhirserver.errors` category of the status is raised."""
        req = FhirRequest(method.upper(), path.strip("/"), params=list(params),
                          headers={k.lower(): v for k, v in (headers or {}).items()}, body=body,
                          base_url=self.base_url, principal=self.principal)
        resp = handle(req, self.ctx)
        if resp.status >= 400:
            raise error_from_outcome(resp.status, resp.resource, resp.headers)
        return resp

    # --- reads ------------------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> Resource:
        return _resource(self.send("GET", f"{resource_type}/{resource_id}"))

    def vread(self, resource_type: str, resource_id: str, version_id: str) -> Resource:
        return _resource(self.send("GET", f"{resource_type}/{resource_id}/_history/{version_id}"))

    def search_bundle(self, resource_type: str | None, params: Params = ()) -> Resource:
        """The searchset Bundle (first page) of a type search, or of a system search when ``resource_type`` is
        None."""
        return _resource(self.send("GET", resource_type or "", params=params))

    def search(self, resource_type: str | None, params: Params = ()) -> list[Resource]:
        """The matches of the first page (``search.mode`` match: neither ``_include`` nor OperationOutcome
        entries); ``_count`` sets its size."""
        return matches(self.search_bundle(resource_type, params))

    # --- writes -----------------------------------------------------------------------------------

    def create(self, resource: Resource, *, if_none_exist: str | None = None) -> Resource:
        """``POST [type]``; with ``if_none_exist`` (a query string), a conditional create. The stored resource
        (the existing one when the condition matched)."""
        headers = {"if-none-exist": if_none_exist} if if_none_exist else {}
        return _resource(self.send("POST", _type_of(resource), body=resource, headers=headers))

    def update(self, resource: Resource, *, if_match: str | None = None) -> Resource:
        """``PUT [type]/[id]`` (update, or create with that id); ``if_match`` a version id or ETag."""
        rid = resource.get("id")
        if not isinstance(rid, str) or not rid:
            raise ValueError("update needs a resource with an id")
        return _resource(self.send("PUT", f"{_type_of(resource)}/{rid}", body=resource,
                                   headers=_if_match(if_match)))

    def patch(self, resource_type: str, resource_id: str, operations: Sequence[Mapping[str, Any]], *,
              if_match: str | None = None) -> Resource:
        """``PATCH`` with a JSON Patch (RFC 6902) list of operations; the patched resource."""
        body = [dict(op) for op in operations]
        return _resource(self.send("PATCH", f"{resource_type}/{resource_id}", body=body,
                                   headers=_if_match(if_match)))

    def delete(self, resource_type: str, resource_id: str) -> None:
        self.send("DELETE", f"{resource_type}/{resource_id}")

    def transaction(self, bundle: Resource, *, prefer: Literal["minimal", "representation"] | None = None
                    ) -> Resource:
        """``POST [base]`` of a transaction (or batch) Bundle; the response Bundle. ``prefer`` (``Prefer:
        return=``): whether its entries carry the resources; None: the server's default (a transaction's entries
        carry the responses only, a batch's the resources too). A batch answers 200 whatever its entries' fate:
        read each ``entry.response.status``."""
        if bundle.get("resourceType") != "Bundle":
            raise ValueError("transaction needs a Bundle")
        headers = {"prefer": f"return={prefer}"} if prefer else {}
        return _resource(self.send("POST", "", body=bundle, headers=headers))

    # --- operations -------------------------------------------------------------------------------

    def operation(self, path: str, parameters: Resource | None = None, method: str = "POST", *,
                  params: Params = ()) -> Resource | bytes | None:
        """A named operation: ``path`` such as ``"Patient/p1/$everything"`` or ``"$meta"``, ``parameters`` its
        Parameters resource (the body of a POST), ``params`` its URL parameters. The answer: a resource, the
        bytes of a document (``$generate-cda`` …), or None when it has no body."""
        if not path.rsplit("/", 1)[-1].startswith("$"):
            raise ValueError(f"{path!r} names no operation ($name)")
        resp = self.send(method, path, params=params, body=parameters)
        body = resp.resource
        if body is None or isinstance(body, bytes | dict):
            return body
        if isinstance(body, str):
            return body.encode("utf-8")
        raise TypeError(f"{path}: unexpected answer of type {type(body).__name__}")


def matches(bundle: Resource) -> list[Resource]:
    """The ``search.mode`` match resources of a searchset Bundle (entries without a mode count as matches)."""
    out: list[Resource] = []
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        if (entry.get("search") or {}).get("mode", "match") == "match":
            out.append(entry["resource"])
    return out


def _resource(resp: FhirResponse) -> Resource:
    body = resp.resource
    if not isinstance(body, dict):
        raise TypeError(f"expected a resource in the answer (status {resp.status}), got {type(body).__name__}")
    return body


def _type_of(resource: Resource) -> str:
    rt = resource.get("resourceType")
    if not isinstance(rt, str) or not rt:
        raise ValueError("the resource has no resourceType")
    return rt


def _if_match(version: str | None) -> dict[str, str]:
    if not version:
        return {}
    return {"if-match": version if version.startswith(("W/", '"')) else f'W/"{version}"'}
