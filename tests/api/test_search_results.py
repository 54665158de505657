"""Result parameters and search flavours: ``_sort``, ``_count`` paging (next / previous / self links),
``_total``, ``_summary``, ``_elements``, ``_id``, ``_lastUpdated``, ``_tag``, ``_profile``, ``_security``,
``_list``, POST ``_search``, system search with ``_type`` and Patient compartment search.

https://hl7.org/fhir/R4/search.html#return, #paging, #list, https://hl7.org/fhir/R4/http.html#search.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests.api.search_helpers import bundle, ids

FORM = "application/x-www-form-urlencoded"
SUBSETTED = "SUBSETTED"


def matches(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in body.get("entry", []) if e["search"]["mode"] == "match"]


def match_ids(body: dict[str, Any]) -> list[str]:
    return [r["id"] for r in matches(body)]


def link(body: dict[str, Any], relation: str) -> str | None:
    for item in body.get("link", []):
        if item["relation"] == relation:
            return item["url"]  # type: ignore[no-any-return]
    return None


def follow(fhir: Any, url: str) -> dict[str, Any]:
    """GET an absolute link of a Bundle through the test client."""
    parts = urlsplit(url)
    assert parts.path.startswith("/fhir")
    resp = fhir.get(parts.path[len("/fhir"):] + ("?" + parts.query if parts.query else ""))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()  # type: ignore[no-any-return]


def patient(fhir: Any, family: str, given: str, birth: str | None = None, **extra: Any) -> str:
    body: dict[str, Any] = {"resourceType": "Patient", "name": [{"family": family, "given": [given]}], **extra}
    if birth:
        body["birthDate"] = birth
    return fhir.create(body)["id"]  # type: ignore[no-any-return]


@pytest.fixture()
def residents(fhir: Any) -> dict[str, str]:
    """Seven residents; two share a family name; one has no birth date and one no gender."""
    rows = [
        ("helene", "Dupont", "Hélène", "1940-02-03", "female"),
        ("francois", "Lemaître", "François", "1940-07-14", "male"),
        ("zoe", "Bénard", "Zoé", "1938-11-20", "female"),
        ("jerome", "Moreau", "Jérôme", None, "male"),
        ("agathe", "Dupont", "Agathe", "1935-05-01", "female"),
        ("eloise", "Écuyer", "Éloïse", "1942-09-09", None),
        ("noel", "Carré", "Noël", "1931-12-25", "male"),
    ]
    out = {}
    for key, family, given, birth, gender in rows:
        extra = {"gender": gender} if gender else {}
        out[key] = patient(fhir, family, given, birth, **extra)
    return out


def names(fhir: Any, residents: dict[str, str], query: str) -> list[str]:
    back = {v: k for k, v in residents.items()}
    return [back[i] for i in match_ids(bundle(fhir, query))]


# --- _sort -----------------------------------------------------------------------------------------

def test_sort_string_ascending_accent_insensitive(fhir, residents):
    """``_sort=family`` orders on the normalised name (Écuyer between Dupont and Lemaître)."""
    order = names(fhir, residents, "Patient?_sort=family")
    assert order[:2] == ["zoe", "noel"]
    assert order[2:4] in (["helene", "agathe"], ["agathe", "helene"])
    assert order[4:] == ["eloise", "francois", "jerome"]


def test_sort_several_keys(fhir, residents):
    """``_sort=family,given`` breaks ties on the second key."""
    order = names(fhir, residents, "Patient?_sort=family,given")
    assert order.index("agathe") == order.index("helene") - 1


def test_sort_second_key_descending(fhir, residents):
    """``_sort=family,-birthdate`` sorts the two Duponts youngest first."""
    order = names(fhir, residents, "Patient?_sort=family,-birthdate")
    assert order.index("helene") == order.index("agathe") - 1


def test_sort_date_descending_missing_last(fhir, residents):
    """``_sort=-birthdate``: youngest first, the resident without birth date last."""
    assert names(fhir, residents, "Patient?_sort=-birthdate") == [
        "eloise", "francois", "helene", "zoe", "agathe", "noel", "jerome"]


def test_sort_date_ascending_missing_last(fhir, residents):
    """``_sort=birthdate``: oldest first, the resident without birth date still last."""
    assert names(fhir, residents, "Patient?_sort=birthdate") == [
        "noel", "agathe", "zoe", "helene", "francois", "eloise", "jerome"]


def test_sort_token_missing_last_both_directions(fhir, residents):
    """``_sort=gender`` and ``-gender`` group the codes and leave the missing gender last."""
    asc = names(fhir, residents, "Patient?_sort=gender")
    desc = names(fhir, residents, "Patient?_sort=-gender")
    assert asc[-1] == desc[-1] == "eloise"
    assert set(asc[:3]) == {"helene", "zoe", "agathe"}
    assert set(desc[:3]) == {"francois", "jerome", "noel"}


def test_sort_id(fhir, residents):
    """``_sort=_id`` and ``-_id`` order on the logical id."""
    all_ids = sorted(residents.values())
    assert match_ids(bundle(fhir, "Patient?_sort=_id")) == all_ids
    assert match_ids(bundle(fhir, "Patient?_sort=-_id")) == all_ids[::-1]


def test_sort_last_updated(fhir, residents):
    """``_sort=-_lastUpdated`` puts the latest update first."""
    time.sleep(0.01)
    fhir.put(f"Patient/{residents['zoe']}", {"resourceType": "Patient", "id": residents["zoe"],
                                             "name": [{"family": "Bénard", "given": ["Zoé", "Marie"]}]})
    assert match_ids(bundle(fhir, "Patient?_sort=-_lastUpdated"))[0] == residents["zoe"]
    assert match_ids(bundle(fhir, "Patient?_sort=_lastUpdated"))[-1] == residents["zoe"]


def test_sort_unknown_parameter_is_400(fhir, residents):
    """Sorting on an unknown parameter is an error."""
    resp = fhir.get("Patient?_sort=pointure")
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"


# --- paging ----------------------------------------------------------------------------------------

def walk(fhir: Any, first: dict[str, Any], relation: str) -> list[dict[str, Any]]:
    pages = [first]
    while (url := link(pages[-1], relation)) is not None:
        pages.append(follow(fhir, url))
        assert len(pages) < 50
    return pages


@pytest.mark.parametrize("sort", ["", "family", "-birthdate", "gender,-family", "-_lastUpdated", "_id"])
def test_paging_walks_every_resource_once_in_order(fhir, residents, sort):
    """Following next links returns each resident exactly once, in the unpaged order."""
    extra = f"&_sort={sort}" if sort else ""
    expected = match_ids(bundle(fhir, f"Patient?_count=100{extra}"))
    pages = walk(fhir, bundle(fhir, f"Patient?_count=3{extra}"), "next")
    assert [len(matches(p)) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in match_ids(p)] == expected


def test_paging_previous_links_walk_back(fhir, residents):
    """From the last page, previous links give the same pages in reverse, and the first has no previous."""
    forward = walk(fhir, bundle(fhir, "Patient?_count=2&_sort=-birthdate"), "next")
    backward = walk(fhir, forward[-1], "previous")
    assert [match_ids(p) for p in backward] == [match_ids(p) for p in reversed(forward)]
    assert link(backward[-1], "previous") is None
    assert link(forward[0], "previous") is None
    assert link(forward[-1], "next") is None


def test_paging_self_link_reproduces_page(fhir, residents):
    """A page's self link returns that very page."""
    first = bundle(fhir, "Patient?_count=3&_sort=family")
    second = follow(fhir, link(first, "next") or "")
    again = follow(fhir, link(second, "self") or "")
    assert match_ids(again) == match_ids(second)
    assert match_ids(follow(fhir, link(first, "self") or "")) == match_ids(first)


