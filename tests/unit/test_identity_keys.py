"""Check keys and formats of the French national identifiers (fhirserver.identity.keys).

Reference values come from the ANS / FR Core examples in ../shared (several of them carry wrong keys on purpose
or by accident, which these tests pin down), the CNAM reference validator
(github.com/assurance-maladie-digital/nir-validation), python-stdnum's documented examples and the demo generator.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from fhirserver import demo
from fhirserver.identity.keys import (
    Adeli,
    Finess,
    IdentifierError,
    InseeCode,
    Nir,
    Rpps,
    Siren,
    check_adeli,
    check_finess,
    check_idnps,
    check_insee_code,
    check_nia,
    check_nir,
    check_rpps,
    check_siren,
    check_siret,
    check_struct_idnat,
    idnps_from_adeli,
    idnps_from_rpps,
    luhn_check_digit,
    luhn_is_valid,
    nir_key,
    struct_idnat_from_finess,
    struct_idnat_from_siret,
)

SHARED = Path(__file__).resolve().parents[3] / "shared"
FR_EXAMPLES = SHARED / "fr" / "examples"
CDA_EXAMPLES = SHARED / "ans" / "cda-examples"

TDDUI_NIR = "147720425367411"  # TDDUI Patient INS example: key 11, the key of 1477204253674 is 30


def _error(func: Any, value: Any) -> IdentifierError:
    with pytest.raises(IdentifierError) as info:
        func(value)
    return info.value


# ----------------------------------------------------------------------------------------------------------
# Luhn
# ----------------------------------------------------------------------------------------------------------
def test_luhn_check_digit_and_validity() -> None:
    assert luhn_check_digit("7992739871") == 3  # the textbook example (ISO/IEC 7812-1)
    assert luhn_is_valid("79927398713")
    assert not luhn_is_valid("79927398710")
    assert luhn_check_digit("0") == 0
    for bad in ("", "7", "12a4", "１２３４", "12 34"):
        assert not luhn_is_valid(bad)
    with pytest.raises(ValueError):
        luhn_check_digit("12a")


def test_luhn_accepts_about_one_random_number_in_ten() -> None:
    rng = random.Random(4242)
    samples = ["".join(rng.choice("0123456789") for _ in range(rng.randint(2, 15))) for _ in range(2000)]
    samples += ["", "1", "12a", "٣٤٥", "00"]
    valid = [n for n in samples if luhn_is_valid(n)]
    assert 100 < len(valid) < 400  # about one in ten random numbers passes


# ----------------------------------------------------------------------------------------------------------
# NIR / NIA
# ----------------------------------------------------------------------------------------------------------
def test_tddui_example_nir_is_reported_with_a_wrong_key() -> None:
    assert nir_key(TDDUI_NIR[:13]) == 30
    error = _error(check_nir, TDDUI_NIR)
    assert isinstance(error, ValueError)
    assert (error.kind, error.problem, error.expected, error.value) == ("NIR", "key", "30", TDDUI_NIR)
    assert "NIR" in str(error) and "wrong check key 11" in str(error) and "expected 30" in str(error)
    assert TDDUI_NIR not in str(error)  # a NIR is sensitive: never echoed in messages that reach logs


def test_nir_values_of_the_shared_examples() -> None:
    """Every NIR found in ../shared/fr/examples: all three carry a wrong key (the ANS / FR Core examples are
    not real identities); the TCC CDA example is the valid one."""
    if not FR_EXAMPLES.is_dir():
        pytest.skip("shared FR examples not available")
    values = set(
        re.findall(r'"value"\s*:\s*"(\d{15})"', "".join(p.read_text() for p in FR_EXAMPLES.glob("*.json")))
    )
    expected_keys = {"147720425367411": "30", "123456789012244": "12", "180126978912536": "52"}
    assert values == set(expected_keys)
    for value, key in expected_keys.items():
        error = _error(check_nir, value)
        assert (error.problem, error.expected) == ("key", key)
    assert check_nir("279035121518989").key == 89  # TCC N1 / DLU example (test OID)


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        # TCC N1 example: woman born 03/1979 in Reims (51 215).
        ("279035121518989", ("female", "79", "03", 3, "51", "215", "189", 89, "metropolitan", "51215")),
        # CNAM validator specs: Corsica, 2A read as 19 and 2B as 18 for the key.
        ("284052A32102552", ("female", "84", "05", 5, "2A", "321", "025", 52, "metropolitan", "2A321")),
        ("284052B32102579", ("female", "84", "05", 5, "2B", "321", "025", 79, "metropolitan", "2B321")),
        # python-stdnum: Corsican NIRs and a birth abroad (99 + INSEE country code 126).
        ("253072B07300470", ("female", "53", "07", 7, "2B", "073", "004", 70, "metropolitan", "2B073")),
        ("253072A07300443", ("female", "53", "07", 7, "2A", "073", "004", 43, "metropolitan", "2A073")),
        ("295109912611193", ("female", "95", "10", 10, "99", "126", "111", 93, "abroad", "99126")),
        # Overseas: 3-digit department 974 (La Réunion) and 2-digit commune 11 (Saint-Denis).
        ("185079741112331", ("male", "85", "07", 7, "974", "11", "123", 31, "overseas", "97411")),
        # CNAM validator 2.0: months 20-99 when the month is unknown.
        ("284202B32102528", ("female", "84", "20", None, "2B", "321", "025", 28, "metropolitan", "2B321")),
        ("284992B32102531", ("female", "84", "99", None, "2B", "321", "025", 31, "metropolitan", "2B321")),
        # Corsica before 1976 used department 20.
        ("155022000401210", ("male", "55", "02", 2, "20", "004", "012", 10, "metropolitan", "20004")),
    ],
)
def test_valid_nirs_are_split_into_their_parts(value: str, parts: tuple[Any, ...]) -> None:
    nir = check_nir(value)
    assert isinstance(nir, Nir)
    assert nir.value == value and not nir.is_nia and nir.kind == "NIR"
    assert (
        nir.sex,
        nir.birth_year,
        nir.birth_month,
        nir.birth_month_number,
        nir.department,
        nir.commune,
        nir.order,
        nir.key,
        nir.birthplace_kind,
        nir.birthplace_code,
    ) == parts
    assert nir.born_abroad is (parts[8] == "abroad")
    assert nir_key(value[:13]) == nir.key


def test_nir_is_normalised_spaces_and_lower_case() -> None:
    assert check_nir(" 2 84 05 2a 321 025 52 ").value == "284052A32102552"
    assert check_nir("2\u00a084\u00a005 88 321 025 32").value == "284058832102532"


def test_nia_has_the_nir_layout_and_is_named_in_messages() -> None:
    nia = check_nia("295109912611193")
    assert nia.is_nia and nia.kind == "NIA" and nia.born_abroad
    assert check_nir("295109912611193", nia=True) == nia
    error = _error(check_nia, "295109912611199")
    assert error.kind == "NIA" and str(error).startswith("NIA:")


def test_nir_key_examples_and_corsica_rule() -> None:
    assert nir_key("1477204253674") == 30
    assert nir_key("284052A321025") == 52 == 97 - int("2840519321025") % 97
    assert nir_key("284052B321025") == 79 == 97 - int("2840518321025") % 97
    assert nir_key("2 84 05 2a 321 025") == 52
    for bad, problem in [
        ("147720425367", "length"),
        ("14772042536741", "length"),
        ("1477204A53674", "format"),
        ("284052C321025", "format"),
        ("28405A2321025", "format"),
    ]:
        assert _error(nir_key, bad).problem == problem, bad


def test_nir_key_is_in_range_and_makes_valid_nirs_on_random_values() -> None:
    rng = random.Random(97)
    for _ in range(2000):
        department = rng.choice(["2A", "2B", "99", "97", f"{rng.randint(1, 95):02d}"])
        body = f"{rng.randint(1, 2)}{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{department}{rng.randint(0, 999999):06d}"
        assert 1 <= nir_key(body) <= 97
        check_nir(f"{body}{nir_key(body):02d}")


@pytest.mark.parametrize(
    ("value", "problem", "fragment"),
    [
        ("1477204253674", "length", "the 2-digit key is missing"),
        ("1477204253674110", "length", "got 16"),
        ("", "length", "empty"),
        ("   ", "length", "empty"),
        ("14772O425367411", "format", "digits only"),  # letter O instead of zero
        ("284052C32102552", "format", "2A or 2B"),
        ("2A4052132102552", "format", "2A or 2B"),
        ("１４７７２０４２５３６７４３０", "format", "digits only"),  # full-width digits pass str.isdigit()
        ("347720425367411", "format", "sex digit 3"),
        ("747720425367411", "format", "provisional NNP"),
        ("847720425367411", "format", "provisional NNP"),
        ("547720425367411", "format", "migrant number"),
        ("047720425367411", "format", "sex digit 0"),
        ("147000425367411", "format", "birth month 00"),
        ("147130425367411", "format", "birth month 13"),
        ("147190425367411", "format", "birth month 19"),
        ("147120025367411", "format", "department 00"),
        ("279035121518900", "key", "expected 89"),
        ("279035121518998", "key", "expected 89"),
        ("284052A32102579", "key", "expected 52"),  # the 2B key on a 2A NIR
    ],
)
def test_invalid_nirs_are_refused_with_a_clear_message(value: str, problem: str, fragment: str) -> None:
    error = _error(check_nir, value)
    assert error.kind == "NIR" and error.problem == problem
    assert str(error).startswith("NIR:") and fragment in str(error)


def test_nir_must_be_a_string() -> None:
    error = _error(check_nir, 279035121518989)
    assert error.problem == "type" and "string" in str(error)


# ----------------------------------------------------------------------------------------------------------
# RPPS, ADELI, IDNPS
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["10002422979", "01234567897", "01234560801", "10797309118"])
def test_valid_rpps(value: str) -> None:
    assert check_rpps(value) == Rpps(value)


@pytest.mark.parametrize(
    ("value", "problem", "fragment"),
    [
        ("01234567893", "key", "expected 7"),  # ANS CDA N1 example author (8 + this RPPS), fictitious
        ("07505123456", "key", "wrong check digit 6"),
        ("0123456789", "length", "expected 11 digits, got 10"),
        ("012345678970", "length", "got 12"),
        ("0123456789A", "format", "digits only"),
    ],
)
def test_invalid_rpps(value: str, problem: str, fragment: str) -> None:
    error = _error(check_rpps, value)
    assert (error.kind, error.problem) == ("RPPS", problem)
    assert str(error).startswith(f"RPPS {value}") and fragment in str(error)


def test_adeli_format_only() -> None:
    assert check_adeli("751234567") == Adeli("751234567", "75", key_verified=False)
    assert check_adeli("2a1234567") == Adeli("2A1234567", "2A")
    for bad, problem in [
        ("75123456", "length"),
        ("7512345678", "length"),
        ("001234567", "format"),
        ("AB1234567", "format"),
        ("75123456X", "format"),
    ]:
        error = _error(check_adeli, bad)
        assert (error.kind, error.problem) == ("ADELI", problem), bad


def test_idnps_prefixes() -> None:
    rpps = check_idnps("801234567897")
    assert (rpps.prefix, rpps.kind, rpps.number) == ("8", "RPPS", "01234567897")
    assert check_idnps("810002422979").number == "10002422979"
    adeli = check_idnps("0751234567")
    assert (adeli.prefix, adeli.kind, adeli.number) == ("0", "ADELI", "751234567")
    # Registry-based ids are opaque ("ni construit ni interprété").
    for value, kind in [
        ("3480787529/194704032", "FINESS"),
        ("1123456", "cabinet ADELI"),
        ("4404833048", "SIREN"),
        ("573282932000074", "SIRET"),
        ("6123", "cabinet RPPS"),
    ]:
        assert check_idnps(value).kind == kind


def test_idnps_refusals_name_the_nested_identifier() -> None:
    error = _error(check_idnps, "801234567893")  # ANS CDA N1 example: fictitious RPPS with a wrong key
    assert (error.kind, error.problem, error.expected) == ("IDNPS", "key", "7")
    assert "prefix 8 = RPPS" in str(error) and "RPPS 01234567893" in str(error)
    assert _error(check_idnps, "80123456789").problem == "length"  # 8 + 10 digits
    assert _error(check_idnps, "8").problem == "length"
    assert _error(check_idnps, "0AB1234567").problem == "format"
    for prefix in "2979":
        error = _error(check_idnps, prefix + "01234567897")
        assert error.problem == "prefix" and f"unknown prefix {prefix}" in str(error)
    assert _error(check_idnps, "3é123").problem == "format"
    assert _error(check_idnps, "3480787529 / 1").problem == "format"  # inner spaces in an opaque id


def test_opaque_ids_keep_their_case_checked_ones_are_canonical() -> None:
    assert check_idnps(" 3480787529/usager-a1 ").value == "3480787529/usager-a1"
    assert check_idnps("02a1234567").value == "02A1234567"
    assert check_struct_idnat("ssiad-Lyon-01").value == "ssiad-Lyon-01"
    assert check_struct_idnat("12a0000014").value == "12A0000014"


def test_idnps_builders() -> None:
    assert idnps_from_rpps("01234567897") == "801234567897"
    assert idnps_from_adeli("751234567") == "0751234567"
    with pytest.raises(IdentifierError):
        idnps_from_rpps("01234567893")


# ----------------------------------------------------------------------------------------------------------
# FINESS, SIREN, SIRET, Struct_IdNat
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["750803447", "750512345", "690158811", "690399860", "970100228"])
def test_valid_finess(value: str) -> None:
    assert check_finess(value) == Finess(value, value[:2], key_verified=True)


def test_corsican_finess_is_checked_for_format_only() -> None:
    finess = check_finess("2a0000014")
    assert finess == Finess("2A0000014", "2A", key_verified=False)


@pytest.mark.parametrize(
    ("value", "problem", "fragment"),
    [
        ("480787529", "key", "expected 2"),  # FINESS part of the TDDUI local id 3480787529/194704032
        ("120459876", "key", "expected 0"),  # ANS CDA N1 example Struct_IdNat 1120459876
        ("137051849", "key", "expected 3"),
        ("01765376", "length", "got 8"),
        ("7508034470", "length", "got 10"),
        ("75080344X", "format", "7 digits"),
        ("2C0000014", "format", "department"),
        ("000000000", "format", "department 00"),
    ],
)
def test_invalid_finess(value: str, problem: str, fragment: str) -> None:
    error = _error(check_finess, value)
    assert (error.kind, error.problem) == ("FINESS", problem)
    assert str(error).startswith("FINESS") and fragment in str(error)


def test_siren() -> None:
    assert check_siren("404 833 048") == Siren("404833048")
    assert check_siren("732829320").value == "732829320"
    assert _error(check_siren, "404833047").problem == "key"
    assert _error(check_siren, "40483304").problem == "length"
    assert _error(check_siren, "40483304A").problem == "format"


def test_siret_luhn_and_la_poste_exception() -> None:
    siret = check_siret("732 829 320 00074")
    assert (siret.value, siret.siren, siret.nic, siret.la_poste) == (
        "73282932000074",
        "732829320",
        "00074",
        False,
    )
    error = _error(check_siret, "73282932000079")
    assert (error.kind, error.problem, error.expected) == ("SIRET", "key", "4")
    # La Poste: the head office keeps a Luhn key, the other establishments have a digit sum multiple of 5.
    assert check_siret("35600000000048").la_poste
    assert not luhn_is_valid("35600000049837")
    assert check_siret("35600000049837").la_poste
    assert "La Poste" in str(_error(check_siret, "35600000049838"))
    # A SIRET passing Luhn whose SIREN part does not.
    assert luhn_is_valid("40483304700008")
    error = _error(check_siret, "40483304700008")
    assert error.problem == "key" and "SIREN part" in str(error)
    assert _error(check_siret, "7328293200007").problem == "length"
    assert _error(check_siret, "7328293200007A").problem == "format"


def test_struct_idnat() -> None:
    finess = check_struct_idnat("1750803447")  # EHPAD of the ANS DLU example
    assert (finess.prefix, finess.kind, finess.number) == ("1", "FINESS", "750803447")
    assert check_struct_idnat("2404833048").kind == "SIREN"
    assert check_struct_idnat("373282932000074").kind == "SIRET"
    assert check_struct_idnat("0123").kind == "cabinet ADELI"
    assert check_struct_idnat("4123").kind == "RPPS rang"
    technical = check_struct_idnat("ABC-123")
    assert (technical.prefix, technical.kind, technical.number) == ("", "technical", "ABC-123")
    # ANS CDA N1 example values: a FINESS with a wrong key and one with 8 digits.
    error = _error(check_struct_idnat, "1120459876")
    assert (error.kind, error.problem) == ("Struct_IdNat", "key") and "prefix 1 = FINESS" in str(error)
    assert _error(check_struct_idnat, "101765376").problem == "length"
    # Prefix trap: 3 + FINESS is an IDNPS shape, not a Struct_IdNat (3 = SIRET here).
    assert "prefix 3 = SIRET" in str(_error(check_struct_idnat, "3750803447"))
    assert _error(check_struct_idnat, "1").problem == "length"
    assert struct_idnat_from_finess("750803447") == "1750803447"
    assert struct_idnat_from_siret("73282932000074") == "373282932000074"
    with pytest.raises(IdentifierError):
        struct_idnat_from_finess("480787529")


def test_identifiers_of_the_ans_cda_examples() -> None:
    """The ANS CDA examples carry fictitious IDNPS / Struct_IdNat values, some with wrong keys: pin which."""
    if not CDA_EXAMPLES.is_dir():
        pytest.skip("ANS CDA examples not available")
    text = "".join(p.read_text(encoding="utf-8") for p in CDA_EXAMPLES.glob("*.xml"))
    found: dict[str, set[str]] = {"1": set(), "2": set()}
    for match in re.finditer(r'<id\s+root="1\.2\.250\.1\.71\.4\.2\.([12])"\s+extension="([^"]+)"', text):
        found[match[1]].add(match[2])
    valid_idnps = {"801234560801", "801234567897", "810002422979"}
    assert found["1"] - valid_idnps == {"801234534765", "801234545872", "801234567893", "807505123456"}
    for value in valid_idnps & found["1"]:
        assert check_idnps(value).kind == "RPPS"
    for value in found["1"] - valid_idnps:
        assert _error(check_idnps, value).problem == "key", value
    assert {v for v in found["2"] if _ok(check_struct_idnat, v)} == {"1750512345", "1750803447"}


def _ok(func: Any, value: str) -> bool:
    try:
        func(value)
    except IdentifierError:
        return False
    return True


# ----------------------------------------------------------------------------------------------------------
# INSEE COG codes
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "kind", "department", "corsica"),
    [
        ("69383", "commune", "69", False),  # Lyon 3e arrondissement
        ("75056", "commune", "75", False),
        ("01006", "commune", "01", False),  # Ambléon, FR Core Patient example
        ("63220", "commune", "63", False),  # Mazoires, TDDUI Patient INS example
        ("2A004", "commune", "2A", True),
        ("2b033", "commune", "2B", True),
        ("20004", "commune", "20", True),  # Ajaccio before 1976
        ("97411", "overseas", "974", False),
        ("97611", "overseas", "976", False),
        ("97801", "overseas", "978", False),
        ("98735", "overseas", "987", False),
        ("98818", "overseas", "988", False),
        ("99100", "country", "99", False),
        ("99352", "country", "99", False),
    ],
)
def test_valid_insee_codes(value: str, kind: str, department: str, corsica: bool) -> None:
    code = check_insee_code(value)
    assert code == InseeCode(value.upper(), kind, department)  # type: ignore[arg-type]
    assert code.is_corsica is corsica


@pytest.mark.parametrize(
    ("value", "problem", "fragment"),
    [
        ("6938", "length", "got 4"),
        ("693830", "length", "got 6"),
        ("2C004", "format", "2A or 2B"),
        ("ABCDE", "format", "2A or 2B"),
        ("00123", "format", "department 00"),
        ("96001", "format", "department 96"),
        ("69000", "format", "commune number 000"),
        ("97011", "format", "971-978"),
        ("97911", "format", "971-978"),
        ("98011", "format", "984-989"),
        ("99000", "format", "100 to 599"),
        ("99600", "format", "100 to 599"),
    ],
)
def test_invalid_insee_codes(value: str, problem: str, fragment: str) -> None:
    error = _error(check_insee_code, value)
    assert (error.kind, error.problem) == ("INSEE code", problem)
    assert fragment in str(error)


def test_every_demo_commune_is_a_valid_insee_code() -> None:
    for commune in demo.BIRTH_COMMUNES + demo.CORSICA_COMMUNES:
        assert check_insee_code(commune.insee).kind == "commune"


# ----------------------------------------------------------------------------------------------------------
# Demo data set
# ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_bundle() -> dict[str, Any]:
    return demo.build_demo_bundle(usagers=40)


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def test_demo_identifiers_pass_the_checks(demo_bundle: dict[str, Any]) -> None:
    checked = 0
    for resource in _resources(demo_bundle, "Organization") + _resources(demo_bundle, "Practitioner"):
        for identifier in resource.get("identifier", []):
            system, value = identifier["system"], identifier["value"]
            if system == "https://finess.esante.gouv.fr":
                assert check_finess(value).key_verified
            elif system == "https://rpps.esante.gouv.fr":
                assert check_rpps(value).value == value
            elif system == "urn:oid:1.2.250.1.71.4.2.1":
                assert check_idnps(value).kind == "RPPS"
            elif system == "urn:oid:1.2.250.1.71.4.2.2":
                assert check_struct_idnat(value).kind == "FINESS"
            else:
                continue
            checked += 1
    assert checked >= 10


def test_demo_nirs_agree_with_the_patient_traits(demo_bundle: dict[str, Any]) -> None:
    """The demo NIRs pass check_nir, and sex, birth year / month and birth place match the INS traits."""
    seen = 0
    for patient in _resources(demo_bundle, "Patient"):
        nirs = [
            i["value"] for i in patient.get("identifier", []) if i["system"] == "urn:oid:1.2.250.1.213.1.4.10"
        ]
        if not nirs:
            continue
        nir = check_nir(nirs[0])
        assert int(nir.value[13:]) == nir.key == nir_key(nir.value[:13])
        assert nir.sex == patient["gender"]
        assert nir.birth_year == patient["birthDate"][2:4]
        assert nir.birth_month_number == int(patient["birthDate"][5:7])
        birth_place = next(e for e in patient["extension"] if e["url"].endswith("patient-birthPlace"))
        insee = birth_place["valueAddress"]["extension"][0]["valueCoding"]["code"]
        assert nir.birthplace_code == check_insee_code(insee).value
        seen += 1
    assert seen >= 10


def test_tddui_example_file_nir_is_flagged() -> None:
    path = FR_EXAMPLES / "Patient-tddui-patient-ins-example.tddui-2.2.0-ballot.json"
    if not path.is_file():
        pytest.skip("TDDUI example not available")
    patient = json.loads(path.read_text(encoding="utf-8"))
    value = next(i["value"] for i in patient["identifier"] if i["system"] == "urn:oid:1.2.250.1.213.1.4.8")
    assert value == TDDUI_NIR
    assert _error(check_nir, value).expected == "30"
    insee = patient["extension"][1]["valueAddress"]["extension"][0]["valueCoding"]["code"]
    assert check_insee_code(insee).value == "63220"
