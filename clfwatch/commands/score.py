"""``clfwatch score [--at TIME] [--rules FILE] [--format table|csv|json] [--why NAME]``.

Table for people (each component as raw → points), CSV for a grade book, JSON as the design's
document. ``--why NAME`` prints the rules and inputs behind one target's grade instead. Every
format shows the base score (the points before the lifetime multiplier) that breaks ties in the
total, and the AUC's coverage of the evaluation set.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from clfwatch.commands import CommandError
from clfwatch.commands.targets import parse_time
from core.settings import Settings
from scoring.board import (
    ComponentScore,
    Scoreboard,
    UnknownTargetError,
    explain_target,
    grade_now,
)
from scoring.rules import COMPONENTS, DEFAULT_RULES, RulesError, load_grading_defaults, load_rules_file
from storage.engine import session_scope

CSV_COLUMNS = (
    "rank", "name", "total", "base", "multiplier",
    "latency_s", "latency_points", "uptime", "uptime_points",
    "rate200", "rate200_points", "auc", "auc_points", "auc_coverage",
    "stress_points", "missing",
)
CSV_DECIMALS = 6


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    score = subparsers.add_parser("score", help="the scoreboard: grade every target")
    score.add_argument(
        "--at", type=parse_time, help="grading time, ISO 8601 with zone; default the defense time"
    )
    score.add_argument("--rules", type=Path, help="grading rules TOML; default the configured rules")
    score.add_argument("--format", choices=("table", "csv", "json"), default="table")
    score.add_argument("--why", metavar="NAME", help="explain one target's grade: rules and inputs")
    score.set_defaults(handler=run_score)


def run_score(args: argparse.Namespace, settings: Settings) -> int:
    try:
        rules = load_rules_file(args.rules) if args.rules is not None else None
        defaults = load_grading_defaults(rules_file=settings.rules_file, defense_at=settings.defense_at)
        with session_scope(settings.database_url) as session:
            board = grade_now(session, defaults, at=args.at, rules=rules)
    except RulesError as exc:
        raise CommandError(f"bad grading rules: {exc}") from None
    if args.why is not None:
        try:
            lines = explain_target(board, args.why)
        except UnknownTargetError as exc:
            raise CommandError(str(exc)) from None
        if args.format == "json":
            print(json.dumps({"target": args.why, "why": lines}, indent=2, ensure_ascii=False))
        else:
            print("\n".join(lines))
        return 0
    if args.format == "json":
        print(json.dumps(board.to_dict(), indent=2, ensure_ascii=False))
    elif args.format == "csv":
        write_csv(board)
    else:
        print_table(board)
    return 0


def _num(value: float | None) -> str:
    return "" if value is None else f"{round(value, CSV_DECIMALS)}"


def write_csv(board: Scoreboard) -> None:
    """One row per target, missing values as empty cells and their reasons in ``missing``."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in board.targets:
        c = t.components
        missing = "; ".join(f"{name}: {c[name].reason}" for name in COMPONENTS if c[name].points is None)
        writer.writerow([
            t.rank, t.name, _num(t.total), _num(t.base), _num(t.multiplier),
            _num(c["latency"].raw), _num(c["latency"].points),
            _num(c["uptime"].raw), _num(c["uptime"].points),
            _num(c["rate200"].raw), _num(c["rate200"].points),
            _num(c["auc"].raw), _num(c["auc"].points), _num(t.auc_coverage),
            "" if t.stress_points is None else t.stress_points, missing,
        ])


def _cell(name: str, comp: ComponentScore) -> str:
    if comp.points is None:
        return "— (missing)"
    if comp.raw is None:  # graded 0 by a rule, nothing measured: the reason is listed below
        return f"— → {comp.points:.2f}"
    if name == "latency":
        raw = f"{comp.raw * 1000:.1f} ms"
    elif name == "auc":
        raw = f"{comp.raw:.4f}"
    else:
        raw = f"{100 * comp.raw:.2f} %"
    return f"{raw} → {comp.points:.2f}"


def print_table(board: Scoreboard) -> None:
    """Aligned columns, then one line per missing component with its reason."""
    rules = "defaults" if board.rules == DEFAULT_RULES else "custom (see --format json)"
    baseline = f"{board.baseline_auc:.4f}" if board.baseline_auc is not None else "unknown"
    print(f"graded at {board.at.replace(microsecond=0).isoformat()}  ·  rules: {rules}  ·  "
          f"baseline AUC {baseline} ({board.baseline_reason})")
    if not board.targets:
        print("no targets registered; add one with: clfwatch targets add NAME URL")
        return
    header = ["rank", "name", *COMPONENTS, "base", "lifetime", "total", "stress"]
    rows = [
        [
            str(t.rank), t.name, *(_cell(c, t.components[c]) for c in COMPONENTS),
            f"{t.base:.2f}", f"×{t.multiplier:.2f}", f"{t.total:.2f}",
            "—" if t.stress_points is None else f"{t.stress_points}/10",
        ]
        for t in board.targets
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    notes = [
        f"  {t.name}: {c} missing: {t.components[c].reason}"
        if t.components[c].points is None else f"  {t.name}: {c} 0 points: {t.components[c].reason}"
        for t in board.targets for c in COMPONENTS
        if t.components[c].points is None or t.components[c].raw is None
        or (c == "auc" and t.auc_excluded)
    ]
    gaps = [f"  {t.name}: {len(t.gaps)} prober gap(s) not charged" for t in board.targets if t.gaps]
    if notes or gaps:
        print()
        print("\n".join(notes + gaps))
    print("missing components count 0 in the total; base = points before the lifetime multiplier, "
          "it breaks ties in the total; explain one with --why NAME")
