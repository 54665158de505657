"""HTTP-level tests of create, read, vread, update, patch and delete, plain and conditional.

Spec: https://hl7.org/fhir/R4/http.html (#create, #read, #vread, #update, #patch, #delete, #ccreate,
#cond-update, conditional delete and conditional patch). The data is that of a French EHPAD (care home).
"""

from __future__ import annotations

import json
import re
from typing import Any

INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
DOSSIER = "https://ehpad-les-tilleuls.fr/fhir/NamingSystem/dossier-resident"
JSON_PATCH = "application/json-patch+json"


def resident(family: str = "Lefebvre", given: str = "Marcel", nir: str = "138057512347826",
             dossier: str | None = None, **extra: Any) -> dict[str, Any]:
    identifiers = [{"system": INS_NIR, "value": nir}]
    if dossier:
        identifiers.append({"system": DOSSIER, "value": dossier})
    return {"resourceType": "Patient", "identifier": identifiers, "active": True,
            "name": [{"use": "official", "family": family, "given": [given]}],
            "gender": "male", "birthDate": "1938-05-14",
            "address": [{"line": ["12 rue des Tilleuls"], "city": "Angers", "postalCode": "49000",
                         "country": "FR"}], **extra}


def weight(patient_id: str, kg: float = 68.5) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": "2024-03-04T08:30:00+01:00",
            "valueQuantity": {"value": kg, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}


def issue_text(resp: Any) -> str:
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    return json.dumps(body["issue"])


# --- create ----------------------------------------------------------------------------------------

def test_create_returns_201_with_server_assigned_id(fhir):
    """POST Patient answers 201 with an id chosen by the server and version 1."""
    resp = fhir.post("Patient", resident())
    assert resp.status_code == 201
    body = resp.get_json()
    assert re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", body["id"])
    assert body["meta"]["versionId"] == "1"
    assert body["name"][0]["family"] == "Lefebvre"


def test_create_ignores_the_id_in_the_body(fhir):
    """An id sent in a create body is replaced by a server id; nothing is stored under the client id."""
    resp = fhir.post("Patient", resident(id="client-choisi"))
    assert resp.status_code == 201
    assert resp.get_json()["id"] != "client-choisi"
    assert fhir.get("Patient/client-choisi").status_code == 404


