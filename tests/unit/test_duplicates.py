"""Potential-duplicate scoring on the INS traits (fhirserver.identity.duplicates)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhirserver.identity import duplicates as dup
from fhirserver.identity.ins import ins_identifier
from fhirserver.identity.keys import nir_key


def nir(first13: str) -> str:
    return f"{first13}{nir_key(first13):02d}"


def patient(family: str | None, given: str | None, birth: str | None = None, sex: str | None = None, *,
            insee: str | None = None, given_list: str | None = None, usual: str | None = None,
            ins: str | None = None, ipp: str | None = None, city: str | None = None) -> dict[str, Any]:
    name: dict[str, Any] = {"use": "official"}
    if family:
        name["family"] = family
    if given:
        name["given"] = [given]
    if given_list:
        name["extension"] = [{"url": dup.EXT_BIRTH_GIVEN_LIST, "valueString": given_list}]
    out: dict[str, Any] = {"resourceType": "Patient", "name": [name]}
    if usual:
        out["name"].append({"use": "usual", "family": usual})
    if birth:
        out["birthDate"] = birth
    if sex:
        out["gender"] = sex
    if insee or city:
        address: dict[str, Any] = {}
        if insee:
            address["extension"] = [{"url": dup.EXT_INSEE_CODE, "valueCoding": {
                "system": "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM", "code": insee}}]
        if city:
            address["city"] = city
        out["extension"] = [{"url": dup.EXT_BIRTH_PLACE, "valueAddress": address}]
    identifiers = []
    if ins:
        identifiers.append(ins_identifier(ins, environment="test"))
    if ipp:
        identifiers.append({"system": "urn:oid:1.2.250.1.999.1.1", "value": ipp})
    if identifiers:
        out["identifier"] = identifiers
    return out


def outcome(a: dup.Assessment, trait: str) -> str:
    return next(r.outcome for r in a.results if r.trait == trait)


def detail(a: dup.Assessment, trait: str) -> str:
    return next(r.detail for r in a.results if r.trait == trait)


JEANNE = patient("MARTIN", "Jeanne", "1938-07-14", "female", insee="51454", given_list="Jeanne Marie Louise")


# --- normalisation and similarity --------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "norm"), [
    ("Marie-Thérèse", "marie therese"),
    ("MARIE  THERESE", "marie therese"),
    ("d'Aubigné", "d aubigne"),
    ("LŒUILLET", "loeuillet"),
    ("  Le Gall ", "le gall"),
])
def test_normalize_name(raw: str, norm: str) -> None:
    assert dup.normalize_name(raw) == norm


@pytest.mark.parametrize(("a", "b", "distance"), [
    ("martin", "martin", 0), ("martin", "mratin", 1), ("dupont", "dupond", 1), ("martin", "martins", 1),
    ("bernard", "bernadr", 1), ("petit", "durand", 6), ("", "abc", 3),
])
def test_osa_distance(a: str, b: str, distance: int) -> None:
    assert dup.osa_distance(a, b) == distance
    assert dup.osa_distance(b, a) == distance
    bounded = dup.osa_distance(a, b, limit=1)  # stops early above the limit
    assert bounded == distance if distance <= 1 else bounded > 1


def test_name_similarity_kinds() -> None:
    assert dup.name_similarity("Marie-Thérèse", "MARIE THERESE") == (
        1.0, "identical once accents, case and separators are ignored")
    assert dup.name_similarity("LE GALL", "LEGALL")[0] == 1.0
    assert dup.name_similarity("Marie-Thérèse", "Marie") == (dup.CLOSE_NAME_CREDIT,
                                                             "compound name: one contains the other")
    assert dup.name_similarity("DUPONT", "DUPOND")[1].startswith("one-character difference")
    assert dup.name_similarity("LEE", "LEO")[0] == 0.0  # too short for a typo to be told from another name
    assert dup.name_similarity("PETIT", "DURAND") == (0.0, "different")


# --- pairs -------------------------------------------------------------------------------------------

def test_identical_records_with_accent_and_case_differences_are_probable() -> None:
    other = patient("Martin", "JEANNE", "1938-07-14", "female", insee="51454", given_list="JEANNE MARIE LOUISE")
    a = dup.compare(JEANNE, other)
    assert a.score == 100 and a.grade == "probable"
    assert {r.trait for r in a.matched} == set(dup.WEIGHTS)
    assert not a.differing


def test_compound_given_name_written_with_spaces() -> None:
    a = dup.compare(patient("BERNARD", "Marie-Thérèse", "1941-02-03", "female"),
                    patient("BERNARD", "MARIE THERESE", "1941-02-03", "female"))
    assert outcome(a, "first-given-name") == "match"
    # birth place unknown on both: half credit; without the FR Core extension the list of given names is
    # read from ``given``
    assert outcome(a, "given-names") == "match"
    assert a.score == 95 and a.grade == "probable"
    assert outcome(a, "birth-place") == "missing"


def test_one_character_typo_in_the_family_name() -> None:
    a = dup.compare(patient("DUPONT", "Jean", "1947-04-03", "male", insee="63220"),
                    patient("DUPOND", "Jean", "1947-04-03", "male", insee="63220"))
    assert outcome(a, "birth-family-name") == "near"
    assert "typing error" in detail(a, "birth-family-name")
    assert dup.POSSIBLE <= a.score < 100


def test_inverted_day_and_month() -> None:
    a = dup.compare(patient("ROUSSEAU", "Lucien", "1952-03-11", "male", insee="75056"),
                    patient("ROUSSEAU", "Lucien", "1952-11-03", "male", insee="75056"))
    assert outcome(a, "birth-date") == "near"
    assert detail(a, "birth-date") == "day and month inverted"
    assert a.score == round(100 - 25 * (1 - dup.SWAPPED_DATE_CREDIT)) == 95
    assert a.grade == "probable"


def test_one_digit_error_in_the_birth_year() -> None:
    a = dup.compare(patient("LEROY", "Paulette", "1934-05-21", "female"),
                    patient("LEROY", "Paulette", "1943-05-21", "female"))
    assert detail(a, "birth-date").startswith("one-digit difference")  # 34 → 43 is one transposition


def test_swapped_family_and_given_names() -> None:
    a = dup.compare(patient("THOMAS", "Vincent", "1960-09-30", "male"),
                    patient("VINCENT", "Thomas", "1960-09-30", "male"))
    assert outcome(a, "birth-family-name") == outcome(a, "first-given-name") == "near"
    assert "wrong way round" in detail(a, "birth-family-name")
    assert a.grade == "possible"


def test_birth_name_entered_as_the_used_name_of_the_other_record() -> None:
    married = patient("MOREAU", "Simone", "1930-12-01", "female", usual="GIRARD")
    entered_with_married_name = patient("GIRARD", "Simone", "1930-12-01", "female")
    a = dup.compare(married, entered_with_married_name)
    assert outcome(a, "birth-family-name") == "near"
    assert "used name" in detail(a, "birth-family-name")
    assert a.score >= dup.POSSIBLE


def test_homonyms_with_different_ins_are_certainly_not_duplicates() -> None:
    a = dup.compare(patient("MARTIN", "Jeanne", "1938-07-14", "female", ins=nir("2380751454012")),
                    patient("MARTIN", "Jeanne", "1938-07-14", "female", ins=nir("2380751454013")))
    assert a.score == 0 and a.grade == "certainly-not"
    assert a.results[0].trait == "ins" and a.results[0].outcome == "differ"
    assert "homonymes" in a.results[0].detail


def test_same_ins_is_certain_even_when_traits_differ() -> None:
    matricule = nir("2380751454012")
    a = dup.compare(patient("MARTIN", "Jeanne", "1938-07-14", "female", ins=matricule),
                    patient("MARTIN-DURAND", "Jeannette", "1938-07-14", "female", ins=matricule))
    assert a.score == 100 and a.grade == "certain"
    assert a.results[0].trait == "ins"
    assert outcome(a, "first-given-name") == "differ"  # the referent sees which trait to correct


def test_old_ins_is_not_used() -> None:
    pa = patient("MARTIN", "Jeanne", "1938-07-14", "female", ins=nir("2380751454012"))
    pb = patient("MARTIN", "Jeanne", "1938-07-14", "female", ins=nir("2380751454013"))
    pb["identifier"][0]["use"] = "old"
    assert dup.compare(pa, pb).grade != "certainly-not"


def test_different_sex_caps_the_score() -> None:
    a = dup.compare(patient("PETIT", "Camille", "1975-06-02", "female", insee="69123", given_list="Camille"),
                    patient("PETIT", "Camille", "1975-06-02", "male", insee="69123", given_list="Camille"))
    assert outcome(a, "sex") == "differ"
    assert a.score == dup.SEX_CONFLICT_CAP and a.grade == "possible"
    assert any("different sex" in n for n in a.notes)


def test_twins_are_not_flagged() -> None:
    a = dup.compare(patient("GARNIER", "Louis", "1950-01-20", "male", insee="35238"),
                    patient("GARNIER", "Henri", "1950-01-20", "male", insee="35238"))
    assert outcome(a, "first-given-name") == "differ"
    assert a.score <= dup.GIVEN_CONFLICT_CAP < dup.POSSIBLE
    assert a.grade == "unlikely"


def test_first_given_name_found_in_the_other_list() -> None:
    a = dup.compare(patient("FAURE", "Marie", "1944-08-08", "female", given_list="Marie Odette"),
                    patient("FAURE", "Odette", "1944-08-08", "female", given_list="Marie Odette"))
    assert outcome(a, "first-given-name") == "near"
    assert outcome(a, "given-names") == "match"


def test_different_people() -> None:
    a = dup.compare(JEANNE, patient("LAMBERT", "Georges", "1961-10-05", "male", insee="13055"))
    assert a.score < 20 and a.grade == "unlikely"
    assert {r.trait for r in a.differing} == set(dup.WEIGHTS)


def test_same_local_identifier() -> None:
    a = dup.compare(patient("ROY", "Ana", "1990-01-01", "female", ipp="000123"),
                    patient("ROI", "Anna", None, "female", ipp="000123"))
    assert a.score == dup.SAME_IDENTIFIER_FLOOR and a.grade == "probable"
    assert a.results[0].trait == "identifier"


def test_birth_place_city_without_insee_code() -> None:
    a = dup.compare(patient("BLANC", "Rose", "1933-03-03", "female", city="Saint-Étienne"),
                    patient("BLANC", "Rose", "1933-03-03", "female", city="ST ETIENNE"))
    assert outcome(a, "birth-place") == "differ"  # abbreviations are not guessed
    b = dup.compare(patient("BLANC", "Rose", "1933-03-03", "female", city="Saint-Étienne"),
                    patient("BLANC", "Rose", "1933-03-03", "female", city="SAINT ETIENNE"))
    assert outcome(b, "birth-place") == "near"


def test_partial_and_missing_data() -> None:
    a = dup.compare(patient("NOEL", "Yvette", "1929", "female"), patient("NOËL", "Yvette", "1929-12-25", "female"))
    assert outcome(a, "birth-date") == "near"
    b = dup.compare(patient("NOEL", "Yvette"), patient("NOEL", "Yvette"))
    assert outcome(b, "birth-date") == outcome(b, "sex") == "missing"
    assert b.score < dup.PROBABLE


# --- blocking ----------------------------------------------------------------------------------------

def test_swapped_date() -> None:
    assert dup.swapped_date("1947-04-03") == "1947-03-04"
    assert dup.swapped_date("1947-04-13") is None  # no 13th month
    assert dup.swapped_date("1947-04-04") is None  # the same date
    assert dup.swapped_date("1947") is None


def test_family_key_is_a_prefix_of_the_indexed_value() -> None:
    assert dup.family_key("DUPONT-MARTIN") == "dupont"
    assert dup.family_key("Le Gall") == "le gall"
    assert dup.family_key("Lefèvre") == "lefevre"


def test_candidate_searches() -> None:
    p = patient("Dupont-Martin", "Jean", "1947-04-03", "male", usual="DURAND", ins=nir("1470463220123"))
    searches = dup.candidate_searches(p)
    assert [("birthdate", "1947-04-03")] in searches
    assert [("birthdate", "1947-03-04")] in searches
    assert [("family", "dupont"), ("birthdate", "1947")] in searches
    assert [("family", "durand"), ("birthdate", "1947")] in searches
    assert [("family", "dupont"), ("given", "jean")] in searches
    assert [("family", "jean"), ("given", "dupont")] in searches
    assert [("identifier", f"urn:oid:1.2.250.1.213.1.4.10|{nir('1470463220123')}")] in searches


def test_block_keys_put_swapped_dates_and_swapped_names_together() -> None:
    one = dup.block_keys((date(1947, 4, 3), date(1947, 4, 4)), ["dupont"], ["jean"])
    two = dup.block_keys((date(1947, 3, 4), date(1947, 3, 5)), ["jean"], ["dupont"])
    assert ("date", "1947-03-04", "1947-04-03") in one & two
    assert ("names", "dupont", "jean") in one & two
    assert ("family-year", "dupont", "1947") in one
    year_only = dup.block_keys((date(1947, 1, 1), date(1948, 1, 1)), ["dupont"], [])
    assert year_only == {("family-year", "dupont", "1947")}
