"""Patient.link no longer places a Patient in another usager's compartment: drop those compartment rows

A link between two Patient records grants nothing to anybody (access policy, issue "nobody widens a reach by
writing the directory"), so a Patient belongs to its own compartment only (``fhirserver.search.extract``). Rows
written by earlier versions for ``Patient.link`` targets are removed here; ``dui reindex`` would do the same.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM idx_compartment WHERE res_type = 'Patient' AND comp_type = 'Patient' AND comp_id <> "
        "(SELECT resource.res_id FROM resource WHERE resource.rid = idx_compartment.rid)"
    )


def downgrade() -> None:
    """Nothing to restore: ``dui reindex`` on the older version rebuilds the rows it wants."""
