"""Scoreboard from the database vs a plain pandas computation over the same week of probes.

Loads 100 targets x 7 days x one health + one predict probe every 10 s (~12 M rows) into a
dedicated Postgres database (created here, dropped at the end unless --keep), with COPY via
psycopg; the hourly rollups and latency bins are then built with INSERT ... SELECT ... GROUP BY,
so they match the raw rows exactly (latency of ok answers only, as storage.probes writes them).
Then, in the same run, times:

* ``compute_scoreboard`` (rollups + raw edge rows + latest probabilities, in SQL), and
* pandas: read the same rows (COPY to CSV, ``read_csv``) and compute the same components with
  the same point functions.

Prints both times, the ratio, and checks that both routes give the same totals.

    .venv/bin/python bench/scoring.py [--targets 100] [--days 7] [--keep]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring.board import compute_scoreboard, roc_auc  # noqa: E402
from scoring.points import (  # noqa: E402
    auc_points_by_rank,
    competition_ranks,
    lifetime_multiplier,
    linear_points,
    total_points,
)
from scoring.rules import COMPONENTS, DEFAULT_RULES  # noqa: E402
from storage.engine import make_engine, upgrade_database  # noqa: E402
from storage.probes import LATENCY_BIN_EDGES_MS  # noqa: E402

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "clfwatch_bench"
DSN = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
AT = datetime(2026, 3, 8, 0, 25, tzinfo=UTC)  # not hour-aligned: edge hours come from raw rows
INTERVAL_S = 10
EVAL_SAMPLES = 1000
BASELINE_AUC = 0.6
TARGETS_PER_COPY = 5
TIMED_RUNS = 3
SEED = 20260308
SAMPLE_NAMES = np.array([f"e{i:05d}" for i in range(EVAL_SAMPLES)], dtype=object)


def create_database() -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    upgrade_database(URL)


def drop_database() -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def target_chunk(rng: np.random.Generator, target_id: int, start: datetime, n_ticks: int,
                 labels: np.ndarray, first_uid: int) -> pd.DataFrame:
    """One target's week: a health and a predict probe every 10 s, with its own quality."""
    fail_rate = rng.uniform(0.0, 0.08)
    median_ms = rng.uniform(20, 450)
    skill = rng.uniform(0.0, 2.5)
    ticks = pd.Timestamp(start) + pd.to_timedelta(np.arange(n_ticks) * INTERVAL_S, unit="s")
    frames = []
    for k, kind in enumerate(("health", "predict")):
        failed = rng.random(n_ticks) < fail_rate
        latency = rng.lognormal(np.log(median_ms if kind == "predict" else 5.0), 0.6, n_ticks)
        frame = pd.DataFrame({
            "probe_uid": (first_uid + k * n_ticks + np.arange(n_ticks)).astype(str),
            "target_id": target_id,
            "kind": kind,
            "started_at": ticks + pd.Timedelta(milliseconds=500 * k),
        })
        if kind == "health":
            frame["status_code"] = pd.Series(np.where(failed, np.nan, 200.0)).astype("Int64")
            frame["latency_ms"] = np.where(failed, np.nan, latency)
            frame["outcome"] = np.where(failed, "timeout", "ok")
            frame["sample_id"] = None
            frame["probability"] = np.nan
        else:
            sample = np.arange(n_ticks) % len(labels)
            signal = skill * (2 * labels[sample] - 1) + rng.normal(0, 1, n_ticks)
            frame["status_code"] = np.where(failed, 500, 200)
            frame["latency_ms"] = latency
            frame["outcome"] = np.where(failed, "http_error", "ok")
            frame["sample_id"] = SAMPLE_NAMES[sample]
            frame["probability"] = np.where(failed, np.nan, 1 / (1 + np.exp(-signal)))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


COPY_COLUMNS = ("probe_uid", "target_id", "kind", "started_at", "status_code", "latency_ms",
                "outcome", "sample_id", "probability")


