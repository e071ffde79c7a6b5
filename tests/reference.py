"""The reference classifier as a test fixture, for every test folder that needs a real target.

Stable API (stress, dashboard, probes and system tests import these; keep the signatures):

- ``trained_model_dir``: session-scoped pytest fixture; trains the reference model once per
  test session into a temporary folder and returns that folder. Import it into your folder's
  ``conftest.py`` (``from tests.reference import trained_model_dir  # noqa: F401``).
- ``reference_service(model_dir, *, api_key=None, **settings_overrides)``: context manager that
  serves the reference service under a real uvicorn (in a thread) on a free loopback port and
  yields its base URL, e.g. ``http://127.0.0.1:41234``. ``settings_overrides`` are fields of
  ``core.settings.Settings`` (``service_max_body_bytes=4096``, ``service_max_text_chars=100``).
- ``reference_settings(...)``: the ``Settings`` that ``reference_service`` would use, for tests
  that build the app themselves with ``service.app.create_app``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from service.data import DATA_DIR
from tests.servers import uvicorn_thread

# service.app and service.model are imported where they are used: they bring scikit-learn
# (1.5 s of imports), and every pytest process imports this module through tests/conftest.py.

REFERENCE_SEED = 0


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with model.joblib + model.json trained on the shipped data (once per session).

    Under pytest-xdist the workers share one folder in the run's common temporary root: the
    first worker trains (seconds of CPU) while the others wait on a lock, then all read it.
    Tests only read the folder; a test that trains writes to its own ``tmp_path``.
    """
    from service.model import train_model

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        model_dir = tmp_path_factory.mktemp("reference-model")
        train_model(DATA_DIR, model_dir, seed=REFERENCE_SEED)
        return model_dir
    shared = tmp_path_factory.getbasetemp().parent  # the same for every worker of this run
    model_dir = shared / "reference-model"
    with open(shared / "reference-model.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "reference-model.done").exists():
            shutil.rmtree(model_dir, ignore_errors=True)  # a worker killed mid-training
            train_model(DATA_DIR, model_dir, seed=REFERENCE_SEED)
            (shared / "reference-model.done").touch()
    return model_dir


def reference_settings(model_dir: Path, *, api_key: str | None = None, **settings_overrides: Any) -> Settings:
    """Settings for the reference service on ``model_dir``; other ``CLFWATCH_*`` values as in the env.

    The traffic ring is off unless asked for (``service_traffic_sample=N``): otherwise every test's
    service would write its texts into whatever database the environment names.
    """
    settings_overrides.setdefault("service_traffic_sample", 0)
    return Settings(service_model_dir=model_dir, service_api_key=api_key, **settings_overrides)


@contextmanager
def reference_service(
    model_dir: Path, *, api_key: str | None = None, **settings_overrides: Any
) -> Iterator[str]:
    """Serve the reference classifier on a free loopback port until the block ends; yields its base URL."""
    from service.app import create_app

    app = create_app(reference_settings(model_dir, api_key=api_key, **settings_overrides))
    with uvicorn_thread(app) as url:
        yield url
