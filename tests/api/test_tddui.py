"""TDDUI portability: import of a tddui-bundle (create only, atomic), Patient/$tddui-export, the round trip.

Official examples: ../shared/fr/examples (TDDUI Patient INS, CarePlan projet personnalisé, RelatedPerson contact)
and the IG's bundle example shape (``TDDUIBundleExample.fsh``: absolute fullUrls, ``request.url`` = profile name).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fhirserver.demo import build_demo_bundle
from fhirserver.identity.ins import is_ins_system
from tests.conftest import wipe

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fr" / "examples"
PROFILES_DIR = Path(__file__).resolve().parents[2] / "config" / "profiles"
SD = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/"
BUNDLE_PROFILE = SD + "tddui-bundle"
LOCAL_USAGER = "https://identifiant-medicosocial-localusager.esante.gouv.fr"
#: the INS example's NIR has a wrong key: the key of 1477204253674 is 30, not 11
WRONG_NIR, RIGHT_NIR = "147720425367411", "147720425367430"
TYPES = ("Patient", "RelatedPerson", "CarePlan", "Consent", "Organization", "Encounter", "Practitioner",
         "PractitionerRole")


def _example(name: str) -> dict[str, Any]:
    path = next(EXAMPLES.glob(f"{name}*.json"))
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _organization() -> dict[str, Any]:
    # shape of TDDUIOrganizationExample.fsh; FINESS 750803447 (valid Luhn key) as in french-interop.md §2.2
    return {"resourceType": "Organization", "id": "tddui-organization-example",
            "meta": {"profile": [SD + "tddui-organization"]},
            "identifier": [{"use": "official",
                            "type": {"coding": [{"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                                                 "code": "IDNST"}]},
                            "system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1750803447"}],
            "name": "EHPAD Les Mimosas"}


def _consent() -> dict[str, Any]:
    # shape of TDDUIConsentAccordExample.fsh: the structure's agreement to the projet personnalisé
    return {"resourceType": "Consent", "id": "tddui-consent-accord-example",
            "meta": {"profile": [SD + "tddui-consent-accord"]},
            "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": "Patient/tddui-patient-ins-example"},
            "dateTime": "2024-03-01T10:00:00+01:00",
            "performer": [{"reference": "Organization/tddui-organization-example"}],
            "policy": [{"authority": "https://www.cnsa.fr/"}]}


def _examples(nir: str = RIGHT_NIR) -> dict[str, dict[str, Any]]:
    patient = _example("Patient-tddui-patient-ins-example")
    patient["identifier"][0]["value"] = nir
    care_plan = _example("CarePlan-tddui-careplan-projet-personnalise")
    care_plan["subject"] = {"reference": "Patient/tddui-patient-ins-example"}
    care_plan.pop("extension")  # tddui-attachment: the incoming DocumentReference is not part of this bundle
    return {"Organization": _organization(), "Patient": patient,
            "RelatedPerson": _example("RelatedPerson-tddui-related-person-contact"),
            "Consent": _consent(), "CarePlan": care_plan}


def tddui_bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The IG's example shape: absolute fullUrl, request.url = the TDDUI profile name, Type/id references."""
    labels = {"Patient": "TDDUIPatientINS", "RelatedPerson": "TDDUIRelatedPersonContact",
              "CarePlan": "TDDUICarePlanProjetPersonnalise", "Consent": "TDDUIConsentAccord",
              "Organization": "TDDUIOrganization"}
    return {"resourceType": "Bundle", "meta": {"profile": [BUNDLE_PROFILE]}, "type": "transaction",
            "entry": [{"fullUrl": f"https://test-server.fr/{r['resourceType']}/{r['id']}", "resource": r,
                       "request": {"method": "POST", "url": labels.get(r["resourceType"], r["resourceType"])}}
                      for r in resources]}