def test_create_sets_location_etag_and_last_modified(fhir):
    """Location names the new version, ETag is W/"1" and Last-Modified matches meta.lastUpdated."""
    from email.utils import parsedate_to_datetime

    resp = fhir.post("Patient", resident())
    body = resp.get_json()
    assert resp.headers["Location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert resp.headers["ETag"] == 'W/"1"'
    last_modified = parsedate_to_datetime(resp.headers["Last-Modified"])
    assert last_modified.isoformat()[:19] == body["meta"]["lastUpdated"][:19]


def test_create_replaces_client_meta_version_and_last_updated(fhir):
    """meta.versionId and meta.lastUpdated sent by the client are overwritten by the server."""
    body = fhir.create(resident(meta={"versionId": "42", "lastUpdated": "2001-01-01T00:00:00Z"}))
    assert body["meta"]["versionId"] == "1"
    assert not body["meta"]["lastUpdated"].startswith("2001")


def test_create_with_wrong_resource_type_for_url_is_refused(fhir):
    """Posting a Practitioner to /Patient is refused and nothing is created."""
    resp = fhir.post("Patient", {"resourceType": "Practitioner", "name": [{"family": "Moreau"}]})
    assert resp.status_code in (400, 422)
    assert fhir.search("Practitioner") == []


def test_create_on_unknown_type_is_404(fhir):
    """POST to a type that is not FHIR R4 answers 404 with an OperationOutcome."""
    resp = fhir.post("Resident", {"resourceType": "Resident"})
    assert resp.status_code == 404
    assert "Resident" in issue_text(resp)


# --- read / vread ----------------------------------------------------------------------------------

def test_read_unknown_resource_is_404(fhir):
    """Reading an id that was never created answers 404 with an OperationOutcome."""
    resp = fhir.get("Patient/inconnu")
    assert resp.status_code == 404
    assert resp.get_json()["issue"][0]["code"] == "not-found"


def test_read_returns_headers_of_current_version(fhir):
    """read answers the current version with its ETag and Last-Modified."""
    created = fhir.create(resident())
    fhir.put(f"Patient/{created['id']}", {**created, "active": False})
    resp = fhir.get(f"Patient/{created['id']}")
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"2"'
    assert "Last-Modified" in resp.headers
    assert resp.get_json()["active"] is False


def test_vread_returns_the_old_version(fhir):
    """vread of version 1 returns the content as it was before the update."""
    created = fhir.create(resident(family="Lefebvre"))
    fhir.put(f"Patient/{created['id']}", {**created, "name": [{"family": "Lefèvre", "given": ["Marcel"]}]})
    resp = fhir.get(f"Patient/{created['id']}/_history/1")
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.get_json()["name"][0]["family"] == "Lefebvre"
    assert resp.get_json()["meta"]["versionId"] == "1"


def test_vread_unknown_version_is_404(fhir):
    """vread of a version that does not exist answers 404."""
    created = fhir.create(resident())
    assert fhir.get(f"Patient/{created['id']}/_history/7").status_code == 404


def test_vread_non_integer_version_is_400(fhir):
    """A version id that is not an integer is a client error."""
    created = fhir.create(resident())
    assert fhir.get(f"Patient/{created['id']}/_history/abc").status_code == 400


# --- update ----------------------------------------------------------------------------------------

def test_update_creates_version_2(fhir):
    """PUT with changed content answers 200 with version 2 and the new content."""
    created = fhir.create(resident())
    resp = fhir.put(f"Patient/{created['id']}", {**created, "telecom": [{"system": "phone",
                                                                          "value": "02 41 00 00 00"}]})
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"2"'
    assert resp.get_json()["meta"]["versionId"] == "2"
    assert fhir.get(f"Patient/{created['id']}").get_json()["telecom"][0]["value"] == "02 41 00 00 00"


def test_update_as_create_with_client_id_returns_201(fhir):
    """PUT to an id that does not exist creates the resource under that id (201, version 1)."""
    resp = fhir.put("Patient/resident-0042", resident(id="resident-0042"))
    assert resp.status_code == 201
    assert resp.get_json()["id"] == "resident-0042"
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.headers["Location"].endswith("/Patient/resident-0042/_history/1")
    assert fhir.get("Patient/resident-0042").status_code == 200


def test_noop_update_keeps_the_version(fhir):
    """PUT of identical content creates no new version: the version stays 1."""
    created = fhir.create(resident())
    resp = fhir.put(f"Patient/{created['id']}", created)
    assert resp.status_code == 200
    assert resp.get_json()["meta"]["versionId"] == "1"
    history = fhir.get(f"Patient/{created['id']}/_history").get_json()
    assert len(history["entry"]) == 1


def test_update_with_id_mismatch_is_400(fhir):
    """A body id different from the URL id is refused and the resource is unchanged."""
    created = fhir.create(resident())
    resp = fhir.put(f"Patient/{created['id']}", {**created, "id": "autre", "active": False})
    assert resp.status_code == 400
    assert fhir.get(f"Patient/{created['id']}").get_json()["active"] is True


def test_update_without_id_in_body_is_400(fhir):
    """An update body without id is refused (the spec requires the id)."""
    created = fhir.create(resident())
    body = {k: v for k, v in created.items() if k != "id"}
    assert fhir.put(f"Patient/{created['id']}", body).status_code == 400


def test_update_with_invalid_id_is_refused(fhir):
    """An id with forbidden characters (underscore) cannot be created by PUT."""
    resp = fhir.put("Patient/mauvais_id", resident(id="mauvais_id"))
    assert resp.status_code in (400, 422)
    assert fhir.get("Patient/mauvais_id").status_code == 404


# --- patch -----------------------------------------------------------------------------------------

def test_json_patch_replaces_an_element(fhir):
    """A JSON Patch replacing birthDate answers 200 with version 2 and the new value."""
    created = fhir.create(resident())
    ops = [{"op": "replace", "path": "/birthDate", "value": "1938-05-15"}]
    resp = fhir.patch(f"Patient/{created['id']}", ops, content_type=JSON_PATCH)
    assert resp.status_code == 200
    assert resp.get_json()["birthDate"] == "1938-05-15"
    assert resp.get_json()["meta"]["versionId"] == "2"
    assert fhir.get(f"Patient/{created['id']}").get_json()["birthDate"] == "1938-05-15"


def test_json_patch_with_failing_test_op_is_refused(fhir):
    """A JSON Patch whose ``test`` operation fails changes nothing."""
    created = fhir.create(resident())
    ops = [{"op": "test", "path": "/gender", "value": "female"},
           {"op": "replace", "path": "/active", "value": False}]
    resp = fhir.patch(f"Patient/{created['id']}", ops, content_type=JSON_PATCH)
    assert resp.status_code in (400, 409, 422)
    assert fhir.get(f"Patient/{created['id']}").get_json()["active"] is True


def test_fhirpath_patch_adds_a_telecom(fhir):
    """A FHIRPath Patch (Parameters) adding a telecom answers 200 and stores it."""
    created = fhir.create(resident())
    params = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "add"},
        {"name": "path", "valueString": "Patient"},
        {"name": "name", "valueString": "telecom"},
        {"name": "value", "valueContactPoint": {"system": "phone", "value": "06 12 34 56 78", "use": "mobile"}},
    ]}]}
    resp = fhir.patch(f"Patient/{created['id']}", params)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    stored = fhir.get(f"Patient/{created['id']}").get_json()
    assert stored["telecom"] == [{"system": "phone", "value": "06 12 34 56 78", "use": "mobile"}]
    assert stored["meta"]["versionId"] == "2"


