"""HTTP-level tests of ``GET /fhir/metadata``: the CapabilityStatement.

Spec: https://hl7.org/fhir/R4/http.html#capabilities, https://hl7.org/fhir/R4/capabilitystatement.html.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from fhirserver.fhir.definitions import resource_types

FHIR_NS = "{http://hl7.org/fhir}"


def statement(fhir: Any) -> dict[str, Any]:
    resp = fhir.get("metadata")
    assert resp.status_code == 200
    return resp.get_json()  # type: ignore[no-any-return]


def resource_entry(cs: dict[str, Any], rt: str) -> dict[str, Any]:
    (entry,) = [r for r in cs["rest"][0]["resource"] if r["type"] == rt]
    return entry


def test_metadata_is_a_capability_statement_for_r4(fhir):
    """/metadata answers a CapabilityStatement declaring FHIR 4.0.1 and server mode."""
    cs = statement(fhir)
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    assert cs["kind"] == "instance"
    assert cs["rest"][0]["mode"] == "server"


def test_metadata_declares_json_and_xml(fhir):
    """The format list names both FHIR JSON and FHIR XML."""
    formats = statement(fhir)["format"]
    assert "application/fhir+json" in formats
    assert "application/fhir+xml" in formats


def test_metadata_lists_every_resource_type(fhir):
    """rest.resource has one entry per R4 resource type."""
    types = [r["type"] for r in statement(fhir)["rest"][0]["resource"]]
    assert len(types) == len(set(types))
    assert set(types) == set(resource_types())
    assert len(types) >= 145


def test_patient_search_params_include_name_birthdate_identifier(fhir):
    """The Patient entry declares the name, birthdate and identifier search parameters with their types."""
    params = {p["name"]: p["type"] for p in resource_entry(statement(fhir), "Patient")["searchParam"]}
    assert params["name"] == "string"
    assert params["birthdate"] == "date"
    assert params["identifier"] == "token"


def test_patient_declares_everything_operation(fhir):
    """The Patient entry declares $everything with its official definition."""
    ops = {o["name"]: o["definition"] for o in resource_entry(statement(fhir), "Patient")["operation"]}
    assert ops["everything"] == "http://hl7.org/fhir/OperationDefinition/Patient-everything"
    assert "validate" in ops


def test_everything_is_declared_on_patient_only(fhir):
    """No other resource type claims $everything (the router refuses it elsewhere)."""
    cs = statement(fhir)
    claiming = [r["type"] for r in cs["rest"][0]["resource"]
                if any(o["name"] == "everything" for o in r.get("operation", []))]
    assert claiming == ["Patient"]


def test_patient_interactions_and_conditionals(fhir):
    """The Patient entry declares CRUD, history, versioned updates and conditional interactions."""
    patient = resource_entry(statement(fhir), "Patient")
    codes = {i["code"] for i in patient["interaction"]}
    assert {"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create",
            "search-type"} <= codes
    assert patient["versioning"] == "versioned-update"
    assert patient["conditionalCreate"] is True
    assert patient["conditionalUpdate"] is True
    assert patient["conditionalDelete"] == "single"


def test_system_interactions(fhir):
    """rest.interaction declares transaction, batch, search-system and history-system."""
    codes = {i["code"] for i in statement(fhir)["rest"][0]["interaction"]}
    assert {"transaction", "batch", "search-system", "history-system"} <= codes


def test_metadata_parses_with_fhir_resources_model(fhir):
    """The CapabilityStatement is valid for the fhir.resources R4B CapabilityStatement model."""
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    cs = CapabilityStatement.model_validate(statement(fhir))
    assert cs.fhirVersion == "4.0.1"
    assert any(r.type == "Patient" for r in cs.rest[0].resource)


def test_metadata_passes_server_validation(fhir):
    """The CapabilityStatement passes the server's own $validate."""
    outcome = fhir.post("CapabilityStatement/$validate", statement(fhir)).get_json()
    assert [i["severity"] for i in outcome["issue"]] == ["information"], outcome


def test_metadata_in_xml(client):
    """/metadata?_format=xml answers an XML CapabilityStatement with fhirVersion 4.0.1."""
    resp = client.get("/fhir/metadata?_format=xml")
    assert resp.status_code == 200
    assert resp.content_type.startswith("application/fhir+xml")
    root = etree.fromstring(resp.get_data())
    assert root.tag == FHIR_NS + "CapabilityStatement"
    assert root.find(FHIR_NS + "fhirVersion").get("value") == "4.0.1"


def test_metadata_with_accept_xml(client):
    """/metadata with Accept: application/fhir+xml answers XML."""
    resp = client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"})
    assert etree.fromstring(resp.get_data()).tag == FHIR_NS + "CapabilityStatement"


def test_metadata_implementation_url_is_the_base(fhir):
    """implementation.url is the FHIR base URL of the server."""
    assert statement(fhir)["implementation"]["url"].endswith("/fhir")


def test_declared_patient_search_params_really_work(fhir):
    """Searching with a declared parameter (birthdate) under strict handling is accepted (no 400)."""
    resp = fhir.get("Patient?birthdate=1936", headers={"Prefer": "handling=strict"})
    assert resp.status_code == 200