def _counts(fhir: Any) -> dict[str, int]:
    return {rt: fhir.get(f"{rt}?_summary=count").get_json()["total"] for rt in TYPES}


def _outcome(resp: Any) -> tuple[str, list[str]]:
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    text = " | ".join(i.get("diagnostics", "") for i in body["issue"])
    expressions = [e for i in body["issue"] for e in i.get("expression", [])]
    return text, expressions


# --- import ---------------------------------------------------------------------------------------------------
def test_import_of_the_official_examples_creates_everything_and_links_it(fhir: Any) -> None:
    resources = list(_examples().values())
    resp = fhir.post("", tddui_bundle(resources))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created"] * len(resources)
    locations = {e["response"]["location"].split("/fhir/")[1].split("/_history")[0].split("/")[0]:
                 e["response"]["location"].split("/fhir/")[1].split("/_history")[0] for e in body["entry"]}
    patient_ref, consent_ref = locations["Patient"], locations["Consent"]
    assert patient_ref != "Patient/tddui-patient-ins-example"  # ids are assigned by the server (create)
    care_plan = fhir.get(locations["CarePlan"]).get_json()
    assert care_plan["subject"]["reference"] == patient_ref
    assert care_plan["supportingInfo"][0]["reference"] == consent_ref
    assert fhir.get(locations["RelatedPerson"]).get_json()["patient"]["reference"] == patient_ref
    consent = fhir.get(consent_ref).get_json()
    assert consent["performer"][0]["reference"] == locations["Organization"]
    assert fhir.ids(f"Patient?identifier={LOCAL_USAGER}|3480787529/194704032") == {patient_ref.split("/")[1]}


def test_the_original_example_with_a_wrong_nir_key_creates_nothing(fhir: Any) -> None:
    resp = fhir.post("", tddui_bundle(list(_examples(WRONG_NIR).values())))
    assert resp.status_code in (400, 422), resp.get_data(as_text=True)
    text, expressions = _outcome(resp)
    assert "Bundle.entry[1]" in text and WRONG_NIR[:13] in text
    assert _counts(fhir) == dict.fromkeys(TYPES, 0)


def test_a_non_post_entry_is_refused_naming_the_entry(fhir: Any) -> None:
    bundle = tddui_bundle(list(_examples().values()))
    bundle["entry"][2]["request"] = {"method": "PUT", "url": "RelatedPerson/tddui-related-person-contact-example"}
    resp = fhir.post("", bundle)
    assert resp.status_code == 422
    text, expressions = _outcome(resp)
    assert "Bundle.entry[2]" in text and "create only" in text and "'PUT'" in text
    assert expressions == ["Bundle.entry[2].request.method"]
    assert _counts(fhir) == dict.fromkeys(TYPES, 0)


@pytest.mark.parametrize("url", ["Patient/123", "Organization", "Patient?identifier=x"])
def test_a_post_that_is_not_a_plain_create_of_its_type_is_refused(fhir: Any, url: str) -> None:
    bundle = tddui_bundle(list(_examples().values()))
    bundle["entry"][1]["request"]["url"] = url
    resp = fhir.post("", bundle)
    assert resp.status_code == 422
    text, expressions = _outcome(resp)
    assert "Bundle.entry[1]" in text and expressions == ["Bundle.entry[1].request.url"]
    assert _counts(fhir) == dict.fromkeys(TYPES, 0)


def test_a_tddui_bundle_must_be_a_transaction(fhir: Any) -> None:
    bundle = tddui_bundle(list(_examples().values()))
    bundle["type"] = "batch"
    resp = fhir.post("", bundle)
    assert resp.status_code == 422
    assert _outcome(resp)[1] == ["Bundle.type"]
    assert _counts(fhir) == dict.fromkeys(TYPES, 0)


