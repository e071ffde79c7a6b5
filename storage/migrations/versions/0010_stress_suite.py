"""stress runs record their suite

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 01:30:00

``stress_runs.suite`` says which ten scenarios a run ran: "classifier" (the contract's suite,
every run stored before this revision) or "llm" (the suite for openai-chat targets), so the
stress page lists both kinds of run and shows each run's verdicts in its own suite's order.
"""
from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stress_runs") as batch:
        batch.add_column(sa.Column("suite", sa.String(length=16), nullable=False, server_default="classifier"))


def downgrade() -> None:
    with op.batch_alter_table("stress_runs") as batch:
        batch.drop_column("suite")
