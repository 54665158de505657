"""Canonical JSON property order (restores what PostgreSQL JSONB loses)."""

from __future__ import annotations

from fhirserver.fhir.order import canonical


def test_resource_type_id_meta_come_first_and_nested_elements_follow_the_definition():
    """Top-level and nested keys are put back in definition order, values untouched."""
    scrambled = {"name": [{"given": ["Hélène"], "family": "Dupont", "use": "official"}], "gender": "female",
                 "meta": {"lastUpdated": "2026-01-01T00:00:00Z", "versionId": "2"}, "id": "p1",
                 "resourceType": "Patient", "_gender": {"extension": []}}
    out = canonical(scrambled)
    assert list(out) == ["resourceType", "id", "meta", "name", "gender", "_gender"]
    assert list(out["meta"]) == ["versionId", "lastUpdated"]
    assert list(out["name"][0]) == ["use", "family", "given"]
    assert out == scrambled


def test_contained_and_bundle_resources_are_ordered_by_their_own_type():
    """Resources nested in contained and Bundle.entry are ordered as resources of their type."""
    bundle = {"entry": [{"resource": {"status": "final", "resourceType": "Observation",
                                      "code": {"text": "Poids"}}, "fullUrl": "urn:uuid:1"}],
              "type": "collection", "resourceType": "Bundle"}
    out = canonical(bundle)
    assert list(out) == ["resourceType", "type", "entry"]
    assert list(out["entry"][0]) == ["fullUrl", "resource"]
    assert list(out["entry"][0]["resource"]) == ["resourceType", "status", "code"]


def test_unknown_keys_are_kept_after_known_ones():
    """Keys the schema does not know are not dropped."""
    out = canonical({"zzz": 1, "resourceType": "Basic", "code": {"text": "x"}})
    assert list(out) == ["resourceType", "code", "zzz"]
