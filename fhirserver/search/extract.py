"""Extraction of index values from a resource, per search-parameter *type*.

https://hl7.org/fhir/R4/search.html#ptypes: what each type matches in each FHIR data type
(string on HumanName/Address, token on Coding/CodeableConcept/Identifier/ContactPoint/code/boolean,
reference on Reference/canonical, date on date/dateTime/instant/Period/Timing, quantity on Quantity/Money/Range …).
The result is a plain mapping ``table -> rows``; storage decides how to write them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from fhirserver.fhir.definitions import patient_compartment
from fhirserver.search.registry import Registry, SearchParam
from fhirserver.search.values import MAX_DT, MAX_INDEX_LEN, MIN_DT, date_range, normalize_string

Rows = dict[str, list[dict[str, Any]]]

_STRING_KEYS = ("text", "family", "given", "prefix", "suffix", "line", "city", "district", "state",
                "postalCode", "country")


def _clip(value: str | None) -> str | None:
    return value[:MAX_INDEX_LEN] if value is not None else None


def parse_reference(ref: str) -> tuple[str | None, str | None, str | None]:
    """``Patient/1``, ``Patient/1/_history/2`` or ``http://x/fhir/Patient/1`` -> (type, id, version)."""
    head, _, version = ref.partition("/_history/")
    segments = head.split("/")
    if len(segments) >= 2 and segments[-2][:1].isupper() and segments[-2].isalpha() and segments[-1]:
        return segments[-2], segments[-1], version or None
    return None, None, None


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
    elif isinstance(node, str | int | float):
        yield None, str(node), None
    elif isinstance(node, dict):
        if "coding" in node or "text" in node and "value" not in node and "code" not in node:
            text = node.get("text")
            for coding in node.get("coding") or []:
                yield coding.get("system"), coding.get("code"), coding.get("display") or text
            if text and not node.get("coding"):
                yield None, None, text
        elif "value" in node and ("use" in node or "period" in node or "rank" in node or node.get("system") in
                                  ("phone", "fax", "email", "pager", "url", "sms", "other")):
            yield None, str(node["value"]), None  # ContactPoint
        elif "value" in node:  # Identifier
            type_text = (node.get("type") or {}).get("text")
            yield node.get("system"), str(node["value"]), type_text
        elif "code" in node:  # Coding
            yield node.get("system"), node.get("code"), node.get("display")


def date_values(node: Any) -> Iterator[tuple[datetime, datetime]]:
    if isinstance(node, str):
        try:
            yield date_range(node)
        except ValueError:
            return
    elif isinstance(node, dict):
        if "start" in node or "end" in node:  # Period
            low = date_range(node["start"])[0] if "start" in node else MIN_DT
            high = date_range(node["end"])[1] if "end" in node else MAX_DT
            yield low, high
        for event in node.get("event") or []:  # Timing
            yield from date_values(event)
        bounds = (node.get("repeat") or {}).get("boundsPeriod")
        if bounds:
            yield from date_values(bounds)


def number_values(node: Any) -> Iterator[tuple[float, float]]:
    if isinstance(node, bool):
        return
    if isinstance(node, int | float):
        yield float(node), float(node)
    elif isinstance(node, dict) and ("low" in node or "high" in node):  # Range
        low = (node.get("low") or {}).get("value")
        high = (node.get("high") or {}).get("value")
        yield (float(low) if low is not None else -1e308), (float(high) if high is not None else 1e308)


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
    value = node.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        code = node.get("code") or node.get("unit") or node.get("currency")
        system = node.get("system") or ("urn:iso:std:iso:4217" if "currency" in node else None)
        yield system, code, float(value), float(value)


def reference_values(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, str):  # canonical / uri
        rtype, rid, version = parse_reference(node.split("|")[0])
        yield {"target_type": rtype, "target_id": rid, "target_version": version, "url": _clip(node)}
    elif isinstance(node, dict):
        ref = node.get("reference")
        ident = node.get("identifier") or {}
        if isinstance(ref, str):
            rtype, rid, version = parse_reference(ref)
            yield {"target_type": rtype or node.get("type"), "target_id": rid, "target_version": version,
                   "url": _clip(ref), "ident_system": None, "ident_value": None}
        if ident.get("value"):
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
            for low, high in number_values(node):
                yield "number", {"low": low, "high": high}
        elif kind == "quantity":
            for system, code, low, high in quantity_values(node):
                yield "quantity", {"system": _clip(system), "code": _clip(code), "low": low, "high": high}
        elif kind == "reference":
            for row in reference_values(node):
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
        except Exception:  # an expression that fhirpathpy cannot evaluate on this instance indexes nothing
            continue
        if not nodes:
            continue
        if sp.type == "composite":
            for row in composite_rows(sp, resource, nodes):
                rows["composite"].append({"param": sp.code, **row})
            continue
        seen: set[tuple[Any, ...]] = set()
        for table, row in _rows_for(sp, nodes):
            key = (table, *row.values())
            if key in seen:
                continue
            seen.add(key)
            rows[table].append({"param": sp.code, **row})
    compartments: set[str] = set()
    if rt == "Patient" and resource.get("id"):
        compartments.add(resource["id"])
    link_params = set(patient_compartment().get(rt, ()))
    for row in rows.get("reference", []):
        if row["param"] in link_params and row.get("target_type") == "Patient" and row.get("target_id"):
            compartments.add(row["target_id"])
    rows["compartment"] = [{"comp_type": "Patient", "comp_id": c} for c in sorted(compartments)]
    return dict(rows)
