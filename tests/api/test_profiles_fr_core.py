"""The four FR Core profiles (config/profiles/fr-core-*.json) through the API: ``$validate?profile=`` (query string
and Parameters) and validation on write of resources claiming them; broken variants give 422 with the element path
and the rule.

Other validators run on the same writes (national identifier check keys, RNIV status consistency): the passing
resources carry valid keys, and ``$validate`` assertions look at the profile's own issues (diagnostics starting with
the profile id).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from fhirserver.identity.keys import luhn_check_digit, nir_key

SD = "https://hl7.fr/ig/fhir/core/StructureDefinition"
PATIENT, PATIENT_INS = f"{SD}/fr-core-patient", f"{SD}/fr-core-patient-ins"
PRACTITIONER, ORGANIZATION = f"{SD}/fr-core-practitioner", f"{SD}/fr-core-organization"
CS0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
V2_0445 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
IDENTITY_STATUS = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status"
RELIABILITY = f"{SD}/fr-core-identity-reliability"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
INSEE = f"{SD}/fr-core-address-insee-code"
BIRTH_LIST = f"{SD}/fr-core-patient-birth-list-given-name"
EXAMPLES = Path(__file__).parents[2].parent / "shared" / "fr" / "examples"

NIR13 = "2840675115042"  # a woman born in June 1984 in Paris (75115); key computed below
NIR = NIR13 + f"{nir_key(NIR13):02d}"
RPPS = "1000123456" + str(luhn_check_digit("1000123456"))
FINESS = "75080344" + str(luhn_check_digit("75080344"))


def _typed(code: str, system: str = CS0203) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def qualified_patient() -> dict[str, Any]:
    """A qualified identity (FR Core 2.1 coding) carrying its INS: valid against fr-core-patient-ins."""
    return {
        "resourceType": "Patient", "meta": {"profile": [PATIENT_INS]},
        "extension": [
            {"url": RELIABILITY, "extension": [
                {"url": "identityStatus", "valueCoding": {"system": V2_0445, "code": "VALI"}},
                {"url": "methodCollection", "valueCoding": {"code": "INSi"}},
                {"url": "dateInterrogationINSi", "valueDate": "2026-09-01"},
                {"url": "validationMode", "valueCoding": {
                    "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity",
                    "code": "CN"}},
                {"url": "validationDate", "valueDate": "2026-09-01"}]},
            {"url": BIRTH_PLACE, "valueAddress": {"city": "Paris 15e Arrondissement", "extension": [
                {"url": INSEE, "valueCoding": {
                    "system": "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM",
                    "code": "75115"}}]}}],
        "identifier": [
            {"use": "official", "type": _typed("INS-NIR"), "system": "urn:oid:1.2.250.1.213.1.4.8", "value": NIR},
            {"use": "usual", "type": _typed("PI", "http://terminology.hl7.org/CodeSystem/v2-0203"),
             "system": "https://ehpad-les-tilleuls.fr/ipp", "value": "IPP-000123"}],
        "name": [{"use": "official", "family": "Lefèvre", "given": ["Sophie"],
                  "extension": [{"url": BIRTH_LIST, "valueString": "Sophie Anne"}]},
                 {"use": "usual", "family": "Martin", "given": ["Sophie"]}],
        "gender": "female", "birthDate": "1984-06-12",
    }


def practitioner() -> dict[str, Any]:
    return {"resourceType": "Practitioner", "meta": {"profile": [PRACTITIONER]},
            "identifier": [
                {"type": _typed("IDNPS"), "system": "urn:oid:1.2.250.1.71.4.2.1", "value": "8" + RPPS},
                {"type": _typed("RPPS"), "system": "https://rpps.esante.gouv.fr", "value": RPPS}],
            "name": [{"family": "Garnier", "given": ["Paul"], "prefix": ["Dr"]}]}


def organization() -> dict[str, Any]:
    return {"resourceType": "Organization", "meta": {"profile": [ORGANIZATION]}, "name": "EHPAD Les Tilleuls",
            "identifier": [
                {"use": "official", "type": _typed("IDNST"), "system": "urn:oid:1.2.250.1.71.4.2.2",
                 "value": "1" + FINESS},
                {"type": _typed("FINEG"), "system": "https://finess.esante.gouv.fr", "value": FINESS}]}


def _example() -> dict[str, Any]:
    return json.loads((EXAMPLES / "Patient-FRCorePatientExample.fr-core-2.2.0-ballot-2.json").read_text("utf-8"))


def _validate(fhir: Any, resource: dict[str, Any], profile: str | None = None) -> list[dict[str, Any]]:
    path = f"{resource['resourceType']}/$validate" + (f"?profile={quote(profile, safe='')}" if profile else "")
    resp = fhir.post(path, resource)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["issue"]


def _profile_issues(issues: list[dict[str, Any]], pid: str) -> list[dict[str, Any]]:
    return [i for i in issues if i["diagnostics"].startswith(f"{pid}:") or i["diagnostics"].startswith(f"{pid} (")]


def _errors(issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in issues if i["severity"] in ("error", "fatal")]


# -------------------------------------------------------------------------------------------------- passing resources
def test_official_example_validates_against_fr_core_patient_ins(fhir: Any) -> None:
    """The FR Core example has zero profile issues. Its INS (123456789012244) has a wrong NIR key: that is the
    identifier validator's business, hence the filter on the profile id."""
    issues = _validate(fhir, _example(), PATIENT_INS)
    assert _profile_issues(issues, "fr-core-patient-ins") == []
    assert not any("not known" in i["diagnostics"] for i in issues)


