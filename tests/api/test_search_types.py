"""Search on every parameter type (https://hl7.org/fhir/R4/search.html#ptypes): number, date, string, token,
reference, quantity, uri and composite, with their prefixes and modifiers, :missing, OR / AND and escaping.

The data is a small French care home: residents (Patients), their Observations, Encounters, RiskAssessments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.search_helpers import enc, ids

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NIR = "urn:oid:1.2.250.1.213.1.4.8"


def error(fhir: Any, query: str) -> dict[str, Any]:
    resp = fhir.get(enc(query))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body  # type: ignore[no-any-return]


def patient(fhir: Any, given: str, family: str, **extra: Any) -> str:
    return fhir.create({"resourceType": "Patient", "name": [{"family": family, "given": [given]}], **extra})["id"]


def observation(fhir: Any, code: str, subject: str | None = None, system: str | None = LOINC,
                display: str | None = None, **extra: Any) -> str:
    coding: dict[str, Any] = {"code": code}
    if system:
        coding["system"] = system
    if display:
        coding["display"] = display
    body: dict[str, Any] = {"resourceType": "Observation", "status": "final", "code": {"coding": [coding]}, **extra}
    if subject:
        body["subject"] = {"reference": f"Patient/{subject}"}
    return fhir.create(body)["id"]


def qty(value: float, code: str = "mg", system: str | None = UCUM) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value, "unit": code, "code": code}
    if system:
        out["system"] = system
    return out


# --- number ----------------------------------------------------------------------------------------

@pytest.fixture()
def risks(fhir: Any) -> dict[str, str]:
    """Fall-risk assessments of three residents, probabilities 0.8, 0.82 and 0.25."""
    out = {}
    for name, p in (("p80", 0.8), ("p82", 0.82), ("p25", 0.25)):
        out[name] = fhir.create({"resourceType": "RiskAssessment", "status": "final",
                                 "subject": {"reference": "Patient/x"},
                                 "prediction": [{"outcome": {"text": "Chute"}, "probabilityDecimal": p}]})["id"]
    return out


@pytest.mark.parametrize(("value", "expected"), [
    ("0.8", {"p80", "p82"}),       # implicit precision [0.75, 0.85)
    ("0.80", {"p80"}),             # [0.795, 0.805)
    ("eq0.25", {"p25"}),
    ("ne0.8", {"p25"}),
    ("gt0.5", {"p80", "p82"}),
    ("lt0.5", {"p25"}),
    ("ge0.82", {"p82"}),
    ("le0.25", {"p25"}),
    ("sa0.8", {"p82"}),
    ("eb0.8", {"p25"}),
    ("ap0.8", {"p80", "p82"}),     # +/- 10 %
    ("ap0.25", {"p25"}),
])
def test_number_prefixes(fhir, risks, value, expected):
    """Number search honours every prefix and the implicit precision of the value."""
    assert ids(fhir, f"RiskAssessment?probability={value}") == {risks[k] for k in expected}


def test_number_or_values(fhir, risks):
    """Comma-separated number values are OR'ed."""
    assert ids(fhir, "RiskAssessment?probability=0.25,0.80") == {risks["p25"], risks["p80"]}


def test_number_and_repetition(fhir, risks):
    """A repeated number parameter is AND'ed (a range between two bounds)."""
    assert ids(fhir, "RiskAssessment?probability=gt0.3&probability=lt0.81") == {risks["p80"]}


def test_number_invalid_value_is_400(fhir, risks):
    """A number parameter with a non-numeric value is rejected with an OperationOutcome."""
    body = error(fhir, "RiskAssessment?probability=beaucoup")
    assert "probability" in body["issue"][0]["diagnostics"]


def test_number_range_value(fhir):
    """A probabilityRange is matched by a number inside it, not by one outside."""
    rid = fhir.create({"resourceType": "RiskAssessment", "status": "final", "subject": {"reference": "Patient/x"},
                       "prediction": [{"probabilityRange": {"low": {"value": 0.1}, "high": {"value": 0.3}}}]})["id"]
    assert ids(fhir, "RiskAssessment?probability=gt0.2") == {rid}
    assert ids(fhir, "RiskAssessment?probability=gt0.4") == set()


# --- date ------------------------------------------------------------------------------------------