def test_paging_links_keep_search_parameters(fhir, residents):
    """next links keep the filters, sort and count of the original search."""
    first = bundle(fhir, "Patient?gender=female&_count=1&_sort=birthdate")
    nxt = link(first, "next") or ""
    assert "gender=female" in nxt and "_count=1" in nxt and "_sort=birthdate" in nxt
    pages = walk(fhir, first, "next")
    assert [i for p in pages for i in match_ids(p)] == [residents["agathe"], residents["zoe"], residents["helene"]]


def test_paging_stable_when_resources_are_added(fhir, residents):
    """A resource created between pages does not shift the following pages (keyset paging)."""
    first = bundle(fhir, "Patient?_count=3&_sort=birthdate")
    patient(fhir, "Aubry", "Anne", "1930-01-01")  # sorts before every page already seen
    rest = walk(fhir, follow(fhir, link(first, "next") or ""), "next")
    seen = match_ids(first) + [i for p in rest for i in match_ids(p)]
    assert len(seen) == len(set(seen)) == 7


def test_paging_invalid_cursor_is_400(fhir, residents):
    """A forged cursor gives 400 with an OperationOutcome."""
    resp = fhir.get("Patient?_cursor=pas-un-curseur")
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_paging_cursor_with_wrong_key_types_is_400(fhir, residents):
    """A well-formed cursor carrying keys of the wrong type gives 400, not a database error."""
    import base64
    import json

    for keys in (["a"], [None], [1.5], [True], [{"x": 1}]):
        raw = base64.urlsafe_b64encode(json.dumps({"d": "n", "k": keys}).encode()).decode().rstrip("=")
        resp = fhir.get(f"Patient?_cursor={raw}")
        assert resp.status_code == 400, keys
    raw = base64.urlsafe_b64encode(json.dumps({"d": "n", "k": [[1], 3]}).encode()).decode().rstrip("=")
    assert fhir.get(f"Patient?_sort=family&_cursor={raw}").status_code == 400


