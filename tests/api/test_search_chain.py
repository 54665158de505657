"""Chaining, reverse chaining (``_has``), ``_include`` / ``_revinclude`` (with ``:iterate``) and the include cap.

https://hl7.org/fhir/R4/search.html#chaining, #has, #include, #revinclude. Data: two care homes (Organizations),
their residents, a doctor, observations, a diagnostic report, encounters and care plans.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.search_helpers import bundle, enc, ids

LOINC = "http://loinc.org"


def by_mode(body: dict[str, Any], mode: str) -> list[str]:
    """``Type/id`` of the entries with this search mode, in Bundle order."""
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in body.get("entry", [])
            if e["search"]["mode"] == mode]


def obs(code: str, subject: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": {"reference": subject}, **extra}


@pytest.fixture()
def home(fhir: Any) -> dict[str, str]:
    """Two care homes, a doctor, three residents and their clinical data, as ``Type/id`` strings."""
    out: dict[str, str] = {}

    def add(key: str, resource: dict[str, Any]) -> str:
        created = fhir.create(resource)
        out[key] = f"{created['resourceType']}/{created['id']}"
        return out[key]

    add("tilleuls", {"resourceType": "Organization", "name": "EHPAD Les Tilleuls",
                     "address": [{"city": "Saint-Étienne"}]})
    add("oliviers", {"resourceType": "Organization", "name": "Résidence Les Oliviers",
                     "address": [{"city": "Nîmes"}], "partOf": {"reference": out["tilleuls"]}})
    add("lefevre", {"resourceType": "Practitioner", "name": [{"family": "Lefèvre", "given": ["Benoît"],
                                                              "prefix": ["Dr"]}]})
    add("girard", {"resourceType": "Practitioner", "name": [{"family": "Girard", "given": ["Anaïs"]}]})
    add("helene", {"resourceType": "Patient", "name": [{"family": "Dupont", "given": ["Hélène"]}],
                   "managingOrganization": {"reference": out["tilleuls"]},
                   "generalPractitioner": [{"reference": out["lefevre"]}]})
    add("francois", {"resourceType": "Patient", "name": [{"family": "Lemaître", "given": ["François"]}],
                     "managingOrganization": {"reference": out["oliviers"]},
                     "generalPractitioner": [{"reference": out["girard"]}]})
    add("zoe", {"resourceType": "Patient", "name": [{"family": "Bénard", "given": ["Zoé"]}]})
    add("obs_h_sys", obs("8480-6", out["helene"], performer=[{"reference": out["lefevre"]},
                                                             {"reference": out["tilleuls"]}]))
    add("obs_h_weight", obs("29463-7", out["helene"]))
    add("obs_f_sys", obs("8480-6", out["francois"], performer=[{"reference": out["girard"]}]))
    add("report", {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "Bilan"},
                   "subject": {"reference": out["francois"]}, "result": [{"reference": out["obs_f_sys"]}]})
    add("draft_report", {"resourceType": "DiagnosticReport", "status": "preliminary", "code": {"text": "Bilan"},
                         "subject": {"reference": out["helene"]}, "result": [{"reference": out["obs_h_weight"]}]})
    add("enc_h", {"resourceType": "Encounter", "status": "finished", "class": {"code": "IMP"},
                  "subject": {"reference": out["helene"]}, "serviceProvider": {"reference": out["tilleuls"]}})
    add("plan_h", {"resourceType": "CarePlan", "status": "active", "intent": "plan",
                   "subject": {"reference": out["helene"]}, "author": {"reference": out["girard"]},
                   "encounter": {"reference": out["enc_h"]},
                   "activity": [{"detail": {"status": "scheduled", "performer": [{"reference": out["lefevre"]}]}}]})
    return out


def only_ids(home: dict[str, str], *keys: str) -> set[str]:
    return {home[k].split("/")[1] for k in keys}


# --- chaining --------------------------------------------------------------------------------------

def test_chain_with_type(fhir, home):
    """``subject:Patient.name=helene`` finds Hélène's observations only."""
    assert ids(fhir, "Observation?subject:Patient.name=helene") == only_ids(home, "obs_h_sys", "obs_h_weight")


