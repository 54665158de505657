"""HTTP-level tests of structural validation on writes: unknown elements, wrong types, required bindings,
missing required elements. Each refusal is a 4xx OperationOutcome whose issue names the element, and
nothing is written.

Spec: https://hl7.org/fhir/R4/validation.html, https://hl7.org/fhir/R4/http.html#create (422 / 400).
"""

from __future__ import annotations

from typing import Any


def resident(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient",
            "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "151027512343365"}],
            "name": [{"family": "Mercier", "given": ["Albert"]}], "gender": "male",
            "birthDate": "1951-02-11", **extra}


def temperature(patient_ref: str = "Patient/exemple", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5", "display": "Body temperature"}]},
            "subject": {"reference": patient_ref}, "effectiveDateTime": "2024-02-01T07:45:00+01:00",
            "valueQuantity": {"value": 37.8, "unit": "°C", "system": "http://unitsofmeasure.org", "code": "Cel"},
            **extra}


def refused(resp: Any) -> list[dict[str, Any]]:
    """The issues of a refusal, asserting a 400/422 OperationOutcome with error severity."""
    assert resp.status_code in (400, 422), resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert any(i["severity"] in ("error", "fatal") for i in body["issue"])
    return body["issue"]


def expressions(issues: list[dict[str, Any]]) -> list[str]:
    return [e for i in issues for e in i.get("expression", [])]


def stored_count(fhir: Any, rt: str) -> int:
    return len(fhir.search(f"{rt}?_count=100"))


def test_unknown_element_is_refused_and_named(fhir):
    """A Patient with an element FHIR does not define is refused; the issue names Patient.chambre."""
    issues = refused(fhir.post("Patient", resident(chambre="112")))
    assert "Patient.chambre" in expressions(issues)
    assert stored_count(fhir, "Patient") == 0


def test_unknown_nested_element_is_named_with_its_path(fhir):
    """An unknown element inside name[0] is named Patient.name[0].surnom."""
    issues = refused(fhir.post("Patient", resident(name=[{"family": "Mercier", "surnom": "Bébert"}])))
    assert "Patient.name[0].surnom" in expressions(issues)
    assert stored_count(fhir, "Patient") == 0


def test_wrong_type_is_refused_and_named(fhir):
    """``active: "oui"`` (a string for a boolean) is refused naming Patient.active."""
    issues = refused(fhir.post("Patient", resident(active="oui")))
    assert any(e.startswith("Patient.active") for e in expressions(issues))
    assert stored_count(fhir, "Patient") == 0


def test_repeating_element_given_as_object_is_refused(fhir):
    """``name`` given as an object instead of a list is refused naming Patient.name."""
    issues = refused(fhir.post("Patient", resident(name={"family": "Mercier"})))
    assert any(e.startswith("Patient.name") for e in expressions(issues))
    assert stored_count(fhir, "Patient") == 0


def test_bad_date_is_refused_and_named(fhir):
    """A birthDate that is not a FHIR date is refused naming Patient.birthDate."""
    issues = refused(fhir.post("Patient", resident(birthDate="11/02/1951")))
    assert any(e.startswith("Patient.birthDate") for e in expressions(issues))
    assert stored_count(fhir, "Patient") == 0


def test_bad_required_code_is_refused_and_named(fhir):
    """``gender: bogus`` violates the required binding; the issue names Patient.gender."""
    issues = refused(fhir.post("Patient", resident(gender="bogus")))
    assert "Patient.gender" in expressions(issues)
    assert stored_count(fhir, "Patient") == 0


def test_bad_required_code_in_nested_element_is_named(fhir):
    """A bad ContactPoint.system code is named Patient.telecom[0].system."""
    issues = refused(fhir.post("Patient", resident(telecom=[{"system": "pigeon", "value": "x"}])))
    assert "Patient.telecom[0].system" in expressions(issues)
    assert stored_count(fhir, "Patient") == 0


def test_missing_required_element_is_refused_and_named(fhir):
    """An Observation without code is refused; the issue names Observation.code."""
    obs = temperature()
    del obs["code"]
    issues = refused(fhir.post("Observation", obs))
    assert "Observation.code" in expressions(issues)
    assert stored_count(fhir, "Observation") == 0


def test_missing_status_is_refused_and_named(fhir):
    """An Observation without status is refused naming Observation.status."""
    obs = temperature()
    del obs["status"]
    issues = refused(fhir.post("Observation", obs))
    assert "Observation.status" in expressions(issues)


def test_bad_observation_status_is_refused(fhir):
    """Observation.status must come from the required ObservationStatus value set."""
    issues = refused(fhir.post("Observation", temperature(status="validée")))
    assert "Observation.status" in expressions(issues)
    assert stored_count(fhir, "Observation") == 0


def test_several_problems_are_all_reported(fhir):
    """Two errors in one resource give (at least) two issues naming both elements."""
    issues = refused(fhir.post("Patient", resident(gender="bogus", chambre="12")))
    found = expressions(issues)
    assert "Patient.gender" in found
    assert "Patient.chambre" in found


def test_missing_resource_type_is_refused(fhir):
    """A JSON object without resourceType is refused."""
    body = resident()
    del body["resourceType"]
    refused(fhir.post("Patient", body))
    assert stored_count(fhir, "Patient") == 0


def test_invalid_update_is_refused_and_keeps_the_version(fhir):
    """An update with a bad gender is refused and the stored resource stays at version 1."""
    created = fhir.create(resident())
    issues = refused(fhir.put(f"Patient/{created['id']}", {**created, "gender": "bogus"}))
    assert "Patient.gender" in expressions(issues)
    current = fhir.get(f"Patient/{created['id']}")
    assert current.headers["ETag"] == 'W/"1"'
    assert current.get_json()["gender"] == "male"


def test_invalid_conditional_update_creates_nothing(fhir):
    """A conditional update with an invalid body neither creates nor updates anything."""
    resp = fhir.put("Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|151027512343365", resident(gender="bogus"))
    refused(resp)
    assert stored_count(fhir, "Patient") == 0


def test_contained_resource_is_validated(fhir):
    """An error inside a contained Practitioner is reported (and nothing is stored)."""
    body = resident(contained=[{"resourceType": "Practitioner", "id": "med", "gender": "bogus"}],
                    generalPractitioner=[{"reference": "#med"}])
    issues = refused(fhir.post("Patient", body))
    assert any("contained" in e and "gender" in e for e in expressions(issues))
    assert stored_count(fhir, "Patient") == 0


def test_empty_string_is_refused(fhir):
    """FHIR strings may not be empty (https://hl7.org/fhir/R4/json.html); Patient.name[0].family is named."""
    issues = refused(fhir.post("Patient", resident(name=[{"family": ""}])))
    assert any(e.startswith("Patient.name[0].family") for e in expressions(issues))
    assert stored_count(fhir, "Patient") == 0


def test_valid_care_home_observation_is_accepted(fhir):
    """The well-formed temperature Observation used above is accepted (guarding the negative tests)."""
    patient = fhir.create(resident())
    assert fhir.post("Observation", temperature(f"Patient/{patient['id']}")).status_code == 201
