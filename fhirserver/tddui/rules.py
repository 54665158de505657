"""The TDDUI import rule: a Bundle claiming ``tddui-bundle`` is a create-only transaction.

Flux 1 of the IG (``input/pagecontent/description_flux_1_transmission_donnees_dui.md``): the producer sends one
``POST [base]/`` with a ``tddui-bundle``; "seule la création est possible" — every slice of
``input/fsh/Profiles/TDDUIBundle.fsh`` fixes ``request.method = #POST`` and ``type = #transaction``. On success
the consumer answers 200 with a transaction-response (201 per entry); on failure an error status with an
OperationOutcome and nothing is created. The last two are what the generic transaction already does (one
database transaction), so this rule only checks and normalises the Bundle before it runs:

* ``Bundle.type`` must be ``transaction`` and every entry a ``POST`` of a resource (422 naming the entry);
* ``request.url`` must be the resource type (``POST [base]/Patient``). The IG's own examples put the *profile
  name* there (``request.url = "TDDUIPatientINS"``, ``TDDUIBundleExample.fsh``): a url that names no resource
  type is read as such a label and replaced by the resource type; a url naming another type, an id or a
  search is refused;
* references between entries: the IG allows the ``fullUrl`` of another entry (``urn:uuid:`` or an absolute URL)
  *or* "le couple resourceType/id de la ressource ciblée". A relative ``Type/id`` reference that names an
  entry of the Bundle — by the tail of its absolute ``fullUrl`` (FHIR bundle.html#references: relative
  references resolve against the entry's base) or by ``resource.id`` — is rewritten to that entry's
  ``fullUrl``, so the transaction maps it to the id the server assigns (http.html#trules url-fixing).
  Ambiguous ``Type/id`` (two entries) are left alone;
* the Bundle itself is validated against the profiles it claims (the registered validators); each entry is
  validated on write against the profiles it claims, like any create.

No conditional create: the IG does not ask for one (the receiving DUI creates a new record).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from fhirserver.errors import Issue, Unprocessable
from fhirserver.fhir.definitions import resource_types
from fhirserver.interactions.context import Context, FhirRequest
from fhirserver.interactions.hooks import validation_issues


def _refuse(message: str, expression: str) -> Unprocessable:
    return Unprocessable(message, [Issue(message, code="business-rule", expression=(expression,))])


def _entry_target(entry: dict[str, Any], index: int, base_url: str) -> str:
    """The resource type an entry creates, after checking it is a create (POST of a resource to its type)."""
    where = f"Bundle.entry[{index}]"
    resource = entry.get("resource")
    request = entry.get("request")
    method = str(request.get("method", "")).upper() if isinstance(request, dict) else ""
    if method != "POST":
        found = f"request.method {method!r}" if method else "no request.method"
        raise _refuse(f"{where}: a TDDUI bundle is create only: every entry must be a POST, found {found}",
                      f"{where}.request.method")
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise _refuse(f"{where}: a TDDUI bundle entry must carry the resource it creates", f"{where}.resource")
    rt = resource["resourceType"]
    url = str(request.get("url") or "") if isinstance(request, dict) else ""
    if base_url and url.startswith(base_url + "/"):
        url = url[len(base_url) + 1:]
    path = url.strip("/")
    if path == rt:
        return rt
    if "/" in path or "?" in path or path in resource_types():
        raise _refuse(f"{where}: a TDDUI bundle is create only: request.url must be {rt!r} "
                      f"(POST [base]/{rt}), found {url!r}", f"{where}.request.url")
    return rt  # a profile label such as "TDDUIPatientINS" (the IG examples): the type is the resource's


def _aliases(entries: list[dict[str, Any]]) -> dict[str, str]:
    """``Type/id`` -> the fullUrl of the single entry it names (ambiguous names are dropped)."""
    seen: dict[str, set[str]] = {}
    for entry in entries:
        resource, full_url = entry["resource"], entry["fullUrl"]
        names = set()
        if isinstance(resource.get("id"), str):
            names.add(f"{resource['resourceType']}/{resource['id']}")
        if full_url.startswith(("http://", "https://")):
            parts = full_url.rstrip("/").split("/")
            if len(parts) >= 2 and parts[-2] == resource["resourceType"]:
                names.add(f"{parts[-2]}/{parts[-1]}")
        for name in names:
            seen.setdefault(name, set()).add(full_url)
    return {name: next(iter(urls)) for name, urls in seen.items() if len(urls) == 1}


def _point_to_entries(node: Any, aliases: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in aliases:
                out[key] = aliases[value]
            else:
                out[key] = _point_to_entries(value, aliases)
        return out
    if isinstance(node, list):
        return [_point_to_entries(v, aliases) for v in node]
    return node


def check_bundle(bundle: dict[str, Any], ctx: Context, base_url: str = "") -> dict[str, Any]:
    """Check a ``tddui-bundle`` and return the Bundle the transaction runs (request urls normalised, references
    between entries pointing to ``fullUrl``). Raises 422 naming the entry at fault."""
    if bundle.get("type") != "transaction":
        raise _refuse(f"a TDDUI bundle must be a transaction (flux 1: POST [base]/), found type "
                      f"{bundle.get('type')!r}", "Bundle.type")
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list) or not raw_entries:
        raise _refuse("a TDDUI bundle must carry at least one entry", "Bundle.entry")
    entries: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_entries):
        if not isinstance(raw, dict):
            raise _refuse(f"Bundle.entry[{index}] is not an object", f"Bundle.entry[{index}]")
        entry = copy.deepcopy(raw)
        rt = _entry_target(entry, index, base_url)
        entry["request"] = {**entry["request"], "method": "POST", "url": rt}
        if not isinstance(entry.get("fullUrl"), str) or not entry["fullUrl"]:
            entry["fullUrl"] = f"urn:uuid:{uuid.uuid4()}"
        entries.append(entry)
    aliases = _aliases(entries)
    for entry in entries:
        entry["resource"] = _point_to_entries(entry["resource"], aliases)
    checked = {**bundle, "entry": entries}
    errors = [i for i in validation_issues(ctx, checked) if i.severity in ("error", "fatal")]
    if errors:
        raise Unprocessable(f"the Bundle does not conform to the profile it claims: {errors[0].diagnostics}", errors)
    return checked


def rule(bundle: dict[str, Any], req: FhirRequest, ctx: Context) -> dict[str, Any]:
    """The bundle rule registered for ``tddui-bundle``
    (see :func:`fhirserver.interactions.transaction.apply_bundle_rules`)."""
    return check_bundle(bundle, ctx, req.base_url)
