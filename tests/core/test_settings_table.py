"""The settings table in docs/DESIGN.md ("The surface") names exactly the settings that exist.

One row per variable: a setting added to ``core/settings.py`` without a row fails here, and so
does a row left behind for a setting that was removed or renamed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.settings import ENV_PREFIX, Settings

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "DESIGN.md"
HEADER = "| variable | meaning | default |"


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of the settings table (the first table under "The surface")."""
    section = text[text.index("## The surface") :]
    lines = section[section.index(HEADER) :].splitlines()
    rows = []
    for line in lines[2:]:  # after the header and the |---| line
        if not line.startswith("|"):
            break
        # A cell may hold an escaped pipe (`\|p_new - p_old\|`): split on unescaped ones only.
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows


def table_variables(text: str) -> list[str]:
    """The variable of each row; a row must name exactly one ``CLFWATCH_*`` variable, in backticks."""
    variables = []
    for cells in table_rows(text):
        assert len(cells) == 3, f"settings table row needs variable | meaning | default: {cells}"
        names = re.findall(r"`([^`]*)`", cells[0])
        assert len(names) == 1 and re.fullmatch(ENV_PREFIX + r"[A-Z0-9_]+", names[0]), (
            f"settings table: one `{ENV_PREFIX}NAME` per row, got {cells[0]!r}"
        )
        assert cells[1] and cells[2], f"settings table: {names[0]} needs a meaning and a default"
        variables.append(names[0])
    return variables


def test_settings_table_lists_every_setting_and_nothing_else() -> None:
    listed = table_variables(DESIGN.read_text(encoding="utf-8"))
    wanted = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    twice = sorted({v for v in listed if listed.count(v) > 1})
    assert twice == [], "listed twice in docs/DESIGN.md"
    assert wanted - set(listed) == set(), "add a row to the settings table of docs/DESIGN.md"
    assert set(listed) - wanted == set(), "rows in docs/DESIGN.md for settings that do not exist"


TABLE = """## The surface

| variable | meaning | default |
|---|---|---|
{rows}

Command line
"""


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ("| `CLFWATCH_A`, `CLFWATCH_B` | two | `1` |", "one `CLFWATCH_NAME` per row"),
        ("| `CLFWATCH_A` | no default |", "needs variable | meaning | default"),
        ("| `CLFWATCH_A` |  | `1` |", "needs a meaning and a default"),
        ("| `_SHARE` | shorthand | `1` |", "one `CLFWATCH_NAME` per row"),
    ],
)
def test_a_malformed_row_is_refused(rows: str, problem: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(problem)):
        table_variables(TABLE.format(rows=rows))


def test_the_parser_reads_escaped_pipes_and_stops_at_the_table_end() -> None:
    rows = "| `CLFWATCH_A` | `\\|x\\|` above this | `0.01` |\n| `CLFWATCH_B` | b | `2` |"
    assert table_variables(TABLE.format(rows=rows)) == ["CLFWATCH_A", "CLFWATCH_B"]
