"""``.env.example`` names every setting: a new setting without an example line fails here."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s*(" + ENV_PREFIX + r"[A-Z0-9_]+)=", text, flags=re.M))
    wanted = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert wanted - listed == set(), "add these to .env.example"
    assert listed - wanted == set(), "these are not settings any more"


def test_env_is_ignored() -> None:
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in lines
