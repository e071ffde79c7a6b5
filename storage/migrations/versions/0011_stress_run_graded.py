"""stress runs say whether they count for the grade

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 22:30:00

``stress_runs.graded`` is False for a run whose score must not become its target's stress
points: part of the suite (``--only``), other bars (``--bar``), or an operator's key or model
instead of the registered ones. Before this revision a run did not record how it was started;
one that holds fewer verdicts than the ten scenarios of a suite ran part of it, and is marked
not graded; the others keep counting as they did.
"""
from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SUITE_SCENARIOS = 10  # both suites (classifier, llm) have ten scenarios


def upgrade() -> None:
    with op.batch_alter_table("stress_runs") as batch:
        batch.add_column(sa.Column("graded", sa.Boolean(), nullable=False, server_default=sa.true()))
    runs, results = sa.table("stress_runs", sa.column("id"), sa.column("graded")), sa.table(
        "stress_results", sa.column("run_id"), sa.column("scenario")
    )
    verdicts = (
        sa.select(sa.func.count())
        .select_from(results)
        .where(results.c.run_id == runs.c.id, results.c.scenario != "preflight")
        .scalar_subquery()
    )
    op.execute(sa.update(runs).where(verdicts < SUITE_SCENARIOS).values(graded=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("stress_runs") as batch:
        batch.drop_column("graded")
