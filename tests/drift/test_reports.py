"""Drift: windows, verdict extraction, storage of summaries, real Evidently runs, the CLI line."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from evidently.legacy.tests.base_test import TestStatus as EvidentlyTestStatus

from core.settings import Settings
from drift.reports import (
    BOT_WORD_COLUMN,
    KIND_P_VALUE,
    KIND_SCORE,
    LENGTH_COLUMN,
    MIN_ROWS_PER_WINDOW,
    NOT_ENOUGH_TEXT_MESSAGE,
    PROBABILITY_COLUMN,
    TEXT_COLUMN,
    DriftError,
    choose_windows,
    drift_history_frame,
    extract_column_drift,
    latest_table,
    run_drift,
)
from storage.drift import add_drift_report, drift_input_rows, list_drift_reports
from storage.engine import session_scope
from storage.evalset import replace_eval_set
from storage.probes import ProbeRow, record_probes
from storage.targets import add_target

H = timedelta(hours=1)
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# Two vocabularies: people chatting, and spam that says bot/бот (and robot/ботаник, which are not).
CHATTY_WORDS = (
    "hello how are you today the weather is nice i like cats and dogs please help me with my "
    "order thanks a lot see you tomorrow good morning friend lunch was great"
)
SPAMMY_WORDS = (
    "buy cheap crypto now bot click this link free money offer limited bonus casino бот win "
    "prize subscribe channel promo code discount robot ботаник"
)
CHATTY = tuple(CHATTY_WORDS.split())
SPAMMY = tuple(SPAMMY_WORDS.split())


@dataclass(frozen=True)
class Seeded:
    url: str
    target: str
    target_id: int
    first: datetime
    last: datetime


def varied_texts(rng: random.Random, words: tuple[str, ...], n: int, lo: int, hi: int) -> list[str]:
    return [" ".join(rng.choice(words) for _ in range(rng.randint(lo, hi))) for _ in range(n)]


def seed_drifting_target(
    url: str,
    *,
    name: str = "drifty",
    rows_per_window: int = 100,
    shifted: bool = True,
    same_text: str | None = None,
    now: datetime = T0,
) -> Seeded:
    """A target whose first 20 h answered chatty texts low and whose last 20 h answered spam high.

    Failed predict probes (no probability) sit among them and must be ignored.
    """
    rng = random.Random(11)
    n = rows_per_window
    cur_words, cur_len = (SPAMMY, (8, 25)) if shifted else (CHATTY, (3, 12))
    ref_texts = [same_text] * n if same_text else varied_texts(rng, CHATTY, n, 3, 12)
    cur_texts = [same_text] * n if same_text else varied_texts(rng, cur_words, n, *cur_len)
    samples = [(f"{name}-r{i:03d}", t, i % 2) for i, t in enumerate(ref_texts)]
    samples += [(f"{name}-c{i:03d}", t, i % 2) for i, t in enumerate(cur_texts)]
    first = now - 72 * H
    step = 20 * H / max(rows_per_window, 1)
    with session_scope(url) as session:
        replace_eval_set(session, samples)
        target = add_target(session, name=name, base_url="http://127.0.0.1:9", registered_at=first - H)
        rows = []
        for i in range(rows_per_window):
            at_ref = first + i * step
            at_cur = now - 20 * H + i * step
            p_ref = rng.uniform(0.0, 0.4)
            p_cur = rng.uniform(0.6, 1.0) if shifted else rng.uniform(0.0, 0.4)
            rows.append(ProbeRow(str(uuid.uuid4()), target.id, "predict", at_ref, "ok", 200, 10.0,
                                 sample_id=f"{name}-r{i:03d}", probability=p_ref))
            rows.append(ProbeRow(str(uuid.uuid4()), target.id, "predict", at_cur, "ok", 200, 10.0,
                                 sample_id=f"{name}-c{i:03d}", probability=p_cur))
            if i % 10 == 0:  # failures and health probes carry no probability: never drift input
                rows.append(ProbeRow(str(uuid.uuid4()), target.id, "predict", at_cur, "http_error", 500,
                                     10.0, sample_id=f"{name}-c{i:03d}"))
                rows.append(ProbeRow(str(uuid.uuid4()), target.id, "health", at_cur, "ok", 200, 5.0))
        record_probes(session, rows)
    last = now - 20 * H + (rows_per_window - 1) * step
    return Seeded(url, name, target.id, first, last)


def settings_for(url: str, **extra: str) -> Settings:
    return Settings(database_url=url, **extra)  # type: ignore[arg-type]


# --- pure parts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "ref_h", "cur_h", "expected"),
    [
        # long history: first 24 h against the last 24 h
        (72 * H, 24, 24, (0 * H, 24 * H, 48 * H, 72 * H)),
        # exactly both windows: they touch, never overlap
        (48 * H, 24, 24, (0 * H, 24 * H, 24 * H, 48 * H)),
        # too short for both: split in halves
        (10 * H, 24, 24, (0 * H, 5 * H, 5 * H, 10 * H)),
        # configured lengths
        (100 * H, 6, 12, (0 * H, 6 * H, 88 * H, 100 * H)),
        # a single probe: both windows empty halves of nothing
        (0 * H, 24, 24, (0 * H, 0 * H, 0 * H, 0 * H)),
    ],
)
def test_choose_windows(history: timedelta, ref_h: int, cur_h: int, expected: tuple[timedelta, ...]) -> None:
    w = choose_windows(T0, T0 + history, reference=ref_h * H, current=cur_h * H)
    eps = timedelta(microseconds=1)
    got = (w.reference_from - T0, w.reference_to - T0, w.current_from - T0, w.current_to - T0 - eps)
    assert [abs(g - e) <= eps for g, e in zip(got, expected, strict=True)] == [True] * 4
    assert w.reference_to <= w.current_from
    assert w.current_to > T0 + history  # the newest probe is inside the half-open window


def _metric(mid: str, column: str, method: str, threshold: float, value: float) -> dict[str, object]:
    return {"id": mid, "config": {"type": "evidently:metric_v2:ValueDrift", "column": column,
                                  "method": method, "threshold": threshold}, "value": value}


@pytest.mark.parametrize(
    ("metric", "tests", "expected"),
    [
        # test verdicts win
        (_metric("a", "text", "Percentile text content drift", 0.95, 0.97), [("a", "FAIL")],
         ("text", KIND_SCORE, True)),
        (_metric("b", "probability", "K-S p_value", 0.05, 0.2), [("b", "SUCCESS")],
         ("probability", KIND_P_VALUE, False)),
        # snapshot.dict() holds the status as Evidently's enum, not as text
        (_metric("g", "text", "Percentile text content drift", 0.95, 1.0), [("g", EvidentlyTestStatus.FAIL)],
         ("text", KIND_SCORE, True)),
        (_metric("h", "probability", "K-S p_value", 0.05, 0.3), [("h", EvidentlyTestStatus.SUCCESS)],
         ("probability", KIND_P_VALUE, False)),
        # no test: direction of the method decides
        (_metric("c", "probability", "K-S p_value", 0.05, 0.01), [], ("probability", KIND_P_VALUE, True)),
        (_metric("d", "mentions_bot", "Z-test p_value", 0.05, 0.5), [],
         ("mentions_bot", KIND_P_VALUE, False)),
        (_metric("e", "text", "Absolute text content drift", 0.55, 0.9), [], ("text", KIND_SCORE, True)),
        (_metric("f", "x", "Wasserstein distance (normed)", 0.1, 0.05), [], ("x", KIND_SCORE, False)),
    ],
)
def test_extract_column_drift(
    metric: dict[str, object], tests: list[tuple[str, object]], expected: tuple[str, str, bool]
) -> None:
    doc = {
        "metrics": [
            {"id": "z", "config": {"type": "evidently:metric_v2:DriftedColumnsCount"},
             "value": {"count": 1.0, "share": 0.5}},
            metric,
        ],
        "tests": [{"id": "drift", "metric_config": {"metric_id": m}, "status": s} for m, s in tests],
    }
    (column,) = extract_column_drift(doc)
    assert (column.column, column.kind, column.drifted) == expected


@pytest.mark.parametrize("doc", [{}, {"metrics": [], "tests": []}, {"metrics": None}])
def test_extract_column_drift_empty(doc: dict[str, object]) -> None:
    assert extract_column_drift(doc) == []


# --- storage ----------------------------------------------------------------------------


def test_drift_reports_round_trip(db_url: str) -> None:
    with session_scope(db_url) as session:
        a = add_target(session, name="a", base_url="http://127.0.0.1:9")
        b = add_target(session, name="b", base_url="http://127.0.0.1:9")
        for i, target in enumerate((a, b, a)):
            add_drift_report(
                session, target_id=target.id, reference_from=T0, reference_to=T0 + H,
                current_from=T0 + 2 * H, current_to=T0 + 3 * H,
                summary={"columns": {"text": {"score": 0.5 + i / 10}}}, html_path=None,
                created_at=T0 + i * H,
            )
    with session_scope(db_url) as session:
        every = list_drift_reports(session)
        of_a = list_drift_reports(session, target_id=a.id)
        newest = list_drift_reports(session, limit=1)
        since = list_drift_reports(session, since=T0 + H)
    assert [r.target_name for r in every] == ["a", "b", "a"]  # newest first
    assert [r.created_at for r in of_a] == [T0 + 2 * H, T0]
    assert newest[0].summary == {"columns": {"text": {"score": 0.7}}}
    assert len(since) == 2
    assert every[0].reference_from == T0 and every[0].current_to == T0 + 3 * H


def test_drift_input_rows_join_texts_skip_failures(db_url: str) -> None:
    seeded = seed_drifting_target(db_url, rows_per_window=30)
    with session_scope(db_url) as session:
        rows = drift_input_rows(session, seeded.target_id, seeded.first, seeded.last + H)
    assert len(rows) == 60  # failed predicts and health probes are not there
    assert all(isinstance(r.text, str) and 0.0 <= r.probability <= 1.0 for r in rows)
    assert rows == sorted(rows, key=lambda r: r.started_at)


# --- real Evidently runs ----------------------------------------------------------------


def test_run_drift_detects_shift_and_stores(db_url: str, tmp_path: Path) -> None:
    seeded = seed_drifting_target(db_url)
    (summary,) = run_drift(db_url, target_name=seeded.target, settings=settings_for(db_url),
                           html_dir=tmp_path / "drift", now=T0)
    assert summary.error is None
    by_column = {c.column: c for c in summary.columns}
    assert set(by_column) == {TEXT_COLUMN, PROBABILITY_COLUMN, LENGTH_COLUMN, BOT_WORD_COLUMN}
    assert by_column[TEXT_COLUMN].kind == KIND_SCORE and by_column[TEXT_COLUMN].drifted
    assert by_column[PROBABILITY_COLUMN].kind == KIND_P_VALUE and by_column[PROBABILITY_COLUMN].drifted
    assert by_column[LENGTH_COLUMN].drifted and by_column[BOT_WORD_COLUMN].drifted
    assert summary.reference_rows == summary.current_rows == 100
    assert summary.pushed is None  # no Evidently URL configured
    html = Path(summary.html_path or "")
    assert html.is_file() and html.stat().st_size > 100_000 and html.parent == (tmp_path / "drift").resolve()
    with session_scope(db_url) as session:
        (stored,) = list_drift_reports(session, target_id=seeded.target_id)
    assert stored.id == summary.report_id
    assert stored.summary["columns"][TEXT_COLUMN]["drifted"] is True
    assert stored.summary["drifted_columns"] == 4
    assert stored.html_path == str(html)
    assert stored.reference_from == seeded.first and stored.current_to > seeded.last
    line = summary.line()
    assert line.startswith(f"{seeded.target}: 4 of 4 columns drifted") and "\n" not in line
    # history for the page: one row per column, scores and p-values apart
    history = drift_history_frame([stored])
    assert sorted(history["kind"].unique()) == [KIND_P_VALUE, KIND_SCORE]
    assert latest_table([stored]).iloc[0]["result"].startswith("drift in ")


def test_run_drift_same_distribution_is_quiet(sqlite_url: str, tmp_path: Path) -> None:
    seeded = seed_drifting_target(sqlite_url, shifted=False, rows_per_window=80)
    (summary,) = run_drift(sqlite_url, target_name=seeded.target, settings=settings_for(sqlite_url),
                           html_dir=tmp_path, now=T0)
    by_column = {c.column: c for c in summary.columns}
    assert summary.error is None
    assert not by_column[PROBABILITY_COLUMN].drifted
    assert not by_column[BOT_WORD_COLUMN].drifted


@pytest.mark.parametrize(
    ("case", "rows_per_window", "same_text", "expected"),
    [
        ("no probes", 0, None, "not enough data: the reference window has 0"),
        ("few probes", MIN_ROWS_PER_WINDOW // 2, None, "not enough data: the reference window has"),
        ("one repeated word", 40, "ok", NOT_ENOUGH_TEXT_MESSAGE),
    ],
)
def test_run_drift_tiny_data_is_a_summary_not_a_crash(
    db_url: str, tmp_path: Path, case: str, rows_per_window: int, same_text: str | None, expected: str
) -> None:
    seeded = seed_drifting_target(db_url, rows_per_window=rows_per_window, same_text=same_text)
    (summary,) = run_drift(db_url, target_name=None, settings=settings_for(db_url), html_dir=tmp_path, now=T0)
    assert summary.error is not None and summary.error.startswith(expected), case
    assert summary.columns == () and summary.html_path is None
    assert summary.line() == f"{seeded.target}: {summary.error}"
    with session_scope(db_url) as session:
        (stored,) = list_drift_reports(session)
    assert stored.summary["error"] == summary.error
    assert stored.html_path is None
    assert not list(tmp_path.glob("*.html"))
    assert latest_table([stored]).iloc[0]["result"] == summary.error


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_name": "nobody"}, "no target named"),
        ({"target_name": None, "reference_hours": 0}, "positive"),
        ({"target_name": None, "current_hours": -1}, "positive"),
    ],
)
def test_run_drift_refuses_bad_requests(sqlite_url: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DriftError, match=message):
        run_drift(sqlite_url, settings=settings_for(sqlite_url), **kwargs)  # type: ignore[arg-type]


def test_run_drift_skips_inactive_targets_unless_named(sqlite_url: str, tmp_path: Path) -> None:
    from storage.targets import set_active

    with session_scope(sqlite_url) as session:
        add_target(session, name="on", base_url="http://127.0.0.1:9")
        add_target(session, name="off", base_url="http://127.0.0.1:9")
        set_active(session, "off", False)
    every = run_drift(sqlite_url, target_name=None, settings=settings_for(sqlite_url), html_dir=tmp_path)
    named = run_drift(sqlite_url, target_name="off", settings=settings_for(sqlite_url), html_dir=tmp_path)
    assert [s.target_name for s in every] == ["on"]
    assert [s.target_name for s in named] == ["off"]


# --- the CLI ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code", "stdout_has", "stderr_has"),
    [
        (["drift", "run"], 0, "tiny: not enough data", ""),
        (["drift", "run", "tiny"], 0, "tiny: not enough data", ""),
        (["drift", "run", "nobody"], 1, "", "clfwatch: error: no target named 'nobody'"),
    ],
)
def test_cli_drift_run(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, argv: list[str], code: int, stdout_has: str, stderr_has: str,
) -> None:
    from clfwatch.cli import main

    url = cli_env["CLFWATCH_DATABASE_URL"]
    seed_drifting_target(url, name="tiny", rows_per_window=3)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == code
    out, err = capsys.readouterr()
    assert stdout_has in out and stderr_has in err
    if code == 0:
        assert len(out.strip().splitlines()) == 1  # one line per target
    assert "Traceback" not in out + err


@pytest.mark.parametrize("bad", ["0", "-2", "soon"])
def test_cli_drift_run_refuses_bad_hours(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    from clfwatch.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["drift", "run", "--reference-hours", bad])
    assert exc.value.code == 2
    assert "hours" in capsys.readouterr().err
