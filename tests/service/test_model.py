"""Training is reproducible and self-describing; loading refuses what it cannot serve."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from service.data import DATA_DIR, EVAL_FILE, TRAIN_FILE
from service.model import (
    METADATA_FILE,
    MODEL_FILE,
    ModelError,
    ModelMissingError,
    load_model,
    read_labelled_csv,
    train_model,
)
from tests.reference import REFERENCE_SEED


def _metadata(model_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((model_dir / METADATA_FILE).read_text())


def test_metadata_describes_the_model(trained_model_dir: Path) -> None:
    meta = _metadata(trained_model_dir)
    assert meta["data_sha256"] == hashlib.sha256((DATA_DIR / TRAIN_FILE).read_bytes()).hexdigest()
    assert meta["seed"] == REFERENCE_SEED
    assert {"python", "scikit-learn", "numpy", "scipy", "joblib"} <= set(meta["libraries"])
    assert meta["version"].startswith("ref-")
    assert meta["created_at"].endswith("+00:00")
    assert 0.85 <= meta["metrics"]["holdout_roc_auc"] <= 0.97
    assert meta["metrics"]["holdout_rows"] + meta["metrics"]["fit_rows"] == meta["metrics"]["train_rows"]


@pytest.mark.slow  # trains the model again (tens of seconds of CPU)
def test_the_seed_matters(trained_model_dir: Path, tmp_path: Path) -> None:
    other = train_model(DATA_DIR, tmp_path, seed=REFERENCE_SEED + 1)
    assert other["metrics"]["holdout_roc_auc"] != _metadata(trained_model_dir)["metrics"]["holdout_roc_auc"]
    assert other["version"] != _metadata(trained_model_dir)["version"]


EDGE_TEXTS = ["", " ", "\n\t", "a", "ok", "🙂" * 500, "x" * 100_000, "مرحبا بالعالم", "\u200b\u200d\u202e",
              "\x00\x01\x1b[31m", "Привет, это БОТ? https://bit.ly/abc", "A" * 3 + " " + "b" * 70_000]


def test_fast_path_scores_like_scikit_learn(trained_model_dir: Path) -> None:
    model = load_model(trained_model_dir)
    texts, _ = read_labelled_csv(DATA_DIR / EVAL_FILE)
    texts = texts + EDGE_TEXTS
    expected = model.pipeline.predict_proba(texts)[:, 1]
    for text, want in zip(texts, expected, strict=True):
        got = model.probability(text)
        assert 0.0 <= got <= 1.0
        assert math.isclose(got, float(want), rel_tol=0, abs_tol=1e-9), text[:40]


def test_model_separates_the_eval_set(trained_model_dir: Path) -> None:
    from sklearn.metrics import roc_auc_score

    model = load_model(trained_model_dir)
    texts, labels = read_labelled_csv(DATA_DIR / EVAL_FILE)
    assert 0.85 <= roc_auc_score(labels, [model.probability(t) for t in texts]) <= 0.97


@pytest.mark.parametrize("present", [[], [MODEL_FILE], [METADATA_FILE]])
def test_missing_model_says_how_to_train_one(
    trained_model_dir: Path, tmp_path: Path, present: list[str]
) -> None:
    for name in present:
        (tmp_path / name).write_bytes((trained_model_dir / name).read_bytes())
    with pytest.raises(ModelMissingError, match="clfwatch service train"):
        load_model(tmp_path)


@pytest.mark.parametrize(("model_bytes", "metadata_text"), [
    (b"not a pickle", "{}"),
    (b"", "{}"),
    (None, "not json"),
])
def test_unreadable_model_is_refused(
    trained_model_dir: Path, tmp_path: Path, model_bytes: bytes | None, metadata_text: str
) -> None:
    (tmp_path / MODEL_FILE).write_bytes(
        model_bytes if model_bytes is not None else (trained_model_dir / MODEL_FILE).read_bytes()
    )
    (tmp_path / METADATA_FILE).write_text(metadata_text)
    with pytest.raises(ModelError, match="clfwatch service train"):
        load_model(tmp_path)


def test_training_without_data_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="gen-data"):
        train_model(tmp_path / "nowhere", tmp_path / "model")
    assert not (tmp_path / "model" / MODEL_FILE).exists()
