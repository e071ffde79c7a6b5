"""Every error class of ours derives from ``ClfwatchError``, so the CLI can print it as one line."""

from __future__ import annotations

import ast
import builtins
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Not errors: control flow that must never be caught as one (Ctrl-C while `clfwatch up` starts).
NOT_ERRORS = {"clfwatch/up/common.py:StopRequested", "core/errors.py:ClfwatchError"}
BUILTIN_EXCEPTIONS = {
    name for name in dir(builtins)
    if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), BaseException)
}


def packages() -> list[str]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]]


def builtin_rooted_classes() -> dict[str, list[str]]:
    """``path:Class`` -> its base names, for public classes based on a builtin exception or ours."""
    found = {}
    for package in packages():
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                    continue
                bases = [b.id if isinstance(b, ast.Name) else ast.unparse(b) for b in node.bases]
                if any(b in BUILTIN_EXCEPTIONS or b == "ClfwatchError" for b in bases):
                    found[f"{path.relative_to(REPO_ROOT)}:{node.name}"] = bases
    return found


def test_every_error_class_derives_from_clfwatch_error() -> None:
    classes = builtin_rooted_classes()
    assert len(classes) >= 19  # the scan finds them: the 19 roots (TeamError's subclasses aside)
    outside = {k: v for k, v in classes.items() if "ClfwatchError" not in v and k not in NOT_ERRORS}
    assert not outside, f"derive these from core.errors.ClfwatchError: {outside}"


def test_the_base_keeps_what_callers_catch() -> None:
    from core.contract import PointerError, TemplateError
    from core.errors import ClfwatchError
    from core.settings import SettingsError
    from scoring.rules import RulesError
    from storage.targets import TargetError

    assert issubclass(TargetError, ValueError) and issubclass(TargetError, ClfwatchError)
    assert issubclass(TemplateError, ValueError) and issubclass(PointerError, LookupError)
    assert issubclass(RulesError, ValueError) and RulesError("x").exit_code == 1
    assert SettingsError("x").exit_code == 2
