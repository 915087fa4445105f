"""index authorization code nonces (each authorization request with a nonce looks it up)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 03:32:18.320463
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.create_index('ix_authorization_codes_client_id_nonce', ['client_id', 'nonce'],
                              unique=False, sqlite_where=sa.text('nonce IS NOT NULL'),
                              postgresql_where=sa.text('nonce IS NOT NULL'))


def downgrade():
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_authorization_codes_client_id_nonce',
                            sqlite_where=sa.text('nonce IS NOT NULL'),
                            postgresql_where=sa.text('nonce IS NOT NULL'))