@pytest.fixture()
def residents(fhir: Any) -> dict[str, str]:
    return {
        "helene": patient(fhir, "Hélène", "Dupont", birthDate="1940-02-03", gender="female", active=True,
                          identifier=[{"system": NIR, "value": "240027512345646"}],
                          address=[{"city": "Saint-Étienne", "postalCode": "42000"}]),
        "francois": patient(fhir, "François", "Lemaître", birthDate="1940-07-14", gender="male", active=False,
                            identifier=[{"system": NIR, "value": "140077512345778"}]),
        "zoe": patient(fhir, "Zoé", "Bénard", birthDate="1938-11-20", gender="female",
                       address=[{"city": "Lyon"}]),
        "jerome": patient(fhir, "Jérôme", "Moreau"),
    }


@pytest.mark.parametrize(("value", "expected"), [
    ("1940", {"helene", "francois"}),
    ("1940-02", {"helene"}),
    ("1940-02-03", {"helene"}),
    ("eq1940-07", {"francois"}),
    ("ne1940", {"zoe"}),
    ("gt1940-02-03", {"francois"}),
    ("lt1940", {"zoe"}),
    ("ge1940-07-14", {"francois"}),
    ("le1940-02-03", {"helene", "zoe"}),
    ("sa1939", {"helene", "francois"}),
    ("eb1940-03", {"helene", "zoe"}),
    ("ge1940-02-03T00:00:00Z", {"helene", "francois"}),
])
def test_date_prefixes_and_precision(fhir, residents, value, expected):
    """birthdate search honours the prefix and the implicit precision of year, month and day values."""
    assert ids(fhir, f"Patient?birthdate={value}") == {residents[k] for k in expected}


def test_date_invalid_value_is_400(fhir, residents):
    """A malformed date is rejected with an OperationOutcome naming the parameter."""
    body = error(fhir, "Patient?birthdate=03/02/1940")
    assert "birthdate" in body["issue"][0]["diagnostics"]


def test_date_approximately_uses_distance_to_now(fhir):
    """``ap`` on a recent day also finds the next day, which ``eq`` does not."""
    day = datetime.now(UTC).date() - timedelta(days=10)
    same = fhir.create({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                        "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T10:00:00Z"}})["id"]
    next_day = day + timedelta(days=1)
    near = fhir.create({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                        "period": {"start": f"{next_day}T09:00:00Z", "end": f"{next_day}T10:00:00Z"}})["id"]
    far_day = day - timedelta(days=30)
    fhir.create({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                 "period": {"start": f"{far_day}T09:00:00Z", "end": f"{far_day}T10:00:00Z"}})
    assert ids(fhir, f"Encounter?date=ap{day}") == {same, near}
    assert ids(fhir, f"Encounter?date={day}") == {same}


@pytest.fixture()
def stays(fhir: Any) -> dict[str, str]:
    """Encounters with Period values: closed in March, open-ended from mid-March, one day in February."""
    def enc_(period: dict[str, str]) -> str:
        return fhir.create({"resourceType": "Encounter", "status": "finished", "class": {"code": "IMP"},
                            "period": period})["id"]
    return {
        "march": enc_({"start": "2024-03-01", "end": "2024-03-10"}),
        "open": enc_({"start": "2024-03-15"}),
        "feb": enc_({"start": "2024-02-01T08:00:00Z", "end": "2024-02-01T18:00:00Z"}),
    }


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-03", {"march"}),              # the open-ended stay is not contained in March
    ("2024-02-01", {"feb"}),
    ("ge2024-03-12", {"open"}),
    ("lt2024-03-01", {"feb"}),
    ("gt2024-12-31", {"open"}),
    ("sa2024-02-15", {"march", "open"}),
    ("eb2024-03-14", {"march", "feb"}),
    ("sa2024-03-05", {"open"}),          # the March stay overlaps the 5th: gt, but not sa
    ("gt2024-03-05", {"march", "open"}),
    ("eb2024-03-05", {"feb"}),           # the March stay started before the 5th: lt, but not eb
    ("lt2024-03-05", {"march", "feb"}),
    ("ne2024-03", {"open", "feb"}),
])
def test_date_on_period(fhir, stays, value, expected):
    """Encounter?date compares the Period's range (an open end is ongoing) with the search range."""
    assert ids(fhir, f"Encounter?date={value}") == {stays[k] for k in expected}


