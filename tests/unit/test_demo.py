"""Tests of the deterministic French demo data set (fhirserver.demo)."""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from fhirserver.auth.administration import ADMINISTRATEUR, ADMISSION, habilitations
from fhirserver.demo import REFERENCE_DATE, build_demo_bundle, luhn_is_valid, nir_key

Resource = dict[str, Any]

INS_TEST_OID = "urn:oid:1.2.250.1.213.1.4.10"
# INS OIDs demo data must never carry: production NIR / NIA and the "démo" OID (demo data uses TEST).
FORBIDDEN_INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.11")
FINESS_SYSTEM = "https://finess.esante.gouv.fr"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
IDNST_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
EXT_IDENTITY_RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
EXT_BIRTH_LIST_GIVEN_NAME = (
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
)
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return build_demo_bundle()


@pytest.fixture(scope="module")
def resources(bundle: dict[str, Any]) -> list[Resource]:
    return [entry["resource"] for entry in bundle["entry"]]


@pytest.fixture(scope="module")
def by_type(resources: list[Resource]) -> dict[str, list[Resource]]:
    grouped: dict[str, list[Resource]] = collections.defaultdict(list)
    for resource in resources:
        grouped[resource["resourceType"]].append(resource)
    return grouped


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (path, dict) for every JSON object below ``node``."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, path)


def _codes(concept: dict[str, Any], system: str | None = None) -> list[str]:
    return [c["code"] for c in concept.get("coding", []) if system is None or c.get("system") == system]


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


# --- helpers of the module ---
def test_luhn_is_valid_known_numbers() -> None:
    assert luhn_is_valid("79927398713")  # textbook Luhn example
    assert luhn_is_valid("750803447")  # FINESS of the EHPAD example in french-interop.md
    assert luhn_is_valid("01234567897")  # RPPS inside the IDNPS example 801234567897
    assert not luhn_is_valid("79927398710")
    assert not luhn_is_valid("750803448")
    assert not luhn_is_valid("7508O3447")
    assert not luhn_is_valid("")
    assert not luhn_is_valid("7")


def test_nir_key_known_example_and_corsica() -> None:
    # TCC N1 example INS (test OID): 279035121518989 -> key 89.
    assert nir_key("2790351215189") == 89
    # Corsica: 2A is read as 19 and 2B as 18 before computing the key.
    assert nir_key("27901" + "2A" + "004123") == nir_key("27901" + "19" + "004123")
    assert nir_key("17811" + "2B" + "033456") == nir_key("17811" + "18" + "033456")
    assert nir_key("27901" + "2a" + "004123") == nir_key("27901" + "2A" + "004123")
    assert 1 <= nir_key("1000000000000") <= 97
    with pytest.raises(ValueError):
        nir_key("27903512151")
    with pytest.raises(ValueError):
        nir_key("27903X1215189")


# --- bundle shape ---
def test_bundle_is_deterministic() -> None:
    first = build_demo_bundle()
    second = build_demo_bundle()
    assert first == second
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_other_seed_changes_content_but_keeps_stable_ids() -> None:
    default = build_demo_bundle(seed=2026)
    other = build_demo_bundle(seed=7)
    assert default != other

    def patient_ids(b: dict[str, Any]) -> list[str]:
        return [e["request"]["url"] for e in b["entry"] if e["resource"]["resourceType"] == "Patient"]

    assert patient_ids(default) == patient_ids(other)
    assert patient_ids(default)[0] == "Patient/ehpad-usager-001"


def test_transaction_entries_are_put_with_stable_ids(bundle: dict[str, Any]) -> None:
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction"
    full_urls = [entry["fullUrl"] for entry in bundle["entry"]]
    urls = [entry["request"]["url"] for entry in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)
    assert len(set(urls)) == len(urls)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert FHIR_ID.match(resource["id"]), resource["id"]
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert uuid.UUID(entry["fullUrl"].removeprefix("urn:uuid:")).version == 5


