"""create outbox messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:36:36.997552
"""

from alembic import op
import sqlalchemy as sa
import app.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outbox_messages',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=False),
    sa.Column('locale', sa.String(length=35), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed')",
                       name=op.f('ck_outbox_messages_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages'))
    )
    op.create_index('ix_outbox_messages_status_next_attempt_at', 'outbox_messages',
                    ['status', 'next_attempt_at'], unique=False)
    op.create_index('ix_outbox_messages_user_id_template', 'outbox_messages',
                    ['user_id', 'template'], unique=False)


def downgrade():
    op.drop_index('ix_outbox_messages_user_id_template', table_name='outbox_messages')
    op.drop_index('ix_outbox_messages_status_next_attempt_at', table_name='outbox_messages')
    op.drop_table('outbox_messages')
