"""Training and loading the reference classifier: TF-IDF (words + characters) and logistic regression.

Serving calls ``LoadedModel.probability`` once per request. scikit-learn's ``predict_proba`` on a
single text costs over a millisecond of validation and sparse-matrix plumbing, more than the whole
HTTP round trip, so at load time the fitted pipeline is compiled into plain dictionaries (term -> idf times
coefficient, idf squared) that score one text with the same arithmetic in about a tenth of the time.
``tests/service`` checks the two agree to 1e-9 on the evaluation texts.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import platform
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

from core.errors import ClfwatchError
from service.data import TRAIN_FILE
from service.model_files import METADATA_FILE, MODEL_FILE, missing_model_message

log = logging.getLogger(__name__)

HOLDOUT_SHARE = 0.2
# Bump when the pipeline below changes, so the version string changes with it.
PIPELINE_REVISION = 2
PIPELINE_DESCRIPTION = "tfidf(word 1-2) + tfidf(char_wb 3-4) -> logistic regression"


class ModelError(ClfwatchError):
    """The model cannot be used; the message says what to do."""


class ModelMissingError(ModelError):
    """No trained model where the service looks for one."""


def build_pipeline(seed: int) -> Pipeline:
    """The classifier every team starts from: cheap, robust to typos through character n-grams."""
    return Pipeline([
        ("features", FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True, min_df=2)),
        ])),
        ("clf", LogisticRegression(C=4.0, max_iter=2000, random_state=seed)),
    ])


def read_labelled_csv(path: Path) -> tuple[list[str], list[int]]:
    """Texts and labels of an ``id,text,label`` file."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [int(r["label"]) for r in rows]


def split_holdout(
    texts: list[str], labels: list[int], *, seed: int
) -> tuple[list[str], list[str], list[int], list[int]]:
    """The seeded, stratified (fit, held-out) split that train_model scores the pipeline on.

    One function, so that ``service train``'s Evidently report compares exactly these two.
    Returns fit texts, held-out texts, fit labels, held-out labels.
    """
    fit_texts, holdout_texts, fit_labels, holdout_labels = train_test_split(
        texts, labels, test_size=HOLDOUT_SHARE, random_state=seed, stratify=labels
    )
    return list(fit_texts), list(holdout_texts), list(fit_labels), list(holdout_labels)


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def train_model(data_dir: Path, model_dir: Path, seed: int = 0) -> dict[str, Any]:
    """Fit on ``data_dir/train.csv``, score a seeded held-out split, write model + metadata.

    The held-out AUC describes this pipeline on unseen rows; the saved model is then refitted on
    every row, which is what serving should use. Files are replaced atomically so a running
    service never loads half a model.
    """
    train_path = Path(data_dir) / TRAIN_FILE
    if not train_path.is_file():
        raise ModelError(f"no training data at {train_path}; run `clfwatch service gen-data`")
    data_sha256 = hashlib.sha256(train_path.read_bytes()).hexdigest()
    texts, labels = read_labelled_csv(train_path)
    fit_texts, holdout_texts, fit_labels, holdout_labels = split_holdout(texts, labels, seed=seed)
    probe = build_pipeline(seed).fit(fit_texts, fit_labels)
    holdout_auc = float(roc_auc_score(holdout_labels, probe.predict_proba(holdout_texts)[:, 1]))
    model = build_pipeline(seed).fit(texts, labels)

    versions = library_versions()
    version_key = f"{data_sha256}:{seed}:{PIPELINE_REVISION}:{versions['scikit-learn']}"
    metadata: dict[str, Any] = {
        "version": "ref-" + hashlib.sha256(version_key.encode()).hexdigest()[:12],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "pipeline": PIPELINE_DESCRIPTION,
        "data_file": TRAIN_FILE,
        "data_sha256": data_sha256,
        "libraries": versions,
        "metrics": {
            "holdout_roc_auc": round(holdout_auc, 6),
            "holdout_rows": len(holdout_texts),
            "fit_rows": len(fit_texts),
            "train_rows": len(texts),
        },
    }
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(model_dir / MODEL_FILE, lambda f: joblib.dump(model, f))
    _atomic_write(model_dir / METADATA_FILE, lambda f: f.write(json.dumps(metadata, indent=2).encode()))
    log.info("model trained version=%s holdout_roc_auc=%.4f rows=%d", metadata["version"], holdout_auc,
             len(texts))
    return metadata


