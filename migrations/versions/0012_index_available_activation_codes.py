"""index available activation codes by batch (allocation's draw, by id, walked the
primary key past every code already taken)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 03:59:35
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

AVAILABLE = "state = 'available'"


def upgrade():
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.create_index('ix_activation_codes_available', ['config_id', 'batch_number', 'id'], unique=False,
                              postgresql_where=sa.text(AVAILABLE), sqlite_where=sa.text(AVAILABLE))


def downgrade():
    with op.batch_alter_table('activation_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_activation_codes_available',
                            postgresql_where=sa.text(AVAILABLE), sqlite_where=sa.text(AVAILABLE))