def load(n_targets: int, days: float) -> int:
    rng = np.random.default_rng(SEED)
    start = AT - timedelta(days=days)
    n_ticks = int((AT - start).total_seconds() // INTERVAL_S)
    labels = rng.integers(0, 2, EVAL_SAMPLES)
    t0 = time.perf_counter()
    with psycopg.connect(DSN) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO targets (id, name, base_url, predict_path, health_path, probability_pointer,"
                " registered_at, active, updated_at, self_service) VALUES (%s, %s, %s, '/predict', '/health',"
                " '/probability', %s, true, %s, false)",
                [(i, f"team-{i:03d}", f"http://127.0.0.1:{20000 + i}", start, start)
                 for i in range(1, n_targets + 1)],
            )
            cur.executemany(
                "INSERT INTO eval_samples (id, text, label) VALUES (%s, %s, %s)",
                [(f"e{i:05d}", f"text {i}", int(y)) for i, y in enumerate(labels)],
            )
            cur.execute(
                "INSERT INTO prober_sessions (id, hostname, started_at, last_seen_at, interval_s)"
                " VALUES ('bench', 'bench', %s, %s, %s)",
                (start - timedelta(hours=1), AT, INTERVAL_S),
            )
        # Bulk load without the secondary indexes, then build them once: same layout in the end.
        conn.execute("ALTER TABLE probes DROP CONSTRAINT uq_probes_probe_uid")
        conn.execute("DROP INDEX ix_probes_started_at")
        conn.execute("DROP INDEX ix_probes_target_kind_started")
        conn.commit()
        rows = 0
        for first in range(1, n_targets + 1, TARGETS_PER_COPY):
            frames = [
                target_chunk(rng, t, start, n_ticks, labels, first_uid=rows + (t - first) * 2 * n_ticks)
                for t in range(first, min(first + TARGETS_PER_COPY, n_targets + 1))
            ]
            chunk = pd.concat(frames, ignore_index=True)
            buffer = io.StringIO()
            chunk.to_csv(buffer, columns=list(COPY_COLUMNS), header=False, index=False,
                         date_format="%Y-%m-%d %H:%M:%S.%f+00")
            with conn.cursor() as cur, cur.copy(
                f"COPY probes ({', '.join(COPY_COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
            ) as copy:
                copy.write(buffer.getvalue())
            conn.commit()
            rows += len(chunk)
            print(f"  loaded {rows:>11,} rows ({min(first + TARGETS_PER_COPY - 1, n_targets)}/{n_targets}"
                  f" targets) {time.perf_counter() - t0:6.1f} s", flush=True)
        print("  building indexes ...", flush=True)
        conn.execute("ALTER TABLE probes ADD CONSTRAINT uq_probes_probe_uid UNIQUE (probe_uid)")
        conn.execute("CREATE INDEX ix_probes_target_kind_started ON probes (target_id, kind, started_at)")
        conn.execute("CREATE INDEX ix_probes_started_at ON probes (started_at)")
        conn.commit()
        print(f"  building rollups and latency bins ... {time.perf_counter() - t0:6.1f} s", flush=True)
        conn.execute(
            "INSERT INTO probe_rollups (target_id, kind, bucket_start, n_total, n_ok, n_200, latency_n,"
            " latency_sum_ms)"
            " SELECT target_id, kind, date_trunc('hour', started_at), count(*),"
            " sum(CASE WHEN outcome = 'ok' THEN 1 ELSE 0 END),"
            " sum(CASE WHEN status_code = 200 THEN 1 ELSE 0 END),"
            " count(CASE WHEN outcome = 'ok' THEN latency_ms END),"
            " coalesce(sum(CASE WHEN outcome = 'ok' THEN latency_ms END), 0)"
            " FROM probes GROUP BY 1, 2, 3"
        )
        # storage.probes.latency_bin_edge is bisect_left over the edges: the first edge >= x.
        # width_bucket over the negated, reversed edges counts the edges >= x.
        edges = list(LATENCY_BIN_EDGES_MS)
        negated = sorted(-e for e in edges)
        conn.execute(
            "INSERT INTO probe_latency_bins (target_id, kind, bucket_start, le_ms, n)"
            " SELECT target_id, kind, date_trunc('hour', started_at),"
            " (%(edges)s::float8[])[%(m)s - width_bucket(-latency_ms, %(neg)s::float8[]) + 1], count(*)"
            " FROM probes WHERE latency_ms IS NOT NULL AND outcome = 'ok' GROUP BY 1, 2, 3, 4",
            {"edges": edges, "neg": negated, "m": len(edges)},
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE probes")
        conn.execute("VACUUM ANALYZE probe_rollups")
        conn.execute("VACUUM ANALYZE probe_latency_bins")
    print(f"  load done: {rows:,} rows in {time.perf_counter() - t0:.1f} s", flush=True)
    return rows


def check_bins() -> None:
    """Spot-check the SQL binning against storage's own bisect, on a thousand rows."""
    from storage.probes import latency_bin_edge

    with psycopg.connect(DSN) as conn:
        sample = conn.execute(
            "SELECT latency_ms FROM probes WHERE latency_ms IS NOT NULL AND id % 10007 = 0 LIMIT 1000"
        ).fetchall()
        edges = list(LATENCY_BIN_EDGES_MS)
        negated = sorted(-e for e in edges)
        for (x,) in sample:
            got = conn.execute(
                "SELECT (%(edges)s::float8[])[%(m)s - width_bucket(-%(x)s::float8, %(neg)s::float8[]) + 1]",
                {"edges": edges, "neg": negated, "m": len(edges), "x": x},
            ).fetchone()
            assert got is not None and got[0] == latency_bin_edge(x), (x, got)


def time_scoreboard() -> tuple[list[float], dict[str, float]]:
    engine = make_engine(URL)
    from sqlalchemy.orm import Session

    times = []
    board = None
    for _ in range(TIMED_RUNS + 1):  # the first run warms caches and the engine
        with Session(engine) as session:
            t0 = time.perf_counter()
            board = compute_scoreboard(session, at=AT, rules=DEFAULT_RULES, baseline_auc=BASELINE_AUC)
            times.append(time.perf_counter() - t0)
    engine.dispose()
    assert board is not None
    return times[1:], {t.name: t.total for t in board.targets}


def frame(conn: psycopg.Connection, query: str) -> pd.DataFrame:
    cur = conn.execute(query)
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description or []])


