"""Extraction of index values from a resource, per search-parameter *type*.

https://hl7.org/fhir/R4/search.html#ptypes: what each type matches in each FHIR data type
(string on HumanName/Address, token on Coding/CodeableConcept/Identifier/ContactPoint/code/boolean,
reference on Reference/canonical, date on date/dateTime/instant/Period/Timing, quantity on Quantity/Money/Range …).
The result is a plain mapping ``table -> rows``; storage decides how to write them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from fhirserver.fhir.definitions import patient_compartment, resource_types
from fhirserver.search.registry import Registry, SearchParam
from fhirserver.search.values import MAX_DT, MAX_INDEX_LEN, MIN_DT, date_range, normalize_string

Rows = dict[str, list[dict[str, Any]]]

log = logging.getLogger(__name__)
#: (resource type, parameter code, exception type) already logged: a failing parameter is reported once per process
_FAILED: set[tuple[str, str, str]] = set()
#: ContactPoint.system codes (required binding): tell a ContactPoint from an Identifier, both ``{system, value}``
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})

_STRING_KEYS = ("text", "family", "given", "prefix", "suffix", "line", "city", "district", "state",
                "postalCode", "country")


def _clip(value: str | None) -> str | None:
    return value[:MAX_INDEX_LEN] if value is not None else None


def parse_reference(ref: str) -> tuple[str | None, str | None, str | None]:
    """``Patient/1``, ``Patient/1/_history/2`` or ``http://x/fhir/Patient/1`` -> (type, id, version).

    The type must be a resource type (``http://x/Fhir/1`` is no reference to a "Fhir" resource)."""
    head, _, version = ref.partition("/_history/")
    segments = head.split("/")
    if len(segments) >= 2 and segments[-1] and segments[-2] in resource_types():
        return segments[-2], segments[-1], version or None
    return None, None, None


def _number(value: Any) -> float | None:
    """A JSON number as float (fhirpathpy returns decimals as :class:`Decimal`); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return float(value)


# --- values per parameter type -------------------------------------------------------------------

def string_values(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key in _STRING_KEYS:
            v = node.get(key)
            if isinstance(v, str):
                yield v
            elif isinstance(v, list):
                yield from (x for x in v if isinstance(x, str))


def token_values(node: Any) -> Iterator[tuple[str | None, str | None, str | None]]:
    """(system, code, text) triples."""
    if isinstance(node, bool):
        yield None, "true" if node else "false", None
    elif isinstance(node, str | int | float | Decimal):
        yield None, str(node), None
    elif isinstance(node, dict):
        if "coding" in node or "text" in node and "value" not in node and "code" not in node:  # CodeableConcept
            text = node.get("text")
            codings = [c for c in node.get("coding") or [] if isinstance(c, dict)]
            for coding in codings:
                yield coding.get("system"), coding.get("code"), coding.get("display") or text
            if text and not codings:
                yield None, None, text
        elif isinstance(node.get("value"), str):
            if node.get("system") in _CONTACT_SYSTEMS or "rank" in node:  # ContactPoint: the value only
                yield None, node["value"], None
            else:  # Identifier (an Identifier without system and a ContactPoint without system index alike)
                kind = node.get("type")
                yield node.get("system"), node["value"], kind.get("text") if isinstance(kind, dict) else None
        elif "code" in node and "value" not in node:  # Coding (a Quantity is no token)
            yield node.get("system"), node.get("code"), node.get("display")


def date_values(node: Any) -> Iterator[tuple[datetime, datetime]]:
    if isinstance(node, str):
        try:
            yield date_range(node)
        except ValueError:
            return
    elif isinstance(node, dict):
        if "start" in node or "end" in node:  # Period (an open end is unbounded)
            try:
                low = date_range(node["start"])[0] if isinstance(node.get("start"), str) else MIN_DT
                high = date_range(node["end"])[1] if isinstance(node.get("end"), str) else MAX_DT
            except ValueError:
                return
            yield low, high
        for event in node.get("event") or []:  # Timing
            yield from date_values(event)
        bounds = (node.get("repeat") or {}).get("boundsPeriod")
        if bounds:
            yield from date_values(bounds)


def number_values(node: Any) -> Iterator[tuple[float, float]]:
    number = _number(node)
    if number is not None:
        yield number, number
    elif isinstance(node, dict) and ("low" in node or "high" in node):  # Range (an open end is unbounded)
        low = _number((node.get("low") or {}).get("value"))
        high = _number((node.get("high") or {}).get("value"))
        if low is not None or high is not None:
            yield (low if low is not None else -1e308), (high if high is not None else 1e308)


def quantity_values(node: Any) -> Iterator[tuple[str | None, str | None, float, float]]:
    """(system, code, low, high): code is the unit code, else the unit text, else the currency."""
    if not isinstance(node, dict):
        yield from ((None, None, lo, hi) for lo, hi in number_values(node))
        return
    if "low" in node or "high" in node:
        unit = node.get("low") or node.get("high") or {}
        for lo, hi in number_values(node):
            yield unit.get("system"), unit.get("code") or unit.get("unit"), lo, hi
        return
    value = _number(node.get("value"))
    if value is not None:  # Quantity (Age, Duration …) or Money
        code = node.get("code") or node.get("unit") or node.get("currency")
        system = node.get("system") or ("urn:iso:std:iso:4217" if "currency" in node else None)
        yield system, code, value, value


def reference_values(node: Any, targets: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    """Rows of a Reference, a canonical / uri, or a resource (``Bundle.entry[0].resource``: the parameter
    refers to that resource, kept only when its type is one of the parameter's ``targets``)."""
    if isinstance(node, str):  # canonical / uri
        rtype, rid, version = parse_reference(node.split("|")[0])
        yield {"target_type": rtype, "target_id": rid, "target_version": version, "url": _clip(node)}
    elif isinstance(node, dict):
        rtype = node.get("resourceType")
        if isinstance(rtype, str):
            if isinstance(node.get("id"), str) and (not targets or rtype in targets):
                yield {"target_type": rtype, "target_id": node["id"], "target_version": None,
                       "url": _clip(f"{rtype}/{node['id']}")}
            return
        ref = node.get("reference")
        ident = node.get("identifier")
        if isinstance(ref, str):
            rtype, rid, version = parse_reference(ref)
            yield {"target_type": rtype or node.get("type"), "target_id": rid, "target_version": version,
                   "url": _clip(ref), "ident_system": None, "ident_value": None}
        if isinstance(ident, dict) and ident.get("value"):
            yield {"target_type": node.get("type"), "target_id": None, "target_version": None, "url": None,
                   "ident_system": ident.get("system"), "ident_value": _clip(str(ident["value"]))}


# --- rows ----------------------------------------------------------------------------------------

def _rows_for(sp: SearchParam, nodes: list[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    kind = sp.type
    for node in nodes:
        if kind == "string":
            for s in string_values(node):
                yield "string", {"value": normalize_string(s), "exact": _clip(s)}
        elif kind == "token":
            for system, code, text in token_values(node):
                yield "token", {"system": _clip(system), "code": _clip(code),
                                "text": normalize_string(text) if text else None}
        elif kind == "date":
            for low, high in date_values(node):
                yield "date", {"low": low, "high": high}
        elif kind == "number":
            for nlow, nhigh in number_values(node):
                yield "number", {"low": nlow, "high": nhigh}
        elif kind == "quantity":
            for system, code, qlow, qhigh in quantity_values(node):
                yield "quantity", {"system": _clip(system), "code": _clip(code), "low": qlow, "high": qhigh}
        elif kind == "reference":
            for row in reference_values(node, sp.targets):
                yield "reference", row
        elif kind == "uri" and isinstance(node, str):
            yield "uri", {"value": _clip(node)}


def _component_rows(kind: str, nodes: list[Any]) -> list[dict[str, Any]]:
    sp = SearchParam(code="", type=kind, url="", resource_type="", expression="")
    out = []
    for table, row in _rows_for(sp, nodes):
        if table == "string":
            out.append({"text": row["value"]})
        elif table == "date":
            out.append({"dlow": row["low"], "dhigh": row["high"]})
        elif table == "reference":
            out.append({"system": row.get("target_type"), "code": row.get("target_id")})
        elif table == "uri":
            out.append({"code": row["value"]})
        else:
            out.append({k: v for k, v in row.items() if k in ("system", "code", "low", "high")})
    return out


def composite_rows(sp: SearchParam, resource: Mapping[str, Any], roots: list[Any]) -> list[dict[str, Any]]:
    """One group per root node; one row per component value; groups are numbered per parameter."""
    rows: list[dict[str, Any]] = []
    for grp, root in enumerate(roots):
        per_component = [_component_rows(c.type, c.evaluate(root, resource)) for c in sp.components]
        if any(not values for values in per_component):
            continue
        for comp, values in enumerate(per_component):
            for value in values:
                rows.append({"grp": grp, "comp": comp, **value})
    return rows


def extract(registry: Registry, resource: Mapping[str, Any]) -> Rows:
    """All index rows of one resource: ``{"token": [{"param": "code", "system": …}, …], …}``.

    Also fills ``compartment`` rows: the Patient compartments this resource belongs to.
    """
    rt = resource["resourceType"]
    rows: Rows = defaultdict(list)
    for sp in registry.params(rt).values():
        if sp.evaluate is None:
            continue
        try:
            nodes = sp.evaluate(resource)
            if not nodes:
                continue
            if sp.type == "composite":
                groups = [{"param": sp.code, **row} for row in composite_rows(sp, resource, nodes)]
                rows["composite"].extend(groups)
                continue
            seen: set[tuple[Any, ...]] = set()
            found: list[tuple[str, dict[str, Any]]] = []
            for table, row in _rows_for(sp, nodes):
                key = (table, *row.values())
                if key not in seen:
                    seen.add(key)
                    found.append((table, {"param": sp.code, **row}))
        except Exception as exc:  # noqa: BLE001 - one parameter that cannot be evaluated must not block the write
            _log_failure(rt, sp, exc)
            continue
        for table, row in found:
            rows[table].append(row)
    compartments: set[str] = set()
    if rt == "Patient" and resource.get("id"):
        compartments.add(resource["id"])
    # a Patient belongs to its own compartment only: ``Patient.link`` (the CompartmentDefinition's param) would put
    # a linked record in the other usager's compartment, and a link grants nothing to anybody (access policy)
    link_params = set() if rt == "Patient" else set(patient_compartment().get(rt, ()))
    for row in rows.get("reference", []):
        # only relative references make a resource part of a local Patient's compartment: an absolute URL
        # (https://elsewhere/fhir/Patient/1) names another server's patient, never ours
        if (row["param"] in link_params and row.get("target_type") == "Patient" and row.get("target_id")
                and "://" not in (row.get("url") or "")):
            compartments.add(row["target_id"])
    rows["compartment"] = [{"comp_type": "Patient", "comp_id": c} for c in sorted(compartments)]
    return dict(rows)


def _log_failure(rt: str, sp: SearchParam, exc: Exception) -> None:
    """A parameter whose expression fails on a resource indexes nothing for it; say so once per process."""
    key = (rt, sp.code, type(exc).__name__)
    if key in _FAILED:
        return
    _FAILED.add(key)
    log.warning("search parameter %s.%s (%s, %r) cannot be evaluated and is not indexed for this resource: %s: %s",
                rt, sp.code, sp.type, sp.expression, type(exc).__name__, exc)
