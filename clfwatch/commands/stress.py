"""``clfwatch stress run TARGET_OR_URL [--suite classifier|llm] [--token KEY] [--model M]
[--only a,b] [--workers N] [--format table|json]``.

``--suite`` defaults to the one for a registered target's kind (classifier for a bare URL);
``--token`` and ``--model`` replace the registered target's, or give a bare URL's.

One line per scenario as it finishes, then a table; with ``--format json`` the lines go to
stderr and stdout holds exactly one JSON document (for a team's own CI). Exit 0 when every
scenario passed, 1 when one failed, 2 when the target does not answer at all (one line on
stderr, no scenario run; with ``--format json`` the document still goes to stdout), 130 when
interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy.exc import SQLAlchemyError

from clfwatch.commands import TOKEN_HELP_STDIN, CommandError, token_argument
from core.settings import Settings
from stress.bars import DEFAULT_BARS, BarsError, parse_bar_overrides
from stress.evidence import ScenarioResult
from stress.runner import StressError, StressReport, run_stress
from stress.scenarios import CLASSIFIER_SUITE
from stress.suites import SUITES

EXIT_FAILED = 1
EXIT_NO_ANSWER = 2  # the target did not answer at all: one line, no scenario run
EXIT_INTERRUPTED = 130
SUMMARY_CHARS = 100


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stress = subparsers.add_parser(
        "stress", help="stress-test a classifier or an LLM service (openai-chat) with ten scenarios"
    )
    sub = stress.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = sub.add_parser("run", help="run the scenarios against a registered target or a loopback URL")
    run.add_argument("target", metavar="TARGET_OR_URL", help="a registered target's name, or a URL")
    run.add_argument("--suite", choices=tuple(SUITES),
                     help="which ten scenarios: classifier, or llm for an openai-chat service "
                          "(default: the registered target's kind; classifier for a URL)")
    run.add_argument("--token", metavar="KEY", type=token_argument,
                     help="the bearer key to send (replaces a registered target's); never printed or stored"
                          + TOKEN_HELP_STDIN)
    run.add_argument("--model", help="llm suite: the model to ask for (default: registered, else "
                                     "the first GET /v1/models lists)")
    run.add_argument("--only", help="comma-separated scenarios: "
                                    + "; ".join(f"{n}: {', '.join(s.names)}" for n, s in SUITES.items()))
    run.add_argument("--workers", type=int, default=0,
                     help="Locust workers (0: one process; N: a master and N workers on loopback)")
    run.add_argument("--format", choices=("table", "json"), default="table")
    run.add_argument("--bar", action="append", default=[], metavar="NAME=VALUE",
                     help="override a bar or budget, e.g. --bar spike_users=20 (repeatable)")
    run.set_defaults(handler=run_stress_command)


def _line(result: ScenarioResult) -> str:
    verdict = "PASS" if result.passed else "FAIL"
    return f"{verdict}  {result.scenario:<18} {result.duration_s:6.1f} s  {result.summary[:SUMMARY_CHARS]}"


def _table(report: StressReport) -> str:
    """One row per scenario; ``p95 ms`` is over answered requests, shown beside what was not."""
    rows = [("scenario", "verdict", "requests", "answered", "refused", "timeouts", "other errors",
             "p95 ms", "summary")]
    for r in report.results:
        ev = r.evidence
        p95 = ev["latency_ms"].get("p95") if isinstance(ev["latency_ms"], dict) else None
        rows.append((r.scenario, "pass" if r.passed else "FAIL", str(ev["requests"]), str(ev["answered"]),
                     str(ev["refused"]), str(ev["timeouts"]), str(ev["transport_errors"]),
                     "-" if p95 is None else f"{p95:g}", r.summary[:SUMMARY_CHARS]))
    last = len(rows[0]) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(last)]
    lines = ["  ".join([*(row[i].ljust(widths[i]) for i in range(last)), row[last]]) for row in rows]
    suite = "" if report.suite == CLASSIFIER_SUITE.name else f"{report.suite} suite, "
    lines.append(f"score {report.score}/{report.out_of} for {report.target} ({suite}{report.status})")
    if report.not_graded_because:
        lines.append(f"not the target's stress points: {report.not_graded_because}; a run of the "
                     "whole suite, with the course's bars and the target as registered, is")
    if report.notes.get("model"):
        lines.append(f"model asked for: {report.notes['model']} ({report.notes.get('model_from', '')})")
    for r in report.results:
        failure = r.evidence["first_failure"]
        if not r.passed and failure:
            lines += ["", f"{r.scenario}: {failure['reason']}", f"  reproduce: {failure['curl']}"]
    return "\n".join(lines)


def run_stress_command(args: argparse.Namespace, settings: Settings) -> int:
    as_json = args.format == "json"
    out = sys.stderr if as_json else sys.stdout
    try:
        bars = DEFAULT_BARS.with_overrides(parse_bar_overrides(args.bar))
    except BarsError as exc:
        raise CommandError(str(exc), exit_code=2) from None
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    is_url = "://" in args.target

    def on_result(result: ScenarioResult) -> None:
        print(_line(result), file=out, flush=True)

    try:
        report = run_stress(
            args.target if is_url else "",
            database_url=settings.database_url,
            target_name=None if is_url else args.target,
            only=only,
            workers=args.workers,
            on_result=on_result,
            bars=bars,
            suite=args.suite,
            token=args.token,
            model=args.model,
        )
    except StressError as exc:
        raise CommandError(str(exc), exit_code=2) from None
    except SQLAlchemyError as exc:
        raise CommandError(
            f"database not usable ({type(exc).__name__}); run `clfwatch db upgrade` first"
        ) from None
    if report.status == "failed" and report.error:  # nothing answered: no scenario ran
        if as_json:
            print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        raise CommandError(report.error, exit_code=EXIT_NO_ANSWER)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(_table(report))
    if report.status == "interrupted":
        print("clfwatch: interrupted; finished scenarios are stored", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0 if report.all_passed else EXIT_FAILED