def test_date_time_zone_offsets(fhir):
    """A dateTime with an offset is found by the same instant written in UTC, and not by local time read as UTC."""
    oid = observation(fhir, "8867-4", effectiveDateTime="2024-05-01T10:30:00+02:00")
    assert ids(fhir, "Observation?date=2024-05-01T08:30:00Z") == {oid}
    assert ids(fhir, "Observation?date=2024-05-01T10:30:00+02:00") == {oid}
    assert ids(fhir, "Observation?date=2024-05-01T10:30:00Z") == set()


def test_last_updated_gt_own_instant_excludes_itself(fhir):
    """``_lastUpdated=gt<instant of A>`` finds a later resource but not A; ``ge`` finds both."""
    first = fhir.create({"resourceType": "Patient", "name": [{"family": "Aubert"}]})
    import time

    time.sleep(0.01)
    second = fhir.create({"resourceType": "Patient", "name": [{"family": "Blanc"}]})
    stamp = first["meta"]["lastUpdated"]
    assert ids(fhir, f"Patient?_lastUpdated=gt{stamp}") == {second["id"]}
    assert ids(fhir, f"Patient?_lastUpdated=ge{stamp}") == {first["id"], second["id"]}
    assert ids(fhir, f"Patient?_lastUpdated=le{stamp}") == {first["id"]}
    assert ids(fhir, f"Patient?_lastUpdated=lt{second['meta']['lastUpdated']}") == {first["id"]}
    assert ids(fhir, f"Patient?_lastUpdated=eq{stamp}") == {first["id"]}


def _shift(stamp: str, ms: int) -> str:
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(milliseconds=ms)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def test_last_updated_is_an_instant_at_range_edges(fhir):
    """The update instant one millisecond after the search value is ``gt`` and not ``le`` it."""
    stamp = fhir.create({"resourceType": "Patient", "name": [{"family": "Aubert"}]})["meta"]["lastUpdated"]
    pid = fhir.search("Patient")[0]["id"]
    before, after = _shift(stamp, -1), _shift(stamp, 1)
    assert ids(fhir, f"Patient?_lastUpdated=gt{before}") == {pid}
    assert ids(fhir, f"Patient?_lastUpdated=sa{before}") == {pid}
    assert ids(fhir, f"Patient?_lastUpdated=le{before}") == set()
    assert ids(fhir, f"Patient?_lastUpdated=eq{before}") == set()
    assert ids(fhir, f"Patient?_lastUpdated=lt{after}") == {pid}
    assert ids(fhir, f"Patient?_lastUpdated=eb{after}") == {pid}
    assert ids(fhir, f"Patient?_lastUpdated=ge{after}") == set()
    assert ids(fhir, f"Patient?_lastUpdated=ne{stamp}") == set()


# --- string ----------------------------------------------------------------------------------------

def test_string_default_is_prefix_accent_and_case_insensitive(fhir, residents):
    """``name=helene`` and ``name=HÉL`` find Hélène: a case- and accent-insensitive starts-with."""
    assert ids(fhir, "Patient?name=helene") == {residents["helene"]}
    assert ids(fhir, "Patient?name=HÉL") == {residents["helene"]}


def test_string_default_does_not_match_inside_words(fhir, residents):
    """The default string search does not match in the middle of a value."""
    assert ids(fhir, "Patient?name=lene") == set()


def test_string_contains(fhir, residents):
    """``:contains`` matches anywhere in the value, still ignoring accents and case."""
    assert ids(fhir, "Patient?name:contains=LENE") == {residents["helene"]}
    assert ids(fhir, "Patient?family:contains=ait") == {residents["francois"]}


def test_string_exact(fhir, residents):
    """``:exact`` requires the whole value with its accents and case."""
    assert ids(fhir, "Patient?given:exact=Hélène") == {residents["helene"]}
    assert ids(fhir, "Patient?given:exact=Helene") == set()
    assert ids(fhir, "Patient?given:exact=Hél") == set()


def test_string_on_address(fhir, residents):
    """``address-city=saint-etienne`` finds the resident from Saint-Étienne."""
    assert ids(fhir, "Patient?address-city=saint-etienne") == {residents["helene"]}


