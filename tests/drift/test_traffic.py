"""Text drift where there is real traffic: ``service train`` and ``drift run --traffic`` against a real
Evidently UI, the reference service under a real uvicorn, the CLI as a user runs it.

Each command starts once as a real ``clfwatch`` process (the console script starts, imports what
it needs, exits 0 with its lines): ``service train`` with the UI, ``drift run --traffic`` without.
Further runs whose point is what they compute or where their report lands (a second training,
the traffic report, training without a UI, the JSON variants) go through ``clfwatch_in_process``:
a process of its own costs 2 to 4 CPU-s of imports (scikit-learn, Evidently) and proves nothing
more there, since the Evidently project and panel are found again in the UI, not in the process.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from drift.reports import TEXT_DRIFT_PANEL_TITLE
from drift.traffic import MIN_TRAFFIC_TEXTS, NotEnoughDataError, _dataset, text_drift_report
from service.data import DATA_DIR, EVAL_FILE, TRAIN_FILE
from service.model import HOLDOUT_SHARE, read_labelled_csv
from storage.drift import list_drift_reports
from storage.engine import session_scope
from tests.clfwatch.inproc import clfwatch_in_process
from tests.conftest import REPO_ROOT
from tests.drift.test_evidently import evidently_ui  # noqa: F401 - the fixture
from tests.reference import reference_service

CLFWATCH = str(Path(sys.executable).with_name("clfwatch"))
PROJECT = "clfwatch-text-drift-test"
CLI_TIMEOUT_S = 300
TRAFFIC_TEXTS = 300
# ``service train --data-dir`` on the first rows of train.csv: fitting the full file twice is most of
# this module's CPU, and the point here is where the reports land, not the model. The training
# report compares train_model's fit split (80 %) with its held-out split, and Evidently picks its
# text-drift method by the reference's size: over 1,000 rows one classifier, as on the shipped data;
# at or below, tens of seconds of bootstrap. 1,300 rows give a fit split of 1,040.
REPORTED_TRAIN_ROWS = 1300
UNREPORTED_TRAIN_ROWS = 300  # no Evidently, no report: any size that trains


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env.update({"DO_NOT_TRACK": "1", "CLFWATCH_SERVICE_MODEL_DIR": str(tmp_path / "model"),
                "CLFWATCH_DRIFT_DIR": str(tmp_path / "drift"), "CLFWATCH_EVIDENTLY_PROJECT": PROJECT})
    env.update(extra)
    return env


def _clfwatch(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLFWATCH, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S)


def _data_dir(tmp_path: Path, rows: int) -> Path:
    """A folder whose train.csv is the first ``rows`` rows of the shipped one."""
    with (DATA_DIR / TRAIN_FILE).open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        head = [row for _, row in zip(range(rows), reader, strict=False)]
        fields = list(reader.fieldnames or ())
    folder = tmp_path / "data"
    folder.mkdir()
    with (folder / TRAIN_FILE).open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(head)
    return folder


def _project(url: str) -> dict[str, object]:
    projects = httpx.get(f"{url}/api/projects", timeout=10).raise_for_status().json()
    (project,) = [p for p in projects if p["name"] == PROJECT]
    return project  # type: ignore[no-any-return]


def _reports(url: str, project_id: object) -> list[dict[str, object]]:
    return httpx.get(f"{url}/api/projects/{project_id}/reports", timeout=10).raise_for_status().json()  # type: ignore[no-any-return]


def _panels(url: str, project_id: object) -> list[dict[str, object]]:
    dashboard = httpx.get(f"{url}/api/v2/dashboards/{project_id}", timeout=10).raise_for_status().json()
    assert sum(len(tab["panels"]) for tab in dashboard["tabs"]) == len(dashboard["panels"])
    return dashboard["panels"]  # type: ignore[no-any-return]


def test_train_twice_then_traffic_reports_reach_one_project_with_one_panel(
    evidently_ui: str, sqlite_url: str, trained_model_dir: Path, tmp_path: Path  # noqa: F811
) -> None:
    url = evidently_ui
    env = _env(tmp_path, CLFWATCH_EVIDENTLY_URL=url, CLFWATCH_DATABASE_URL=sqlite_url)
    data_dir = _data_dir(tmp_path, REPORTED_TRAIN_ROWS)
    train = ["service", "train", "--data-dir", str(data_dir)]
    # the first as a user runs it; the second finds the project and its panel in the UI again
    for run_train in (lambda: _clfwatch(train, env), lambda: clfwatch_in_process(env, *train)):
        run = run_train()
        assert run.returncode == 0, run.stderr
        assert f"Evidently: logged to project '{PROJECT}' at {url}: text drift score" in run.stdout
        # the reference is over 1,000 rows: the same text-drift method as on the shipped data
        assert f"against {REPORTED_TRAIN_ROWS - math.ceil(REPORTED_TRAIN_ROWS * HOLDOUT_SHARE)}" in run.stdout
    project = _project(url)
    reports = _reports(url, project["id"])
    assert len(reports) == 2
    assert all("training split vs validation split" in str(r["name"]) for r in reports)
    (panel,) = _panels(url, project["id"])
    assert panel["title"] == TEXT_DRIFT_PANEL_TITLE
    assert panel["size"] == "full" and panel["plot_params"]["plot_type"] == "line"  # type: ignore[index]
    assert panel["values"][0]["metric"] == "evidently:metric_v2:ValueDrift"  # type: ignore[index]
    assert panel["values"][0]["metric_labels"] == {"column": "text"}  # type: ignore[index]

    texts, _ = read_labelled_csv(DATA_DIR / EVAL_FILE)
    with reference_service(trained_model_dir, database_url=sqlite_url, service_traffic_sample=1000
                           ) as service, httpx.Client(timeout=10) as client:
        for i, text in enumerate(texts[:TRAFFIC_TEXTS]):
            assert client.post(f"{service}/predict", json={"id": f"e{i}", "text": text}).status_code == 200
    # leaving the block stops the service, which writes its last batch

    run = clfwatch_in_process(env, "drift", "run", "--traffic", "--format", "json")
    assert run.returncode == 0, run.stderr
    traffic = json.loads(run.stdout)["traffic"]
    train_rows = len(read_labelled_csv(DATA_DIR / TRAIN_FILE)[0])
    assert (traffic["current_texts"], traffic["reference_texts"]) == (TRAFFIC_TEXTS, train_rows)
    assert 0 <= traffic["text_drift_score"] <= 1 and isinstance(traffic["text_drifted"], bool)
    assert set(traffic["columns"]) == {"text", "text_length", "mentions_bot"}
    assert 0 <= traffic["drifted_columns_share"] <= 1
    assert traffic["report"]["pushed"] is True and Path(traffic["report"]["html_path"]).is_file()
    with session_scope(sqlite_url) as session:
        (stored,) = list_drift_reports(session)
    assert stored.target_id is None and stored.summary["kind"] == "traffic"
    assert stored.summary["traffic"]["current_texts"] == TRAFFIC_TEXTS

    assert len(_reports(url, project["id"])) == 3
    assert len(_panels(url, project["id"])) == 1  # the traffic report joined the same panel


def test_without_evidently_train_says_so_and_traffic_says_not_enough(sqlite_url: str, tmp_path: Path) -> None:
    env = _env(tmp_path, CLFWATCH_DATABASE_URL=sqlite_url)
    # in-process: the test with the UI starts service train as a real process
    data_dir = _data_dir(tmp_path, UNREPORTED_TRAIN_ROWS)
    run = clfwatch_in_process(env, "service", "train", "--data-dir", str(data_dir))
    assert run.returncode == 0, run.stderr
    (line,) = [x for x in run.stdout.splitlines() if x.startswith("Evidently")]
    assert line == (f"Evidently: no report (set CLFWATCH_EVIDENTLY_URL to log the training split against "
                    f"the validation split to project '{PROJECT}')")

    run = _clfwatch(["drift", "run", "--traffic"], env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].startswith(f"not enough data: 0 texts, need {MIN_TRAFFIC_TEXTS} ")
    run = clfwatch_in_process(env, "drift", "run", "--traffic", "--format", "json")
    assert json.loads(run.stdout)["traffic"] is None
    run = clfwatch_in_process(env, "drift", "run", "team-a", "--traffic")
    assert run.returncode != 0 and "drop TARGET" in run.stderr


def test_bot_descriptor_matches_whole_words_only() -> None:
    texts = ["I am a bot", "robot here", "ботаник", "Это бот.", "multi\nline BOT", "bots", "bot"]
    frame = _dataset(texts).as_dataframe()
    assert frame["mentions_bot"].tolist() == [True, False, False, True, True, False, True]
    assert frame["text_length"].tolist() == [len(t) for t in texts]


def test_too_little_text_is_not_enough_data() -> None:
    with pytest.raises(NotEnoughDataError, match="too short or too alike"):
        text_drift_report(["a"] * 5, ["a"] * 5)
    with pytest.raises(NotEnoughDataError):
        text_drift_report(["some text"], [])
