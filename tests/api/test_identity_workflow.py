"""The RNIV identity workflow through the API: national identifier checks on write, $ins-lookup,
$identity-validate, trait-change downgrades, the FR Core 2.1 / 2.2 wire form, the sharing rule, Provenance."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fhirserver.app import build_context, create_app
from fhirserver.identity.sharing import status_of
from fhirserver.identity.status import (
    CS_IDENTITY_STATUS,
    CS_V2_0445,
    EXT_IDENTITY_RELIABILITY,
    IdentityStatus,
)
from fhirserver.settings import load_settings
from tests.conftest import FhirClient

INS_PROFILE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"
TDDUI_INS_PROFILE = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-patient-ins"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
EXT_INSEE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
EXT_GIVEN_LIST = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fr" / "examples"
# Simulator identities (config/insi-simulator.json)
HELENE_NIR = "238056912300133"
NGUYEN_NIR = "250079924304567"


def helene(pid: str = "p1", **extra: Any) -> dict[str, Any]:
    """Local traits of a simulator identity (accents and case differ from the INSi's)."""
    return {"resourceType": "Patient", "id": pid,
            "name": [{"use": "official", "family": "De la Fontaine", "given": ["Helene"]}],
            "gender": "female", "birthDate": "1938-05-12", **extra}


def params(**named: Any) -> dict[str, Any]:
    return {"resourceType": "Parameters",
            "parameter": [{"name": k, "valueCode": v} if k != "comment" else {"name": k, "valueString": v}
                          for k, v in named.items()]}


def out(resp: Any) -> dict[str, Any]:
    body = resp.get_json()
    assert resp.status_code == 200, body
    return {p["name"]: p.get("resource", next((v for k, v in p.items() if k.startswith("value")), None))
            for p in body["parameter"]}


def reliability(patient: dict[str, Any]) -> dict[str, Any]:
    exts = [e for e in patient.get("extension", []) if e["url"] == EXT_IDENTITY_RELIABILITY]
    assert len(exts) == 1, patient.get("extension")
    return {s["url"]: s for s in exts[0]["extension"]}


def provenances(fhir: FhirClient, pid: str) -> list[str]:
    return sorted(p["activity"]["coding"][0]["code"] for p in fhir.search(f"Provenance?target=Patient/{pid}"))


def ins(value: str, system: str = "urn:oid:1.2.250.1.213.1.4.10", code: str = "INS-NIR-TEST",
        use: str = "official") -> dict[str, Any]:
    return {"use": use, "type": {"coding": [{"system": V2_0203, "code": code}]}, "system": system, "value": value}


def status_ext(system: str, code: str, *subs: dict[str, Any]) -> dict[str, Any]:
    return {"url": EXT_IDENTITY_RELIABILITY,
            "extension": [*subs, {"url": "identityStatus", "valueCoding": {"system": system, "code": code}}]}


@pytest.fixture()
def client_with(app: Any, database_url: str) -> Iterator[Callable[..., FhirClient]]:
    """A FHIR client over an app with other settings (same, freshly wiped, database)."""
    contexts: list[Any] = []

    def make(**overrides: Any) -> FhirClient:
        ctx = build_context(load_settings(database_url=database_url, **{"auth_required": False, **overrides}))
        contexts.append(ctx)
        application = create_app(ctx.settings, context=ctx)
        application.testing = True
        return FhirClient(application.test_client())

    yield make
    for ctx in contexts:
        ctx.repo.engine.dispose()


def qualified(fhir: FhirClient, pid: str = "p1") -> dict[str, Any]:
    fhir.put(f"Patient/{pid}", helene(pid))
    assert out(fhir.post(f"Patient/{pid}/$ins-lookup", params()))["status"] == "recovered"
    result = out(fhir.post(f"Patient/{pid}/$identity-validate", params(documentType="PA")))
    assert result["status"] == "qualified"
    return result["patient"]


# --------------------------------------------------------------------------------------------------------------
# National identifiers on write
# --------------------------------------------------------------------------------------------------------------
def refused(fhir: FhirClient, resource: dict[str, Any]) -> dict[str, Any]:
    resp = fhir.post(resource["resourceType"], resource)
    assert resp.status_code == 422, resp.get_json()
    assert fhir.search(resource["resourceType"]) == []  # nothing stored
    issues = [i for i in resp.get_json()["issue"] if i["severity"] == "error"]
    assert issues
    return issues[0]


def test_wrong_nir_key_is_refused_with_the_expected_key(fhir: FhirClient) -> None:
    patient = helene(identifier=[ins("147720425367411", "urn:oid:1.2.250.1.213.1.4.8", "INS-NIR")])
    del patient["id"]
    issue = refused(fhir, patient)
    assert issue["code"] == "value"
    assert issue["expression"] == ["Patient.identifier[0].value"]
    assert issue["diagnostics"].startswith(
        "identifier urn:oid:1.2.250.1.213.1.4.8 (INS-NIR) 147720425367411: wrong NIR key 11, the key of "
        "1477204253674 is 30")


def test_wrong_nia_key_and_corsican_nir(fhir: FhirClient) -> None:
    patient = {"resourceType": "Patient", "identifier": [
        ins("142092A00401705"),  # valid: 2A read as 19
        ins("260019933101276", "urn:oid:1.2.250.1.213.1.4.9", "INS-NIA", "temp")]}
    issue = refused(fhir, patient)
    assert issue["expression"] == ["Patient.identifier[1].value"]
    assert "(INS-NIA) 260019933101276: wrong NIA key 76, the key of 2600199331012 is 75" in issue["diagnostics"]


@pytest.mark.parametrize(("resource", "expression", "words"), [
    ({"resourceType": "Practitioner", "identifier": [{"system": "https://rpps.esante.gouv.fr",
                                                      "value": "10000000004"}]},
     "Practitioner.identifier[0].value", ["(RPPS) 10000000004", "wrong check digit 4", "expected"]),
    ({"resourceType": "Practitioner", "identifier": [{"system": "http://rpps.fr", "value": "1000000000"}]},
     "Practitioner.identifier[0].value", ["identifier http://rpps.fr (RPPS)", "expected 11 digits"]),
    ({"resourceType": "Practitioner", "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1",
                                                      "value": "810000000004"}]},
     "Practitioner.identifier[0].value", ["(IDNPS) 810000000004", "prefix 8 = RPPS", "wrong check digit"]),
    ({"resourceType": "Practitioner", "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1",
                                                      "value": "910000000003"}]},
     "Practitioner.identifier[0].value", ["unknown prefix 9"]),
    ({"resourceType": "Practitioner", "identifier": [{"system": "http://adeli.fr", "value": "00123456X"}]},
     "Practitioner.identifier[0].value", ["(ADELI) 00123456X"]),
    ({"resourceType": "PractitionerRole", "identifier": [{"system": "https://rpps.esante.gouv.fr",
                                                          "value": "10000000004"}]},
     "PractitionerRole.identifier[0].value", ["(RPPS) 10000000004"]),
    ({"resourceType": "Organization", "identifier": [{"system": "https://finess.esante.gouv.fr",
                                                      "value": "750803448"}]},
     "Organization.identifier[0].value", ["(FINESS) 750803448", "expected 7 (Luhn key)"]),
    ({"resourceType": "Organization", "identifier": [{"system": "http://finess.sante.gouv.fr",
                                                      "value": "750803448"}]},
     "Organization.identifier[0].value", ["identifier http://finess.sante.gouv.fr (FINESS)"]),
    ({"resourceType": "Organization", "identifier": [{"system": "https://sirene.fr", "value": "73282932000075"}]},
     "Organization.identifier[0].value", ["(SIREN/SIRET) 73282932000075", "SIRET"]),
    ({"resourceType": "Organization", "identifier": [{"system": "http://sirene.fr", "value": "732829321"}]},
     "Organization.identifier[0].value", ["(SIREN/SIRET) 732829321", "SIREN"]),
    ({"resourceType": "Organization", "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2",
                                                      "value": "1750803448"}]},
     "Organization.identifier[0].value", ["(Struct_IdNat) 1750803448", "prefix 1 = FINESS"]),
    ({"resourceType": "Organization", "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2",
                                                      "value": "373282932000075"}]},
     "Organization.identifier[0].value", ["prefix 3 = SIRET"]),
])
def test_wrong_professional_and_structure_identifiers(fhir: FhirClient, resource: dict[str, Any], expression: str,
                                                      words: list[str]) -> None:
    issue = refused(fhir, resource)
    assert issue["code"] == "value"
    assert issue["expression"] == [expression]
    assert issue["diagnostics"].startswith("identifier ")
    for word in words:
        assert word in issue["diagnostics"]


