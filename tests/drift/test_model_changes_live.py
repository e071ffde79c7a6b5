"""Done-criterion of issue 15: real targets on loopback, the real prober at 0.5 s, then ``drift run``.

Three classifiers behind one uvicorn: a fixed model, one that switches to another model
halfway, and one whose answers jitter by ±0.001. Only the switch is a model change, and its
time is the switch's, within 5 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI, Request

from probes.runner import Prober
from storage.engine import engine_for, session_scope, upgrade_database
from storage.evalset import replace_eval_set
from tests.probes.helpers import make_settings, register, run_prober
from tests.servers import uvicorn_thread

N_SAMPLES = 16
MIN_SAMPLES = 10  # below the evaluation set, so a change is called within one cycle
INTERVAL_S = 0.5  # one predict probe, so one sample, per interval
# The first cycle gives every sample its first answer; the switch comes after it.
SWITCH_AFTER_S = N_SAMPLES * INTERVAL_S + 4.0
AFTER_SWITCH_S = MIN_SAMPLES * INTERVAL_S + 5.0
SWITCH_SLACK_S = 5.0
PROBE_TIMEOUT_S = 0.4
EVAL = [(f"live-{i:02d}", f"sample text number {i}", i % 2) for i in range(N_SAMPLES)]


@dataclass
class Models:
    switched_at: datetime | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(3))


def fixed(sample_id: str) -> float:
    i = int(sample_id.rsplit("-", 1)[1])
    return (0.6 if i % 2 else 0.1) + 0.3 * i / N_SAMPLES


def create_targets(models: Models) -> FastAPI:
    app = FastAPI()

    @app.get("/{name}/health")
    async def health(name: str) -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/{name}/predict")
    async def predict(name: str, request: Request) -> dict[str, object]:
        sample_id = (await request.json())["id"]
        p = fixed(sample_id)
        if name == "switching" and models.switched_at is not None:
            p = 1.0 - p  # another model: the same samples, other answers
        if name == "noisy":
            p = min(max(p + models.rng.uniform(-0.001, 0.001), 0.0), 1.0)
        return {"id": sample_id, "probability": p}

    return app


@dataclass(frozen=True)
class LiveRun:
    url: str
    switched_at: datetime
    tmp: Path


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    tmp = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{tmp / 'clfwatch.db'}"  # both backends: tests/drift/test_reports.py
    upgrade_database(url)
    with session_scope(url) as session:
        replace_eval_set(session, EVAL)
    models = Models()
    with uvicorn_thread(create_targets(models)) as base:
        for name in ("fixed", "switching", "noisy"):
            register(url, name, f"{base}/{name}")
        settings = make_settings(url, tmp, probe_interval_s=INTERVAL_S, probe_timeout_s=PROBE_TIMEOUT_S)

        async def switch_halfway(prober: Prober) -> None:
            await asyncio.sleep(SWITCH_AFTER_S)
            models.switched_at = datetime.now(UTC)
            await asyncio.sleep(AFTER_SWITCH_S)

        run_prober(settings, SWITCH_AFTER_S + AFTER_SWITCH_S, during=switch_halfway)
    assert models.switched_at is not None
    try:
        yield LiveRun(url, models.switched_at, tmp)
    finally:
        engine_for(url).dispose()


def test_drift_run_reports_exactly_the_switch(
    live_run: LiveRun, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clfwatch.cli import main
    from core.settings import get_settings

    for key in [k for k in os.environ if k.startswith("CLFWATCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CLFWATCH_DATABASE_URL", live_run.url)
    monkeypatch.setenv("CLFWATCH_MODEL_CHANGE_MIN_SAMPLES", str(MIN_SAMPLES))
    monkeypatch.setenv("CLFWATCH_DRIFT_DIR", str(live_run.tmp / "drift"))
    get_settings.cache_clear()
    try:
        assert main(["drift", "run", "--since", "1h", "--format", "json"]) == 0
    finally:
        get_settings.cache_clear()
    doc = json.loads(capsys.readouterr().out)
    by_name = {t["name"]: t for t in doc["targets"]}
    assert set(by_name) == {"fixed", "switching", "noisy"}
    assert by_name["fixed"]["model_changes"] == [] and by_name["fixed"]["report"] is None
    assert by_name["noisy"]["model_changes"] == [] and by_name["noisy"]["report"] is None
    (change,) = by_name["switching"]["model_changes"]
    at = datetime.fromisoformat(change["at"])
    # A change is dated by the start of its first probe with the new answers: one sent just
    # before the switch and answered just after it (seen: 0.4 ms before) is the first.
    early = timedelta(seconds=PROBE_TIMEOUT_S)
    assert -early <= at - live_run.switched_at <= timedelta(seconds=SWITCH_SLACK_S)
    assert change["samples"] >= MIN_SAMPLES and change["share_changed"] == 1.0
    assert change["mean_abs_delta"] > 0.1
    assert change["auc_before"] == 1.0 and change["auc_after"] == 0.0  # fixed() ranks the classes apart
    report = by_name["switching"]["report"]
    assert report["html_path"] and Path(report["html_path"]).is_file()
