"""HTTP-level tests of history (instance, type, system) with ``_since``, ``_at``, ``_count`` and paging.

Spec: https://hl7.org/fhir/R4/http.html#history.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlsplit


def resident(family: str, given: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family, "given": [given]}], "gender": "female",
            "birthDate": "1929-11-30", "address": [{"city": "Saumur", "postalCode": "49400", "country": "FR"}]}


def ehpad(name: str) -> dict[str, Any]:
    return {"resourceType": "Organization", "name": name,
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "490001234"}],
            "type": [{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/"
                                            "TRE-R66-CategorieEtablissement", "code": "500",
                                  "display": "EHPAD"}]}]}


def tick() -> None:
    """Let the millisecond clock move so that consecutive writes get distinct lastUpdated values."""
    time.sleep(0.015)


def get_url(fhir: Any, url: str) -> Any:
    parts = urlsplit(url)
    path = parts.path.split("/fhir/", 1)[1]
    return fhir.get(path + ("?" + parts.query if parts.query else ""))


def walk(fhir: Any, first: str) -> list[dict[str, Any]]:
    """Every page of a history, following next links; returns the pages."""
    pages = []
    resp = fhir.get(first)
    while True:
        assert resp.status_code == 200, resp.get_data(as_text=True)
        page = resp.get_json()
        pages.append(page)
        nxt = [link["url"] for link in page.get("link", []) if link["relation"] == "next"]
        if not nxt:
            return pages
        assert len(pages) < 50, "next links never end"
        resp = get_url(fhir, nxt[0])


def versions(bundle: dict[str, Any]) -> list[str]:
    return [e["response"]["etag"] for e in bundle.get("entry", [])]


def make_three_versions(fhir: Any) -> dict[str, Any]:
    created = fhir.create(resident("Roux", "Odette"))
    tick()
    fhir.put(f"Patient/{created['id']}", {**created, "active": True})
    tick()
    fhir.put(f"Patient/{created['id']}", {**created, "active": False})
    return created


def test_instance_history_lists_versions_newest_first(fhir):
    """Instance history is a history Bundle with versions 3, 2, 1 in that order."""
    created = make_three_versions(fhir)
    bundle = fhir.get(f"Patient/{created['id']}/_history").get_json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "history"
    assert bundle["total"] == 3
    assert versions(bundle) == ['W/"3"', 'W/"2"', 'W/"1"']
    assert [e["resource"]["meta"]["versionId"] for e in bundle["entry"]] == ["3", "2", "1"]


def test_instance_history_entries_have_request_and_response(fhir):
    """Each entry carries request.method/url, response.status and a fullUrl."""
    created = make_three_versions(fhir)
    entries = fhir.get(f"Patient/{created['id']}/_history").get_json()["entry"]
    assert entries[-1]["request"] == {"method": "POST", "url": "Patient"}
    assert entries[0]["request"] == {"method": "PUT", "url": f"Patient/{created['id']}"}
    assert entries[-1]["response"]["status"].startswith("201")
    assert entries[0]["response"]["status"].startswith("200")
    assert all(e["fullUrl"].endswith(f"/Patient/{created['id']}") for e in entries)


def test_instance_history_of_unknown_resource_is_404(fhir):
    """History of an id that never existed answers 404."""
    assert fhir.get("Patient/inconnu/_history").status_code == 404


def test_instance_history_since_excludes_older_versions(fhir):
    """_since keeps only the versions updated at or after the given instant."""
    created = fhir.create(resident("Roux", "Odette"))
    tick()
    v2 = fhir.put(f"Patient/{created['id']}", {**created, "active": True}).get_json()
    tick()
    fhir.put(f"Patient/{created['id']}", {**created, "active": False})
    since = quote(v2["meta"]["lastUpdated"])
    bundle = fhir.get(f"Patient/{created['id']}/_history?_since={since}").get_json()
    assert versions(bundle) == ['W/"3"', 'W/"2"']


def test_instance_history_since_in_the_future_is_empty(fhir):
    """_since after every write gives an empty history."""
    created = make_three_versions(fhir)
    bundle = fhir.get(f"Patient/{created['id']}/_history?_since=2999-01-01T00:00:00Z").get_json()
    assert bundle.get("entry", []) == []


def test_instance_history_at_returns_the_version_current_then(fhir):
    """_at an instant between version 2 and 3 returns version 2 only."""
    created = fhir.create(resident("Roux", "Odette"))
    tick()
    v2 = fhir.put(f"Patient/{created['id']}", {**created, "active": True}).get_json()
    tick()
    fhir.put(f"Patient/{created['id']}", {**created, "active": False})
    at = quote(v2["meta"]["lastUpdated"])
    bundle = fhir.get(f"Patient/{created['id']}/_history?_at={at}").get_json()
    assert versions(bundle) == ['W/"2"']


def test_history_with_invalid_since_is_400(fhir):
    """A _since value that is not an instant is a client error."""
    created = fhir.create(resident("Roux", "Odette"))
    assert fhir.get(f"Patient/{created['id']}/_history?_since=hier").status_code == 400


def test_history_with_zero_count_is_400(fhir):
    """_count=0 is refused for history."""
    created = fhir.create(resident("Roux", "Odette"))
    assert fhir.get(f"Patient/{created['id']}/_history?_count=0").status_code == 400


def test_instance_history_count_pages_through_all_versions(fhir):
    """_count=2 over 5 versions gives pages of 2, 2, 1 linked by next links, each version once."""
    created = fhir.create(resident("Roux", "Odette"))
    for i in range(4):
        fhir.put(f"Patient/{created['id']}", {**created, "telecom": [{"system": "phone", "value": f"02 41 0{i}"}]})
    pages = walk(fhir, f"Patient/{created['id']}/_history?_count=2")
    assert [len(p["entry"]) for p in pages] == [2, 2, 1]
    assert [v for p in pages for v in versions(p)] == [f'W/"{n}"' for n in (5, 4, 3, 2, 1)]


def test_history_next_link_keeps_since_and_count(fhir):
    """The next link of a history page repeats _since and _count."""
    created = make_three_versions(fhir)
    bundle = fhir.get(f"Patient/{created['id']}/_history?_count=1&_since=2000-01-01").get_json()
    nxt = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    assert "_count=1" in nxt
    assert "_since=2000-01-01" in nxt


def test_type_history_covers_only_that_type(fhir):
    """Patient/_history lists the residents' versions and not the Organization."""
    a = fhir.create(resident("Roux", "Odette"))
    b = fhir.create(resident("Blanc", "Lucien"))
    fhir.create(ehpad("EHPAD Les Tilleuls"))
    bundle = fhir.get("Patient/_history").get_json()
    assert bundle["total"] == 2
    assert {e["resource"]["id"] for e in bundle["entry"]} == {a["id"], b["id"]}
    assert all(e["resource"]["resourceType"] == "Patient" for e in bundle["entry"])