def test_fhirpath_patch_replaces_a_value(fhir):
    """A FHIRPath Patch ``replace`` on Patient.gender changes only that element."""
    created = fhir.create(resident())
    params = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"},
        {"name": "path", "valueString": "Patient.gender"},
        {"name": "value", "valueCode": "female"},
    ]}]}
    resp = fhir.patch(f"Patient/{created['id']}", params)
    assert resp.status_code == 200
    stored = fhir.get(f"Patient/{created['id']}").get_json()
    assert stored["gender"] == "female"
    assert stored["name"] == created["name"]


def test_patch_producing_invalid_resource_is_refused_and_nothing_changes(fhir):
    """A patch setting gender to a code outside the required value set is refused; version stays 1."""
    created = fhir.create(resident())
    ops = [{"op": "replace", "path": "/gender", "value": "bogus"}]
    resp = fhir.patch(f"Patient/{created['id']}", ops, content_type=JSON_PATCH)
    assert resp.status_code in (400, 422)
    assert "Patient.gender" in issue_text(resp)
    stored = fhir.get(f"Patient/{created['id']}")
    assert stored.headers["ETag"] == 'W/"1"'
    assert stored.get_json()["gender"] == "male"


def test_patch_with_unknown_element_is_refused(fhir):
    """A JSON Patch adding an element FHIR does not define is refused and nothing changes."""
    created = fhir.create(resident())
    ops = [{"op": "add", "path": "/chambre", "value": "112"}]
    resp = fhir.patch(f"Patient/{created['id']}", ops, content_type=JSON_PATCH)
    assert resp.status_code in (400, 422)
    assert "chambre" not in fhir.get(f"Patient/{created['id']}").get_json()


def test_patch_cannot_change_the_id(fhir):
    """A JSON Patch replacing /id is refused."""
    created = fhir.create(resident())
    ops = [{"op": "replace", "path": "/id", "value": "autre"}]
    resp = fhir.patch(f"Patient/{created['id']}", ops, content_type=JSON_PATCH)
    assert resp.status_code in (400, 422)
    assert fhir.get("Patient/autre").status_code == 404


def test_patch_of_unknown_resource_is_404(fhir):
    """Patching an id that does not exist answers 404."""
    ops = [{"op": "replace", "path": "/active", "value": False}]
    assert fhir.patch("Patient/inconnu", ops, content_type=JSON_PATCH).status_code == 404


def test_patch_with_resource_body_is_refused(fhir):
    """A PATCH body that is a plain resource (neither JSON Patch nor Parameters) is a 400."""
    created = fhir.create(resident())
    resp = fhir.patch(f"Patient/{created['id']}", {**created, "active": False})
    assert resp.status_code == 400
    assert fhir.get(f"Patient/{created['id']}").get_json()["active"] is True


# --- delete ----------------------------------------------------------------------------------------

