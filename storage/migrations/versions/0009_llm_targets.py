"""openai-chat targets: a target's kind and model, and what a streamed chat probe measures

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 01:20:00

``targets.kind`` tells the contract a target is held to ("classifier", every existing target, or
"openai-chat"); ``targets.model`` is the model an openai-chat target is asked for. A ``chat`` probe
records its time to first token, mean inter-token latency, output tokens per second, how many
tokens and where that count came from ("usage" or "chunks"); other probes leave them null.
"""
from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("targets") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="classifier")
        )
        batch.add_column(sa.Column("model", sa.String(length=256), nullable=True))
    with op.batch_alter_table("probes") as batch:
        batch.add_column(sa.Column("ttft_ms", sa.Float(), nullable=True))
        batch.add_column(sa.Column("itl_ms", sa.Float(), nullable=True))
        batch.add_column(sa.Column("tokens_per_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("output_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tokens_source", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("probes") as batch:
        for column in ("tokens_source", "output_tokens", "tokens_per_s", "itl_ms", "ttft_ms"):
            batch.drop_column(column)
    with op.batch_alter_table("targets") as batch:
        batch.drop_column("model")
        batch.drop_column("kind")
