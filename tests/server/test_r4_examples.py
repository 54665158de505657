"""Conformance against the official R4 examples (``hl7.fhir.r4.examples`` 4.0.1, https://hl7.org/fhir/R4/downloads.html).

Selection: every resource of the package that ``fhir.resources.R4B`` parses, except the specification's own
*definitions*, which the package ships next to its examples: the StructureDefinition, SearchParameter, ValueSet,
CodeSystem, ConceptMap and OperationDefinition files (about 4,500: the registry the server is built from, not
examples) and the collection Bundles that only package such conformance resources (``Bundle/resources``,
``Bundle/dataelements``, ``Bundle/valuesets`` … up to 34 MB each). That leaves about 700 examples, the example
Bundles (documents, messages, transactions, search sets) included.

All are loaded once, into a fresh database, with PUT and their own ids (examples refer to each other by id), through
:func:`fhirserver.interactions.router.handle` (the code path of the HTTP API, without HTTP). Then, per example:

1. it was accepted (or is one of :data:`EXPECTED_REFUSALS`, each with the reason the server gives);
2. it reads back equal to the original (``meta.versionId`` / ``meta.lastUpdated`` aside, numbers by value);
3. it is found by ``_id`` and by one more of its own search parameters, whose value is derived from the
   example's own index rows (the registry's compiled expressions): token ``system|code``, string the first
   characters, reference ``Type/id`` (or the canonical URL), date ``eq`` on the day or ``ge``/``le`` around a
   longer range. The parameter type is rotated per example so that all four types are exercised.
"""

from __future__ import annotations

import copy
import json
import os
import tarfile
import zlib
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fhirserver.interactions.context import FhirRequest, FhirResponse
from fhirserver.interactions.router import handle
from fhirserver.search.extract import extract
from fhirserver.search.registry import COLUMN_PARAMS, default_registry
from fhirserver.search.values import MAX_DT, MIN_DT
from tests.conftest import wipe

EXAMPLES_TGZ = Path(os.environ.get("DUI_R4_EXAMPLES", "/work/shared/fhir/hl7.fhir.r4.examples-4.0.1.tgz"))
BASE = "http://test.local/fhir"

#: The specification's definitions, shipped in the examples package but not examples.
DEFINITION_TYPES = frozenset({"StructureDefinition", "SearchParameter", "ValueSet", "CodeSystem", "ConceptMap",
                              "OperationDefinition"})
#: A collection Bundle holding only these is a package of definitions (``Bundle/resources`` …), not an example.
CONFORMANCE_TYPES = DEFINITION_TYPES | {"CompartmentDefinition", "NamingSystem", "CapabilityStatement"}

#: Examples the server refuses, with (a fragment of) the reason it gives. The R4 examples are all valid against
#: the required bindings and the R4B models, so none is expected; a refusal that appears must be added here
#: with its reason, never hidden.
EXPECTED_REFUSALS: dict[str, str] = {}

#: Search parameter types a second search is derived for, in rotation.
SECOND_TYPES = ("token", "string", "reference", "date")

if not EXAMPLES_TGZ.is_file():
    pytest.skip(f"the R4 examples package is not available at {EXAMPLES_TGZ}", allow_module_level=True)

pytestmark = pytest.mark.slow  # about a minute: ~700 validated writes, ~2,100 reads and searches


def _is_definitions_bundle(resource: dict[str, Any]) -> bool:
    if resource.get("resourceType") != "Bundle" or resource.get("type") != "collection":
        return False
    types = {(e.get("resource") or {}).get("resourceType") for e in resource.get("entry") or []}
    return bool(types) and types <= CONFORMANCE_TYPES


_SELECTED: list[tuple[dict[str, Any], ...]] = []


def _candidates() -> list[tuple[str, dict[str, Any]]]:
    """(member name, resource) of the package, the definitions left out."""
    out: list[tuple[str, dict[str, Any]]] = []
    with tarfile.open(EXAMPLES_TGZ) as tar:
        for member in tar:
            name = member.name.removeprefix("package/")
            if not member.isfile() or "/" in name or not name.endswith(".json"):
                continue
            if name in ("package.json", ".index.json") or name.split("-", 1)[0] in DEFINITION_TYPES:
                continue  # the package names its files Type-id.json: no need to read 4,500 definitions
            fh = tar.extractfile(member)
            assert fh is not None
            resource = json.load(fh)
            rt = resource.get("resourceType") if isinstance(resource, dict) else None
            if not isinstance(rt, str) or rt in DEFINITION_TYPES or not isinstance(resource.get("id"), str):
                continue
            if not _is_definitions_bundle(resource):
                out.append((name, resource))
    return out


def _parses(resource: dict[str, Any]) -> bool:
    import fhir.resources.R4B as r4b

    try:
        r4b.get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except Exception:  # noqa: BLE001 - not parseable by the R4B models (R4-only types, invalid examples)
        return False
    return True


