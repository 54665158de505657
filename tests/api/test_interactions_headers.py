"""HTTP-level tests of version-aware headers: If-Match, If-None-Match, If-Modified-Since and Prefer.

Spec: https://hl7.org/fhir/R4/http.html#concurrency, #cread, #ops (Prefer: return=…).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

JSON_PATCH = "application/json-patch+json"


def resident(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient",
            "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "248027512341187"}],
            "name": [{"family": "Girard", "given": ["Yvonne"]}], "gender": "female",
            "birthDate": "1931-02-03", **extra}


def http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def last_updated(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["meta"]["lastUpdated"].replace("Z", "+00:00"))


# --- If-Match --------------------------------------------------------------------------------------

def test_update_with_matching_if_match_succeeds(fhir):
    """PUT with If-Match equal to the current version succeeds with version 2."""
    created = fhir.create(resident())
    resp = fhir.put(f"Patient/{created['id']}", {**created, "active": True}, headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"2"'


def test_update_with_stale_if_match_is_412(fhir):
    """PUT with If-Match of an older version answers 412 and leaves the resource unchanged."""
    created = fhir.create(resident())
    fhir.put(f"Patient/{created['id']}", {**created, "active": True})
    resp = fhir.put(f"Patient/{created['id']}", {**created, "active": False}, headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 412
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    current = fhir.get(f"Patient/{created['id']}")
    assert current.headers["ETag"] == 'W/"2"'
    assert current.get_json()["active"] is True


def test_if_match_without_weak_prefix_is_accepted(fhir):
    """A strong-looking ETag ``"1"`` is compared on the version number as well."""
    created = fhir.create(resident())
    resp = fhir.put(f"Patient/{created['id']}", {**created, "active": True}, headers={"If-Match": '"1"'})
    assert resp.status_code == 200


def test_update_as_create_with_if_match_is_412(fhir):
    """If-Match on a PUT to a new id fails: there is no current version to match."""
    resp = fhir.put("Patient/nouveau-resident", resident(id="nouveau-resident"), headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 412
    assert fhir.get("Patient/nouveau-resident").status_code == 404


def test_malformed_if_match_is_400(fhir):
    """An If-Match value that holds no version number is a client error."""
    created = fhir.create(resident())
    resp = fhir.put(f"Patient/{created['id']}", {**created, "active": True}, headers={"If-Match": "abc"})
    assert resp.status_code == 400


def test_patch_with_stale_if_match_is_412(fhir):
    """PATCH honours If-Match: a stale version answers 412 and nothing changes."""
    created = fhir.create(resident())
    fhir.put(f"Patient/{created['id']}", {**created, "active": True})
    ops = [{"op": "replace", "path": "/active", "value": False}]
    resp = fhir.patch(f"Patient/{created['id']}", ops, content_type=JSON_PATCH, headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 412
    assert fhir.get(f"Patient/{created['id']}").get_json()["active"] is True


def test_patch_with_matching_if_match_succeeds(fhir):
    """PATCH with If-Match of the current version applies the patch."""
    created = fhir.create(resident())
    ops = [{"op": "add", "path": "/active", "value": True}]
    resp = fhir.patch(f"Patient/{created['id']}", ops, content_type=JSON_PATCH, headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 200
    assert resp.get_json()["active"] is True


def test_delete_with_stale_if_match_is_412(fhir):
    """DELETE with If-Match of an older version answers 412 and the resource survives."""
    created = fhir.create(resident())
    fhir.put(f"Patient/{created['id']}", {**created, "active": True})
    resp = fhir.delete(f"Patient/{created['id']}", headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 412
    assert fhir.get(f"Patient/{created['id']}").status_code == 200


def test_delete_with_matching_if_match_deletes(fhir):
    """DELETE with If-Match of the current version deletes the resource."""
    created = fhir.create(resident())
    assert fhir.delete(f"Patient/{created['id']}", headers={"If-Match": 'W/"1"'}).status_code == 204
    assert fhir.get(f"Patient/{created['id']}").status_code == 410


# --- If-None-Match / If-Modified-Since --------------------------------------------------------------

def test_read_with_current_if_none_match_is_304(fhir):
    """GET with If-None-Match equal to the current ETag answers 304 without body."""
    created = fhir.create(resident())
    resp = fhir.get(f"Patient/{created['id']}", headers={"If-None-Match": 'W/"1"'})
    assert resp.status_code == 304
    assert resp.get_data() == b""
    assert resp.headers["ETag"] == 'W/"1"'


def test_read_with_old_if_none_match_is_200(fhir):
    """GET with If-None-Match of an older version answers 200 with the current version."""
    created = fhir.create(resident())
    fhir.put(f"Patient/{created['id']}", {**created, "active": True})
    resp = fhir.get(f"Patient/{created['id']}", headers={"If-None-Match": 'W/"1"'})
    assert resp.status_code == 200
    assert resp.get_json()["meta"]["versionId"] == "2"


def test_read_with_later_if_modified_since_is_304(fhir):
    """GET with If-Modified-Since after the last update answers 304."""
    created = fhir.create(resident())
    since = last_updated(created) + timedelta(minutes=5)
    resp = fhir.get(f"Patient/{created['id']}", headers={"If-Modified-Since": http_date(since)})
    assert resp.status_code == 304


def test_read_with_earlier_if_modified_since_is_200(fhir):
    """GET with If-Modified-Since before the last update answers 200 with the resource."""
    created = fhir.create(resident())
    since = last_updated(created) - timedelta(minutes=5)
    resp = fhir.get(f"Patient/{created['id']}", headers={"If-Modified-Since": http_date(since)})
    assert resp.status_code == 200
    assert resp.get_json()["id"] == created["id"]


def test_read_with_its_own_last_modified_is_304(fhir):
    """Echoing the Last-Modified header back in If-Modified-Since answers 304."""
    created = fhir.create(resident())
    first = fhir.get(f"Patient/{created['id']}")
    resp = fhir.get(f"Patient/{created['id']}", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert resp.status_code == 304


# --- Prefer ----------------------------------------------------------------------------------------

def test_create_with_prefer_minimal_has_no_body(fhir):
    """Prefer: return=minimal answers 201 with headers and an empty body."""
    resp = fhir.post("Patient", resident(), headers={"Prefer": "return=minimal"})
    assert resp.status_code == 201
    assert resp.get_data() == b""
    assert "/Patient/" in resp.headers["Location"]
    assert resp.headers["ETag"] == 'W/"1"'


def test_create_with_prefer_representation_returns_resource(fhir):
    """Prefer: return=representation answers the stored resource."""
    resp = fhir.post("Patient", resident(), headers={"Prefer": "return=representation"})
    assert resp.status_code == 201
    assert resp.get_json()["resourceType"] == "Patient"
    assert resp.get_json()["meta"]["versionId"] == "1"


def test_create_with_prefer_operation_outcome_returns_outcome(fhir):
    """Prefer: return=OperationOutcome answers an informational OperationOutcome."""
    resp = fhir.post("Patient", resident(), headers={"Prefer": "return=OperationOutcome"})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "information"


def test_update_with_prefer_minimal_has_no_body(fhir):
    """An update with Prefer: return=minimal answers 200 with the new ETag and no body."""
    created = fhir.create(resident())
    resp = fhir.put(f"Patient/{created['id']}", {**created, "active": True}, headers={"Prefer": "return=minimal"})
    assert resp.status_code == 200
    assert resp.get_data() == b""
    assert resp.headers["ETag"] == 'W/"2"'


def test_patch_with_prefer_operation_outcome(fhir):
    """A patch with Prefer: return=OperationOutcome answers an OperationOutcome, and the patch is applied."""
    created = fhir.create(resident())
    ops = [{"op": "add", "path": "/active", "value": True}]
    resp = fhir.patch(f"Patient/{created['id']}", ops, content_type=JSON_PATCH,
                      headers={"Prefer": "return=OperationOutcome"})
    assert resp.status_code == 200
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert fhir.get(f"Patient/{created['id']}").get_json()["active"] is True


def test_head_read_has_headers_and_no_body(fhir, client):
    """HEAD on a resource answers 200 with its ETag and no body."""
    created = fhir.create(resident())
    resp = client.head(f"/fhir/Patient/{created['id']}", headers={"Accept": "application/fhir+json"})
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.get_data() == b""