def test_string_or_and_and(fhir, residents):
    """Commas OR values; repeating the parameter ANDs them."""
    other = patient(fhir, "Hélène", "Martin")
    assert ids(fhir, "Patient?given=helene,zoe") == {residents["helene"], residents["zoe"], other}
    assert ids(fhir, "Patient?given=helene&family=dupont") == {residents["helene"]}


def test_string_escaped_comma_is_one_value(fhir):
    """``\\,`` is a literal comma, not an OR separator."""
    lyon = fhir.create({"resourceType": "Organization", "name": "Les Tilleuls, Lyon"})["id"]
    marseille = fhir.create({"resourceType": "Organization", "name": "Les Tilleuls Marseille"})["id"]
    assert ids(fhir, "Organization?name=Les Tilleuls\\, Lyon") == {lyon}
    assert ids(fhir, "Organization?name=Les Tilleuls, Lyon") == {lyon, marseille}


# --- token -----------------------------------------------------------------------------------------

@pytest.fixture()
def codes(fhir: Any) -> dict[str, str]:
    return {
        "loinc": observation(fhir, "8480-6", display="Pression artérielle systolique"),
        "nosys": observation(fhir, "8480-6", system=None),
        "local": observation(fhir, "8480-6", system="http://ehpad.example.fr/codes"),
        "other": observation(fhir, "29463-7", display="Poids corporel"),
    }


@pytest.mark.parametrize(("value", "expected"), [
    ("http://loinc.org|8480-6", {"loinc"}),
    ("8480-6", {"loinc", "nosys", "local"}),
    ("|8480-6", {"nosys"}),
    ("http://loinc.org|", {"loinc", "other"}),
    ("http://ehpad.example.fr/codes|8480-6", {"local"}),
])
def test_token_system_and_code_forms(fhir, codes, value, expected):
    """system|code, code, |code and system| each select the right codings."""
    assert ids(fhir, f"Observation?code={value}") == {codes[k] for k in expected}


def test_token_not(fhir, codes):
    """``:not`` excludes resources having the code, and keeps those lacking it."""
    assert ids(fhir, "Observation?code:not=http://loinc.org|8480-6") == {codes["nosys"], codes["local"],
                                                                         codes["other"]}


def test_token_text(fhir, codes):
    """``:text`` searches the display text, ignoring accents and case."""
    assert ids(fhir, "Observation?code:text=arterielle") == {codes["loinc"]}
    assert ids(fhir, "Observation?code:text=Poids") == {codes["other"]}


def test_token_code_is_not_prefix_matched(fhir, codes):
    """A token matches whole codes only."""
    assert ids(fhir, "Observation?code=8480") == set()


def test_token_identifier(fhir, residents):
    """identifier matches system|value and value alone."""
    assert ids(fhir, f"Patient?identifier={NIR}|240027512345646") == {residents["helene"]}
    assert ids(fhir, "Patient?identifier=140077512345778") == {residents["francois"]}
    assert ids(fhir, "Patient?identifier=urn:oid:0.0|240027512345646") == set()


def test_token_boolean(fhir, residents):
    """``active=true`` and ``active=false`` match the boolean; residents without it match neither."""
    assert ids(fhir, "Patient?active=true") == {residents["helene"]}
    assert ids(fhir, "Patient?active=false") == {residents["francois"]}


def test_token_code_value(fhir, residents):
    """A code element (gender) is searched as a token; OR with a comma."""
    assert ids(fhir, "Patient?gender=female") == {residents["helene"], residents["zoe"]}
    assert ids(fhir, "Patient?gender=male,female") == {residents["helene"], residents["zoe"],
                                                       residents["francois"]}


def test_token_escaped_pipe(fhir):
    """``\\|`` is a literal pipe inside an identifier value."""
    pid = patient(fhir, "Lucie", "Roux", identifier=[{"system": "urn:ehpad:chambre", "value": "B|12"}])
    patient(fhir, "Léa", "Roux", identifier=[{"system": "urn:ehpad:chambre", "value": "B"}])
    assert ids(fhir, "Patient?identifier=urn:ehpad:chambre|B\\|12") == {pid}
    assert ids(fhir, "Patient?identifier=B\\|12") == {pid}


# --- reference -------------------------------------------------------------------------------------