def test_delete_answers_204(fhir):
    """DELETE of an existing resource answers 204 without body."""
    created = fhir.create(resident())
    resp = fhir.delete(f"Patient/{created['id']}")
    assert resp.status_code == 204
    assert resp.get_data() == b""


def test_read_after_delete_is_410(fhir):
    """Reading a deleted resource answers 410 Gone with an OperationOutcome."""
    created = fhir.create(resident())
    fhir.delete(f"Patient/{created['id']}")
    resp = fhir.get(f"Patient/{created['id']}")
    assert resp.status_code == 410
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_vread_of_old_version_after_delete_still_works(fhir):
    """Version 1 of a deleted resource can still be read with vread."""
    created = fhir.create(resident())
    fhir.delete(f"Patient/{created['id']}")
    resp = fhir.get(f"Patient/{created['id']}/_history/1")
    assert resp.status_code == 200
    assert resp.get_json()["name"][0]["family"] == "Lefebvre"


def test_vread_of_the_deletion_version_is_410(fhir):
    """The version created by the deletion itself answers 410 on vread."""
    created = fhir.create(resident())
    fhir.delete(f"Patient/{created['id']}")
    assert fhir.get(f"Patient/{created['id']}/_history/2").status_code == 410


def test_history_shows_the_deletion(fhir):
    """Instance history lists the deletion first, as a DELETE entry without resource."""
    created = fhir.create(resident())
    fhir.delete(f"Patient/{created['id']}")
    bundle = fhir.get(f"Patient/{created['id']}/_history").get_json()
    assert [e["request"]["method"] for e in bundle["entry"]] == ["DELETE", "POST"]
    assert "resource" not in bundle["entry"][0]
    assert bundle["entry"][0]["response"]["etag"] == 'W/"2"'


def test_deleted_resource_is_not_found_by_search(fhir):
    """A deleted resident no longer appears in search results."""
    created = fhir.create(resident(nir="138057512340106"))
    fhir.delete(f"Patient/{created['id']}")
    assert fhir.search(f"Patient?identifier={INS_NIR}|138057512340106") == []


def test_update_after_delete_revives_with_next_version(fhir):
    """PUT after DELETE brings the resource back with version 3 (1 create, 2 delete)."""
    created = fhir.create(resident())
    fhir.delete(f"Patient/{created['id']}")
    resp = fhir.put(f"Patient/{created['id']}", {**created, "active": False})
    assert resp.status_code in (200, 201)
    assert resp.get_json()["meta"]["versionId"] == "3"
    current = fhir.get(f"Patient/{created['id']}")
    assert current.status_code == 200
    assert current.get_json()["active"] is False


def test_delete_twice_is_idempotent(fhir):
    """Deleting an already deleted resource answers 204 and creates no further version."""
    created = fhir.create(resident())
    fhir.delete(f"Patient/{created['id']}")
    assert fhir.delete(f"Patient/{created['id']}").status_code == 204
    bundle = fhir.get(f"Patient/{created['id']}/_history").get_json()
    assert len(bundle["entry"]) == 2


def test_delete_unknown_resource_is_404(fhir):
    """Deleting an id that never existed answers 404."""
    assert fhir.delete("Patient/inconnu").status_code == 404


# --- conditional create ----------------------------------------------------------------------------

def test_conditional_create_without_match_creates(fhir):
    """If-None-Exist with no match creates the resource (201)."""
    resp = fhir.post("Patient", resident(dossier="R-2024-001"),
                     headers={"If-None-Exist": f"identifier={DOSSIER}|R-2024-001"})
    assert resp.status_code == 201
    assert len(fhir.search(f"Patient?identifier={DOSSIER}|R-2024-001")) == 1


def test_conditional_create_with_one_match_returns_existing(fhir):
    """If-None-Exist with one match answers 200 with the existing resource and creates nothing."""
    existing = fhir.create(resident(dossier="R-2024-002"))
    resp = fhir.post("Patient", resident(family="Autre", dossier="R-2024-002"),
                     headers={"If-None-Exist": f"identifier={DOSSIER}|R-2024-002"})
    assert resp.status_code == 200
    assert resp.get_json()["id"] == existing["id"]
    assert resp.get_json()["name"][0]["family"] == "Lefebvre"
    assert resp.headers["ETag"] == 'W/"1"'
    assert len(fhir.search("Patient")) == 1


