"""Alembic environment: runs on the connection handed over by ``fhirserver.storage.sql.migrate``."""

from __future__ import annotations

from alembic import context

from fhirserver.storage.sql.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `dui db upgrade` (fhirserver.storage.sql.migrate)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
