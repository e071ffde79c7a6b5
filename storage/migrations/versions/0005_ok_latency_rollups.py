"""rollups: latency of ok probes only

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 23:50:00

The graded latency counts ok predict probes only (issue 12), so the rollups' latency
(``probe_rollups.latency_n``, ``latency_sum_ms``) and ``probe_latency_bins`` now count ok probes
only. Upgrade recomputes both from the raw probes (outcome ok, latency not null) per target,
kind and hour. The bin edges (``storage.probes.latency_bin_edge``, a bisect over 167 edges) are
not portable SQL, so the raw rows are read in batches of ``BATCH_ROWS`` by id and binned in
Python; the sums are kept in memory per rollup hour (a few hundred per target and week).

Downgrade recomputes the old way: latency of every answered probe (latency not null),
whatever its outcome.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa

from alembic import op
from storage.models import UTCDateTime
from storage.probes import hour_floor, latency_bin_edge

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BATCH_ROWS = 50_000
WRITE_CHUNK_ROWS = 1_000

probes = sa.table(
    "probes",
    sa.column("id", sa.Integer()),
    sa.column("target_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("started_at", UTCDateTime()),
    sa.column("outcome", sa.String()),
    sa.column("latency_ms", sa.Float()),
)
rollups = sa.table(
    "probe_rollups",
    sa.column("target_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("bucket_start", UTCDateTime()),
    sa.column("latency_n", sa.BigInteger()),
    sa.column("latency_sum_ms", sa.Float()),
)
bins = sa.table(
    "probe_latency_bins",
    sa.column("target_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("bucket_start", UTCDateTime()),
    sa.column("le_ms", sa.Float()),
    sa.column("n", sa.BigInteger()),
)


def _rebuild(*, ok_only: bool) -> None:
    """Rollup latencies and bins recomputed from raw rows (ok ones only, or every answered one)."""
    conn = op.get_bind()
    sums: dict[tuple[int, str, datetime], list[float]] = defaultdict(lambda: [0, 0.0])
    counts: dict[tuple[int, str, datetime, float], int] = defaultdict(int)
    conditions = [probes.c.latency_ms.is_not(None)]
    if ok_only:
        conditions.append(probes.c.outcome == "ok")
    last_id = 0
    for _ in range(10**9):  # bounded by the table's size: each round moves past BATCH_ROWS ids
        rows = conn.execute(
            sa.select(probes.c.id, probes.c.target_id, probes.c.kind, probes.c.started_at,
                      probes.c.latency_ms)
            .where(probes.c.id > last_id, *conditions)
            .order_by(probes.c.id)
            .limit(BATCH_ROWS)
        ).all()
        if not rows:
            break
        for _row_id, target_id, kind, started_at, latency in rows:
            key = (target_id, kind, hour_floor(started_at))
            acc = sums[key]
            acc[0] += 1
            acc[1] += float(latency)
            counts[(*key, latency_bin_edge(float(latency)))] += 1
        last_id = rows[-1][0]
    conn.execute(sa.update(rollups).values(latency_n=0, latency_sum_ms=0.0))
    conn.execute(sa.delete(bins))
    update = (
        sa.update(rollups)
        .where(rollups.c.target_id == sa.bindparam("t"), rollups.c.kind == sa.bindparam("k"),
               rollups.c.bucket_start == sa.bindparam("b"))
        .values(latency_n=sa.bindparam("n"), latency_sum_ms=sa.bindparam("total"))
    )
    params = [dict(t=t, k=k, b=b, n=int(a[0]), total=a[1]) for (t, k, b), a in sums.items()]
    for i in range(0, len(params), WRITE_CHUNK_ROWS):
        conn.execute(update, params[i : i + WRITE_CHUNK_ROWS])
    items = [dict(target_id=t, kind=k, bucket_start=b, le_ms=le, n=n) for (t, k, b, le), n in counts.items()]
    for i in range(0, len(items), WRITE_CHUNK_ROWS):
        conn.execute(sa.insert(bins), items[i : i + WRITE_CHUNK_ROWS])


def upgrade() -> None:
    _rebuild(ok_only=True)


def downgrade() -> None:
    _rebuild(ok_only=False)
