"""capabilities — https://hl7.org/fhir/R4/http.html#capabilities. The CapabilityStatement is generated from
what is really wired: the registry's search parameters (those that compiled), the modifiers the parser
honours, the router's interactions and operations. Nothing is claimed that is not honoured.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fhirserver.fhir.definitions import resource_types
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.search.parse import MODIFIERS
from fhirserver.search.registry import Registry

VERSION = "0.1.0"
INTERACTIONS = ["read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create",
                "search-type"]


def _operations(resource_type: str) -> list[dict[str, str]]:
    """The router's type- and instance-level operations that apply to ``resource_type``."""
    from fhirserver.interactions.router import OPERATIONS

    out = []
    for name, ops in OPERATIONS.items():
        for op in ops:
            if op.scopes & {"type", "instance"} and (op.types is None or resource_type in op.types):
                out.append({"name": name.lstrip("$"), "definition": op.definition})
                break
    return out


RESULT_PARAMS = ["_sort", "_count", "_include", "_revinclude", "_summary", "_elements", "_total", "_list", "_has"]


@lru_cache(maxsize=4)
def _resources(registry: Registry) -> list[dict[str, Any]]:
    out = []
    revincludes: dict[str, list[str]] = {}
    for source in sorted(resource_types()):
        for sp in registry.params(source).values():
            if sp.type == "reference":
                for target in sp.targets:
                    revincludes.setdefault(target, []).append(f"{source}:{sp.code}")
    for rt in sorted(resource_types()):
        params = registry.params(rt)
        search_params = [{"name": sp.code, "definition": sp.url, "type": sp.type,
                          "documentation": "modifiers: " + ", ".join(sorted(MODIFIERS.get(sp.type, ())))}
                         for sp in sorted(params.values(), key=lambda p: p.code)]
        refs = sorted(sp.code for sp in params.values() if sp.type == "reference")
        entry: dict[str, Any] = {
            "type": rt,
            "interaction": [{"code": c} for c in INTERACTIONS],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "full-support",
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "referencePolicy": ["literal", "logical", "local"],
            "searchInclude": ["*"] + [f"{rt}:{r}" for r in refs],
            "searchRevInclude": revincludes.get(rt, []),
            "searchParam": search_params,
            "operation": _operations(rt),
        }
        # FHIR forbids empty arrays (https://hl7.org/fhir/R4/json.html): leave out what a type does not have
        out.append({k: v for k, v in entry.items() if v != []})
    return out


def capability_statement(ctx: Context, base_url: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-22",
        "publisher": "DUI server",
        "kind": "instance",
        "software": {"name": "DUI server (FHIR-native Dossier Usager Informatisé)", "version": VERSION},
        "implementation": {"description": "FHIR R4 server for French medico-social structures", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/fhir+xml", "json", "xml"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json", "application/fhir+xml"],
        "rest": [{
            "mode": "server",
            "documentation": "Search result parameters: " + ", ".join(RESULT_PARAMS)
            + ". Unknown parameters are ignored unless 'Prefer: handling=strict' is sent.",
            "resource": _resources(ctx.registry),
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "search-system"},
                            {"code": "history-system"}],
            "searchParam": [{"name": sp.code, "definition": sp.url, "type": sp.type}
                            for sp in ctx.registry.params("Resource").values()],
            "operation": [{"name": "meta", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-meta"}],
        }],
    }


def capabilities(req: FhirRequest, ctx: Context) -> FhirResponse:
    statement = capability_statement(ctx, req.base_url)
    if ctx.settings.auth.required:
        from fhirserver.auth.discovery import capability_security
        from fhirserver.auth.urls import urls_for

        statement["rest"][0]["security"] = capability_security(urls_for(ctx.settings, req.base_url))
    return FhirResponse(200, statement)
