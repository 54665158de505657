"""Nobody widens a reach by writing the directory: the five escalation paths of the outside campaign, and the lesser
findings (totals of several types, the update-as-create oracle, ``$meta``, ``POST _search``, ``$meta-add``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from fhirserver.auth.labels import INVISIBLE_PATIENT, MASQUE_PS
from fhirserver.auth.labels import SYSTEMS as LABEL_SYSTEMS
from tests.auth.access_world import World, live_world, send
from tests.auth.conftest import api, delegation_consent

LABEL = LABEL_SYSTEMS[0]


@pytest.fixture(scope="module")
def world(auth_context: Any) -> Iterator[World]:
    with live_world(auth_context) as found:
        yield found


def _as(world: World, kind: str, path: str, method: str = "GET", body: Any = None) -> Any:
    return api(world.env, world.tokens[kind], path, method, body)


def _op(world: World, path: str, method: str = "GET", body: Any = None) -> Any:
    return api(world.env, world.operator, path, method, body)


def _reach_count(world: World, kind: str) -> int:
    resp = _as(world, kind, "Patient?_summary=count")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total"])


def _put_back(world: World, resource: dict[str, Any]) -> None:
    body = {k: v for k, v in resource.items() if k != "meta"}
    assert _op(world, f"{body['resourceType']}/{body['id']}", "PUT", body).status_code in (200, 201)


def test_a_professional_cannot_give_himself_another_structure(world: World) -> None:
    """Path 1: the soignant of A creating a PractitionerRole at B gets 403, nothing is written, and B's usager stays
    out of reach; the same with a role at A for the professional of B."""
    before = _reach_count(world, "soignant")
    roles = _op(world, "PractitionerRole?_summary=count").json()["total"]
    for practitioner, org, kind in (("soignant", "orgB", "soignant"), ("pro-b", "orgA", "soignant"),
                                    ("admin", "orgB", "administrateur")):
        body = {"resourceType": "PractitionerRole", "active": True,
                "practitioner": {"reference": f"Practitioner/{practitioner}"},
                "organization": {"reference": f"Organization/{org}"}}
        resp = _as(world, kind, "PractitionerRole", "POST", body)
        assert resp.status_code == 403, (kind, org, resp.text)
    assert _op(world, "PractitionerRole?_summary=count").json()["total"] == roles
    assert _as(world, "soignant", "Patient/u2").status_code == 404
    assert _reach_count(world, "soignant") == before


@pytest.mark.parametrize("kind", ["usager", "aidant (access)", "aidant (collect)"])
def test_a_usager_or_an_aidant_grants_no_structure(world: World, kind: str) -> None:
    """Path 2: a usager or an aidant giving a professional a structure (POST PractitionerRole) gets 403."""
    body = {"resourceType": "PractitionerRole", "active": True, "practitioner": {"reference": "Practitioner/pro-b"},
            "organization": {"reference": "Organization/orgA"}}
    assert _as(world, kind, "PractitionerRole", "POST", body).status_code == 403
    assert _as(world, "soignant", "Patient/u2").status_code == 404
    assert api(world.env, world.tokens["soignant"], "Patient/u1").status_code == 200


def test_directory_records_are_not_writable_by_everyone(world: World) -> None:
    """Path 3: a usager renaming Organization A, and the administrator of A attaching A to B or B to A (``partOf``,
    which would widen B's staff reach), get 403; a Practitioner's telecom is not patched by a usager nor a soignant."""
    org_a = _op(world, "Organization/orgA").json()
    org_b = _op(world, "Organization/orgB").json()
    pirate = {**{k: v for k, v in org_a.items() if k != "meta"}, "name": "EHPAD PIRATE"}
    assert _as(world, "usager", "Organization/orgA", "PUT", pirate).status_code == 403
    attach_a = {**{k: v for k, v in org_a.items() if k != "meta"}, "partOf": {"reference": "Organization/orgB"}}
    resp = _as(world, "administrateur", "Organization/orgA", "PUT", attach_a)
    assert resp.status_code == 403, resp.text
    assert "Organization/orgB" in resp.json()["issue"][0]["diagnostics"]
    attach_b = {**{k: v for k, v in org_b.items() if k != "meta"}, "partOf": {"reference": "Organization/orgA"}}
    assert _as(world, "administrateur", "Organization/orgB", "PUT", attach_b).status_code == 403
    telecom = [{"op": "add", "path": "/telecom", "value": [{"system": "phone", "value": "0600000000"}]}]
    for kind in ("usager", "soignant"):
        resp = send(world, world.tokens[kind], "Practitioner/soignant", "PATCH", telecom, patch=True)
        assert resp.status_code == 403, (kind, resp.text)
    assert _op(world, "Organization/orgA").json()["meta"]["versionId"] == org_a["meta"]["versionId"]
    assert _op(world, "Organization/orgB").json()["meta"]["versionId"] == org_b["meta"]["versionId"]
    assert "telecom" not in _op(world, "Practitioner/soignant").json()


def test_a_usager_cannot_create_a_resident(world: World) -> None:
    """Path 4: a usager creating a Patient in structure A linked to themselves gets 403, and A's staff do not see it."""
    before = _reach_count(world, "soignant")
    body = {"resourceType": "Patient", "name": [{"family": "Fantôme"}],
            "managingOrganization": {"reference": "Organization/orgA"},
            "link": [{"other": {"reference": "Patient/u1"}, "type": "seealso"}]}
    assert _as(world, "usager", "Patient", "POST", body).status_code == 403
    assert _reach_count(world, "soignant") == before
    assert _op(world, "Patient?family=fantome&_summary=count").json()["total"] == 0


def test_a_usager_cannot_move_their_record_to_another_structure(world: World) -> None:
    """A usager changing their own ``managingOrganization`` (which would put them in B's lists) or adding a link gets
    403; the same update without those changes succeeds."""
    u1 = _op(world, "Patient/u1").json()
    body = {k: v for k, v in u1.items() if k != "meta"}
    moved = {**body, "managingOrganization": {"reference": "Organization/orgB"}}
    assert _as(world, "usager", "Patient/u1", "PUT", moved).status_code == 403
    linked = {**body, "link": [{"other": {"reference": "Patient/u2"}, "type": "seealso"}]}
    assert _as(world, "usager", "Patient/u1", "PUT", linked).status_code == 403
    assert _op(world, "Patient/u1").json()["meta"]["versionId"] == u1["meta"]["versionId"]
    resp = _as(world, "usager", "Patient/u1", "PUT", {**body, "language": "fr"})
    assert resp.status_code == 200, resp.text
    _put_back(world, u1)


def test_patient_link_grants_nothing(world: World) -> None:
    """Path 5: after the operator links u2's record to u1 (what ``$merge`` writes), neither the usager u1 nor the
    staff of A read u2, and u2 is not in u1's compartment, ``$everything`` nor searches."""
    u2 = _op(world, "Patient/u2").json()
    linked = {**{k: v for k, v in u2.items() if k != "meta"},
              "link": [{"other": {"reference": "Patient/u1"}, "type": "replaced-by"}]}
    assert _op(world, "Patient/u2", "PUT", linked).status_code == 200
    try:
        for kind in ("usager", "soignant", "admission", "administrateur", "aidant (access)"):
            assert _as(world, kind, "Patient/u2").status_code == 404, kind
            found = _as(world, kind, "Patient?_total=accurate").json()
            assert "u2" not in {e["resource"]["id"] for e in found.get("entry", [])}, kind
        compartment = _as(world, "usager", "Patient/u1/Patient").json()
        assert [e["resource"]["id"] for e in compartment.get("entry", [])] == ["u1"]
        everything = _as(world, "usager", "Patient/u1/$everything").json()
        assert "u2" not in {e["resource"]["id"] for e in everything.get("entry", [])
                            if e["resource"]["resourceType"] == "Patient"}
        operator_view = _op(world, "Patient/u1/Patient").json()
        assert [e["resource"]["id"] for e in operator_view.get("entry", [])] == ["u1"]
    finally:
        _put_back(world, u2)


def test_totals_of_several_types_count_only_what_the_reader_sees(world: World) -> None:
    """A DocumentReference of u1 labelled INVISIBLE_PATIENT in ``securityLabel``: the usager's search of two types
    neither returns nor counts it; a MASQUE_PS document by another author is neither returned nor counted for the
    soignant, but is for its author (the administrator); an aidant's delegation denying DocumentReference is counted
    out too."""
    label = {"coding": [{"system": LABEL, "code": INVISIBLE_PATIENT}]}
    docs = [{"resourceType": "DocumentReference", "id": "doc-hidden", "status": "current",
             "subject": {"reference": "Patient/u1"}, "securityLabel": [label],
             "content": [{"attachment": {"contentType": "text/plain", "data": "Y29uZmlkZW50aWVs"}}]},
            {"resourceType": "DocumentReference", "id": "doc-masked", "status": "current",
             "subject": {"reference": "Patient/u1"}, "author": [{"reference": "Practitioner/admin"}],
             "securityLabel": [{"coding": [{"system": LABEL, "code": MASQUE_PS}]}],
             "content": [{"attachment": {"contentType": "text/plain", "data": "bWFzcXVl"}}]},
            {"resourceType": "DocumentReference", "id": "doc-plain", "status": "current",
             "subject": {"reference": "Patient/u1"},
             "content": [{"attachment": {"contentType": "text/plain", "data": "dmlzaWJsZQ=="}}]}]
    for doc in docs:
        assert _op(world, f"DocumentReference/{doc['id']}", "PUT", doc).status_code in (200, 201)
    denied = delegation_consent("del-deny", "u1", "rpA", deny_types=("DocumentReference",))
    try:
        cases = [("usager", "?_type=DocumentReference,Observation&_total=accurate", {"doc-masked", "doc-plain"}),
                 ("usager", "DocumentReference?_total=accurate", {"doc-masked", "doc-plain"}),
                 ("soignant", "?_type=DocumentReference,Observation&_total=accurate", {"doc-hidden", "doc-plain"}),
                 ("soignant", "DocumentReference?_total=accurate", {"doc-hidden", "doc-plain"}),
                 ("administrateur", "DocumentReference?_total=accurate", {"doc-hidden", "doc-masked", "doc-plain"})]
        for kind, path, docs_seen in cases:
            bundle = _as(world, kind, path).json()
            matches = [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
            assert bundle["total"] == len(matches), (kind, path, bundle["total"], len(matches))
            assert {r["id"] for r in matches if r["resourceType"] == "DocumentReference"} == docs_seen, (kind, path)
        count = _as(world, "soignant", "DocumentReference?_summary=count").json()
        assert count["total"] == 2
        # the access aidant's only delegation now denies DocumentReference: none counted in a search of two types
        a_del = _op(world, "Consent/del-a").json()
        _put_back(world, {**denied, "id": "del-a"})
        bundle = _as(world, "aidant (access)", "?_type=DocumentReference,Observation&_total=accurate").json()
        matches = [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        assert bundle["total"] == len(matches)
        assert not [r for r in matches if r["resourceType"] == "DocumentReference"]
        assert [r["id"] for r in matches if r["resourceType"] == "Observation"] == ["obs1"]
        _put_back(world, a_del)
    finally:
        for doc in docs:
            _op(world, f"DocumentReference/{doc['id']}", "DELETE")


def test_update_as_create_is_no_existence_oracle(world: World) -> None:
    """PUT of a free id and PUT of another usager's existing id answer the same 404 (bounded tokens create with
    POST); nothing is written either way."""
    answers = []
    for rid in ("obs-free-id", "obs2"):
        body = {"resourceType": "Observation", "id": rid, "status": "final", "code": {"text": "poids"},
                "subject": {"reference": "Patient/u1"}}
        resp = _as(world, "usager", f"Observation/{rid}", "PUT", body)
        answers.append((resp.status_code, resp.json()["issue"][0]["diagnostics"].replace(rid, "ID")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404
    assert _op(world, "Observation/obs-free-id").status_code == 404
    assert _op(world, "Observation/obs2").json()["subject"]["reference"] == "Patient/u2"


def test_post_search_works_for_user_tokens(world: World) -> None:
    """``POST Patient/_search`` answers like GET for a usager and a professional (it answered 404)."""
    for kind, expected in (("usager", ["u1"]), ("soignant", ["u1"])):
        resp = requests.post(f"{world.env.fhir}/Patient/_search", data={"_id": "u1,u2"},
                             headers={"Authorization": f"Bearer {world.tokens[kind]}",
                                      "Accept": "application/fhir+json"}, timeout=20)
        assert resp.status_code == 200, (kind, resp.text)
        assert [e["resource"]["id"] for e in resp.json().get("entry", [])] == expected


def test_system_meta_lists_only_what_the_caller_sees(world: World) -> None:
    """A tag on u2's Observation is listed by ``GET /$meta`` to the operator, never to the usager u1."""
    tag = {"system": "https://example.org/tags", "code": "secret-of-u2"}
    obs2 = _op(world, "Observation/obs2").json()
    params = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {"tag": [tag]}}]}
    assert _op(world, "Observation/obs2/$meta-add", "POST", params).status_code == 200
    try:
        def codes(kind: str, path: str) -> set[str]:
            resp = _as(world, kind, path)
            assert resp.status_code == 200, (kind, path, resp.text)
            meta = resp.json()["parameter"][0]["valueMeta"]
            return {t["code"] for t in meta.get("tag", [])}
        assert "secret-of-u2" in codes("operator", "$meta")
        for kind in ("usager", "soignant", "aidant (access)"):
            assert "secret-of-u2" not in codes(kind, "$meta"), kind
            assert "secret-of-u2" not in codes(kind, "Observation/$meta"), kind
    finally:
        _put_back(world, obs2)
        _op(world, "Observation/obs2/$meta-delete", "POST",
            {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {"tag": [tag]}}]})


def test_meta_add_follows_the_write_rules(world: World) -> None:
    """``$meta-add`` works for a professional on a usager of the structure, is 404 on another structure's usager
    and 403 for a usager on the directory or an aidant on anything."""
    params = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {
        "tag": [{"system": "https://example.org/tags", "code": "vu"}]}}]}
    undo = {"resourceType": "Parameters", "parameter": [{"name": "meta", "valueMeta": {
        "tag": [{"system": "https://example.org/tags", "code": "vu"}]}}]}
    resp = _as(world, "soignant", "Observation/obs1/$meta-add", "POST", params)
    assert resp.status_code == 200, resp.text
    assert _as(world, "soignant", "Observation/obs1/$meta-delete", "POST", undo).status_code == 200
    assert _as(world, "soignant", "Observation/obs2/$meta-add", "POST", params).status_code == 404
    assert _as(world, "usager", "Organization/orgA/$meta-add", "POST", params).status_code == 403
    assert _as(world, "aidant (collect)", "Observation/obs1/$meta-add", "POST", params).status_code == 403
    assert "tag" not in _op(world, "Organization/orgA").json().get("meta", {})