def test_paging_cursor_of_another_sort_is_400(fhir, residents):
    """A cursor reused with a different ``_sort`` is rejected."""
    first = bundle(fhir, "Patient?_count=2&_sort=birthdate")
    cursor = (link(first, "next") or "").split("_cursor=")[1]
    assert fhir.get(f"Patient?_count=2&_sort=family,given&_cursor={cursor}").status_code == 400


def test_count_zero_returns_no_entries(fhir, residents):
    """``_count=0`` returns no entries."""
    assert matches(bundle(fhir, "Patient?_count=0")) == []


def test_count_invalid_is_400(fhir, residents):
    """A non-numeric ``_count`` is an error."""
    assert fhir.get("Patient?_count=beaucoup").status_code == 400


def test_default_count_is_applied(fhir, residents, app, monkeypatch):
    """Without ``_count`` the configured default page size applies."""
    monkeypatch.setattr(app.config["DUI_CONTEXT"].parser, "default_count", 4)
    body = bundle(fhir, "Patient")
    assert len(matches(body)) == 4
    assert link(body, "next") is not None


# --- _total ----------------------------------------------------------------------------------------

def test_total_accurate(fhir, residents):
    """``_total=accurate`` gives the number of matches, not the page size."""
    body = bundle(fhir, "Patient?gender=female&_count=1&_total=accurate")
    assert body["total"] == 3
    assert len(matches(body)) == 1


def test_total_none(fhir, residents):
    """``_total=none`` (and the default) leaves the total out."""
    assert "total" not in bundle(fhir, "Patient?_total=none")
    assert "total" not in bundle(fhir, "Patient")


def test_total_estimate(fhir, residents):
    """``_total=estimate`` gives a non-negative integer."""
    total = bundle(fhir, "Patient?_total=estimate")["total"]
    assert isinstance(total, int) and total >= 0


def test_total_invalid_is_400(fhir, residents):
    """An unknown ``_total`` value is an error."""
    assert fhir.get("Patient?_total=beaucoup").status_code == 400


# --- _summary / _elements --------------------------------------------------------------------------