def test_a_failure_in_the_middle_rolls_everything_back(fhir: Any) -> None:
    resources = list(_examples().values())
    broken = copy.deepcopy(resources[2])  # the RelatedPerson, third of five entries
    broken["gender"] = "masculin"  # not a FHIR AdministrativeGender code
    resp = fhir.post("", tddui_bundle([*resources[:2], broken, *resources[3:]]))
    assert resp.status_code in (400, 422), resp.get_data(as_text=True)
    assert "Bundle.entry[2]" in _outcome(resp)[0]
    assert _counts(fhir) == dict.fromkeys(TYPES, 0)


def test_urn_uuid_references_work_too(fhir: Any) -> None:
    examples = _examples()
    bundle = tddui_bundle([examples["Patient"], examples["RelatedPerson"]])
    bundle["entry"][0]["fullUrl"] = "urn:uuid:6b1f0d5e-4a0c-4c5e-9f1b-0d6c2a9e7a11"
    bundle["entry"][1]["resource"]["patient"] = {"reference": "urn:uuid:6b1f0d5e-4a0c-4c5e-9f1b-0d6c2a9e7a11"}
    resp = fhir.post("", bundle)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    related = fhir.search("RelatedPerson")[0]
    assert related["patient"]["reference"] == f"Patient/{fhir.search('Patient')[0]['id']}"


# --- export ---------------------------------------------------------------------------------------------------
def _load_demo(fhir: Any) -> dict[str, Any]:
    demo = build_demo_bundle(usagers=6)
    resp = fhir.post("", demo)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    return demo


def _demo_patients(demo: dict[str, Any]) -> tuple[str, str]:
    """(a qualified usager with a projet personnalisé, a provisional one)."""
    patients = [e["resource"] for e in demo["entry"] if e["resource"]["resourceType"] == "Patient"]
    plans = {e["resource"]["subject"]["reference"] for e in demo["entry"] if e["resource"]["resourceType"] == "CarePlan"}
    qualified = next(p["id"] for p in patients
                     if any(is_ins_system(i["system"]) for i in p["identifier"]) and f"Patient/{p['id']}" in plans)
    provisional = next(p["id"] for p in patients if not any(is_ins_system(i["system"]) for i in p["identifier"]))
    return qualified, provisional


