"""Packaged official FHIR R4 (4.0.1) definitions, loaded lazily once per process.

- ``search-parameters.json``: the official SearchParameter bundle (https://hl7.org/fhir/R4/searchparameter-registry.html)
- ``compartmentdefinition-patient.json``: https://hl7.org/fhir/R4/compartmentdefinition-patient.html
- ``fhir.schema.json``: the official R4 JSON schema (https://hl7.org/fhir/R4/json.html#schema); gives element
  order, cardinality and the codes of required bindings (``enum``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFINITIONS = Path(__file__).parent / "definitions"


def load_json(name: str) -> Any:
    with open(DEFINITIONS / name, encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=1)
def json_schema() -> dict[str, Any]:
    data: dict[str, Any] = load_json("fhir.schema.json")
    return data


@lru_cache(maxsize=1)
def resource_types() -> frozenset[str]:
    """Every R4 resource type (from the JSON schema's discriminator mapping)."""
    mapping = json_schema()["discriminator"]["mapping"]
    return frozenset(mapping)


@lru_cache(maxsize=1)
def search_parameter_bundle() -> list[dict[str, Any]]:
    bundle = load_json("search-parameters.json")
    return [e["resource"] for e in bundle["entry"]]


@lru_cache(maxsize=1)
def patient_compartment() -> dict[str, tuple[str, ...]]:
    """Resource type -> names of the search parameters that place it in a Patient's compartment."""
    cd = load_json("compartmentdefinition-patient.json")
    out: dict[str, tuple[str, ...]] = {}
    for r in cd.get("resource", []):
        params = tuple(p for p in r.get("param", []) if p != "{def}")
        if params:
            out[r["code"]] = params
    return out