@pytest.fixture()
def detailed(fhir: Any) -> str:
    return fhir.create({
        "resourceType": "Patient", "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Hélène</div>"},
        "name": [{"family": "Dupont", "given": ["Hélène"]}], "birthDate": "1940-02-03", "gender": "female",
        "maritalStatus": {"text": "Veuve"}, "photo": [{"contentType": "image/png", "data": "aGVsbG8="}],
    })["id"]


def tags(resource: dict[str, Any]) -> list[str]:
    return [t.get("code") for t in resource.get("meta", {}).get("tag", [])]


def test_summary_true(fhir, detailed):
    """``_summary=true`` keeps summary elements only and marks the resource SUBSETTED."""
    res = matches(bundle(fhir, "Patient?_summary=true"))[0]
    assert res["name"] and res["birthDate"] == "1940-02-03"
    assert "photo" not in res and "maritalStatus" not in res and "text" not in res
    assert SUBSETTED in tags(res)


def test_summary_text(fhir, detailed):
    """``_summary=text`` keeps the narrative and mandatory elements."""
    res = matches(bundle(fhir, "Patient?_summary=text"))[0]
    assert res["text"]["status"] == "generated"
    assert "name" not in res and "birthDate" not in res
    assert SUBSETTED in tags(res)


def test_summary_data(fhir, detailed):
    """``_summary=data`` removes the narrative only."""
    res = matches(bundle(fhir, "Patient?_summary=data"))[0]
    assert "text" not in res
    assert res["photo"] and res["maritalStatus"]
    assert SUBSETTED in tags(res)


def test_summary_count(fhir, residents):
    """``_summary=count`` returns the total and no entries."""
    body = bundle(fhir, "Patient?gender=male&_summary=count")
    assert body["total"] == 3
    assert not body.get("entry")


def test_summary_false_is_full(fhir, detailed):
    """``_summary=false`` returns the whole resource, not tagged."""
    res = matches(bundle(fhir, "Patient?_summary=false"))[0]
    assert res["photo"] and res["text"]
    assert SUBSETTED not in tags(res)


def test_summary_invalid_is_400(fhir, detailed):
    """An unknown ``_summary`` value is an error."""
    assert fhir.get("Patient?_summary=court").status_code == 400


def test_elements(fhir, detailed):
    """``_elements=birthDate,gender`` keeps those elements (plus id and meta) and tags SUBSETTED."""
    res = matches(bundle(fhir, "Patient?_elements=birthDate,gender"))[0]
    assert set(res) == {"resourceType", "id", "meta", "birthDate", "gender"}
    assert SUBSETTED in tags(res)


def test_elements_does_not_apply_to_includes(fhir):
    """Included resources are returned whole even with ``_elements``."""
    org = fhir.create({"resourceType": "Organization", "name": "EHPAD Les Tilleuls", "alias": ["Tilleuls"]})
    fhir.create({"resourceType": "Patient", "name": [{"family": "Dupont"}], "birthDate": "1940-02-03",
                 "managingOrganization": {"reference": f"Organization/{org['id']}"}})
    body = bundle(fhir, "Patient?_elements=birthDate&_include=Patient:organization")
    included = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "include"]
    assert included[0]["alias"] == ["Tilleuls"]
    assert "name" not in matches(body)[0]


# --- _id, _lastUpdated, _tag, _profile, _security --------------------------------------------------

def test_id(fhir, residents):
    """``_id`` matches the listed ids (OR with commas)."""
    assert ids(fhir, f"Patient?_id={residents['zoe']}") == {residents["zoe"]}
    assert ids(fhir, f"Patient?_id={residents['zoe']},{residents['noel']}") == {residents["zoe"], residents["noel"]}


def test_id_not(fhir, residents):
    """``_id:not`` excludes the listed id."""
    assert ids(fhir, f"Patient?_id:not={residents['zoe']}") == set(residents.values()) - {residents["zoe"]}


