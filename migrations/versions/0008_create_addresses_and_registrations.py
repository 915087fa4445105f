"""create addresses, registration templates and requests; client template settings; staff flag

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 00:54:12.939604
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('addresses',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('street', sa.String(length=200), nullable=False),
    sa.Column('street2', sa.String(length=200), nullable=True),
    sa.Column('postal_code', sa.String(length=20), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('phone_number', sa.String(length=40), nullable=True),
    sa.Column('is_invoice', sa.Boolean(), nullable=False),
    sa.Column('is_delivery', sa.Boolean(), nullable=False),
    sa.Column('is_default_invoice', sa.Boolean(), nullable=False),
    sa.Column('is_default_delivery', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_addresses_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addresses'))
    )
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addresses_organization_id'), ['organization_id'], unique=False)

    op.create_table('registration_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('template_name', sa.String(length=64), nullable=True),
    sa.Column('flow', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('company', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('redirect_uri', sa.String(length=2000), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('organization_id', sa.Uuid(), nullable=True),
    sa.Column('decided_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_registration_requests_organization_id_organizations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_registration_requests_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_requests'))
    )
    with op.batch_alter_table('registration_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_requests_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_requests_user_id'), ['user_id'], unique=False)

    templates = op.create_table('registration_templates',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('flow', sa.String(length=32), nullable=False),
    sa.Column('role_name', sa.String(length=64), nullable=True),
    sa.Column('payment_mode', sa.String(length=32), nullable=True),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['role_name'], ['roles.name'], name=op.f('fk_registration_templates_role_name_roles')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_registration_templates'))
    )
    # One template per flow; the consumer one is the default, so a shop that configures
    # nothing gets the plain (B2C) registration page.
    company = ["companyName", "vatNumber", "street", "postalCode", "city", "country",
               "phoneNumber"]
    op.bulk_insert(templates, [
        {"name": "consumer", "display_name": "Consumer", "flow": "consumer", "role_name": None,
         "payment_mode": None, "fields": [], "is_default": True},
        {"name": "company", "display_name": "Company (complete registration)",
         "flow": "complete", "role_name": "supervisor", "payment_mode": "payDirectly",
         "fields": company, "is_default": False},
        {"name": "company-erp-approval", "display_name": "Company (approved in the ERP)",
         "flow": "erpApproval", "role_name": "purchaser", "payment_mode": "onAccount",
         "fields": ["customerNumber", *company], "is_default": False},
        {"name": "company-backoffice-approval",
         "display_name": "Company (approved by back office)", "flow": "backofficeApproval",
         "role_name": "purchaser", "payment_mode": "onAccount",
         "fields": ["customerNumber", *company], "is_default": False},
    ])
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration_template', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('allow_template_choice', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_staff', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('is_staff')

    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('allow_template_choice')
        batch_op.drop_column('registration_template')

    op.drop_table('registration_templates')
    with op.batch_alter_table('registration_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registration_requests_user_id'))
        batch_op.drop_index(batch_op.f('ix_registration_requests_status'))

    op.drop_table('registration_requests')
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addresses_organization_id'))

    op.drop_table('addresses')
