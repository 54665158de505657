"""Unknown parameters (lenient by default, strict with ``Prefer: handling=strict``), unsupported modifiers and
malformed search requests: https://hl7.org/fhir/R4/search.html#errors.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from tests.api.search_helpers import enc

STRICT = {"Prefer": "handling=strict"}


@pytest.fixture()
def residents(fhir: Any) -> dict[str, str]:
    return {
        "helene": fhir.create({"resourceType": "Patient", "name": [{"family": "Dupont", "given": ["Hélène"]}],
                               "gender": "female"})["id"],
        "francois": fhir.create({"resourceType": "Patient", "name": [{"family": "Lemaître", "given": ["François"]}],
                                 "gender": "male"})["id"],
    }


def outcome_of(resp: Any, status: int = 400) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] and body["issue"][0]["severity"] == "error"
    return body  # type: ignore[no-any-return]


# --- unknown parameters ----------------------------------------------------------------------------

def test_unknown_parameter_is_ignored_by_default(fhir, residents):
    """An unknown parameter does not filter: the other parameters still apply."""
    resp = fhir.get(enc("Patient?couleur-des-yeux=bleu&gender=female"))
    assert resp.status_code == 200
    found = [e["resource"]["id"] for e in resp.get_json()["entry"] if e["search"]["mode"] == "match"]
    assert found == [residents["helene"]]


def test_unknown_parameter_gives_warning_outcome(fhir, residents):
    """The lenient answer carries an OperationOutcome entry (mode outcome) naming the ignored parameter."""
    body = fhir.get(enc("Patient?couleur-des-yeux=bleu")).get_json()
    outcomes = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    issue = outcomes[0]["issue"][0]
    assert issue["severity"] == "warning"
    assert "couleur-des-yeux" in issue["diagnostics"]


def test_unknown_parameter_left_out_of_self_link(fhir, residents):
    """The self link lists only the parameters actually used."""
    body = fhir.get(enc("Patient?couleur-des-yeux=bleu&gender=female")).get_json()
    self_link = next(item["url"] for item in body["link"] if item["relation"] == "self")
    assert "gender=female" in self_link
    assert "couleur" not in self_link


def test_known_parameters_give_no_outcome(fhir, residents):
    """A search with known parameters only has no outcome entry."""
    body = fhir.get(enc("Patient?gender=female")).get_json()
    assert all(e["search"]["mode"] == "match" for e in body["entry"])


def test_unknown_parameter_strict_is_400(fhir, residents):
    """With ``Prefer: handling=strict`` an unknown parameter gives 400 naming it."""
    body = outcome_of(fhir.get(enc("Patient?couleur-des-yeux=bleu&gender=female"), headers=STRICT))
    assert "couleur-des-yeux" in body["issue"][0]["diagnostics"]
    assert body["issue"][0]["expression"] == ["couleur-des-yeux"]


def test_strict_with_known_parameters_is_200(fhir, residents):
    """``Prefer: handling=strict`` does not reject known parameters and result parameters."""
    resp = fhir.get(enc("Patient?gender=female&_count=5&_sort=family&_total=accurate"), headers=STRICT)
    assert resp.status_code == 200
    assert resp.get_json()["total"] == 1


def test_explicit_lenient_is_200(fhir, residents):
    """``Prefer: handling=lenient`` behaves as the default."""
    resp = fhir.get(enc("Patient?couleur-des-yeux=bleu"), headers={"Prefer": "handling=lenient"})
    assert resp.status_code == 200


def test_strict_applies_to_post_search(fhir, residents):
    """Strict handling also applies to POST ``_search``."""
    resp = fhir.post("Patient/_search", urlencode([("couleur", "bleu")]),
                     content_type="application/x-www-form-urlencoded", headers=STRICT)
    body = outcome_of(resp)
    assert "couleur" in body["issue"][0]["diagnostics"]


def test_unknown_parameter_on_system_search_strict(fhir, residents):
    """System search without ``_type`` knows only the common parameters."""
    body = outcome_of(fhir.get(enc("?family=dupont"), headers=STRICT))
    assert "family" in body["issue"][0]["diagnostics"]


# --- modifiers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "Patient?name:text=dupont",             # :text is for tokens
    "Patient?gender:exact=female",          # :exact is for strings
    "Patient?birthdate:below=1940",
    "Observation?code:in=http://ehpad.example.fr/ValueSet/tension",
    "Observation?subject:above=Patient/1",
    "Patient?family:couleur=bleu",
])
def test_unsupported_modifier_is_400(fhir, residents, query):
    """A modifier the parameter type does not support gives 400 with an OperationOutcome."""
    body = outcome_of(fhir.get(enc(query)))
    assert body["issue"][0]["code"] == "not-supported"
    assert query.split("?")[1].split("=")[0] in body["issue"][0]["expression"]


def test_unsupported_modifier_is_400_even_lenient(fhir, residents):
    """Lenient handling does not silently drop a known parameter with a bad modifier."""
    outcome_of(fhir.get(enc("Patient?gender:exact=female"), headers={"Prefer": "handling=lenient"}))


# --- malformed values ------------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "Patient?birthdate=hier",
    "Patient?_count=-1",
    "Patient?_total=toujours",
    "Patient?_summary=bref",
    "Patient?_include=Patient",
    "Patient?_include=Pingouin:subject",
    "Patient?_revinclude=Observation:code",
    "Patient?_has:Observation:subject",
    "Patient?_has:Pingouin:subject:code=x",
    "Observation?value-quantity=cinq",
    "Observation?code-value-quantity=8480-6$gt100$mg",
    "Patient?gender:missing=peut-etre",
])
def test_malformed_search_is_400(fhir, residents, query):
    """Malformed values and result parameters give 400 with an OperationOutcome."""
    outcome_of(fhir.get(enc(query)))


def test_too_many_or_values_is_400(fhir, residents, app, monkeypatch):
    """More comma-separated values than the configured maximum is rejected."""
    monkeypatch.setattr(app.config["DUI_CONTEXT"].parser, "max_or_values", 3)
    assert fhir.get(enc("Patient?family=a,b,c")).status_code == 200
    outcome_of(fhir.get(enc("Patient?family=a,b,c,d")))


def test_unknown_resource_type_is_404(fhir, residents):
    """Searching an unknown type gives 404 with an OperationOutcome."""
    outcome_of(fhir.get("Pingouin?name=x"), status=404)


def test_count_above_maximum_is_capped(fhir, residents, app, monkeypatch):
    """``_count`` above the configured maximum is lowered to it (and the link says so)."""
    monkeypatch.setattr(app.config["DUI_CONTEXT"].parser, "max_count", 1)
    body = fhir.get("Patient?_count=500").get_json()
    assert len([e for e in body["entry"] if e["search"]["mode"] == "match"]) == 1
    next_link = next(item["url"] for item in body["link"] if item["relation"] == "next")
    assert "_count=1&" in next_link or next_link.endswith("_count=1")
