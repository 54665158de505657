"""Identitovigilance operations end to end: Patient/{id}/$duplicates, Patient/$duplicates, Patient/$merge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fhirserver.errors import Issue
from fhirserver.identity import duplicates as dup
from fhirserver.identity.ins import ins_identifier
from fhirserver.identity.keys import nir_key
from fhirserver.identity.merge import check_mergeable
from fhirserver.identity.status import IdentityStatus, to_extension
from fhirserver.interactions.operations.identitovigilance import ASSESSMENT_URL, MATCH_GRADE_URL
from fhirserver.storage.base import StoredResource

IPP = "urn:oid:1.2.250.1.999.1.1"


def nir(first13: str) -> str:
    return f"{first13}{nir_key(first13):02d}"


def person(family: str, given: str, birth: str, sex: str, *, insee: str | None = None, ipp: str | None = None,
           ins: str | None = None, active: bool | None = None, pid: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Patient",
                           "name": [{"use": "official", "family": family, "given": [given]}],
                           "gender": sex, "birthDate": birth}
    if pid:
        out["id"] = pid
    if insee:
        out["extension"] = [{"url": dup.EXT_BIRTH_PLACE, "valueAddress": {"extension": [
            {"url": dup.EXT_INSEE_CODE, "valueCoding": {
                "system": "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM",
                "code": insee}}]}}]
    identifiers = []
    if ipp:
        identifiers.append({"use": "usual", "system": IPP, "value": ipp})
    if ins:
        identifiers.append(ins_identifier(ins, environment="test"))
    if identifiers:
        out["identifier"] = identifiers
    if active is not None:
        out["active"] = active
    return out


def put(fhir: Any, resource: dict[str, Any]) -> dict[str, Any]:
    resp = fhir.put(f"{resource['resourceType']}/{resource['id']}", resource)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def params(**values: Any) -> dict[str, Any]:
    out = []
    for name, value in values.items():
        key = name.replace("_", "-")
        if isinstance(value, bool):
            out.append({"name": key, "valueBoolean": value})
        elif isinstance(value, int):
            out.append({"name": key, "valueInteger": value})
        elif isinstance(value, dict):
            out.append({"name": key, "valueReference": value} if "reference" in value
                       else {"name": key, "valueIdentifier": value})
        else:
            out.append({"name": key, "valueString": value})
    return {"resourceType": "Parameters", "parameter": out}


def merge(fhir: Any, source: str, target: str, **extra: Any) -> Any:
    return fhir.post("Patient/$merge", params(source_patient={"reference": f"Patient/{source}"},
                                              target_patient={"reference": f"Patient/{target}"}, **extra))


def out_params(body: dict[str, Any], name: str) -> list[Any]:
    return [next(v for k, v in p.items() if k.startswith("value") or k == "resource")
            for p in body["parameter"] if p["name"] == name]


def trait_outcomes(ext: dict[str, Any]) -> dict[str, str]:
    out = {}
    for sub in ext["extension"]:
        if sub["url"] == "trait":
            parts = {s["url"]: next(v for k, v in s.items() if k.startswith("value")) for s in sub["extension"]}
            out[parts["code"]] = parts["outcome"]
    return out


# --- $duplicates for one patient -------------------------------------------------------------------

@pytest.fixture()
def population(fhir: Any) -> dict[str, str]:
    ids = {}
    for key, res in {
        "jean": person("DUPONT", "Jean", "1947-04-03", "male", insee="63220", ipp="A100"),
        "copy": person("Dupont", "JEAN", "1947-04-03", "male", insee="63220", ipp="A200"),
        "typo": person("DUPOND", "Jean", "1947-04-03", "male", insee="63220"),
        "swapped_date": person("DUPONT", "Jean", "1947-03-04", "male", insee="63220"),
        "year_typo": person("DUPONT", "Jean", "1974-04-03", "male"),
        "twin": person("DUPONT", "Pierre", "1947-04-03", "male", insee="63220"),
        "inactive": person("DUPONT", "Jean", "1947-04-03", "male", insee="63220", active=False),
        "other": person("LAMBERT", "Georges", "1961-10-05", "male", insee="13055"),
    }.items():
        ids[key] = fhir.create(res)["id"]
    return ids


def test_candidates_are_found_and_ranked(fhir: Any, population: dict[str, str]) -> None:
    resp = fhir.get(f"Patient/{population['jean']}/$duplicates")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    bundle = resp.get_json()
    assert bundle["type"] == "searchset"
    found = [e["resource"]["id"] for e in bundle["entry"]]
    assert found[0] == population["copy"]
    assert set(found) == {population[k] for k in ("copy", "typo", "swapped_date", "year_typo")}
    assert bundle["total"] == 4
    scores = [e["search"]["score"] for e in bundle["entry"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert scores[0] == 1.0
    by_id = {e["resource"]["id"]: e["search"] for e in bundle["entry"]}
    copy = by_id[population["copy"]]
    assert copy["extension"][0] == {"url": MATCH_GRADE_URL, "valueCode": "probable"}
    swapped = next(x for x in by_id[population["swapped_date"]]["extension"] if x["url"] == ASSESSMENT_URL)
    assert trait_outcomes(swapped)["birth-date"] == "near"
    typo = next(x for x in by_id[population["typo"]]["extension"] if x["url"] == ASSESSMENT_URL)
    assert trait_outcomes(typo)["birth-family-name"] == "near"
    assert {"url": "score", "valueInteger": 96} in typo["extension"]  # one typo, every other trait equal


def test_threshold(fhir: Any, population: dict[str, str]) -> None:
    strict = fhir.get(f"Patient/{population['jean']}/$duplicates?threshold=97").get_json()
    assert [e["resource"]["id"] for e in strict["entry"]] == [population["copy"]]
    loose = fhir.post(f"Patient/{population['jean']}/$duplicates", params(threshold=50)).get_json()
    assert population["twin"] in {e["resource"]["id"] for e in loose["entry"]}
    assert population["other"] not in {e["resource"]["id"] for e in loose["entry"]}
    bad = fhir.get(f"Patient/{population['jean']}/$duplicates?threshold=150")
    assert bad.status_code == 400
    assert bad.get_json()["issue"][0]["expression"] == ["threshold"]
    assert fhir.get("Patient/nobody/$duplicates").status_code == 404


def test_homonyms_with_different_ins_are_not_candidates(fhir: Any) -> None:
    a = fhir.create(person("MARTIN", "Jeanne", "1938-07-14", "female", ins=nir("2380751454012")))
    b = fhir.create(person("MARTIN", "Jeanne", "1938-07-14", "female", ins=nir("2380751454013")))
    c = fhir.create(person("MARTIN", "Jeanne", "1938-07-14", "female"))
    found = fhir.get(f"Patient/{a['id']}/$duplicates?threshold=0").get_json()
    ids = [e["resource"]["id"] for e in found["entry"]]
    assert b["id"] not in ids and c["id"] in ids


# --- $duplicates listing ---------------------------------------------------------------------------

def test_listing_of_pairs(fhir: Any, population: dict[str, str]) -> None:
    marie = fhir.create(person("BERNARD", "Marie-Thérèse", "1941-02-03", "female"))["id"]
    marie2 = fhir.create(person("BERNARD", "MARIE THERESE", "1941-02-03", "female"))["id"]
    resp = fhir.get("Patient/$duplicates")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    bundle = resp.get_json()
    assert bundle["type"] == "collection"
    pairs = []
    for entry in bundle["entry"]:
        p = entry["resource"]
        assert p["resourceType"] == "Parameters"
        values = {x["name"]: x for x in p["parameter"]}
        pairs.append((values["patient"]["valueReference"]["reference"].split("/")[1],
                      values["candidate"]["valueReference"]["reference"].split("/")[1],
                      values["score"]["valueInteger"]))
    keyed = {frozenset((a, b)): s for a, b, s in pairs}
    assert frozenset((marie, marie2)) in keyed
    assert frozenset((population["jean"], population["copy"])) in keyed
    assert frozenset((population["copy"], population["typo"])) in keyed
    assert frozenset((population["jean"], population["swapped_date"])) in keyed
    assert frozenset((population["jean"], population["year_typo"])) in keyed  # found through the name blocks
    assert not any(population["inactive"] in k or population["twin"] in k for k in keyed)
    scores = [s for _, _, s in pairs]
    assert scores == sorted(scores, reverse=True) and min(scores) >= dup.POSSIBLE
    assert all(a < b for a, b, _ in pairs)
    # deterministic paging
    first = fhir.get("Patient/$duplicates?_count=2").get_json()
    assert len(first["entry"]) == 2
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = fhir.get(next_url.split("/fhir/", 1)[1]).get_json()
    seen = [e["resource"]["parameter"][:2] for e in first["entry"] + second["entry"]]
    again = [e["resource"]["parameter"][:2] for e in bundle["entry"][:4]]
    assert seen == again
    strict = fhir.post("Patient/$duplicates", params(threshold=96)).get_json()
    assert len(strict["entry"]) < len(bundle["entry"])


# --- $merge ----------------------------------------------------------------------------------------

SRC, TGT = "mrg-src", "mrg-tgt"


@pytest.fixture()
def records(fhir: Any) -> dict[str, Any]:
    """A source and a target with resources of many types referring to the source."""
    put(fhir, person("DUPONT", "Jean", "1947-04-03", "male", ipp="S-001", pid=SRC))
    put(fhir, person("DUPONT", "Jean", "1947-04-03", "male", ipp="T-002", pid=TGT))
    put(fhir, person("DUPONT", "Jeanne", "1950-01-01", "female", pid=SRC + "2"))  # id prefixed by the source's
    subject = {"reference": f"Patient/{SRC}"}
    base = "http://localhost/fhir"
    resources: list[dict[str, Any]] = [
        {"resourceType": "Observation", "id": "obs-1", "status": "final", "code": {"text": "poids"},
         "subject": subject, "valueQuantity": {"value": 61, "unit": "kg"}},
        {"resourceType": "Observation", "id": "obs-2", "status": "final", "code": {"text": "tension"},
         "subject": {"reference": f"{base}/Patient/{SRC}"},  # absolute, on this server
         "extension": [{"url": "https://dui.example.org/test/about", "valueReference": subject}]},
        {"resourceType": "Observation", "id": "obs-other", "status": "final", "code": {"text": "x"},
         "subject": {"reference": f"Patient/{SRC}2"}},
        {"resourceType": "Encounter", "id": "enc-1", "status": "finished",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
         "subject": subject},
        {"resourceType": "Condition", "id": "cond-1", "subject": subject, "code": {"text": "diabète"},
         "asserter": {"reference": f"Patient/{SRC}/_history/1"}},  # versioned
        {"resourceType": "CarePlan", "id": "cp-1", "status": "active", "intent": "plan", "subject": subject,
         "activity": [{"detail": {"status": "in-progress", "performer": [subject],  # deep, unindexed
                                  "extension": [{"url": "https://dui.example.org/test/x",
                                                 "valueReference": subject}]}}]},
        {"resourceType": "RelatedPerson", "id": "rp-1", "patient": subject,
         "name": [{"family": "DUPONT", "given": ["Paul"]}]},
        {"resourceType": "Appointment", "id": "app-1", "status": "booked",
         "participant": [{"actor": subject, "status": "accepted"}]},
        {"resourceType": "Basic", "id": "basic-1", "code": {"text": "note de transmission"},  # only unindexed
         "extension": [{"url": "https://dui.example.org/test/about", "extension": [
             {"url": "who", "valueReference": subject}]}]},
        {"resourceType": "Provenance", "id": "prov-old", "target": [subject], "recorded": "2025-01-01T10:00:00Z",
         "agent": [{"who": {"display": "import"}}]},
    ]
    for res in resources:
        put(fhir, res)
    return {r["id"]: r for r in resources}


MOVED = {"Observation/obs-1": 1, "Observation/obs-2": 2, "Encounter/enc-1": 1, "Condition/cond-1": 2,
         "CarePlan/cp-1": 3, "RelatedPerson/rp-1": 1, "Appointment/app-1": 1, "Basic/basic-1": 1}


def refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    if isinstance(node, dict):
        return [v if k == "reference" and isinstance(v, str) else r for k, v in node.items()
                for r in ([v] if k == "reference" and isinstance(v, str) else refs(v))]
    return []


def test_merge_moves_every_reference(fhir: Any, records: dict[str, Any], context: Any) -> None:
    resp = merge(fhir, SRC, TGT, reason="doublon avéré, cellule d'identitovigilance du 22/11")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    out = resp.get_json()
    assert out["resourceType"] == "Parameters"
    assert out_params(out, "input")[0]["resourceType"] == "Parameters"
    outcome = out_params(out, "outcome")[0]
    assert outcome["issue"][0]["severity"] == "information"
    assert out_params(out, "moved-count") == [len(MOVED)]
    assert out_params(out, "reference-count") == [sum(MOVED.values())]
    assert sorted(r["reference"] for r in out_params(out, "moved")) == sorted(f"{k}/_history/2" for k in MOVED)
    assert out_params(out, "kept") == [{"reference": "Provenance/prov-old"}]

    # every resource that pointed to the source now points to the target
    for key, n in MOVED.items():
        body = fhir.get(key).get_json()
        assert body["meta"]["versionId"] == "2"
        found = refs(body)
        assert not any(f"Patient/{SRC}" == r.split("/_history/")[0].removeprefix("http://localhost/fhir/")
                       for r in found), key
        assert sum(r.endswith(f"Patient/{TGT}") for r in found) == n, key
    assert fhir.get("Observation/obs-2").get_json()["subject"]["reference"] == f"http://localhost/fhir/Patient/{TGT}"
    assert fhir.get("CarePlan/cp-1").get_json()["activity"][0]["detail"]["performer"][0]["reference"] == \
        f"Patient/{TGT}"
    # nothing else refers to the source but the records of the past and the source's own link
    with context.repo.session(write=False) as session:
        left = {f"{s.res_type}/{s.res_id}" for s in session.referring_resources("Patient", SRC)
                if any(r.split("/_history/")[0].endswith(f"Patient/{SRC}") for r in refs(s.content))}
    assert left == {"Provenance/prov-old", f"Patient/{TGT}"} | {
        f"Provenance/{out_params(out, 'provenance')[0]['reference'].split('/')[1]}"}
    # untouched: the old Provenance and a resource of the patient whose id extends the source's
    assert fhir.get("Provenance/prov-old").get_json()["meta"]["versionId"] == "1"
    assert fhir.get("Observation/obs-other").get_json()["meta"]["versionId"] == "1"

    # the patients
    source = fhir.get(f"Patient/{SRC}").get_json()
    assert source["active"] is False
    assert source["link"] == [{"other": {"reference": f"Patient/{TGT}"}, "type": "replaced-by"}]
    target = fhir.get(f"Patient/{TGT}").get_json()
    assert target["link"] == [{"other": {"reference": f"Patient/{SRC}"}, "type": "replaces"}]
    old = [i for i in target["identifier"] if i["value"] == "S-001"]
    assert len(old) == 1 and old[0]["use"] == "old" and "end" in old[0]["period"]
    assert out_params(out, "result")[0]["link"] == target["link"]
    # histories are complete
    for pid in (SRC, TGT):
        history = fhir.get(f"Patient/{pid}/_history").get_json()
        assert sorted(e["resource"]["meta"]["versionId"] for e in history["entry"]) == ["1", "2"]
    assert fhir.get("Observation/obs-1/_history/1").get_json()["subject"]["reference"] == f"Patient/{SRC}"

    # the Provenance lists the target, the source and every moved resource
    prov_ref = out_params(out, "provenance")[0]["reference"]
    prov = fhir.get(prov_ref).get_json()
    targets = {t["reference"] for t in prov["target"]}
    assert {f"Patient/{TGT}/_history/2", f"Patient/{SRC}/_history/2"} | {f"{k}/_history/2" for k in MOVED} == targets
    assert prov["activity"]["coding"][0]["code"] == "merge"
    assert prov["reason"][0]["text"].startswith("doublon avéré")
    assert {"role": "source", "what": {"reference": f"Patient/{SRC}/_history/1"}} in prov["entity"]

    # search after the merge
    assert fhir.ids(f"Observation?subject=Patient/{TGT}") == {"obs-1", "obs-2"}
    assert fhir.ids(f"Observation?subject=Patient/{SRC}") == set()
    assert fhir.ids(f"Patient?identifier={IPP}|S-001") == {SRC, TGT}
    assert "Encounter/enc-1" in {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in
                                 fhir.get(f"Patient/{TGT}/$everything").get_json()["entry"]}


def test_preview_writes_nothing(fhir: Any, records: dict[str, Any]) -> None:
    resp = merge(fhir, SRC, TGT, preview=True)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    out = resp.get_json()
    assert "preview" in out_params(out, "outcome")[0]["issue"][0]["diagnostics"]
    assert sorted(r["reference"] for r in out_params(out, "moved")) == sorted(MOVED)
    assert out_params(out, "provenance") == []
    assert out_params(out, "result")[0]["link"][0]["type"] == "replaces"
    for key in [*MOVED, f"Patient/{SRC}", f"Patient/{TGT}"]:
        assert fhir.get(key).get_json()["meta"]["versionId"] == "1", key
    assert fhir.ids(f"Observation?subject=Patient/{SRC}") == {"obs-1", "obs-2"}


def test_merge_by_identifier(fhir: Any, records: dict[str, Any]) -> None:
    resp = fhir.post("Patient/$merge", params(
        source_patient_identifier={"system": IPP, "value": "S-001"},
        target_patient={"reference": f"Patient/{TGT}"}, preview=True))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    unknown = fhir.post("Patient/$merge", params(
        source_patient_identifier={"system": IPP, "value": "nope"}, target_patient={"reference": f"Patient/{TGT}"}))
    assert unknown.status_code == 422
    assert unknown.get_json()["issue"][0]["code"] == "not-found"


def _refusal(resp: Any, text: str) -> dict[str, Any]:
    assert resp.status_code == 422, resp.get_data(as_text=True)
    issue = resp.get_json()["issue"][0]
    assert text in issue["diagnostics"], issue
    assert issue["expression"][0].startswith("Parameters.parameter.where(name = ")
    return issue


def test_refusals(fhir: Any, records: dict[str, Any]) -> None:
    _refusal(merge(fhir, SRC, SRC), "cannot be merged into itself")
    _refusal(merge(fhir, "nobody", TGT), "Patient/nobody does not exist")
    inactive = fhir.create(person("DUPONT", "Jean", "1947-04-03", "male", active=False))["id"]
    _refusal(merge(fhir, SRC, inactive), "is inactive")
    a = fhir.create(person("MARTIN", "Jeanne", "1938-07-14", "female", ins=nir("2380751454012")))["id"]
    b = fhir.create(person("MARTIN", "Jeanne", "1938-07-14", "female", ins=nir("2380751454013")))["id"]
    issue = _refusal(merge(fhir, a, b), "different INS matricules")
    assert issue["code"] == "business-rule"
    assert merge(fhir, SRC, TGT).status_code == 200
    _refusal(merge(fhir, SRC, TGT), "already merged into")
    _refusal(merge(fhir, SRC + "2", SRC), "already merged into")
    refused = fhir.post("Patient/$merge", {**params(source_patient={"reference": f"Patient/{SRC}2"},
                                                    target_patient={"reference": f"Patient/{TGT}"}),
                                           "parameter": [{"name": "result-patient", "resource": {
                                               "resourceType": "Patient"}}]})
    assert refused.status_code == 400
    assert fhir.get("Patient/$merge").status_code == 405
    missing = fhir.post("Patient/$merge", params(target_patient={"reference": f"Patient/{TGT}"}))
    assert missing.status_code == 400 and "source-patient" in missing.get_json()["issue"][0]["diagnostics"]
    foreign = fhir.post("Patient/$merge", params(source_patient={"reference": "Observation/obs-1"},
                                                 target_patient={"reference": f"Patient/{TGT}"}))
    assert foreign.status_code == 422


class Poison:
    """Refuses an Observation coded 'poison' that refers to the merge target: the merge fails mid-way."""

    def issues(self, resource: dict[str, Any], profiles: list[str]) -> list[Issue]:
        if resource.get("resourceType") == "Observation" and resource.get("code", {}).get("text") == "poison" \
                and resource.get("subject", {}).get("reference") == f"Patient/{TGT}":
            return [Issue("poisoned Observation refused by the test validator", code="business-rule",
                          expression=("Observation.subject",))]
        return []


@pytest.fixture()
def poisoned(context: Any) -> Iterator[None]:
    validator = Poison()
    context.validators.append(validator)
    try:
        yield
    finally:
        context.validators.remove(validator)


def test_failure_in_the_middle_rolls_everything_back(fhir: Any, records: dict[str, Any], poisoned: None) -> None:
    put(fhir, {"resourceType": "Observation", "id": "zz-poison", "status": "final", "code": {"text": "poison"},
               "subject": {"reference": f"Patient/{SRC}"}})  # sorted after the others: written last
    preview = merge(fhir, SRC, TGT, preview=True).get_json()
    assert any("Observation/zz-poison would be refused" in i["diagnostics"]
               for i in out_params(preview, "outcome")[0]["issue"])
    resp = merge(fhir, SRC, TGT)
    assert resp.status_code == 422
    assert "poisoned Observation" in resp.get_data(as_text=True)
    for key in [*MOVED, "Observation/zz-poison", f"Patient/{SRC}", f"Patient/{TGT}"]:
        assert fhir.get(key).get_json()["meta"]["versionId"] == "1", key
    assert fhir.get(f"Patient/{SRC}").get_json().get("active") is not False
    assert fhir.ids(f"Observation?subject=Patient/{SRC}") == {"obs-1", "obs-2", "zz-poison"}
    activities = {c["code"] for p in fhir.search("Provenance?_count=100")
                  for c in (p.get("activity") or {}).get("coding", [])}
    assert "merge" not in activities


def _stored(res_id: str, content: dict[str, Any]) -> StoredResource:
    return StoredResource(1, "Patient", res_id, 1, None, False, {**content, "id": res_id}, "PUT")  # type: ignore[arg-type]


def test_higher_source_status_is_reported_not_copied() -> None:
    qualified = person("DUPONT", "Jean", "1947-04-03", "male", ins=nir("1470463220123"))
    qualified["extension"] = [to_extension(IdentityStatus.QUALIFIED, "2.1")]
    provisional = person("DUPONT", "Jean", "1947-04-03", "male")
    provisional["extension"] = [to_extension(IdentityStatus.PROVISIONAL, "2.1")]
    warnings = check_mergeable(_stored("s", qualified), _stored("t", provisional))
    texts = " ".join(w.diagnostics for w in warnings)
    assert "higher than the target's" in texts and "Identité qualifiée" in texts
    assert "INS matricule is not copied" in texts
    assert check_mergeable(_stored("s", provisional), _stored("t", qualified)) == []
