"""The files of a trained model's folder, apart from ``service.model``: a caller that only looks
whether a model is there (``clfwatch up``, ``clfwatch service serve`` before it loads one) then
imports no scikit-learn, SciPy or pandas (about 1.5 CPU-s)."""

from __future__ import annotations

from pathlib import Path

MODEL_FILE = "model.joblib"
METADATA_FILE = "model.json"


def missing_model_message(model_dir: Path) -> str | None:
    """What is missing from ``model_dir`` and how to train a model; None when both files are there."""
    if (model_dir / MODEL_FILE).is_file() and (model_dir / METADATA_FILE).is_file():
        return None
    return (
        f"no trained model in {model_dir} (expected {MODEL_FILE} and {METADATA_FILE}); "
        "run `clfwatch service train` first"
    )
