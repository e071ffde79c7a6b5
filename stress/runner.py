"""Run the chosen scenarios of one suite against one service, store every verdict as soon as known.

A suite is the classifier's ten scenarios or the LLM suite's ten (``stress.suites``); everything
here (safety, preflight, storage, redaction, Ctrl-C) is the same for both.

Safety first: a run sends traffic only to loopback (127.0.0.0/8, ::1, localhost) or to the URL
of a registered target; anything else is refused before one byte is sent. A Ctrl-C stops the
run between or inside scenarios (load subprocesses are killed), what finished is kept, and the
run is recorded as ``interrupted``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from core.contract import CONTRACT_POINTER
from core.errors import ClfwatchError
from core.redaction import redact_text
from stress.bars import DEFAULT_BARS, Bars
from stress.context import StressContext
from stress.evidence import ScenarioResult
from stress.preflight import PREFLIGHT_ROW, Preflight, check_target_answers
from stress.scenarios import CLASSIFIER_SUITE, Suite
from stress.suites import SUITES, suite_for_kind
from stress.target import TargetSpec

log = logging.getLogger(__name__)

MAX_WORKERS = 16


class StressError(ClfwatchError, ValueError):
    """A run cannot start: unsafe URL, unknown target or scenario, bad option."""


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and the name localhost; any other name is not trusted to be local."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """A usable http(s) base URL without trailing slash; StressError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StressError(f"not an http(s) URL: {url[:200]!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise StressError(f"bad port in {url[:200]!r}") from None
    if parts.query or parts.fragment:
        raise StressError(f"give a base URL without query or fragment: {url[:200]!r}")
    return url.strip().rstrip("/")


def parse_only(only: list[str] | None, suite: Suite = CLASSIFIER_SUITE) -> list[str]:
    """The scenario names to run, in the canonical order; StressError names an unknown one."""
    names = suite.names
    if not only:
        return list(names)
    unknown = [n for n in only if n not in names]
    if unknown:
        raise StressError(
            f"unknown scenario {unknown[0]!r} in the {suite.name} suite; known: {', '.join(names)}"
        )
    return [n for n in names if n in only]


def choose_suite(name: str | None, spec: TargetSpec) -> Suite:
    """The suite asked for, or the one that fits the target's kind; refuses a mismatch.

    A registered target knows its kind, and a suite for the other kind would judge every answer
    against the wrong contract: that is refused with the fix. A bare URL takes the suite asked
    for (the classifier's by default) and the suite's paths.
    """
    if name is not None and name not in SUITES:
        raise StressError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    registered = spec.target_id is not None
    if name is None:
        return suite_for_kind(spec.kind) if registered else CLASSIFIER_SUITE
    suite = SUITES[name]
    if registered and suite.kind != spec.kind:
        fitting = suite_for_kind(spec.kind)
        raise StressError(
            f"target {spec.name!r} is registered as kind {spec.kind}, which the {suite.name} suite does "
            f"not test; run --suite {fitting.name} (or leave --suite out)"
        )
    return suite


@dataclass
class StressReport:
    target: str  # registered name, or the URL for an unregistered loopback service
    url: str
    started_at: datetime
    run_id: int | None = None
    finished_at: datetime | None = None
    status: str = "running"  # running, finished, interrupted, failed
    results: list[ScenarioResult] = field(default_factory=list)
    error: str | None = None  # one line: why a failed run stopped (the target did not answer)
    preflight: Preflight | None = None
    suite: str = CLASSIFIER_SUITE.name
    out_of: int = len(CLASSIFIER_SUITE.scenarios)  # the suite's scenario count
    notes: dict[str, Any] = field(default_factory=dict)  # what the suite learnt first (the model)
    # Why the run's score is not the target's stress points (None: it is, or no target).
    not_graded_because: str | None = None

    @property
    def score(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def all_passed(self) -> bool:
        return self.status == "finished" and all(r.passed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """The ``stress run --format json`` document."""
        return {
            "target": self.target,
            "url": self.url,
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "status": self.status,
            "error": self.error,
            "score": self.score,
            "out_of": self.out_of,
            "suite": self.suite,
            **({"notes": self.notes} if self.notes else {}),
            **({"not_graded_because": self.not_graded_because} if self.not_graded_because else {}),
            "results": [r.to_dict() for r in self.results],
        }


def not_graded_because(
    *, ran_all: bool, bars: Bars | None, token: str | None, model: str | None
) -> str | None:
    """Why a registered target's run must not become its stress points; None when it may.

    The grade is one point per scenario passed, out of ten, against the course's bars and with
    the target as registered: a run of part of the suite (1/10 after ``--only spike``), under
    other bars, or with an operator's key or model instead of the team's measures something else.
    """
    reasons = [
        why for why, applies in (
            ("--only ran part of the suite", not ran_all),
            ("--bar changed the bars", bars is not None and bars != DEFAULT_BARS),
            ("--token replaced the registered key", token is not None),
            ("--model replaced the registered model", model is not None),
        ) if applies
    ]
    return "; ".join(reasons) or None


def resolve_spec(url: str | None, *, database_url: str | None, target_name: str | None) -> TargetSpec:
    """The service to stress: a registered target (by name, or by its URL) or a loopback URL.

    Refuses (StressError) any URL that is neither loopback nor registered.
    """
    if target_name:
        if not database_url:
            raise StressError("a target name needs the database")
        found = _lookup(database_url, name=target_name)
        if found is None:
            raise StressError(f"no target named {target_name[:80]!r}; register it or give a loopback URL")
        return found
    if not url:
        raise StressError("give a registered target's name or a loopback URL")
    base = check_url(url)
    found = _lookup(database_url, url=base) if database_url else None
    if found is not None:
        return found
    host = urlsplit(base).hostname or ""
    if not is_loopback_host(host):
        raise StressError(
            f"refusing to stress {base[:200]}: only loopback (127.0.0.0/8, ::1, localhost) or the URL "
            "of a registered target may be stressed; register it first with: clfwatch targets add NAME URL"
        )
    return TargetSpec(base_url=base)


def _lookup(database_url: str, *, name: str | None = None, url: str | None = None) -> TargetSpec | None:
    from storage.engine import session_scope
    from storage.stress_targets import stress_target_by_name, stress_target_by_url

    with session_scope(database_url) as session:
        t = stress_target_by_name(session, name) if name else stress_target_by_url(session, url or "")
    if t is None:
        return None
    return TargetSpec(
        base_url=t.base_url.rstrip("/"),
        name=t.name,
        target_id=t.id,
        predict_path=t.predict_path,
        health_path=t.health_path,
        template=t.request_template,
        probability_pointer=t.probability_pointer or CONTRACT_POINTER,
        token=t.token,
        kind=t.kind,
        model=t.model,
    )


def run_stress(
    url: str,
    *,
    database_url: str | None,
    target_name: str | None = None,
    only: list[str] | None = None,
    workers: int = 0,
    on_result: Callable[[ScenarioResult], None] | None = None,
    bars: Bars | None = None,
    spec: TargetSpec | None = None,
    suite: str | None = None,
    token: str | None = None,
    model: str | None = None,
) -> StressReport:
    """Run the scenarios one after another; store the run and each result when ``database_url``.

    ``suite`` names the scenarios (``stress.suites``; None: the one for the target's kind).
    ``token`` and ``model`` replace the registered target's (or give a bare URL's); the token
    never reaches the report, the stored rows or a log line: any copy in evidence (an echoing
    server) is redacted before a result is stored or shown.

    First the target must answer at all (``check_target_answers``); when nothing answers, no
    scenario runs, the report (and the stored run) is ``failed`` with ``error`` the one-line
    reason, and the stored run holds only a ``preflight`` row with that reason as its summary.

    ``workers`` 0 runs Locust in one process, N runs a master and N workers on loopback.
    ``spec`` replaces the lookup (tests, or a caller that resolved the target itself); a spec
    that is not loopback must come from a registered target (its ``target_id`` set).
    """
    if not 0 <= workers <= MAX_WORKERS:
        raise StressError(f"workers must be between 0 and {MAX_WORKERS}")
    if spec is None:
        spec = resolve_spec(url, database_url=database_url, target_name=target_name)
    elif spec.target_id is None and not is_loopback_host(spec.host):
        raise StressError(f"refusing to stress {spec.base_url[:200]}: not loopback and not registered")
    chosen = choose_suite(suite, spec)
    names = parse_only(only, chosen)
    ungraded = None
    if spec.target_id is not None:
        ungraded = not_graded_because(ran_all=len(names) == len(chosen.scenarios), bars=bars,
                                      token=token, model=model)
    if token is not None:
        spec = dataclasses.replace(spec, token=token or None)
    if model is not None:
        spec = dataclasses.replace(spec, model=model.strip() or None)
    if spec.target_id is None and chosen.adapt is not None:
        spec = chosen.adapt(spec)
    ctx = StressContext(spec=spec, bars=bars or DEFAULT_BARS, workers=workers)
    report = StressReport(
        target=spec.name or spec.base_url, url=spec.base_url, started_at=datetime.now(UTC),
        suite=chosen.name, out_of=len(chosen.scenarios), not_graded_because=ungraded,
    )
    tokens = (spec.token,)
    if database_url:
        report.run_id = _store(database_url, "create", spec=spec, started_at=report.started_at,
                               suite=chosen.name, graded=ungraded is None)
    status = "failed"
    try:
        report.preflight = check_target_answers(
            spec, ctx.bars.preflight_budget_s, chosen.preflight_requests(spec)
        )
        if not report.preflight.answered:
            # no scenario runs; the run is stored as failed, its reason in the one preflight row
            report.error = report.preflight.reason
            log.debug("event=stress_preflight_failed url=%s", spec.base_url)
            if database_url and report.run_id is not None:
                _store(database_url, "preflight", run_id=report.run_id, preflight=report.preflight)
            return report
        if chosen.prepare is not None:
            spec, report.notes = chosen.prepare(spec, ctx.bars)
            ctx = dataclasses.replace(ctx, spec=spec)
        scenarios = chosen.by_name
        for name in names:
            scenario = scenarios[name]
            t0 = time.monotonic()
            try:
                result = scenario.run(ctx)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # a scenario that cannot run fails, it does not end the run
                # one line, no traceback: nothing internal reaches a log line or the CLI's output
                log.error("event=scenario_error scenario=%s error=%s message=%r", name, type(exc).__name__,
                          redact_text(str(exc)[:200], tokens))
                result = ScenarioResult(
                    name,
                    False,
                    f"the scenario could not run ({type(exc).__name__})",
                    duration_s=time.monotonic() - t0,
                )
            result.extra.setdefault("description", scenario.description)
            result.redact(tokens)
            report.results.append(result)
            if database_url and report.run_id is not None:
                _store(database_url, "result", run_id=report.run_id, result=result)
            log.info(
                "event=scenario_done scenario=%s passed=%s duration_s=%.1f",
                name,
                result.passed,
                result.duration_s,
            )
            if on_result is not None:
                on_result(result)
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        log.warning("event=stress_interrupted finished=%d", len(report.results))
    finally:
        report.status = status
        report.finished_at = datetime.now(UTC)
        if database_url and report.run_id is not None:
            _store(database_url, "finish", run_id=report.run_id, status=status)
    return report


def _store(database_url: str, what: str, **kw: Any) -> int | None:
    from storage.engine import session_scope
    from storage.stress import add_stress_result, create_stress_run, finish_stress_run

    with session_scope(database_url) as session:
        if what == "create":
            spec: TargetSpec = kw["spec"]
            return create_stress_run(
                session, target_url=spec.base_url, target_id=spec.target_id, started_at=kw["started_at"],
                suite=kw["suite"], graded=kw["graded"],
            )
        if what == "result":
            result: ScenarioResult = kw["result"]
            add_stress_result(
                session,
                run_id=kw["run_id"],
                scenario=result.scenario,
                passed=result.passed,
                evidence=result.evidence,
            )
            return None
        if what == "preflight":
            preflight: Preflight = kw["preflight"]
            add_stress_result(
                session, run_id=kw["run_id"], scenario=PREFLIGHT_ROW, passed=False,
                evidence=preflight.evidence,
            )
            return None
        finish_stress_run(session, run_id=kw["run_id"], status=kw["status"])
    return None
