"""Drift runs: answers streamed from storage, model changes found, Evidently reports stored and pruned."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clfwatch.commands.drift import parse_since
from core.settings import Settings
from drift.reports import (
    KIND_P_VALUE,
    KIND_SCORE,
    REPORT_KIND,
    DriftError,
    change_rows,
    extract_column_drift,
    run_drift,
)
from storage.drift import add_drift_report, list_drift_reports, predict_answers, prune_drift_html
from storage.engine import session_scope
from storage.evalset import replace_eval_set
from storage.probes import ProbeRow, record_probes
from storage.targets import add_target

H = timedelta(hours=1)
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=10)
N_SAMPLES = 24
SAMPLE_IDS = [f"s{i:02d}" for i in range(N_SAMPLES)]
LABELS = {s: i % 2 for i, s in enumerate(SAMPLE_IDS)}

Model = Callable[[str], float]


def good(sample: str) -> float:
    i = int(sample[1:])
    return (0.55 if LABELS[sample] else 0.05) + 0.4 * i / N_SAMPLES


def inverted(sample: str) -> float:
    return 1.0 - good(sample)


@dataclass(frozen=True)
class Seeded:
    target: str
    target_id: int
    switch_at: list[datetime]  # the first answer of each new model


def seed_target(url: str, name: str, models: list[tuple[int, Model]], *, start: datetime = T0,
                with_eval: bool = True) -> Seeded:
    """A target probed every 10 s, cycling the samples; each (count, model) answers ``count`` probes.

    Failed predicts and health probes sit among the answers: they are no drift input.
    """
    rows: list[ProbeRow] = []
    switches: list[datetime] = []
    with session_scope(url) as session:
        if with_eval:
            replace_eval_set(session, [(s, f"text of {s}", y) for s, y in LABELS.items()])
        target = add_target(session, name=name, base_url="http://127.0.0.1:9", registered_at=start - H)
        slot = 0
        for k, (count, model) in enumerate(models):
            for j in range(count):
                at = start + slot * STEP
                if k and not j:
                    switches.append(at)
                sample = SAMPLE_IDS[slot % N_SAMPLES]
                rows.append(ProbeRow(str(uuid.uuid4()), target.id, "predict", at, "ok", 200, 10.0,
                                     sample_id=sample, probability=model(sample)))
                if slot % 7 == 0:
                    rows.append(ProbeRow(str(uuid.uuid4()), target.id, "predict", at + STEP / 3, "http_error",
                                         500, 10.0, sample_id=sample))
                    rows.append(ProbeRow(str(uuid.uuid4()), target.id, "health", at, "ok", 200, 5.0))
                slot += 1
        record_probes(session, rows)
    return Seeded(name, target.id, switches)


def settings_for(url: str, tmp_path: Path, **extra: object) -> Settings:
    return Settings(database_url=url, drift_dir=tmp_path / "drift", **extra)  # type: ignore[arg-type]


# --- pure parts -------------------------------------------------------------------------


def _metric(mid: str, column: str, method: str, threshold: float, value: float) -> dict[str, object]:
    return {"id": mid, "config": {"type": "evidently:metric_v2:ValueDrift", "column": column,
                                  "method": method, "threshold": threshold}, "value": value}


@pytest.mark.parametrize(
    ("metric", "tests", "expected"),
    [
        # test verdicts win
        (_metric("b", "probability", "K-S p_value", 0.05, 0.2), [("b", "SUCCESS")],
         ("probability", KIND_P_VALUE, False)),
        (_metric("a", "probability", "K-S p_value", 0.05, 0.2), [("a", "FAIL")],
         ("probability", KIND_P_VALUE, True)),
        # no test: direction of the method decides
        (_metric("c", "probability", "K-S p_value", 0.05, 0.01), [], ("probability", KIND_P_VALUE, True)),
        (_metric("e", "text", "Absolute text content drift", 0.55, 0.9), [], ("text", KIND_SCORE, True)),
        (_metric("f", "x", "Wasserstein distance (normed)", 0.1, 0.05), [], ("x", KIND_SCORE, False)),
    ],
)
def test_extract_column_drift(
    metric: dict[str, object], tests: list[tuple[str, object]], expected: tuple[str, str, bool]
) -> None:
    doc = {
        "metrics": [{"id": "z", "config": {"type": "evidently:metric_v2:DriftedColumnsCount"}, "value": {}},
                    metric],
        "tests": [{"id": "drift", "metric_config": {"metric_id": m}, "status": s} for m, s in tests],
    }
    (column,) = extract_column_drift(doc)
    assert (column.column, column.kind, column.drifted) == expected


def test_extract_column_drift_reads_evidentlys_status_enum() -> None:
    """snapshot.dict() holds the status as Evidently's enum, not as text. Imported here, not at the
    top: Evidently takes ~4 CPU-s to import, which every pytest worker would pay to collect."""
    from evidently.legacy.tests.base_test import TestStatus

    test_extract_column_drift(_metric("h", "probability", "K-S p_value", 0.05, 0.3),
                              [("h", TestStatus.SUCCESS)], ("probability", KIND_P_VALUE, False))


@pytest.mark.parametrize("doc", [{}, {"metrics": [], "tests": []}, {"metrics": None}])
def test_extract_column_drift_empty(doc: dict[str, object]) -> None:
    assert extract_column_drift(doc) == []


NOW = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T10:00:00Z", datetime(2026, 12, 1, 10, 0, tzinfo=UTC)),
        ("2026-12-01T13:00:00+03:00", datetime(2026, 12, 1, 10, 0, tzinfo=UTC)),
        ("6h", NOW - 6 * H),
        ("90m", NOW - timedelta(minutes=90)),
        ("7d", NOW - timedelta(days=7)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize(("text", "says"), [("2026-12-01T10:00:00", "no time zone"), ("soon", "not a time"),
                                             ("-6h", "not a time")])
def test_parse_since_refuses(text: str, says: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match=says):
        parse_since(text, now=NOW)


# --- storage ----------------------------------------------------------------------------


def test_predict_answers_stream_ok_predicts_of_one_target_in_order(db_url: str) -> None:
    seeded = seed_target(db_url, "a", [(60, good)])
    seed_target(db_url, "other", [(60, inverted)], with_eval=False)
    with session_scope(db_url) as session:
        every = list(predict_answers(session, target_id=seeded.target_id, start=T0 - H))
        window = list(predict_answers(session, target_id=seeded.target_id, start=T0 + 10 * STEP,
                                      end=T0 + 20 * STEP))
        none = list(predict_answers(session, target_id=seeded.target_id, start=T0 + H))
    assert len(every) == 60  # failed predicts and health probes are left out, the other target too
    assert [a.started_at for a in every] == [T0 + i * STEP for i in range(60)]
    assert all(a.target_id == seeded.target_id and a.probability == good(a.sample_id) for a in every)
    assert [a.started_at for a in window] == [T0 + i * STEP for i in range(10, 20)]  # [start, end)
    assert none == []


def test_prune_keeps_the_newest_html_per_target(db_url: str) -> None:
    with session_scope(db_url) as session:
        a = add_target(session, name="a", base_url="http://127.0.0.1:9")
        b = add_target(session, name="b", base_url="http://127.0.0.1:9")
        for i in range(4):
            for target in (a, b):
                add_drift_report(session, target_id=target.id, reference_from=T0, reference_to=T0,
                                 current_from=T0, current_to=T0, summary={"i": i},
                                 html_path=f"/x/{target.name}{i}.html", created_at=T0 + i * H)
    with session_scope(db_url) as session:
        gone = prune_drift_html(session, a.id, keep=2)
    with session_scope(db_url) as session:
        again = prune_drift_html(session, a.id, keep=2)
        paths = {r.summary["i"]: r.html_path for r in list_drift_reports(session, target_id=a.id)}
        of_b = [r.html_path for r in list_drift_reports(session, target_id=b.id)]
    assert sorted(gone) == ["/x/a0.html", "/x/a1.html"] and again == []
    assert paths == {3: "/x/a3.html", 2: "/x/a2.html", 1: None, 0: None}  # summaries stay
    assert None not in of_b


# --- runs over stored probes, real Evidently -------------------------------------------------


def test_run_drift_finds_changes_stores_reports_and_reuses_them(db_url: str, tmp_path: Path) -> None:
    switching = seed_target(db_url, "switching", [(60, good), (60, inverted), (60, good)])
    steady = seed_target(db_url, "steady", [(180, good)], with_eval=False)
    settings = settings_for(db_url, tmp_path)
    now = T0 + 2 * H
    first = {r.target_name: r for r in run_drift(db_url, target_name=None, settings=settings,
                                                 since=T0 - H, now=now)}
    assert first["steady"].changes == () and first["steady"].to_dict() == {
        "name": "steady", "model_changes": [], "report": None}
    doc = first["switching"].to_dict()
    assert [c["at"] for c in doc["model_changes"]] == [
        at.isoformat(timespec="milliseconds").replace("+00:00", "Z") for at in switching.switch_at]
    for change, (before, after) in zip(doc["model_changes"], [(1.0, 0.0), (0.0, 1.0)], strict=True):
        assert set(change) == {"at", "samples", "share_changed", "mean_abs_delta", "auc_before", "auc_after"}
        assert (change["samples"], change["share_changed"]) == (N_SAMPLES, 1.0)
        assert (change["auc_before"], change["auc_after"]) == (before, after)
    json.dumps(doc)  # plain JSON
    reports = [c.report for c in first["switching"].changes]
    assert all(r is not None and r.html_path and Path(r.html_path).is_file() for r in reports)
    with session_scope(db_url) as session:
        stored = list_drift_reports(session)
    assert {r.target_name for r in stored} == {"switching"} and len(stored) == 2
    newest = stored[0]
    assert newest.summary["kind"] == REPORT_KIND
    assert newest.summary["columns"]["probability"]["kind"] == KIND_P_VALUE  # Evidently's K-S verdict
    assert newest.reference_to == newest.current_from == switching.switch_at[1]
    # the page's rows: one per change; never a sample id or a label
    rows = change_rows(stored)
    assert [r["target"] for r in rows] == ["switching", "switching"]
    assert not any(s in json.dumps(rows) + json.dumps([r.summary for r in stored]) for s in SAMPLE_IDS)

    # a rerun finds the same changes and makes no new report
    (again,) = run_drift(db_url, target_name="switching", settings=settings, since=T0 - H, now=now)
    assert [c.report.id for c in again.changes if c.report] == [r.id for r in reports if r]
    with session_scope(db_url) as session:
        assert len(list_drift_reports(session)) == 2
    assert steady.target_id  # registered, probed, quiet


def test_run_drift_prunes_old_html(sqlite_url: str, tmp_path: Path) -> None:
    seed_target(sqlite_url, "flip", [(48, good), (48, inverted), (48, good), (48, inverted)])
    settings = settings_for(sqlite_url, tmp_path, drift_keep_reports=1)
    (result,) = run_drift(sqlite_url, target_name="flip", settings=settings, since=T0, now=T0 + 2 * H)
    assert len(result.changes) == 3
    newest = result.changes[-1].report
    assert newest is not None and newest.html_path
    assert [p.name for p in (tmp_path / "drift").iterdir()] == [Path(newest.html_path).name]
    with session_scope(sqlite_url) as session:
        assert [r.html_path is None for r in list_drift_reports(session)] == [False, True, True]


def test_run_drift_since_and_unknown_target(sqlite_url: str, tmp_path: Path) -> None:
    seeded = seed_target(sqlite_url, "late", [(48, good), (48, inverted)])
    settings = settings_for(sqlite_url, tmp_path)
    (after,) = run_drift(sqlite_url, target_name="late", settings=settings,
                         since=seeded.switch_at[0] + STEP, now=T0 + H)
    assert after.changes == ()  # the change is before the window: nothing to compare across it
    with pytest.raises(DriftError, match="no target named 'nobody'"):
        run_drift(sqlite_url, target_name="nobody", settings=settings)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_drift_run_table_and_json(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from clfwatch.cli import main

    url = cli_env["CLFWATCH_DATABASE_URL"]
    monkeypatch.chdir(tmp_path)
    now = datetime.now(UTC)
    start = now - 30 * STEP * 2
    seed_target(url, "steady", [(30, good)], start=start)
    seeded = seed_target(url, "switch", [(30, good), (30, inverted)], start=start, with_eval=False)
    since = (start - H).isoformat()
    assert main(["drift", "run", "--since", since]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0].startswith("steady: no model change since ")
    assert lines[1].startswith(f"switch: model changed at {seeded.switch_at[0]:%Y-%m-%dT%H:%M:%S}")
    assert "AUC 1.000 → 0.000; report " in lines[1] and len(lines) == 2
    assert main(["drift", "run", "switch", "--since", since, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (target,) = doc["targets"]
    assert target["name"] == "switch" and len(target["model_changes"]) == 1
    assert target["report"]["html_path"].endswith(".html")
    assert main(["drift", "run", "nobody"]) == 1
    assert "no target named 'nobody'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["drift", "run", "--since", "yesterday"])
    assert "not a time" in capsys.readouterr().err
    assert "Traceback" not in out + err
