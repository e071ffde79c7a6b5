"""traffic_texts: the reference service's ring of the last N texts it classified

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 21:40:00

The reference service keeps a bounded sample of the texts it was asked to classify (no ids, no
tokens), written in batches and pruned to CLFWATCH_SERVICE_TRAFFIC_SAMPLE rows;
``clfwatch drift run --traffic`` compares it with the training data.
"""
from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from storage.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "traffic_texts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_texts")),
    )


def downgrade() -> None:
    op.drop_table("traffic_texts")
