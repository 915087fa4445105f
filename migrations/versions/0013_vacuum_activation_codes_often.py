"""vacuum activation codes after every few thousand changes, not a fifth of the table

Allocation draws the oldest codes in stock from the start of the partial index of available
codes; every code drawn leaves a dead entry there until VACUUM removes it, and each draw reads
past them. PostgreSQL's default (vacuum once a fifth of the table has changed) lets 200,000 of
them gather in a stock of 1,000,000 codes; this keeps it to a few thousand. PostgreSQL only.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 13:40:00
"""

from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SETTINGS = {'autovacuum_vacuum_scale_factor': 0, 'autovacuum_vacuum_threshold': 5000}


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        settings = ', '.join(f'{name} = {value}' for name, value in SETTINGS.items())
        op.execute(f'ALTER TABLE activation_codes SET ({settings})')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'ALTER TABLE activation_codes RESET ({", ".join(SETTINGS)})')