def test_last_updated(fhir, residents):
    """``_lastUpdated=gt`` a moment finds only resources changed after it."""
    stamps = [r["meta"]["lastUpdated"] for r in matches(bundle(fhir, "Patient?_count=100"))]
    time.sleep(0.01)
    later = fhir.create({"resourceType": "Patient", "name": [{"family": "Nouveau"}]})
    earliest = min(stamps)
    assert ids(fhir, f"Patient?_lastUpdated=gt{max(stamps)}") == {later["id"]}
    assert ids(fhir, f"Patient?_lastUpdated=lt{earliest}") == set()
    assert len(ids(fhir, f"Patient?_lastUpdated=ge{earliest}&_count=100")) == 8


@pytest.fixture()
def tagged(fhir: Any) -> dict[str, str]:
    sec = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    return {
        "vip": fhir.create({"resourceType": "Patient", "name": [{"family": "Lemaître"}], "meta": {
            "tag": [{"system": "http://ehpad.example.fr/tags", "code": "vip"}],
            "profile": ["http://interopsante.org/fhir/StructureDefinition/FrPatient"],
            "security": [{"system": sec, "code": "R"}]}})["id"],
        "plain": fhir.create({"resourceType": "Patient", "name": [{"family": "Dupont"}], "meta": {
            "tag": [{"system": "http://ehpad.example.fr/tags", "code": "nouveau"}],
            "security": [{"system": sec, "code": "N"}]}})["id"],
        "none": fhir.create({"resourceType": "Patient", "name": [{"family": "Moreau"}]})["id"],
    }


def test_tag(fhir, tagged):
    """``_tag`` matches meta.tag by system|code and code."""
    assert ids(fhir, "Patient?_tag=http://ehpad.example.fr/tags|vip") == {tagged["vip"]}
    assert ids(fhir, "Patient?_tag=nouveau") == {tagged["plain"]}


def test_tag_not(fhir, tagged):
    """``_tag:not`` keeps untagged resources."""
    assert ids(fhir, "Patient?_tag:not=vip") == {tagged["plain"], tagged["none"]}


def test_profile(fhir, tagged):
    """``_profile`` matches the declared profile URL."""
    assert ids(fhir, "Patient?_profile=http://interopsante.org/fhir/StructureDefinition/FrPatient") == {
        tagged["vip"]}
    assert ids(fhir, "Patient?_profile:missing=true") == {tagged["plain"], tagged["none"]}


def test_security(fhir, tagged):
    """``_security`` matches meta.security labels."""
    sec = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    assert ids(fhir, f"Patient?_security={sec}|R") == {tagged["vip"]}
    assert ids(fhir, "Patient?_security=N") == {tagged["plain"]}


# --- _list -----------------------------------------------------------------------------------------

def test_list(fhir, residents):
    """``_list=id`` restricts the search to the List's entries."""
    lst = fhir.create({"resourceType": "List", "status": "current", "mode": "working",
                       "title": "Résidents à surveiller",
                       "entry": [{"item": {"reference": f"Patient/{residents['helene']}"}},
                                 {"item": {"reference": f"Patient/{residents['noel']}"}}]})
    assert ids(fhir, f"Patient?_list={lst['id']}") == {residents["helene"], residents["noel"]}
    assert ids(fhir, f"Patient?_list={lst['id']}&gender=male") == {residents["noel"]}


def test_list_item_forms(fhir, residents):
    """``_list`` takes versioned and absolute local items, and skips struck-out and foreign items."""
    lst = fhir.create({"resourceType": "List", "status": "current", "mode": "working", "entry": [
        {"item": {"reference": f"Patient/{residents['helene']}/_history/1"}},
        {"item": {"reference": f"http://localhost/fhir/Patient/{residents['noel']}"}},
        {"item": {"reference": f"https://ailleurs.example.org/fhir/Patient/{residents['zoe']}"}},
        {"item": {"reference": f"Patient/{residents['agathe']}"}, "deleted": True},
    ]})
    assert ids(fhir, f"Patient?_list={lst['id']}") == {residents["helene"], residents["noel"]}


def test_list_unknown_gives_nothing(fhir, residents):
    """``_list`` naming no List gives an empty result, not everything."""
    assert ids(fhir, "Patient?_list=inconnue") == set()


