"""create activation code configurations, batches, codes (keyed hashes only) and allocations

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 01:20:46.370434
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _not_null(column):
    """A partial index's condition, for both engines."""
    condition = sa.text(f'{column} IS NOT NULL')
    return {'postgresql_where': condition, 'sqlite_where': condition}


def upgrade():
    op.create_table('activation_code_configs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('product_package_id', sa.Uuid(), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.Column('license_valid_from', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('license_valid_until', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('license_duration', sa.String(length=40), nullable=True),
    sa.Column('redeemable_from', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('redeemable_until', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reseller', sa.String(length=200), nullable=True),
    sa.Column('low_water_mark', sa.Integer(), nullable=False),
    sa.Column('high_water_mark', sa.Integer(), nullable=False),
    sa.Column('stock_low_armed', sa.Boolean(), nullable=False),
    sa.Column('stock_exhausted_armed', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('license_duration IS NULL OR (license_valid_from IS NULL AND '
                       'license_valid_until IS NULL)',
                       name=op.f('ck_activation_code_configs_one_validity')),
    sa.CheckConstraint('low_water_mark >= 0 AND high_water_mark >= low_water_mark',
                       name=op.f('ck_activation_code_configs_water_marks')),
    sa.CheckConstraint('seats > 0', name=op.f('ck_activation_code_configs_seats_positive')),
    sa.ForeignKeyConstraint(['product_package_id'], ['product_packages.id'],
                            name=op.f('fk_activation_code_configs_product_package_id_product_packages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activation_code_configs'))
    )
    with op.batch_alter_table('activation_code_configs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activation_code_configs_product_package_id'),
                              ['product_package_id'], unique=False)

    op.create_table('activation_code_batches',
    sa.Column('number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('config_id', sa.Uuid(), nullable=False),
    sa.Column('offline', sa.Boolean(), nullable=False),
    sa.Column('revoked_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('number BETWEEN 1 AND 65535',
                       name=op.f('ck_activation_code_batches_number_range')),
    sa.ForeignKeyConstraint(['config_id'], ['activation_code_configs.id'],
                            name=op.f('fk_activation_code_batches_config_id_activation_code_configs')),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_activation_code_batches'))
    )
    with op.batch_alter_table('activation_code_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activation_code_batches_config_id'), ['config_id'],
                              unique=False)

    op.create_table('activation_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('batch_number', sa.Integer(), nullable=False),
    sa.Column('config_id', sa.Uuid(), nullable=False),
    sa.Column('serial', sa.BigInteger(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('order_ref', sa.String(length=200), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('allocated_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('redeemed_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('voided_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('redeemed_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('license_transaction_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint("state IN ('available', 'allocated', 'redeemed', 'void')",
                       name=op.f('ck_activation_codes_state')),
    sa.ForeignKeyConstraint(['batch_number'], ['activation_code_batches.number'],
                            name=op.f('fk_activation_codes_batch_number_activation_code_batches')),
    sa.ForeignKeyConstraint(['config_id'], ['activation_code_configs.id'],
                            name=op.f('fk_activation_codes_config_id_activation_code_configs')),
    sa.ForeignKeyConstraint(['license_transaction_id'], ['license_transactions.id'],
                            name=op.f('fk_activation_codes_license_transaction_id_license_transactions'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['redeemed_by_user_id'], ['users.id'],
                            name=op.f('fk_activation_codes_redeemed_by_user_id_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activation_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_activation_codes_code_hash'))
    )
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.create_index('ix_activation_codes_config_id_state_id',
                              ['config_id', 'state', 'id'], unique=False)
        batch_op.create_index('ix_activation_codes_config_id_order_ref',
                              ['config_id', 'order_ref'], unique=False, **_not_null('order_ref'))
        batch_op.create_index('ix_activation_codes_redeemed_by_user_id',
                              ['redeemed_by_user_id'], unique=False,
                              **_not_null('redeemed_by_user_id'))
        batch_op.create_index('ix_activation_codes_license_transaction_id',
                              ['license_transaction_id'], unique=False,
                              **_not_null('license_transaction_id'))

    op.create_table('activation_code_allocations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('config_id', sa.Uuid(), nullable=False),
    sa.Column('order_ref', sa.String(length=200), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['config_id'], ['activation_code_configs.id'],
                            name=op.f('fk_activation_code_allocations_config_id_activation_code_configs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activation_code_allocations')),
    sa.UniqueConstraint('config_id', 'order_ref',
                        name=op.f('uq_activation_code_allocations_config_id'))
    )


def downgrade():
    op.drop_table('activation_code_allocations')
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_activation_codes_license_transaction_id',
                            **_not_null('license_transaction_id'))
        batch_op.drop_index('ix_activation_codes_redeemed_by_user_id',
                            **_not_null('redeemed_by_user_id'))
        batch_op.drop_index('ix_activation_codes_config_id_order_ref', **_not_null('order_ref'))
        batch_op.drop_index('ix_activation_codes_config_id_state_id')

    op.drop_table('activation_codes')
    with op.batch_alter_table('activation_code_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activation_code_batches_config_id'))

    op.drop_table('activation_code_batches')
    with op.batch_alter_table('activation_code_configs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activation_code_configs_product_package_id'))

    op.drop_table('activation_code_configs')
