"""late probes: the prober's lateness kept apart from the targets' measurements

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 21:45:00

A probe that started later than ``CLFWATCH_PROBE_LATE_AFTER_S`` after its slot measured an
overloaded prober, not the target: ``probes.prober_late_ms`` marks it (how late it was), the
hourly rollups count it in ``n_late`` only (none of the graded counts), and each prober session's
heartbeat carries its lateness (``lateness_ms``, ``late_probes``, ``late_at``) for the dashboard.
Existing rows were all on time as far as anyone knows: null / 0.
"""
from __future__ import annotations

import sqlalchemy as sa

import storage.models

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("probes") as batch:
        batch.add_column(sa.Column("prober_late_ms", sa.Float(), nullable=True))
    with op.batch_alter_table("probe_rollups") as batch:
        batch.add_column(sa.Column("n_late", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("prober_sessions") as batch:
        batch.add_column(sa.Column("lateness_ms", sa.Float(), nullable=True))
        batch.add_column(sa.Column("late_probes", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("late_at", storage.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prober_sessions") as batch:
        batch.drop_column("late_at")
        batch.drop_column("late_probes")
        batch.drop_column("lateness_ms")
    with op.batch_alter_table("probe_rollups") as batch:
        batch.drop_column("n_late")
    with op.batch_alter_table("probes") as batch:
        batch.drop_column("prober_late_ms")
