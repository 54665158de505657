"""A usager with a qualified identity and DocumentReferences carrying CDA N1 documents that pass the ANS kit."""

from __future__ import annotations

import base64
import copy
from typing import Any

from mappings.cda.documents.n1 import build_n1
from mappings.cda.model import Identifier
from mappings.xds.metadata import document_bytes
from tests.api.test_cda_operations import DOC, load_document
from tests.mappings import FHIR_PATIENT, sample_document

PDF = b"%PDF-1.4\n% outbox test\n"
RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
CDA_TYPE = "application/hl7-v3+xml"


def qualified_patient(pid: str = "p1") -> dict[str, Any]:
    """The usager of the sample CDA header (INS-NIR test 240062123191008), qualified (FR Core 2.1 VALI)."""
    patient = copy.deepcopy(FHIR_PATIENT)
    patient["id"] = pid
    patient["extension"][0] = {"url": RELIABILITY, "extension": [
        {"url": "identityStatus", "valueCoding": {
            "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445", "code": "VALI"}},
        {"url": "methodCollection", "valueCoding": {"code": "INSi"}},
        {"url": "dateInterrogationINSi", "valueDate": "2026-09-01"},
        {"url": "validationMode", "valueCoding": {
            "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity", "code": "CN"}},
        {"url": "validationDate", "valueDate": "2026-09-01"}]}
    return patient


def provisional_patient(pid: str) -> dict[str, Any]:
    patient = copy.deepcopy(FHIR_PATIENT)
    patient["id"] = pid
    patient["extension"] = patient["extension"][1:]
    patient["identifier"] = [{"system": "https://ehpad.example.org/ipp", "value": pid}]
    return patient


def cda_bytes(unique_id: str = "1.2.250.1.213.1.1.9.1", *, replaces: str | None = None, version: int = 1,
              **changes: Any) -> bytes:
    doc = sample_document(id=Identifier(unique_id), version=version,
                          replaces=Identifier(replaces) if replaces else None, **changes)
    return document_bytes(build_n1(doc, PDF, "application/pdf"))


def cda_document_reference(doc_id: str, cda: bytes, *, patient: str = "p1", labels: tuple[str, ...] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "DocumentReference", "id": doc_id, "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "content": [{"attachment": {"contentType": CDA_TYPE, "data": base64.b64encode(cda).decode()}}],
    }
    if labels:
        body["securityLabel"] = [{"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": c}]} for c in labels]
    return body


def changed(doc: dict[str, Any], cda: bytes) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k != "meta"}
    out["content"] = [{"attachment": {"contentType": CDA_TYPE, "data": base64.b64encode(cda).decode()}}]
    return out




DEMO_DOC = DOC  # a PDF consultation report of a qualified usager of the demo EHPAD (the N1 source)


def load_demo_document(fhir: Any, *, master_identifier: bool = True) -> dict[str, Any]:
    """The EHPAD, its staff, the usager, her stay and the document (tests/api/test_cda_operations.load_document),
    optionally without its masterIdentifier (then the N1 id comes from the resource version)."""
    doc = load_document(fhir)
    if not master_identifier:
        doc.pop("masterIdentifier", None)
        resp = fhir.put(f"DocumentReference/{DEMO_DOC}", doc)
        assert resp.status_code == 200, resp.get_data(as_text=True)
    return doc
