"""The Alembic migration 0003 creates exactly the authorization tables of the schema module."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fhirserver.auth.schema import TABLES
from fhirserver.storage.sql.schema import metadata


def _table_of(diff: Any) -> str:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None) if not isinstance(part, str) else part
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return str(table.name)
        if isinstance(name, str) and name.startswith("auth_"):
            return name
    return ""


def test_migration_matches_the_auth_tables(auth_context: Any) -> None:
    """No difference between the migrated database and the auth tables (columns, types, indexes)."""
    with auth_context.repo.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    names = {t.name for t in TABLES}
    ours = [d for d in diffs if _table_of(d) in names]
    assert ours == []
    with auth_context.repo.engine.connect() as conn:
        present = set(conn.dialect.get_table_names(conn))
    assert names <= present
