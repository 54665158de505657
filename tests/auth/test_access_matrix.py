"""One matrix of cross-record attempts: a usager (p1), an aidant with a delegation for p1, and a professional of
structure A (p1, p3) each try every read-type interaction on p2 (structure B, no delegation) — all 404 — while the
same interaction on p1 succeeds."""

from __future__ import annotations

import pytest

from tests.auth.conftest import Env, api, delegation_consent, patient_token, user_token

PATHS = ["Patient/{p}", "Patient/{p}/_history/1", "Patient/{p}/_history", "Observation/{o}", "Observation/{o}/$meta",
         "Patient/{p}/Observation", "Patient/{p}/$everything"]


def _token(env: Env, who: str) -> str:
    if who == "usager":
        env.add_user("jeanne", "Patient/p1")
        return str(patient_token(env, "jeanne", scope="openid fhirUser launch/patient patient/*.rs")["access_token"])
    if who == "aidant":
        env.put(delegation_consent("del1", "p1", "rp1"))
        env.add_user("luc", "RelatedPerson/rp1")
        return user_token(env, "luc", "openid fhirUser user/*.rs")
    return user_token(env, "dr1", "openid fhirUser user/*.rs")


@pytest.mark.parametrize("who", ["usager", "aidant", "professional"])
def test_every_read_interaction_on_another_usager_is_not_found(structures: Env, who: str) -> None:
    """Each read-type interaction answers 200 on p1 and 404 (an OperationOutcome) on p2."""
    token = _token(structures, who)
    for template in PATHS:
        inside = api(structures, token, template.format(p="p1", o="o1"))
        assert inside.status_code == 200, (who, template, inside.text)
        outside = api(structures, token, template.format(p="p2", o="o2"))
        assert outside.status_code == 404, (who, template, outside.text)
        assert outside.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("who", ["usager", "aidant", "professional"])
def test_searches_never_count_another_usager(structures: Env, who: str) -> None:
    """Type and system searches, with _include and _revinclude, never return nor count p2's data."""
    token = _token(structures, who)
    for path in ("Observation?_total=accurate", "?_type=Observation,Patient&_total=accurate",
                 "Patient?_revinclude=Observation:subject&_total=accurate",
                 "Observation?_include=Observation:subject&_total=accurate"):
        resp = api(structures, token, path)
        assert resp.status_code == 200, (who, path, resp.text)
        bundle = resp.json()
        ids = {e["resource"]["id"] for e in bundle.get("entry", [])}
        assert not {"p2", "o2"} & ids, (who, path)
        assert bundle["total"] == len([e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"])
