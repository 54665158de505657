"""The official French examples (``../shared/fr/examples``: FR Core, TDDUI, PDSm JSON examples) against the profiles
of ``config/profiles/``.

Every example is sent to ``$validate`` with the profile it claims (``meta.profile``) and must give **zero profile
errors**: a profile issue names its profile at the start of its diagnostics (``tddui-patient-ins: …``,
``tddui-patient-ins (from fr-core-patient-ins): …``), and no claimed profile may be unknown to the server.

The only errors allowed are national identifier check-key errors of the identifier validator
(``fhirserver/identity/validator.py``: code ``value``, diagnostics starting with ``identifier``) — two official
examples carry an INS whose key is wrong, and the server must say so precisely:

* TDDUI ``Patient/tddui-patient-ins-example``: NIR ``147720425367411`` — the key of ``1477204253674`` is 30, not 11;
* FR Core ``Patient/FRCorePatientExample``: NIR ``123456789012244`` — the key of ``1234567890122`` is 12, not 44.

On write, those two are refused (422) for that reason only; the other examples are stored (201).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "fr" / "examples"
PROFILES = Path(__file__).resolve().parents[2] / "config" / "profiles"
FILES = sorted(EXAMPLES.glob("*.json"))

#: example file -> the identifier-key errors the identifier validator must report (expression, diagnostics fragments)
KEY_ERRORS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Patient-tddui-patient-ins-example.tddui-2.2.0-ballot.json":
        ("Patient.identifier[0].value", ("identifier urn:oid:1.2.250.1.213.1.4.8", "147720425367411",
                                         "wrong NIR key 11, the key of 1477204253674 is 30")),
    "Patient-FRCorePatientExample.fr-core-2.2.0-ballot-2.json":
        ("Patient.identifier[0].value", ("identifier urn:oid:1.2.250.1.213.1.4.8", "123456789012244",
                                         "wrong NIR key 44, the key of 1234567890122 is 12")),
}


def profile_ids() -> set[str]:
    """The ids (last URL segment) of every profile file of config/profiles/."""
    ids = set()
    for file in PROFILES.glob("*.json"):
        url = json.loads(file.read_text(encoding="utf-8"))["url"]
        ids.add(url.rstrip("/").rsplit("/", 1)[-1])
    return ids


def load(file: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return data


def is_identifier_key_error(issue: dict[str, Any]) -> bool:
    return issue.get("code") == "value" and str(issue.get("diagnostics", "")).startswith("identifier")


def is_profile_issue(issue: dict[str, Any], ids: set[str]) -> bool:
    head = str(issue.get("diagnostics", "")).split(":", 1)[0]
    return head.split(" (from ", 1)[0] in ids


def describe(issues: list[dict[str, Any]]) -> str:
    return "\n".join(f"{i['severity']} {i['code']} {i.get('expression')} {i.get('diagnostics')}" for i in issues)


def test_the_examples_are_there() -> None:
    """The five official examples (FR Core, TDDUI x3, PDSm) are found next to the project."""
    assert len(FILES) >= 5, EXAMPLES
    assert {load(f)["resourceType"] for f in FILES} >= {"Patient", "CarePlan", "RelatedPerson", "DocumentReference"}


@pytest.mark.parametrize("file", FILES, ids=[f.name for f in FILES])
def test_example_validates_against_its_profile(fhir: Any, file: Path) -> None:
    """$validate?profile=<claimed profile>: no profile error, the profile is known; any other error is an
    identifier check-key error."""
    resource = load(file)
    ids = profile_ids()
    claimed = resource["meta"]["profile"]
    assert claimed, file.name
    for url in claimed:
        assert url.rstrip("/").rsplit("/", 1)[-1] in ids, f"{url} has no profile file in config/profiles/"
        resp = fhir.post(f"{resource['resourceType']}/$validate?profile={quote(url, safe='')}", resource)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        issues = resp.get_json()["issue"]
        assert not [i for i in issues if i["code"] == "not-supported"], describe(issues)
        errors = [i for i in issues if i["severity"] in ("error", "fatal")]
        profile_errors = [i for i in errors if is_profile_issue(i, ids)]
        assert not profile_errors, describe(profile_errors)
        others = [i for i in errors if not is_identifier_key_error(i)]
        assert not others, describe(others)


@pytest.mark.parametrize("name", sorted(KEY_ERRORS))
def test_wrong_ins_key_of_an_example_is_reported_precisely(fhir: Any, name: str) -> None:
    """The identifier validator flags the wrong NIR key of the example on Patient.identifier[0].value, with the
    expected key, while the profile engine finds the example conformant."""
    resource = load(EXAMPLES / name)
    expression, fragments = KEY_ERRORS[name]
    resp = fhir.post("Patient/$validate", resource)
    assert resp.status_code == 200
    issues = resp.get_json()["issue"]
    errors = [i for i in issues if i["severity"] == "error"]
    assert len(errors) == 1, describe(issues)
    (error,) = errors
    assert error["code"] == "value"
    assert error["expression"] == [expression]
    for fragment in fragments:
        assert fragment in error["diagnostics"], error["diagnostics"]


@pytest.mark.parametrize("file", FILES, ids=[f.name for f in FILES])
def test_example_write(fhir: Any, file: Path) -> None:
    """On write: the examples without a wrong national identifier are stored; the two with a wrong NIR key are
    refused (422) for that reason only, and nothing is stored."""
    resource = load(file)
    rt = resource["resourceType"]
    resp = fhir.put(f"{rt}/{resource['id']}", resource)
    if file.name in KEY_ERRORS:
        assert resp.status_code == 422, resp.get_data(as_text=True)
        issues = resp.get_json()["issue"]
        errors = [i for i in issues if i["severity"] in ("error", "fatal")]
        assert errors and all(is_identifier_key_error(i) for i in errors), describe(issues)
        assert fhir.get(f"{rt}/{resource['id']}").status_code == 404
    else:
        assert resp.status_code in (200, 201), resp.get_data(as_text=True)
        assert fhir.get(f"{rt}/{resource['id']}").get_json()["meta"]["profile"] == resource["meta"]["profile"]
