"""The INSi client interface: the simulator's answers (00 / 01 / 02), its data, and the seams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirserver.errors import Invalid, NotSupported
from fhirserver.identity.insi import SimulatorInsiClient, SoapInsiClient, build_insi_client, traits_agree
from fhirserver.identity.keys import check_insee_code, check_nir
from fhirserver.identity.traits import InsTraits
from fhirserver.settings import CONFIG_DIR, load_settings

DATA = CONFIG_DIR / "insi-simulator.json"


@pytest.fixture(scope="module")
def insi() -> SimulatorInsiClient:
    return SimulatorInsiClient(DATA)


def test_simulator_data_is_realistic() -> None:
    rows = json.loads(Path(DATA).read_text(encoding="utf-8"))["identities"]
    kinds = {r["kind"] for r in rows}
    places = [check_insee_code(r["birthPlace"]) for r in rows]
    for row in rows:
        nir = check_nir(row["matricule"], nia=row["kind"] == "NIA")  # valid key
        assert nir.birth_year == row["birthDate"][2:4] and nir.birth_month == row["birthDate"][5:7]
        assert nir.sex == row["sex"] and nir.birthplace_code == row["birthPlace"]
        assert row["givenList"].split(" ")[0] == row["firstGiven"]
    assert kinds == {"NIR", "NIA"}
    assert {p.kind for p in places} >= {"commune", "country"}
    assert any(p.is_corsica and p.department == "2A" for p in places)
    assert any(p.is_corsica and p.department == "2B" for p in places)
    assert any(len(r["givenList"].split()) >= 3 for r in rows)
    assert any(r["birthFamily"] != r["birthFamily"].encode("ascii", "ignore").decode() for r in rows)
    homonyms = {(r["birthFamily"], r["firstGiven"], r["birthDate"]) for r in rows}
    assert len(homonyms) < len(rows)


def test_one_identity(insi: SimulatorInsiClient) -> None:
    answer = insi.search_by_traits(InsTraits(birth_family="de la fontaine", first_given="HELENE", sex="female",
                                             birth_date="1938-05-12"))
    assert answer.code == "00" and answer.label == "une identité trouvée"
    assert answer.identities[0].matricule == "238056912300133"
    assert answer.identities[0].traits.given_list == "Hélène Marie Thérèse"


def test_second_given_name_and_punctuation(insi: SimulatorInsiClient) -> None:
    answer = insi.search_by_traits(InsTraits(birth_family="N DIAYE FAURE", first_given="Emile", sex="male",
                                             birth_date="1941-01-07"))
    assert answer.code == "00"


def test_no_identity(insi: SimulatorInsiClient) -> None:
    answer = insi.search_by_traits(InsTraits(birth_family="Martin", first_given="Jean", sex="male",
                                             birth_date="1945-02-21"))
    assert (answer.code, answer.identities) == ("01", ())


def test_several_identities_then_birth_place(insi: SimulatorInsiClient) -> None:
    traits = InsTraits(birth_family="Moreau", first_given="Jeanne", sex="female", birth_date="1935-11-02")
    answer = insi.search_by_traits(traits)
    assert answer.code == "02" and len(answer.identities) == 2
    narrowed = insi.search_by_traits(InsTraits(**{**traits.__dict__, "birth_place": "01053"}))
    assert narrowed.code == "00" and narrowed.identities[0].matricule == "235110105303111"


def test_missing_traits_are_refused(insi: SimulatorInsiClient) -> None:
    with pytest.raises(Invalid, match="birth date"):
        insi.search_by_traits(InsTraits(birth_family="Moreau", first_given="Jeanne", sex="female"))


def test_verify(insi: SimulatorInsiClient) -> None:
    traits = InsTraits(birth_family="SANTONI", first_given="Pierre-Jean", sex="male", birth_date="1942-09-30",
                       birth_place="2A004")
    assert insi.verify("142092A00401705", traits).code == "00"
    wrong = insi.verify("142092A00401705", InsTraits(**{**traits.__dict__, "birth_date": "1942-09-29"}))
    assert wrong.code == "01" and "birth_date" in wrong.message
    assert insi.verify("142092A00401706", traits).code == "01"


def test_traits_agree() -> None:
    ref = InsTraits("LEFÈVRE", "Éloïse", "Éloïse Amélie", "female", "1952-04-19", "01283")
    assert traits_agree(InsTraits("Lefevre", "eloise", None, "female", "1952-04-19", None), ref) == []
    assert traits_agree(InsTraits("Lefevre", "Eloise", "Eloise", "female", "1952-04-19", "01284"), ref) == [
        "given_list", "birth_place"]


def test_seams(insi: SimulatorInsiClient) -> None:
    with pytest.raises(NotSupported, match="carte Vitale"):
        insi.read_vitale_card()
    soap = SoapInsiClient("https://insi.example/ws")
    with pytest.raises(NotSupported) as caught:
        soap.search_by_traits(InsTraits())
    assert "CNDA" in caught.value.message and "IGC Santé" in caught.value.message
    assert "https://insi.example/ws" in caught.value.message
    with pytest.raises(NotSupported):
        soap.verify("238056912300133", InsTraits())


def test_build_insi_client() -> None:
    assert isinstance(build_insi_client(load_settings(database_url="sqlite://")), SimulatorInsiClient)
    soap = build_insi_client(load_settings(database_url="sqlite://", identity_insi_client="soap",
                                           identity_insi_url="https://i"))
    assert isinstance(soap, SoapInsiClient) and soap.url == "https://i"


def test_simulator_refused_in_production() -> None:
    """The simulator's fictitious identities must never land under the production INS authority."""
    from fhirserver.settings import SettingsError

    with pytest.raises(SettingsError, match="cannot be used with ins_environment"):
        build_insi_client(load_settings(database_url="sqlite://", identity_ins_environment="production"))
    prod = build_insi_client(load_settings(database_url="sqlite://", identity_ins_environment="production",
                                           identity_insi_client="soap"))
    assert isinstance(prod, SoapInsiClient)
