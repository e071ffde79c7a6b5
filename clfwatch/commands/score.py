"""``clfwatch score [--at TIME] [--rules FILE] [--format table|csv|json] [--kind KIND] [--why NAME]``

Table for people (each component as raw → points), CSV for a grade book, JSON as the design's
document. One board per kind of target: the table shows the classifier board and, when there are
openai-chat targets, the LLM board under it (``--kind`` picks one); CSV has one board's columns,
the classifiers' unless ``--kind openai-chat``; JSON holds both (``targets``, ``llm_targets``).
``--why NAME`` prints the rules and inputs behind one target's grade instead. Every
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
from core.contract import TargetKind
from core.settings import Settings
from scoring.board import (
    ComponentScore,
    Scoreboard,
    TargetScore,
    UnknownTargetError,
    explain_target,
    grade_now,
)
from scoring.rules import (
    COMPONENTS,
    DEFAULT_RULES,
    LLM_COMPONENTS,
    RulesError,
    load_grading_defaults,
    load_rules_file,
)
from storage.engine import session_scope

CSV_COLUMNS = (
    "rank", "name", "total", "base", "multiplier",
    "latency_s", "latency_points", "uptime", "uptime_points",
    "rate200", "rate200_points", "auc", "auc_points", "auc_coverage",
    "stress_points", "missing",
)
LLM_CSV_COLUMNS = (
    "rank", "name", "total", "base", "multiplier",
    "ttft_s", "ttft_points", "uptime", "uptime_points", "rate200", "rate200_points",
    "stress_points", "missing",
)
CSV_DECIMALS = 6
KINDS = tuple(k.value for k in TargetKind)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    score = subparsers.add_parser("score", help="the scoreboard: grade every target")
    score.add_argument(
        "--at", type=parse_time, help="grading time, ISO 8601 with zone; default the defense time"
    )
    score.add_argument("--rules", type=Path, help="grading rules TOML; default the configured rules")
    score.add_argument("--format", choices=("table", "csv", "json"), default="table")
    score.add_argument("--kind", choices=KINDS,
                       help="one board only (default: every board in a table, classifiers in CSV)")
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
        if args.kind == TargetKind.OPENAI_CHAT:
            write_llm_csv(board)
        else:
            write_csv(board)
    else:
        print_table(board, args.kind)
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


def write_llm_csv(board: Scoreboard) -> None:
    """The openai-chat board, one row per target, like ``write_csv``."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(LLM_CSV_COLUMNS)
    for t in board.llm_targets:
        c = t.components
        missing = "; ".join(f"{name}: {c[name].reason}" for name in LLM_COMPONENTS if c[name].points is None)
        writer.writerow([
            t.rank, t.name, _num(t.total), _num(t.base), _num(t.multiplier),
            *(_num(v) for name in LLM_COMPONENTS for v in (c[name].raw, c[name].points)),
            "" if t.stress_points is None else t.stress_points, missing,
        ])


def _cell(name: str, comp: ComponentScore) -> str:
    if comp.points is None:
        return "— (missing)"
    if comp.raw is None:  # graded 0 by a rule, nothing measured: the reason is listed below
        return f"— → {comp.points:.2f}"
    if name in ("latency", "ttft"):
        raw = f"{comp.raw * 1000:.1f} ms"
    elif name == "auc":
        raw = f"{comp.raw:.4f}"
    else:
        raw = f"{100 * comp.raw:.2f} %"
    return f"{raw} → {comp.points:.2f}"


def print_table(board: Scoreboard, kind: str | None = None) -> None:
    """Aligned columns per board, then one line per missing component with its reason.

    ``kind`` None: the classifier board, and the LLM board under it when there are openai-chat
    targets; otherwise that board only.
    """
    rules = "defaults" if board.rules == DEFAULT_RULES else "custom (see --format json)"
    baseline = f"{board.baseline_auc:.4f}" if board.baseline_auc is not None else "unknown"
    print(f"graded at {board.at.replace(microsecond=0).isoformat()}  ·  rules: {rules}  ·  "
          f"baseline AUC {baseline} ({board.baseline_reason})")
    if not board.all_targets:
        print("no targets registered; add one with: clfwatch targets add NAME URL")
        return
    show_classifiers = kind == TargetKind.CLASSIFIER or (
        kind is None and bool(board.targets or not board.llm_targets))
    show_llm = kind == TargetKind.OPENAI_CHAT or (kind is None and bool(board.llm_targets))
    if show_classifiers:
        if show_llm:
            print("classifiers")
        _print_board(board.targets, COMPONENTS, "no classifier targets registered")
    if show_classifiers and show_llm:
        print()
    if show_llm:
        if show_classifiers:
            print("LLM endpoints (openai-chat; ttft = time to first token, [llm] rules)")
        _print_board(board.llm_targets, LLM_COMPONENTS, "no openai-chat targets registered; add one "
                     "with: clfwatch targets add NAME URL --kind openai-chat --token KEY")
    print("missing components count 0 in the total; base = points before the lifetime multiplier, "
          "it breaks ties in the total; explain one with --why NAME")


def _print_board(targets: list[TargetScore], components: tuple[str, ...], empty: str) -> None:
    if not targets:
        print(empty)
        return
    header = ["rank", "name", *components, "base", "lifetime", "total", "stress"]
    rows = [
        [
            str(t.rank), t.name, *(_cell(c, t.components[c]) for c in components),
            f"{t.base:.2f}", f"×{t.multiplier:.2f}", f"{t.total:.2f}",
            "—" if t.stress_points is None else f"{t.stress_points}/10",
        ]
        for t in targets
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    notes = [
        f"  {t.name}: {c} missing: {t.components[c].reason}"
        if t.components[c].points is None else f"  {t.name}: {c} 0 points: {t.components[c].reason}"
        for t in targets for c in components
        if t.components[c].points is None or t.components[c].raw is None
        or (c == "auc" and t.auc_excluded)
    ]
    gaps = [f"  {t.name}: {len(t.gaps)} prober gap(s) not charged" for t in targets if t.gaps]
    if notes or gaps:
        print()
        print("\n".join(notes + gaps))
