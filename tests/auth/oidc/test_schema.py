"""The Alembic migration 0004 creates exactly the identity tables of the schema module."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fhirserver.auth.logins.schema import TABLES
from fhirserver.storage.sql.schema import metadata
from tests.auth.conftest import Env


def _names(diff: object) -> set[str]:
    item = diff[0] if isinstance(diff, list) else diff
    out = set()
    for part in item[1:] if isinstance(item, tuple) else ():
        for candidate in (getattr(part, "name", None), getattr(getattr(part, "table", None), "name", None), part):
            if isinstance(candidate, str):
                out.add(candidate)
    return out


def test_migration_matches_the_identity_tables(oidc: Env) -> None:
    """No difference between the migrated database and the identity tables (columns, types, indexes)."""
    names = {t.name for t in TABLES}
    with oidc.ctx.repo.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        present = set(conn.dialect.get_table_names(conn))
    assert [d for d in diffs if _names(d) & names] == []
    assert names <= present
