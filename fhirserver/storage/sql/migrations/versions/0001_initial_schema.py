"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 07:28:42.640543
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('conditional_lock',
    sa.Column('criteria_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('criteria_hash')
    )
    op.create_table('reindex_state',
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('last_rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('updated', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('job')
    )
    op.create_table('resource',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('res_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('res_id', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('last_updated', sa.DateTime(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('rid')
    )
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.create_index('ix_resource_type_updated', ['res_type', 'last_updated'], unique=False)
        batch_op.create_index('ux_resource_type_id', ['res_type', 'res_id'], unique=True)

    op.create_table('idx_compartment',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('comp_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('comp_id', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], ondelete='CASCADE')
    )
    with op.batch_alter_table('idx_compartment', schema=None) as batch_op:
        batch_op.create_index('ix_idx_compartment_member', ['comp_type', 'comp_id', 'res_type', 'rid'], unique=False)
        batch_op.create_index('ix_idx_compartment_rid', ['rid'], unique=False)

    op.create_table('idx_composite',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('param', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('grp', sa.Integer(), nullable=False),
    sa.Column('comp', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.Column('code', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.Column('text', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.Column('low', sa.Float(), nullable=True),
    sa.Column('high', sa.Float(), nullable=True),
    sa.Column('dlow', sa.DateTime(), nullable=True),
    sa.Column('dhigh', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], ondelete='CASCADE')
    )
    with op.batch_alter_table('idx_composite', schema=None) as batch_op:
        batch_op.create_index('ix_idx_composite_comp_code', ['res_type', 'param', 'comp', 'code', 'rid'], unique=False)
        batch_op.create_index('ix_idx_composite_rid', ['rid'], unique=False)

    op.create_table('idx_date',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('param', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('low', sa.DateTime(), nullable=True),
    sa.Column('high', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], ondelete='CASCADE')
    )
    with op.batch_alter_table('idx_date', schema=None) as batch_op:
        batch_op.create_index('ix_idx_date_high', ['res_type', 'param', 'high', 'rid'], unique=False)
        batch_op.create_index('ix_idx_date_low_high', ['res_type', 'param', 'low', 'high', 'rid'], unique=False)
        batch_op.create_index('ix_idx_date_rid', ['rid'], unique=False)

    op.create_table('idx_number',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('param', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('low', sa.Float(), nullable=True),
    sa.Column('high', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], ondelete='CASCADE')
    )
    with op.batch_alter_table('idx_number', schema=None) as batch_op:
        batch_op.create_index('ix_idx_number_high', ['res_type', 'param', 'high', 'rid'], unique=False)
        batch_op.create_index('ix_idx_number_low_high', ['res_type', 'param', 'low', 'high', 'rid'], unique=False)
        batch_op.create_index('ix_idx_number_rid', ['rid'], unique=False)

    op.create_table('idx_quantity',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('param', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('system', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.Column('code', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.Column('low', sa.Float(), nullable=True),
    sa.Column('high', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], ondelete='CASCADE')
    )
    with op.batch_alter_table('idx_quantity', schema=None) as batch_op:
        batch_op.create_index('ix_idx_quantity_code_low', ['res_type', 'param', 'code', 'low', 'rid'], unique=False)
        batch_op.create_index('ix_idx_quantity_low', ['res_type', 'param', 'low', 'rid'], unique=False)
        batch_op.create_index('ix_idx_quantity_rid', ['rid'], unique=False)

    op.create_table('idx_reference',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('param', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('target_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=True),
    sa.Column('target_id', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=True),
    sa.Column('target_version', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=True),
    sa.Column('url', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.Column('ident_system', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.Column('ident_value', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], ondelete='CASCADE')
    )
    with op.batch_alter_table('idx_reference', schema=None) as batch_op:
        batch_op.create_index('ix_idx_reference_ident_value', ['res_type', 'param', 'ident_value', 'rid'], unique=False)
        batch_op.create_index('ix_idx_reference_rid', ['rid'], unique=False)
        batch_op.create_index('ix_idx_reference_target', ['target_type', 'target_id', 'param', 'res_type'], unique=False)
        batch_op.create_index('ix_idx_reference_target_id_target_type', ['res_type', 'param', 'target_id', 'target_type', 'rid'], unique=False)
        batch_op.create_index('ix_idx_reference_url', ['res_type', 'param', 'url', 'rid'], unique=False)

    op.create_table('idx_string',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('param', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('value', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.Column('exact', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], ondelete='CASCADE')
    )
    with op.batch_alter_table('idx_string', schema=None) as batch_op:
        batch_op.create_index('ix_idx_string_exact', ['res_type', 'param', 'exact', 'rid'], unique=False)
        batch_op.create_index('ix_idx_string_rid', ['rid'], unique=False)
        batch_op.create_index('ix_idx_string_value', ['res_type', 'param', 'value', 'rid'], unique=False)

    op.create_table('idx_token',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('param', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('system', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.Column('code', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.Column('text', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], ondelete='CASCADE')
    )
    with op.batch_alter_table('idx_token', schema=None) as batch_op:
        batch_op.create_index('ix_idx_token_code_system', ['res_type', 'param', 'code', 'system', 'rid'], unique=False)
        batch_op.create_index('ix_idx_token_rid', ['rid'], unique=False)
        batch_op.create_index('ix_idx_token_system', ['res_type', 'param', 'system', 'rid'], unique=False)
        batch_op.create_index('ix_idx_token_text', ['res_type', 'param', 'text', 'rid'], unique=False)

    op.create_table('idx_uri',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('res_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('param', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('value', sa.String(length=512).with_variant(sa.String(length=512, collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], ondelete='CASCADE')
    )
    with op.batch_alter_table('idx_uri', schema=None) as batch_op:
        batch_op.create_index('ix_idx_uri_rid', ['rid'], unique=False)
        batch_op.create_index('ix_idx_uri_value', ['res_type', 'param', 'value', 'rid'], unique=False)

    op.create_table('resource_history',
    sa.Column('hid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('res_type', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('res_id', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
    sa.Column('last_updated', sa.DateTime(), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('hid')
    )
    with op.batch_alter_table('resource_history', schema=None) as batch_op:
        batch_op.create_index('ix_history_type_updated', ['res_type', 'last_updated'], unique=False)
        batch_op.create_index('ix_history_updated', ['last_updated'], unique=False)
        batch_op.create_index('ux_history_rid_version', ['rid', 'version_id'], unique=True)




def downgrade() -> None:

    with op.batch_alter_table('resource_history', schema=None) as batch_op:
        batch_op.drop_index('ux_history_rid_version')
        batch_op.drop_index('ix_history_updated')
        batch_op.drop_index('ix_history_type_updated')

    op.drop_table('resource_history')
    with op.batch_alter_table('idx_uri', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_uri_value')
        batch_op.drop_index('ix_idx_uri_rid')

    op.drop_table('idx_uri')
    with op.batch_alter_table('idx_token', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_token_text')
        batch_op.drop_index('ix_idx_token_system')
        batch_op.drop_index('ix_idx_token_rid')
        batch_op.drop_index('ix_idx_token_code_system')

    op.drop_table('idx_token')
    with op.batch_alter_table('idx_string', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_string_value')
        batch_op.drop_index('ix_idx_string_rid')
        batch_op.drop_index('ix_idx_string_exact')

    op.drop_table('idx_string')
    with op.batch_alter_table('idx_reference', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_reference_url')
        batch_op.drop_index('ix_idx_reference_target_id_target_type')
        batch_op.drop_index('ix_idx_reference_target')
        batch_op.drop_index('ix_idx_reference_rid')
        batch_op.drop_index('ix_idx_reference_ident_value')

    op.drop_table('idx_reference')
    with op.batch_alter_table('idx_quantity', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_quantity_rid')
        batch_op.drop_index('ix_idx_quantity_low')
        batch_op.drop_index('ix_idx_quantity_code_low')

    op.drop_table('idx_quantity')
    with op.batch_alter_table('idx_number', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_number_rid')
        batch_op.drop_index('ix_idx_number_low_high')
        batch_op.drop_index('ix_idx_number_high')

    op.drop_table('idx_number')
    with op.batch_alter_table('idx_date', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_date_rid')
        batch_op.drop_index('ix_idx_date_low_high')
        batch_op.drop_index('ix_idx_date_high')

    op.drop_table('idx_date')
    with op.batch_alter_table('idx_composite', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_composite_rid')
        batch_op.drop_index('ix_idx_composite_comp_code')

    op.drop_table('idx_composite')
    with op.batch_alter_table('idx_compartment', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_compartment_rid')
        batch_op.drop_index('ix_idx_compartment_member')

    op.drop_table('idx_compartment')
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.drop_index('ux_resource_type_id')
        batch_op.drop_index('ix_resource_type_updated')

    op.drop_table('resource')
    op.drop_table('reindex_state')
    op.drop_table('conditional_lock')