# --- POST _search ----------------------------------------------------------------------------------

def test_post_search_form(fhir, residents):
    """POST ``Patient/_search`` with a form body searches like GET."""
    body = urlencode([("family", "dupont"), ("_sort", "birthdate")])
    resp = fhir.post("Patient/_search", body, content_type=FORM)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert match_ids(resp.get_json()) == [residents["agathe"], residents["helene"]]


def test_post_search_combines_url_and_body(fhir, residents):
    """Parameters in the URL and in the form body are AND'ed."""
    resp = fhir.post("Patient/_search?gender=female", urlencode([("family", "dupont"), ("birthdate", "1940")]),
                     content_type=FORM)
    assert resp.status_code == 200
    assert match_ids(resp.get_json()) == [residents["helene"]]


def test_post_search_accented_form_value(fhir, residents):
    """Accented values in a form body are decoded as UTF-8."""
    resp = fhir.post("Patient/_search", urlencode([("given:exact", "Éloïse")]), content_type=FORM)
    assert match_ids(resp.get_json()) == [residents["eloise"]]


def test_post_search_paging_links_are_gettable(fhir, residents):
    """The next link of a POST search can be followed with GET."""
    resp = fhir.post("Patient/_search", urlencode([("_count", "4"), ("_sort", "_id")]), content_type=FORM)
    pages = walk(fhir, resp.get_json(), "next")
    assert [i for p in pages for i in match_ids(p)] == sorted(residents.values())


# --- system search ---------------------------------------------------------------------------------

def test_system_search_with_type(fhir, residents):
    """``GET [base]?_type=Patient,Practitioner&name=`` searches both types."""
    pract = fhir.create({"resourceType": "Practitioner", "name": [{"family": "Dupré", "given": ["Hélène"]}]})
    fhir.create({"resourceType": "Organization", "name": "Hélène et Cie"})
    body = bundle(fhir, "?_type=Patient,Practitioner&name=helene")
    found = {(r["resourceType"], r["id"]) for r in matches(body)}
    assert found == {("Patient", residents["helene"]), ("Practitioner", pract["id"])}


def test_system_search_without_type(fhir, residents):
    """``GET [base]?_id=`` finds the resource whatever its type."""
    org = fhir.create({"resourceType": "Organization", "name": "EHPAD Les Tilleuls"})
    body = bundle(fhir, f"?_id={org['id']},{residents['zoe']}")
    assert {(r["resourceType"], r["id"]) for r in matches(body)} == {("Organization", org["id"]),
                                                                      ("Patient", residents["zoe"])}


def test_system_search_post(fhir, residents):
    """POST ``[base]/_search`` with ``_type`` in the form body."""
    resp = fhir.post("_search", urlencode([("_type", "Patient"), ("family", "carre")]), content_type=FORM)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert match_ids(resp.get_json()) == [residents["noel"]]


def test_system_search_unknown_type_is_error(fhir, residents):
    """An unknown type in ``_type`` is rejected."""
    assert fhir.get("?_type=Pingouin").status_code in (400, 404)


def test_system_search_paging(fhir, residents):
    """System search pages keep ``_type`` in their links."""
    fhir.create({"resourceType": "Organization", "name": "EHPAD Les Tilleuls"})
    pages = walk(fhir, bundle(fhir, "?_type=Patient,Organization&_count=3"), "next")
    assert sum(len(matches(p)) for p in pages) == 8


# --- compartment search ----------------------------------------------------------------------------