def test_resource_counts(by_type: dict[str, list[Resource]], resources: list[Resource]) -> None:
    assert len(by_type["Organization"]) == 2
    assert len(by_type["Patient"]) == 50
    assert len(by_type["Practitioner"]) == 15
    assert len(by_type["PractitionerRole"]) == 15
    assert len(by_type["Location"]) >= 4
    ehpad = [p for p in by_type["Patient"] if p["id"].startswith("ehpad-usager-")]
    ssiad = [p for p in by_type["Patient"] if p["id"].startswith("ssiad-usager-")]
    assert len(ehpad) == 35 and len(ssiad) == 15
    assert len(by_type["Encounter"]) == 50
    assert len(by_type["CareTeam"]) == 50
    assert len(by_type["CarePlan"]) == 35
    assert 50 <= len(by_type["RelatedPerson"]) <= 100
    assert len(by_type["Goal"]) >= 35
    for resource_type in (
        "Condition",
        "AllergyIntolerance",
        "Observation",
        "MedicationStatement",
        "DocumentReference",
        "Consent",
    ):
        assert by_type[resource_type], resource_type
    assert 800 <= len(resources) <= 1500


def test_usagers_parameter_scales_the_data_set() -> None:
    small = build_demo_bundle(usagers=10)
    counts = collections.Counter(e["resource"]["resourceType"] for e in small["entry"])
    assert counts["Patient"] == 10
    assert counts["CarePlan"] == 7
    assert counts["Organization"] == 2
    with pytest.raises(ValueError):
        build_demo_bundle(usagers=-1)


def test_no_two_patients_share_an_id(by_type: dict[str, list[Resource]]) -> None:
    ids = [p["id"] for p in by_type["Patient"]]
    assert len(ids) == len(set(ids))
    local_ids = [
        i["value"]
        for p in by_type["Patient"]
        for i in p["identifier"]
        if i["type"]["coding"][0]["code"] == "PI"
    ]
    assert len(local_ids) == len(set(local_ids)) == 50


# --- validity ---
def test_every_resource_validates_with_r4b_models(resources: list[Resource]) -> None:
    failures = []
    for resource in resources:
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except Exception as exc:  # collect every failure for a readable report
            failures.append(f"{resource['resourceType']}/{resource['id']}: {exc}")
    assert not failures, "\n".join(failures[:5])


def test_whole_bundle_validates(bundle: dict[str, Any]) -> None:
    model = get_fhir_model_class("Bundle").model_validate(bundle)
    dumped = model.model_dump(mode="json", exclude_none=True)
    assert dumped["type"] == "transaction"
    assert len(dumped["entry"]) == len(bundle["entry"])


def test_every_reference_points_into_the_bundle(resources: list[Resource]) -> None:
    known = {f"{r['resourceType']}/{r['id']}" for r in resources}
    references = []
    for resource in resources:
        for _, node in _walk(resource):
            if "reference" in node and isinstance(node["reference"], str):
                references.append((resource["id"], node["reference"]))
    assert len(references) > 3000
    dangling = [(owner, ref) for owner, ref in references if ref not in known]
    assert not dangling, dangling[:10]