@pytest.fixture()
def refs(fhir: Any, residents: dict[str, str]) -> dict[str, str]:
    h = residents["helene"]
    return {
        "helene": h,
        "obs_h": observation(fhir, "8480-6", subject=h),
        "obs_f": observation(fhir, "8480-6", subject=residents["francois"]),
        "obs_ident": fhir.create({"resourceType": "Observation", "status": "final", "code": {"text": "Poids"},
                                  "subject": {"identifier": {"system": NIR, "value": "240027512345646"}}})["id"],
        "obs_none": observation(fhir, "29463-7"),
        "obs_group": fhir.create({"resourceType": "Observation", "status": "final", "code": {"text": "Poids"},
                                  "subject": {"reference": f"Group/{h}"}})["id"],
    }


def test_reference_type_and_id(fhir, refs):
    """``subject=Patient/id`` finds the resident's observations only."""
    assert ids(fhir, f"Observation?subject=Patient/{refs['helene']}") == {refs["obs_h"]}


def test_reference_bare_id(fhir, refs):
    """``subject=id`` matches the id whatever the target type."""
    assert ids(fhir, f"Observation?subject={refs['helene']}") == {refs["obs_h"], refs["obs_group"]}


def test_reference_type_modifier(fhir, refs):
    """``subject:Patient=id`` restricts the target type."""
    assert ids(fhir, f"Observation?subject:Patient={refs['helene']}") == {refs["obs_h"]}
    assert ids(fhir, f"Observation?subject:Group={refs['helene']}") == {refs["obs_group"]}


def test_reference_absolute_url_of_this_server(fhir, refs):
    """An absolute URL on this server's base matches the relative reference."""
    assert ids(fhir, f"Observation?subject=http://localhost/fhir/Patient/{refs['helene']}") == {refs["obs_h"]}


def test_reference_absolute_url_elsewhere(fhir):
    """A reference to another server is found by its absolute URL."""
    url = "https://annuaire.example.fr/fhir/Patient/ext-42"
    oid = fhir.create({"resourceType": "Observation", "status": "final", "code": {"text": "Poids"},
                       "subject": {"reference": url}})["id"]
    observation(fhir, "29463-7", subject="ext-43")
    local = observation(fhir, "29463-7", subject="ext-42")
    assert ids(fhir, f"Observation?subject={url}") == {oid}
    assert ids(fhir, "Observation?subject=http://localhost/fhir/Patient/ext-42") == {local}


def test_reference_identifier_modifier(fhir, refs):
    """``:identifier`` matches a logical reference by its identifier."""
    assert ids(fhir, f"Observation?subject:identifier={NIR}|240027512345646") == {refs["obs_ident"]}
    assert ids(fhir, f"Observation?subject:identifier={NIR}|0000") == set()


def test_reference_missing(fhir, refs):
    """``subject:missing=true`` finds the observation without subject; ``false`` the others."""
    assert ids(fhir, "Observation?subject:missing=true") == {refs["obs_none"]}
    assert ids(fhir, "Observation?subject:missing=false") == {refs["obs_h"], refs["obs_f"], refs["obs_ident"],
                                                              refs["obs_group"]}


def test_reference_or(fhir, refs, residents):
    """Comma-separated references are OR'ed."""
    assert ids(fhir, f"Observation?patient=Patient/{refs['helene']},Patient/{residents['francois']}") == {
        refs["obs_h"], refs["obs_f"]}


# --- quantity --------------------------------------------------------------------------------------

@pytest.fixture()
def doses(fhir: Any) -> dict[str, str]:
    return {
        "mg54": observation(fhir, "X1", valueQuantity=qty(5.4)),
        "mg72": observation(fhir, "X1", valueQuantity=qty(7.2)),
        "mmol54": observation(fhir, "X1", valueQuantity=qty(5.4, "mmol/L")),
        "unit_only": observation(fhir, "X1", valueQuantity={"value": 5.4, "unit": "mg"}),
        "text": observation(fhir, "X1", valueString="traces"),
    }


