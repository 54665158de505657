"""Helpers shared by interactions: version headers, Prefer handling, ids, _summary / _elements.

https://hl7.org/fhir/R4/http.html#versioning (ETag, If-Match), #ops (Prefer: return=…),
https://hl7.org/fhir/R4/search.html#summary and #elements.
"""

from __future__ import annotations

from email.utils import format_datetime, parsedate_to_datetime
from functools import cache
from typing import Any

from fhirserver.errors import FhirError, Invalid, NotFound, PreconditionFailed, operation_outcome
from fhirserver.errors import Issue as OutcomeIssue
from fhirserver.fhir.definitions import resource_types
from fhirserver.interactions.context import FhirRequest, FhirResponse
from fhirserver.storage.base import StoredResource

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED",
             "display": "Resource content has been reduced"}


def check_type(resource_type: str) -> str:
    if resource_type not in resource_types():
        raise NotFound(f"unknown resource type {resource_type!r}",
                       [OutcomeIssue(f"unknown resource type {resource_type!r}", code="not-supported")])
    return resource_type


def http_date(stored: StoredResource) -> str:
    from datetime import UTC

    return format_datetime(stored.last_updated.replace(tzinfo=UTC), usegmt=True)


def version_headers(req: FhirRequest, stored: StoredResource, *, location: bool = False) -> dict[str, str]:
    headers = {"ETag": f'W/"{stored.version_id}"', "Last-Modified": http_date(stored)}
    if location:
        headers["Location"] = f"{req.base_url}/{stored.res_type}/{stored.res_id}/_history/{stored.version_id}"
    return headers


def parse_etag(value: str) -> int:
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    try:
        return int(text)
    except ValueError as exc:
        raise Invalid(f"malformed version in ETag header: {value!r} (expected W/\"<versionId>\")") from exc


def check_if_match(req: FhirRequest, current: StoredResource | None) -> None:
    header = req.header("if-match")
    if not header:
        return
    expected = parse_etag(header)
    actual = current.version_id if current is not None else None
    if actual != expected:
        raise PreconditionFailed(
            f"version conflict: If-Match asks for version {expected}, the current version is {actual}",
            [OutcomeIssue(f"If-Match version {expected} does not match current version {actual}", code="conflict")])


def not_modified(req: FhirRequest, stored: StoredResource) -> bool:
    """True when If-None-Match / If-Modified-Since say the client's copy is current (-> 304)."""
    inm = req.header("if-none-match")
    if inm:
        try:
            return parse_etag(inm) == stored.version_id
        except Invalid:
            return False
    ims = req.header("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims).replace(tzinfo=None)
        except (TypeError, ValueError):
            return False
        return stored.last_updated.replace(microsecond=0) <= since
    return False


def write_response(req: FhirRequest, stored: StoredResource, status: int) -> FhirResponse:
    """The answer to create / update / patch, honouring ``Prefer: return=minimal|representation|OperationOutcome``."""
    headers = version_headers(req, stored, location=True)
    prefer = req.prefer("return") or "representation"
    if prefer == "minimal":
        return FhirResponse(status, None, headers)
    if prefer == "OperationOutcome":
        verb = "created" if status == 201 else "updated"
        outcome = operation_outcome([OutcomeIssue(
            f"{stored.res_type}/{stored.res_id} {verb} (version {stored.version_id})", code="informational",
            severity="information")])
        return FhirResponse(status, outcome, headers)
    return FhirResponse(status, stored.content, headers)


def outcome_response(error: FhirError) -> FhirResponse:
    return FhirResponse(error.status, error.outcome(), dict(error.headers))


# --- _summary and _elements ------------------------------------------------------------------------

@cache
def summary_elements(resource_type: str) -> frozenset[str] | None:
    """Top-level elements flagged isSummary (from the fhir.resources R4B models); None when unknown."""
    try:
        import fhir.resources.R4B as r4b

        model = r4b.get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None
    names = set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("summary_element_property"):
            names.add(info.alias or name)
    return frozenset(names)


@cache
def required_elements(resource_type: str) -> frozenset[str]:
    from fhirserver.fhir.definitions import json_schema

    definition = json_schema()["definitions"].get(resource_type, {})
    return frozenset(definition.get("required", []))


def _choice_base(key: str, allowed: frozenset[str]) -> bool:
    if key in allowed:
        return True
    return any(key.startswith(a) and key[len(a):][:1].isupper() for a in allowed)


def _mark_subsetted(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if t.get("code") != "SUBSETTED"]
    meta["tag"] = [*tags, SUBSETTED]
    resource["meta"] = meta
    return resource


def subset(resource: dict[str, Any], summary: str | None, elements: tuple[str, ...]) -> dict[str, Any]:
    """Apply ``_summary`` (true | text | data) or ``_elements`` to one resource."""
    rt = resource.get("resourceType", "")
    base = {"resourceType", "id", "meta"}
    if summary == "true":
        allowed = summary_elements(rt)
        if allowed is None:
            return resource
        keep = allowed | base | required_elements(rt)
        out = {k: v for k, v in resource.items() if _choice_base(k.lstrip("_"), frozenset(keep))}
        return _mark_subsetted(out)
    if summary == "text":
        keep = frozenset(base | {"text"} | required_elements(rt))
        return _mark_subsetted({k: v for k, v in resource.items() if _choice_base(k.lstrip("_"), keep)})
    if summary == "data":
        return _mark_subsetted({k: v for k, v in resource.items() if k != "text"})
    if elements:
        names = {e.split(".", 1)[1] if "." in e and e.split(".", 1)[0] == rt else e for e in elements}
        keep = frozenset(names | base | required_elements(rt))
        return _mark_subsetted({k: v for k, v in resource.items() if _choice_base(k.lstrip("_"), keep)})
    return resource
