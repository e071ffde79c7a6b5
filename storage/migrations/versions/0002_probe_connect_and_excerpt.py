"""probes: connect time and a failed answer's excerpt

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 19:00:00
"""
import sqlalchemy as sa

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("connect_ms", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("body_excerpt", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.drop_column("body_excerpt")
        batch_op.drop_column("connect_ms")