@pytest.mark.parametrize(("value", "expected"), [
    ("5.4", {"mg54", "mmol54", "unit_only"}),
    ("5.4|http://unitsofmeasure.org|mg", {"mg54"}),
    ("5.4||mg", {"mg54", "unit_only"}),
    ("gt5.4|http://unitsofmeasure.org|mg", {"mg72"}),
    ("lt6", {"mg54", "mmol54", "unit_only"}),
    ("ge7.2||mg", {"mg72"}),
    ("ap5", {"mg54", "mmol54", "unit_only"}),
    ("ap7", {"mg72"}),
    ("ne5.4||mg", {"mg72"}),
    ("5.40", {"mg54", "mmol54", "unit_only"}),
    ("5", {"mg54", "mmol54", "unit_only"}),    # implicit precision [4.5, 5.5)
    ("6", set()),
])
def test_quantity(fhir, doses, value, expected):
    """Quantity search with prefixes, number only, ||code and system|code forms."""
    assert ids(fhir, f"Observation?value-quantity={value}") == {doses[k] for k in expected}


def test_quantity_invalid_is_400(fhir, doses):
    """A malformed quantity (two pipes missing) is rejected."""
    error(fhir, "Observation?value-quantity=5.4|mg")


# --- uri -------------------------------------------------------------------------------------------

@pytest.fixture()
def valuesets(fhir: Any) -> dict[str, str]:
    def vs(url: str) -> str:
        return fhir.create({"resourceType": "ValueSet", "status": "active", "url": url})["id"]
    return {
        "chutes": vs("http://ehpad.example.fr/fhir/ValueSet/chutes"),
        "graves": vs("http://ehpad.example.fr/fhir/ValueSet/chutes-graves"),
        "autre": vs("http://autre.example.org/fhir/ValueSet/chutes"),
    }


def test_uri_exact(fhir, valuesets):
    """A uri matches the whole URL only."""
    assert ids(fhir, "ValueSet?url=http://ehpad.example.fr/fhir/ValueSet/chutes") == {valuesets["chutes"]}


def test_uri_below(fhir, valuesets):
    """``:below`` finds URLs starting with the value."""
    assert ids(fhir, "ValueSet?url:below=http://ehpad.example.fr/fhir/") == {valuesets["chutes"],
                                                                            valuesets["graves"]}


def test_uri_above(fhir, valuesets):
    """``:above`` finds URLs the value starts with."""
    assert ids(fhir, "ValueSet?url:above=http://ehpad.example.fr/fhir/ValueSet/chutes/2024") == {
        valuesets["chutes"]}


def test_uri_is_case_sensitive(fhir, valuesets):
    """A uri is compared exactly, not case-insensitively."""
    assert ids(fhir, "ValueSet?url=HTTP://EHPAD.EXAMPLE.FR/fhir/ValueSet/chutes") == set()


# --- composite -------------------------------------------------------------------------------------

@pytest.fixture()
def pressures(fhir: Any) -> dict[str, str]:
    def component(code: str, value: float) -> dict[str, Any]:
        return {"code": {"coding": [{"system": LOINC, "code": code}]}, "valueQuantity": qty(value, "mm[Hg]")}

    return {
        "sys130": observation(fhir, "8480-6", valueQuantity=qty(130, "mm[Hg]")),
        "sys95": observation(fhir, "8480-6", valueQuantity=qty(95, "mm[Hg]")),
        "dia130": observation(fhir, "8462-4", valueQuantity=qty(130, "mm[Hg]")),
        # panel: systolic 90, diastolic 140 -> the code and the value > 100 come from different components
        "panel_low": observation(fhir, "85354-9", component=[component("8480-6", 90), component("8462-4", 140)]),
        "panel_high": observation(fhir, "85354-9", component=[component("8480-6", 150), component("8462-4", 85)]),
    }


def test_composite_code_value_quantity(fhir, pressures):
    """code-value-quantity pairs the code with the value of the same Observation."""
    assert ids(fhir, "Observation?code-value-quantity=http://loinc.org|8480-6$gt100") == {pressures["sys130"]}
    assert ids(fhir, "Observation?code-value-quantity=8480-6$lt100") == {pressures["sys95"]}


def test_composite_component_same_component(fhir, pressures):
    """component-code-value-quantity matches a code and a value of the same component."""
    assert ids(fhir, "Observation?component-code-value-quantity=http://loinc.org|8480-6$gt100") == {
        pressures["panel_high"]}


def test_composite_components_are_not_mixed(fhir, pressures):
    """A code from one component and a value from another never match together."""
    assert pressures["panel_low"] not in ids(fhir, "Observation?component-code-value-quantity=8480-6$gt100")
    assert ids(fhir, "Observation?component-code-value-quantity=8462-4$gt100") == {pressures["panel_low"]}


