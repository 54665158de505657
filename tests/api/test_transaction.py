"""HTTP-level tests of transaction and batch Bundles posted to the base URL.

Spec: https://hl7.org/fhir/R4/http.html#transaction (atomicity, processing order, urn:uuid and conditional
references, transaction-response) and https://hl7.org/fhir/R4/bundle.html#transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
DOSSIER = "https://ehpad-les-tilleuls.fr/fhir/NamingSystem/dossier-resident"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"
FINESS = "urn:oid:1.2.250.1.71.4.2.2"


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def resident(family: str = "Garnier", given: str = "Simone", dossier: str = "R-2024-100") -> dict[str, Any]:
    return {"resourceType": "Patient",
            "identifier": [{"system": DOSSIER, "value": dossier}],
            "name": [{"family": family, "given": [given]}], "gender": "female", "birthDate": "1934-09-08"}


def medecin(rpps: str = "10101234567") -> dict[str, Any]:
    return {"resourceType": "Practitioner", "identifier": [{"system": RPPS, "value": rpps}],
            "name": [{"family": "Perrin", "given": ["Claire"], "prefix": ["Dr"]}]}


def pulse(subject: str, encounter: str | None = None, bpm: int = 72) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": subject}, "effectiveDateTime": "2024-04-02T09:00:00+02:00",
        "valueQuantity": {"value": bpm, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}
    if encounter:
        obs["encounter"] = {"reference": encounter}
    return obs


def admission(subject: str) -> dict[str, Any]:
    return {"resourceType": "Encounter", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP",
                      "display": "inpatient encounter"},
            "subject": {"reference": subject}, "period": {"start": "2024-04-01T14:00:00+02:00"}}


def post(full_url: str | None, resource: dict[str, Any], url: str | None = None, **request: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": resource,
                             "request": {"method": "POST", "url": url or resource["resourceType"], **request}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def run(fhir: Any, body: dict[str, Any], **kw: Any) -> Any:
    return fhir.post("", body, **kw)


def count(fhir: Any, query: str) -> int:
    return len(fhir.search(query))


# --- transaction: success and response shape --------------------------------------------------------

def test_transaction_resolves_urn_uuid_references(fhir):
    """Patient, Encounter and Observation linked by urn:uuid are stored with real references."""
    p, e = urn(), urn()
    resp = run(fhir, bundle("transaction", post(p, resident()), post(e, admission(p)), post(urn(), pulse(p, e))))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    patient_loc, enc_loc, obs_loc = [x["response"]["location"] for x in resp.get_json()["entry"]]
    patient_id = patient_loc.split("/Patient/")[1].split("/")[0]
    enc_id = enc_loc.split("/Encounter/")[1].split("/")[0]
    obs = fhir.get(obs_loc.split("/fhir/")[1].split("/_history")[0]).get_json()
    assert obs["subject"]["reference"] == f"Patient/{patient_id}"
    assert obs["encounter"]["reference"] == f"Encounter/{enc_id}"
    assert fhir.get(f"Encounter/{enc_id}").get_json()["subject"]["reference"] == f"Patient/{patient_id}"


def test_transaction_references_are_searchable(fhir):
    """After the transaction, Observation?subject=Patient/<new id> finds the observation."""
    p = urn()
    resp = run(fhir, bundle("transaction", post(p, resident()), post(urn(), pulse(p))))
    patient_id = resp.get_json()["entry"][0]["response"]["location"].split("/Patient/")[1].split("/")[0]
    assert count(fhir, f"Observation?subject=Patient/{patient_id}") == 1


def test_transaction_response_shape(fhir):
    """The response is a transaction-response with status, location, etag and lastModified per entry."""
    p = urn()
    resp = run(fhir, bundle("transaction", post(p, resident()), post(urn(), pulse(p))))
    body = resp.get_json()
    assert body["resourceType"] == "Bundle"
    assert body["type"] == "transaction-response"
    assert len(body["entry"]) == 2
    for entry in body["entry"]:
        r = entry["response"]
        assert r["status"].startswith("201")
        assert "/_history/1" in r["location"]
        assert r["etag"] == 'W/"1"'
        assert r["lastModified"]


def test_transaction_response_entries_follow_request_order(fhir):
    """Response entries are in the order of the request entries, whatever the processing order."""
    kept = fhir.create(resident(dossier="R-2024-101"))
    gone = fhir.create(resident(family="Blanc", dossier="R-2024-109"))
    body = bundle("transaction",
                  {"request": {"method": "GET", "url": f"Patient/{kept['id']}"}},
                  post(urn(), medecin()),
                  {"request": {"method": "DELETE", "url": f"Patient/{gone['id']}"}})
    entries = run(fhir, body).get_json()["entry"]
    assert entries[0]["resource"]["id"] == kept["id"]
    assert "/Practitioner/" in entries[1]["response"]["location"]
    assert entries[2]["response"]["status"].startswith("204")


def test_transaction_prefer_representation_returns_resources(fhir):
    """With Prefer: return=representation, each response entry carries the stored resource."""
    resp = run(fhir, bundle("transaction", post(urn(), resident())), headers={"Prefer": "return=representation"})
    entry = resp.get_json()["entry"][0]
    assert entry["resource"]["resourceType"] == "Patient"
    assert entry["resource"]["meta"]["versionId"] == "1"


def test_transaction_put_and_delete_entries(fhir):
    """A transaction updating one resident and deleting another applies both."""
    a = fhir.create(resident(dossier="R-2024-102"))
    b = fhir.create(resident(family="Blanc", dossier="R-2024-103"))
    body = bundle("transaction",
                  {"resource": {**a, "active": False}, "request": {"method": "PUT", "url": f"Patient/{a['id']}"}},
                  {"request": {"method": "DELETE", "url": f"Patient/{b['id']}"}})
    resp = run(fhir, body)
    assert resp.status_code == 200
    statuses = [e["response"]["status"] for e in resp.get_json()["entry"]]
    assert statuses[0].startswith("200")
    assert statuses[1].startswith("204")
    assert fhir.get(f"Patient/{a['id']}").get_json()["active"] is False
    assert fhir.get(f"Patient/{b['id']}").status_code == 410


def test_transaction_patch_entry_with_binary_json_patch(fhir):
    """A PATCH entry carrying a JSON Patch in a Binary resource is applied."""
    import base64
    import json

    a = fhir.create(resident(dossier="R-2024-104"))
    ops = [{"op": "add", "path": "/active", "value": True}]
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json",
              "data": base64.b64encode(json.dumps(ops).encode()).decode()}
    body = bundle("transaction", {"resource": binary, "request": {"method": "PATCH", "url": f"Patient/{a['id']}"}})
    resp = run(fhir, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert fhir.get(f"Patient/{a['id']}").get_json()["active"] is True


def test_transaction_patch_entry_with_fhirpath_patch(fhir):
    """A PATCH entry carrying a FHIRPath Patch (Parameters) is applied."""
    a = fhir.create(resident(dossier="R-2024-105"))
    params = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.birthDate"},
        {"name": "value", "valueDate": "1934-09-09"}]}]}
    body = bundle("transaction", {"resource": params, "request": {"method": "PATCH", "url": f"Patient/{a['id']}"}})
    assert run(fhir, body).status_code == 200
    assert fhir.get(f"Patient/{a['id']}").get_json()["birthDate"] == "1934-09-09"


def test_absolute_request_url_on_this_server_is_accepted(fhir):
    """A request.url written as an absolute URL on this server's base is handled like a relative one."""
    p = urn()
    body = bundle("transaction", post(p, resident(dossier="R-2024-106"), url="http://localhost/fhir/Patient"),
                  post(urn(), pulse(p)))
    resp = run(fhir, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    (patient,) = fhir.search(f"Patient?identifier={DOSSIER}|R-2024-106")
    assert count(fhir, f"Observation?subject=Patient/{patient['id']}") == 1


def test_put_entry_may_reference_a_posted_entry(fhir):
    """A PUT entry's reference to a POSTed urn:uuid is rewritten to the new id."""
    doc = urn()
    body = bundle("transaction", post(doc, medecin()),
                  {"resource": {**resident(dossier="R-2024-107"), "id": "resident-107",
                                "generalPractitioner": [{"reference": doc}]},
                   "request": {"method": "PUT", "url": "Patient/resident-107"}})
    resp = run(fhir, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    (practitioner,) = fhir.search("Practitioner")
    assert fhir.get("Patient/resident-107").get_json()["generalPractitioner"] == [
        {"reference": f"Practitioner/{practitioner['id']}"}]


# --- transaction: atomicity ----------------------------------------------------------------------------

def test_failing_entry_rolls_back_earlier_creates(fhir):
    """An invalid last entry makes the whole transaction fail: the Patient and Practitioner are not stored."""
    p = urn()
    bad = pulse(p)
    bad["status"] = "bogus"
    resp = run(fhir, bundle("transaction", post(p, resident(dossier="R-2024-110")), post(urn(), medecin()),
                            post(urn(), bad)))
    assert resp.status_code in (400, 422)
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert count(fhir, f"Patient?identifier={DOSSIER}|R-2024-110") == 0
    assert count(fhir, "Practitioner") == 0
    assert count(fhir, "Observation") == 0


def test_failing_entry_rolls_back_earlier_updates_and_deletes(fhir):
    """A failing entry also undoes the update and delete of the same transaction."""
    a = fhir.create(resident(dossier="R-2024-111"))
    b = fhir.create(resident(family="Blanc", dossier="R-2024-112"))
    body = bundle("transaction",
                  {"resource": {**a, "active": False}, "request": {"method": "PUT", "url": f"Patient/{a['id']}"}},
                  {"request": {"method": "DELETE", "url": f"Patient/{b['id']}"}},
                  {"resource": {**a, "id": "inconnu-ici"},
                   "request": {"method": "PUT", "url": f"Patient/{a['id']}x"}})
    resp = run(fhir, body)
    assert resp.status_code >= 400
    assert fhir.get(f"Patient/{a['id']}").headers["ETag"] == 'W/"1"'
    assert fhir.get(f"Patient/{b['id']}").status_code == 200


def test_failing_if_match_rolls_back_the_transaction(fhir):
    """A stale ifMatch on one entry makes the transaction fail with 412 and the create is undone."""
    a = fhir.create(resident(dossier="R-2024-113"))
    fhir.put(f"Patient/{a['id']}", {**a, "active": True})
    body = bundle("transaction",
                  post(urn(), medecin()),
                  {"resource": {**a, "active": False},
                   "request": {"method": "PUT", "url": f"Patient/{a['id']}", "ifMatch": 'W/"1"'}})
    resp = run(fhir, body)
    assert resp.status_code == 412
    assert count(fhir, "Practitioner") == 0
    assert fhir.get(f"Patient/{a['id']}").get_json()["active"] is True


def test_failing_entry_is_named_in_the_outcome(fhir):
    """The OperationOutcome of a failed transaction names the failing entry's index."""
    bad = resident()
    bad["gender"] = "bogus"
    resp = run(fhir, bundle("transaction", post(urn(), medecin()), post(urn(), bad)))
    assert "Bundle.entry[1]" in resp.get_data(as_text=True)


def test_unresolved_urn_uuid_reference_fails(fhir):
    """A reference to a urn:uuid that no entry declares fails the whole transaction."""
    resp = run(fhir, bundle("transaction", post(urn(), medecin()), post(urn(), pulse(urn()))))
    assert resp.status_code >= 400
    assert count(fhir, "Practitioner") == 0
    assert count(fhir, "Observation") == 0


def test_two_entries_on_same_resource_fail(fhir):
    """Two entries targeting the same resource make the transaction fail (http.html#transaction)."""
    a = fhir.create(resident(dossier="R-2024-114"))
    body = bundle("transaction",
                  {"resource": {**a, "active": True}, "request": {"method": "PUT", "url": f"Patient/{a['id']}"}},
                  {"request": {"method": "DELETE", "url": f"Patient/{a['id']}"}})
    assert run(fhir, body).status_code == 400
    assert fhir.get(f"Patient/{a['id']}").headers["ETag"] == 'W/"1"'


# --- transaction: conditional references and conditional create -----------------------------------------

def test_conditional_reference_is_resolved(fhir):
    """``Patient?identifier=sys|val`` in a reference is rewritten to the single matching Patient."""
    a = fhir.create(resident(dossier="R-2024-120"))
    obs = pulse(f"Patient?identifier={DOSSIER}|R-2024-120")
    resp = run(fhir, bundle("transaction", post(urn(), obs)))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    stored = fhir.search(f"Observation?subject=Patient/{a['id']}")
    assert [o["subject"]["reference"] for o in stored] == [f"Patient/{a['id']}"]


def test_conditional_reference_without_match_fails_everything(fhir):
    """A conditional reference matching nothing fails the transaction; the other entries are undone."""
    obs = pulse(f"Patient?identifier={DOSSIER}|R-2024-999")
    resp = run(fhir, bundle("transaction", post(urn(), medecin()), post(urn(), obs)))
    assert resp.status_code >= 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert count(fhir, "Practitioner") == 0
    assert count(fhir, "Observation") == 0


def test_conditional_reference_with_two_matches_fails_everything(fhir):
    """A conditional reference matching two residents fails the transaction."""
    fhir.create(resident(given="Simone", dossier="R-2024-121"))
    fhir.create(resident(given="Paul", dossier="R-2024-122"))
    resp = run(fhir, bundle("transaction", post(urn(), medecin()), post(urn(), pulse("Patient?family=Garnier"))))
    assert resp.status_code >= 400
    assert count(fhir, "Practitioner") == 0
    assert count(fhir, "Observation") == 0


def test_conditional_create_in_transaction_reuses_existing(fhir):
    """An entry with ifNoneExist matching a resident reuses it, and urn:uuid references point to it."""
    a = fhir.create(resident(dossier="R-2024-130"))
    p = urn()
    body = bundle("transaction",
                  post(p, resident(dossier="R-2024-130"), ifNoneExist=f"identifier={DOSSIER}|R-2024-130"),
                  post(urn(), pulse(p)))
    resp = run(fhir, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["entry"][0]["response"]["status"].startswith("200")
    assert count(fhir, "Patient") == 1
    assert count(fhir, f"Observation?subject=Patient/{a['id']}") == 1


def test_conditional_create_in_transaction_creates_when_absent(fhir):
    """An entry with ifNoneExist and no match creates the resident (201)."""
    body = bundle("transaction",
                  post(urn(), resident(dossier="R-2024-131"), ifNoneExist=f"identifier={DOSSIER}|R-2024-131"))
    resp = run(fhir, body)
    assert resp.get_json()["entry"][0]["response"]["status"].startswith("201")
    assert count(fhir, f"Patient?identifier={DOSSIER}|R-2024-131") == 1


def test_reposting_the_same_bundle_does_not_duplicate(fhir):
    """Posting the same admission bundle twice (ifNoneExist on the Patient) leaves one Patient."""
    p = urn()
    body = bundle("transaction",
                  post(p, resident(dossier="R-2024-132"), ifNoneExist=f"identifier={DOSSIER}|R-2024-132"),
                  post(urn(), admission(p)))
    first = run(fhir, body)
    second = run(fhir, body)
    assert first.status_code == second.status_code == 200
    assert count(fhir, f"Patient?identifier={DOSSIER}|R-2024-132") == 1
    patient_id = fhir.search(f"Patient?identifier={DOSSIER}|R-2024-132")[0]["id"]
    assert count(fhir, f"Encounter?subject=Patient/{patient_id}") == 2


def test_conditional_create_in_transaction_with_two_matches_fails(fhir):
    """ifNoneExist matching two residents fails the whole transaction with 412."""
    fhir.create(resident(given="Simone", dossier="R-2024-133"))
    fhir.create(resident(given="Paul", dossier="R-2024-134"))
    body = bundle("transaction", post(urn(), medecin()),
                  post(urn(), resident(dossier="R-2024-135"), ifNoneExist="family=Garnier"))
    resp = run(fhir, body)
    assert resp.status_code == 412
    assert count(fhir, "Practitioner") == 0
    assert count(fhir, "Patient") == 2


def test_conditional_update_in_transaction(fhir):
    """A PUT Patient?identifier=… entry updates the single match."""
    a = fhir.create(resident(dossier="R-2024-136"))
    body = bundle("transaction", {"resource": {**resident(dossier="R-2024-136"), "active": False},
                                  "request": {"method": "PUT", "url": f"Patient?identifier={DOSSIER}|R-2024-136"}})
    resp = run(fhir, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    current = fhir.get(f"Patient/{a['id']}").get_json()
    assert current["active"] is False
    assert current["meta"]["versionId"] == "2"


def test_conditional_update_target_is_referenced_by_urn(fhir):
    """A conditional PUT with a fullUrl is referenced by urn:uuid from another entry."""
    a = fhir.create(resident(dossier="R-2024-137"))
    p = urn()
    body = bundle("transaction",
                  {"fullUrl": p, "resource": resident(dossier="R-2024-137"),
                   "request": {"method": "PUT", "url": f"Patient?identifier={DOSSIER}|R-2024-137"}},
                  post(urn(), pulse(p)))
    assert run(fhir, body).status_code == 200
    assert count(fhir, f"Observation?subject=Patient/{a['id']}") == 1


# --- transaction: processing order ---------------------------------------------------------------------

def test_get_in_transaction_sees_the_posted_resource(fhir):
    """A GET entry is processed after the POSTs of the same bundle and finds the new resident."""
    body = bundle("transaction",
                  {"request": {"method": "GET", "url": f"Patient?identifier={DOSSIER}|R-2024-140"}},
                  post(urn(), resident(dossier="R-2024-140")))
    resp = run(fhir, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    search = resp.get_json()["entry"][0]["resource"]
    assert search["type"] == "searchset"
    assert [e["resource"]["identifier"][0]["value"] for e in search["entry"]] == ["R-2024-140"]


def test_delete_is_processed_before_post(fhir):
    """DELETE runs before POST: deleting a resident and conditionally creating the same identifier creates anew."""
    a = fhir.create(resident(dossier="R-2024-141"))
    body = bundle("transaction",
                  post(urn(), resident(dossier="R-2024-141"), ifNoneExist=f"identifier={DOSSIER}|R-2024-141"),
                  {"request": {"method": "DELETE", "url": f"Patient/{a['id']}"}})
    resp = run(fhir, body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["entry"][0]["response"]["status"].startswith("201")
    found = fhir.search(f"Patient?identifier={DOSSIER}|R-2024-141")
    assert len(found) == 1
    assert found[0]["id"] != a["id"]


def test_get_read_entry_returns_the_resource(fhir):
    """A GET Patient/id entry returns the resource and a 200 status."""
    a = fhir.create(resident(dossier="R-2024-142"))
    resp = run(fhir, bundle("transaction", {"request": {"method": "GET", "url": f"Patient/{a['id']}"}}))
    entry = resp.get_json()["entry"][0]
    assert entry["response"]["status"].startswith("200")
    assert entry["resource"]["id"] == a["id"]


def test_empty_transaction_succeeds(fhir):
    """A transaction without entries answers an empty transaction-response."""
    resp = run(fhir, bundle("transaction"))
    assert resp.status_code == 200
    assert resp.get_json()["type"] == "transaction-response"
    assert resp.get_json().get("entry", []) == []


def test_bundle_of_other_type_is_refused(fhir):
    """POST of a collection Bundle to the base URL is refused with 400, even if its entries carry requests."""
    resp = run(fhir, bundle("collection", post(urn(), resident())))
    assert resp.status_code == 400
    assert count(fhir, "Patient") == 0


def test_entry_without_request_fails(fhir):
    """A transaction entry without request is refused and nothing is stored."""
    resp = run(fhir, bundle("transaction", post(urn(), medecin()), {"resource": resident()}))
    assert resp.status_code == 400
    assert count(fhir, "Practitioner") == 0


# --- batch ---------------------------------------------------------------------------------------------

def test_batch_entries_are_independent(fhir):
    """In a batch, a failing entry does not prevent the others from being stored."""
    bad = resident(dossier="R-2024-150")
    bad["gender"] = "bogus"
    body = bundle("batch", post(None, medecin()), post(None, bad), post(None, resident(dossier="R-2024-151")))
    resp = run(fhir, body)
    assert resp.status_code == 200
    assert resp.get_json()["type"] == "batch-response"
    assert count(fhir, "Practitioner") == 1
    assert count(fhir, f"Patient?identifier={DOSSIER}|R-2024-151") == 1
    assert count(fhir, f"Patient?identifier={DOSSIER}|R-2024-150") == 0


def test_batch_entries_have_their_own_status_and_outcome(fhir):
    """Each batch response entry has its own status; the failed one carries an OperationOutcome."""
    bad = resident()
    bad["gender"] = "bogus"
    body = bundle("batch", post(None, medecin()), post(None, bad),
                  {"request": {"method": "GET", "url": "Patient/inconnu"}})
    entries = run(fhir, body).get_json()["entry"]
    assert len(entries) == 3
    assert entries[0]["response"]["status"].startswith("201")
    assert entries[1]["response"]["status"].split()[0] in ("400", "422")
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert "Patient.gender" in str(entries[1]["response"]["outcome"])
    assert entries[2]["response"]["status"].startswith("404")
    assert entries[2]["response"]["outcome"]["issue"][0]["code"] == "not-found"


def test_batch_get_entries_return_resources(fhir):
    """A batch of reads returns each resource with 200."""
    a = fhir.create(resident(dossier="R-2024-152"))
    b = fhir.create(medecin())
    body = bundle("batch", {"request": {"method": "GET", "url": f"Patient/{a['id']}"}},
                  {"request": {"method": "GET", "url": f"Practitioner/{b['id']}"}})
    entries = run(fhir, body).get_json()["entry"]
    assert [e["resource"]["id"] for e in entries] == [a["id"], b["id"]]
    assert all(e["response"]["status"].startswith("200") for e in entries)


def test_batch_entry_without_request_fails_alone(fhir):
    """A batch entry without request fails on its own while the next entry succeeds."""
    body = bundle("batch", {"resource": resident()}, post(None, medecin()))
    entries = run(fhir, body).get_json()["entry"]
    assert entries[0]["response"]["status"].startswith("400")
    assert entries[1]["response"]["status"].startswith("201")
    assert count(fhir, "Practitioner") == 1


def test_batch_conditional_create(fhir):
    """Batch entries honour ifNoneExist: a second identical entry returns the first resident."""
    entry = post(None, resident(dossier="R-2024-153"), ifNoneExist=f"identifier={DOSSIER}|R-2024-153")
    entries = run(fhir, bundle("batch", entry, entry)).get_json()["entry"]
    assert entries[0]["response"]["status"].startswith("201")
    assert entries[1]["response"]["status"].startswith("200")
    assert count(fhir, f"Patient?identifier={DOSSIER}|R-2024-153") == 1


def test_nested_bundle_entry_is_refused_in_a_transaction_and_in_a_batch(fhir):
    """A batch or transaction inside another one is refused with an OperationOutcome, and nothing is written."""
    inner = {"resourceType": "Bundle", "type": "batch", "entry": []}
    entries = [{"resource": {"resourceType": "Patient", "name": [{"family": "Imbriqué"}]},
                "request": {"method": "POST", "url": "Patient"}},
               {"resource": inner, "request": {"method": "POST", "url": "/"}}]
    resp = fhir.post("", {"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert resp.status_code == 400
    assert "cannot contain another" in resp.get_json()["issue"][0]["diagnostics"]
    assert fhir.search("Patient?name=imbrique") == []
    batch = fhir.post("", {"resourceType": "Bundle", "type": "batch", "entry": entries})
    assert batch.status_code == 200
    statuses = [e["response"]["status"] for e in batch.get_json()["entry"]]
    assert statuses[0].startswith("201") and statuses[1].startswith("400")