def test_type_history_since_filters_older_writes(fhir):
    """Patient/_history?_since= excludes residents last written before the instant."""
    fhir.create(resident("Roux", "Odette"))
    tick()
    later = fhir.create(resident("Blanc", "Lucien"))
    since = quote(later["meta"]["lastUpdated"])
    bundle = fhir.get(f"Patient/_history?_since={since}").get_json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [later["id"]]


def test_type_history_paging_walks_to_the_end(fhir):
    """Patient/_history?_count=3 over 7 residents is walked completely through next links."""
    ids = {fhir.create(resident("Roux", f"Odette{i}"))["id"] for i in range(7)}
    pages = walk(fhir, "Patient/_history?_count=3")
    seen = [e["resource"]["id"] for p in pages for e in p["entry"]]
    assert len(pages) == 3
    assert sorted(seen) == sorted(ids)


def test_system_history_covers_every_type(fhir):
    """/_history lists writes of Patients and Organizations together, newest first."""
    fhir.create(resident("Roux", "Odette"))
    tick()
    org = fhir.create(ehpad("EHPAD Les Tilleuls"))
    bundle = fhir.get("_history").get_json()
    assert bundle["total"] == 2
    assert bundle["entry"][0]["resource"]["id"] == org["id"]
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"Patient", "Organization"}


def test_system_history_since_and_paging(fhir):
    """/_history?_since=…&_count=2 pages through exactly the writes after the instant."""
    fhir.create(resident("Roux", "Odette"))
    tick()
    first_late = fhir.create(ehpad("EHPAD Les Tilleuls"))
    later = [fhir.create(resident("Blanc", f"Lucien{i}"))["id"] for i in range(4)]
    since = quote(first_late["meta"]["lastUpdated"])
    pages = walk(fhir, f"_history?_since={since}&_count=2")
    seen = [e["resource"]["id"] for p in pages for e in p["entry"]]
    assert sorted(seen) == sorted([first_late["id"], *later])
    assert all(p["total"] == 5 for p in pages)


def test_system_history_at_shows_state_at_instant(fhir):
    """/_history?_at= returns, per resource, only the version current at that instant."""
    a = fhir.create(resident("Roux", "Odette"))
    tick()
    a2 = fhir.put(f"Patient/{a['id']}", {**a, "active": True}).get_json()
    tick()
    fhir.put(f"Patient/{a['id']}", {**a, "active": False})
    tick()
    fhir.create(ehpad("EHPAD Les Tilleuls"))
    bundle = fhir.get(f"_history?_at={quote(a2['meta']['lastUpdated'])}").get_json()
    assert [(e["resource"]["resourceType"], e["response"]["etag"]) for e in bundle["entry"]] == \
        [("Patient", 'W/"2"')]


def test_system_history_includes_deletions(fhir):
    """A deletion appears in system history as a DELETE entry."""
    a = fhir.create(resident("Roux", "Odette"))
    fhir.delete(f"Patient/{a['id']}")
    entries = fhir.get("_history").get_json()["entry"]
    assert entries[0]["request"] == {"method": "DELETE", "url": f"Patient/{a['id']}"}
    assert entries[0]["response"]["status"].startswith("204")