def test_composite_or(fhir, pressures):
    """Comma-separated composite values are OR'ed."""
    assert ids(fhir, "Observation?code-value-quantity=8480-6$gt120,8462-4$gt120") == {pressures["sys130"],
                                                                                      pressures["dia130"]}


def test_composite_with_quantity_units(fhir, pressures):
    """The quantity part of a composite may carry system and unit."""
    q = "Observation?code-value-quantity=8480-6$95|http://unitsofmeasure.org|mm[Hg]"
    assert ids(fhir, q) == {pressures["sys95"]}
    assert ids(fhir, "Observation?code-value-quantity=8480-6$95|http://unitsofmeasure.org|mg") == set()


def test_composite_escaped_dollar(fhir):
    """``\\$`` is a literal dollar inside a composite part, not a separator."""
    oid = observation(fhir, "X9", valueString="Forfait $ hébergement")
    observation(fhir, "X9", valueString="Forfait dépendance")
    assert ids(fhir, "Observation?code-value-string=X9$forfait \\$") == {oid}


def test_composite_wrong_number_of_parts_is_400(fhir, pressures):
    """A composite value with the wrong number of ``$`` parts is rejected."""
    error(fhir, "Observation?code-value-quantity=8480-6")


# --- :missing on several types ---------------------------------------------------------------------

def test_missing_date(fhir, residents):
    """``birthdate:missing=true`` finds the resident without birth date; ``false`` the others."""
    assert ids(fhir, "Patient?birthdate:missing=true") == {residents["jerome"]}
    assert ids(fhir, "Patient?birthdate:missing=false") == {residents["helene"], residents["francois"],
                                                            residents["zoe"]}


def test_missing_token(fhir, residents):
    """``gender:missing=true`` finds residents without gender."""
    assert ids(fhir, "Patient?gender:missing=true") == {residents["jerome"]}


def test_missing_string(fhir, residents):
    """``address-city:missing`` distinguishes residents with and without a city."""
    assert ids(fhir, "Patient?address-city:missing=false") == {residents["helene"], residents["zoe"]}
    assert ids(fhir, "Patient?address-city:missing=true") == {residents["francois"], residents["jerome"]}


def test_missing_quantity(fhir, doses):
    """``value-quantity:missing=true`` finds the observation with a string value."""
    assert ids(fhir, "Observation?value-quantity:missing=true") == {doses["text"]}


def test_missing_composite(fhir, pressures):
    """``code-value-quantity:missing=true`` finds the panels (no top-level value)."""
    assert ids(fhir, "Observation?code-value-quantity:missing=true") == {pressures["panel_low"],
                                                                         pressures["panel_high"]}


def test_missing_uri(fhir, valuesets):
    """``url:missing=true`` finds the ValueSet without url only."""
    bare = fhir.create({"resourceType": "ValueSet", "status": "draft"})["id"]
    assert ids(fhir, "ValueSet?url:missing=true") == {bare}


def test_missing_number(fhir, risks):
    """``probability:missing=true`` finds the assessment without probability."""
    bare = fhir.create({"resourceType": "RiskAssessment", "status": "final",
                        "subject": {"reference": "Patient/x"}})["id"]
    assert ids(fhir, "RiskAssessment?probability:missing=true") == {bare}


def test_missing_takes_boolean(fhir, residents):
    """``:missing`` with a value other than true/false is rejected."""
    error(fhir, "Patient?gender:missing=oui")


def test_string_contains_treats_sql_wildcards_literally(fhir, residents):
    """``%`` and ``_`` in a ``:contains`` value are characters, not SQL wildcards."""
    assert ids(fhir, "Patient?name:contains=%") == set()
    assert ids(fhir, "Patient?name:contains=_") == set()
    pid = patient(fhir, "Yann", "Le_Goff")
    assert ids(fhir, "Patient?family:contains=e_g") == {pid}


def test_source(fhir):
    """``_source`` matches meta.source exactly."""
    pid = fhir.create({"resourceType": "Patient", "name": [{"family": "Roux"}],
                       "meta": {"source": "http://dpi.ehpad.example.fr#import-2024"}})["id"]
    fhir.create({"resourceType": "Patient", "name": [{"family": "Roux"}]})
    assert ids(fhir, "Patient?_source=http://dpi.ehpad.example.fr#import-2024") == {pid}
