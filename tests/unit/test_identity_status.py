"""RNIV identity statuses, transitions and FR Core 2.1 / 2.2 wire form (fhirserver.identity.status)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirserver import demo
from fhirserver.identity.status import (
    ALLOWED_TRANSITIONS,
    CS_IDENTITY_STATUS,
    CS_IDENTITY_STATUS_COMMENT,
    CS_V2_0445,
    EXT_IDENTITY_RELIABILITY,
    IdentityStatus,
    IdentityStatusError,
    after_document_check,
    after_insi_retrieval,
    can_transition,
    check_transition,
    downgrade_on_trait_change,
    from_extension,
    from_patient,
    normalize_version,
    status_coding,
    status_from_checks,
    status_from_coding,
    to_extension,
)

PROV, RECUP, VALI, QUAL = (
    IdentityStatus.PROVISIONAL,
    IdentityStatus.RECOVERED,
    IdentityStatus.VALIDATED,
    IdentityStatus.QUALIFIED,
)
FR_EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fr" / "examples"


def _ext(system: str | None, code: str, *comments: str) -> dict[str, Any]:
    coding = {"code": code} if system is None else {"system": system, "code": code}
    subs: list[dict[str, Any]] = [{"url": "identityStatus", "valueCoding": coding}]
    subs += [
        {
            "url": "comment",
            "valueCodeableConcept": {"coding": [{"system": CS_IDENTITY_STATUS_COMMENT, "code": c}]},
        }
        for c in comments
    ]
    return {"url": EXT_IDENTITY_RELIABILITY, "extension": subs}


# ----------------------------------------------------------------------------------------------------------
# The RNIV matrix
# ----------------------------------------------------------------------------------------------------------
def test_the_four_statuses_and_their_criteria() -> None:
    assert [s.value for s in IdentityStatus] == ["provisional", "recovered", "validated", "qualified"]
    assert [(s.insi_retrieved, s.document_checked) for s in IdentityStatus] == [
        (False, False),
        (True, False),
        (False, True),
        (True, True),
    ]
    assert [s.label_fr for s in IdentityStatus] == [
        "Identité provisoire",
        "Identité récupérée",
        "Identité validée",
        "Identité qualifiée",
    ]
    assert [s for s in IdentityStatus if s.may_share_ins] == [QUAL]
    assert IdentityStatus("qualified") is QUAL


def test_status_from_checks_is_the_rniv_matrix() -> None:
    for status in IdentityStatus:
        assert (
            status_from_checks(insi_retrieved=status.insi_retrieved, document_checked=status.document_checked)
            is status
        )


# ----------------------------------------------------------------------------------------------------------
# Transitions
# ----------------------------------------------------------------------------------------------------------
def test_allowed_transitions() -> None:
    upgrades = {(PROV, RECUP), (PROV, VALI), (RECUP, QUAL), (VALI, QUAL)}
    downgrades = {(RECUP, PROV), (VALI, PROV), (QUAL, PROV), (QUAL, VALI), (QUAL, RECUP)}
    assert upgrades | downgrades == ALLOWED_TRANSITIONS
    for src, dst in ALLOWED_TRANSITIONS:
        assert can_transition(src, dst)
        check_transition(src, dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [(PROV, QUAL), (RECUP, VALI), (VALI, RECUP), (PROV, PROV), (QUAL, QUAL)],
)
def test_forbidden_transitions(src: IdentityStatus, dst: IdentityStatus) -> None:
    assert not can_transition(src, dst)
    with pytest.raises(IdentityStatusError, match=f"from {src.value} .* to {dst.value}"):
        check_transition(src, dst)


def test_insi_retrieval_and_document_check() -> None:
    assert [after_insi_retrieval(s) for s in IdentityStatus] == [RECUP, RECUP, QUAL, QUAL]
    assert [after_document_check(s) for s in IdentityStatus] == [VALI, QUAL, VALI, QUAL]
    # Both orders lead to a qualified identity, each step being an allowed transition.
    assert after_document_check(after_insi_retrieval(PROV)) is QUAL
    assert after_insi_retrieval(after_document_check(PROV)) is QUAL
    for status in IdentityStatus:
        for step in (after_insi_retrieval, after_document_check):
            new = step(status)
            assert new is status or can_transition(status, new)


def test_downgrade_on_trait_change() -> None:
    assert [downgrade_on_trait_change(s) for s in IdentityStatus] == [PROV, PROV, PROV, PROV]
    justified = [downgrade_on_trait_change(s, justified_by_high_trust_document=True) for s in IdentityStatus]
    assert justified == [PROV, PROV, VALI, VALI]
    for status in IdentityStatus:
        for flag in (False, True):
            new = downgrade_on_trait_change(status, justified_by_high_trust_document=flag)
            assert not new.insi_retrieved  # the INSi answer no longer matches: a new INSi call is needed
            assert not new.may_share_ins
            assert new is status or can_transition(status, new)  # never an upgrade


# ----------------------------------------------------------------------------------------------------------
# Wire form
# ----------------------------------------------------------------------------------------------------------
def test_fr_core_2_1_extension() -> None:
    assert to_extension(QUAL) == {
        "url": EXT_IDENTITY_RELIABILITY,
        "extension": [
            {
                "url": "identityStatus",
                "valueCoding": {"system": CS_V2_0445, "code": "VALI", "display": "Identité validée"},
            }
        ],
    }
    assert status_coding(PROV, "2.1") == {
        "system": CS_V2_0445,
        "code": "PROV",
        "display": "Identité provisoire",
    }
    # No 2.1 code for recovered / validated: PROV, never VALI (which means qualified in 2.1).
    for status in (RECUP, VALI):
        assert status_coding(status, "2.1")["code"] == "PROV"
        with pytest.raises(IdentityStatusError, match="has no code"):
            to_extension(status, "2.1", strict=True)


def test_fr_core_2_2_extension() -> None:
    codes = [status_coding(s, "2.2")["code"] for s in IdentityStatus]
    assert codes == ["PROV", "RECUP", "VALI", "QUAL"]
    assert to_extension(VALI, "2.2.0")["extension"][0]["valueCoding"] == {
        "system": CS_IDENTITY_STATUS,
        "code": "VALI",
        "display": "Identité validée",
    }
    assert to_extension(RECUP, "2.2", strict=True)["extension"][0]["valueCoding"]["code"] == "RECUP"


def test_the_vali_trap() -> None:
    """VALI is "qualifiée" in FR Core 2.1 and "validée" in FR Core 2.2: the code system decides."""
    assert status_from_coding({"system": CS_V2_0445, "code": "VALI"}) is QUAL
    assert status_from_coding({"system": CS_IDENTITY_STATUS, "code": "VALI"}) is VALI
    with pytest.raises(IdentityStatusError, match="no system.*VALI"):
        status_from_coding({"code": "VALI"})
    # A validated identity is never written as VALI in 2.1, a qualified one never as VALI in 2.2.
    assert status_coding(VALI, "2.1")["code"] != "VALI"
    assert status_coding(QUAL, "2.2")["code"] == "QUAL"


@pytest.mark.parametrize("version", ["2.1", "2.1.0", "2.2", "2.2.0", "2.2.0-ballot", "2.2.0-ballot-2"])
def test_round_trips(version: str) -> None:
    exact = IdentityStatus if normalize_version(version) == "2.2" else (PROV, QUAL)
    for status in exact:
        assert from_extension(to_extension(status, version)) is status
    for status in IdentityStatus:  # lossy in 2.1, but never over-stating the confidence
        back = from_extension(to_extension(status, version))
        assert back is status or (back is PROV and not status.may_share_ins)


def test_versions() -> None:
    assert normalize_version("2.1.0") == "2.1" and normalize_version("2.2.0-ballot") == "2.2"
    for bad in ("2", "2.0.1", "3.0", "", "2.10"):
        with pytest.raises(IdentityStatusError, match="unsupported FR Core version"):
            normalize_version(bad)
    with pytest.raises(IdentityStatusError):
        to_extension(QUAL, "2.0.1")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("PROV", PROV),
        ("VIDE", PROV),
        ("DOUT", PROV),
        ("FICT", PROV),
        ("DESA", PROV),
        ("HOMD", PROV),
        ("VALI", QUAL),
    ],
)
def test_fr_core_2_1_codes(code: str, status: IdentityStatus) -> None:
    assert from_extension(_ext(CS_V2_0445, code)) is status
    assert from_extension(_ext("https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-v2-0445", code)) is status


@pytest.mark.parametrize(
    ("ext", "fragment"),
    [
        (_ext(CS_V2_0445, "QUAL"), "not in fr-core-cs-v2-0445"),
        (_ext(CS_IDENTITY_STATUS, "DOUT"), "not in fr-core-cs-identity-status"),
        (_ext("http://terminology.hl7.org/CodeSystem/v2-0445", "VALI"), "is neither"),
        (_ext(None, "QUAL"), "no system"),
        (_ext(CS_IDENTITY_STATUS, ""), "no code"),
        ({"url": "http://example.org/other", "extension": []}, "not an identity-reliability extension"),
        ({"url": EXT_IDENTITY_RELIABILITY, "extension": []}, "found 0"),
        (
            {"url": EXT_IDENTITY_RELIABILITY, "extension": _ext(CS_IDENTITY_STATUS, "PROV")["extension"] * 2},
            "found 2",
        ),
        (
            {"url": EXT_IDENTITY_RELIABILITY, "extension": [{"url": "identityStatus", "valueCode": "PROV"}]},
            "no valueCoding",
        ),
        (_ext(CS_IDENTITY_STATUS, "QUAL", "DOUT"), "must be provisional"),
        (_ext(CS_IDENTITY_STATUS, "VALI", "FICT", "HOMD"), "FICT"),
    ],
)
def test_unreadable_extensions(ext: dict[str, Any], fragment: str) -> None:
    with pytest.raises(IdentityStatusError, match=fragment):
        from_extension(ext)


def test_attributes_compatible_with_the_status() -> None:
    assert from_extension(_ext(CS_IDENTITY_STATUS, "PROV", "DOUT")) is PROV
    # FR Core 2.2 RNIV example: provisional identity found to be a duplicate, deactivated.
    assert from_extension(_ext(CS_IDENTITY_STATUS, "PROV", "DOUA", "DESA")) is PROV
    assert from_extension(_ext(CS_IDENTITY_STATUS, "QUAL", "HOMD")) is QUAL


def test_from_patient() -> None:
    assert from_patient({"resourceType": "Patient"}) is None
    assert from_patient({"resourceType": "Patient", "extension": [{"url": "http://example.org/x"}]}) is None
    extensions = [to_extension(QUAL, "2.1"), to_extension(QUAL, "2.2")]
    assert from_patient({"resourceType": "Patient", "extension": extensions}) is QUAL
    patient = {"resourceType": "Patient", "extension": [*extensions, to_extension(VALI, "2.2")]}
    with pytest.raises(IdentityStatusError, match="disagree"):
        from_patient(patient)


def test_shared_examples_use_the_2_1_coding_for_qualified_identities() -> None:
    """Every FR example carrying an INS uses fr-core-cs-v2-0445#VALI: read as qualified, as french-interop.md says
    (including the FR Core 2.2.0-ballot Patient example, which still uses the 2.1 code system)."""
    if not FR_EXAMPLES.is_dir():
        pytest.skip("shared FR examples not available")
    patients = []
    for path in sorted(FR_EXAMPLES.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        candidates = [resource] + resource.get("contained", [])
        patients += [r for r in candidates if r.get("resourceType") == "Patient" and r.get("extension")]
    assert len(patients) == 3
    for patient in patients:
        assert from_patient(patient) is QUAL


def test_demo_patients_statuses() -> None:
    """The demo data set writes VALI (2.1) exactly for patients carrying an INS: read back as qualified."""
    bundle = demo.build_demo_bundle(usagers=20)
    patients = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patients
    for patient in patients:
        has_ins = any(
            i["system"].startswith("urn:oid:1.2.250.1.213.1.4.") for i in patient.get("identifier", [])
        )
        assert from_patient(patient) is (QUAL if has_ins else PROV)