REQUIRED_CODES: dict[tuple[str, str], set[str]] = {
    ("Patient", "gender"): {"male", "female", "other", "unknown"},
    ("Practitioner", "gender"): {"male", "female", "other", "unknown"},
    ("RelatedPerson", "gender"): {"male", "female", "other", "unknown"},
    ("Observation", "status"): {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    },
    ("MedicationStatement", "status"): {
        "active",
        "completed",
        "entered-in-error",
        "intended",
        "stopped",
        "on-hold",
        "unknown",
        "not-taken",
    },
    ("CarePlan", "status"): {
        "draft",
        "active",
        "on-hold",
        "revoked",
        "completed",
        "entered-in-error",
        "unknown",
    },
    ("CarePlan", "intent"): {"proposal", "plan", "order", "option"},
    ("Goal", "lifecycleStatus"): {
        "proposed",
        "planned",
        "accepted",
        "active",
        "on-hold",
        "completed",
        "cancelled",
        "entered-in-error",
        "rejected",
    },
    ("Consent", "status"): {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"},
    ("CareTeam", "status"): {"proposed", "active", "suspended", "inactive", "entered-in-error"},
    ("Encounter", "status"): {
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
    },
    ("DocumentReference", "status"): {"current", "superseded", "entered-in-error"},
    ("DocumentReference", "docStatus"): {"preliminary", "final", "amended", "entered-in-error"},
    ("Location", "status"): {"active", "suspended", "inactive"},
    ("Location", "mode"): {"instance", "kind"},
    ("AllergyIntolerance", "type"): {"allergy", "intolerance"},
    ("AllergyIntolerance", "criticality"): {"low", "high", "unable-to-assess"},
}


def test_codes_with_required_bindings_are_valid(resources: list[Resource]) -> None:
    checked: collections.Counter[tuple[str, str]] = collections.Counter()
    for resource in resources:
        rt = resource["resourceType"]
        for (resource_type, element), allowed in REQUIRED_CODES.items():
            if rt == resource_type and element in resource:
                assert resource[element] in allowed, (rt, resource["id"], element, resource[element])
                checked[(rt, element)] += 1
        if rt == "Condition":
            assert set(_codes(resource["clinicalStatus"])) <= {
                "active",
                "recurrence",
                "relapse",
                "inactive",
                "remission",
                "resolved",
            }
            assert set(_codes(resource["verificationStatus"])) <= {
                "unconfirmed",
                "provisional",
                "differential",
                "confirmed",
                "refuted",
                "entered-in-error",
            }
        if rt == "AllergyIntolerance":
            assert set(resource["category"]) <= {"food", "medication", "environment", "biologic"}
            assert set(_codes(resource["clinicalStatus"])) <= {"active", "inactive", "resolved"}
            for reaction in resource.get("reaction", []):
                assert reaction["severity"] in {"mild", "moderate", "severe"}
        if rt == "CarePlan":
            for activity in resource["activity"]:
                assert activity["detail"]["status"] in {
                    "not-started",
                    "scheduled",
                    "in-progress",
                    "on-hold",
                    "completed",
                    "cancelled",
                    "stopped",
                    "unknown",
                    "entered-in-error",
                }
        if rt == "Consent" and "provision" in resource:
            assert resource["provision"]["type"] in {"deny", "permit"}
        if rt == "Encounter":
            for location in resource["location"]:
                assert location["status"] in {"planned", "active", "reserved", "completed"}
        for path, node in _walk(resource):
            last = path.rsplit(".", 1)[-1]
            if last == "telecom":
                assert node["system"] in {"phone", "fax", "email", "pager", "url", "sms", "other"}
                assert node.get("use", "work") in {"home", "work", "temp", "old", "mobile"}
            elif last in ("address", "valueAddress") and "use" in node:
                assert node["use"] in {"home", "work", "temp", "old", "billing"}
                assert node.get("type", "both") in {"postal", "physical", "both"}
            elif last == "name" and isinstance(node.get("family"), str):
                assert node["use"] in {"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"}
            elif last == "identifier" and "use" in node:
                assert node["use"] in {"usual", "official", "temp", "secondary", "old"}
    assert checked[("Patient", "gender")] == 50
    assert checked[("Observation", "status")] == len(
        [r for r in resources if r["resourceType"] == "Observation"]
    )


# --- French identifiers ---
def test_finess_and_structure_ids_pass_luhn(by_type: dict[str, list[Resource]]) -> None:
    finess_values = []
    for organization in by_type["Organization"]:
        identifiers = {i["system"]: i["value"] for i in organization["identifier"]}
        finess = identifiers[FINESS_SYSTEM]
        assert len(finess) == 9 and finess.isdigit()
        assert luhn_is_valid(finess), finess
        assert identifiers[IDNST_SYSTEM] == f"1{finess}"
        finess_values.append(finess)
    assert len(set(finess_values)) == 2
    assert {o["name"] for o in by_type["Organization"]} == {"EHPAD Les Tilleuls", "SSIAD du Val de Saône"}


def test_rpps_and_idnps_are_valid(by_type: dict[str, list[Resource]]) -> None:
    rpps_values = []
    for practitioner in by_type["Practitioner"]:
        identifiers = {i["system"]: i["value"] for i in practitioner["identifier"]}
        professions = {c["code"] for q in practitioner.get("qualification", []) for c in q["code"]["coding"]}
        # Médecins (10), infirmiers (60) and the ergothérapeute (94) are RPPS-registered; the others are not.
        assert (RPPS_SYSTEM in identifiers) == bool(professions & {"10", "60", "94"})
        if RPPS_SYSTEM not in identifiers:
            assert IDNPS_SYSTEM not in identifiers
            continue
        rpps = identifiers[RPPS_SYSTEM]
        assert len(rpps) == 11 and rpps.isdigit()
        assert luhn_is_valid(rpps), rpps
        assert identifiers[IDNPS_SYSTEM] == f"8{rpps}"
        rpps_values.append(rpps)
    # EHPAD: médecin coordonnateur, IDEC, 3 IDE, ergothérapeute; SSIAD: IDEC, 2 IDE.
    assert len(rpps_values) == 9
    assert len(set(rpps_values)) == len(rpps_values)


def test_nir_keys_are_valid_and_consistent_with_traits(by_type: dict[str, list[Resource]]) -> None:
    with_ins = 0
    departments = set()
    for patient in by_type["Patient"]:
        ins = [i for i in patient["identifier"] if i["type"]["coding"][0]["code"].startswith("INS")]
        reliability = next(e for e in patient["extension"] if e["url"] == EXT_IDENTITY_RELIABILITY)
        status = reliability["extension"][0]["valueCoding"]["code"]
        if not ins:
            assert status == "PROV"
            continue
        with_ins += 1
        assert status == "VALI"
        assert len(ins) == 1
        identifier = ins[0]
        assert identifier["system"] == INS_TEST_OID
        assert identifier["type"]["coding"][0]["code"] == "INS-NIR-TEST"
        assert identifier["use"] == "official"
        nir = identifier["value"]
        assert len(nir) == 15
        assert nir_key(nir[:13]) == int(nir[13:]), nir
        birth = date.fromisoformat(patient["birthDate"])
        assert nir[0] == ("1" if patient["gender"] == "male" else "2")
        assert nir[1:3] == f"{birth.year % 100:02d}"
        assert nir[3:5] == f"{birth.month:02d}"
        birth_place = next(e for e in patient["extension"] if e["url"] == EXT_BIRTH_PLACE)
        insee = birth_place["valueAddress"]["extension"][0]["valueCoding"]["code"]
        assert nir[5:10] == insee
        departments.add(nir[5:7])
    assert 25 <= with_ins <= 27
    assert departments & {"2A", "2B"}, "the Corsica key rule is exercised by at least one usager"


def test_no_production_ins_oid_anywhere(bundle: dict[str, Any]) -> None:
    text = json.dumps(bundle)
    for oid in FORBIDDEN_INS_OIDS:
        assert f'{oid}"' not in text
    assert INS_TEST_OID in text


# --- content realism ---
def test_french_names_with_accents_and_several_given_names(by_type: dict[str, list[Resource]]) -> None:
    patients = by_type["Patient"]
    all_names = [
        part for p in patients for name in p["name"] for part in [name["family"], *name.get("given", [])]
    ]
    accented = [n for n in all_names if not n.isascii()]
    assert len(accented) >= 10
    assert any(ch in "".join(all_names) for ch in "éèêëàâîïôûüç")
    given_lists = [
        e["valueString"]
        for p in patients
        for name in p["name"]
        for e in name.get("extension", [])
        if e["url"] == EXT_BIRTH_LIST_GIVEN_NAME
    ]
    assert len(given_lists) == 50
    assert sum(1 for g in given_lists if len(g.split()) >= 2) >= 10
    # Married women: birth name (official) differs from the used name (usual).
    married = [
        p
        for p in patients
        if {n["use"] for n in p["name"]} == {"official", "usual"}
        and p["name"][0]["family"] != p["name"][1]["family"]
    ]
    assert married and all(p["gender"] == "female" for p in married)


def test_ages_of_usagers(by_type: dict[str, list[Resource]]) -> None:
    for patient in by_type["Patient"]:
        age = _age(date.fromisoformat(patient["birthDate"]), REFERENCE_DATE)
        if patient["id"].startswith("ehpad-"):
            assert 75 <= age <= 100, (patient["id"], age)
        else:
            assert 40 <= age <= 100, (patient["id"], age)


def test_every_usager_has_aidant_and_care_circle(by_type: dict[str, list[Resource]]) -> None:
    aidants_by_patient = collections.Counter(r["patient"]["reference"] for r in by_type["RelatedPerson"])
    circles = {c["subject"]["reference"]: c for c in by_type["CareTeam"]}
    for patient in by_type["Patient"]:
        ref = f"Patient/{patient['id']}"
        assert 1 <= aidants_by_patient[ref] <= 2
        members = [p["member"]["reference"] for p in circles[ref]["participant"]]
        assert any(m.startswith("RelatedPerson/") for m in members)
        assert any(m.startswith("PractitionerRole/") for m in members)
    for related in by_type["RelatedPerson"]:
        assert related["telecom"]
        relation_codes = {c["code"] for rel in related["relationship"] for c in rel["coding"]}
        assert relation_codes & {"DAU", "SON", "SPS", "NIECE", "NEPHEW", "GRNDDAU", "GRNDSO"}


def test_care_plans_reference_goals_and_structure_agreement(by_type: dict[str, list[Resource]]) -> None:
    goals = {f"Goal/{g['id']}" for g in by_type["Goal"]}
    for plan in by_type["CarePlan"]:
        assert plan["subject"]["reference"].startswith("Patient/ehpad-usager-")
        assert (
            plan["identifier"][0]["system"]
            == "https://identifiant-medicosocial-projetpersonnalise.esante.gouv.fr"
        )
        assert plan["goal"] and {g["reference"] for g in plan["goal"]} <= goals
        assert plan["supportingInfo"][0]["reference"].startswith("Consent/")
        assert plan["author"]["reference"].startswith("Practitioner/")
        assert (
            date.fromisoformat(plan["period"]["start"])
            <= REFERENCE_DATE
            < date.fromisoformat(plan["period"]["end"])
        )
        assert "révision" in plan["note"][0]["text"]
    descriptions = {a["detail"]["description"] for p in by_type["CarePlan"] for a in p["activity"]}
    assert "Atelier mémoire hebdomadaire" in descriptions


def test_observations_use_ucum_and_gir(by_type: dict[str, list[Resource]]) -> None:
    weights = [o for o in by_type["Observation"] if "29463-7" in _codes(o["code"])]
    pressures = [o for o in by_type["Observation"] if "85354-9" in _codes(o["code"])]
    girs = [o for o in by_type["Observation"] if "MED-346" in _codes(o["code"])]
    assert len(weights) == len(pressures) == 150
    assert len(girs) == 50
    for obs in weights:
        q = obs["valueQuantity"]
        assert (q["system"], q["code"]) == ("http://unitsofmeasure.org", "kg")
        assert 30 < q["value"] < 120
    for obs in pressures:
        components = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in obs["component"]}
        assert set(components) == {"8480-6", "8462-4"}
        assert all(q["code"] == "mm[Hg]" for q in components.values())
        assert components["8480-6"]["value"] > components["8462-4"]["value"]
    for obs in girs:
        assert obs["valueCodeableConcept"]["coding"][0]["code"] in {f"MED-{n}" for n in range(339, 345)}