def test_chain_without_type(fhir, home):
    """``subject.name=`` tries every target type that has a ``name`` parameter."""
    assert ids(fhir, "Observation?subject.name=lemaitre") == only_ids(home, "obs_f_sys")


def test_chain_two_levels(fhir, home):
    """``subject:Patient.organization.name=`` follows two references."""
    assert ids(fhir, "Observation?subject:Patient.organization.name=ehpad les tilleuls") == only_ids(
        home, "obs_h_sys", "obs_h_weight")
    assert ids(fhir, "Observation?subject:Patient.organization.name=residence") == only_ids(home, "obs_f_sys")


def test_chain_three_levels(fhir, home):
    """A chain may go through the care home's parent organisation."""
    assert ids(fhir, "Observation?subject:Patient.organization.partof.name=ehpad") == only_ids(
        home, "obs_f_sys")


def test_chain_with_modifier_on_last_parameter(fhir, home):
    """The last parameter of a chain keeps its modifier (``:exact``)."""
    assert ids(fhir, "Observation?subject:Patient.name:exact=Hélène") == only_ids(home, "obs_h_sys",
                                                                                   "obs_h_weight")
    assert ids(fhir, "Observation?subject:Patient.name:exact=helene") == set()


def test_chain_on_token_and_or(fhir, home):
    """A chained token parameter with comma-separated values ORs them."""
    assert ids(fhir, "Patient?general-practitioner:Practitioner.name=lefevre,girard") == only_ids(
        home, "helene", "francois")


def test_chain_and_plain_parameter_combine(fhir, home):
    """A chain is AND'ed with the other parameters."""
    assert ids(fhir, "Observation?subject:Patient.name=helene&code=8480-6") == only_ids(home, "obs_h_sys")


def test_chain_on_non_reference_is_400(fhir, home):
    """Chaining through a non-reference parameter is an error."""
    resp = fhir.get(enc("Observation?code.name=x"))
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_chain_to_unknown_parameter_is_400(fhir, home):
    """Chaining to a parameter no target type has is an error naming the parameter."""
    resp = fhir.get(enc("Observation?subject:Patient.couleur=bleu"))
    assert resp.status_code == 400
    assert "couleur" in resp.get_data(as_text=True)


# --- reverse chaining ------------------------------------------------------------------------------

def test_has_finds_referenced_resources(fhir, home):
    """``_has:Observation:subject:code=8480-6`` finds residents with a systolic pressure."""
    assert ids(fhir, "Patient?_has:Observation:subject:code=8480-6") == only_ids(home, "helene", "francois")
    assert ids(fhir, "Patient?_has:Observation:subject:code=29463-7") == only_ids(home, "helene")


def test_has_with_specific_parameter(fhir, home):
    """``_has`` through ``patient`` and a string value on the care home."""
    assert ids(fhir, "Organization?_has:Patient:organization:name=helene") == only_ids(home, "tilleuls")


def test_has_nested(fhir, home):
    """Nested ``_has``: residents with an observation that is the result of a final report."""
    assert ids(fhir, "Patient?_has:Observation:subject:_has:DiagnosticReport:result:status=final") == only_ids(
        home, "francois")


def test_has_and(fhir, home):
    """Two ``_has`` parameters are AND'ed."""
    query = "Patient?_has:Observation:subject:code=8480-6&_has:Encounter:subject:status=finished"
    assert ids(fhir, query) == only_ids(home, "helene")


def test_has_with_wrong_target_is_400(fhir, home):
    """``_has`` through a reference that cannot point at the searched type is an error."""
    resp = fhir.get(enc("Organization?_has:Observation:subject:code=x"))
    assert resp.status_code == 400


# --- _include --------------------------------------------------------------------------------------

def test_include_named_parameter(fhir, home):
    """``_include=Observation:subject`` adds each subject once, marked ``include``."""
    body = bundle(fhir, "Observation?code=8480-6&_include=Observation:subject")
    assert set(by_mode(body, "match")) == {home["obs_h_sys"], home["obs_f_sys"]}
    assert sorted(by_mode(body, "include")) == sorted([home["helene"], home["francois"]])


