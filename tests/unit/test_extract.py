"""Index-row extraction per search-parameter type (https://hl7.org/fhir/R4/search.html#ptypes), on the official
R4 parameters of the registry: strings, tokens, dates, quantities, references, composites, compartments.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.models import models as fhirpath_models

from fhirserver.fhir.definitions import search_parameter_bundle
from fhirserver.search.extract import (
    extract,
    number_values,
    parse_reference,
    quantity_values,
    token_values,
)
from fhirserver.search.registry import Registry, default_registry, split_union
from fhirserver.search.values import MAX_DT, MIN_DT


def rows(resource: dict[str, Any], table: str, param: str) -> list[dict[str, Any]]:
    """The ``table`` rows of ``param`` (without the ``param`` key)."""
    out = extract(default_registry(), resource).get(table, [])
    return [{k: v for k, v in r.items() if k != "param"} for r in out if r["param"] == param]


def tokens(resource: dict[str, Any], param: str) -> set[tuple[Any, Any]]:
    return {(r["system"], r["code"]) for r in rows(resource, "token", param)}


def refs(resource: dict[str, Any], param: str) -> set[tuple[Any, Any]]:
    return {(r["target_type"], r["target_id"]) for r in rows(resource, "reference", param)}


# --- string -------------------------------------------------------------------------------------------

def test_human_name_parts_are_normalised_without_accents() -> None:
    patient = {"resourceType": "Patient", "name": [
        {"family": "Müller-DURAND", "given": ["Hélène", "Zoë"], "prefix": ["Mme"], "text": "Hélène  Müller"}]}
    values = {r["value"] for r in rows(patient, "string", "name")}
    assert values == {"muller-durand", "helene", "zoe", "mme", "helene muller"}
    assert {r["exact"] for r in rows(patient, "string", "family")} == {"Müller-DURAND"}
    assert {r["value"] for r in rows(patient, "string", "given")} == {"helene", "zoe"}


def test_address_parts_are_strings_and_use_is_a_token() -> None:
    patient = {"resourceType": "Patient", "address": [
        {"use": "home", "line": ["12 rue de l'Église"], "city": "Saint-Étienne", "postalCode": "42000",
         "country": "France"}]}
    values = {r["value"] for r in rows(patient, "string", "address")}
    assert values == {"12 rue de l'eglise", "saint-etienne", "42000", "france"}
    assert {r["value"] for r in rows(patient, "string", "address-city")} == {"saint-etienne"}
    assert tokens(patient, "address-use") == {(None, "home")}


# --- token --------------------------------------------------------------------------------------------

def test_identifier_token_keeps_system_value_and_type_text() -> None:
    """An Identifier with ``use`` is no ContactPoint: its system is kept (it was lost once)."""
    patient = {"resourceType": "Patient", "identifier": [
        {"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.8", "value": "2990175123456",
         "type": {"text": "NIR"}},
        {"value": "no-system"}]}
    found = rows(patient, "token", "identifier")
    assert {(r["system"], r["code"], r["text"]) for r in found} == {
        ("urn:oid:1.2.250.1.213.1.4.8", "2990175123456", "nir"), (None, "no-system", None)}


def test_codeable_concept_gives_every_coding_and_text() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {
        "coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic"},
                   {"system": "http://snomed.info/sct", "code": "271649006"}],
        "text": "Pression systolique"}}
    found = rows(obs, "token", "code")
    assert {(r["system"], r["code"]) for r in found} == {("http://loinc.org", "8480-6"),
                                                         ("http://snomed.info/sct", "271649006")}
    assert {r["text"] for r in found} == {"systolic", "pression systolique"}
    text_only = {"resourceType": "Observation", "status": "final", "code": {"text": "Poids"}}
    assert [(r["system"], r["code"], r["text"]) for r in rows(text_only, "token", "code")] == [(None, None, "poids")]


def test_coding_and_code_tokens() -> None:
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}
    assert tokens(encounter, "class") == {("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB")}
    assert tokens(encounter, "status") == {(None, "finished")}


def test_contact_point_token_is_the_value_and_phone_email_filter_on_system() -> None:
    patient = {"resourceType": "Patient", "telecom": [
        {"system": "phone", "value": "+33 6 12 34 56 78", "use": "mobile"},
        {"system": "email", "value": "helene@example.org"},
        {"value": "no-system", "use": "home"}]}
    assert tokens(patient, "telecom") == {(None, "+33 6 12 34 56 78"), (None, "helene@example.org"),
                                          (None, "no-system")}
    assert tokens(patient, "phone") == {(None, "+33 6 12 34 56 78")}
    assert tokens(patient, "email") == {(None, "helene@example.org")}


def test_boolean_tokens() -> None:
    assert tokens({"resourceType": "Patient", "active": True}, "active") == {(None, "true")}
    assert tokens({"resourceType": "Patient", "active": False}, "active") == {(None, "false")}
    # deceased: true for deceasedBoolean true and for a deceasedDateTime, false otherwise
    assert tokens({"resourceType": "Patient", "deceasedDateTime": "2020-01-01"}, "deceased") == {(None, "true")}
    assert tokens({"resourceType": "Patient"}, "deceased") == {(None, "false")}


def test_a_quantity_is_no_token() -> None:
    """Group.characteristic.value[x] is a token component: valueQuantity (and valueRange) index nothing."""
    assert list(token_values({"value": 5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"})) == []
    group = {"resourceType": "Group", "type": "person", "actual": True, "characteristic": [
        {"code": {"text": "weight"}, "valueQuantity": {"value": 5, "code": "kg"}, "exclude": False},
        {"code": {"coding": [{"system": "http://x", "code": "sex"}]},
         "valueCodeableConcept": {"coding": [{"system": "http://y", "code": "F"}]}, "exclude": False}]}
    found = rows(group, "composite", "characteristic-value")
    assert {(r["comp"], r["system"], r["code"]) for r in found} == {(0, "http://x", "sex"), (1, "http://y", "F")}


# --- date ---------------------------------------------------------------------------------------------

def test_date_precision_gives_a_range_in_utc() -> None:
    assert rows({"resourceType": "Patient", "birthDate": "1975-04"}, "date", "birthdate") == [
        {"low": datetime(1975, 4, 1), "high": datetime(1975, 5, 1)}]
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "effectiveDateTime": "2024-05-01T10:00:00+02:00"}
    assert rows(obs, "date", "date") == [{"low": datetime(2024, 5, 1, 8), "high": datetime(2024, 5, 1, 8, 0, 1)}]


def test_period_with_an_open_end() -> None:
    encounter = {"resourceType": "Encounter", "status": "in-progress", "class": {"code": "AMB"},
                 "period": {"start": "2024-01-10"}}
    assert rows(encounter, "date", "date") == [{"low": datetime(2024, 1, 10), "high": MAX_DT}]
    closed = {**encounter, "period": {"start": "2024-01-10", "end": "2024-01-12"}}
    assert rows(closed, "date", "date") == [{"low": datetime(2024, 1, 10), "high": datetime(2024, 1, 13)}]
    open_start = {**encounter, "period": {"end": "2024-01-12"}}
    assert rows(open_start, "date", "date") == [{"low": MIN_DT, "high": datetime(2024, 1, 13)}]


def test_timing_events_and_bounds() -> None:
    request = {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
               "subject": {"reference": "Patient/p1"},
               "occurrenceTiming": {"event": ["2024-03-01", "2024-03-08"],
                                    "repeat": {"boundsPeriod": {"start": "2024-03-01", "end": "2024-03-31"}}}}
    assert rows(request, "date", "occurrence") == [
        {"low": datetime(2024, 3, 1), "high": datetime(2024, 3, 2)},
        {"low": datetime(2024, 3, 8), "high": datetime(2024, 3, 9)},
        {"low": datetime(2024, 3, 1), "high": datetime(2024, 4, 1)}]
    no_bounds = {**request, "occurrenceTiming": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}
    assert rows(no_bounds, "date", "occurrence") == []


def test_a_string_that_is_no_date_indexes_nothing() -> None:
    immunization = {"resourceType": "Immunization", "status": "completed", "vaccineCode": {"text": "x"},
                    "patient": {"reference": "Patient/p1"}, "occurrenceString": "January 2012"}
    assert rows(immunization, "date", "date") == []


# --- quantity and number ------------------------------------------------------------------------------

def test_quantity_code_falls_back_to_unit() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
    assert rows(obs, "quantity", "value-quantity") == [
        {"system": "http://unitsofmeasure.org", "code": "kg", "low": 72.5, "high": 72.5}]
    unit_only = {**obs, "valueQuantity": {"value": 3, "unit": "tablets"}}
    assert rows(unit_only, "quantity", "value-quantity") == [{"system": None, "code": "tablets", "low": 3.0,
                                                              "high": 3.0}]


def test_money_is_a_quantity_in_its_currency() -> None:
    invoice = {"resourceType": "Invoice", "status": "issued", "totalNet": {"value": 120.5, "currency": "EUR"}}
    assert rows(invoice, "quantity", "totalnet") == [
        {"system": "urn:iso:std:iso:4217", "code": "EUR", "low": 120.5, "high": 120.5}]


def test_range_is_a_quantity_range() -> None:
    library = {"resourceType": "Library", "status": "active", "type": {"text": "x"}, "useContext": [
        {"code": {"system": "http://terminology.hl7.org/CodeSystem/usage-context-type", "code": "age"},
         "valueRange": {"low": {"value": 18, "unit": "a"}, "high": {"value": 65, "unit": "a"}}}]}
    assert rows(library, "quantity", "context-quantity") == [{"system": None, "code": "a", "low": 18.0,
                                                              "high": 65.0}]
    assert list(quantity_values({"high": {"value": 5}})) == [(None, None, -1e308, 5.0)]
    assert list(number_values({"low": {}})) == []


def test_decimals_from_fhirpath_are_numbers() -> None:
    """fhirpathpy returns decimals as Decimal (also inside the nodes it returns)."""
    assert list(number_values(Decimal("0.02"))) == [(0.02, 0.02)]
    assert list(number_values(True)) == []
    assert list(quantity_values({"value": Decimal("1.5"), "code": "mg"})) == [(None, "mg", 1.5, 1.5)]
    assessment = {"resourceType": "RiskAssessment", "status": "final", "subject": {"reference": "Patient/p1"},
                  "prediction": [{"probabilityDecimal": 0.02}]}
    assert rows(assessment, "number", "probability") == [{"low": 0.02, "high": 0.02}]


# --- reference ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("ref", "expected"), [
    ("Patient/p1", ("Patient", "p1", None)),
    ("Patient/p1/_history/3", ("Patient", "p1", "3")),
    ("https://fhir.example.org/base/Patient/p1", ("Patient", "p1", None)),
    ("https://fhir.example.org/base/Patient/p1/_history/2", ("Patient", "p1", "2")),
    ("urn:uuid:2f4a8b6c-0000-4000-8000-000000000001", (None, None, None)),
    ("#contained-1", (None, None, None)),
    ("http://example.org/Fhir/1", (None, None, None)),  # "Fhir" is no resource type
])
def test_parse_reference(ref: str, expected: tuple[Any, Any, Any]) -> None:
    assert parse_reference(ref) == expected


def test_literal_references_relative_absolute_and_versioned() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": "https://fhir.example.org/Patient/p1/_history/2"},
           "performer": [{"reference": "Practitioner/d1"}, {"display": "display only"},
                         {"type": "Organization", "identifier": {"system": "urn:oid:1.2.3", "value": "FINESS-1"}}]}
    assert rows(obs, "reference", "subject") == [{
        "target_type": "Patient", "target_id": "p1", "target_version": "2",
        "url": "https://fhir.example.org/Patient/p1/_history/2", "ident_system": None, "ident_value": None}]
    performers = rows(obs, "reference", "performer")
    assert {(r["target_type"], r["target_id"], r.get("ident_value")) for r in performers} == {
        ("Practitioner", "d1", None), ("Organization", None, "FINESS-1")}


def test_canonical_references_keep_url_and_version() -> None:
    library = {"resourceType": "Library", "status": "active", "type": {"text": "x"}, "relatedArtifact": [
        {"type": "depends-on", "resource": "http://hl7.org/fhir/Library/fhir-helpers|4.0.1"},
        {"type": "successor", "resource": "Library/next"},
        {"type": "citation", "citation": "not a reference"}]}
    assert rows(library, "reference", "depends-on") == [{
        "target_type": "Library", "target_id": "fhir-helpers", "target_version": None,
        "url": "http://hl7.org/fhir/Library/fhir-helpers|4.0.1"}]
    assert refs(library, "successor") == {("Library", "next")}
    assert refs(library, "composed-of") == set()


def test_where_resolve_is_filters_on_the_referenced_type() -> None:
    """``Observation.subject.where(resolve() is Patient)``: the type written in the reference, the contained
    resource's type, ``Reference.type``; a reference whose type cannot be told is kept."""
    base = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    assert refs({**base, "subject": {"reference": "Patient/p1"}}, "patient") == {("Patient", "p1")}
    assert refs({**base, "subject": {"reference": "Group/g1"}}, "patient") == set()
    assert refs({**base, "subject": {"reference": "Group/g1"}}, "subject") == {("Group", "g1")}
    contained = {**base, "contained": [{"resourceType": "Group", "id": "g", "type": "person", "actual": True}],
                 "subject": {"reference": "#g"}}
    assert rows(contained, "reference", "patient") == []
    typed = {**base, "subject": {"type": "Group", "identifier": {"value": "G-1"}}}
    assert rows(typed, "reference", "patient") == []
    unknown = {**base, "subject": {"reference": "urn:uuid:2f4a8b6c-0000-4000-8000-000000000001"}}
    assert [r["url"] for r in rows(unknown, "reference", "patient")] == [
        "urn:uuid:2f4a8b6c-0000-4000-8000-000000000001"]