def pandas_scoreboard() -> tuple[float, dict[str, float]]:
    """The same components from every raw row, the way one would do it by hand in pandas."""
    t0 = time.perf_counter()
    with psycopg.connect(DSN) as conn:
        buffer = io.BytesIO()
        with conn.cursor() as cur, cur.copy(
            "COPY (SELECT target_id, kind, extract(epoch FROM started_at) AS t, outcome, status_code,"
            " latency_ms, sample_id, probability FROM probes) TO STDOUT WITH (FORMAT csv, HEADER)"
        ) as copy:
            for data in copy:
                buffer.write(data)
        targets = frame(conn, "SELECT id, name, extract(epoch FROM registered_at)::float8 AS reg"
                        " FROM targets")
        eval_df = frame(conn, "SELECT id, label FROM eval_samples")
        sessions = frame(conn, "SELECT extract(epoch FROM started_at)::float8 AS s,"
                         " (extract(epoch FROM last_seen_at) + interval_s)::float8 AS e FROM prober_sessions")
    buffer.seek(0)
    df = pd.read_csv(buffer, dtype={"kind": "category", "outcome": "category", "sample_id": "category"})
    t_read = time.perf_counter() - t0
    at = AT.timestamp()
    df = df.merge(targets[["id", "reg"]], left_on="target_id", right_on="id")
    df = df[(df["t"] >= df["reg"]) & (df["t"] < at)]
    covered = np.zeros(len(df), dtype=bool)
    for s, e in sessions.itertuples(index=False):
        covered |= (df["t"].to_numpy() >= s) & (df["t"].to_numpy() < min(e, at))
    health = df[(df["kind"] == "health") & covered]
    predict = df[df["kind"] == "predict"]
    up = health.groupby("target_id")["outcome"].agg(lambda o: (o == "ok").mean())
    r200 = predict.groupby("target_id")["status_code"].agg(lambda s: (s == 200).mean())
    ok = predict[predict["outcome"] == "ok"].sort_values("t")
    lat = ok.groupby("target_id")["latency_ms"].mean() / 1000.0  # ok predict probes only
    latest = ok.drop_duplicates(["target_id", "sample_id"], keep="last")
    labels = dict(zip(eval_df["id"], eval_df["label"], strict=True))
    aucs = {}
    for tid, group in latest.groupby("target_id"):
        auc, _, _ = roc_auc(dict(zip(group["sample_id"].astype(str), group["probability"], strict=True)),
                            labels)
        if auc is not None and len(group) / len(labels) >= DEFAULT_RULES.auc_min_coverage:
            aucs[tid] = auc
    auc_pts = auc_points_by_rank(aucs, BASELINE_AUC)
    r = DEFAULT_RULES
    weights = {c: r.weight(c) for c in COMPONENTS}
    totals = {}
    for tid, name, reg in targets.itertuples(index=False):
        points = {
            "latency": (linear_points(lat[tid], r.latency_zero_at_s, r.latency_full_at_s)
                        if tid in lat else None),
            "uptime": linear_points(up[tid], r.uptime_zero_at, r.uptime_full_at) if tid in up else None,
            "rate200": (linear_points(r200[tid], r.rate200_zero_at, r.rate200_full_at)
                        if tid in r200 else None),
            "auc": auc_pts.get(tid),
        }
        totals[name] = total_points(points, weights, lifetime_multiplier(at - reg, r.lifetime_days))
    competition_ranks(totals)
    elapsed = time.perf_counter() - t0
    print(f"  pandas: read {t_read:.1f} s + compute {elapsed - t_read:.1f} s", flush=True)
    return elapsed, totals


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--reuse", action="store_true", help="skip loading: reuse a kept database")
    args = parser.parse_args()
    try:
        if not args.reuse:
            print(f"loading {args.targets} targets x {args.days:g} days into {DB_NAME} ...", flush=True)
            create_database()
            load(args.targets, args.days)
            check_bins()
        print("timing compute_scoreboard ...", flush=True)
        times, db_totals = time_scoreboard()
        print("timing pandas ...", flush=True)
        pandas_s, pd_totals = pandas_scoreboard()
    finally:
        if not args.keep:
            drop_database()
    mismatched = [n for n in db_totals if abs(db_totals[n] - pd_totals[n]) > 1e-6]
    median = statistics.median(times)
    print()
    print(f"compute_scoreboard: median {median:.3f} s over {len(times)} runs "
          f"({', '.join(f'{t:.3f}' for t in times)})")
    print(f"pandas route:       {pandas_s:.1f} s")
    print(f"ratio:              {pandas_s / median:.0f}x faster in the database")
    print(f"same totals:        {'yes' if not mismatched else f'NO, differ for {mismatched[:5]}'}")
    return 0 if not mismatched else 1


if __name__ == "__main__":
    raise SystemExit(main())
