"""Tests for fhirserver.fhir.patch: the official HL7 patch test cases plus targeted behaviours.

Official cases: HL7 FHIR/fhir-test-cases ``json-patch-tests.json`` and ``fhir-patch-tests.xml`` (FHIRPath Patch,
https://hl7.org/fhir/R4/fhirpatch.html), kept in the project's shared folder.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhirserver.fhir.patch import PatchError, apply_fhirpath_patch, apply_json_patch

CASES_DIR = Path(__file__).resolve().parents[3] / "shared" / "fhir" / "test-cases"
JSON_PATCH_CASES: list[dict[str, Any]] = json.loads((CASES_DIR / "json-patch-tests.json").read_text("utf-8"))
FHIRPATH_PATCH_CASES: list[Any] = list(
    etree.parse(str(CASES_DIR / "fhir-patch-tests.xml")).getroot().iter("case")
)


def _xml_to_resource(data: bytes) -> dict[str, Any]:
    from fhirserver.fhir.xml import xml_to_resource  # imported lazily: the XML module is developed separately

    return xml_to_resource(data)


def _canonical_xhtml(value: Any) -> Any:
    """``value`` with every Narrative ``div`` string replaced by its canonical XML (C14N) form.

    The cases are XML: a div given as a string (``valueString``) and one given as XHTML are equal when they
    denote the same XHTML, whatever the escaping (the "Full Resource" case patches ``("Jim")`` where the
    XML reader spells the expected text ``(&quot;Jim&quot;)``).
    """
    if isinstance(value, list):
        return [_canonical_xhtml(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {key: _canonical_xhtml(item) for key, item in value.items()}
    if isinstance(result.get("div"), str):
        result["div"] = etree.tostring(etree.fromstring(result["div"]), method="c14n")
    return result


def _case_resource(case: Any, tag: str) -> dict[str, Any]:
    """The FHIR resource inside the <input>, <diff> or <output> element of a test case, as FHIR JSON."""
    (resource,) = [child for child in case.find(tag) if isinstance(child.tag, str)]
    return _xml_to_resource(etree.tostring(resource))


# --------------------------------------------------------------------------------------------------------
# Official test cases
# --------------------------------------------------------------------------------------------------------


def test_official_case_files_are_complete() -> None:
    """The shared folder holds the 33 FHIRPath Patch cases and the JSON Patch cases."""
    assert len(FHIRPATH_PATCH_CASES) == 33
    assert len(JSON_PATCH_CASES) >= 16


@pytest.mark.parametrize("case", JSON_PATCH_CASES, ids=[case["comment"] for case in JSON_PATCH_CASES])
def test_json_patch_official_case(case: dict[str, Any]) -> None:
    """Each official JSON Patch case yields its expected document, or a PatchError when it expects an error."""
    original = copy.deepcopy(case["doc"])
    if "error" in case:
        with pytest.raises(PatchError, match=r"^operation\[\d+\] "):
            apply_json_patch(case["doc"], case["patch"])
    else:
        assert apply_json_patch(case["doc"], case["patch"]) == case["expected"]
    assert case["doc"] == original


@pytest.mark.parametrize(
    "case", FHIRPATH_PATCH_CASES, ids=[case.get("name") for case in FHIRPATH_PATCH_CASES]
)
def test_fhirpath_patch_official_case(case: Any) -> None:
    """Each official FHIRPath Patch case yields its output resource, or a PatchError for <error> cases."""
    resource = _case_resource(case, "input")
    original = copy.deepcopy(resource)
    parameters = _case_resource(case, "diff")
    if case.find("error") is not None:
        with pytest.raises(PatchError, match=r"^operation\[0\] "):
            apply_fhirpath_patch(resource, parameters)
    else:
        expected = _case_resource(case, "output")
        assert _canonical_xhtml(apply_fhirpath_patch(resource, parameters)) == _canonical_xhtml(expected)
    assert resource == original


# --------------------------------------------------------------------------------------------------------
# JSON Patch behaviours
# --------------------------------------------------------------------------------------------------------


def test_json_patch_error_names_the_failing_operation() -> None:
    """The message names the 0-based index, op and path of the operation that failed."""
    operations = [
        {"op": "replace", "path": "/gender", "value": "female"},
        {"op": "test", "path": "/birthDate", "value": "1999-01-01"},
    ]
    with pytest.raises(PatchError, match=r"^operation\[1\] test /birthDate: "):
        apply_json_patch({"resourceType": "Patient", "gender": "male", "birthDate": "2000-01-01"}, operations)


def test_json_patch_never_shares_values_with_the_patch() -> None:
    """Mutating the result leaves the patch document's values untouched."""
    operations = [{"op": "add", "path": "/name", "value": [{"family": "Doe"}]}]
    result = apply_json_patch({"resourceType": "Patient"}, operations)
    result["name"][0]["family"] = "Changed"
    assert operations[0]["value"] == [{"family": "Doe"}]