def test_bundle_composition_and_message_refer_to_the_first_entry_by_type() -> None:
    document = {"resourceType": "Bundle", "type": "document", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Composition", "id": "c1", "status": "final",
                                               "type": {"text": "x"}, "date": "2024-01-01", "author": [],
                                               "title": "t"}}]}
    assert refs(document, "composition") == {("Composition", "c1")}
    assert refs(document, "message") == set()
    message = {"resourceType": "Bundle", "type": "message", "entry": [
        {"resource": {"resourceType": "MessageHeader", "id": "m1", "eventCoding": {"code": "x"},
                      "source": {"endpoint": "http://x"}}}]}
    assert refs(message, "message") == {("MessageHeader", "m1")}
    assert refs(message, "composition") == set()


# --- composite ----------------------------------------------------------------------------------------

def test_observation_components_do_not_mix() -> None:
    """Systolic 120 and diastolic 80 are two groups: code and value of one component share a group."""
    bp = {"resourceType": "Observation", "status": "final", "code": {"coding": [
        {"system": "http://loinc.org", "code": "85354-9"}]}, "component": [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
         "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
         "valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}
    found = rows(bp, "composite", "component-code-value-quantity")
    groups: dict[int, dict[int, Any]] = {}
    for r in found:
        groups.setdefault(r["grp"], {})[r["comp"]] = r["code"] if r["comp"] == 0 else r["low"]
    assert sorted(groups.values(), key=lambda g: g[0]) == [{0: "8462-4", 1: 80.0}, {0: "8480-6", 1: 120.0}]
    # the Observation itself has no value: no group for code-value-quantity, and combo has just the components
    assert rows(bp, "composite", "code-value-quantity") == []
    assert len({r["grp"] for r in rows(bp, "composite", "combo-code-value-quantity")}) == 2


def test_composite_with_a_choice_value() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "s", "code": "c"}]},
           "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "260385009"}]}}
    found = rows(obs, "composite", "code-value-concept")
    assert {(r["grp"], r["comp"], r["system"], r["code"]) for r in found} == {
        (0, 0, "s", "c"), (0, 1, "http://snomed.info/sct", "260385009")}


