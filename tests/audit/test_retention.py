"""Retention: ``dui audit purge`` hard-deletes the AuditEvents recorded before now - retention_days (resource,
history and index rows), keeps the others, counts without deleting with --dry-run; retention_days < 1 is refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from fhirserver.audit import events
from fhirserver.audit.events import Actor, EventSpec
from fhirserver.audit.retention import purge
from fhirserver.audit.trail import AuditTrail
from fhirserver.cli import main
from fhirserver.search.values import now_utc
from fhirserver.settings import SettingsError, load_settings
from fhirserver.storage.sql.schema import INDEX_TABLES, resource, resource_history


def _record(ctx: Any, recorded: datetime, patient: str = "Patient/p1") -> None:
    spec = EventSpec(type_code=(events.DICOM, "110114", "User Authentication"), subtype=(), action="E",
                     actor=Actor(who="Practitioner/dr1", client_id="app"),
                     entities=(events.patient_entity(patient),), recorded=recorded)
    AuditTrail(ctx.repo).record(spec)


def _rows(ctx: Any) -> dict[str, int]:
    with ctx.repo.engine.connect() as conn:
        out = {"resource": conn.execute(select(func.count()).select_from(resource).where(
            resource.c.res_type == "AuditEvent")).scalar_one(),
            "history": conn.execute(select(func.count()).select_from(resource_history).where(
                resource_history.c.res_type == "AuditEvent")).scalar_one()}
        out["index"] = sum(conn.execute(select(func.count()).select_from(t).where(
            t.c.res_type == "AuditEvent")).scalar_one() for t in INDEX_TABLES.values())
        return out


@pytest.fixture()
def trail(app: Any, context: Any) -> Any:
    """Three events 400 days old and one from today, on the plain test database."""
    old = now_utc() - timedelta(days=400)
    for patient in ("Patient/p1", "Patient/p2", "Patient/p3"):
        _record(context, old, patient)
    _record(context, now_utc())
    return context


def test_purge_deletes_old_events_with_history_and_index_rows(trail: Any) -> None:
    """Three old events go, with every history and index row; the recent one stays whole."""
    before = _rows(trail)
    result = purge(trail.repo.engine, 365)
    assert result.events == 3 and not result.dry_run
    after = _rows(trail)
    assert after["resource"] == 1 and after["history"] == 1
    assert 0 < after["index"] == before["index"] // 4


def test_dry_run_counts_without_deleting(trail: Any) -> None:
    """--dry-run reports 3 and deletes nothing."""
    assert purge(trail.repo.engine, 365, dry_run=True).events == 3
    assert _rows(trail)["resource"] == 4


def test_a_longer_retention_keeps_everything(trail: Any) -> None:
    """With a 3-year retention no event is old enough."""
    assert purge(trail.repo.engine, 3 * 365).events == 0
    assert _rows(trail)["resource"] == 4


def test_the_command_prints_how_many(trail: Any, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``dui audit purge`` prints the number deleted and the cut-off."""
    assert main(["audit", "purge", "--database-url", database_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 AuditEvent(s) recorded before ") and "deleted (retention 365 days)" in out
    assert _rows(trail)["resource"] == 1


def test_the_command_dry_run(trail: Any, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``dui audit purge --dry-run`` says what would be deleted and leaves it."""
    assert main(["audit", "purge", "--dry-run", "--database-url", database_url]) == 0
    out = capsys.readouterr().out
    assert "3 AuditEvent(s)" in out and "would be deleted" in out
    assert _rows(trail)["resource"] == 4


def test_retention_below_one_day_is_refused() -> None:
    """[audit] retention_days = 0 is a configuration error."""
    with pytest.raises(SettingsError, match="retention_days"):
        load_settings(audit_retention_days=0)
