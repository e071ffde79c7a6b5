"""The import layers of ``[tool.importlinter]`` hold, and ``lint-imports`` would notice if not.

``make lint`` runs ``lint-imports`` too; this test is how CI (``.ci/run`` -> ``make test``) does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
TIMEOUT_S = 120


def root_packages() -> list[str]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["importlinter"]["root_packages"])


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the packages under ``root``, with ``root``'s pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root)}  # before the editable install's finder
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )


def test_the_repository_keeps_its_layers() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_every_package_is_in_the_layers() -> None:
    """A new top-level package outside the contract would be checked by nothing."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    layered = {
        name.strip()
        for contract in config["tool"]["importlinter"]["contracts"] if contract["type"] == "layers"
        for layer in contract["layers"] for name in layer.replace(":", "|").split("|")
    }
    shipped = {p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert layered == set(root_packages()) == shipped


# (module added to a copy of the packages, its one import, the contract it breaks)
VIOLATIONS = [
    ("storage/violation.py", "import dashboard", "Only the CLI and the dashboard"),
    ("probes/violation.py", "from stress import bars", "Packages import only downwards"),
    ("core/violation.py", "def late():\n    import storage.engine\n", "Packages import only downwards"),
    ("scoring/violation.py", "import drift.reports", "Packages import only downwards"),
    ("service/violation.py", "import alerts", "Packages import only downwards"),
]


@pytest.fixture(scope="module")
def packages_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages and pyproject.toml that passes; each test adds one module, then removes it."""
    root = tmp_path_factory.mktemp("layers")
    for package in root_packages():
        shutil.copytree(REPO_ROOT / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.csv"))
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    assert lint_imports(root).returncode == 0, "the unchanged copy must pass first"
    return root


@pytest.mark.parametrize(("path", "source", "contract"), VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_an_upward_import_breaks_the_contract(
    packages_copy: Path, path: str, source: str, contract: str
) -> None:
    """The same config over a copy of the packages with one forbidden import added fails, naming it."""
    violation = packages_copy / path
    assert not violation.exists(), "the copy must be unchanged but for this test's one module"
    violation.write_text(source + "\n", encoding="utf-8")
    try:
        result = lint_imports(packages_copy)
    finally:
        violation.unlink()
    assert result.returncode != 0, result.stdout
    module = path.removesuffix(".py").replace("/", ".")
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout, result.stdout
    assert module in result.stdout, result.stdout
