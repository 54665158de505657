"""The sharing rule (fhirserver.identity.sharing) and the status read from the wire (reliability)."""

from __future__ import annotations

from typing import Any

import pytest

from fhirserver.errors import Unprocessable
from fhirserver.identity.reliability import Reliability, normalize, read_reliability, to_extension
from fhirserver.identity.sharing import may_share_ins, require_qualified, status_of, without_ins
from fhirserver.identity.status import (
    CS_IDENTITY_STATUS,
    CS_V2_0445,
    EXT_IDENTITY_RELIABILITY,
    IdentityStatus,
    IdentityStatusError,
)

INS_PROFILE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"
TDDUI_INS = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-patient-ins"
NIR = {"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.10", "value": "238056912300133"}
IPP = {"use": "usual", "system": "https://ehpad.example.fr/ipp", "value": "42"}


def patient(system: str | None, code: str | None, *subs: dict[str, Any], ins: bool = True,
            profiles: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Patient", "id": "x", "identifier": [NIR, IPP] if ins else [IPP]}
    if code:
        out["extension"] = [{"url": EXT_IDENTITY_RELIABILITY, "extension": [
            *subs, {"url": "identityStatus", "valueCoding": {"system": system, "code": code}}]}]
    if profiles:
        out["meta"] = {"profile": profiles}
    return out


DATE21 = {"url": "dateCollection", "valueDate": "2024-01-02"}
DATE22 = {"url": "dateInterrogationINSi", "valueDate": "2024-01-02"}
MODE = {"url": "validationMode", "valueCoding": {"code": "PA"}}


@pytest.mark.parametrize(("resource", "expected"), [
    (patient(None, None), IdentityStatus.PROVISIONAL),
    (patient(CS_V2_0445, "PROV"), IdentityStatus.PROVISIONAL),
    (patient(CS_V2_0445, "VALI"), IdentityStatus.QUALIFIED),
    (patient(CS_V2_0445, "PROV", DATE21), IdentityStatus.RECOVERED),
    (patient(CS_V2_0445, "PROV", DATE22), IdentityStatus.RECOVERED),  # 2.2 name accepted in 2.1 form
    (patient(CS_V2_0445, "PROV", DATE21, ins=False), IdentityStatus.PROVISIONAL),  # INSi queried, no INS
    (patient(CS_V2_0445, "PROV", MODE), IdentityStatus.VALIDATED),
    (patient(CS_V2_0445, "DOUT", DATE21, MODE), IdentityStatus.PROVISIONAL),
    (patient(CS_IDENTITY_STATUS, "RECUP"), IdentityStatus.RECOVERED),
    (patient(CS_IDENTITY_STATUS, "VALI"), IdentityStatus.VALIDATED),
    (patient(CS_IDENTITY_STATUS, "QUAL"), IdentityStatus.QUALIFIED),
    (patient(None, "VALI"), IdentityStatus.PROVISIONAL),  # unreadable: never over-state the confidence
    (patient(CS_V2_0445, "PROV", DATE21, MODE), IdentityStatus.PROVISIONAL),  # ambiguous in 2.1: unreadable
])
def test_status_of(resource: dict[str, Any], expected: IdentityStatus) -> None:
    assert status_of(resource) is expected
    assert may_share_ins(resource) is (expected is IdentityStatus.QUALIFIED)


def test_ambiguous_and_contradictory_extensions_are_errors() -> None:
    with pytest.raises(IdentityStatusError, match="ambiguous"):
        read_reliability(patient(CS_V2_0445, "PROV", DATE21, MODE))
    doubtful = patient(CS_IDENTITY_STATUS, "QUAL", {"url": "comment", "valueCodeableConcept": {"coding": [
        {"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status-comment", "code": "DOUT"}]}})
    with pytest.raises(IdentityStatusError, match="DOUT"):
        read_reliability(doubtful)


@pytest.mark.parametrize("version", ["2.1", "2.2"])
@pytest.mark.parametrize("status", list(IdentityStatus))
def test_wire_round_trip(version: str, status: IdentityStatus) -> None:
    rel = Reliability(status, insi_date="2024-01-02" if status.insi_retrieved else None,
                      validation_mode={"code": "CN"} if status.document_checked else None)
    written = normalize(patient(None, None), rel, version)
    assert len(written["extension"]) == 1
    coding = next(s for s in written["extension"][0]["extension"] if s["url"] == "identityStatus")["valueCoding"]
    assert coding["system"] == (CS_V2_0445 if version == "2.1" else CS_IDENTITY_STATUS)
    back = read_reliability(written)
    assert back is not None and back.status is status
    assert to_extension(back, version) == written["extension"][0]


def test_require_qualified_message() -> None:
    require_qualified(patient(CS_V2_0445, "VALI"), "TDDUI export")
    with pytest.raises(Unprocessable) as caught:
        require_qualified(patient(CS_V2_0445, "PROV", DATE21), "TDDUI export")
    assert caught.value.status == 422
    issue = caught.value.issues[0]
    assert issue.diagnostics == ("the INS of Patient/x cannot be transmitted (TDDUI export): identity status is "
                                 "'récupérée', only a qualified identity may carry its INS")
    assert issue.code == "business-rule"


def test_without_ins() -> None:
    source = patient(CS_V2_0445, "VALI", profiles=[INS_PROFILE, TDDUI_INS + "|2.0.0", "https://x/other"])
    copy = without_ins(source)
    assert copy["identifier"] == [IPP]
    assert copy["meta"]["profile"] == ["https://x/other"]
    assert source["identifier"] == [NIR, IPP]  # the input is untouched
    bare = without_ins(patient(CS_V2_0445, "VALI", profiles=[INS_PROFILE]) | {"identifier": [NIR]})
    assert "identifier" not in bare and "meta" not in bare
    assert bare["extension"][0]["url"] == EXT_IDENTITY_RELIABILITY