# --- compartment --------------------------------------------------------------------------------------

def compartments(resource: dict[str, Any]) -> set[str]:
    return {r["comp_id"] for r in extract(default_registry(), resource)["compartment"]}


def test_patient_compartment_membership() -> None:
    """A Patient is in its own compartment only: ``Patient.link`` grants nothing (access policy), so a linked record
    is not put in the other usager's compartment."""
    assert compartments({"resourceType": "Patient", "id": "p1"}) == {"p1"}
    assert compartments({"resourceType": "Patient", "id": "p1", "link": [
        {"other": {"reference": "Patient/p2"}, "type": "seealso"}]}) == {"p1"}
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": "Patient/p1"},
           "performer": [{"reference": "Patient/p2"}, {"reference": "Practitioner/d1"}],
           "hasMember": [{"reference": "Patient/p3"}]}  # hasMember is no compartment parameter
    assert compartments(obs) == {"p1", "p2"}
    group_subject = {**obs, "subject": {"reference": "Group/g1"}, "performer": []}
    assert compartments(group_subject) == set()
    assert compartments({"resourceType": "Organization", "name": "x"}) == set()


# --- registry: what is evaluated how ------------------------------------------------------------------

def test_parameters_without_a_type_in_their_expression_are_kept() -> None:
    """The official InsurancePlan-name expression is ``name | alias`` (no type): read as InsurancePlan.name …"""
    plan = {"resourceType": "InsurancePlan", "name": "Mutuelle Générale", "alias": ["MG"]}
    assert {r["value"] for r in rows(plan, "string", "name")} == {"mutuelle generale", "mg"}