def test_consents_for_aidant_delegation(by_type: dict[str, list[Resource]]) -> None:
    delegations = [c for c in by_type["Consent"] if "provision" in c]
    assert len(delegations) >= 10
    for consent in delegations:
        assert _codes(consent["scope"]) == ["patient-privacy"]
        actor = consent["provision"]["actor"][0]["reference"]["reference"]
        assert actor.startswith("RelatedPerson/")
        assert actor.startswith(consent["patient"]["reference"].replace("Patient/", "RelatedPerson/"))
        period = consent["provision"]["period"]
        assert period["start"] < period["end"]


def test_documents_embed_valid_pdfs(by_type: dict[str, list[Resource]]) -> None:
    documents = by_type["DocumentReference"]
    assert len(documents) >= 10
    for document in documents:
        attachment = document["content"][0]["attachment"]
        assert attachment["contentType"] == "application/pdf"
        pdf = base64.b64decode(attachment["data"], validate=True)
        assert attachment["size"] == len(pdf)
        assert base64.b64decode(attachment["hash"]) == hashlib.sha1(pdf).digest()
        assert pdf.startswith(b"%PDF-1.")
        assert pdf.rstrip().endswith(b"%%EOF")
        assert 300 < len(pdf) < 4000
        # Every xref offset points at the start of the matching "n 0 obj" line.
        startxref = int(pdf[pdf.rindex(b"startxref") + len(b"startxref") :].split()[0])
        assert pdf[startxref:].startswith(b"xref")
        rows = pdf[startxref:].split(b"\n")[3:]
        for number, row in enumerate(rows, start=1):
            if not row.endswith(b" n "):
                break
            offset = int(row.split()[0])
            assert pdf[offset:].startswith(f"{number} 0 obj".encode())
        assert document["type"]["coding"][0]["system"] == "http://loinc.org"