def _atomic_write(path: Path, write: Callable[[Any], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class _CompiledVectorizer:
    """One TfidfVectorizer as plain data: the analyzer and, per known term, (idf * coef, idf ** 2)."""

    analyze: Callable[[str], list[str]]
    terms: dict[str, tuple[float, float]]
    sublinear_tf: bool


class LoadedModel:
    """A fitted pipeline plus its compiled fast path and metadata."""

    def __init__(self, pipeline: Pipeline, metadata: dict[str, Any]) -> None:
        self.pipeline = pipeline
        self.metadata = metadata
        self.version = str(metadata.get("version", "unknown"))
        self._vectorizers, self._intercept = _compile(pipeline)

    def probability(self, text: str) -> float:
        """P(bot) for one text, the same number as ``pipeline.predict_proba([text])[0, 1]``."""
        score = self._intercept
        for vec in self._vectorizers:
            counts = Counter(vec.analyze(text))
            dot = 0.0
            norm_sq = 0.0
            terms = vec.terms
            for term, count in counts.items():
                known = terms.get(term)
                if known is None:
                    continue
                if count == 1:  # most n-grams occur once: tf is 1 either way
                    dot += known[0]
                    norm_sq += known[1]
                else:
                    tf = 1.0 + math.log(count) if vec.sublinear_tf else float(count)
                    dot += tf * known[0]
                    norm_sq += tf * tf * known[1]
            if norm_sq > 0.0:
                score += dot / math.sqrt(norm_sq)
        if score >= 0:
            return 1.0 / (1.0 + math.exp(-score))
        z = math.exp(score)
        return z / (1.0 + z)


def _compile(pipeline: Pipeline) -> tuple[list[_CompiledVectorizer], float]:
    union = pipeline.named_steps["features"]
    clf = pipeline.named_steps["clf"]
    if not isinstance(union, FeatureUnion) or not isinstance(clf, LogisticRegression):
        raise ModelError("model file holds an unexpected pipeline; run `clfwatch service train`")
    coef = clf.coef_[0]
    compiled: list[_CompiledVectorizer] = []
    offset = 0
    for _, vec in union.transformer_list:
        if not isinstance(vec, TfidfVectorizer) or vec.norm != "l2" or not vec.use_idf:
            raise ModelError("model file holds an unexpected vectorizer; run `clfwatch service train`")
        idf = vec.idf_
        terms = {
            term: (float(idf[i] * coef[offset + i]), float(idf[i] * idf[i]))
            for term, i in vec.vocabulary_.items()
        }
        compiled.append(_CompiledVectorizer(vec.build_analyzer(), terms, bool(vec.sublinear_tf)))
        offset += len(vec.vocabulary_)
    if offset != coef.shape[0]:
        raise ModelError("model file is inconsistent; run `clfwatch service train`")
    return compiled, float(clf.intercept_[0])


def load_model(model_dir: Path) -> LoadedModel:
    """The model in ``model_dir``; ModelMissingError (with how to train one) when there is none."""
    model_dir = Path(model_dir)
    model_path = model_dir / MODEL_FILE
    metadata_path = model_dir / METADATA_FILE
    missing = missing_model_message(model_dir)
    if missing is not None:
        raise ModelMissingError(missing)
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
        pipeline = joblib.load(model_path)
    except Exception as exc:  # a truncated or foreign file: any unpickling error means "retrain"
        raise ModelError(
            f"model in {model_dir} cannot be loaded ({type(exc).__name__}); run `clfwatch service train`"
        ) from None
    if not isinstance(pipeline, Pipeline) or not isinstance(metadata, dict):
        raise ModelError(f"model in {model_dir} is not a clfwatch model; run `clfwatch service train`")
    return LoadedModel(pipeline, metadata)
