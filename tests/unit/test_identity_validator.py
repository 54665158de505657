"""IdentityValidator: national identifiers, INSEE codes and identity-status rules, as OperationOutcome issues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirserver.identity.status import CS_IDENTITY_STATUS, CS_V2_0445, EXT_IDENTITY_RELIABILITY
from fhirserver.identity.validator import IdentityValidator

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fr" / "examples"
V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
TEST = IdentityValidator("test")
PROD = IdentityValidator("production")


def errors(resource: dict[str, Any], validator: IdentityValidator = TEST) -> list[tuple[str, str, str]]:
    return [(i.code, i.expression[0], i.diagnostics) for i in validator.issues(resource, [])
            if i.severity == "error"]


def ins(value: str, oid: str = "1.2.250.1.213.1.4.8", code: str = "INS-NIR", use: str = "official") -> dict[str, Any]:
    return {"use": use, "type": {"coding": [{"system": V2_0203, "code": code}]}, "system": f"urn:oid:{oid}",
            "value": value}


def test_tddui_example_is_reported_with_the_expected_key() -> None:
    example = json.loads((EXAMPLES / "Patient-tddui-patient-ins-example.tddui-2.2.0-ballot.json").read_text())
    assert errors(example) == [("value", "Patient.identifier[0].value",
                                "identifier urn:oid:1.2.250.1.213.1.4.8 (INS-NIR) 147720425367411: wrong NIR key 11, "
                                "the key of 1477204253674 is 30 (97 - the 13 characters mod 97, Corsica 2A/2B read "
                                "as 19/18)")]
    example["identifier"][0]["value"] = "147720425367430"
    assert errors(example) == []


def test_fr_core_example_key_is_flagged_too() -> None:
    # The FR Core Patient example's NIR 123456789012244 also carries a wrong key (the key of 1234567890122 is 12).
    example = json.loads((EXAMPLES / "Patient-FRCorePatientExample.fr-core-2.2.0-ballot-2.json").read_text())
    found = errors(example)
    assert len(found) == 1 and "wrong NIR key 44, the key of 1234567890122 is 12" in found[0][2]
    example["identifier"][0]["value"] = "123456789012212"
    assert errors(example) == []


@pytest.mark.parametrize(("value", "fragment"), [
    ("14772042536743", "expected 15 characters"),
    ("347720425367430", "sex digit 3"),
    ("1477204253674 30", "without spaces"),
    ("142092A00401706", "wrong NIR key 06, the key of 142092A004017 is 05"),
])
def test_nir_problems(value: str, fragment: str) -> None:
    found = errors({"resourceType": "Patient", "identifier": [ins(value)]})
    assert len(found) == 1 and fragment in found[0][2] and found[0][2].startswith("identifier urn:oid:")


def test_environment() -> None:
    patient = {"resourceType": "Patient", "identifier": [ins("147720425367430", "1.2.250.1.213.1.4.11",
                                                              "INS-NIR-DEMO")]}
    assert errors(patient) == []
    assert [e[1] for e in errors(patient, PROD)] == ["Patient.identifier[0].system"]


def test_slice_mismatch_is_a_warning_and_nss_is_accepted() -> None:
    wrong_use = {"resourceType": "Patient", "identifier": [ins("147720425367430", use="temp")]}
    issues = TEST.issues(wrong_use, [])
    assert [(i.severity, i.code) for i in issues] == [("warning", "invalid")]
    nss = {"resourceType": "Patient", "identifier": [{"use": "official", "type": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NH"}]},
        "system": "urn:oid:1.2.250.1.213.1.4.8", "value": "147720425367430"}]}
    assert TEST.issues(nss, []) == []


def test_ins_only_checked_on_patient() -> None:
    assert errors({"resourceType": "Practitioner", "identifier": [ins("147720425367411")]}) == []


@pytest.mark.parametrize(("rt", "system", "value", "ok"), [
    ("Practitioner", "https://rpps.esante.gouv.fr", "10000000009", True),
    ("Practitioner", "https://rpps.esante.gouv.fr", "10000000008", False),
    ("Practitioner", "urn:oid:1.2.250.1.71.4.2.1", "810000000009", True),
    ("Practitioner", "urn:oid:1.2.250.1.71.4.2.1", "3750803447/1234", True),  # opaque registry id
    ("Practitioner", "urn:oid:1.2.250.1.71.4.2.1", "0001234567", False),  # ADELI department 00
    ("Practitioner", "http://adeli.fr", "2A1234567", True),
    ("Organization", "https://finess.esante.gouv.fr", "750803447", True),
    ("Organization", "https://finess.esante.gouv.fr", "75080344", False),
    ("Organization", "https://sirene.fr", "732829320", True),
    ("Organization", "https://sirene.fr", "73282932000074", True),
    ("Organization", "https://sirene.fr", "7328293200007", False),
    ("Organization", "urn:oid:1.2.250.1.71.4.2.2", "1750803447", True),
    ("Organization", "urn:oid:1.2.250.1.71.4.2.2", "373282932000074", True),
    ("Organization", "urn:oid:1.2.250.1.71.4.2.2", "373282932000075", False),
    ("Organization", "urn:oid:1.2.250.1.71.4.2.2", "R10000000042", True),  # technical id
    ("Organization", "https://example.org/local", "anything", True),
])
def test_professional_and_structure_identifiers(rt: str, system: str, value: str, ok: bool) -> None:
    found = errors({"resourceType": rt, "identifier": [{"system": system, "value": value}]})
    assert (found == []) is ok, found
    if not ok:
        assert found[0][1] == f"{rt}.identifier[0].value" and found[0][2].startswith(f"identifier {system} (")


def test_insee_codes_everywhere() -> None:
    org = {"resourceType": "Organization", "address": [{"extension": [
        {"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code",
         "valueCoding": {"code": "2C004"}}]}]}
    found = errors(org)
    assert [(f[1], f[2].split(":")[0]) for f in found] == [
        ("Organization.address[0].extension[0].valueCoding.code", "INSEE code 2C004")]


def status(code: str, system: str = CS_V2_0445, *subs: dict[str, Any]) -> dict[str, Any]:
    return {"url": EXT_IDENTITY_RELIABILITY, "extension": [*subs, {"url": "identityStatus",
                                                                    "valueCoding": {"system": system, "code": code}}]}


def test_status_rules() -> None:
    qualified_without_ins = {"resourceType": "Patient", "extension": [status("VALI")]}
    assert [(c, e) for c, e, _ in errors(qualified_without_ins)] == [("business-rule", "Patient.identifier")]
    claim = {"resourceType": "Patient", "meta": {"profile": [
        "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins|2.1.0"]}}
    assert [(c, e) for c, e, _ in errors(claim)] == [("business-rule", "Patient.meta.profile[0]")]
    validated_without_document = {"resourceType": "Patient", "extension": [status("VALI", CS_IDENTITY_STATUS)]}
    assert "validationMode" in errors(validated_without_document)[0][2]
    unreadable = {"resourceType": "Patient", "extension": [{"url": "x"}, status("VALI", "")]}
    assert [(c, e) for c, e, _ in errors(unreadable)] == [("value", "Patient.extension[1]")]
