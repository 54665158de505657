"""auth: clients, local accounts, sessions, grants, codes, tokens, assertion jti, launch contexts, signing key

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 06:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_assertion_jti',
    sa.Column('iss', sa.String(length=200).with_variant(sa.String(length=200, collation='C'), 'postgresql'), nullable=False),
    sa.Column('jti', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('iss', 'jti')
    )
    op.create_table('auth_client',
    sa.Column('client_id', sa.String(length=200).with_variant(sa.String(length=200, collation='C'), 'postgresql'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('auth_method', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=200), nullable=True),
    sa.Column('jwks', sa.JSON(), nullable=True),
    sa.Column('jwks_url', sa.String(length=1000), nullable=True),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('grant_types', sa.JSON(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('client_id')
    )
    op.create_table('auth_code',
    sa.Column('code_hash', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('grant_id', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('client_id', sa.String(length=200).with_variant(sa.String(length=200, collation='C'), 'postgresql'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('redirect_uri', sa.String(length=1000), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=False),
    sa.Column('code_challenge_method', sa.String(length=16), nullable=False),
    sa.Column('nonce', sa.String(length=255), nullable=True),
    sa.Column('aud', sa.String(length=1000), nullable=False),
    sa.Column('auth_time', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('code_hash')
    )
    op.create_table('auth_grant',
    sa.Column('id', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('client_id', sa.String(length=200).with_variant(sa.String(length=200, collation='C'), 'postgresql'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('patient', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=True),
    sa.Column('encounter', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_reason', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auth_grant', schema=None) as batch_op:
        batch_op.create_index('ix_auth_grant_user', ['user_id', 'revoked_at'], unique=False)

    op.create_table('auth_key',
    sa.Column('name', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('kid', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('auth_launch',
    sa.Column('id', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('patient', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=True),
    sa.Column('encounter', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('auth_token',
    sa.Column('jti', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('grant_id', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('client_id', sa.String(length=200).with_variant(sa.String(length=200, collation='C'), 'postgresql'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('refresh_hash', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=True),
    sa.Column('refresh_expires_at', sa.DateTime(), nullable=True),
    sa.Column('refresh_used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('jti')
    )
    with op.batch_alter_table('auth_token', schema=None) as batch_op:
        batch_op.create_index('ix_auth_token_grant', ['grant_id'], unique=False)
        batch_op.create_index('ux_auth_token_refresh', ['refresh_hash'], unique=True)

    op.create_table('auth_user',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=200).with_variant(sa.String(length=200, collation='C'), 'postgresql'), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('fhir_user', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auth_user', schema=None) as batch_op:
        batch_op.create_index('ux_auth_user_username', ['username'], unique=True)

    op.create_table('auth_session',
    sa.Column('id_hash', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['auth_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash')
    )
    op.create_table('auth_user_patient',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['auth_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'patient_id')
    )


def downgrade() -> None:
    op.drop_table('auth_user_patient')
    op.drop_table('auth_session')
    with op.batch_alter_table('auth_user', schema=None) as batch_op:
        batch_op.drop_index('ux_auth_user_username')

    op.drop_table('auth_user')
    with op.batch_alter_table('auth_token', schema=None) as batch_op:
        batch_op.drop_index('ux_auth_token_refresh')
        batch_op.drop_index('ix_auth_token_grant')

    op.drop_table('auth_token')
    op.drop_table('auth_launch')
    op.drop_table('auth_key')
    with op.batch_alter_table('auth_grant', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_grant_user')

    op.drop_table('auth_grant')
    op.drop_table('auth_code')
    op.drop_table('auth_client')
    op.drop_table('auth_assertion_jti')