@pytest.mark.parametrize(("resource", "profile"), [
    (qualified_patient(), PATIENT_INS), (qualified_patient(), PATIENT), (practitioner(), PRACTITIONER),
    (organization(), ORGANIZATION)])
def test_valid_resources_pass_validate(fhir: Any, resource: dict[str, Any], profile: str) -> None:
    issues = _validate(fhir, resource, profile)
    assert _errors(issues) == [], issues
    assert issues[0]["diagnostics"] == "validation successful"


@pytest.mark.parametrize("factory", [qualified_patient, practitioner, organization])
def test_valid_resources_are_written(fhir: Any, factory: Any) -> None:
    created = fhir.create(factory())
    assert created["meta"]["profile"] == factory()["meta"]["profile"]


def test_fr_core_2_2_qualified_coding_is_accepted(fhir: Any) -> None:
    patient = qualified_patient()
    patient["extension"][0]["extension"][0]["valueCoding"] = {"system": IDENTITY_STATUS, "code": "QUAL"}
    assert _profile_issues(_validate(fhir, patient, PATIENT_INS), "fr-core-patient-ins") == []


# ------------------------------------------------------------------------------------------------- $validate params
def test_profile_in_parameters_body(fhir: Any) -> None:
    broken = qualified_patient()
    del broken["birthDate"]
    broken["meta"] = {}
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": broken}, {"name": "profile", "valueCanonical": PATIENT_INS}]}
    issues = fhir.post("Patient/$validate", body).get_json()["issue"]
    assert [i["diagnostics"] for i in _profile_issues(issues, "fr-core-patient-ins")] == [
        "fr-core-patient-ins: Patient.birthDate: minimum cardinality 1, found 0"]


def test_profile_in_query_string_without_meta_claim(fhir: Any) -> None:
    broken = qualified_patient()
    broken["meta"] = {}
    broken["gender"] = "other"
    found = _profile_issues(_validate(fhir, broken, PATIENT_INS), "fr-core-patient-ins")
    assert [(i["code"], i["expression"]) for i in found] == [("code-invalid", ["Patient.gender"])]
    assert "code 'other' is not in the required value set" in found[0]["diagnostics"]


def test_get_validate_on_a_stored_resource_with_profile(fhir: Any) -> None:
    stored = fhir.create({"resourceType": "Practitioner", "name": [{"family": "Roux"}],
                          "identifier": [{"system": "https://rpps.esante.gouv.fr", "value": RPPS}]})
    resp = fhir.get(f"Practitioner/{stored['id']}/$validate?profile={quote(PRACTITIONER, safe='')}")
    found = _profile_issues(resp.get_json()["issue"], "fr-core-practitioner")
    assert [(i["diagnostics"], i["expression"]) for i in found] == [
        ("fr-core-practitioner: Practitioner.identifier:rpps.type: minimum cardinality 1, found 0",
         ["Practitioner.identifier[0].type"])]


