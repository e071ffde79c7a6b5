"""prober sessions: the replica ordinal of a ``--shard auto`` prober

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 06:30:00

Probers started with ``--shard auto`` (the pods of the Kubernetes StatefulSet) record their
ordinal; the ordinals of the sessions with a fresh heartbeat are the peers that split the
targets by rendezvous hashing, so scaling the StatefulSet re-splits them with no restart.
"""
from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prober_sessions") as batch:
        batch.add_column(sa.Column("shard_ordinal", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prober_sessions") as batch:
        batch.drop_column("shard_ordinal")
