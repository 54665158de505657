"""Visibility labels of TRE_A07 (fhirserver.auth.labels) and Binary reached only through its securityContext:
hidden resources are 404 on read and absent from searches (right total), includes, history and $everything."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from fhirserver.auth.labels import SYSTEMS
from tests.auth.conftest import Env, api, delegation_consent, patient_token, user_token

OID, URL = SYSTEMS


def _ids(resp: requests.Response) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {e["resource"]["id"] for e in resp.json().get("entry", []) if e["search"]["mode"] in ("match", "include")}


def _doc(doc_id: str, label: str | None, system: str = OID, author: str = "dr1", meta: bool = False
         ) -> dict[str, Any]:
    doc: dict[str, Any] = {"resourceType": "DocumentReference", "id": doc_id, "status": "current",
                           "subject": {"reference": "Patient/p1"}, "author": [{"reference": f"Practitioner/{author}"}],
                           "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/b-{doc_id}"}}]}
    if label and meta:
        doc["meta"] = {"security": [{"system": system, "code": label}]}
    elif label:
        doc["securityLabel"] = [{"coding": [{"system": system, "code": label}]}]
    return doc


@pytest.fixture()
def labelled(structures: Env) -> Env:
    """p1's documents: d1 (no label), dip (INVISIBLE_PATIENT, URL form), drl (INVISIBLE_REPRESENTANTS_LEGAUX in
    meta.security), dps (MASQUE_PS by dr1), dps2 (MASQUE_PS by dr3); Binaries of d1 and dip; delegation for rp1."""
    env = structures
    env.put(_doc("dip", "INVISIBLE_PATIENT", URL))
    env.put(_doc("drl", "INVISIBLE_REPRESENTANTS_LEGAUX", meta=True))
    env.put(_doc("dps", "MASQUE_PS", author="dr1"))
    env.put(_doc("dps2", "MASQUE_PS", author="dr3"))
    for doc in ("d1", "dip"):
        env.put({"resourceType": "Binary", "id": f"b-{doc}", "contentType": "text/plain", "data": "Ym9uam91cg==",
                 "securityContext": {"reference": f"DocumentReference/{doc}"}})
    env.put({"resourceType": "Binary", "id": "b-orphan", "contentType": "text/plain", "data": "Ym9uam91cg=="})
    env.put(delegation_consent("del1", "p1", "rp1"))
    env.add_user("jeanne", "Patient/p1")
    env.add_user("luc", "RelatedPerson/rp1")
    return env


def _usager(env: Env) -> str:
    return str(patient_token(env, "jeanne", scope="openid fhirUser launch/patient patient/*.rs")["access_token"])


ALL_DOCS = {"d1", "dip", "drl", "dps", "dps2"}


def test_usager_does_not_see_invisible_patient(labelled: Env) -> None:
    """INVISIBLE_PATIENT (URL system form) is 404 for the usager and left out of searches with a right total."""
    token = _usager(labelled)
    assert api(labelled, token, "DocumentReference/dip").status_code == 404
    assert api(labelled, token, "DocumentReference/dip/_history/1").status_code == 404
    resp = api(labelled, token, "DocumentReference?_total=accurate")
    assert _ids(resp) == ALL_DOCS - {"dip"} and resp.json()["total"] == 4
    assert "dip" not in _ids(api(labelled, token, "Patient?_revinclude=DocumentReference:subject"))
    assert "dip" not in _ids(api(labelled, token, "Patient/p1/$everything"))
    assert api(labelled, token, "DocumentReference/dip/_history").status_code == 404


def test_aidant_sees_neither_patient_nor_representative_labels(labelled: Env) -> None:
    """An aidant does not see INVISIBLE_PATIENT nor INVISIBLE_REPRESENTANTS_LEGAUX (meta.security form)."""
    token = user_token(labelled, "luc", "openid fhirUser user/*.rs")
    assert api(labelled, token, "DocumentReference/drl").status_code == 404
    resp = api(labelled, token, "DocumentReference?_total=accurate")
    assert _ids(resp) == {"d1", "dps", "dps2"} and resp.json()["total"] == 3


def test_masque_ps_only_for_its_author(labelled: Env) -> None:
    """MASQUE_PS documents are seen by their author (dr1 sees dps, not dps2); dr1 sees the patient labels."""
    token = user_token(labelled, "dr1", "openid fhirUser user/*.rs")
    assert api(labelled, token, "DocumentReference/dps").status_code == 200
    assert api(labelled, token, "DocumentReference/dps2").status_code == 404
    assert _ids(api(labelled, token, "DocumentReference")) == {"d1", "dip", "drl", "dps"}


def test_masque_ps_cannot_be_changed_by_another_professional(labelled: Env) -> None:
    """A professional who is not the author gets 404 when updating a MASQUE_PS document."""
    token = user_token(labelled, "dr3", "openid fhirUser user/*.cruds")
    assert api(labelled, token, "DocumentReference/dps", "PUT", _doc("dps", None)).status_code == 404


def test_system_scope_sees_every_label(labelled: Env) -> None:
    """A Backend Services token (system/*.rs) sees every labelled document."""
    from tests.auth.test_backend_services import JWKS, assertion, token_request

    labelled.add_client("backend", auth_method="private_key_jwt", jwks=JWKS, scope="system/*.rs",
                        grant_types=["client_credentials"], redirect_uris=[])
    access = token_request(labelled, assertion(labelled)).json()["access_token"]
    assert {"d1", "dip", "drl", "dps", "dps2"} <= _ids(api(labelled, access, "DocumentReference"))
    assert api(labelled, access, "Binary/b-orphan").status_code == 200


def test_binary_only_through_its_security_context(labelled: Env) -> None:
    """A usager reads the Binary of a visible document; a hidden document's Binary, a Binary without
    securityContext and another usager's Binary are 404; Binary searches are refused."""
    labelled.put({"resourceType": "Binary", "id": "b-d2", "contentType": "text/plain", "data": "eA==",
                  "securityContext": {"reference": "DocumentReference/d2"}})
    token = _usager(labelled)
    assert api(labelled, token, "Binary/b-d1").status_code == 200
    for path in ("Binary/b-dip", "Binary/b-orphan", "Binary/b-d2", "Binary/b-d2/_history/1"):
        assert api(labelled, token, path).status_code == 404, path
    assert api(labelled, token, "Binary").status_code == 403


def test_binary_of_another_structure_is_not_found(labelled: Env) -> None:
    """dr1 (structure A) cannot read the Binary of p2's document (structure B), nor overwrite it."""
    labelled.put({"resourceType": "Binary", "id": "b-d2", "contentType": "text/plain", "data": "eA==",
                  "securityContext": {"reference": "DocumentReference/d2"}})
    token = user_token(labelled, "dr1", "openid fhirUser user/*.cruds")
    assert api(labelled, token, "Binary/b-d1").status_code == 200
    assert api(labelled, token, "Binary/b-d2").status_code == 404
    body = {"resourceType": "Binary", "id": "b-d2", "contentType": "text/plain", "data": "eQ=="}
    assert api(labelled, token, "Binary/b-d2", "PUT", body).status_code == 404
    orphan = {"resourceType": "Binary", "contentType": "text/plain", "data": "eQ=="}
    assert api(labelled, token, "Binary", "POST", orphan).status_code == 403