@pytest.mark.parametrize(("rt", "code", "resource"), [
    ("Patient", "gender", {"resourceType": "Patient", "gender": "female"}),
    ("Patient", "phone", {"resourceType": "Patient", "telecom": [{"system": "phone", "value": "1"},
                                                                  {"system": "email", "value": "a@b"}]}),
    ("AllergyIntolerance", "category", {"resourceType": "AllergyIntolerance", "category": ["food", "medication"],
                                        "patient": {"reference": "Patient/p1"}}),
    ("Library", "depends-on", {"resourceType": "Library", "relatedArtifact": [
        {"type": "depends-on", "resource": "Library/a"}, {"type": "successor", "resource": "Library/b"}]}),
])
def test_fast_paths_agree_with_fhirpath(rt: str, code: str, resource: dict[str, Any]) -> None:
    """Codes with a required binding and ``where(x='y')`` filters are walked without FHIRPath, identically."""
    sp = default_registry().get(rt, code)
    assert sp is not None and sp.evaluate is not None
    expected = [x for part in split_union(sp.expression)
                for x in fhirpathpy.compile(part, fhirpath_models["r4"])(resource, {"resource": resource})]
    assert sp.evaluate(resource) == expected
    assert expected


def test_an_expression_that_fails_indexes_nothing_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    broken = {"resourceType": "SearchParameter", "url": "http://example.org/SearchParameter/broken",
              "code": "broken", "base": ["Patient"], "type": "string", "expression": "Patient.name.given + 1"}
    registry = Registry([*search_parameter_bundle(), broken])
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Durand", "given": ["A", "B"]}]}
    with caplog.at_level(logging.WARNING, logger="fhirserver.search.extract"):
        first = extract(registry, patient)
        extract(registry, patient)
    assert not [r for r in first["string"] if r["param"] == "broken"]
    assert {r["value"] for r in first["string"] if r["param"] == "family"} == {"durand"}  # the others are indexed
    messages = [r.getMessage() for r in caplog.records if "Patient.broken" in r.getMessage()]
    assert len(messages) == 1 and "Patient.name.given + 1" in messages[0]


def test_every_official_parameter_compiles() -> None:
    """Every R4 parameter of every resource type is compiled (the registry drops none but ``near``)."""
    registry = default_registry()
    missing = []
    for d in search_parameter_bundle():
        for base in d.get("base", []):
            if base in ("Resource", "DomainResource"):
                continue
            sp = registry.get(base, d["code"])
            if sp is None or (sp.evaluate is None and d["code"] not in ("_id", "_lastUpdated")):
                missing.append(f"{base}.{d['code']}")
    assert missing == ["Location.near"]  # type special: https://hl7.org/fhir/R4/location.html#positional


def test_absolute_reference_to_another_server_does_not_join_the_local_compartment():
    """An Observation about https://elsewhere/fhir/Patient/p1 is not in the local Patient/p1 compartment."""
    from fhirserver.search.extract import extract
    from fhirserver.search.registry import default_registry

    obs = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "Poids"},
           "subject": {"reference": "https://elsewhere.example/fhir/Patient/p1"}}
    assert extract(default_registry(), obs)["compartment"] == []
    local = {**obs, "subject": {"reference": "Patient/p1"}}
    assert extract(default_registry(), local)["compartment"] == [{"comp_type": "Patient", "comp_id": "p1"}]
