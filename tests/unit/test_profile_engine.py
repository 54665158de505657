"""The profile engine on small synthetic profiles: every rule kind passing and failing, exact diagnostics and
expressions, nested and closed slices, base chains, and the loader refusing malformed data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirserver.errors import Issue
from fhirserver.profiles import ProfileError, ProfileValidator, load_registry, registry_for
from fhirserver.profiles.paths import contains_pattern

EX = "http://example.org/fhir/StructureDefinition"
VS = "http://example.org/fhir/ValueSet"
CS = "http://example.org/fhir/CodeSystem"


def _write(directory: Path, name: str, data: Any) -> None:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def _terminology(directory: Path) -> None:
    _write(directory, "codesystems/colour.json", {
        "resourceType": "CodeSystem", "url": f"{CS}/colour", "content": "complete",
        "concept": [{"code": "red"}, {"code": "blue", "concept": [{"code": "navy"}]}]})
    _write(directory, "valuesets/colour.json", {
        "resourceType": "ValueSet", "url": f"{VS}/colour", "name": "Colour",
        "compose": {"include": [{"system": f"{CS}/colour"}], "exclude": [{"system": f"{CS}/colour",
                                                                            "concept": [{"code": "red"}]}]}})
    _write(directory, "valuesets/gender.json", {
        "resourceType": "ValueSet", "url": f"{VS}/gender", "name": "Gender", "version": "1.0",
        "compose": {"include": [{"system": "http://hl7.org/fhir/administrative-gender",
                                 "concept": [{"code": "male"}, {"code": "female"}]}]}})
    _write(directory, "valuesets/both.json", {
        "resourceType": "ValueSet", "url": f"{VS}/both",
        "compose": {"include": [{"valueSet": [f"{VS}/colour"]}, {"valueSet": [f"{VS}/gender"]}]}})


def _profile(directory: Path, pid: str, elements: list[Any], invariants: list[Any] | None = None,
             rtype: str = "Patient", base: str | None = None) -> str:
    url = f"{EX}/{pid}"
    data: dict[str, Any] = {"url": url, "type": rtype, "elements": elements, "invariants": invariants or []}
    if base:
        data["baseDefinition"] = base
    _write(directory, f"{pid}.json", data)
    return url


def _validator(tmp_path: Path, elements: list[Any], invariants: list[Any] | None = None,
               rtype: str = "Patient") -> tuple[ProfileValidator, str]:
    _terminology(tmp_path)
    url = _profile(tmp_path, "p", elements, invariants, rtype)
    return ProfileValidator(load_registry(tmp_path)), url


def _issues(tmp_path: Path, elements: list[Any], resource: dict[str, Any],
            invariants: list[Any] | None = None) -> list[Issue]:
    validator, url = _validator(tmp_path, elements, invariants, resource["resourceType"])
    return validator.issues(resource, [url])


def _one(issues: list[Issue]) -> Issue:
    assert len(issues) == 1, issues
    return issues[0]


def patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **extra}


# ---------------------------------------------------------------------------------------------------------- cardinality
def test_min_cardinality_is_counted_per_parent(tmp_path: Path) -> None:
    rules = [{"path": "Patient.name.given", "min": 1}]
    ok = patient(name=[{"given": ["Anne"]}, {"given": ["Léa", "Marie"]}])
    assert _issues(tmp_path, rules, ok) == []
    issue = _one(_issues(tmp_path, rules, patient(name=[{"given": ["Anne"]}, {"family": "Martin"}])))
    assert issue.diagnostics == "p: Patient.name.given: minimum cardinality 1, found 0"
    assert issue.expression == ("Patient.name[1].given",)
    assert (issue.code, issue.severity) == ("required", "error")


def test_min_cardinality_needs_no_parent(tmp_path: Path) -> None:
    assert _issues(tmp_path, [{"path": "Patient.name.given", "min": 1}], patient()) == []


def test_min_cardinality_on_a_top_level_element(tmp_path: Path) -> None:
    issue = _one(_issues(tmp_path, [{"path": "Patient.birthDate", "min": 1}], patient()))
    assert issue.diagnostics == "p: Patient.birthDate: minimum cardinality 1, found 0"
    assert issue.expression == ("Patient.birthDate",)


def test_primitive_with_extension_only_counts_as_present(tmp_path: Path) -> None:
    absent = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                             "valueCode": "unknown"}]}
    assert _issues(tmp_path, [{"path": "Patient.birthDate", "min": 1}], patient(_birthDate=absent)) == []


def test_max_cardinality(tmp_path: Path) -> None:
    rules = [{"path": "Patient.name.given", "max": "1"}]
    assert _issues(tmp_path, rules, patient(name=[{"given": ["Anne"]}])) == []
    issue = _one(_issues(tmp_path, rules, patient(name=[{"given": ["Anne", "Marie"]}])))
    assert issue.diagnostics == "p: Patient.name.given: maximum cardinality 1, found 2"
    assert (issue.code, issue.expression) == ("structure", ("Patient.name[0].given",))


def test_max_zero_forbids_the_element(tmp_path: Path) -> None:
    issue = _one(_issues(tmp_path, [{"path": "Patient.photo", "max": "0"}], patient(photo=[{"url": "x"}])))
    assert issue.diagnostics == "p: Patient.photo: maximum cardinality 0, found 1"


# ------------------------------------------------------------------------------------------------ fixed and pattern
def test_fixed_value(tmp_path: Path) -> None:
    rules = [{"path": "Patient.identifier.use", "fixed": "official"}]
    assert _issues(tmp_path, rules, patient(identifier=[{"use": "official"}])) == []
    issue = _one(_issues(tmp_path, rules, patient(identifier=[{"use": "official"}, {"use": "usual"}])))
    assert issue.diagnostics == 'p: Patient.identifier.use: fixed value "official" required, found "usual"'
    assert (issue.code, issue.expression) == ("value", ("Patient.identifier[1].use",))


def test_fixed_is_exact_on_objects(tmp_path: Path) -> None:
    rules = [{"path": "Patient.maritalStatus", "fixed": {"coding": [{"system": "s", "code": "M"}]}}]
    exact = patient(maritalStatus={"coding": [{"system": "s", "code": "M"}]})
    assert _issues(tmp_path, rules, exact) == []
    more = patient(maritalStatus={"coding": [{"system": "s", "code": "M"}], "text": "Marié"})
    assert "fixed value" in _one(_issues(tmp_path, rules, more)).diagnostics


def test_pattern_is_a_subset(tmp_path: Path) -> None:
    rules = [{"path": "Patient.identifier.type", "pattern": {"coding": [{"system": "s", "code": "PI"}]}}]
    ok = patient(identifier=[{"type": {"coding": [{"system": "x", "code": "Y"},
                                                  {"system": "s", "code": "PI", "display": "IPP"}], "text": "t"}}])
    assert _issues(tmp_path, rules, ok) == []
    issue = _one(_issues(tmp_path, rules, patient(identifier=[{"type": {"coding": [{"system": "s", "code": "NH"}]}}])))
    assert issue.diagnostics.startswith('p: Patient.identifier.type: value must match the pattern {"coding":[')
    assert issue.expression == ("Patient.identifier[0].type",)


def test_pattern_semantics() -> None:
    assert contains_pattern({"a": [1, 2], "b": {"c": "d", "e": 1}}, {"a": [2], "b": {"c": "d"}})
    assert not contains_pattern({"a": [1]}, {"a": [2]})
    assert not contains_pattern({"flag": 1}, {"flag": True})
    assert not contains_pattern("x", {"a": 1})


# ---------------------------------------------------------------------------------------------------------- bindings
def test_required_binding_on_code(tmp_path: Path) -> None:
    rules = [{"path": "Patient.gender", "binding": {"strength": "required", "valueSet": f"{VS}/gender|1.0"}}]
    assert _issues(tmp_path, rules, patient(gender="female")) == []
    issue = _one(_issues(tmp_path, rules, patient(gender="other")))
    assert issue.diagnostics == f"p: Patient.gender: code 'other' is not in the required value set Gender ({VS}/gender)"
    assert (issue.code, issue.severity, issue.expression) == ("code-invalid", "error", ("Patient.gender",))


def test_required_binding_on_coding_checks_the_system(tmp_path: Path) -> None:
    rules = [{"path": "Patient.extension.value[x]", "binding": {"strength": "required", "valueSet": f"{VS}/colour"}}]
    ok = patient(extension=[{"url": "u", "valueCoding": {"system": f"{CS}/colour", "code": "navy"}}])
    assert _issues(tmp_path, rules, ok) == []
    excluded = patient(extension=[{"url": "u", "valueCoding": {"system": f"{CS}/colour", "code": "red"}}])
    issue = _one(_issues(tmp_path, rules, excluded))
    assert f"code '{CS}/colour|red' is not in the required value set" in issue.diagnostics
    assert issue.expression == ("Patient.extension[0].valueCoding",)
    other_system = patient(extension=[{"url": "u", "valueCoding": {"system": "http://other", "code": "navy"}}])
    assert len(_issues(tmp_path, rules, other_system)) == 1


def test_required_binding_on_codeable_concept(tmp_path: Path) -> None:
    rules = [{"path": "Patient.maritalStatus", "binding": {"strength": "required", "valueSet": f"{VS}/both"}}]
    ok = patient(maritalStatus={"coding": [{"system": "x", "code": "y"}, {"system": f"{CS}/colour", "code": "blue"}]})
    assert _issues(tmp_path, rules, ok) == []
    issue = _one(_issues(tmp_path, rules, patient(maritalStatus={"coding": [{"system": "x", "code": "y"}]})))
    assert "none of the codings (x|y) is in the required value set" in issue.diagnostics
    text_only = _one(_issues(tmp_path, rules, patient(maritalStatus={"text": "veuve"})))
    assert "no coding from the required value set" in text_only.diagnostics


def test_extensible_binding_warns(tmp_path: Path) -> None:
    rules = [{"path": "Patient.gender", "binding": {"strength": "extensible", "valueSet": f"{VS}/gender"}}]
    issue = _one(_issues(tmp_path, rules, patient(gender="other")))
    assert (issue.severity, issue.code) == ("warning", "code-invalid")


def test_preferred_binding_is_not_checked(tmp_path: Path) -> None:
    rules = [{"path": "Patient.gender", "binding": {"strength": "preferred", "valueSet": "http://nowhere/vs"}}]
    assert _issues(tmp_path, rules, patient(gender="other")) == []


# -------------------------------------------------------------------------------------- types, references, strings
def test_choice_types(tmp_path: Path) -> None:
    rules = [{"path": "Patient.deceased[x]", "min": 1, "types": ["boolean"]}]
    assert _issues(tmp_path, rules, patient(deceasedBoolean=False)) == []
    issue = _one(_issues(tmp_path, rules, patient(deceasedDateTime="2024-01-01")))
    assert issue.diagnostics == "p: Patient.deceased[x]: type DateTime is not allowed (allowed: boolean)"
    assert issue.expression == ("Patient.deceasedDateTime",)
    missing = _one(_issues(tmp_path, rules, patient()))
    assert missing.diagnostics == "p: Patient.deceased[x]: minimum cardinality 1, found 0"


def test_reference_target_types(tmp_path: Path) -> None:
    rules = [{"path": "Patient.generalPractitioner", "targetTypes": ["Practitioner", "PractitionerRole"]}]
    ok = patient(generalPractitioner=[{"reference": "Practitioner/1"},
                                      {"reference": "https://x.fr/fhir/PractitionerRole/2/_history/3"},
                                      {"reference": "#contained"}, {"reference": "urn:uuid:1234"}])
    assert _issues(tmp_path, rules, ok) == []
    issue = _one(_issues(tmp_path, rules, patient(generalPractitioner=[{"reference": "Practitioner/1"},
                                                                       {"reference": "Organization/9"}])))
    assert issue.diagnostics == ("p: Patient.generalPractitioner: reference to a Organization, allowed targets: "
                                 "Practitioner, PractitionerRole")
    assert issue.expression == ("Patient.generalPractitioner[1]",)
    typed = _one(_issues(tmp_path, rules, patient(generalPractitioner=[{"type": "Patient",
                                                                        "identifier": {"value": "1"}}])))
    assert "reference to a Patient" in typed.diagnostics


def test_regex_and_max_length(tmp_path: Path) -> None:
    rules = [{"path": "Patient.identifier.value", "regex": "[0-9]{11}", "maxLength": 11}]
    assert _issues(tmp_path, rules, patient(identifier=[{"value": "10001234567"}])) == []
    issue = _one(_issues(tmp_path, rules, patient(identifier=[{"value": "1000123456X"}])))
    assert issue.diagnostics == 'p: Patient.identifier.value: value "1000123456X" does not match the regex [0-9]{11}'
    assert (issue.code, issue.expression) == ("value", ("Patient.identifier[0].value",))
    both = _issues(tmp_path, rules, patient(identifier=[{"value": "100012345678"}]))
    assert [i.diagnostics.split(": ", 2)[2] for i in both] == [
        'value "100012345678" does not match the regex [0-9]{11}', "length 12 exceeds maxLength 11"]


# ------------------------------------------------------------------------------------------------------------ slices
IDENT = {"path": "Patient.identifier", "slices": [
    {"name": "nir", "match": {"system": "urn:oid:1.2.250.1.213.1.4.8"}, "min": 1, "max": "1",
     "elements": [{"path": "use", "min": 1, "fixed": "official"}, {"path": "value", "min": 1}]}]}


def test_identifier_slice_passes(tmp_path: Path) -> None:
    ok = patient(identifier=[{"system": "local", "value": "1"},
                             {"system": "urn:oid:1.2.250.1.213.1.4.8", "use": "official", "value": "2"}])
    assert _issues(tmp_path, [IDENT], ok) == []


def test_slice_min_and_max(tmp_path: Path) -> None:
    missing = _one(_issues(tmp_path, [IDENT], patient(identifier=[{"system": "local", "value": "1"}])))
    assert missing.diagnostics.startswith("p: Patient.identifier:nir: minimum cardinality 1, found 0 (slice matched by")
    assert (missing.code, missing.expression) == ("required", ("Patient.identifier",))
    nir = {"system": "urn:oid:1.2.250.1.213.1.4.8", "use": "official", "value": "2"}
    twice = _one(_issues(tmp_path, [IDENT], patient(identifier=[nir, nir])))
    assert twice.diagnostics == "p: Patient.identifier:nir: maximum cardinality 1, found 2"


def test_slice_element_rules_name_the_slice(tmp_path: Path) -> None:
    bad = patient(identifier=[{"system": "local", "value": "1"}, {"system": "urn:oid:1.2.250.1.213.1.4.8",
                                                                 "use": "temp"}])
    issues = _issues(tmp_path, [IDENT], bad)
    assert [(i.diagnostics, i.expression) for i in issues] == [
        ('p: Patient.identifier:nir.use: fixed value "official" required, found "temp"', ("Patient.identifier[1].use",)),
        ("p: Patient.identifier:nir.value: minimum cardinality 1, found 0", ("Patient.identifier[1].value",))]


EXT = {"path": "Patient.extension", "slicing": {"rules": "closed"}, "slices": [
    {"name": "reliability", "match": {"url": "http://x/reliability"}, "min": 1, "max": "1", "elements": [
        {"path": "extension", "slicing": {"rules": "closed"}, "slices": [
            {"name": "status", "match": {"url": "status"}, "min": 1, "max": "1", "elements": [
                {"path": "value[x]", "min": 1, "types": ["Coding"],
                 "binding": {"strength": "required", "valueSet": f"{VS}/colour"}}]},
            {"name": "date", "match": {"url": "date"}, "max": "1"}]}]},
    {"name": "birthPlace", "match": {"url": "http://x/birthPlace"}, "max": "1", "elements": [
        {"path": "valueAddress.extension", "slices": [
            {"name": "insee", "match": {"url": "http://x/insee"}, "min": 1, "max": "1"}]}]}]}


def _reliability(*subs: dict[str, Any]) -> dict[str, Any]:
    return {"url": "http://x/reliability", "extension": list(subs)}


STATUS = {"url": "status", "valueCoding": {"system": f"{CS}/colour", "code": "blue"}}


def test_nested_extension_slices_pass(tmp_path: Path) -> None:
    ok = patient(extension=[_reliability(STATUS, {"url": "date", "valueDate": "2024-01-01"}),
                            {"url": "http://x/birthPlace", "valueAddress": {
                                "extension": [{"url": "http://x/insee", "valueCoding": {"code": "75056"}}]}}])
    assert _issues(tmp_path, [EXT], ok) == []


def test_nested_extension_slices_fail_precisely(tmp_path: Path) -> None:
    bad = patient(extension=[
        _reliability({"url": "status", "valueCoding": {"system": f"{CS}/colour", "code": "red"}}),
        {"url": "http://x/birthPlace", "valueAddress": {"city": "Paris"}}])
    issues = _issues(tmp_path, [EXT], bad)
    assert [(i.diagnostics.split(" (")[0], i.expression) for i in issues] == [
        (f"p: Patient.extension:reliability.extension:status.value[x]: code '{CS}/colour|red' is not in the required "
         f"value set Colour", ("Patient.extension[0].extension[0].valueCoding",)),
        ("p: Patient.extension:birthPlace.valueAddress.extension:insee: minimum cardinality 1, found 0",
         ("Patient.extension[1].valueAddress.extension",))]


def test_closed_slicing_rejects_unknown_items(tmp_path: Path) -> None:
    bad = patient(extension=[_reliability(STATUS, {"url": "comment", "valueString": "x"}),
                             {"url": "http://x/other", "valueString": "y"}])
    issues = _issues(tmp_path, [EXT], bad)
    assert [(i.diagnostics, i.code, i.expression) for i in issues] == [
        ("p: Patient.extension:reliability.extension: closed slicing, the element matches none of the slices "
         "status, date", "structure", ("Patient.extension[0].extension[1]",)),
        ("p: Patient.extension: closed slicing, the element matches none of the slices reliability, birthPlace",
         "structure", ("Patient.extension[1]",))]


def test_open_slicing_accepts_unknown_items(tmp_path: Path) -> None:
    rules = [{**IDENT, "slicing": {"rules": "open"}}]
    nir = {"system": "urn:oid:1.2.250.1.213.1.4.8", "use": "official", "value": "2"}
    assert _issues(tmp_path, rules, patient(identifier=[nir, {"system": "other", "value": "3"}])) == []


# -------------------------------------------------------------------------------------------------------- invariants
def test_invariant_on_the_resource(tmp_path: Path) -> None:
    invs = [{"key": "x-1", "human": "a name or a telecom", "expression": "name.exists() or telecom.exists()"}]
    assert _issues(tmp_path, [], patient(name=[{"family": "Roux"}]), invs) == []
    issue = _one(_issues(tmp_path, [], patient(), invs))
    assert issue.diagnostics == "p: invariant x-1 failed: a name or a telecom"
    assert (issue.code, issue.severity, issue.expression) == ("invariant", "error", ("Patient",))


def test_invariant_on_each_node_with_choice_types(tmp_path: Path) -> None:
    invs = [{"key": "x-2", "severity": "warning", "path": "Patient.extension", "human": "a blue status",
             "expression": "extension('status').value.exists(code = 'blue')"}]
    ok = patient(extension=[_reliability(STATUS)])
    assert _issues(tmp_path, [], ok, invs) == []
    bad = patient(extension=[_reliability(STATUS), _reliability({"url": "status", "valueCoding": {"code": "red"}})])
    issue = _one(_issues(tmp_path, [], bad, invs))
    assert (issue.severity, issue.expression) == ("warning", ("Patient.extension[1]",))


def test_invariant_empty_result_is_a_violation(tmp_path: Path) -> None:
    invs = [{"key": "x-3", "human": "h", "expression": "birthDate > @2000-01-01"}]
    assert len(_issues(tmp_path, [], patient(), invs)) == 1
    assert _issues(tmp_path, [], patient(birthDate="2010-05-01"), invs) == []


# ------------------------------------------------------------------------------------------- profiles and base chains
def test_base_chain_applies_every_known_ancestor(tmp_path: Path) -> None:
    _terminology(tmp_path)
    base = _profile(tmp_path, "base", [{"path": "Patient.birthDate", "min": 1}],
                    base="http://hl7.org/fhir/StructureDefinition/Patient")
    mid = _profile(tmp_path, "mid", [{"path": "Patient.gender", "min": 1}], base=base)
    child = _profile(tmp_path, "child", [{"path": "Patient.name", "min": 1}], base=mid + "|2.1.0")
    validator = ProfileValidator(load_registry(tmp_path))
    issues = validator.issues(patient(), [child + "|2.1.0"])
    assert [i.diagnostics for i in issues] == [
        "child: Patient.name: minimum cardinality 1, found 0",
        "child (from mid): Patient.gender: minimum cardinality 1, found 0",
        "child (from base): Patient.birthDate: minimum cardinality 1, found 0"]
    both = validator.issues(patient(), [child, base])
    assert len(both) == 3  # the base's issue is not repeated


def test_unknown_base_profile_is_tolerated(tmp_path: Path) -> None:
    _terminology(tmp_path)
    url = _profile(tmp_path, "p", [{"path": "Patient.name", "min": 1}], base="http://elsewhere/StructureDefinition/x")
    assert len(ProfileValidator(load_registry(tmp_path)).issues(patient(), [url])) == 1


def test_unknown_profile_warns_or_fails_when_strict(tmp_path: Path) -> None:
    _terminology(tmp_path)
    registry = load_registry(tmp_path)
    warning = _one(ProfileValidator(registry).issues(patient(), ["http://nowhere/StructureDefinition/x"]))
    assert warning.diagnostics == ("profile http://nowhere/StructureDefinition/x is not known to this server: "
                                   "validated against the base FHIR R4 specification only")
    assert (warning.severity, warning.code) == ("warning", "not-supported")
    strict = _one(ProfileValidator(registry, strict=True).issues(patient(), ["http://nowhere/StructureDefinition/x"]))
    assert strict.severity == "error"


def test_profile_of_another_resource_type_is_an_error(tmp_path: Path) -> None:
    validator, url = _validator(tmp_path, [], rtype="Practitioner")
    issue = _one(validator.issues(patient(), [url]))
    assert issue.diagnostics == f"p: profile {url} constrains Practitioner, not Patient"
    assert issue.severity == "error"


def test_registry_is_cached_per_directory(tmp_path: Path) -> None:
    _terminology(tmp_path)
    assert registry_for(tmp_path) is registry_for(tmp_path)


def test_missing_directory_gives_an_empty_registry(tmp_path: Path) -> None:
    assert load_registry(tmp_path / "absent").profiles == {}


# ------------------------------------------------------------------------------------------------------ loader errors
@pytest.mark.parametrize(("elements", "invariants", "message"), [
    ([{"path": "Patient.name", "min": 2, "max": "1"}], [], "min 2 is greater than max 1"),
    ([{"path": "Patient.name", "max": 1}], [], "max must be"),
    ([{"path": "Patient.name", "min": -1}], [], "min must be a non-negative integer"),
    ([{"path": "Patient.name", "cardinality": "1..1"}], [], "unknown key(s) cardinality"),
    ([{"path": "Practitioner.name", "min": 1}], [], "path must start with the profile type 'Patient'"),
    ([{"path": "Patient..name"}], [], "malformed path"),
    ([{"path": "Patient.name", "regex": "[a-"}], [], "does not compile"),
    ([{"path": "Patient.gender", "binding": {"strength": "required", "valueSet": "http://missing/vs"}}], [],
     "binding to value set http://missing/vs which is not in config/profiles/valuesets/"),
    ([{"path": "Patient.gender", "binding": {"strength": "mandatory", "valueSet": f"{VS}/gender"}}], [],
     "binding strength must be one of"),
    ([{"path": "Patient.identifier", "slices": [{"name": "a", "min": 1}]}], [], "needs a non-empty 'match'"),
    ([{"path": "Patient.identifier", "slices": [{"name": "a", "match": {"use": "x"}},
                                                {"name": "a", "match": {"use": "y"}}]}], [], "duplicate slice names"),
    ([{"path": "Patient.identifier", "slicing": {"rules": "closed"}}], [], "closed slicing without any slice"),
    ([{"path": "Patient.identifier", "slices": [{"name": "a", "match": {"use": "x"},
                                                 "elements": [{"path": "use", "fixd": "x"}]}]}], [], "unknown key(s) fixd"),
    ([], [{"key": "i-1", "expression": "name.("}], "FHIRPath expression does not compile: syntax error"),
    ([], [{"key": "i-1", "expression": "name.nosuchfunction()"}], "Not implemented: nosuchfunction"),
    ([], [{"key": "i-1", "expression": "name.exists()", "severity": "fatal"}], "severity must be error or warning"),
    ([], [{"expression": "name.exists()"}], "an invariant needs a key"),
])
def test_malformed_profiles_fail_loudly(tmp_path: Path, elements: list[Any], invariants: list[Any],
                                        message: str) -> None:
    _terminology(tmp_path)
    _profile(tmp_path, "broken", elements, invariants)
    with pytest.raises(ProfileError) as err:
        load_registry(tmp_path)
    assert message in str(err.value)
    assert "broken.json" in str(err.value)


def test_loader_errors_on_files(tmp_path: Path) -> None:
    _terminology(tmp_path)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ProfileError, match="bad.json: not readable JSON"):
        load_registry(tmp_path)


def test_loader_refuses_duplicates_cycles_and_type_mismatch(tmp_path: Path) -> None:
    _terminology(tmp_path)
    _profile(tmp_path, "a", [], base=f"{EX}/b")
    _profile(tmp_path, "b", [], base=f"{EX}/a")
    with pytest.raises(ProfileError, match="baseDefinition cycle"):
        load_registry(tmp_path)
    _profile(tmp_path, "b", [], rtype="Practitioner")
    with pytest.raises(ProfileError, match="base profile b constrains Practitioner, not Patient"):
        load_registry(tmp_path)
    (tmp_path / "b.json").unlink()
    _write(tmp_path, "copy.json", {"url": f"{EX}/a", "type": "Patient"})
    with pytest.raises(ProfileError, match="is also defined in"):
        load_registry(tmp_path)


@pytest.mark.parametrize(("valueset", "message"), [
    ({"resourceType": "ValueSet", "url": "http://v/1", "compose": {"include": [{"system": "http://unknown-cs"}]}},
     "includes the whole code system http://unknown-cs"),
    ({"resourceType": "ValueSet", "url": "http://v/1", "compose": {"include": [
        {"system": "http://s", "filter": [{"property": "concept", "op": "is-a", "value": "x"}]}]}}, "filters"),
    ({"resourceType": "ValueSet", "url": "http://v/1", "compose": {"include": [{"valueSet": ["http://v/none"]}]}},
     "value set http://v/none is not loaded"),
    ({"resourceType": "ValueSet", "url": "http://v/1", "compose": {"include": [{"valueSet": ["http://v/1"]}]}},
     "includes itself"),
    ({"resourceType": "CodeSystem", "url": "http://v/1"}, "expected a ValueSet resource"),
    ({"resourceType": "ValueSet", "url": "http://v/1"}, "neither compose.include nor expansion.contains"),
])
def test_malformed_value_sets_fail_loudly(tmp_path: Path, valueset: dict[str, Any], message: str) -> None:
    _write(tmp_path, "valuesets/broken.json", valueset)
    with pytest.raises(ProfileError) as err:
        load_registry(tmp_path)
    assert message in str(err.value)


def test_value_set_expansion_contains_is_used(tmp_path: Path) -> None:
    _write(tmp_path, "valuesets/exp.json", {"resourceType": "ValueSet", "url": f"{VS}/exp", "expansion": {
        "contains": [{"system": "s", "code": "a", "contains": [{"system": "s", "code": "b"}]}]}})
    url = _profile(tmp_path, "p", [{"path": "Patient.gender",
                                    "binding": {"strength": "required", "valueSet": f"{VS}/exp"}}])
    registry = load_registry(tmp_path)
    assert registry.terminology.expand(f"{VS}/exp") == frozenset({("s", "a"), ("s", "b")})
    assert len(ProfileValidator(registry).issues(patient(gender="male"), [url])) == 1