def test_include_not_applied_without_parameter(fhir, home):
    """Without ``_include`` only matches are returned."""
    body = bundle(fhir, "Observation?code=8480-6")
    assert by_mode(body, "include") == []


def test_include_target_type(fhir, home):
    """``Observation:performer:Practitioner`` includes only the Practitioner performers."""
    body = bundle(fhir, "Observation?code=8480-6&_include=Observation:performer:Practitioner")
    assert set(by_mode(body, "include")) == {home["lefevre"], home["girard"]}
    body = bundle(fhir, "Observation?code=8480-6&_include=Observation:performer:Organization")
    assert by_mode(body, "include") == [home["tilleuls"]]


def test_include_wildcard(fhir, home):
    """``_include=Observation:*`` follows every reference parameter of the matches."""
    body = bundle(fhir, f"Observation?_id={home['obs_h_sys'].split('/')[1]}&_include=Observation:*")
    assert set(by_mode(body, "include")) == {home["helene"], home["lefevre"], home["tilleuls"]}


def test_include_bare_wildcard(fhir, home):
    """``_include=*`` follows every reference search parameter (not ``author``, which has none)."""
    body = bundle(fhir, f"CarePlan?_id={home['plan_h'].split('/')[1]}&_include=*")
    assert set(by_mode(body, "include")) == {home["helene"], home["lefevre"], home["enc_h"]}


def test_include_does_not_repeat_a_match(fhir, home):
    """A resource that is both a match and included appears once, as a match."""
    body = bundle(fhir, "Organization?_include=Organization:partof")
    urls = [e["fullUrl"] for e in body["entry"]]
    assert len(urls) == len(set(urls)) == 2
    assert by_mode(body, "include") == []


def test_include_skips_deleted_targets(fhir, home):
    """A deleted referenced resource is not included."""
    assert fhir.delete(home["girard"]).status_code in (200, 204)
    body = bundle(fhir, f"Observation?_id={home['obs_f_sys'].split('/')[1]}&_include=Observation:performer")
    assert by_mode(body, "include") == []


def test_include_unknown_parameter_is_400(fhir, home):
    """``_include`` on a parameter that is not a reference is an error."""
    resp = fhir.get(enc("Observation?_include=Observation:code"))
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_include_ignores_references_to_other_servers(fhir, home):
    """A reference to another server's Patient/x never includes the local Patient/x."""
    local_id = home["zoe"].split("/")[1]
    oid = fhir.create({"resourceType": "Observation", "status": "final", "code": {"text": "Poids"},
                       "subject": {"reference": f"https://ailleurs.example.org/fhir/Patient/{local_id}"}})["id"]
    body = bundle(fhir, f"Observation?_id={oid}&_include=Observation:subject")
    assert by_mode(body, "include") == []


# --- _revinclude -----------------------------------------------------------------------------------

def test_revinclude(fhir, home):
    """``_revinclude=Observation:subject`` adds the observations about the matched residents."""
    body = bundle(fhir, "Patient?name=helene&_revinclude=Observation:subject")
    assert by_mode(body, "match") == [home["helene"]]
    assert set(by_mode(body, "include")) == {home["obs_h_sys"], home["obs_h_weight"]}


def test_revinclude_several(fhir, home):
    """Several ``_revinclude`` parameters add each kind of referring resource."""
    body = bundle(fhir, "Patient?name=helene&_revinclude=Encounter:subject&_revinclude=CarePlan:subject")
    assert set(by_mode(body, "include")) == {home["enc_h"], home["plan_h"]}


def test_revinclude_wildcard(fhir, home):
    """``_revinclude=Observation:*`` adds observations referring to the match through any parameter."""
    body = bundle(fhir, "Practitioner?name=lefevre&_revinclude=Observation:*")
    assert by_mode(body, "include") == [home["obs_h_sys"]]


# --- :iterate --------------------------------------------------------------------------------------

def test_include_iterate(fhir, home):
    """``_include:iterate`` follows references of included resources (observation -> resident -> home)."""
    query = "Observation?code=29463-7&_include=Observation:subject&_include:iterate=Patient:organization"
    body = bundle(fhir, query)
    assert set(by_mode(body, "include")) == {home["helene"], home["tilleuls"]}