def _export(fhir: Any, patient_id: str, query: str = "") -> dict[str, Any]:
    resp = fhir.get(f"Patient/{patient_id}/$tddui-export{query}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:3000]
    data: dict[str, Any] = resp.get_json()
    return data


def _by_type(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return out


def _walk_references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for k, v in node.items() if k != "reference" for r in _walk_references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _walk_references(v)]
    return []


def test_export_of_a_qualified_usager_is_a_create_only_tddui_bundle_with_the_ins(fhir: Any) -> None:
    qualified, _ = _demo_patients(_load_demo(fhir))
    bundle = _export(fhir, qualified)
    assert bundle["type"] == "transaction" and bundle["meta"]["profile"] == [BUNDLE_PROFILE]
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    for entry in bundle["entry"]:
        assert entry["request"] == {"method": "POST", "url": entry["resource"]["resourceType"]}
        assert entry["fullUrl"].startswith("urn:uuid:") and "id" not in entry["resource"]
        assert entry["resource"]["meta"]["profile"][0].startswith(SD)
        for reference in _walk_references(entry["resource"]):
            assert reference in full_urls, reference  # every literal reference points into the Bundle
    types = _by_type(bundle)
    (patient,) = types["Patient"]
    assert patient["meta"]["profile"] == [SD + "tddui-patient-ins"]
    assert any(is_ins_system(i["system"]) for i in patient["identifier"])
    assert {"Organization", "Encounter", "CarePlan", "Consent", "RelatedPerson", "Practitioner",
            "PractitionerRole"} <= set(types)
    assert not {"Condition", "Observation", "MedicationStatement", "CareTeam", "Location"} & set(types)
    assert [p["meta"]["profile"][0] for p in types["CarePlan"]] == [SD + "tddui-careplan-projet-personnalise"]
    assert {c["meta"]["profile"][0] for c in types["Consent"]} == {SD + "tddui-consent-accord"}
    assert {e["meta"]["profile"][0] for e in types["Encounter"]} == {SD + "tddui-encounter-sejour"}
    # only this usager's data: one patient, its own contacts
    patient_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert all(r["patient"]["reference"] == patient_url for r in types["RelatedPerson"])


def test_export_of_a_provisional_identity_has_no_ins_and_refuses_ins_true(fhir: Any) -> None:
    _, provisional = _demo_patients(_load_demo(fhir))
    bundle = _export(fhir, provisional)
    (patient,) = _by_type(bundle)["Patient"]
    assert patient["meta"]["profile"] == [SD + "tddui-patient"]
    assert not any(is_ins_system(i.get("system")) for i in patient.get("identifier", []))
    assert patient["_birthDate"]["extension"][0]["url"] == SD + "tddui-birth-order"
    resp = fhir.get(f"Patient/{provisional}/$tddui-export?ins=true")
    assert resp.status_code == 422
    text, expressions = _outcome(resp)
    assert "cannot be transmitted" in text and "TDDUI export" in text and "provisoire" in text
    assert resp.get_json()["issue"][0]["code"] == "business-rule"


def test_ins_parameter_on_a_qualified_identity(fhir: Any) -> None:
    qualified, _ = _demo_patients(_load_demo(fhir))
    (patient,) = _by_type(_export(fhir, qualified, "?ins=true"))["Patient"]
    assert patient["meta"]["profile"] == [SD + "tddui-patient-ins"]
    # a qualified status without its INS would break FR Core (fr-core-1) and the identity rules: refused
    resp = fhir.get(f"Patient/{qualified}/$tddui-export?ins=false")
    assert resp.status_code == 422
    assert _outcome(resp)[1] == ["ins"]
    assert fhir.get(f"Patient/{qualified}/$tddui-export?ins=maybe").status_code == 400


def test_a_non_qualified_identity_holding_a_nir_gets_its_birth_order(fhir: Any) -> None:
    examples = _examples()
    patient = examples["Patient"]
    patient["extension"][0]["extension"][0]["valueCoding"]["code"] = "PROV"  # FR Core 2.1: provisional
    patient.pop("meta")  # stored without profile claim: tddui-patient requires the birth order
    resp = fhir.post("Patient", patient)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    stored = resp.get_json()
    (exported,) = _by_type(_export(fhir, stored["id"]))["Patient"]
    assert exported["meta"]["profile"] == [SD + "tddui-patient"]
    assert RIGHT_NIR not in json.dumps(exported)
    assert exported["_birthDate"]["extension"] == [{"url": SD + "tddui-birth-order", "valuePositiveInt": 674}]


def test_report_lists_what_is_left_out(fhir: Any) -> None:
    qualified, _ = _demo_patients(_load_demo(fhir))
    resp = fhir.post(f"Patient/{qualified}/$tddui-export",
                     {"resourceType": "Parameters", "parameter": [{"name": "report", "valueBoolean": True}]})
    assert resp.status_code == 200
    params = {p["name"]: p["resource"] for p in resp.get_json()["parameter"]}
    assert params["return"]["meta"]["profile"] == [BUNDLE_PROFILE]
    left_out = [i["expression"][0] for i in params["outcome"]["issue"][1:]]
    assert any(x.startswith("Condition/") for x in left_out)
    assert any(x.startswith("Observation/") for x in left_out)
    assert all(i["severity"] == "information" for i in params["outcome"]["issue"])


def test_export_never_carries_another_usagers_data(fhir: Any) -> None:
    examples = _examples()
    assert fhir.post("", tddui_bundle([examples["Patient"], examples["RelatedPerson"]])).status_code == 200
    first = fhir.search("Patient")[0]
    other = fhir.create({"resourceType": "Patient", "name": [{"family": "AUTRE"}],
                         "link": [{"other": {"reference": f"Patient/{first['id']}"}, "type": "seealso"}]})
    fhir.create({"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{other['id']}"},
                 "name": [{"family": "PROCHE-AUTRE"}]})
    first["link"] = [{"other": {"reference": f"Patient/{other['id']}", "display": "homonyme"}, "type": "seealso"}]
    assert fhir.put(f"Patient/{first['id']}", first).status_code == 200
    text = json.dumps(_export(fhir, first["id"]))
    assert "PROCHE-AUTRE" not in text and "AUTRE" not in text.replace("PROCHE", "")
    assert other["id"] not in text
    assert '"display": "homonyme"' in text  # the link survives as a logical reference