# --- TDDUI shape (Patient/$tddui-export of any usager must validate) ---
TDDUI_SD = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition"


def test_usagers_without_ins_carry_their_birth_order(by_type: dict[str, list[Resource]]) -> None:
    orders = []
    for patient in by_type["Patient"]:
        has_ins = any(i["system"] == INS_TEST_OID for i in patient["identifier"])
        extensions = patient.get("_birthDate", {}).get("extension", [])
        if has_ins:
            assert not extensions  # the NIR carries it
            continue
        (order,) = extensions
        assert order["url"] == f"{TDDUI_SD}/tddui-birth-order"
        assert isinstance(order["valuePositiveInt"], int) and 1 <= order["valuePositiveInt"] <= 999
        orders.append(order["valuePositiveInt"])
    assert len(orders) >= 20 and len(set(orders)) > len(orders) // 2


def test_local_usager_identifiers_are_3_finess_slash_local_id(by_type: dict[str, list[Resource]]) -> None:
    finess = {o["id"]: next(i["value"] for i in o["identifier"] if i["system"] == FINESS_SYSTEM)
              for o in by_type["Organization"]}
    for patient in by_type["Patient"]:
        (local,) = [i for i in patient["identifier"]
                    if i["system"] == "https://identifiant-medicosocial-localusager.esante.gouv.fr"]
        org = patient["managingOrganization"]["reference"].split("/")[1]
        assert re.fullmatch(rf"3{finess[org]}/\d+", local["value"]), local["value"]