def test_json_patch_test_operation_distinguishes_booleans_from_numbers() -> None:
    """RFC 6902 equality: true is not the number 1."""
    with pytest.raises(PatchError):
        apply_json_patch({"active": True}, [{"op": "test", "path": "/active", "value": 1}])


@pytest.mark.parametrize(
    "operations",
    [
        {"op": "add"},
        [{"path": "/a", "value": 1}],
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "add", "path": 5, "value": 1}],
        [{"op": "add", "path": "/a"}],
        ["not an object"],
        [{"op": "replace", "path": "", "value": [1, 2]}],
    ],
)
def test_json_patch_rejects_malformed_documents(operations: Any) -> None:
    """Malformed patch documents raise PatchError rather than library or Python errors."""
    with pytest.raises(PatchError):
        apply_json_patch({"resourceType": "Patient"}, operations)


# --------------------------------------------------------------------------------------------------------
# FHIRPath Patch behaviours
# --------------------------------------------------------------------------------------------------------


def _operation(kind: str, path: str, **parts: dict[str, Any]) -> dict[str, Any]:
    """An ``operation`` parameter; each keyword is a part whose remaining members are given as a dict."""
    return {
        "name": "operation",
        "part": [
            {"name": "type", "valueCode": kind},
            {"name": "path", "valueString": path},
            *({"name": name, **members} for name, members in parts.items()),
        ],
    }


def _parameters(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(operations)}


def _patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"use": "official", "value": "1"}, {"use": "secondary", "value": "2"}],
        "name": [{"family": "Doe", "given": ["Ann", "Bea"], "_given": [None, {"id": "g2"}]}],
        "birthDate": "2000-01-01",
        "_birthDate": {"extension": [{"url": "http://example.org/time", "valueTime": "10:00:00"}]},
    }


def test_fhirpath_patch_error_names_operation_and_path() -> None:
    """A replace whose path matches nothing fails with the operation index, type and path."""
    parameters = _parameters(
        _operation("replace", "Patient.gender", value={"valueCode": "male"}),
        _operation("replace", "Patient.deceased", value={"valueBoolean": True}),
    )
    with pytest.raises(
        PatchError, match=r"^operation\[1\] replace Patient\.deceased: path matched 0 elements"
    ):
        apply_fhirpath_patch({"resourceType": "Patient", "gender": "female"}, parameters)


def test_fhirpath_patch_leaves_input_untouched_when_a_later_operation_fails() -> None:
    """Bad input never leaves a half-patched resource: the caller's dict is unchanged."""
    resource = _patient()
    parameters = _parameters(
        _operation("delete", "Patient.birthDate"),
        _operation("replace", "Patient.gender", value={"valueCode": "x"}),
    )
    with pytest.raises(PatchError):
        apply_fhirpath_patch(resource, parameters)
    assert resource == _patient()


def test_delete_with_no_match_is_a_no_op() -> None:
    """Deleting an absent element changes nothing."""
    assert apply_fhirpath_patch(_patient(), _parameters(_operation("delete", "Patient.gender"))) == _patient()


def test_delete_of_several_elements_is_an_error() -> None:
    """A delete path matching more than one element is rejected."""
    with pytest.raises(PatchError, match="matched 2 elements"):
        apply_fhirpath_patch(_patient(), _parameters(_operation("delete", "Patient.identifier")))


def test_delete_primitive_removes_its_extensions() -> None:
    """Deleting birthDate also deletes the _birthDate twin holding its extensions."""
    result = apply_fhirpath_patch(_patient(), _parameters(_operation("delete", "Patient.birthDate")))
    assert "birthDate" not in result and "_birthDate" not in result


def test_delete_in_primitive_list_keeps_extensions_aligned() -> None:
    """Removing given[0] shifts the _given array with it."""
    result = apply_fhirpath_patch(_patient(), _parameters(_operation("delete", "Patient.name.given[0]")))
    assert result["name"][0]["given"] == ["Bea"]
    assert result["name"][0]["_given"] == [{"id": "g2"}]