def test_export_of_an_unknown_patient_is_404(fhir: Any) -> None:
    assert fhir.get("Patient/nope/$tddui-export").status_code == 404


# --- validation of the export ---------------------------------------------------------------------------------
def _require_profiles() -> None:
    needed = ["tddui-patient", "tddui-patient-ins", "tddui-careplan-projet-personnalise", "tddui-encounter-sejour"]
    missing = [n for n in needed if not (PROFILES_DIR / f"{n}.json").exists()]
    if missing:
        pytest.skip(f"TDDUI profile data not in config/profiles yet: {', '.join(missing)}")


def test_every_entry_of_an_export_validates_against_its_profile(fhir: Any) -> None:
    _require_profiles()
    demo = _load_demo(fhir)
    for patient_id in _demo_patients(demo):
        bundle = _export(fhir, patient_id)
        for index, entry in enumerate(bundle["entry"]):
            resource = entry["resource"]
            profile = resource["meta"]["profile"][0]
            resp = fhir.post(f"{resource['resourceType']}/$validate?profile={profile}", resource)
            assert resp.status_code == 200
            errors = [i for i in resp.get_json()["issue"] if i["severity"] in ("error", "fatal")]
            assert not errors, (patient_id, index, profile, errors)
        resp = fhir.post(f"Bundle/$validate?profile={BUNDLE_PROFILE}", bundle)
        errors = [i for i in resp.get_json()["issue"] if i["severity"] in ("error", "fatal")]
        assert not errors, errors


# --- round trip -----------------------------------------------------------------------------------------------
def _normalised(bundle: dict[str, Any]) -> list[str]:
    """The exported resources with their urn:uuids replaced by the canonical text of what they point to:
    equal lists mean the same content modulo ids."""
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}

    def without_references(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: without_references(v) for k, v in node.items() if k != "reference"}
        if isinstance(node, list):
            return [without_references(v) for v in node]
        return node

    def label(url: str) -> str:
        resource = by_url[url]
        return f"{resource['resourceType']}:{json.dumps(without_references(resource), sort_keys=True)}"

    def replace(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (label(v) if k == "reference" and v in by_url else replace(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [replace(v) for v in node]
        return node

    return sorted(json.dumps(replace(e["resource"]), sort_keys=True, ensure_ascii=False) for e in bundle["entry"])


@pytest.mark.parametrize("which", ["qualified", "provisional"])
def test_round_trip_export_import_export_keeps_the_record(fhir: Any, context: Any, which: str) -> None:
    demo = _load_demo(fhir)
    qualified, provisional = _demo_patients(demo)
    first = _export(fhir, qualified if which == "qualified" else provisional)
    wipe(context)
    assert sum(_counts(fhir).values()) == 0
    resp = fhir.post("", first)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:3000]
    statuses = Counter(e["response"]["status"] for e in resp.get_json()["entry"])
    assert statuses == Counter({"201 Created": len(first["entry"])})
    (patient,) = fhir.search("Patient")
    second = _export(fhir, patient["id"])
    assert len(second["entry"]) == len(first["entry"])
    assert _normalised(second) == _normalised(first)
