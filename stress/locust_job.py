"""One Locust load run in its own process: ``python -m stress.locust_job --config F --role R``.

NEVER import this module from anything else. Importing ``locust`` monkey-patches the whole
process with gevent; ``stress.load`` starts this file as a subprocess and reads back a JSON
result file, so the CLI, the prober, the dashboard and pytest stay unpatched.

Two kinds of user: ``classifier`` (one predict request, judged by the classifier contract) and
``llm_stream`` (one streamed chat completion read as it arrives, its time to first token kept in
its own histogram: the LLM suite's burst). The counting, the budget, the roles and the result
are the same for both.

Roles: ``local`` (one process does everything), ``master`` (Locust's distributed mode on
loopback: waits for ``workers`` workers, spreads the users over them, merges their stats) and
``worker``. The config file (written by the parent, mode 0600 because it may hold a token)
carries the target, the bodies to send and the budget; every run stops by itself after
``run_time_s`` and after ``max_requests``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import socket
import sys
import time
from collections import Counter
from typing import Any

import gevent
import httpx
from locust import FastHttpUser, User, between, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import STATE_STOPPED, STATE_STOPPING

from core.contract import predict_verdict
from core.llm_contract import warm_up
from stress.evidence import ERROR_PREFIX, describe_error, histogram_bucket_ms, percentiles_from_histogram
from stress.llm.streaming import stream_chat

log = logging.getLogger("stress.locust_job")

WORKER_WAIT_S = 30.0  # a master gives up when its workers have not all connected by then
FINAL_REPORT_WAIT_S = 5.0  # a master waits this long for each worker's report after stopping
EXCERPT_CHARS = 500

CONFIG: dict[str, Any] = {}
# counts by status since the last report; in_flight: request number -> (start, body), for
# requests cut off by the stop; sent_total against the request budget (never reset)
# latency_hist: latency bucket (ms) -> count, of answered requests only (a refusal is fast, and
# must not make p95 look good)
# ttft_hist: time to first token (ms) of llm_stream users' streams that produced one
STATE: dict[str, Any] = {
    "counts": Counter(),
    "latency_hist": Counter(),
    "ttft_hist": Counter(),
    "in_flight": {},
    "sent_total": 0,
    "first_failure": None,
    "first_slow": None,
}


def error_kind(error: BaseException) -> str:
    """refused, timeout, dns, or the exception's own name: a Locust failure carries the exception.

    geventhttpclient wraps retried failures in ``RetriesExceeded`` with the cause in ``original``.
    """
    seen: set[int] = set()
    node: Any = error
    while isinstance(node, BaseException) and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, ConnectionRefusedError):
            return "refused"
        if isinstance(node, socket.gaierror):
            return "dns"
        if isinstance(node, TimeoutError | gevent.Timeout):
            return "timeout"
        node = getattr(node, "original", None) or node.__cause__ or node.__context__
    described = f"{type(error).__name__} {error}".lower()
    if "timeout" in described or "timed out" in described:
        return "timeout"
    if "refused" in described:
        return "refused"
    return type(error).__name__.lower()


def _judge(
    status: int, body: bytes, error: BaseException | None, sent_id: str | None
) -> tuple[str, str | None]:
    """Status key for the counts, and why the answer is not a valid 200 (None when it is).

    The verdict is the contract's (``core.contract``), the prober's and the crafted scenarios'.
    """
    if error is not None and not status:
        kind = error_kind(error)
        return f"{ERROR_PREFIX}{kind}", f"no answer ({describe_error(kind)})"
    verdict = predict_verdict(
        status, body, sent_id=sent_id, pointer=CONFIG["probability_pointer"], templated=CONFIG["templated"]
    )
    if verdict.ok:
        return "200", None
    if status != 200:
        return str(status), verdict.detail
    return "200:bad_body", f"200 but {verdict.detail}"


def next_request() -> tuple[int, float, Any, str]:
    """Count one more request (StopUser past the bound) and note it in flight until answered.

    The body is as the job stored it: bytes for the classifier, text for the chat user.
    """
    if STATE["sent_total"] >= CONFIG["max_requests"]:
        raise StopUser()
    body, sent_id = random.choice(CONFIG["bodies"])
    STATE["sent_total"] += 1
    number = STATE["sent_total"]
    started = time.monotonic()
    STATE["in_flight"][number] = (started, body)
    return number, started, body, sent_id


class ClassifierUser(FastHttpUser):
    """A client of the classifier: one predict request, a short random wait, again."""

    wait_time = between(0.0, 0.1)

    @task
    def predict(self) -> None:
        number, started, body, sent_id = next_request()
        with self.client.request(
            "POST",
            CONFIG["predict_path"],
            data=body.encode("utf-8"),
            headers=CONFIG["headers"],
            catch_response=True,
            allow_redirects=False,
            name="predict",
        ) as resp:
            del STATE["in_flight"][number]  # a killed user never gets here: still in flight
            latency_ms = (time.monotonic() - started) * 1000
            error = getattr(resp, "error", None)
            try:
                content = resp.content or b""
            except Exception:  # a body that cannot be read is judged as no JSON body
                content = b""
            text = content.decode("utf-8", errors="replace")
            key, problem = _judge(resp.status_code or 0, content, error, sent_id)
            STATE["counts"][key] += 1
            if resp.status_code:
                STATE["latency_hist"][histogram_bucket_ms(latency_ms)] += 1
            sample = {
                "status": resp.status_code or None,
                "body_sent": body[:EXCERPT_CHARS],
                "response": text[:EXCERPT_CHARS],
                "at_s": round(time.monotonic() - STATE["t0"], 3),
                "latency_ms": round(latency_ms, 1),
            }
            if problem is None:
                resp.success()
                if STATE["first_slow"] is None and latency_ms > CONFIG["latency_bar_ms"]:
                    reason = f"took {latency_ms:.0f} ms > {CONFIG['latency_bar_ms']:g} ms"
                    STATE["first_slow"] = {"reason": reason, **sample}
                return
            resp.failure(problem)
            if STATE["first_failure"] is None:
                STATE["first_failure"] = {"reason": problem, **sample}


class LlmStreamUser(User):
    """A chat client: one streamed completion read as it arrives, a short random wait, again.

    httpx's blocking sockets are gevent's here (Locust patched the process), so the users run
    side by side; each keeps its own connection pool, as a client library does.
    """

    wait_time = between(0.0, 0.1)

    def on_start(self) -> None:
        self.http = httpx.Client(follow_redirects=False, verify=False)  # noqa: S501 - a test client

    def on_stop(self) -> None:
        self.http.close()

    @task
    def chat(self) -> None:
        number, started, body, _ = next_request()
        result = stream_chat(
            self.http, CONFIG["host"] + CONFIG["predict_path"], CONFIG["headers"], body.encode("utf-8"),
            CONFIG["timeout_s"],
        )
        del STATE["in_flight"][number]  # a killed user never gets here: still in flight
        key = result.status_key
        STATE["counts"][key] += 1
        if result.status is not None and result.latency_ms is not None:
            STATE["latency_hist"][histogram_bucket_ms(result.latency_ms)] += 1
        ttft_ms = result.ttft_ms
        if ttft_ms is not None:
            STATE["ttft_hist"][histogram_bucket_ms(ttft_ms)] += 1
        sample = {
            "status": result.status,
            "body_sent": body[:EXCERPT_CHARS],
            "response": result.body[:EXCERPT_CHARS].decode("utf-8", errors="replace"),
            "at_s": round(time.monotonic() - STATE["t0"], 3),
            "latency_ms": result.latency_ms,
        }
        problem = _stream_problem(result.status, result.error, result.timed_out)
        if problem is not None:
            if STATE["first_failure"] is None:
                STATE["first_failure"] = {"reason": problem, **sample}
            return
        if STATE["first_slow"] is None and ttft_ms is not None and ttft_ms > CONFIG["latency_bar_ms"]:
            reason = f"first token after {ttft_ms:.0f} ms > {CONFIG['latency_bar_ms']:g} ms"
            STATE["first_slow"] = {"reason": reason, **sample}


def _stream_problem(status: int | None, error: str | None, timed_out: bool) -> str | None:
    """What fails a burst's stream: no answer, a hang, a 5xx. A 4xx (a 429 under load) and a
    stream that breaks the chunk schema are counted, and judged by other scenarios."""
    if status is None:
        return f"no answer ({describe_error(error)})"
    if timed_out:
        return f"the stream had not ended after {CONFIG['timeout_s']:g} s"
    if status >= 500:
        return f"server error {status}"
    return None


USERS: dict[str, type[User]] = {"classifier": ClassifierUser, "llm_stream": LlmStreamUser}


def _user_class() -> type[User]:
    return USERS[CONFIG.get("user", "classifier")]


def _configure(config: dict[str, Any]) -> None:
    CONFIG.update(config)
    STATE["t0"] = time.monotonic()
    user = _user_class()
    user.host = config["host"]
    user.wait_time = between(config["wait_min_s"], config["wait_max_s"])
    if user is ClassifierUser:
        ClassifierUser.network_timeout = config["timeout_s"]
        ClassifierUser.connection_timeout = config["timeout_s"]
        ClassifierUser.insecure = True


def _snapshot_and_reset(final: bool) -> dict[str, Any]:
    """Counts since the last call; at the end, requests cut off by the stop after waiting longer
    than the latency bar count as unanswered (the rest were cut too early to judge)."""
    unanswered = 0
    if final:
        now = STATE.get("stopping_at") or time.monotonic()  # age at the stop, not at this report
        limit_s = CONFIG["unanswered_after_s"]
        cut = [(now - t, body) for t, body in STATE["in_flight"].values() if now - t > limit_s]
        unanswered = len(cut)
        STATE["in_flight"] = {}
        if cut and STATE["first_failure"] is None:
            age_s, body = max(cut)
            STATE["first_failure"] = {
                "reason": f"no answer after {age_s:.1f} s (still waiting at the end)",
                "status": None,
                "body_sent": body[:EXCERPT_CHARS],
                "response": "",
            }
    data = {
        "counts": dict(STATE["counts"]),
        "latency_hist": [[k, n] for k, n in STATE["latency_hist"].items()],  # pairs: msgpack/JSON safe
        "ttft_hist": [[k, n] for k, n in STATE["ttft_hist"].items()],
        "unanswered": unanswered,
        "first_failure": STATE["first_failure"],
        "first_slow": STATE["first_slow"],
    }
    STATE["counts"] = Counter()
    STATE["latency_hist"] = Counter()
    STATE["ttft_hist"] = Counter()
    return data


def _result(
    counts: Counter[str],
    latency_hist: Counter[float],
    first_failure: Any,
    first_slow: Any,
    started_at: float,
    stopped_at: float,
    workers: int,
    ttft_hist: Counter[float] | None = None,
) -> dict[str, Any]:
    """Percentiles and rate over answered requests only; ``requests`` counts every one sent.

    ``ttft_ms``: time-to-first-token percentiles of the streams that produced a token (llm users).
    """
    duration_s = max(stopped_at - started_at, 1e-6)
    answered = sum(latency_hist.values())
    llm = CONFIG.get("user") == "llm_stream"
    extra = {"ttft_ms": percentiles_from_histogram(ttft_hist or Counter())} if llm else {}
    return {
        **extra,
        "ok": True,
        "requests": sum(counts.values()),
        "status_counts": dict(counts),
        "latency_ms": percentiles_from_histogram(latency_hist),
        "rps": round(answered / duration_s, 1),  # answers per second, not attempts
        "duration_s": round(duration_s, 2),
        "users": CONFIG["users"],
        "workers": workers,
        "first_failure": first_failure,
        "first_slow": first_slow,
    }


def _histogram(pairs: list[list[float]]) -> Counter[float]:
    out: Counter[float] = Counter()
    for value, count in pairs:
        out[float(value)] += int(count)
    return out


def _note_stopping(**_kwargs: Any) -> None:
    STATE["stopping_at"] = time.monotonic()


def run_local(config: dict[str, Any]) -> dict[str, Any]:
    env = Environment(user_classes=[_user_class()], host=config["host"])
    env.events.test_stopping.add_listener(_note_stopping)
    runner = env.create_local_runner()
    started_at = time.monotonic()
    runner.start(config["users"], spawn_rate=config["spawn_rate"])
    gevent.spawn_later(config["run_time_s"], runner.quit)
    runner.greenlet.join()
    stopped_at = time.monotonic()
    data = _snapshot_and_reset(final=True)
    counts = Counter(data["counts"])
    if data["unanswered"]:
        counts[f"{ERROR_PREFIX}unanswered"] += data["unanswered"]
    return _result(
        counts, _histogram(data["latency_hist"]), data["first_failure"], data["first_slow"],
        started_at, stopped_at, workers=0, ttft_hist=_histogram(data["ttft_hist"]),
    )


def run_master(config: dict[str, Any]) -> dict[str, Any]:
    env = Environment(user_classes=[_user_class()], host=config["host"])
    runner = env.create_master_runner(master_bind_host="127.0.0.1", master_bind_port=config["master_port"])
    counts: Counter[str] = Counter()
    latency_hist: Counter[float] = Counter()
    ttft_hist: Counter[float] = Counter()
    unanswered: dict[str, int] = {}
    reports: Counter[str] = Counter()
    first: dict[str, Any] = {"failure": None, "slow": None}

    def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
        ours = data.get("clfwatch")
        if not ours:
            return
        counts.update(ours["counts"])
        latency_hist.update(_histogram(ours["latency_hist"]))
        ttft_hist.update(_histogram(ours.get("ttft_hist", [])))
        unanswered[client_id] = unanswered.get(client_id, 0) + ours["unanswered"]
        reports[client_id] += 1
        for key in ("failure", "slow"):
            if first[key] is None and ours[f"first_{key}"] is not None:
                first[key] = ours[f"first_{key}"]

    env.events.worker_report.add_listener(on_worker_report)
    deadline = time.monotonic() + WORKER_WAIT_S
    while runner.worker_count < config["workers"]:
        if time.monotonic() > deadline:
            runner.quit()
            connected = runner.worker_count
            return {"ok": False, "error": f"only {connected} of {config['workers']} workers connected"}
        gevent.sleep(0.1)
    started_at = time.monotonic()
    runner.start(config["users"], spawn_rate=config["spawn_rate"])
    gevent.sleep(config["run_time_s"])
    runner.stop()  # workers stop their users; their next periodic report holds the rest
    stopped_at = time.monotonic()
    seen = dict(reports)
    wait_until = time.monotonic() + FINAL_REPORT_WAIT_S
    while time.monotonic() < wait_until and any(reports[c] <= seen.get(c, 0) for c in seen):
        gevent.sleep(0.1)
    runner.quit()
    total_unanswered = sum(unanswered.values())
    if total_unanswered:
        counts[f"{ERROR_PREFIX}unanswered"] += total_unanswered
    return _result(
        counts, latency_hist, first["failure"], first["slow"], started_at, stopped_at,
        workers=config["workers"], ttft_hist=ttft_hist,
    )


def run_worker(config: dict[str, Any]) -> None:
    env = Environment(user_classes=[_user_class()], host=config["host"])
    env.events.test_stopping.add_listener(_note_stopping)
    runner = env.create_worker_runner(master_host="127.0.0.1", master_port=config["master_port"])

    def on_report_to_master(client_id: str, data: dict[str, Any]) -> None:
        stopped = runner.state in (STATE_STOPPING, STATE_STOPPED)
        data["clfwatch"] = _snapshot_and_reset(final=stopped)

    env.events.report_to_master.add_listener(on_report_to_master)
    runner.greenlet.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.locust_job")
    parser.add_argument("--config", required=True)
    parser.add_argument("--role", choices=("local", "master", "worker"), default="local")
    parser.add_argument("--result", help="where the local or master run writes its JSON result")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)
    _configure(config)
    if _user_class() is LlmStreamUser:
        # the openai types' first import costs about a second of CPU: paid here, before any
        # user starts, it would otherwise stall every greenlet and land in the first TTFTs
        warm_up()
        gevent.get_hub().loop.update_now()  # the loop's clock is stale after a blocking second:
        # without this, the stop timer (spawn_later) counts from before the warm-up and fires early
    if args.role == "worker":
        run_worker(config)
        return 0
    result = run_local(config) if args.role == "local" else run_master(config)
    with open(args.result, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0 if result.get("ok") else 2


if __name__ == "__main__":
    sys.exit(main())
