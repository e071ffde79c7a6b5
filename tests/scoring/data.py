"""Small factories for probe rows, prober sessions and a hand-computable grading scenario."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from storage.evalset import replace_eval_set
from storage.probes import ProbeRow, beat_prober_session, record_probes, start_prober_session
from storage.targets import add_target

# Not hour-aligned on purpose: the window's edge hours come from raw rows, the rest from rollups.
AT = datetime(2026, 3, 8, 0, 30, tzinfo=UTC)
BASELINE_AUC = 0.6
EVAL = {"s1": 0, "s2": 0, "s3": 1, "s4": 1}


def probe(
    target_id: int, kind: str, at: datetime, *, outcome: str = "ok", status: int | None = 200,
    latency_ms: float | None = 100.0, sample_id: str | None = None, probability: float | None = None,
) -> ProbeRow:
    return ProbeRow(
        probe_uid=str(uuid.uuid4()), target_id=target_id, kind=kind, started_at=at, outcome=outcome,
        status_code=status, latency_ms=latency_ms, sample_id=sample_id, probability=probability,
    )


def prober_ran(session: Session, start: datetime, end: datetime, interval_s: float = 10.0) -> None:
    """A prober session covering exactly ``[start, end)``."""
    sid = str(uuid.uuid4())
    start_prober_session(session, session_id=sid, hostname="test", interval_s=interval_s, at=start)
    beat_prober_session(session, session_id=sid, at=end - timedelta(seconds=interval_s))


def predicts(target_id: int, start: datetime, answers: list[tuple[str | None, float | None]], *,
             latency_ms: float, status: int = 200) -> list[ProbeRow]:
    rows = []
    for i, (sample, p) in enumerate(answers):
        ok = status == 200 and p is not None
        rows.append(probe(
            target_id, "predict", start + timedelta(minutes=i), outcome="ok" if ok else "http_error",
            status=status if p is not None else 500, latency_ms=latency_ms, sample_id=sample,
            probability=p,
        ))
    return rows


def healths(target_id: int, start: datetime, n_ok: int, n_bad: int = 0) -> list[ProbeRow]:
    rows = [probe(target_id, "health", start + timedelta(minutes=i), latency_ms=5.0) for i in range(n_ok)]
    rows += [
        probe(target_id, "health", start + timedelta(minutes=n_ok + i), outcome="timeout", status=None,
              latency_ms=None)
        for i in range(n_bad)
    ]
    return rows


def build_scenario(session: Session) -> dict[str, int]:
    """Five targets whose grades are computed by hand in test_board.py.

    Prober: ran from AT-9d to AT-2d and from AT-1d to AT: one gap [AT-2d, AT-1d).
    """
    replace_eval_set(session, [(k, f"text {k}", v) for k, v in EVAL.items()])
    prober_ran(session, AT - timedelta(days=9), AT - timedelta(days=2))
    prober_ran(session, AT - timedelta(days=1), AT)
    ids = {}
    for name, age_days in (("alpha", 8), ("beta", 3.5), ("gamma", 8), ("delta", 8), ("eps", 8)):
        ids[name] = add_target(session, name=name, base_url="http://127.0.0.1:9",
                               registered_at=AT - timedelta(days=age_days)).id
    health_at = AT - timedelta(days=3)
    predict_at = AT - timedelta(hours=1)  # straddles the partial edge hour before AT
    rows: list[ProbeRow] = []
    # alpha: all ok; 100 ms; AUC 1.0 (an older answer for s1 is superseded).
    rows += healths(ids["alpha"], health_at, 20)
    rows += predicts(ids["alpha"], AT - timedelta(days=5), [("s1", 0.95)], latency_ms=100.0)
    rows += predicts(ids["alpha"], predict_at, [("s1", 0.1), ("s2", 0.2), ("s3", 0.8), ("s4", 0.9)],
                     latency_ms=100.0)
    # beta: 19 of 20 health ok = exactly 95 %; 250 ms; AUC 0.5, below the baseline; lives 3.5 days.
    rows += healths(ids["beta"], health_at, 19, 1)
    rows += predicts(ids["beta"], predict_at, [("s1", 0.9), ("s2", 0.2), ("s3", 0.8), ("s4", 0.7)],
                     latency_ms=250.0)
    # gamma: failures only inside the prober gap (not charged); 600 ms; one 500 of four; AUC 1.0.
    rows += healths(ids["gamma"], health_at, 20)
    rows += healths(ids["gamma"], AT - timedelta(days=1.5), 0, 5)
    rows += predicts(ids["gamma"], predict_at, [("s1", 0.1), ("s2", None), ("s3", 0.8), ("s4", 0.9)],
                     latency_ms=600.0)
    # delta: never probed.
    # eps: no health probes; exactly 500 ms; AUC 0.75.
    rows += predicts(ids["eps"], predict_at, [("s1", 0.1), ("s2", 0.6), ("s3", 0.5), ("s4", 0.9)],
                     latency_ms=500.0)
    record_probes(session, rows)
    return ids


def build_tie_scenario(session: Session) -> dict[str, int]:
    """Four targets, no evaluation set, whose totals tie while their base scores differ.

    ``steady``: uptime 1, 200-rate 1, latency 0 (600 ms): base 2, lives 1.75 days, × 0.25 = 0.5.
    ``twin-a``/``twin-b``: uptime 0, 200-rate 1, latency 0: base 1, live 3.5 days, × 0.5 = 0.5.
    ``broken``: every probe answered 404: base 0, × 0.5 = 0. All four numbers are exact in binary.
    """
    prober_ran(session, AT - timedelta(days=5), AT)
    ids = {}
    for name, age_days in (("twin-b", 3.5), ("broken", 3.5), ("steady", 1.75), ("twin-a", 3.5)):
        ids[name] = add_target(session, name=name, base_url="http://127.0.0.1:9",
                               registered_at=AT - timedelta(days=age_days)).id
    start = AT - timedelta(days=1)
    rows: list[ProbeRow] = []
    rows += healths(ids["steady"], start, 10)
    for twin in ("twin-a", "twin-b"):
        rows += healths(ids[twin], start, 0, 10)
    for name in ("steady", "twin-a", "twin-b"):
        rows += predicts(ids[name], start, [(None, 0.5)] * 6, latency_ms=600.0)
    rows += [probe(ids["broken"], kind, start + timedelta(minutes=i), outcome="http_error", status=404,
                   latency_ms=5.0) for i in range(6) for kind in ("health", "predict")]
    record_probes(session, rows)
    return ids
