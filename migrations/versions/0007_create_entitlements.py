"""create entitlements

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 00:52:51.310864
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('license_models',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('seat_counting', sa.String(length=16), nullable=False),
    sa.Column('max_lease_seconds', sa.Integer(), nullable=False),
    sa.Column('max_offline_seconds', sa.Integer(), nullable=False),
    sa.Column('cooldown_seconds', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_license_models')),
    sa.UniqueConstraint('name', name=op.f('uq_license_models_name'))
    )
    op.create_table('licensed_items',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('display_names', sa.JSON(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licensed_items')),
    sa.UniqueConstraint('name', name=op.f('uq_licensed_items_name'))
    )
    op.create_table('entitlements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('organization_id', sa.Uuid(), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(user_id IS NULL) <> (organization_id IS NULL)', name=op.f('ck_entitlements_one_owner')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_entitlements_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_entitlements_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entitlements')),
    sa.UniqueConstraint('user_id', name=op.f('uq_entitlements_user_id'))
    )
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entitlements_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('uq_entitlements_default_organization', ['organization_id'], unique=True, sqlite_where=sa.text('is_default'), postgresql_where=sa.text('is_default'))

    op.create_table('product_packages',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('license_model_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['license_model_id'], ['license_models.id'], name=op.f('fk_product_packages_license_model_id_license_models')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_packages')),
    sa.UniqueConstraint('name', name=op.f('uq_product_packages_name'))
    )
    with op.batch_alter_table('product_packages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_packages_license_model_id'), ['license_model_id'], unique=False)

    op.create_table('license_transactions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('entitlement_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('organization_id', sa.Uuid(), nullable=True),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(user_id IS NULL) <> (organization_id IS NULL)', name=op.f('ck_license_transactions_one_owner')),
    sa.ForeignKeyConstraint(['entitlement_id'], ['entitlements.id'], name=op.f('fk_license_transactions_entitlement_id_entitlements'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_license_transactions_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_license_transactions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_license_transactions')),
    sa.UniqueConstraint('organization_id', 'external_id', name=op.f('uq_license_transactions_organization_id')),
    sa.UniqueConstraint('user_id', 'external_id', name=op.f('uq_license_transactions_user_id'))
    )
    with op.batch_alter_table('license_transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_license_transactions_entitlement_id'), ['entitlement_id'], unique=False)

    op.create_table('product_package_items',
    sa.Column('product_package_id', sa.Uuid(), nullable=False),
    sa.Column('licensed_item_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['licensed_item_id'], ['licensed_items.id'], name=op.f('fk_product_package_items_licensed_item_id_licensed_items')),
    sa.ForeignKeyConstraint(['product_package_id'], ['product_packages.id'], name=op.f('fk_product_package_items_product_package_id_product_packages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_package_id', 'licensed_item_id', name=op.f('pk_product_package_items'))
    )
    op.create_table('license_transaction_items',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('transaction_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('product_package_id', sa.Uuid(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('license_valid_from', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('license_valid_until', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_license_transaction_items_quantity_positive')),
    sa.ForeignKeyConstraint(['product_package_id'], ['product_packages.id'], name=op.f('fk_license_transaction_items_product_package_id_product_packages')),
    sa.ForeignKeyConstraint(['transaction_id'], ['license_transactions.id'], name=op.f('fk_license_transaction_items_transaction_id_license_transactions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_license_transaction_items')),
    sa.UniqueConstraint('transaction_id', 'external_id', name=op.f('uq_license_transaction_items_transaction_id'))
    )
    op.create_table('licenses',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('entitlement_id', sa.Uuid(), nullable=False),
    sa.Column('transaction_item_id', sa.Uuid(), nullable=False),
    sa.Column('licensed_item_id', sa.Uuid(), nullable=False),
    sa.Column('seats_total', sa.Integer(), nullable=False),
    sa.Column('valid_from', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('suspended_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('seats_total > 0', name=op.f('ck_licenses_seats_positive')),
    sa.ForeignKeyConstraint(['entitlement_id'], ['entitlements.id'], name=op.f('fk_licenses_entitlement_id_entitlements'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['licensed_item_id'], ['licensed_items.id'], name=op.f('fk_licenses_licensed_item_id_licensed_items')),
    sa.ForeignKeyConstraint(['transaction_item_id'], ['license_transaction_items.id'], name=op.f('fk_licenses_transaction_item_id_license_transaction_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licenses'))
    )
    with op.batch_alter_table('licenses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_licenses_entitlement_id'), ['entitlement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_licenses_transaction_item_id'), ['transaction_item_id'], unique=False)


def downgrade():
    with op.batch_alter_table('licenses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_licenses_transaction_item_id'))
        batch_op.drop_index(batch_op.f('ix_licenses_entitlement_id'))

    op.drop_table('licenses')
    op.drop_table('license_transaction_items')
    op.drop_table('product_package_items')
    with op.batch_alter_table('license_transactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_license_transactions_entitlement_id'))

    op.drop_table('license_transactions')
    with op.batch_alter_table('product_packages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_packages_license_model_id'))

    op.drop_table('product_packages')
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.drop_index('uq_entitlements_default_organization', sqlite_where=sa.text('is_default'), postgresql_where=sa.text('is_default'))
        batch_op.drop_index(batch_op.f('ix_entitlements_organization_id'))

    op.drop_table('entitlements')
    op.drop_table('licensed_items')
    op.drop_table('license_models')
