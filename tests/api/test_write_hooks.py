"""The write seam (fhirserver.interactions.hooks): validators and hooks run on every write path, in one
transaction with the write; operations are declared once for the router and the CapabilityStatement."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fhirserver.errors import Issue, Unprocessable
from fhirserver.interactions.hooks import WriteEvent
from fhirserver.storage.base import StoredResource

MARK = "https://dui.example.org/test/hook-mark"


class ForbidWord:
    """A validator refusing any Patient whose family name is 'Interdit'."""

    def issues(self, resource: dict[str, Any], profiles: list[str]) -> list[Issue]:
        names = resource.get("name") or []
        if resource.get("resourceType") == "Patient" and any(n.get("family") == "Interdit" for n in names):
            return [Issue("family name 'Interdit' refused by the test validator", code="business-rule",
                          expression=("Patient.name[0].family",))]
        return []


class MarkAndTrace:
    """A hook that stamps each Patient (before) and writes a Provenance per write (after); refuses 'Refus'."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def before_write(self, event: WriteEvent) -> dict[str, Any]:
        if event.resource_type != "Patient":
            return event.body
        if any(n.get("family") == "Refus" for n in event.body.get("name") or []):
            raise Unprocessable("refused by the test hook")
        self.events.append(f"{event.interaction}:{'new' if event.existing is None else 'existing'}")
        return {**event.body, "extension": [{"url": MARK, "valueString": event.interaction}]}

    def after_write(self, event: WriteEvent, stored: StoredResource) -> None:
        if event.resource_type == "Patient":
            event.session.create("Provenance", {
                "resourceType": "Provenance", "target": [{"reference": f"Patient/{stored.res_id}"}],
                "recorded": "2026-11-22T10:00:00Z",
                "agent": [{"who": {"display": "test hook"}}]}, str(uuid.uuid4()))


@pytest.fixture()
def hooked(context: Any) -> Iterator[MarkAndTrace]:
    hook, validator = MarkAndTrace(), ForbidWord()
    context.hooks.append(hook)
    context.validators.append(validator)
    try:
        yield hook
    finally:
        context.hooks.remove(hook)
        context.validators.remove(validator)


def patient(family: str = "Lefèvre") -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family, "given": ["Odette"]}], "birthDate": "1931-03-02"}


def provenances(fhir: Any, patient_id: str) -> int:
    return len(fhir.search(f"Provenance?target=Patient/{patient_id}"))


def test_create_update_patch_run_hooks_and_after_write(fhir: Any, hooked: MarkAndTrace) -> None:
    created = fhir.create(patient())
    assert created["extension"] == [{"url": MARK, "valueString": "create"}]
    pid = created["id"]
    updated = fhir.put(f"Patient/{pid}", {**patient("Lefebvre"), "id": pid}).get_json()
    assert updated["extension"][0]["valueString"] == "update"
    patched = fhir.patch(f"Patient/{pid}", [{"op": "replace", "path": "/birthDate", "value": "1931-03-03"}],
                         content_type="application/json-patch+json").get_json()
    assert patched["extension"][0]["valueString"] == "patch"
    created_by_put = fhir.put("Patient/choisi", {**patient(), "id": "choisi"})
    assert created_by_put.status_code == 201
    assert hooked.events == ["create:new", "update:existing", "patch:existing", "update:new"]
    assert provenances(fhir, pid) == 3


def test_validator_error_refuses_with_422_and_writes_nothing(fhir: Any, hooked: MarkAndTrace) -> None:
    resp = fhir.post("Patient", patient("Interdit"))
    assert resp.status_code == 422
    issue = resp.get_json()["issue"][0]
    assert issue["expression"] == ["Patient.name[0].family"]
    assert "Interdit" in issue["diagnostics"]
    assert fhir.search("Patient") == []
    assert fhir.search("Provenance") == []


def test_validator_issues_in_validate(fhir: Any, hooked: MarkAndTrace) -> None:
    outcome = fhir.post("Patient/$validate", patient("Interdit")).get_json()
    assert [i["code"] for i in outcome["issue"] if i["severity"] == "error"] == ["business-rule"]
    ok = fhir.post("Patient/$validate", patient()).get_json()
    assert [i["severity"] for i in ok["issue"]] == ["information"]
    assert fhir.search("Patient") == []  # $validate never writes, even through hooks


def test_transaction_rolls_back_hook_side_effects(fhir: Any, hooked: MarkAndTrace) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:" + str(uuid.uuid4()), "resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:" + str(uuid.uuid4()), "resource": patient("Refus"),
         "request": {"method": "POST", "url": "Patient"}},
    ]}
    resp = fhir.post("", bundle)
    assert resp.status_code == 422
    assert fhir.search("Patient") == []
    assert fhir.search("Provenance") == []  # the first entry's after_write Provenance is gone too


def test_batch_entries_each_run_the_hooks(fhir: Any, hooked: MarkAndTrace) -> None:
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": patient("Interdit"), "request": {"method": "POST", "url": "Patient"}},
    ]}
    resp = fhir.post("", bundle).get_json()
    statuses = [e["response"]["status"] for e in resp["entry"]]
    assert statuses[0].startswith("201") and statuses[1].startswith("422")
    assert len(fhir.search("Patient")) == 1
    assert len(fhir.search("Provenance")) == 1


def test_get_on_a_writing_operation_is_405(fhir: Any) -> None:
    pid = fhir.create(patient())["id"]
    assert fhir.get(f"Patient/{pid}/$meta-add").status_code == 405
    assert fhir.get(f"Patient/{pid}/$meta").status_code == 200


def test_capability_statement_lists_operations_per_type(fhir: Any) -> None:
    cs = fhir.get("metadata").get_json()
    by_type = {r["type"]: {o["name"] for o in r.get("operation", [])} for r in cs["rest"][0]["resource"]}
    assert {"validate", "meta", "meta-add", "meta-delete", "everything"} <= by_type["Patient"]
    assert "everything" not in by_type["Observation"]
    assert all(o["definition"].startswith("http") for r in cs["rest"][0]["resource"] for o in r.get("operation", []))