def test_where_filter_selects_by_criteria() -> None:
    """where() criteria are evaluated by fhirpathpy on each candidate element."""
    parameters = _parameters(
        _operation(
            "replace", "Patient.identifier.where(use = 'secondary').value", value={"valueString": "22"}
        )
    )
    result = apply_fhirpath_patch(_patient(), parameters)
    assert [identifier["value"] for identifier in result["identifier"]] == ["1", "22"]


def test_where_filter_on_primitives_uses_this() -> None:
    """where($this = ...) works on primitive list items."""
    parameters = _parameters(_operation("delete", "Patient.name.given.where($this = 'Ann')"))
    assert apply_fhirpath_patch(_patient(), parameters)["name"][0]["given"] == ["Bea"]


def test_where_keeps_only_candidates_whose_criteria_are_true() -> None:
    """A non-boolean criteria result (such as 1) does not select anything."""
    assert (
        apply_fhirpath_patch(_patient(), _parameters(_operation("delete", "Patient.name.where(1)")))
        == _patient()
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [("Patient.identifier.first().value", ["X", "2"]), ("Patient.identifier.last().value", ["1", "X"])],
)
def test_first_and_last(path: str, expected: list[str]) -> None:
    """first() and last() narrow the selection to one element."""
    result = apply_fhirpath_patch(
        _patient(), _parameters(_operation("replace", path, value={"valueString": "X"}))
    )
    assert [identifier["value"] for identifier in result["identifier"]] == expected


def test_paths_may_omit_the_resource_type() -> None:
    """A path starting with an element name is evaluated from the resource."""
    result = apply_fhirpath_patch(
        _patient(), _parameters(_operation("replace", "name[0].family", value={"valueString": "Roe"}))
    )
    assert result["name"][0]["family"] == "Roe"


def test_path_for_another_resource_type_matches_nothing() -> None:
    """Observation.status on a Patient selects nothing."""
    with pytest.raises(PatchError, match="matched 0 elements"):
        apply_fhirpath_patch(
            _patient(), _parameters(_operation("replace", "Observation.status", value={"valueCode": "final"}))
        )


def test_extension_function_and_primitive_extensions() -> None:
    """extension(url) reaches the extensions of a primitive and replace keeps the choice type."""
    parameters = _parameters(
        _operation(
            "replace",
            "Patient.birthDate.extension('http://example.org/time').value",
            value={"valueTime": "11:30:00"},
        )
    )
    result = apply_fhirpath_patch(_patient(), parameters)
    assert result["_birthDate"]["extension"][0] == {"url": "http://example.org/time", "valueTime": "11:30:00"}


def test_add_extension_to_primitive_creates_its_twin() -> None:
    """Adding an extension to a primitive list item writes the aligned _given entry."""
    parameters = _parameters(
        _operation(
            "add",
            "Patient.name.given[0]",
            name={"valueString": "extension"},
            value={"valueExtension": {"url": "http://example.org/x", "valueBoolean": True}},
        )
    )
    result = apply_fhirpath_patch(_patient(), parameters)
    assert result["name"][0]["_given"] == [
        {"extension": [{"url": "http://example.org/x", "valueBoolean": True}]},
        {"id": "g2"},
    ]


def test_replace_choice_element_with_another_type_renames_the_key() -> None:
    """Observation.value matches valueQuantity; replacing it by a valueString writes valueString."""
    observation = {"resourceType": "Observation", "status": "final", "valueQuantity": {"value": 1}}
    parameters = _parameters(_operation("replace", "Observation.value", value={"valueString": "one"}))
    result = apply_fhirpath_patch(observation, parameters)
    assert result == {"resourceType": "Observation", "status": "final", "valueString": "one"}


def test_of_type_filters_choice_elements() -> None:
    """ofType(Quantity) keeps a valueQuantity and drops other types."""
    observation = {"resourceType": "Observation", "status": "final", "valueQuantity": {"value": 1}}
    deleted = apply_fhirpath_patch(
        observation, _parameters(_operation("delete", "Observation.value.ofType(Quantity)"))
    )
    kept = apply_fhirpath_patch(
        observation, _parameters(_operation("delete", "Observation.value.ofType(string)"))
    )
    assert "valueQuantity" not in deleted
    assert kept == observation


def test_of_type_on_primitive_elements_uses_the_declared_type() -> None:
    """ofType(date) matches birthDate, ofType(string) does not."""
    deleted = apply_fhirpath_patch(
        _patient(), _parameters(_operation("delete", "Patient.birthDate.ofType(date)"))
    )
    kept = apply_fhirpath_patch(
        _patient(), _parameters(_operation("delete", "Patient.birthDate.ofType(string)"))
    )
    assert "birthDate" not in deleted
    assert kept == _patient()


