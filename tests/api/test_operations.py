"""HTTP-level tests of the operations: $validate, Patient/$everything, $meta, $meta-add, $meta-delete.

Spec: https://hl7.org/fhir/R4/resource-operation-validate.html, patient-operation-everything.html,
resource-operation-meta.html, resource-operation-meta-add.html, resource-operation-meta-delete.html.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlsplit

RPPS = "urn:oid:1.2.250.1.71.4.2.1"
FINESS = "urn:oid:1.2.250.1.71.4.2.2"
TAG_SYSTEM = "https://ehpad-les-tilleuls.fr/fhir/CodeSystem/etiquette"


def resident(family: str = "Bonnet", given: str = "Lucienne", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family, "given": [given]}], "gender": "female",
            "birthDate": "1936-12-24", **extra}


def observation(patient_id: str, code: str = "29463-7", display: str = "Body weight", value: float = 58.0,
                performer: str | None = None) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": "2024-05-06T08:00:00+02:00",
        "valueQuantity": {"value": value, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
    if performer:
        obs["performer"] = [{"reference": performer}]
    return obs


def parameters(**named: Any) -> dict[str, Any]:
    params = []
    for name, value in named.items():
        if isinstance(value, dict) and "resourceType" in value:
            params.append({"name": name, "resource": value})
        elif isinstance(value, dict):
            params.append({"name": name, "valueMeta": value})
        else:
            params.append({"name": name, "valueUri" if name == "profile" else "valueCode": value})
    return {"resourceType": "Parameters", "parameter": params}


def severities(outcome: dict[str, Any]) -> list[str]:
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return [i["severity"] for i in outcome["issue"]]


def get_url(fhir: Any, url: str) -> Any:
    parts = urlsplit(url)
    path = parts.path.split("/fhir/", 1)[1]
    return fhir.get(path + ("?" + parts.query if parts.query else ""))


def everything_ids(fhir: Any, path: str) -> list[tuple[str, str]]:
    """(type, id) of every entry of every page of a $everything, walking next links."""
    seen: list[tuple[str, str]] = []
    resp = fhir.get(path)
    for _ in range(50):
        assert resp.status_code == 200, resp.get_data(as_text=True)
        page = resp.get_json()
        seen += [(e["resource"]["resourceType"], e["resource"]["id"]) for e in page.get("entry", [])
                 if e["resource"]["resourceType"] != "OperationOutcome"]
        nxt = [link["url"] for link in page.get("link", []) if link["relation"] == "next"]
        if not nxt:
            return seen
        resp = get_url(fhir, nxt[0])
    raise AssertionError("next links never end")


# --- $validate -------------------------------------------------------------------------------------

def test_validate_valid_resource_is_ok(fhir):
    """$validate of a valid Patient answers 200 with an information-only OperationOutcome."""
    resp = fhir.post("Patient/$validate", resident())
    assert resp.status_code == 200
    assert severities(resp.get_json()) == ["information"]


def test_validate_invalid_resource_reports_errors_with_200(fhir):
    """$validate of an invalid Patient answers 200 with error issues naming the element."""
    resp = fhir.post("Patient/$validate", resident(gender="bogus"))
    assert resp.status_code == 200
    outcome = resp.get_json()
    assert "error" in severities(outcome)
    assert any("Patient.gender" in i.get("expression", []) for i in outcome["issue"])


def test_validate_never_stores(fhir):
    """$validate does not create the resource it checks."""
    fhir.post("Patient/$validate", resident())
    assert fhir.search("Patient") == []


def test_validate_with_parameters_resource(fhir):
    """$validate with a Parameters body (resource parameter) validates the embedded resource."""
    obs = observation("exemple")
    del obs["code"]
    resp = fhir.post("Observation/$validate", parameters(resource=obs))
    assert resp.status_code == 200
    outcome = resp.get_json()
    assert "error" in severities(outcome)
    assert any("Observation.code" in i.get("expression", []) for i in outcome["issue"])


def test_validate_with_parameters_valid_resource(fhir):
    """$validate with Parameters wrapping a valid Observation reports success."""
    resp = fhir.post("Observation/$validate", parameters(resource=observation("exemple")))
    assert severities(resp.get_json()) == ["information"]


def test_validate_with_unknown_profile_warns(fhir):
    """An unknown profile parameter gives a warning, not an error."""
    resp = fhir.post("Patient/$validate", parameters(
        resource=resident(), profile="https://interop.esante.gouv.fr/ig/fhir/ins/StructureDefinition/FrPatientINS"))
    outcome = resp.get_json()
    assert "warning" in severities(outcome)
    assert "error" not in severities(outcome)
    assert any("FrPatientINS" in i["diagnostics"] for i in outcome["issue"])


def test_validate_with_unknown_meta_profile_warns(fhir):
    """A profile declared in meta.profile that the server does not know gives a warning."""
    body = resident(meta={"profile": ["http://interopsante.org/fhir/StructureDefinition/FrPatient"]})
    outcome = fhir.post("Patient/$validate", body).get_json()
    assert "warning" in severities(outcome)


def test_validate_resource_type_mismatch_is_reported(fhir):
    """Validating a Practitioner against Patient/$validate reports an error."""
    resp = fhir.post("Patient/$validate", {"resourceType": "Practitioner", "name": [{"family": "Perrin"}]})
    assert "error" in severities(resp.get_json())


def test_validate_mode_delete_on_instance(fhir):
    """$validate with mode=delete on an existing resident answers an OperationOutcome without error."""
    created = fhir.create(resident())
    resp = fhir.post(f"Patient/{created['id']}/$validate", parameters(mode="delete"))
    assert resp.status_code == 200
    assert "error" not in severities(resp.get_json())
    assert fhir.get(f"Patient/{created['id']}").status_code == 200


def test_validate_mode_update_checks_the_id(fhir):
    """$validate mode=update on an instance reports a body whose id differs from the URL."""
    created = fhir.create(resident())
    body = parameters(resource={**created, "id": "autre"}, mode="update")
    resp = fhir.post(f"Patient/{created['id']}/$validate", body)
    assert "error" in severities(resp.get_json())


def test_validate_without_resource_is_400(fhir):
    """$validate with a Parameters body lacking any resource is a 400."""
    resp = fhir.post("Patient/$validate", {"resourceType": "Parameters", "parameter": []})
    assert resp.status_code == 400


def test_validate_xml_body(fhir, client):
    """$validate accepts an XML body and reports errors in it."""
    xml = b'<Patient xmlns="http://hl7.org/fhir"><gender value="bogus"/></Patient>'
    resp = client.post("/fhir/Patient/$validate", data=xml,
                       headers={"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"})
    assert resp.status_code == 200
    assert "error" in severities(resp.get_json())


# --- $everything -----------------------------------------------------------------------------------

def care_record(fhir: Any) -> dict[str, str]:
    """A resident with a GP, an EHPAD, two observations and an encounter; another resident with one observation."""
    org = fhir.create({"resourceType": "Organization", "name": "EHPAD Les Tilleuls",
                       "identifier": [{"system": FINESS, "value": "490001234"}]})
    doc = fhir.create({"resourceType": "Practitioner", "identifier": [{"system": RPPS, "value": "10101234567"}],
                       "name": [{"family": "Perrin", "given": ["Claire"], "prefix": ["Dr"]}]})
    nurse = fhir.create({"resourceType": "Practitioner", "name": [{"family": "Chevalier", "given": ["Inès"]}]})
    patient = fhir.create(resident(generalPractitioner=[{"reference": f"Practitioner/{doc['id']}"}],
                                   managingOrganization={"reference": f"Organization/{org['id']}"}))
    pid = patient["id"]
    obs1 = fhir.create(observation(pid, performer=f"Practitioner/{nurse['id']}"))
    obs2 = fhir.create(observation(pid, "8310-5", "Body temperature", 37.1))
    enc = fhir.create({"resourceType": "Encounter", "status": "finished",
                       "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                       "subject": {"reference": f"Patient/{pid}"},
                       "serviceProvider": {"reference": f"Organization/{org['id']}"}})
    other = fhir.create(resident("Fontaine", "Raymond"))
    other_obs = fhir.create(observation(other["id"], value=81.0))
    return {"org": org["id"], "doc": doc["id"], "nurse": nurse["id"], "patient": pid, "obs1": obs1["id"],
            "obs2": obs2["id"], "enc": enc["id"], "other": other["id"], "other_obs": other_obs["id"]}


def test_everything_returns_patient_and_compartment(fhir):
    """$everything returns the patient, its observations and its encounter."""
    ids = care_record(fhir)
    found = set(everything_ids(fhir, f"Patient/{ids['patient']}/$everything"))
    assert {("Patient", ids["patient"]), ("Observation", ids["obs1"]), ("Observation", ids["obs2"]),
            ("Encounter", ids["enc"])} <= found


def test_everything_includes_referenced_practitioner_and_organization(fhir):
    """$everything adds the GP, the performing nurse and the EHPAD the record refers to."""
    ids = care_record(fhir)
    found = set(everything_ids(fhir, f"Patient/{ids['patient']}/$everything"))
    assert {("Practitioner", ids["doc"]), ("Practitioner", ids["nurse"]), ("Organization", ids["org"])} <= found


def test_everything_does_not_leak_another_patient(fhir):
    """$everything of one resident never contains the other resident or their observation."""
    ids = care_record(fhir)
    found = set(everything_ids(fhir, f"Patient/{ids['patient']}/$everything"))
    assert ("Patient", ids["other"]) not in found
    assert ("Observation", ids["other_obs"]) not in found


def test_everything_is_a_searchset_without_duplicates(fhir):
    """The result is a searchset Bundle and no resource appears twice."""
    ids = care_record(fhir)
    bundle = fhir.get(f"Patient/{ids['patient']}/$everything").get_json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    found = everything_ids(fhir, f"Patient/{ids['patient']}/$everything")
    assert len(found) == len(set(found))


def test_everything_type_filter(fhir):
    """_type=Observation keeps the observations (and the resources they refer to) but not the Encounter."""
    ids = care_record(fhir)
    found = set(everything_ids(fhir, f"Patient/{ids['patient']}/$everything?_type=Observation"))
    assert {("Observation", ids["obs1"]), ("Observation", ids["obs2"])} <= found
    assert ("Encounter", ids["enc"]) not in found


def test_everything_type_outside_compartment_is_400(fhir):
    """_type naming a type outside the Patient compartment is refused."""
    ids = care_record(fhir)
    assert fhir.get(f"Patient/{ids['patient']}/$everything?_type=Organization").status_code == 400


def test_everything_since_keeps_recent_changes(fhir):
    """_since keeps only the compartment resources changed at or after the instant."""
    ids = care_record(fhir)
    time.sleep(0.02)
    late = fhir.create(observation(ids["patient"], "8867-4", "Heart rate", 64))
    since = quote(late["meta"]["lastUpdated"])
    found = set(everything_ids(fhir, f"Patient/{ids['patient']}/$everything?_since={since}"))
    assert ("Observation", late["id"]) in found
    assert ("Observation", ids["obs1"]) not in found
    assert ("Encounter", ids["enc"]) not in found


def test_everything_pages_with_next_links(fhir):
    """With _count=2, $everything is paged and walking next links returns every compartment resource."""
    ids = care_record(fhir)
    extra = {fhir.create(observation(ids["patient"], value=50.0 + i))["id"] for i in range(5)}
    first = fhir.get(f"Patient/{ids['patient']}/$everything?_count=2").get_json()
    assert any(link["relation"] == "next" for link in first["link"])
    found = everything_ids(fhir, f"Patient/{ids['patient']}/$everything?_count=2")
    obs = {i for t, i in found if t == "Observation"}
    assert obs == {ids["obs1"], ids["obs2"], *extra}
    assert ("Patient", ids["patient"]) in found
    assert ("Encounter", ids["enc"]) in found
    assert ("Observation", ids["other_obs"]) not in found


def test_everything_of_unknown_patient_is_404(fhir):
    """$everything of a patient that does not exist answers 404."""
    assert fhir.get("Patient/inconnu/$everything").status_code == 404


def test_everything_of_deleted_patient_is_410(fhir):
    """$everything of a deleted patient answers 410."""
    created = fhir.create(resident())
    fhir.delete(f"Patient/{created['id']}")
    assert fhir.get(f"Patient/{created['id']}/$everything").status_code == 410


def test_everything_on_other_type_is_404(fhir):
    """$everything is offered on Patient only."""
    fhir.put("Organization/tilleuls", {"resourceType": "Organization", "id": "tilleuls", "name": "EHPAD Les Tilleuls"})
    fhir.put("Patient/tilleuls", resident(id="tilleuls"))
    assert fhir.get("Organization/tilleuls/$everything").status_code == 404


# --- $meta, $meta-add, $meta-delete ----------------------------------------------------------------

def tag(code: str) -> dict[str, str]:
    return {"system": TAG_SYSTEM, "code": code}


def returned_meta(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["resourceType"] == "Parameters"
    (param,) = [p for p in body["parameter"] if p["name"] == "return"]
    return param["valueMeta"]  # type: ignore[no-any-return]


def test_meta_of_instance_returns_its_tags(fhir):
    """Patient/id/$meta returns the tags and profiles of the resource."""
    created = fhir.create(resident(meta={"tag": [tag("unite-alzheimer")],
                                         "profile": ["http://interopsante.org/fhir/StructureDefinition/FrPatient"]}))
    meta = returned_meta(fhir.get(f"Patient/{created['id']}/$meta"))
    assert meta["tag"] == [tag("unite-alzheimer")]
    assert meta["profile"] == ["http://interopsante.org/fhir/StructureDefinition/FrPatient"]


def test_meta_add_adds_a_tag_and_tag_search_finds_it(fhir):
    """$meta-add adds a tag, and a _tag search then finds the resident."""
    created = fhir.create(resident())
    meta = returned_meta(fhir.post(f"Patient/{created['id']}/$meta-add", parameters(meta={"tag": [tag("chute")]})))
    assert tag("chute") in meta["tag"]
    assert [p["id"] for p in fhir.search(f"Patient?_tag={TAG_SYSTEM}|chute")] == [created["id"]]
    assert fhir.get(f"Patient/{created['id']}").get_json()["meta"]["tag"] == [tag("chute")]


def test_meta_add_does_not_create_a_version(fhir):
    """$meta-add changes metadata in place: the version stays 1."""
    created = fhir.create(resident())
    fhir.post(f"Patient/{created['id']}/$meta-add", parameters(meta={"tag": [tag("chute")]}))
    assert fhir.get(f"Patient/{created['id']}").headers["ETag"] == 'W/"1"'


def test_meta_add_is_idempotent(fhir):
    """Adding a tag that is already there does not duplicate it."""
    created = fhir.create(resident(meta={"tag": [tag("chute")]}))
    meta = returned_meta(fhir.post(f"Patient/{created['id']}/$meta-add", parameters(meta={"tag": [tag("chute")]})))
    assert meta["tag"] == [tag("chute")]


def test_meta_delete_removes_the_tag_and_tag_search_no_longer_finds(fhir):
    """$meta-delete removes the tag, and a _tag search no longer finds the resident."""
    created = fhir.create(resident(meta={"tag": [tag("chute"), tag("diabete")]}))
    meta = returned_meta(fhir.post(f"Patient/{created['id']}/$meta-delete",
                                   parameters(meta={"tag": [tag("chute")]})))
    assert meta["tag"] == [tag("diabete")]
    assert fhir.search(f"Patient?_tag={TAG_SYSTEM}|chute") == []
    assert [p["id"] for p in fhir.search(f"Patient?_tag={TAG_SYSTEM}|diabete")] == [created["id"]]


def test_meta_delete_of_last_tag_removes_tag_list(fhir):
    """Deleting the only tag leaves no meta.tag on the resource."""
    created = fhir.create(resident(meta={"tag": [tag("chute")]}))
    fhir.post(f"Patient/{created['id']}/$meta-delete", parameters(meta={"tag": [tag("chute")]}))
    assert "tag" not in fhir.get(f"Patient/{created['id']}").get_json()["meta"]


def test_meta_add_security_label(fhir):
    """$meta-add adds a security label, found by _security search."""
    created = fhir.create(resident())
    label = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
    meta = returned_meta(fhir.post(f"Patient/{created['id']}/$meta-add", parameters(meta={"security": [label]})))
    assert meta["security"] == [label]
    assert [p["id"] for p in fhir.search(
        "Patient?_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R")] == [created["id"]]


def test_meta_of_type_lists_tags_in_use(fhir):
    """Patient/$meta lists the tags used by residents, not those of other types."""
    fhir.create(resident(meta={"tag": [tag("chute")]}))
    fhir.create({"resourceType": "Organization", "name": "EHPAD", "meta": {"tag": [tag("structure")]}})
    meta = returned_meta(fhir.get("Patient/$meta"))
    assert tag("chute") in meta["tag"]
    assert tag("structure") not in meta["tag"]


def test_meta_of_system_lists_every_tag(fhir):
    """/$meta lists the tags used by every type."""
    fhir.create(resident(meta={"tag": [tag("chute")]}))
    fhir.create({"resourceType": "Organization", "name": "EHPAD", "meta": {"tag": [tag("structure")]}})
    meta = returned_meta(fhir.get("$meta"))
    assert tag("chute") in meta["tag"]
    assert tag("structure") in meta["tag"]


def test_meta_add_without_meta_parameter_is_400(fhir):
    """$meta-add with a Parameters body lacking 'meta' is a 400."""
    created = fhir.create(resident())
    resp = fhir.post(f"Patient/{created['id']}/$meta-add", {"resourceType": "Parameters", "parameter": []})
    assert resp.status_code == 400


def test_meta_add_on_unknown_resource_is_404(fhir):
    """$meta-add on an unknown resident answers 404."""
    assert fhir.post("Patient/inconnu/$meta-add", parameters(meta={"tag": [tag("chute")]})).status_code == 404


def test_meta_add_by_get_is_refused(fhir):
    """$meta-add changes data, so GET is not allowed for it."""
    created = fhir.create(resident())
    assert fhir.get(f"Patient/{created['id']}/$meta-add").status_code in (404, 405)


def test_unknown_operation_is_404(fhir):
    """An operation the server does not know answers 404 with an OperationOutcome."""
    resp = fhir.post("Patient/$inventer", resident())
    assert resp.status_code == 404
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_everything_does_not_include_a_linked_other_patient(fhir):
    """A resident linked to another resident (Patient.link) does not pull that other record in."""
    other = fhir.create(resident("Fontaine", "Raymond"))
    patient = fhir.create(resident(link=[{"other": {"reference": f"Patient/{other['id']}"}, "type": "seealso"}]))
    found = set(everything_ids(fhir, f"Patient/{patient['id']}/$everything"))
    assert ("Patient", patient["id"]) in found
    assert ("Patient", other["id"]) not in found


def test_everything_does_not_include_observations_of_another_patient(fhir):
    """An observation of the resident whose hasMember points to another resident's observation does not leak it."""
    other = fhir.create(resident("Fontaine", "Raymond"))
    other_obs = fhir.create(observation(other["id"], value=81.0))
    patient = fhir.create(resident())
    panel = observation(patient["id"])
    panel["hasMember"] = [{"reference": f"Observation/{other_obs['id']}"}]
    fhir.create(panel)
    found = set(everything_ids(fhir, f"Patient/{patient['id']}/$everything"))
    assert ("Observation", other_obs["id"]) not in found