@pytest.fixture()
def compartment(fhir: Any, residents: dict[str, str]) -> dict[str, str]:
    h, f = residents["helene"], residents["francois"]

    def obs(subject: str, code: str) -> str:
        return fhir.create({"resourceType": "Observation", "status": "final",
                            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                            "subject": {"reference": f"Patient/{subject}"}})["id"]
    return {
        "helene": h,
        "obs_h1": obs(h, "8480-6"),
        "obs_h2": obs(h, "29463-7"),
        "obs_f": obs(f, "8480-6"),
        "enc_h": fhir.create({"resourceType": "Encounter", "status": "finished", "class": {"code": "IMP"},
                              "subject": {"reference": f"Patient/{h}"}})["id"],
        "plan_h": fhir.create({"resourceType": "CarePlan", "status": "active", "intent": "plan",
                               "subject": {"reference": f"Patient/{h}"}})["id"],
        "org": fhir.create({"resourceType": "Organization", "name": "EHPAD Les Tilleuls"})["id"],
    }


def test_compartment_type(fhir, compartment):
    """``Patient/{id}/Observation`` returns that resident's observations only."""
    assert ids(fhir, f"Patient/{compartment['helene']}/Observation") == {compartment["obs_h1"],
                                                                          compartment["obs_h2"]}


def test_compartment_with_parameters(fhir, compartment):
    """Search parameters apply inside the compartment."""
    assert ids(fhir, f"Patient/{compartment['helene']}/Observation?code=8480-6") == {compartment["obs_h1"]}


def test_compartment_all_types(fhir, compartment):
    """``Patient/{id}/*`` returns every resource of the compartment, the Patient included."""
    body = bundle(fhir, f"Patient/{compartment['helene']}/*")
    found = {(r["resourceType"], r["id"]) for r in matches(body)}
    assert found == {("Patient", compartment["helene"]), ("Observation", compartment["obs_h1"]),
                     ("Observation", compartment["obs_h2"]), ("Encounter", compartment["enc_h"]),
                     ("CarePlan", compartment["plan_h"])}


def test_compartment_links(fhir, compartment):
    """Compartment search pages link back to the compartment path."""
    body = bundle(fhir, f"Patient/{compartment['helene']}/Observation?_count=1")
    assert f"/Patient/{compartment['helene']}/Observation?" in (link(body, "next") or "")
    pages = walk(fhir, body, "next")
    assert {i for p in pages for i in match_ids(p)} == {compartment["obs_h1"], compartment["obs_h2"]}


def test_compartment_outside_type_is_400(fhir, compartment):
    """A type outside the Patient compartment is rejected."""
    assert fhir.get(f"Patient/{compartment['helene']}/Organization").status_code == 400


def test_paging_on_number_key_with_missing_value(fhir):
    """Paging on ``-probability`` visits every assessment once, the one without probability last."""
    made = []
    for p in (0.3, None, 0.8, 0.5, 0.1):
        body: dict[str, Any] = {"resourceType": "RiskAssessment", "status": "final",
                                "subject": {"reference": "Patient/x"}}
        if p is not None:
            body["prediction"] = [{"probabilityDecimal": p}]
        made.append((p, fhir.create(body)["id"]))
    expected = [i for _, i in sorted(made, key=lambda m: -(m[0] if m[0] is not None else -1))]
    for sort, order in (("-probability", expected), ("probability", expected[-2::-1] + expected[-1:])):
        pages = walk(fhir, bundle(fhir, f"RiskAssessment?_sort={sort}&_count=2"), "next")
        assert [i for p in pages for i in match_ids(p)] == order
        back = walk(fhir, pages[-1], "previous")
        assert [i for p in reversed(back) for i in match_ids(p)] == order


def test_compartment_all_types_sorted(fhir, compartment):
    """``Patient/{id}/*?_sort=-_lastUpdated`` orders resources of several types together."""
    fhir.put(f"Patient/{compartment['helene']}", {"resourceType": "Patient", "id": compartment["helene"],
                                                  "name": [{"family": "Dupont", "given": ["Hélène", "Marie"]}]})
    found = matches(bundle(fhir, f"Patient/{compartment['helene']}/*?_sort=-_lastUpdated"))
    stamps = [r["meta"]["lastUpdated"] for r in found]
    assert stamps == sorted(stamps, reverse=True)
    assert found[0]["resourceType"] == "Patient"
    assert {r["resourceType"] for r in found} == {"Patient", "Observation", "Encounter", "CarePlan"}
