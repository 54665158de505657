"""First HTTP-level checks of the core flows."""

from __future__ import annotations


def test_create_then_read_returns_same_resource(fhir):
    """A created Patient is read back with its id, version 1 and the ETag header."""
    created = fhir.create({"resourceType": "Patient", "name": [{"family": "Durand", "given": ["Hélène"]}]})
    resp = fhir.get(f"Patient/{created['id']}")
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"1"'
    body = resp.get_json()
    assert body["name"] == [{"family": "Durand", "given": ["Hélène"]}]
    assert body["meta"]["versionId"] == "1"


def test_string_search_is_accent_and_case_insensitive(fhir):
    """``name=helene`` finds Hélène, and not Marie."""
    helene = fhir.create({"resourceType": "Patient", "name": [{"family": "Durand", "given": ["Hélène"]}]})
    fhir.create({"resourceType": "Patient", "name": [{"family": "Martin", "given": ["Marie"]}]})
    assert fhir.ids("Patient?name=HELENE") == {helene["id"]}


def test_stored_json_keeps_resource_type_first_and_definition_order(fhir):
    """What comes back is in FHIR's element order on every database (PostgreSQL JSONB reorders keys)."""
    created = fhir.create({"resourceType": "Patient", "gender": "female", "birthDate": "1938-04-12",
                           "name": [{"given": ["Cécile"], "family": "Roux"}]})
    body = fhir.get(f"Patient/{created['id']}").get_json()
    assert list(body) == ["resourceType", "id", "meta", "name", "gender", "birthDate"]
    assert list(body["name"][0]) == ["family", "given"]