def examples(config: Any = None) -> tuple[dict[str, Any], ...]:
    """The selected examples, in package order, once per process.

    Parsing ~700 examples with the R4B models takes seconds, so the names of those that parse are kept in
    pytest's cache (keyed by the package file and the fhir.resources version) for the next collections.
    """
    if _SELECTED:
        return _SELECTED[0]
    import fhir.resources

    stat = EXAMPLES_TGZ.stat()
    stamp = f"{EXAMPLES_TGZ.name}:{stat.st_size}:{int(stat.st_mtime)}:{fhir.resources.__version__}:1"
    cache_ = getattr(config, "cache", None)
    known = cache_.get("dui/r4-examples", None) if cache_ is not None else None
    candidates = _candidates()
    if isinstance(known, dict) and known.get("stamp") == stamp:
        names = set(known["names"])
        selected = tuple(r for name, r in candidates if name in names)
    else:
        chosen = [(name, r) for name, r in candidates if _parses(r)]
        selected = tuple(r for _, r in chosen)
        if cache_ is not None:
            cache_.set("dui/r4-examples", {"stamp": stamp, "names": [name for name, _ in chosen]})
    _SELECTED.append(selected)
    return selected


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "resource" in metafunc.fixturenames:
        metafunc.parametrize("resource", [pytest.param(r, id=key(r)) for r in examples(metafunc.config)])