def test_add_choice_element_by_its_base_name() -> None:
    """Adding name 'deceased' with a valueBoolean writes deceasedBoolean."""
    parameters = _parameters(
        _operation("add", "Patient", name={"valueString": "deceased"}, value={"valueBoolean": True})
    )
    assert apply_fhirpath_patch({"resourceType": "Patient"}, parameters) == {
        "resourceType": "Patient",
        "deceasedBoolean": True,
    }


def test_add_to_present_single_valued_element_is_an_error() -> None:
    """Add does not overwrite a single-valued element; replace is needed."""
    parameters = _parameters(
        _operation("add", "Patient", name={"valueString": "birthDate"}, value={"valueDate": "1999"})
    )
    with pytest.raises(PatchError, match="already present"):
        apply_fhirpath_patch(_patient(), parameters)


def test_anonymous_value_uses_cardinality_for_repeated_parts() -> None:
    """Nested parts build a backbone element; repeated parts of a list element become a list."""
    value = {
        "part": [
            {"name": "telecom", "valueContactPoint": {"value": "1"}},
            {"name": "telecom", "valueContactPoint": {"value": "2"}},
            {"name": "gender", "valueCode": "male"},
        ]
    }
    result = apply_fhirpath_patch(
        {"resourceType": "Patient"},
        _parameters(_operation("add", "Patient", name={"valueString": "contact"}, value=value)),
    )
    assert result["contact"] == [{"telecom": [{"value": "1"}, {"value": "2"}], "gender": "male"}]


def test_insert_and_move_in_primitive_list() -> None:
    """insert and move work on primitive lists and keep their extensions aligned."""
    parameters = _parameters(
        _operation("insert", "Patient.name[0].given", index={"valueInteger": 0}, value={"valueString": "Cy"}),
        _operation(
            "move", "Patient.name[0].given", source={"valueInteger": 2}, destination={"valueInteger": 0}
        ),
    )
    name = apply_fhirpath_patch(_patient(), parameters)["name"][0]
    assert name["given"] == ["Bea", "Cy", "Ann"]
    assert name["_given"] == [{"id": "g2"}, None, None]


@pytest.mark.parametrize(
    "operation",
    [
        _operation(
            "insert",
            "Patient.identifier",
            index={"valueInteger": 3},
            value={"valueIdentifier": {"value": "3"}},
        ),
        _operation("insert", "Patient.birthDate", index={"valueInteger": 0}, value={"valueDate": "2001"}),
        _operation("move", "Patient.identifier", source={"valueInteger": 2}, destination={"valueInteger": 0}),
        _operation("move", "Patient.identifier", source={"valueInteger": 0}),
        _operation("replace", "Patient.name.given", value={"valueString": "X"}),
        _operation("replace", "Patient", value={"valueString": "X"}),
        _operation("delete", "Patient"),
        _operation("add", "Patient.identifier", name={"valueString": "system"}, value={"valueUri": "urn:x"}),
        _operation("frobnicate", "Patient"),
        _operation("replace", "Patient.name.given(", value={"valueString": "X"}),
        _operation("replace", "Patient.name.descendants()", value={"valueString": "X"}),
        _operation("replace", "Patient.name[0].family"),
        _operation("add", "Patient.birthDate", name={"valueString": "url"}, value={"valueUri": "urn:x"}),
    ],
    ids=[
        "insert-index-out-of-range",
        "insert-into-single-valued",
        "move-source-out-of-range",
        "move-without-destination",
        "replace-several",
        "replace-resource",
        "delete-resource",
        "add-ambiguous-parent",
        "unknown-type",
        "syntax-error",
        "unsupported-function",
        "replace-without-value",
        "add-non-element-member-to-primitive",
    ],
)
def test_invalid_operations_raise_patch_error(operation: dict[str, Any]) -> None:
    """Each invalid operation raises PatchError naming operation[0]."""
    with pytest.raises(PatchError, match=r"^operation\[0\] "):
        apply_fhirpath_patch(_patient(), _parameters(operation))


@pytest.mark.parametrize(
    "parameters",
    [
        {"resourceType": "Patient"},
        {"resourceType": "Parameters", "parameter": [{"name": "other"}]},
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "operation", "part": [{"name": "type", "valueCode": "delete"}]}],
        },
    ],
)
def test_malformed_parameters_raise_patch_error(parameters: dict[str, Any]) -> None:
    """Something other than operation parameters with type and path is rejected."""
    with pytest.raises(PatchError):
        apply_fhirpath_patch(_patient(), parameters)