def test_include_without_iterate_stays_one_level(fhir, home):
    """Without ``:iterate`` an include applies to the matches only."""
    query = "Observation?code=29463-7&_include=Observation:subject&_include=Patient:organization"
    body = bundle(fhir, query)
    assert by_mode(body, "include") == [home["helene"]]


def test_revinclude_iterate(fhir, home):
    """``_revinclude:iterate`` goes from the care home to its residents and then their observations."""
    query = ("Organization?name=ehpad&_revinclude=Patient:organization"
             "&_revinclude:iterate=Observation:subject")
    body = bundle(fhir, query)
    assert set(by_mode(body, "include")) == {home["helene"], home["obs_h_sys"], home["obs_h_weight"]}


def test_iterate_mixes_include_and_revinclude(fhir, home):
    """An ``_include:iterate`` also applies to resources brought by a ``_revinclude``."""
    query = "Organization?name=ehpad&_revinclude=Patient:organization&_include:iterate=Patient:general-practitioner"
    body = bundle(fhir, query)
    assert set(by_mode(body, "include")) == {home["helene"], home["lefevre"]}


# --- include cap -----------------------------------------------------------------------------------

def test_include_cap_adds_warning(fhir, home, app, monkeypatch):
    """Past the configured include cap, includes stop and an OperationOutcome (mode outcome) says so."""
    monkeypatch.setattr(app.config["DUI_CONTEXT"].repo, "max_includes", 2)
    body = bundle(fhir, "Patient?name=helene&_revinclude=Observation:subject&_revinclude=Encounter:subject"
                        "&_revinclude=CarePlan:subject")
    assert len(by_mode(body, "include")) == 2
    outcomes = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    assert outcomes[0]["resourceType"] == "OperationOutcome"
    assert outcomes[0]["issue"][0]["severity"] == "warning"
    assert "2" in outcomes[0]["issue"][0]["diagnostics"]


def test_include_under_cap_has_no_warning(fhir, home, app, monkeypatch):
    """Includes within the cap give no outcome entry."""
    monkeypatch.setattr(app.config["DUI_CONTEXT"].repo, "max_includes", 3)
    body = bundle(fhir, "Patient?name=helene&_revinclude=Observation:subject&_revinclude=Encounter:subject")
    assert len(by_mode(body, "include")) == 3
    assert by_mode(body, "outcome") == []


def test_chain_to_id(fhir, home):
    """A chain may end on ``_id``."""
    assert ids(fhir, f"Observation?subject:Patient._id={home['francois'].split('/')[1]}") == only_ids(
        home, "obs_f_sys")


def test_include_iterate_stops_on_cycles(fhir):
    """Organisations that are part of each other are included once, without a warning."""
    a = fhir.create({"resourceType": "Organization", "name": "Groupe Santé Sud"})
    b = fhir.create({"resourceType": "Organization", "name": "EHPAD du Lac",
                     "partOf": {"reference": f"Organization/{a['id']}"}})
    a["partOf"] = {"reference": f"Organization/{b['id']}"}
    assert fhir.put(f"Organization/{a['id']}", a).status_code == 200
    body = bundle(fhir, f"Organization?_id={a['id']}&_include:iterate=Organization:partof")
    assert by_mode(body, "include") == [f"Organization/{b['id']}"]
    assert by_mode(body, "outcome") == []


def test_include_iterate_depth_limit_warns(fhir, app, monkeypatch):
    """Past the configured iteration depth, includes stop with a warning outcome."""
    monkeypatch.setattr(app.config["DUI_CONTEXT"].repo, "max_include_depth", 2)
    parent = None
    chain = []
    for i in range(5):
        body: dict[str, Any] = {"resourceType": "Organization", "name": f"Niveau {i}"}
        if parent:
            body["partOf"] = {"reference": f"Organization/{parent}"}
        parent = fhir.create(body)["id"]
        chain.append(parent)
    body = bundle(fhir, f"Organization?_id={chain[-1]}&_include:iterate=Organization:partof")
    assert by_mode(body, "include") == [f"Organization/{i}" for i in (chain[3], chain[2], chain[1])]
    outcomes = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "outcome"]
    assert "depth" in outcomes[0]["issue"][0]["diagnostics"]