def test_conditional_create_with_two_matches_is_412(fhir):
    """If-None-Exist matching two residents answers 412 and creates nothing."""
    fhir.create(resident(given="Marcel", nir="138057512341193"))
    fhir.create(resident(given="Paulette", nir="238057512341242"))
    resp = fhir.post("Patient", resident(given="Jean"), headers={"If-None-Exist": "family=Lefebvre"})
    assert resp.status_code == 412
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert len(fhir.search("Patient")) == 2


def test_conditional_create_with_unknown_parameter_is_400(fhir):
    """Criteria using an unknown search parameter are refused rather than matching everything."""
    resp = fhir.post("Patient", resident(), headers={"If-None-Exist": "chambre=112"})
    assert resp.status_code == 400
    assert fhir.search("Patient") == []


# --- conditional update ----------------------------------------------------------------------------

def test_conditional_update_without_match_creates(fhir):
    """PUT Patient?identifier=… with no match creates the resident (201)."""
    resp = fhir.put(f"Patient?identifier={DOSSIER}|R-2024-010", resident(dossier="R-2024-010"))
    assert resp.status_code == 201
    assert len(fhir.search(f"Patient?identifier={DOSSIER}|R-2024-010")) == 1


def test_conditional_update_with_one_match_updates_it(fhir):
    """PUT Patient?identifier=… with one match updates that resource to version 2."""
    existing = fhir.create(resident(dossier="R-2024-011"))
    resp = fhir.put(f"Patient?identifier={DOSSIER}|R-2024-011", resident(dossier="R-2024-011", active=False))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["id"] == existing["id"]
    assert body["meta"]["versionId"] == "2"
    assert body["active"] is False
    assert len(fhir.search("Patient")) == 1


def test_conditional_update_with_one_match_and_other_id_is_400(fhir):
    """A conditional update whose body id differs from the matched resource is refused."""
    existing = fhir.create(resident(dossier="R-2024-012"))
    resp = fhir.put(f"Patient?identifier={DOSSIER}|R-2024-012",
                    resident(dossier="R-2024-012", id="autre-id", active=False))
    assert resp.status_code == 400
    assert fhir.get(f"Patient/{existing['id']}").get_json()["active"] is True


def test_conditional_update_with_two_matches_is_412(fhir):
    """PUT Patient?family=… matching two residents answers 412 and changes nothing."""
    a = fhir.create(resident(given="Marcel", nir="138057512342183"))
    fhir.create(resident(given="Paulette", nir="238057512342232"))
    resp = fhir.put("Patient?family=Lefebvre", resident(active=False))
    assert resp.status_code == 412
    assert fhir.get(f"Patient/{a['id']}").headers["ETag"] == 'W/"1"'


# --- conditional delete ----------------------------------------------------------------------------

def test_conditional_delete_with_one_match_deletes_it(fhir):
    """DELETE Patient?identifier=… deletes the single matching resident."""
    existing = fhir.create(resident(dossier="R-2024-020"))
    resp = fhir.delete(f"Patient?identifier={DOSSIER}|R-2024-020")
    assert resp.status_code in (200, 204)
    assert fhir.get(f"Patient/{existing['id']}").status_code == 410


def test_conditional_delete_without_match_changes_nothing(fhir):
    """A conditional delete without match succeeds without deleting anything."""
    other = fhir.create(resident(dossier="R-2024-021"))
    resp = fhir.delete(f"Patient?identifier={DOSSIER}|R-2024-999")
    assert resp.status_code in (200, 204, 404)
    assert fhir.get(f"Patient/{other['id']}").status_code == 200


def test_conditional_delete_with_two_matches_is_412(fhir):
    """A conditional delete matching two residents answers 412 (single deletes only) and deletes none."""
    a = fhir.create(resident(given="Marcel", nir="138057512343173"))
    b = fhir.create(resident(given="Paulette", nir="238057512343222"))
    resp = fhir.delete("Patient?family=Lefebvre")
    assert resp.status_code == 412
    assert fhir.get(f"Patient/{a['id']}").status_code == 200
    assert fhir.get(f"Patient/{b['id']}").status_code == 200


