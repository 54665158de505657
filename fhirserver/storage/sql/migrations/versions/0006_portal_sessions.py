"""portal sessions: idle clock and the portal grant of a browser session (auth_session.last_seen, grant_id,
token_jti)

A browser session has an absolute end (``expires_at``) and an idle end (``last_seen`` + ``[portal]
session_idle_minutes``); a session that entered a portal holds a reference to its grant and to the grant's current
access token (``fhirserver.web.session``), never the token itself.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ID = sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('grant_id', ID, nullable=True))
        batch_op.add_column(sa.Column('token_jti', ID, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.drop_column('token_jti')
        batch_op.drop_column('grant_id')
        batch_op.drop_column('last_seen')
