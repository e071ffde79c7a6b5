"""The console script, run as a user would run it: bad input gets one line and changes nothing.

What only a process shows (the script starts, its exit code, stderr at exit holds nothing but
its own lines, a closed pipe, what it imports) runs ``python -m clfwatch.cli``; what a command
computes and prints from its input runs in this process (``clfwatch_in_process``, the same
``main``), a tenth of the CPU for each of the dozens of inputs below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from storage.engine import session_scope
from storage.evalset import eval_count, eval_texts
from storage.targets import list_targets, probe_targets
from tests.clfwatch.inproc import clfwatch_in_process


def clfwatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clfwatch.cli", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )


def test_targets_add_list_and_token_never_listed(cli_env: dict[str, str], db_url: str) -> None:
    r = clfwatch(cli_env, "targets", "add", "team-a", "http://127.0.0.1:8080", "--token", "TOK-xyz-123")
    assert r.returncode == 0, r.stderr
    assert "TOK-xyz-123" not in r.stdout + r.stderr
    for fmt in ("table", "json"):
        out = clfwatch_in_process(cli_env, "targets", "list", "--format", fmt)
        assert out.returncode == 0
        assert "team-a" in out.stdout and "TOK-xyz-123" not in out.stdout + out.stderr
    rows = json.loads(clfwatch_in_process(cli_env, "targets", "list", "--format", "json").stdout)
    assert rows[0]["token"] == "set" and rows[0]["active"] is True
    assert clfwatch_in_process(cli_env, "targets", "set-active", "team-a", "off").returncode == 0
    rows = json.loads(clfwatch_in_process(cli_env, "targets", "list", "--format", "json").stdout)
    assert rows[0]["active"] is False
    assert clfwatch_in_process(cli_env, "targets", "remove", "team-a").returncode == 0
    with session_scope(db_url) as s:
        assert list_targets(s) == []


def test_token_dash_reads_the_key_from_stdin(cli_env: dict[str, str], db_url: str) -> None:
    """``--token -``: the key comes from standard input, so the process list (``ps``) shows a dash."""
    add = ["targets", "add", "team-a", "http://127.0.0.1:8080", "--token", "-"]
    r = subprocess.run(
        [sys.executable, "-m", "clfwatch.cli", *add], env=cli_env, input="TOK-from-stdin\n",
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "TOK-from-stdin" not in r.stdout + r.stderr
    with session_scope(db_url) as s:
        assert [t.token for t in probe_targets(s)] == ["TOK-from-stdin"]
    changed = clfwatch_in_process(cli_env, "targets", "update", "team-a", "--token", "-", stdin="TOK-2\n")
    assert changed.returncode == 0, changed.stderr
    with session_scope(db_url) as s:
        assert [t.token for t in probe_targets(s)] == ["TOK-2"]
    empty = clfwatch_in_process(cli_env, "targets", "update", "team-a", "--token", "-", stdin="")
    assert empty.returncode == 2
    assert "argument --token: '-' reads the key from standard input, which held none" in empty.stderr
    with session_scope(db_url) as s:
        assert [t.token for t in probe_targets(s)] == ["TOK-2"]  # unchanged
    stress = clfwatch_in_process(cli_env, "stress", "run", "http://127.0.0.1:1", "--token", "-", stdin="")
    assert stress.returncode == 2 and "argument --token: '-' reads the key" in stress.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("team-b", "ftp://127.0.0.1"),
        ("team-b", "not a url"),
        ("bad\u202ename", "http://127.0.0.1:1"),  # bidi control; "/" is allowed now
        ("team-b", "http://127.0.0.1:1", "--registered-at", "2026-01-01T00:00:00"),
        ("team-b", "http://127.0.0.1:1", "--template", '{"q": 1}'),
    ],
)
def test_bad_target_exits_nonzero_with_one_line(
    cli_env: dict[str, str], db_url: str, args: tuple[str, ...]
) -> None:
    r = clfwatch_in_process(cli_env, "targets", "add", *args)  # an uncaught error would raise here
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines and "Traceback" not in r.stderr
    assert len([line for line in lines if "error" in line]) == 1
    with session_scope(db_url) as s:
        assert list_targets(s) == []


GOOD_CSV = "id,text,label\ns1,hello there,0\ns2,BUY NOW bot,1\ns3,\"quoted, text\",0\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,text\ns1,hi\n", "line 1: missing column(s) label"),
        ("id,text,label\ns1,hi,0\ns2,yo,2\n", "line 3: label must be 0 or 1"),
        ("id,text,label\ns1,hi,0\ns1,yo,1\n", "line 3: duplicate id 's1'"),
        ("id,text,label\ns1,,0\n", "line 2: empty text"),
        ("id,text,label\n", "holds no samples"),
    ],
)
def test_broken_eval_csv_loads_nothing(
    cli_env: dict[str, str], db_url: str, tmp_path: Path, content: str, message: str
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    assert clfwatch_in_process(cli_env, "eval", "load", str(good)).returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(content, encoding="utf-8")
    r = clfwatch_in_process(cli_env, "eval", "load", str(bad))
    assert r.returncode != 0
    assert message in r.stderr and "nothing was loaded" in r.stderr
    with session_scope(db_url) as s:  # the earlier good set is untouched
        assert [t.id for t in eval_texts(s)] == ["s1", "s2", "s3"]


def test_eval_load_reports_counts_but_no_labels(cli_env: dict[str, str], db_url: str, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    r = clfwatch_in_process(cli_env, "eval", "load", str(good))
    assert r.returncode == 0 and "loaded 3 samples" in r.stdout
    with session_scope(db_url) as s:
        assert eval_count(s) == 3
        assert eval_texts(s)[2].text == "quoted, text"


def test_bad_setting_stops_with_the_variable_name(cli_env: dict[str, str]) -> None:
    env = dict(cli_env, CLFWATCH_PROBE_INTERVAL_S="-3")
    r = clfwatch(env, "targets", "list")
    assert r.returncode == 2
    assert "CLFWATCH_PROBE_INTERVAL_S" in r.stderr and "Traceback" not in r.stderr


def test_db_upgrade_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'new.db'}"
    r = clfwatch(env, "db", "upgrade")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "new.db").exists()
    # our own line only: no Alembic INFO lines ("setup plugin ...", "Running upgrade ...")
    assert (r.stdout, r.stderr) == ("database is at the newest schema\n", "")


MANY_TARGETS = 3000  # enough output (> 200 kB) that a reader gone after 3 lines breaks the pipe


@pytest.fixture(scope="module")
def many_targets_env(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> dict[str, str]:
    """A database of 3000 targets, built once for the module: its tests only read it.

    The first goes through add_target; the rest are its row with their own (validated) name
    and URL, in one INSERT: 3000 add_target calls cost ~5 CPU-s, each a SELECT and a flush.
    """
    import os
    import shutil

    from sqlalchemy import insert, select

    from storage.engine import engine_for
    from storage.models import Target
    from storage.targets import add_target, validate_name, validate_url

    def name(i: int) -> str:
        return f"team-{i:05d}-with-a-longish-name"

    def base_url(i: int) -> str:
        return f"http://127.0.0.1:{1024 + i}"

    path = tmp_path_factory.mktemp("many-targets") / "many.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    table = Target.__table__
    with session_scope(url) as s:
        first = add_target(s, name=name(0), base_url=base_url(0))
        row = s.execute(select(table).where(table.c.name == first.name)).mappings().one()
        like_first = {column: value for column, value in row.items() if column != "id"}
        s.execute(insert(table), [
            dict(like_first, name=validate_name(name(i)), base_url=validate_url(base_url(i)))
            for i in range(1, MANY_TARGETS)
        ])
    engine_for(url).dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_DATABASE_URL"] = url
    return env


@pytest.mark.parametrize(
    "command",
    ["score --format csv", "score", "targets list", "targets list --format json"],
)
def test_a_closed_stdout_ends_quietly(many_targets_env: dict[str, str], command: str) -> None:
    """``clfwatch score --format csv | head -3``: no BrokenPipeError traceback, exit 0 or 141."""
    shell = f"{sys.executable} -m clfwatch.cli {command} | head -3 >/dev/null; exit ${{PIPESTATUS[0]}}"
    r = subprocess.run(
        ["bash", "-c", shell], env=many_targets_env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode in (0, 141), r.stderr
    assert r.stderr == ""  # no traceback, no "Exception ignored", nothing at all


def test_the_whole_output_without_a_pipe_reader_gone(many_targets_env: dict[str, str]) -> None:
    """The same command, read to the end: every target is there (the test above truly cuts it)."""
    r = clfwatch(many_targets_env, "targets", "list", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == MANY_TARGETS
    assert len(r.stdout.encode()) > 200_000


# A command imports only its own group's module: starting `clfwatch targets list` must not pay for
# the prober, stress, scoring or the dashboard (each start of the CLI is a user waiting, or a test).
HEAVY_PACKAGES = ("probes", "stress", "dashboard", "drift")
IMPORTED_BY = (
    "import sys, clfwatch.cli as c; c.build_parser(sys.argv[1]); "
    "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[2:]))))"
)


@pytest.mark.parametrize("group", ["db", "targets", "eval"])
def test_a_command_imports_only_its_own_group(group: str) -> None:
    found = subprocess.run(
        [sys.executable, "-c", IMPORTED_BY, group, *HEAVY_PACKAGES],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert found == "", f"clfwatch {group} imported {found}"


# A real command, then the top-level packages it imported (last line of stderr).
RUN_THEN_LIST_PACKAGES = (
    "import sys, clfwatch.cli as c; code = c.main(sys.argv[1:]); sys.stdout.flush(); "
    "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr); sys.exit(code)"
)


def test_only_a_migration_imports_alembic(sqlite_url: str) -> None:
    """The schema check before every command reads the version table without Alembic (~0.15 s a
    start); ``db upgrade`` does import it, which shows this check sees an import when there is one."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env["CLFWATCH_DATABASE_URL"] = sqlite_url
    imported = {}
    for args in (("targets", "list"), ("db", "upgrade")):
        r = subprocess.run([sys.executable, "-c", RUN_THEN_LIST_PACKAGES, *args],
                           env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        *logged, packages = r.stderr.splitlines()
        assert logged == [], r.stderr  # the schema is current: nothing migrated, nothing said
        imported[args[0]] = set(packages.split())
    assert "sqlalchemy" in imported["targets"]  # it did read the database
    assert "alembic" not in imported["targets"], "the schema check before every command imported Alembic"
    assert "alembic" in imported["db"]


def test_every_group_registers_under_its_own_name() -> None:
    from clfwatch.cli import COMMAND_MODULES, build_parser

    def groups(parser) -> set[str]:  # type: ignore[no-untyped-def]
        return {name for action in parser._subparsers._group_actions for name in action.choices}

    assert groups(build_parser()) == set(COMMAND_MODULES)
    for name in COMMAND_MODULES:
        assert groups(build_parser(name)) == {name}
