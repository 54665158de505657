"""The number of SQL statements of a search page does not depend on the page size (no N+1 queries), even with
``_include``, ``_revinclude`` and ``:iterate``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event


@contextmanager
def counting(app: Any) -> Iterator[list[str]]:
    """Record every SQL statement sent to the database while the block runs."""
    engine = app.config["DUI_CONTEXT"].repo.engine
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


@pytest.fixture()
def care_home(fhir: Any) -> None:
    """Twelve residents of two homes, each with their own doctor and two observations taken by one nurse."""
    orgs = [fhir.create({"resourceType": "Organization", "name": n})["id"]
            for n in ("EHPAD Les Tilleuls", "Résidence Les Oliviers")]
    nurse = fhir.create({"resourceType": "Practitioner", "name": [{"family": "Girard", "given": ["Anaïs"]}]})["id"]
    for i in range(12):
        doctor = fhir.create({"resourceType": "Practitioner", "name": [{"family": f"Médecin{i:02d}"}]})["id"]
        pid = fhir.create({"resourceType": "Patient", "name": [{"family": f"Résident{i:02d}", "given": ["Zoé"]}],
                           "managingOrganization": {"reference": f"Organization/{orgs[i % 2]}"},
                           "generalPractitioner": [{"reference": f"Practitioner/{doctor}"}]})["id"]
        for code in ("8480-6", "29463-7"):
            fhir.create({"resourceType": "Observation", "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                         "subject": {"reference": f"Patient/{pid}"},
                         "performer": [{"reference": f"Practitioner/{nurse}"}]})


def page(fhir: Any, app: Any, count: int, extra: str = "") -> tuple[int, dict[str, Any]]:
    query = (f"Patient?_count={count}&_sort=family&_include=Patient:organization"
             f"&_include=Patient:general-practitioner&_revinclude=Observation:subject{extra}")
    with counting(app) as statements:
        resp = fhir.get(query)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return len(statements), resp.get_json()


def modes(body: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in body["entry"]:
        out[e["search"]["mode"]] = out.get(e["search"]["mode"], 0) + 1
    return out


def test_statement_count_does_not_grow_with_count(fhir, app, care_home):
    """A page of 2 and a page of 10 residents with includes cost the same number of statements."""
    small, small_body = page(fhir, app, 2)
    large, large_body = page(fhir, app, 10)
    assert modes(small_body) == {"match": 2, "include": 2 + 2 + 4}    # homes + doctors + observations
    assert modes(large_body) == {"match": 10, "include": 2 + 10 + 20}
    assert small == large
    assert large <= 8


def test_statement_count_with_iterate_does_not_grow(fhir, app, care_home):
    """``:iterate`` costs a fixed number of extra statements per level, not per resource."""
    extra = "&_include:iterate=Observation:performer"
    small, small_body = page(fhir, app, 2, extra)
    large, large_body = page(fhir, app, 10, extra)
    assert modes(large_body)["include"] == 2 + 10 + 20 + 1   # the nurse, once
    assert modes(small_body)["include"] == 2 + 2 + 4 + 1
    assert small == large


def test_statement_count_with_next_page_and_total(fhir, app, care_home):
    """A following page with ``_total=accurate`` adds one count statement, whatever the page size."""
    base, _ = page(fhir, app, 3)
    counted, body = page(fhir, app, 3, "&_total=accurate")
    assert body["total"] == 12
    assert counted == base + 1


def test_sqlite_search_walks_matching_rids_not_the_whole_type(fhir, app, is_postgres):
    """On SQLite, a token search is driven by the index rows in rid order, not by the type index plus a sort."""
    import pytest
    from sqlalchemy import event

    if is_postgres:
        pytest.skip("SQLite query plan")
    fhir.create({"resourceType": "Observation", "status": "final",
                 "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}})
    engine = app.config["DUI_CONTEXT"].repo.engine
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "idx_token" in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert len(fhir.search("Observation?code=http://loinc.org|29463-7")) == 1
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = statements[0]
    with engine.connect() as conn:
        plan = [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    # the type index would make SQLite read every resource of the type and sort the matches afterwards
    assert not any("ix_resource_type" in step for step in plan), plan
    assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), plan
