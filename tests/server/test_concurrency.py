"""Concurrency guarantees (https://hl7.org/fhir/R4/http.html#concurrency, #ccreate) against a real multi-process
server: conditional creates never duplicate, If-Match updates never lose an update."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def _usager(i: int = 0) -> dict[str, Any]:
    return {"resourceType": "Patient",
            "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "279035121518989"}],
            "name": [{"family": "Lefèvre", "given": ["Anaïs", f"Variante{i}"]}], "gender": "female"}


def test_parallel_conditional_creates_create_exactly_one(live_server: str) -> None:
    """50 parallel identical If-None-Exist POSTs give one 201 and 49 × 200, all with the same id."""
    headers = {**JSON, "If-None-Exist": "identifier=urn:oid:1.2.250.1.213.1.4.10|279035121518989"}

    def post(i: int) -> tuple[int, str]:
        with requests.Session() as s:
            r = s.post(f"{live_server}/Patient", json=_usager(i), headers=headers, timeout=60)
            return r.status_code, r.json()["id"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(post, range(50)))
    statuses = sorted(s for s, _ in results)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(200) == 49, statuses
    assert len({i for _, i in results}) == 1
    bundle = requests.get(f"{live_server}/Patient?identifier=279035121518989&_total=accurate", headers=JSON,
                          timeout=30).json()
    assert bundle["total"] == 1


def test_parallel_updates_with_same_if_match_lose_nothing(live_server: str) -> None:
    """Of 20 concurrent updates carrying If-Match W/"1", exactly one wins; the others get 412 (or 409)."""
    created = requests.post(f"{live_server}/Patient", json=_usager(), headers=JSON, timeout=30).json()
    pid = created["id"]

    def put(i: int) -> int:
        body = {**_usager(i), "id": pid, "birthDate": f"19{30 + i:02d}-01-01"}
        r = requests.put(f"{live_server}/Patient/{pid}", json=body, headers={**JSON, "If-Match": 'W/"1"'},
                         timeout=60)
        return r.status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(put, range(20)))
    assert statuses.count(200) == 1, statuses
    assert all(s in (200, 409, 412) for s in statuses), statuses
    history = requests.get(f"{live_server}/Patient/{pid}/_history", headers=JSON, timeout=30).json()
    assert history["total"] == 2  # the create and exactly one update
    current = requests.get(f"{live_server}/Patient/{pid}", headers=JSON, timeout=30)
    assert current.headers["ETag"] == 'W/"2"'


def test_parallel_transactions_with_conditional_create_do_not_duplicate(live_server: str) -> None:
    """The same transaction Bundle posted 10 times in parallel creates its Patient once."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "fullUrl": "urn:uuid:7f1c1c52-7c3e-4a53-9d0e-0c2a1d0b6a01",
        "resource": _usager(),
        "request": {"method": "POST", "url": "Patient",
                    "ifNoneExist": "identifier=urn:oid:1.2.250.1.213.1.4.10|279035121518989"}}, {
        "resource": {"resourceType": "Observation", "status": "final",
                     "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                     "subject": {"reference": "urn:uuid:7f1c1c52-7c3e-4a53-9d0e-0c2a1d0b6a01"},
                     "valueQuantity": {"value": 61.5, "unit": "kg", "system": "http://unitsofmeasure.org",
                                       "code": "kg"}},
        "request": {"method": "POST", "url": "Observation"}}]}

    def post(_: int) -> int:
        return requests.post(live_server, json=bundle, headers=JSON, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(post, range(10)))
    assert statuses == [200] * 10
    patients = requests.get(f"{live_server}/Patient?identifier=279035121518989&_total=accurate", headers=JSON,
                            timeout=30).json()
    assert patients["total"] == 1
    pid = patients["entry"][0]["resource"]["id"]
    observations = requests.get(f"{live_server}/Observation?subject=Patient/{pid}&_total=accurate",
                                headers=JSON, timeout=30).json()
    assert observations["total"] == 10
