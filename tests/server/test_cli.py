"""The dui command line: load, demo, reindex (online and resumable), db upgrade."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from fhirserver.cli import main, run_reindex
from fhirserver.storage.sql.schema import idx_string, idx_token, reindex_state


def _patient(i: int) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": f"usager-{i:03d}", "gender": "male",
            "name": [{"family": f"Bérard{i:03d}", "given": ["Benoît"]}],
            "identifier": [{"system": "https://fhir.dui-demo.fr/sid/usager", "value": f"U{i:03d}"}]}


def test_load_reads_resources_bundles_and_ndjson(fhir, tmp_path: Path, database_url: str) -> None:
    """`dui load` stores a lone resource, the entries of a collection Bundle and every NDJSON line."""
    (tmp_path / "one.json").write_text(json.dumps(_patient(1)), encoding="utf-8")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": _patient(2)}]}
    (tmp_path / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    (tmp_path / "many.ndjson").write_text("\n".join(json.dumps(_patient(i)) for i in range(3, 6)),
                                          encoding="utf-8")
    code = main(["--database-url", database_url, "load", str(tmp_path / "one.json"), str(tmp_path / "bundle.json"),
                 str(tmp_path / "many.ndjson")])
    assert code == 0
    assert fhir.ids("Patient?name=berard") == {f"usager-{i:03d}" for i in range(1, 6)}


def test_load_reports_invalid_resources_and_fails(fhir, tmp_path: Path, database_url: str, capsys) -> None:
    """An invalid resource makes `dui load` exit non-zero and name the problem; valid ones are still loaded."""
    bad = {**_patient(7), "gender": "bogus"}
    (tmp_path / "mixed.ndjson").write_text(json.dumps(_patient(6)) + "\n" + json.dumps(bad), encoding="utf-8")
    code = main(["--database-url", database_url, "load", str(tmp_path / "mixed.ndjson")])
    assert code == 1
    assert "Patient.gender" in capsys.readouterr().err
    assert fhir.ids("Patient?name=berard") == {"usager-006"}


def test_load_is_audited_as_the_system_principal_dui_load(fhir, tmp_path: Path, database_url: str) -> None:
    """`dui load` writes through the in-process client as ``dui load``: one AuditEvent per resource stored, the
    component as the requesting application."""
    (tmp_path / "two.ndjson").write_text("\n".join(json.dumps(_patient(i)) for i in (8, 9)), encoding="utf-8")
    assert main(["--database-url", database_url, "load", str(tmp_path / "two.ndjson")]) == 0
    events = fhir.search("AuditEvent?type=rest&agent-name=dui%20load")
    assert sorted(e["entity"][0]["what"]["reference"] for e in events) == [
        "Patient/usager-008/_history/1", "Patient/usager-009/_history/1"]
    assert all(e["agent"] == [{**e["agent"][0], "name": "dui load", "requestor": True}] for e in events)
    assert {e["agent"][0]["who"]["identifier"]["value"] for e in events} == {"dui-system"}


def test_demo_is_loaded_and_idempotent(fhir, database_url: str) -> None:
    """`dui demo` loads 50 usagers in two structures; running it again creates no new version."""
    assert main(["--database-url", database_url, "demo"]) == 0
    first = fhir.get("Patient?_total=accurate&_count=1").get_json()["total"]
    assert first == 50
    assert main(["--database-url", database_url, "demo"]) == 0
    assert fhir.get("Patient?_total=accurate&_count=1").get_json()["total"] == 50
    history = fhir.get("Patient/ehpad-usager-001/_history").get_json()
    assert history["total"] == 1
    assert len(fhir.search("Organization?name=ehpad")) == 1


def test_reindex_rebuilds_lost_index_rows(fhir, context) -> None:
    """After index rows disappear, searches miss the resources until `run_reindex` rebuilds them."""
    for i in range(30):
        fhir.create({k: v for k, v in _patient(i).items() if k != "id"})
    with context.repo.engine.begin() as conn:
        conn.execute(delete(idx_string))
        conn.execute(delete(idx_token))
    assert fhir.ids("Patient?name=berard") == set()
    assert run_reindex(context, batch=7, restart=True) == 30
    assert len(fhir.ids("Patient?name=berard&_count=100")) == 30
    assert len(fhir.ids("Patient?identifier=U005")) == 1


def test_reindex_resumes_from_its_checkpoint(fhir, context) -> None:
    """A reindex stopped after some batches continues from its checkpoint instead of starting over."""
    for i in range(25):
        fhir.create({k: v for k, v in _patient(i).items() if k != "id"})
    with context.repo.engine.begin() as conn:
        conn.execute(delete(idx_string))
    assert run_reindex(context, batch=10, restart=True, stop_after=10) == 10
    with context.repo.engine.connect() as conn:
        last, done = conn.execute(select(reindex_state.c.last_rid, reindex_state.c.done)).one()
    assert last > 0 and not done
    assert len(fhir.ids("Patient?name=berard&_count=100")) == 10
    # the resumed run only does what is left
    assert run_reindex(context, batch=10) == 15
    assert len(fhir.ids("Patient?name=berard&_count=100")) == 25
    with context.repo.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(reindex_state).where(reindex_state.c.done)).scalar() == 1


def test_writes_during_reindex_are_searchable(fhir, context) -> None:
    """A resource written between two reindex batches is found afterwards (the write path indexes it)."""
    for i in range(12):
        fhir.create({k: v for k, v in _patient(i).items() if k != "id"})
    run_reindex(context, batch=5, restart=True, stop_after=5)
    late = fhir.create({"resourceType": "Patient", "name": [{"family": "Tardif", "given": ["Jérôme"]}]})
    run_reindex(context, batch=5)
    assert fhir.ids("Patient?name=tardif") == {late["id"]}
    assert len(fhir.ids("Patient?name=berard&_count=100")) == 12