def test_valid_identifiers_are_stored(fhir: FhirClient) -> None:
    fhir.create({"resourceType": "Practitioner", "identifier": [
        {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000000009"},
        {"system": "https://rpps.esante.gouv.fr", "value": "10000000009"},
        {"system": "http://adeli.fr", "value": "751234567"}]})
    fhir.create({"resourceType": "Organization", "identifier": [
        {"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1750803447"},
        {"system": "https://finess.esante.gouv.fr", "value": "750803447"},
        {"system": "https://sirene.fr", "value": "73282932000074"}]})
    assert len(fhir.search("Practitioner")) == len(fhir.search("Organization")) == 1


def test_idnps_and_rpps_must_agree(fhir: FhirClient) -> None:
    issue = refused(fhir, {"resourceType": "Practitioner", "identifier": [
        {"system": "https://rpps.esante.gouv.fr", "value": "10000000009"},
        {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000000017"}]})
    assert issue["expression"] == ["Practitioner.identifier[1].value"]
    assert "differs from the RPPS identifier 10000000009" in issue["diagnostics"]


def test_birth_place_insee_code_format(fhir: FhirClient) -> None:
    patient = helene(extension=[{"url": EXT_BIRTH_PLACE, "valueAddress": {"extension": [
        {"url": EXT_INSEE, "valueCoding": {"code": "99999"}}]}}])
    del patient["id"]
    issue = refused(fhir, patient)
    assert issue["expression"] == ["Patient.extension[0].valueAddress.extension[0].valueCoding.code"]
    assert issue["diagnostics"].startswith("birth place INSEE code 99999")


def test_production_refuses_test_and_demo_ins(client_with: Callable[..., FhirClient]) -> None:
    prod = client_with(identity_ins_environment="production", identity_insi_client="soap")
    for system, code in (("urn:oid:1.2.250.1.213.1.4.10", "INS-NIR-TEST"),
                         ("urn:oid:1.2.250.1.213.1.4.11", "INS-NIR-DEMO")):
        issue = refused(prod, {"resourceType": "Patient", "identifier": [ins(HELENE_NIR, system, code)]})
        assert issue["expression"] == ["Patient.identifier[0].system"]
        assert "refused when ins_environment is production" in issue["diagnostics"]
    prod.create({"resourceType": "Patient", "identifier": [ins(HELENE_NIR, "urn:oid:1.2.250.1.213.1.4.8",
                                                               "INS-NIR")]})


def test_validate_reports_the_key_of_a_profile_valid_example(fhir: FhirClient) -> None:
    example = json.loads((EXAMPLES / "Patient-tddui-patient-ins-example.tddui-2.2.0-ballot.json").read_text())
    outcome = fhir.post("Patient/$validate", example).get_json()
    errors = [i for i in outcome["issue"] if i["severity"] == "error"]
    assert [i["expression"] for i in errors if i["code"] == "value"] == [["Patient.identifier[0].value"]]
    assert "the key of 1477204253674 is 30" in errors[0]["diagnostics"]


# --------------------------------------------------------------------------------------------------------------
# Workflow operations
# --------------------------------------------------------------------------------------------------------------
def test_provisional_recovered_qualified(fhir: FhirClient) -> None:
    fhir.put("Patient/p1", helene())
    result = out(fhir.post("Patient/p1/$ins-lookup", params(method="traits")))
    assert (result["status"], result["changed"], result["insiAnswer"]) == ("recovered", True, "00")
    patient = result["patient"]
    assert patient["identifier"][0] == {"use": "official", "type": {"coding": [
        {"system": V2_0203, "code": "INS-NIR-TEST", "display": "NIR TEST"}]},
        "system": "urn:oid:1.2.250.1.213.1.4.10", "value": HELENE_NIR}
    official = patient["name"][0]
    assert (official["family"], official["given"]) == ("DE LA FONTAINE", ["Hélène"])  # the INSi traits
    assert official["extension"][0] == {"url": EXT_GIVEN_LIST, "valueString": "Hélène Marie Thérèse"}
    subs = reliability(patient)
    assert subs["identityStatus"]["valueCoding"]["code"] == "PROV"  # FR Core 2.1: récupérée = PROV + evidence
    assert "dateCollection" in subs and subs["methodCollection"]["valueCoding"]["code"] == "INSI"
    assert status_of(fhir.get("Patient/p1").get_json()) is IdentityStatus.RECOVERED
    result = out(fhir.post("Patient/p1/$identity-validate", params(documentType="CN", comment="guichet")))
    assert result["status"] == "qualified"
    subs = reliability(result["patient"])
    assert subs["identityStatus"]["valueCoding"] == {"system": CS_V2_0445, "code": "VALI",
                                                     "display": "Identité validée"}
    assert subs["validationMode"]["valueCoding"]["code"] == "CN"
    assert provenances(fhir, "p1") == ["identity-validate", "ins-lookup"]
    prov = fhir.search("Provenance?target=Patient/p1")
    insi = next(p for p in prov if p["activity"]["coding"][0]["code"] == "ins-lookup")
    assert insi["target"] == [{"reference": "Patient/p1/_history/2"}]
    assert insi["extension"][0]["extension"][0] == {"url": "code", "valueCode": "00"}
    doc = next(p for p in prov if p["activity"]["coding"][0]["code"] == "identity-validate")
    assert doc["extension"][0]["valueCoding"]["code"] == "CN" and "guichet" in doc["reason"][0]["text"]


def test_provisional_validated_qualified_in_fr_core_2_2(client_with: Callable[..., FhirClient]) -> None:
    fhir = client_with(identity_fr_core_version="2.2")
    fhir.put("Patient/p1", helene())
    result = out(fhir.post("Patient/p1/$identity-validate", params(documentType="PA")))
    assert result["status"] == "validated"
    assert reliability(result["patient"])["identityStatus"]["valueCoding"]["code"] == "VALI"
    assert "identifier" not in result["patient"]
    result = out(fhir.post("Patient/p1/$ins-lookup", params()))
    assert result["status"] == "qualified"
    subs = reliability(result["patient"])
    assert subs["identityStatus"]["valueCoding"]["code"] == "QUAL" and "dateInterrogationINSi" in subs
    assert provenances(fhir, "p1") == ["identity-validate", "ins-lookup"]


def test_unknown_document_type(fhir: FhirClient) -> None:
    fhir.put("Patient/p1", helene())
    resp = fhir.post("Patient/p1/$identity-validate", params(documentType="PERMIS"))
    assert resp.status_code == 400
    assert "CN, PA, CS" in resp.get_json()["issue"][0]["diagnostics"]
    assert fhir.post("Patient/p1/$identity-validate", params()).status_code == 400
    assert fhir.get("Patient/p1").get_json()["meta"]["versionId"] == "1"
    assert provenances(fhir, "p1") == []


@pytest.mark.parametrize(("change", "code"), [
    ({"birthDate": "1938-05-13"}, "01"),  # no identity
    ({"name": [{"use": "official", "family": "Moreau", "given": ["Jeanne"]}], "birthDate": "1935-11-02"}, "02"),
])
def test_no_match_and_several_matches_change_nothing(fhir: FhirClient, change: dict[str, Any], code: str) -> None:
    fhir.put("Patient/p1", helene(**change))
    result = out(fhir.post("Patient/p1/$ins-lookup"))
    assert (result["insiAnswer"], result["changed"], result["status"]) == (code, False, "provisional")
    assert "nothing recorded" in result["message"]
    assert fhir.get("Patient/p1").get_json()["meta"]["versionId"] == "1"
    assert provenances(fhir, "p1") == []


def test_homonyms_told_apart_by_birth_place(fhir: FhirClient) -> None:
    fhir.put("Patient/p1", helene(
        name=[{"use": "official", "family": "MOREAU", "given": ["Jeanne"]}], birthDate="1935-11-02",
        extension=[{"url": EXT_BIRTH_PLACE, "valueAddress": {"extension": [
            {"url": EXT_INSEE, "valueCoding": {"code": "69264"}}]}}]))
    result = out(fhir.post("Patient/p1/$ins-lookup"))
    assert (result["insiAnswer"], result["status"]) == ("00", "recovered")
    assert result["patient"]["identifier"][0]["value"] == "235116926411803"


def test_insi_traits_that_differ_change_nothing(fhir: FhirClient) -> None:
    # The INSi finds Hélène by name/sex/date, but the local birth place is another commune.
    fhir.put("Patient/p1", helene(extension=[{"url": EXT_BIRTH_PLACE, "valueAddress": {"extension": [
        {"url": EXT_INSEE, "valueCoding": {"code": "69264"}}]}}]))
    result = out(fhir.post("Patient/p1/$ins-lookup"))
    assert (result["insiAnswer"], result["changed"]) == ("01", False)  # birth place narrows the search: none
    fhir.put("Patient/p2", helene("p2", name=[{"use": "official", "family": "De la Fontaine", "given": ["Hélène"],
                                               "extension": [{"url": EXT_GIVEN_LIST, "valueString": "Hélène Anne"}]}]))
    result = out(fhir.post("Patient/p2/$ins-lookup"))
    assert (result["insiAnswer"], result["changed"]) == ("00", False)
    assert "list of birth given names" in result["message"]


def test_carte_vitale_route_is_a_seam(fhir: FhirClient) -> None:
    fhir.put("Patient/p1", helene())
    resp = fhir.post("Patient/p1/$ins-lookup", params(method="carte-vitale"))
    assert resp.status_code == 400 and resp.get_json()["issue"][0]["code"] == "not-supported"


def test_nia_is_recorded_temp_in_the_nia_authority(fhir: FhirClient) -> None:
    fhir.put("Patient/p1", helene(name=[{"use": "official", "family": "Ouedraogo", "given": ["Aminata"]}],
                                  birthDate="1960-01-15"))
    patient = out(fhir.post("Patient/p1/$ins-lookup"))["patient"]
    assert patient["identifier"][0]["system"] == "urn:oid:1.2.250.1.213.1.4.9"
    assert patient["identifier"][0]["use"] == "temp"


# --------------------------------------------------------------------------------------------------------------
# Plain writes: downgrade, declared status, sharing rule
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("trait", ["birth_family", "first_given", "given_list", "sex", "birth_date", "birth_place"])
def test_trait_change_downgrades(fhir: FhirClient, trait: str) -> None:
    patient = qualified(fhir)
    changed = copy.deepcopy(patient)
    changed["meta"] = {"profile": [INS_PROFILE]}
    official = changed["name"][0]
    if trait == "birth_family":
        official["family"] = "DE LA FONTAINE-MARTIN"
    elif trait == "first_given":
        official["given"] = ["Helene"]  # an accent is a change of a strict trait
    elif trait == "given_list":
        official["extension"][0]["valueString"] = "Hélène Marie"
    elif trait == "sex":
        changed["gender"] = "male"
    elif trait == "birth_date":
        changed["birthDate"] = "1938-05-21"
    else:
        changed["extension"][0]["valueAddress"]["extension"][0]["valueCoding"]["code"] = "69264"
    resp = fhir.put("Patient/p1", changed)
    assert resp.status_code == 200, resp.get_json()
    stored = resp.get_json()
    assert status_of(stored) is IdentityStatus.PROVISIONAL
    subs = reliability(stored)
    assert subs["identityStatus"]["valueCoding"]["code"] == "PROV"
    assert "dateCollection" not in subs and "validationMode" not in subs  # evidence of lost criteria removed
    assert INS_PROFILE not in stored.get("meta", {}).get("profile", [])  # INS claim dropped
    assert stored["identifier"][0]["value"] == HELENE_NIR  # the INS stays inside the system
    assert provenances(fhir, "p1") == ["identity-validate", "ins-lookup", "trait-change-downgrade"]
    prov = [p for p in fhir.search("Provenance?target=Patient/p1")
            if p["activity"]["coding"][0]["code"] == "trait-change-downgrade"][0]
    assert prov["target"] == [{"reference": "Patient/p1/_history/4"}]
    assert "'qualifiée' lowered to 'provisoire'" in prov["reason"][0]["text"]


def test_unrelated_change_keeps_the_status(fhir: FhirClient) -> None:
    patient = qualified(fhir)
    patient["telecom"] = [{"system": "phone", "value": "04 78 00 00 00"}]
    stored = fhir.put("Patient/p1", patient).get_json()
    assert status_of(stored) is IdentityStatus.QUALIFIED
    assert provenances(fhir, "p1") == ["identity-validate", "ins-lookup"]


def test_ins_profile_on_a_non_qualified_identity_is_refused(fhir: FhirClient) -> None:
    for profile in (INS_PROFILE, TDDUI_INS_PROFILE):
        patient = helene(meta={"profile": [profile]}, identifier=[ins(HELENE_NIR)],
                         extension=[status_ext(CS_V2_0445, "PROV")])
        resp = fhir.put("Patient/p1", patient)
        assert resp.status_code == 422
        issue = [i for i in resp.get_json()["issue"] if i["code"] == "business-rule"][0]
        assert issue["expression"] == ["Patient.meta.profile[0]"]
        assert "only a qualified identity may carry its INS" in issue["diagnostics"]
        assert fhir.get("Patient/p1").status_code == 404


def test_declared_status_needs_an_ins_and_its_evidence(fhir: FhirClient) -> None:
    resp = fhir.put("Patient/p1", helene(extension=[status_ext(CS_V2_0445, "VALI")]))
    assert resp.status_code == 422
    assert "requires an INS identifier" in resp.get_json()["issue"][0]["diagnostics"]
    resp = fhir.put("Patient/p1", helene(identifier=[ins(HELENE_NIR)], extension=[status_ext(CS_IDENTITY_STATUS,
                                                                                             "RECUP")]))
    assert resp.status_code == 422
    assert "dateInterrogationINSi" in resp.get_json()["issue"][0]["diagnostics"]
    assert fhir.get("Patient/p1").status_code == 404


def test_declared_higher_status_is_recorded(fhir: FhirClient) -> None:
    fhir.put("Patient/p1", helene())
    imported = helene(identifier=[ins(HELENE_NIR)], extension=[status_ext(CS_V2_0445, "VALI")])
    resp = fhir.put("Patient/p1", imported)
    assert resp.status_code == 200, resp.get_json()
    assert status_of(resp.get_json()) is IdentityStatus.QUALIFIED
    assert provenances(fhir, "p1") == ["declared-status"]
    lowered = helene(identifier=[ins(HELENE_NIR)], extension=[status_ext(CS_V2_0445, "PROV")])
    fhir.put("Patient/p1", lowered)
    assert provenances(fhir, "p1") == ["declared-status", "status-change"]


@pytest.mark.parametrize("version", ["2.1", "2.2"])
def test_doubtful_identity_cannot_query_insi(client_with: Callable[..., FhirClient], version: str) -> None:
    fhir = client_with(identity_fr_core_version=version)
    stored = fhir.put("Patient/p1", helene(extension=[status_ext(CS_V2_0445, "DOUT")])).get_json()
    codes = json.dumps(reliability(stored))
    assert '"DOUT"' in codes  # the 2.1 attribute survives normalisation (2.2: as a comment)
    resp = fhir.post("Patient/p1/$ins-lookup")
    assert resp.status_code == 422 and "DOUT" in resp.get_json()["issue"][0]["diagnostics"]
    resp = fhir.post("Patient/p1/$identity-validate", params(documentType="CN"))
    assert resp.status_code == 422


# --------------------------------------------------------------------------------------------------------------
# The four statuses survive a round trip in both FR Core versions
# --------------------------------------------------------------------------------------------------------------
DATE_22 = {"url": "dateInterrogationINSi", "valueDate": "2024-03-01"}
MODE = {"url": "validationMode", "valueCoding": {
    "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity", "code": "CN"}}
DECLARED = {  # status -> identity-reliability extension as FR Core 2.2 writes it
    IdentityStatus.PROVISIONAL: status_ext(CS_IDENTITY_STATUS, "PROV"),
    IdentityStatus.RECOVERED: status_ext(CS_IDENTITY_STATUS, "RECUP", DATE_22),
    IdentityStatus.VALIDATED: status_ext(CS_IDENTITY_STATUS, "VALI", MODE),
    IdentityStatus.QUALIFIED: status_ext(CS_IDENTITY_STATUS, "QUAL", DATE_22, MODE),
}


@pytest.mark.parametrize("version", ["2.1", "2.2"])
def test_four_statuses_round_trip(client_with: Callable[..., FhirClient], version: str) -> None:
    fhir = client_with(identity_fr_core_version=version)
    system = CS_V2_0445 if version == "2.1" else CS_IDENTITY_STATUS
    for n, (status, ext) in enumerate(DECLARED.items()):
        patient = helene(f"p{n}", extension=[ext])
        if status.insi_retrieved:
            patient["identifier"] = [ins(HELENE_NIR)]
        resp = fhir.put(f"Patient/p{n}", patient)
        assert resp.status_code == 201, resp.get_json()
        stored = fhir.get(f"Patient/p{n}").get_json()
        assert reliability(stored)["identityStatus"]["valueCoding"]["system"] == system
        assert status_of(stored) is status, (version, status)
        # writing back what was read keeps the status and creates no new version
        again = fhir.put(f"Patient/p{n}", stored)
        assert again.status_code == 200 and again.get_json()["meta"]["versionId"] == "1"
        assert status_of(again.get_json()) is status