def test_stays_are_tddui_sejours(by_type: dict[str, list[Resource]]) -> None:
    for encounter in by_type["Encounter"]:
        (stay,) = encounter["identifier"]
        assert stay["system"] == "https://identifiant-medicosocial-sejour.esante.gouv.fr"
        assert stay["type"]["coding"][0]["code"] == "SEJ"
        assert re.fullmatch(r"3\d{9}/\d+-SEJOUR-1", stay["value"])
        assert encounter["serviceProvider"]["reference"].startswith("Organization/")
        (modality,) = encounter["serviceType"]["coding"]
        assert modality["system"] == "https://mos.esante.gouv.fr/NOS/TRE_R338-ModaliteAccueil/FHIR/TRE-R338-ModaliteAccueil"
        expected = "05" if encounter["id"].startswith("ssiad-") else {"03", "20"}
        assert modality["code"] in expected


def test_contacts_have_one_role_from_jdv_j384(by_type: dict[str, list[Resource]]) -> None:
    r260 = "https://mos.esante.gouv.fr/NOS/TRE_R260-HL7RoleClass/FHIR/TRE-R260-HL7RoleClass"
    roles: collections.Counter[str] = collections.Counter()
    for related in by_type["RelatedPerson"]:
        (role,) = [r for r in related["relationship"] if r["coding"][0]["system"] == r260]
        assert role["coding"][0]["code"] in {"ECON", "GUARD", "CON", "CAREGIVER", "NOK"}
        roles[role["coding"][0]["code"]] += 1
    assert set(roles) == {"CAREGIVER", "NOK", "ECON"}