def test_unknown_profile_parameter_warns(fhir: Any) -> None:
    issues = _validate(fhir, practitioner(), f"{SD}/fr-core-practitioner-typo")
    unknown = [i for i in issues if "is not known to this server" in i["diagnostics"]]
    assert [(i["severity"], i["code"]) for i in unknown] == [("warning", "not-supported")]
    assert f"{SD}/fr-core-practitioner-typo" in unknown[0]["diagnostics"]


def test_profile_of_another_type_is_an_error(fhir: Any) -> None:
    issues = _validate(fhir, practitioner(), PATIENT)
    assert [i["diagnostics"] for i in _errors(issues)] == [
        f"fr-core-patient: profile {PATIENT} constrains Patient, not Practitioner"]


def test_versioned_profile_url(fhir: Any) -> None:
    broken = practitioner()
    broken["identifier"][1]["type"] = _typed("ADELI")
    found = _profile_issues(_validate(fhir, broken, PRACTITIONER + "|2.1.0"), "fr-core-practitioner")
    assert len(found) == 1 and "Practitioner.identifier:rpps.type: value must match the pattern" in \
        found[0]["diagnostics"]


# -------------------------------------------------------------------------------------- broken variants on write
def _drop_extension(patient: dict[str, Any], url: str) -> None:
    patient["extension"] = [e for e in patient["extension"] if e["url"] != url]


def _set_status(patient: dict[str, Any], coding: dict[str, str]) -> None:
    patient["extension"][0]["extension"][0]["valueCoding"] = coding


BROKEN_PATIENTS: list[tuple[str, Any, str, str]] = [
    ("no birth date", lambda p: p.pop("birthDate"),
     "fr-core-patient-ins: Patient.birthDate: minimum cardinality 1, found 0", "Patient.birthDate"),
    ("two birth given names", lambda p: p["name"][0]["given"].append("Anne"),
     "fr-core-patient-ins: Patient.name:officialName.given: maximum cardinality 1, found 2", "Patient.name[0].given"),
    ("no birth name family", lambda p: p["name"][0].pop("family"),
     "fr-core-patient-ins (from fr-core-patient): Patient.name:officialName.family: minimum cardinality 1, found 0",
     "Patient.name[0].family"),
    ("no birth list of given names", lambda p: p["name"][0].pop("extension"),
     "fr-core-patient-ins: Patient.name:officialName.extension:birth-list-given-name: minimum cardinality 1, "
     "found 0", "Patient.name[0].extension"),
    ("no birth place INSEE code", lambda p: p["extension"][1]["valueAddress"].pop("extension"),
     "fr-core-patient-ins: Patient.extension:birthPlace.valueAddress.extension:inseeCode: minimum cardinality 1, "
     "found 0", "Patient.extension[1].valueAddress.extension"),
    ("INS typed INS-NIR on another system", lambda p: p["identifier"][0].update(system="urn:oid:1.2.250.1.213.1.4.9"),
     'fr-core-patient-ins: Patient.identifier:INS-NIR.system: fixed value "urn:oid:1.2.250.1.213.1.4.8" required, '
     'found "urn:oid:1.2.250.1.213.1.4.9"', "Patient.identifier[0].system"),
    ("INS-NIR with use usual", lambda p: p["identifier"][0].update(use="usual"),
     "fr-core-patient-ins: Patient.identifier:INS-NIR.use: code 'usual' is not in the required value set",
     "Patient.identifier[0].use"),
    ("two birth names", lambda p: p["name"].append(copy.deepcopy(p["name"][0])),
     "fr-core-patient-ins: Patient.name:officialName: maximum cardinality 1, found 2", "Patient.name"),
    ("unknown identity status", lambda p: _set_status(p, {"system": V2_0445, "code": "XXXX"}),
     "fr-core-patient-ins (from fr-core-patient): Patient.extension:identityReliability.extension:identityStatus."
     f"value[x]: code '{V2_0445}|XXXX' is not in the required value set", "Patient.extension[0].extension[0].valueCoding"),
    ("validation mode not in the value set", lambda p: p["extension"][0]["extension"][3]["valueCoding"].update(code="XX"),
     "fr-core-patient-ins (from fr-core-patient): Patient.extension:identityReliability.extension:validationMode."
     "value[x]: code", "Patient.extension[0].extension[*].valueCoding"),  # the identity hook reorders sub-extensions
    ("status as a string", lambda p: p["extension"][0]["extension"].__setitem__(
        0, {"url": "identityStatus", "valueString": "VALI"}),
     "fr-core-patient-ins (from fr-core-patient): Patient.extension:identityReliability.extension:identityStatus."
     "value[x]: type String is not allowed (allowed: Coding)", "Patient.extension[0].extension[0].valueString"),
]