def key(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


# --- the second search parameter, derived from the example's own index rows ----------------------------

def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("$", "\\$").replace("|", "\\|")


def _day(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d")


def _query_value(kind: str, row: dict[str, Any]) -> list[str] | None:
    """The search value(s) (AND-ed) that must find the row, or None when this row cannot be searched plainly."""
    if kind == "token":
        if not row.get("code"):
            return None
        code = _escape(row["code"])
        return [f"{_escape(row['system'])}|{code}" if row.get("system") else code]
    if kind == "string":
        exact = (row.get("exact") or "").strip()
        if not exact or not row.get("value"):
            return None
        return [_escape(exact[:max(3, min(len(exact), 8))])]
    if kind == "reference":
        url = row.get("url") or ""
        if "://" in url or url.startswith("urn:"):  # absolute (another server), canonical: the URL itself
            return [_escape(url)]
        if row.get("target_type") and row.get("target_id"):
            return [f"{row['target_type']}/{_escape(row['target_id'])}"]
        return None
    if kind == "date":
        low, high = row["low"], row["high"]
        start = datetime(low.year, low.month, low.day)
        if high <= start + timedelta(days=1):
            return [f"eq{_day(low)}"]
        values = []
        if low != MIN_DT:
            values.append(f"ge{_day(low)}")
        if high != MAX_DT:
            values.append(f"le{_day(high - timedelta(microseconds=1))}")
        return values or None
    return None


@cache
def second_searches() -> dict[str, tuple[str, str, list[str]]]:
    """Example key -> (parameter type, code, values): one parameter of each example that has a value.

    Candidates are the example's own index rows (the registry's compiled expressions, as the server extracts
    them); the type is chosen by rotation (crc32 of the key) among the types the example has, the parameter
    and the row by the same rotation among that type's candidates.
    """
    registry = default_registry()
    out: dict[str, tuple[str, str, list[str]]] = {}
    for resource in examples():
        rows = extract(registry, resource)
        candidates: dict[str, list[tuple[str, list[str]]]] = {}
        params = registry.params(resource["resourceType"])
        for kind in SECOND_TYPES:
            for row in rows.get(kind, []):
                code = row["param"]
                if code in COLUMN_PARAMS or code.startswith("_") or params[code].type != kind:
                    continue
                values = _query_value(kind, row)
                if values:
                    candidates.setdefault(kind, []).append((code, values))
        if not candidates:
            continue
        k = key(resource)
        spin = zlib.crc32(k.encode())
        kinds = [t for t in SECOND_TYPES if t in candidates]
        kind = kinds[spin % len(kinds)]
        options = sorted(candidates[kind], key=lambda c: (c[0], c[1]))
        code, values = options[(spin // 7) % len(options)]
        out[k] = (kind, code, values)
    return out


# --- helpers -------------------------------------------------------------------------------------------

def _strip_meta(resource: dict[str, Any]) -> dict[str, Any]:
    out = dict(resource)
    meta = {k: v for k, v in (out.pop("meta", None) or {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        out["meta"] = meta
    return out


def difference(a: Any, b: Any, path: str = "") -> str | None:
    """The first path where ``a`` and ``b`` differ (numbers compared by value, booleans are no numbers)."""
    numbers = (int, float, Decimal)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return None if Decimal(str(a)) == Decimal(str(b)) else f"{path}: {a!r} != {b!r}"
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: present only in the {'original' if k in a else 'stored copy'}"
            found = difference(a[k], b[k], f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def _get(context: Any, path: str, params: list[tuple[str, str]] | None = None) -> FhirResponse:
    req = FhirRequest("GET", path, params=params or [], headers={"prefer": "handling=strict"}, base_url=BASE)
    return handle(req, context)


def _match_ids(context: Any, rt: str, params: list[tuple[str, str]]) -> list[str]:
    resp = _get(context, rt, [*params, ("_count", "1000")])
    assert resp.status == 200, json.dumps(resp.resource)[:2000]
    entries = resp.resource.get("entry", [])
    outcomes = [e["resource"] for e in entries if e["search"]["mode"] == "outcome"]
    assert not outcomes, outcomes
    return [e["resource"]["id"] for e in entries if e["search"]["mode"] == "match"]


def _outcome(resp: FhirResponse) -> str:
    issues = (resp.resource or {}).get("issue", []) if isinstance(resp.resource, dict) else []
    return f"{resp.status}: " + "; ".join(f"{(i.get('expression') or ['?'])[0]}: {i.get('diagnostics', '')}"
                                          for i in issues)


# --- fixture and tests ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def loaded(context: Any) -> dict[str, FhirResponse]:
    """Every example PUT once into an empty database; key -> the server's response."""
    wipe(context)
    responses: dict[str, FhirResponse] = {}
    for resource in examples():
        req = FhirRequest("PUT", key(resource), body=copy.deepcopy(resource), base_url=BASE,
                          headers={"prefer": "return=minimal"})
        responses[key(resource)] = handle(req, context)
    return responses


def test_selection_is_the_examples() -> None:
    """About 700 examples of about 120 resource types, the example Bundles included, no definitions."""
    selected = examples()
    types = Counter(r["resourceType"] for r in selected)
    assert 650 <= len(selected) <= 800, len(selected)
    assert len(types) >= 110, types
    assert 20 <= types["Bundle"] <= 40
    assert not DEFINITION_TYPES & set(types)
    assert len({key(r) for r in selected}) == len(selected)


def test_every_example_is_accepted(loaded: dict[str, FhirResponse]) -> None:
    """Every example is created (201); the refusals are exactly :data:`EXPECTED_REFUSALS`, for their reason."""
    refused = {k: _outcome(resp) for k, resp in loaded.items() if resp.status not in (200, 201)}
    assert set(refused) == set(EXPECTED_REFUSALS), refused
    for k, reason in EXPECTED_REFUSALS.items():
        assert reason in refused[k], (k, refused[k])
    assert all(resp.status == 201 for k, resp in loaded.items() if k not in refused)


def test_example(context: Any, loaded: dict[str, FhirResponse], resource: dict[str, Any]) -> None:
    """The example reads back unchanged, and is found by ``_id`` and by one more of its own parameters.

    One test per example (its key in the test id); every check runs and all failures are reported together.
    """
    k = key(resource)
    if k in EXPECTED_REFUSALS:
        pytest.skip(f"refused by design: {EXPECTED_REFUSALS[k]}")
    assert loaded[k].status == 201, _outcome(loaded[k])
    problems: list[str] = []

    resp = _get(context, k)
    if resp.status != 200:
        problems.append(f"read: {_outcome(resp)}")
    else:
        if resp.resource["meta"].get("versionId") != "1":
            problems.append(f"read: versionId {resp.resource['meta'].get('versionId')!r} != '1'")
        found = difference(_strip_meta(resource), _strip_meta(resp.resource), resource["resourceType"])
        if found:
            problems.append(f"read back differs at {found}")

    by_id = _match_ids(context, resource["resourceType"], [("_id", resource["id"])])
    if by_id != [resource["id"]]:
        problems.append(f"_id={resource['id']} found {by_id}")

    if k in second_searches():
        kind, code, values = second_searches()[k]
        params = [(code, v) for v in values]
        if resource["id"] not in _match_ids(context, resource["resourceType"], params):
            problems.append(f"not found by its {kind} parameter: {params}")
    assert not problems, problems


def test_second_parameter_coverage() -> None:
    """Nearly every example is searched by a second parameter, and all four types are exercised widely.

    The few without one only have parameters of other types (number, quantity, uri, composite) or none with a
    value (e.g. a Parameters or Binary example, a Bundle of type collection without identifier or timestamp).
    """
    searches = second_searches()
    kinds = Counter(kind for kind, _, _ in searches.values())
    print(f"\n{len(searches)} of {len(examples())} examples searched by a second parameter: {dict(kinds)}")
    assert len(searches) >= 0.95 * len(examples()), (len(searches), len(examples()))
    assert all(kinds[t] >= 50 for t in SECOND_TYPES), kinds
