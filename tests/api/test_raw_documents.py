"""Operations that return a document which is not a FHIR resource (a CDA): raw bytes over HTTP, Binary in a batch."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from fhirserver.interactions import router
from fhirserver.interactions.context import Context, FhirRequest, FhirResponse
from fhirserver.interactions.operations import Operation
from fhirserver.storage.sql.repository import SqlSession

DOC = '<?xml version="1.0" encoding="UTF-8"?><ClinicalDocument xmlns="urn:hl7-org:v3"><title>Évaluation</title></ClinicalDocument>'.encode()


def _document(req: FhirRequest, ctx: Context, session: SqlSession) -> FhirResponse:
    return FhirResponse(200, DOC, {"Content-Type": "application/xml; charset=utf-8"})


@pytest.fixture()
def raw_operation() -> Iterator[None]:
    op = Operation("$test-raw-document", _document, frozenset({"system"}), read_only=True)
    router.OPERATIONS[op.name] = [op]
    try:
        yield
    finally:
        del router.OPERATIONS[op.name]


def test_bytes_are_sent_as_they_are_with_their_content_type(fhir: Any, raw_operation: None) -> None:
    """The body is the document itself, not a FHIR rendering of it, whatever the Accept header."""
    resp = fhir.get("$test-raw-document")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert resp.get_data() == DOC


def test_bytes_in_a_batch_become_a_binary(fhir: Any, raw_operation: None) -> None:
    """Inside a batch response the document is carried as a Binary resource (base64)."""
    bundle = {"resourceType": "Bundle", "type": "batch",
              "entry": [{"request": {"method": "GET", "url": "$test-raw-document"}}]}
    resp = fhir.post("", bundle)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    entry = resp.get_json()["entry"][0]
    assert entry["response"]["status"].startswith("200")
    assert entry["resource"]["resourceType"] == "Binary"
    assert entry["resource"]["contentType"] == "application/xml; charset=utf-8"
    assert base64.b64decode(entry["resource"]["data"]) == DOC