@pytest.mark.parametrize(("label", "breaks", "diagnostics", "expression"), BROKEN_PATIENTS,
                         ids=[b[0] for b in BROKEN_PATIENTS])
def test_broken_patient_ins_refused_on_write(fhir: Any, label: str, breaks: Any, diagnostics: str,
                                             expression: str) -> None:
    patient = qualified_patient()
    breaks(patient)
    resp = fhir.post("Patient", patient)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    found = [i for i in resp.get_json()["issue"] if i["diagnostics"].startswith(diagnostics)]
    assert found, resp.get_json()
    assert len(found[0]["expression"]) == 1
    assert re.fullmatch(re.escape(expression).replace(r"\[\*\]", r"\[\d+\]"), found[0]["expression"][0])
    assert fhir.search("Patient") == []


def test_fr_core_1_needs_an_ins_identifier_for_a_qualified_identity(fhir: Any) -> None:
    patient = qualified_patient()
    patient["identifier"] = [patient["identifier"][1]]
    found = _profile_issues(_validate(fhir, patient, PATIENT_INS), "fr-core-patient-ins")
    # no official identifier left: fr-core-2 ("only one official") fails with fr-core-1
    assert [(i["code"], i["expression"]) for i in found] == [("invariant", ["Patient"])] * 2
    assert found[0]["diagnostics"].startswith("fr-core-patient-ins: invariant fr-core-1 failed: If the identity is "
                                              "qualified")
    assert found[1]["diagnostics"].startswith("fr-core-patient-ins: invariant fr-core-2 failed")


def test_fr_core_2_only_one_official_identifier(fhir: Any) -> None:
    patient = qualified_patient()
    patient["identifier"].append({"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.10",
                                  "type": _typed("INS-NIR-TEST"), "value": NIR})
    found = _profile_issues(_validate(fhir, patient, PATIENT_INS), "fr-core-patient-ins")
    assert [i["diagnostics"].split(":")[1].strip() for i in found] == ["invariant fr-core-2 failed"]


def test_fr_core_1_tests_the_coding_with_its_system(fhir: Any) -> None:
    """FR Core 2.2 'VALI' (validée, no INSi) is not the 2.1 'VALI' (qualifiée): no INS is required then
    (FR Core 2.1.0's expression, code = 'VALI' without system, would fire here — documented deviation)."""
    patient = qualified_patient()
    patient["identifier"] = [patient["identifier"][1]]
    _set_status(patient, {"system": IDENTITY_STATUS, "code": "VALI"})
    found = _profile_issues(_validate(fhir, patient, PATIENT_INS), "fr-core-patient-ins")
    assert not [i for i in found if "fr-core-1" in i["diagnostics"] or "fr-core-2" in i["diagnostics"]]


def test_fr_core_patient_slices(fhir: Any) -> None:
    patient = qualified_patient()
    patient["meta"] = {"profile": [PATIENT]}
    patient["identifier"] = [
        {"use": "official", "type": _typed("NH", "http://terminology.hl7.org/CodeSystem/v2-0203"),
         "system": "urn:oid:1.2.250.1.213.1.4.13", "value": NIR},
        {"use": "usual", "type": _typed("PI", "http://terminology.hl7.org/CodeSystem/v2-0203"), "value": "IPP-1"}]
    resp = fhir.post("Patient", patient)
    assert resp.status_code == 422
    found = [(i["diagnostics"], i["expression"]) for i in resp.get_json()["issue"]
             if i["diagnostics"].startswith("fr-core-patient:")]
    assert found == [
        ('fr-core-patient: Patient.identifier:NSS.system: fixed value "urn:oid:1.2.250.1.213.1.4.8" required, '
         'found "urn:oid:1.2.250.1.213.1.4.13"', ["Patient.identifier[0].system"]),
        ("fr-core-patient: Patient.identifier:PI.system: minimum cardinality 1, found 0",
         ["Patient.identifier[1].system"])]


