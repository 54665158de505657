"""identity: external identities (iss, sub), pending OIDC requests, OIDC sessions, invitations

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

ID = sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql')
NAME = sa.String(length=200).with_variant(sa.String(length=200, collation='C'), 'postgresql')


def upgrade() -> None:
    op.create_table('auth_identity',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('iss', NAME, nullable=False),
    sa.Column('sub', NAME, nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('claims', sa.JSON(), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('last_login', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['auth_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auth_identity', schema=None) as batch_op:
        batch_op.create_index('ux_auth_identity_iss_sub', ['iss', 'sub'], unique=True)

    op.create_table('auth_oidc_pending',
    sa.Column('state_hash', ID, nullable=False),
    sa.Column('browser_hash', ID, nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('nonce', sa.String(length=255), nullable=False),
    sa.Column('code_verifier', sa.String(length=255), nullable=False),
    sa.Column('next', sa.String(length=2000), nullable=False),
    sa.Column('invitation_token', ID, nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('state_hash')
    )
    op.create_table('auth_oidc_session',
    sa.Column('session_hash', ID, nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('id_token', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['session_hash'], ['auth_session.id_hash'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_hash')
    )
    op.create_table('auth_invitation',
    sa.Column('id', ID, nullable=False),
    sa.Column('token_hash', ID, nullable=False),
    sa.Column('fhir_user', sa.String(length=200), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('used_by', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auth_invitation', schema=None) as batch_op:
        batch_op.create_index('ux_auth_invitation_token', ['token_hash'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('auth_invitation', schema=None) as batch_op:
        batch_op.drop_index('ux_auth_invitation_token')
    op.drop_table('auth_invitation')
    op.drop_table('auth_oidc_session')
    op.drop_table('auth_oidc_pending')
    with op.batch_alter_table('auth_identity', schema=None) as batch_op:
        batch_op.drop_index('ux_auth_identity_iss_sub')
    op.drop_table('auth_identity')