def test_projets_personnalises_are_tddui_shaped(by_type: dict[str, list[Resource]]) -> None:
    consents = {f"Consent/{c['id']}": c for c in by_type["Consent"]}
    for plan in by_type["CarePlan"]:
        (identifier,) = plan["identifier"]
        assert re.fullmatch(r"3\d{9}/\d+-PPER-\d+", identifier["value"])
        assert plan["title"] and plan["status"] in {"draft", "active", "on-hold", "completed"}
        (category,) = plan["category"]
        assert category["coding"][0]["system"] == "https://smt.esante.gouv.fr/fhir/CodeSystem/tre-r390-type-projet-personnalise"
        agreement = next(s for s in plan["supportingInfo"] if s.get("display") == "Consentement structure")
        consent = consents[agreement["reference"]]
        assert len(consent["performer"]) == 1 and consent["dateTime"]


# --- DLU-EHPAD data -------------------------------------------------------------------------------------------
#: JDV_ObservationEtatPatient_CISIS (ANS kit), the codes the DLU observations must use
ETAT_PATIENT = {"288575003", "247663003", "62476001", "24199005", "248043008", "425104003", "397540003",
                "15188001", "62305002", "161898004", "50239007", "248046000", "386423001", "285304000", "249492002"}


def test_dlu_data_of_every_ehpad_resident(by_type: dict[str, list[Resource]]) -> None:
    """Every EHPAD resident (and no SSIAD usager) has the DLU observations coded from JDV_ObservationEtatPatient,
    consistent orientation answers, a BMR carriage answer and a flu vaccination; some have advance directives."""
    residents = {p["id"] for p in by_type["Patient"] if p["id"].startswith("ehpad")}
    dlu = [o for o in by_type["Observation"] if "-dlu-" in o["id"]]
    subjects = collections.Counter(o["subject"]["reference"].split("/")[1] for o in dlu)
    assert set(subjects) == residents and set(subjects.values()) == {5}
    for observation in dlu:
        assert isinstance(observation["valueBoolean"], bool)
        code = observation["code"]["coding"][0]
        if observation["id"].endswith("-bmr"):
            assert (code["system"], code["code"]) == ("http://hl7.org/fhir/sid/icd-10", "U83.71")
        else:
            assert code["system"] == "http://snomed.info/sct" and code["code"] in ETAT_PATIENT
    values = {o["id"]: o["valueBoolean"] for o in dlu}
    for resident in residents:
        assert values[f"{resident}-dlu-oriente"] is not values[f"{resident}-dlu-desoriente"]
    vaccinated = {i["patient"]["reference"].split("/")[1] for i in by_type["Immunization"]}
    assert vaccinated == residents
    assert all(i["occurrenceDateTime"] < REFERENCE_DATE.isoformat() for i in by_type["Immunization"])
    directives = [c for c in by_type["Consent"] if _codes(c["scope"]) == ["adr"]]
    assert 0 < len(directives) < len(residents)
    assert all(c["patient"]["reference"].split("/")[1] in residents and c["policy"] for c in directives)


def test_the_coordinating_nurses_may_admit_and_nobody_administers(by_type: dict[str, list[Resource]]) -> None:
    """Each structure's infirmière coordinatrice carries the habilitation ``admission`` (she admits usagers and
    records delegations); no demo role carries ``administrateur``, which the operator sets."""
    by_org: dict[str, set[str]] = collections.defaultdict(set)
    for role in by_type["PractitionerRole"]:
        found = habilitations(role)
        assert ADMINISTRATEUR not in found, role["id"]
        if ADMISSION in found:
            by_org[role["organization"]["reference"]].add(role["id"])
            assert "coordinat" in role["code"][0]["text"].lower(), role["code"][0]["text"]
    assert len(by_org) == 2 and all(len(ids) == 1 for ids in by_org.values()), by_org