def test_conditional_delete_without_criteria_is_refused(fhir):
    """DELETE /Patient without any criteria is refused instead of deleting the whole type."""
    existing = fhir.create(resident())
    resp = fhir.delete("Patient")
    assert resp.status_code in (400, 405, 412)
    assert fhir.get(f"Patient/{existing['id']}").status_code == 200


# --- conditional patch -----------------------------------------------------------------------------

def test_conditional_patch_with_one_match_patches_it(fhir):
    """PATCH Patient?identifier=… applies the patch to the single match."""
    existing = fhir.create(resident(dossier="R-2024-030"))
    ops = [{"op": "add", "path": "/telecom", "value": [{"system": "phone", "value": "02 41 11 22 33"}]}]
    resp = fhir.patch(f"Patient?identifier={DOSSIER}|R-2024-030", ops, content_type=JSON_PATCH)
    assert resp.status_code == 200
    stored = fhir.get(f"Patient/{existing['id']}").get_json()
    assert stored["telecom"][0]["value"] == "02 41 11 22 33"
    assert stored["meta"]["versionId"] == "2"


def test_conditional_patch_without_match_is_404(fhir):
    """PATCH Patient?identifier=… with no match answers 404 (http.html#patch)."""
    ops = [{"op": "replace", "path": "/active", "value": False}]
    resp = fhir.patch(f"Patient?identifier={DOSSIER}|R-2024-998", ops, content_type=JSON_PATCH)
    assert resp.status_code == 404
    assert fhir.search("Patient") == []


def test_conditional_patch_with_two_matches_is_412(fhir):
    """PATCH Patient?family=… matching two residents answers 412 and patches neither."""
    a = fhir.create(resident(given="Marcel", nir="138057512344163"))
    b = fhir.create(resident(given="Paulette", nir="238057512344212"))
    ops = [{"op": "replace", "path": "/active", "value": False}]
    resp = fhir.patch("Patient?family=Lefebvre", ops, content_type=JSON_PATCH)
    assert resp.status_code == 412
    assert fhir.get(f"Patient/{a['id']}").get_json()["active"] is True
    assert fhir.get(f"Patient/{b['id']}").get_json()["active"] is True


# --- misc ------------------------------------------------------------------------------------------

def test_observation_for_resident_round_trips(fhir):
    """An Observation (weight) referring to a resident is stored and read back unchanged."""
    patient = fhir.create(resident())
    obs = fhir.create(weight(patient["id"], 71.2))
    read = fhir.get(f"Observation/{obs['id']}").get_json()
    assert read["valueQuantity"]["value"] == 71.2
    assert read["subject"]["reference"] == f"Patient/{patient['id']}"


def test_unsupported_method_on_instance_is_405(fhir):
    """POST to an instance URL is not a FHIR interaction: 405 with an OperationOutcome."""
    created = fhir.create(resident())
    resp = fhir.post(f"Patient/{created['id']}", created)
    assert resp.status_code == 405
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_create_ignores_even_a_malformed_body_id(fhir):
    """A create whose body id is not a valid FHIR id still succeeds: the id is ignored, not validated."""
    resp = fhir.post("Patient", resident(id="dossier_12/b"))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["id"] != "dossier_12/b"


def test_empty_body_for_create_is_400(fhir):
    """POST Patient without a body answers 400 with an OperationOutcome."""
    resp = fhir.post("Patient")
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_conditional_update_without_criteria_is_400(fhir):
    """PUT /Patient without criteria is refused (it would otherwise be a create in disguise)."""
    resp = fhir.put("Patient", resident())
    assert resp.status_code == 400
    assert fhir.search("Patient") == []


def test_conditional_create_accepts_criteria_written_as_a_relative_search_url(fhir):
    """If-None-Exist: Patient?identifier=… (with the type prefix many clients send) finds the existing one."""
    existing = fhir.create(resident(dossier="R-2024-020"))
    resp = fhir.post("Patient", resident(dossier="R-2024-020"),
                     headers={"If-None-Exist": f"Patient?identifier={DOSSIER}|R-2024-020"})
    assert resp.status_code == 200
    assert resp.get_json()["id"] == existing["id"]
    wrong = fhir.post("Patient", resident(dossier="R-2024-021"),
                      headers={"If-None-Exist": f"Observation?identifier={DOSSIER}|R-2024-021"})
    assert wrong.status_code == 400
    assert len(fhir.search("Patient")) == 1
