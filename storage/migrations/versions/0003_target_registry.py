"""targets: self-service flag, team key hash, longer names; target_changes audit table

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 22:30:00
"""
import sqlalchemy as sa

import storage.models
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On SQLite the name's new length makes batch mode copy and drop the targets table;
    # alembic/env.py turns foreign keys off for migrations so probes are not cascade-deleted.
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.alter_column(
            "name", existing_type=sa.String(length=64), type_=sa.String(length=100),
            existing_nullable=False,
        )
        batch_op.add_column(
            sa.Column("self_service", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("key_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("key_issued_at", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(batch_op.f("uq_targets_key_hash"), ["key_hash"])
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.alter_column("self_service", server_default=None)

    op.create_table(
        "target_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"],
            name=op.f("fk_target_changes_target_id_targets"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_target_changes")),
    )
    with op.batch_alter_table("target_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_target_changes_target_id"), ["target_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("target_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_target_changes_target_id"))
    op.drop_table("target_changes")
    with op.batch_alter_table("targets", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_targets_key_hash"), type_="unique")
        batch_op.drop_column("key_issued_at")
        batch_op.drop_column("key_hash")
        batch_op.drop_column("self_service")
        batch_op.alter_column(
            "name", existing_type=sa.String(length=100), type_=sa.String(length=64),
            existing_nullable=False,
        )