def test_fr_core_patient_reference_targets(fhir: Any) -> None:
    patient = qualified_patient()
    patient["meta"] = {"profile": [PATIENT]}
    patient["managingOrganization"] = {"reference": "Practitioner/1"}
    found = _profile_issues(_validate(fhir, patient), "fr-core-patient")
    assert [(i["diagnostics"], i["expression"]) for i in found] == [
        ("fr-core-patient: Patient.managingOrganization: reference to a Practitioner, allowed targets: Organization",
         ["Patient.managingOrganization"])]


@pytest.mark.parametrize(("breaks", "diagnostics", "expression"), [
    (lambda p: p["identifier"][1].pop("type"),
     "fr-core-practitioner: Practitioner.identifier:rpps.type: minimum cardinality 1, found 0",
     "Practitioner.identifier[1].type"),
    (lambda p: p["identifier"][0].update(type=_typed("RPPS")),
     "fr-core-practitioner: Practitioner.identifier:idNatPs.type: value must match the pattern",
     "Practitioner.identifier[0].type"),
    (lambda p: p["identifier"].append(copy.deepcopy(p["identifier"][0])),
     "fr-core-practitioner: Practitioner.identifier:idNatPs: maximum cardinality 1, found 2", "Practitioner.identifier"),
    (lambda p: p["name"][0]["prefix"].append("Pr"),
     "fr-core-practitioner: Practitioner.name.prefix: maximum cardinality 1, found 2", "Practitioner.name[0].prefix"),
])
def test_broken_practitioner_refused_on_write(fhir: Any, breaks: Any, diagnostics: str, expression: str) -> None:
    resource = practitioner()
    breaks(resource)
    resp = fhir.post("Practitioner", resource)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    found = [i for i in resp.get_json()["issue"] if i["diagnostics"].startswith(diagnostics)]
    assert found and found[0]["expression"] == [expression], resp.get_json()


@pytest.mark.parametrize(("breaks", "diagnostics", "expression"), [
    (lambda o: o["identifier"][1].pop("system"),
     "fr-core-organization: Organization.identifier.system: minimum cardinality 1, found 0",
     "Organization.identifier[1].system"),
    (lambda o: o["identifier"][0].update(use="usual"),
     'fr-core-organization: Organization.identifier:idNatSt.use: fixed value "official" required, found "usual"',
     "Organization.identifier[0].use"),
    (lambda o: o["identifier"][1]["type"]["coding"][0].update(system="http://terminology.hl7.org/CodeSystem/v2-0203"),
     "fr-core-organization: Organization.identifier:finess.type.coding.system: fixed value",
     "Organization.identifier[1].type.coding[0].system"),
    (lambda o: o.update(partOf={"reference": "Patient/x"}),
     "fr-core-organization: Organization.partOf: reference to a Patient", "Organization.partOf"),
])
def test_broken_organization_refused_on_write(fhir: Any, breaks: Any, diagnostics: str, expression: str) -> None:
    resource = organization()
    breaks(resource)
    resp = fhir.post("Organization", resource)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    found = [i for i in resp.get_json()["issue"] if i["diagnostics"].startswith(diagnostics)]
    assert found and found[0]["expression"] == [expression], resp.get_json()


def test_update_is_validated_too(fhir: Any) -> None:
    created = fhir.create(organization())
    broken = {**created, "identifier": [{**created["identifier"][0], "use": "secondary"}]}
    resp = fhir.put(f"Organization/{created['id']}", broken)
    assert resp.status_code == 422
    assert "Organization.identifier:idNatSt.use" in resp.get_json()["issue"][0]["diagnostics"]
