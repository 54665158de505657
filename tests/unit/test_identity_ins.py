"""INS assigning authorities and FHIR Identifiers (fhirserver.identity.ins)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirserver import demo
from fhirserver.identity.ins import (
    CS_V2_0203,
    INS_SYSTEMS,
    check_ins_identifier,
    ins_identifier,
    ins_system,
    ins_system_info,
    is_ins_system,
)
from fhirserver.identity.keys import IdentifierError

FR_EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fr" / "examples"
VALID_NIR = "279035121518989"  # TCC N1 example (fictitious test patient)
VALID_NIA = "295109912611193"  # born abroad, NIR layout


def test_assigning_authorities() -> None:
    table = {(s.kind, s.environment): (s.system, s.type_code, s.default_use) for s in INS_SYSTEMS}
    assert table == {
        ("NIR", "production"): ("urn:oid:1.2.250.1.213.1.4.8", "INS-NIR", "official"),
        ("NIA", "production"): ("urn:oid:1.2.250.1.213.1.4.9", "INS-NIA", "temp"),
        ("NIR", "test"): ("urn:oid:1.2.250.1.213.1.4.10", "INS-NIR-TEST", "official"),
        ("NIR", "demo"): ("urn:oid:1.2.250.1.213.1.4.11", "INS-NIR-DEMO", "official"),
    }
    assert ins_system().oid == "1.2.250.1.213.1.4.8"
    assert ins_system("NIA", "production").oid == "1.2.250.1.213.1.4.9"
    assert ins_system("NIR", "test").oid == "1.2.250.1.213.1.4.10"
    assert ins_system("NIR", "demo").oid == "1.2.250.1.213.1.4.11"


def test_no_test_or_demo_authority_for_an_nia() -> None:
    for environment in ("test", "demo"):
        with pytest.raises(IdentifierError, match="no .* assigning authority for an NIA") as info:
            ins_system("NIA", environment)
        assert info.value.problem == "unsupported"


def test_unknown_environment_or_kind() -> None:
    with pytest.raises(ValueError, match="environment"):
        ins_system("NIR", "staging")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        ins_system("NSS", "production")  # type: ignore[arg-type]


def test_ins_identifier_production_nir() -> None:
    identifier = ins_identifier("2 79 03 51 215 189 89")
    assert identifier == {
        "use": "official",
        "type": {"coding": [{"system": CS_V2_0203, "code": "INS-NIR", "display": "NIR définitif"}]},
        "system": "urn:oid:1.2.250.1.213.1.4.8",
        "value": VALID_NIR,
    }
    assert list(identifier) == ["use", "type", "system", "value"]  # FHIR definition order
    assert ins_identifier(VALID_NIR, use="old")["use"] == "old"  # deactivated INS-NIR


def test_ins_identifier_nia_test_demo() -> None:
    nia = ins_identifier(VALID_NIA, "NIA")
    assert (nia["use"], nia["system"], nia["type"]["coding"][0]["code"]) == (
        "temp",
        "urn:oid:1.2.250.1.213.1.4.9",
        "INS-NIA",
    )
    test = ins_identifier(VALID_NIR, "NIR", "test")
    assert (test["use"], test["system"], test["type"]["coding"][0]["code"]) == (
        "official",
        "urn:oid:1.2.250.1.213.1.4.10",
        "INS-NIR-TEST",
    )
    demo_id = ins_identifier(VALID_NIR, environment="demo")
    assert (demo_id["system"], demo_id["type"]["coding"][0]["display"]) == (
        "urn:oid:1.2.250.1.213.1.4.11",
        "NIR DEMO",
    )


@pytest.mark.parametrize(
    ("kind", "environment", "use"),
    [
        ("NIR", "production", "temp"),
        ("NIA", "production", "official"),
        ("NIR", "test", "old"),
        ("NIR", "demo", "usual"),
    ],
)
def test_ins_identifier_refuses_uses_outside_the_slice(kind: Any, environment: Any, use: Any) -> None:
    matricule = VALID_NIA if kind == "NIA" else VALID_NIR
    with pytest.raises(IdentifierError, match="identifier.use") as info:
        ins_identifier(matricule, kind, environment, use=use)
    assert info.value.problem == "unsupported"


def test_ins_identifier_validates_the_matricule() -> None:
    with pytest.raises(IdentifierError, match="wrong check key 11, expected 30") as info:
        ins_identifier("147720425367411")  # TDDUI Patient INS example
    assert info.value.kind == "NIR"
    with pytest.raises(IdentifierError, match="^NIA: wrong check key"):
        ins_identifier("295109912611199", "NIA")
    with pytest.raises(IdentifierError, match="the 2-digit key is missing"):
        ins_identifier("2790351215189", environment="test")


def test_is_ins_system() -> None:
    for oid in ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"):
        assert is_ins_system(f"urn:oid:{oid}")
        assert is_ins_system(oid)  # CDA id/@root form
    for other in (
        "urn:oid:1.2.250.1.213.1.4.2",  # INS-C (legacy, calculated)
        "urn:oid:1.2.250.1.213.1.4.13",  # NSS NIR (billing)
        "urn:oid:1.2.250.1.213.1.4.14",  # NSS NIA
        "urn:oid:1.2.250.1.213.1.4.1",
        "urn:oid:1.2.250.1.213.1.4.80",
        "urn:oid:1.2.250.1.71.4.2.1",
        "https://identifiant-medicosocial-localusager.esante.gouv.fr",
        "",
        None,
        8,
    ):
        assert not is_ins_system(other), other
        assert ins_system_info(other) is None


@pytest.mark.parametrize(
    ("kind", "environment", "matricule"),
    [
        ("NIR", "production", VALID_NIR),
        ("NIA", "production", VALID_NIA),
        ("NIR", "test", VALID_NIR),
        ("NIR", "demo", VALID_NIR),
    ],
)
def test_check_ins_identifier_round_trip(kind: Any, environment: Any, matricule: str) -> None:
    nir = check_ins_identifier(ins_identifier(matricule, kind, environment))
    assert nir.value == matricule and nir.is_nia is (kind == "NIA")


def _nir_identifier(**changes: Any) -> dict[str, Any]:
    identifier = ins_identifier(VALID_NIR)
    identifier.update(changes)
    return {k: v for k, v in identifier.items() if v is not None}


@pytest.mark.parametrize(
    ("identifier", "fragment"),
    [
        (_nir_identifier(system="1.2.250.1.213.1.4.8"), "must be written urn:oid:1.2.250.1.213.1.4.8"),
        (_nir_identifier(system="urn:oid:1.2.250.1.213.1.4.13"), "not an INS system"),
        (_nir_identifier(use=None), "use must be official or old, got None"),
        (_nir_identifier(use="temp"), "use must be official or old"),
        (_nir_identifier(type=None), "type must contain"),
        (_nir_identifier(type={"coding": [{"system": CS_V2_0203, "code": "INS-NIA"}]}), "type must contain"),
        (_nir_identifier(type={"text": "INS-NIR"}), "type must contain"),
        (_nir_identifier(value="2 79 03 51 215 189 89"), "without spaces"),
        (_nir_identifier(value=279035121518989), "must be a string"),
        (_nir_identifier(value="279035121518988"), "wrong check key 88, expected 89"),
        (_nir_identifier(value="779035121518989"), "provisional NNP"),
    ],
)
def test_check_ins_identifier_refusals(identifier: dict[str, Any], fragment: str) -> None:
    with pytest.raises(IdentifierError, match=fragment):
        check_ins_identifier(identifier)


def test_shared_example_ins_identifiers() -> None:
    """The INS identifiers of the FR examples have the right shape but all carry a wrong key."""
    if not FR_EXAMPLES.is_dir():
        pytest.skip("shared FR examples not available")
    found = {}
    for path in sorted(FR_EXAMPLES.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        for candidate in [resource] + resource.get("contained", []):
            for identifier in candidate.get("identifier", []):
                if is_ins_system(identifier.get("system")):
                    found[identifier["value"]] = identifier
    assert set(found) == {"147720425367411", "123456789012244", "180126978912536"}
    for value, expected in (("147720425367411", "30"), ("123456789012244", "12")):
        with pytest.raises(IdentifierError) as info:
            check_ins_identifier(found[value])
        assert (info.value.problem, info.value.expected) == ("key", expected)
    # The PDSm sourcePatientInfo INS-NIR-TEST identifier also lacks the use FR Core requires (1..1).
    pdsm = found["180126978912536"]
    with pytest.raises(IdentifierError, match="use must be official, got None"):
        check_ins_identifier(pdsm)
    with pytest.raises(IdentifierError, match="expected 52"):
        check_ins_identifier({**pdsm, "use": "official"})
    # Apart from the key, the TDDUI identifier has exactly the shape ins_identifier builds.
    tddui = found["147720425367411"]
    built = ins_identifier("147720425367430")
    assert {k: v for k, v in tddui.items() if k != "value"} == {
        "use": built["use"],
        "type": {"coding": [{k: v for k, v in built["type"]["coding"][0].items() if k != "display"}]},
        "system": built["system"],
    }


def test_demo_ins_identifiers_use_the_test_authority_only() -> None:
    bundle = demo.build_demo_bundle(usagers=20)
    count = 0
    for entry in bundle["entry"]:
        for identifier in entry["resource"].get("identifier", []):
            info = ins_system_info(identifier.get("system"))
            if info is None:
                continue
            assert info.environment == "test"
            assert check_ins_identifier(identifier).value == identifier["value"]
            count += 1
    assert count >= 5
