"""Prober benchmark: 1,000 targets on a local farm, a 10 s interval, for a bounded time.

Prints, in one run: probes per second sustained, the p99 lateness of probes against their
schedule, and the median difference between the latency the prober recorded and the time
the farm itself measured for the same request (first request byte read to last answer byte
handed to the kernel; the farm runs in its own process with its own event loop). The
farm-side time is the reference: what a perfect client on loopback would see, minus a few
tens of microseconds of kernel time. Goal: p99 lateness < 250 ms, median error < 1 ms.

Alerts (issue 16), 2026-12-02, 1,000 farm targets + 10 on a closed port, 10 s, 45 s, SQLite,
this 2-core machine shared with other work; before = main at c9f2236 (no alerts code):
  before                 probes/s 200.7 / 199.8 / 196.1   p99 lateness 108 / 92 / 104 ms   CPU 30 / 29 / 28 s
  after, --alerts        probes/s 200.8 / 197.4 / 201.4   p99 lateness 153 / 181 / 177 ms   CPU 33 / 42 / 37 s
  after, no channels     probes/s 201.3                   p99 lateness 150 ms               CPU 33 s
The probing rate did not drop (every run within 3 % of the expected 202/s, all probes stored;
the 10 down targets' "down" messages were each tried 4 times and recorded as failed). Lateness
stayed under the 250 ms goal but its p99 rose; a profile of the main thread puts the alerts
code (hub.observe, the tracker, the hub's task) at 0.3 s of 40 s, so the rest of the CPU
difference is not explained by it; to be looked at again on a quiet machine.

Issue 17, 2026-12-04, this 2-core machine shared by six engineers (load average 10-12 for every
run: the prober got 0.25-0.35 of a core, so lateness and latency error measure the machine more
than the prober), SQLite, own HTTP/1.1 client, timer heap:
  --targets 2000 --interval 10 --seconds 40 --against-blackbox --blackbox-seconds 25
     ours 1.06 / 1.02 ms CPU per probe, blackbox_exporter 1.42 / 1.55 ms: ratio 0.74x / 0.66x;
     probes/s 397 (sent/40 s) and 370 steady of 400, all ok and stored; lateness p99 513 ms /
     3.7 s (second run: 0.26 cores, 4,999 probes marked late, not graded); error median 29 / 167 ms
  --targets 3000 --interval 10 --shards 2 --seconds 40
     603 probes/s of 600, all ok and stored, p99 lateness 547 / 429 ms per shard (0.25 cores
     each), error median 10.7 ms, 1.09 ms CPU per probe
  on the way (100 targets at 2 s, 12 s, same load): timer heap + httpx 3.2 ms CPU per probe, own
  client 2.4 ms (before the label and URL caches); issue 17 measured 3.1-3.8 ms on main.
Issue 17 again, 2026-12-04 23:12, the same code on a quiet machine (load average 0.1 before),
SQLite, after every engineer's work was merged:
  --targets 2000 --interval 10 --seconds 40 --against-blackbox --blackbox-seconds 25
     400.0 probes/s of 400, 15,918 sent and stored, all ok, none late or skipped; lateness p50 /
     p99 / max 0.53 / 54.3 / 140 ms; latency error median 0.80 ms (p90 1.97 ms; the bare
     reference client 0.42 ms); prober 0.71 cores; CPU per probe ours 1.79 ms, blackbox_exporter
     1.02 ms: 1.76x (the loaded runs above read below 1x: the exporter's CPU grows more with load)
  --targets 3000 --interval 10 --seconds 40 --shards 2
     600.1 probes/s of 600, 23,851 sent and stored, all ok; p99 lateness 34.6 / 50.8 ms per shard
     (0.33 / 0.35 cores); latency error median 0.46 ms; 1.14 ms CPU per probe
Issue 18, 2026-12-05 01:20-01:37, openai-chat targets: --kind openai-chat runs two probers at once
(same seconds, same machine: read the ratio, not the times), one over N classifier targets on the
farm, one over N openai-chat targets spread over 2 demo LLM processes (service/llm_demo.py, TTFT
20 ms, ITL 5 ms, 16 tokens: max_tokens of the probe), CPU from /proc over the steady part (from
1.5 intervals after probing starts: the contract's warm-up and the first auth checks left out);
SQLite; load average 12-17 on 2 cores unless said (six engineers at work):
  --kind openai-chat --targets 200 --interval 10 --seconds 60
     classifier 1.448 ms CPU per probe (1,789 probes), openai-chat 2.032 ms (1,703: health + chat),
     1.40x; a chat probe alone about 2.6 ms (its health probes charged at 1.45 ms); all ok, none
     late; TTFT p50 24.4 ms for the demo's 20 ms, tokens/s p50 157
     (an earlier run with the steady part timed from process start: 1.467 / 1.972 ms, 1.34x)
     again at 01:36, load average 5-6: 1.455 / 2.158 ms, 1.48x; a chat probe alone about 2.9 ms;
     all ok, none late; TTFT p50 22.5 ms, tokens/s p50 185
  --kind openai-chat --targets 200 --interval 5 --seconds 60
     classifier 1.121 ms (4,148 probes), openai-chat 1.588 ms (3,974), 1.42x; a chat probe alone
     about 2.1 ms; all ok, none late or skipped; TTFT p50 23.8 ms, tokens/s p50 169
  Where a chat probe's extra CPU goes (cProfile, 200 probes of 16 tokens, ~20 SSE events each):
  core.llm_contract's StreamCheck.add (JSON + ChatCompletionChunk validation per chunk, ~1/3) and
  SseParser.feed (~1/6), and ~15 event-loop wake-ups per probe instead of ~3; probes/llm.py's own
  code is a few per cent. The classifier probe's CPU did not grow: main vs this branch, 400
  classifier targets at 2 s, 25 s, two runs each alternated: 0.935 / 1.027 ms vs 0.909 / 0.954 ms.
BENCH_PROFILE=1 prints a cProfile of the prober's event-loop thread (thread CPU time).

    .venv/bin/python bench/probes.py [--targets 1000] [--interval 10] [--seconds 45]
                                     [--database-url URL]   # default: a fresh SQLite file
                                     [--shards N]   # N prober processes, --shard K/N each
                                     [--against-blackbox [--blackbox-seconds 30]]
                                     [--format text|json]
                                     [--down N]   # N more targets on a closed port (incidents)
                                     [--alerts]   # an alert channel (json://, closed port) each
                                     [--kind openai-chat [--llm-servers 2] [--llm-ttft-ms 20]
                                      [--llm-itl-ms 5]]   # chat probers next to classifier ones
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

FARM_DELAY_STEP_MS = 2.0  # target i answers after (i % 10) * 2 ms, so latencies are not all ~0
FARM_READY_TIMEOUT_S = 20.0
SAMPLES = 50
REFERENCE_RATE_PER_S = 20.0


# --- the farm: a raw asyncio HTTP/1.1 server, one path prefix per target --------------------


async def farm_main(port: int, log_path: Path) -> None:
    records: list[tuple[str, str, float, float]] = []  # target, kind, wall at receive, farm ms
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                t0 = time.perf_counter()
                wall = time.time()
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                path, _, query = path.partition("?")
                _, target, kind = path.split("/", 2)
                if query.startswith(("ref=", "bb=")):
                    kind = f"{kind}?{query}"  # a reference-client or blackbox request, kept apart
                index = int(target[1:])
                delay_s = (index % 10) * FARM_DELAY_STEP_MS / 1000
                if delay_s:
                    await asyncio.sleep(delay_s)
                if kind.startswith("predict"):
                    sample_id = json.loads(body)["id"]
                    payload = json.dumps({"id": sample_id, "probability": 0.5}).encode()
                else:
                    payload = b'{"status": "ok"}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(payload)).encode() + b"\r\n\r\n" + payload
                )
                await writer.drain()
                records.append((target, kind, wall, (time.perf_counter() - t0) * 1000.0))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await stop.wait()
    log_path.write_text("\n".join(json.dumps(r) for r in records))


# --- the reference: a bare blocking-socket timer client, in its own process --------------


def reference_main(port: int, seconds: float, rate_per_s: float, out_path: Path) -> None:
    """Health requests over fresh sockets, perf_counter around connect-to-last-byte."""
    import socket

    results: list[tuple[str, str, float]] = []
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        target = f"t{n % 10}"
        request = (
            f"GET /{target}/health?ref={n} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        ).encode()
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        results.append((target, f"health?ref={n}", (time.perf_counter() - t0) * 1000.0))
        n += 1
        time.sleep(1.0 / rate_per_s)
    out_path.write_text(json.dumps(results))


# --- the bench --------------------------------------------------------------------------


def wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + FARM_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("farm did not start")


def setup_database(
    url: str, n_targets: int, farm_url: str, *, down: int = 0, alert_url: str | None = None
) -> dict[int, str]:
    from storage.engine import session_scope, upgrade_database
    from storage.evalset import replace_eval_set
    from storage.models import Target

    upgrade_database(url)
    with session_scope(url) as session:
        replace_eval_set(session, [(f"s{i:03d}", f"sample text {i}", i % 2) for i in range(SAMPLES)])
        targets = [Target(name=f"t{i}", base_url=f"{farm_url}/t{i}", active=True) for i in range(n_targets)]
        closed = f"http://127.0.0.1:{free_port_here()}"
        targets += [Target(name=f"down{i}", base_url=closed, active=True) for i in range(down)]
        session.add_all(targets)
        session.flush()
        if alert_url is not None:
            from storage.alerts import insert_channel

            for t in targets:
                insert_channel(session, target_id=t.id, url=alert_url, masked="json://127.0.0.1/****")
        return {t.id: t.name for t in targets}


def free_port_here() -> int:
    from tests.conftest import free_port

    return free_port()


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process so far, from /proc (not a wall clock)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_prober(settings, seconds: float, shard: tuple[int, int] = (0, 1),  # type: ignore[no-untyped-def]
                     steady_after_s: float | None = None, steady: dict | None = None):
    """Probe for ``seconds``; with ``steady_after_s``, ``steady`` gets the CPU and wall time from
    then until the stop (the steady part: start-up and the first auth checks left out)."""
    from probes.runner import Prober

    rows = []
    prober = Prober(settings, shard=shard, on_row=rows.append)
    stop = asyncio.Event()
    task = asyncio.create_task(prober.run(stop))
    if steady_after_s is not None and steady is not None:
        began = time.monotonic()
        for _ in range(int(seconds / 0.05)):  # from when probing starts (after start-up and warm-up)
            if prober._running:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(steady_after_s)
        cpu0, wall0 = cpu_seconds(), time.time()
        await asyncio.sleep(max(1.0, seconds - (time.monotonic() - began)))
        steady.update(cpu_s=cpu_seconds() - cpu0, wall_start=wall0, wall_end=time.time())
    else:
        await asyncio.sleep(seconds)
    stop.set()
    await task
    return prober, rows


def prober_child(args: argparse.Namespace) -> int:
    """One prober process (one shard): probes for ``--seconds``, then writes what it saw as JSON."""
    logging.basicConfig(level=logging.WARNING)
    from core.settings import Settings
    from probes.runner import run_async

    k, n = (int(x) for x in args.prober_child.split("/"))
    settings = Settings(
        database_url=args.database_url, probe_interval_s=args.interval, probe_metrics_port=0,
        probe_spill_dir=Path(args.out).parent / f"spill-{k}",
    )
    profiler = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profiler = cProfile.Profile(time.thread_time)  # the event loop thread's CPU, not wall time
        profiler.enable()
    cpu0, wall0 = cpu_seconds(), time.time()
    steady: dict = {}
    prober, rows = run_async(run_prober(settings, args.seconds, shard=(k, n),
                                        steady_after_s=args.steady_after, steady=steady))
    cpu_s, wall_s = cpu_seconds() - cpu0, time.time() - wall0
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    Path(args.out).write_text(json.dumps({
        "shard": f"{k}/{n}", "wall_start": wall0, "wall_s": wall_s, "cpu_s": cpu_s,
        "lateness_ms": list(prober.stats.lateness_ms), "late": prober.stats.late,
        "skipped": prober.stats.skipped, "written": prober.writer.stats.written, "steady": steady,
        "rows": [[r.target_id, r.kind, r.started_at.timestamp(), r.latency_ms, r.outcome,
                  r.prober_late_ms, r.ttft_ms, r.tokens_per_s] for r in rows],
    }))
    return 0


# --- openai-chat: streamed chat probes next to classifier probes --------------------------

LLM_TTFT_MS = 20.0  # the demo LLMs' delays here: small, so a stream is ~0.1 s and 200 targets fit
LLM_ITL_MS = 5.0
BENCH_LLM_KEY = "bench-llm-key-not-secret"


def llm_server_main(port: int, ttft_ms: float, itl_ms: float) -> None:
    """One demo LLM (service/llm_demo.py) on a real uvicorn, its own process."""
    import uvicorn

    from service.llm_demo import Delays, create_llm_demo_app

    app = create_llm_demo_app(key=BENCH_LLM_KEY, delays=Delays(ttft_s=ttft_ms / 1000, itl_s=itl_ms / 1000))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def setup_llm_database(url: str, n_targets: int, llm_urls: list[str]) -> None:
    from service.llm_demo import DEMO_MODEL
    from storage.engine import session_scope, upgrade_database
    from storage.targets import add_target

    upgrade_database(url)
    with session_scope(url) as session:
        for i in range(n_targets):
            add_target(session, name=f"llm{i}", base_url=llm_urls[i % len(llm_urls)], token=BENCH_LLM_KEY,
                       kind="openai-chat", model=DEMO_MODEL)


def compare_llm(args: argparse.Namespace) -> int:
    """Classifier and openai-chat probers side by side: same run, same seconds, same machine.

    Two prober processes run at once, one over ``--targets`` classifier targets on the farm, one
    over as many openai-chat targets on ``--llm-servers`` demo LLMs; each counts its own CPU from
    /proc over the steady part (after 1.5 intervals: start-up and the auth checks of the first
    schedule left out) and the probes started in it.
    """
    logging.basicConfig(level=logging.WARNING)
    from tests.conftest import free_port

    tmp = Path(tempfile.mkdtemp(prefix="clfwatch-bench-llm-"))
    steady_after = min(1.5 * args.interval, args.seconds / 2)
    farm_port = free_port()
    servers = [subprocess.Popen([sys.executable, __file__, "--farm", str(farm_port), "--farm-log",
                                 str(tmp / "farm.jsonl")], start_new_session=True)]
    llm_ports = [free_port() for _ in range(max(1, args.llm_servers))]
    for port in llm_ports:
        servers.append(subprocess.Popen(
            [sys.executable, __file__, "--llm-server", str(port), "--llm-ttft-ms", str(args.llm_ttft_ms),
             "--llm-itl-ms", str(args.llm_itl_ms)], start_new_session=True))
    load_before = os.getloadavg()
    try:
        for port in [farm_port, *llm_ports]:
            wait_port(port)
        dbs = {kind: f"sqlite:///{tmp / (kind + '.db')}" for kind in ("classifier", "openai-chat")}
        setup_database(dbs["classifier"], args.targets, f"http://127.0.0.1:{farm_port}")
        setup_llm_database(dbs["openai-chat"], args.targets, [f"http://127.0.0.1:{p}" for p in llm_ports])
        children = {}
        for kind, url in dbs.items():
            out = tmp / f"prober-{kind}.json"
            cmd = [sys.executable, __file__, "--prober-child", "0/1", "--database-url", url, "--interval",
                   str(args.interval), "--seconds", str(args.seconds), "--out", str(out),
                   "--steady-after", str(steady_after)]
            children[kind] = (subprocess.Popen(cmd, start_new_session=True), out)
        for child, _out in children.values():
            child.wait(timeout=args.seconds + 120)
        load_after = os.getloadavg()
    finally:
        for proc in servers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
    results = {}
    for kind, (_child, out) in children.items():
        shard = json.loads(out.read_text())
        st = shard["steady"]
        rows = [r for r in shard["rows"] if st["wall_start"] <= r[2] < st["wall_end"]]
        outcomes: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        for r in rows:
            outcomes[r[4]] = outcomes.get(r[4], 0) + 1
            by_kind[r[1]] = by_kind.get(r[1], 0) + 1
        ttft = [r[6] for r in rows if r[6] is not None and r[4] == "ok"]
        rates = [r[7] for r in rows if r[7] is not None and r[4] == "ok"]
        results[kind] = {
            "probes": len(rows), "by_kind": by_kind, "outcomes": outcomes,
            "steady_s": round(st["wall_end"] - st["wall_start"], 1), "cpu_s": round(st["cpu_s"], 2),
            "cpu_ms_per_probe": round(1000 * st["cpu_s"] / max(1, len(rows)), 3),
            "cores": round(st["cpu_s"] / max(1e-9, st["wall_end"] - st["wall_start"]), 3),
            "lateness_p99_ms": round(percentile(shard["lateness_ms"], .99), 1),
            "late": shard["late"], "skipped": shard["skipped"],
            "ttft_p50_ms": round(percentile(ttft, .5), 1) if ttft else None,
            "tokens_per_s_p50": round(percentile(rates, .5), 1) if rates else None,
        }
    clf, llm = results["classifier"], results["openai-chat"]
    ratio = llm["cpu_ms_per_probe"] / clf["cpu_ms_per_probe"] if clf["cpu_ms_per_probe"] else None
    # The openai-chat prober's health probes are plain GETs: charged at the classifier prober's
    # health-and-predict mean, what is left is the chat probes' (an upper bound for them).
    n_chat = llm["by_kind"].get("chat", 0)
    n_health = llm["by_kind"].get("health", 0)
    chat_ms = (1000 * llm["cpu_s"] - n_health * clf["cpu_ms_per_probe"]) / n_chat if n_chat else None
    llm["cpu_ms_per_chat_probe_est"] = round(chat_ms, 3) if chat_ms is not None else None
    doc = {
        "targets_per_kind": args.targets, "interval_s": args.interval, "seconds": args.seconds,
        "steady_after_s": steady_after, "llm_servers": len(llm_ports),
        "llm_delays_ms": {"ttft": args.llm_ttft_ms, "itl": args.llm_itl_ms}, "results": results,
        "cpu_ratio_chat_to_classifier": round(ratio, 2) if ratio else None,
        "load_average": [round(x, 2) for x in load_before] + [round(x, 2) for x in load_after],
        "cpu_count": os.cpu_count(),
    }
    if args.format == "json":
        print(json.dumps(doc, indent=2))
        return 0
    print(f"targets x interval     {args.targets} classifier + {args.targets} openai-chat x "
          f"{args.interval:g} s, {args.seconds:g} s, steady part from {steady_after:g} s; "
          f"{len(llm_ports)} demo LLMs (TTFT {args.llm_ttft_ms:g} ms, ITL {args.llm_itl_ms:g} ms)")
    for kind, r in results.items():
        print(f"{kind:<22} {r['probes']} probes {r['by_kind']} outcomes {r['outcomes']}")
        stream = (f"; TTFT p50 {r['ttft_p50_ms']} ms, tokens/s p50 {r['tokens_per_s_p50']}"
                  if r["ttft_p50_ms"] is not None else "")
        print(f"{'':<22} CPU {r['cpu_s']} s over {r['steady_s']} s ({r['cores']} cores): "
              f"{r['cpu_ms_per_probe']} ms per probe; lateness p99 {r['lateness_p99_ms']} ms, "
              f"late {r['late']}, skipped {r['skipped']}{stream}")
    print(f"CPU per probe ratio    {doc['cpu_ratio_chat_to_classifier']}x (openai-chat / classifier, "
          f"health probes included on both sides)")
    print(f"per chat probe (est.)  {llm['cpu_ms_per_chat_probe_est']} ms CPU (its health probes "
          f"charged at the classifier prober's {clf['cpu_ms_per_probe']} ms)")
    print(f"load average           {doc['load_average']} on {os.cpu_count()} cores (before; after)")
    return 0


# --- blackbox_exporter, side by side ------------------------------------------------------

BLACKBOX_CONFIG = """modules:
  http_health:
    prober: http
    timeout: 2s
    http:
      method: GET
      preferred_ip_protocol: ip4
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ['"status"']
  http_predict:
    prober: http
    timeout: 2s
    http:
      method: POST
      preferred_ip_protocol: ip4
      headers:
        Content-Type: application/json
      body: '{"id": "s001", "text": "sample text 1"}'
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ['"probability"']
"""
BLACKBOX_BINARIES = ("prometheus-blackbox-exporter", "blackbox_exporter")


def run_blackbox(farm_port: int, n_targets: int, interval_s: float, seconds: float, tmp: Path) -> dict:
    """Debian's blackbox_exporter probing the same farm at the same rate; its CPU from /proc.

    A bounded driver loop asks ``/probe`` for every target's health and predict once per interval
    (spread by the same phase as ours), over kept-alive connections to the exporter.
    """
    import shutil

    import httpx

    from probes.runner import probe_phase_s
    from tests.servers import free_port, wait_http

    binary = next((b for b in BLACKBOX_BINARIES if shutil.which(b)), None)
    if binary is None:
        raise SystemExit("blackbox_exporter not found: apt-get install -y prometheus-blackbox-exporter")
    config = tmp / "blackbox.yml"
    config.write_text(BLACKBOX_CONFIG)
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/metrics")
        base = f"http://127.0.0.1:{port}/probe"
        schedule = sorted(
            (probe_phase_s(i + 1, kind, interval_s), i, kind)
            for i in range(n_targets) for kind in ("health", "predict")
        )
        results: dict[str, int] = {}
        lateness: list[float] = []

        async def drive() -> int:
            limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
            async with httpx.AsyncClient(timeout=5.0, limits=limits) as client:
                sem = asyncio.Semaphore(300)
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                end = t0 + seconds
                sent = 0
                tasks = set()

                async def one(i: int, kind: str, n: int) -> None:
                    async with sem:
                        target = f"http://127.0.0.1:{farm_port}/t{i}/{kind}?bb={n}"
                        try:
                            r = await client.get(base, params={"module": f"http_{kind}", "target": target})
                            ok = "probe_success 1" in r.text
                        except httpx.HTTPError:
                            ok = False
                        results["ok" if ok else "failed"] = results.get("ok" if ok else "failed", 0) + 1

                rounds = 0
                while loop.time() < end:
                    for phase, i, kind in schedule:
                        due = t0 + rounds * interval_s + phase
                        if due >= end:
                            break
                        delay = due - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        lateness.append(max(0.0, loop.time() - due) * 1000)
                        task = asyncio.create_task(one(i, kind, sent))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                        sent += 1
                    rounds += 1
                await asyncio.gather(*tasks)
                return sent

        cpu0 = cpu_seconds(proc.pid)
        sent = asyncio.run(drive())
        cpu_s = cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {"sent": sent, "cpu_s": cpu_s, "results": results,
            "driver_lateness_p99_ms": percentile(lateness, .99)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--database-url")
    parser.add_argument("--down", type=int, default=0, help="targets on a closed port, always failing")
    parser.add_argument("--alerts", action="store_true", help="an alert channel for every target")
    parser.add_argument("--shards", type=int, default=1, help="prober processes, --shard K/N each")
    parser.add_argument("--against-blackbox", action="store_true",
                        help="then drive Debian's blackbox_exporter at the same rate against the same farm")
    parser.add_argument("--blackbox-seconds", type=float, default=30.0)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--kind", choices=("classifier", "openai-chat"), default="classifier",
                        help="openai-chat: streamed chat probes against demo LLMs next to classifier probes")
    parser.add_argument("--llm-servers", type=int, default=2, help="--kind openai-chat: demo LLM processes")
    parser.add_argument("--llm-ttft-ms", type=float, default=LLM_TTFT_MS)
    parser.add_argument("--llm-itl-ms", type=float, default=LLM_ITL_MS)
    parser.add_argument("--farm", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--farm-log", help=argparse.SUPPRESS)
    parser.add_argument("--reference", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--reference-out", help=argparse.SUPPRESS)
    parser.add_argument("--prober-child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--steady-after", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--llm-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.llm_server:
        llm_server_main(args.llm_server, args.llm_ttft_ms, args.llm_itl_ms)
        return 0
    if args.farm:
        asyncio.run(farm_main(args.farm, Path(args.farm_log)))
        return 0
    if args.reference:
        reference_main(args.reference, args.seconds, REFERENCE_RATE_PER_S, Path(args.reference_out))
        return 0
    if args.prober_child:
        return prober_child(args)
    args.seconds = min(args.seconds, 120.0)  # bounded whatever is asked
    args.blackbox_seconds = min(args.blackbox_seconds, 60.0)
    if args.kind == "openai-chat":
        return compare_llm(args)

    logging.basicConfig(level=logging.WARNING)
    from tests.conftest import free_port

    tmp = Path(tempfile.mkdtemp(prefix="clfwatch-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    port = free_port()
    farm_log = tmp / "farm.jsonl"
    farm = subprocess.Popen(
        [sys.executable, __file__, "--farm", str(port), "--farm-log", str(farm_log)], start_new_session=True
    )
    load_before = os.getloadavg()
    blackbox = None
    try:
        wait_port(port)
        alert_url = f"json://127.0.0.1:{free_port()}/alerts" if args.alerts else None  # refuses: retried
        names = setup_database(
            url, args.targets, f"http://127.0.0.1:{port}", down=args.down, alert_url=alert_url
        )
        ref_out = tmp / "reference.json"
        reference = subprocess.Popen(
            [sys.executable, __file__, "--reference", str(port), "--reference-out", str(ref_out),
             "--seconds", str(args.seconds - 5)],
            start_new_session=True,
        )
        children = []
        for k in range(args.shards):
            out = tmp / f"prober-{k}.json"
            cmd = [sys.executable, __file__, "--prober-child", f"{k}/{args.shards}", "--database-url", url,
                   "--interval", str(args.interval), "--seconds", str(args.seconds), "--out", str(out)]
            children.append((subprocess.Popen(cmd, start_new_session=True), out))
        for child, _out in children:
            child.wait(timeout=args.seconds + 120)
        reference.wait(timeout=60)
        load_ours = os.getloadavg()
        if args.against_blackbox:
            blackbox = run_blackbox(port, args.targets, args.interval, args.blackbox_seconds, tmp)
    finally:
        if farm.poll() is None:
            os.killpg(farm.pid, signal.SIGTERM)
            farm.wait(timeout=30)
    shards = [json.loads(out.read_text()) for _child, out in children]
    farm_records = [json.loads(line) for line in farm_log.read_text().splitlines() if line]
    farm_ref = {(t, k): ms for t, k, _wall, ms in farm_records if "?ref=" in k}
    farm_records = [r for r in farm_records if "?" not in r[1]]  # our prober's requests only
    ref_diffs = [
        ms - farm_ref[(t, k)] for t, k, ms in json.loads(ref_out.read_text()) if (t, k) in farm_ref
    ]

    by_key: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for target, kind, wall, ms in farm_records:
        by_key.setdefault((target, kind), []).append((wall, ms))
    rows = [r for shard in shards for r in shard["rows"]]
    diffs = []
    for target_id, kind, started, latency_ms, *_rest in rows:
        if latency_ms is None:
            continue
        candidates = by_key.get((names[target_id], kind), [])
        near = [ms for wall, ms in candidates if abs(wall - started) < args.interval / 2]
        if len(near) == 1:
            diffs.append(latency_ms - near[0])
    outcomes: dict[str, int] = {}
    for r in rows:
        outcomes[r[4]] = outcomes.get(r[4], 0) + 1
    per_shard = []
    steady_rate = 0.0
    for shard in shards:
        # Steady state: from one interval after start to the last probe started (the process's
        # start-up and its shutdown wait are not probing time).
        since = shard["wall_start"] + args.interval
        steady = [r for r in shard["rows"] if r[2] >= since]
        span = max((r[2] for r in steady), default=since) - since
        rate = len(steady) / span if span > 0 else 0.0
        steady_rate += rate
        per_shard.append({
            "shard": shard["shard"], "probes_per_s": round(rate, 1), "probes": len(shard["rows"]),
            "lateness_p99_ms": round(percentile(shard["lateness_ms"], .99), 1),
            "cpu_s": round(shard["cpu_s"], 2), "cores": round(shard["cpu_s"] / shard["wall_s"], 2),
            "late": shard["late"], "skipped": shard["skipped"],
        })
    lateness = [ms for shard in shards for ms in shard["lateness_ms"]]
    cpu_ms = 1000 * sum(sh["cpu_s"] for sh in shards) / max(1, len(rows))

    from sqlalchemy import func, select

    from storage.engine import session_scope
    from storage.models import Probe

    with session_scope(url) as session:
        stored = session.scalar(select(func.count()).select_from(Probe))
    expected = 2 * (args.targets + args.down) / args.interval
    doc: dict[str, object] = {
        "targets": args.targets, "interval_s": args.interval, "shards": args.shards,
        "seconds": args.seconds, "database": url.split(":", 1)[0],
        "probes_per_s": round(steady_rate, 1), "expected_per_s": expected,
        "probes_sent": len(rows), "probes_stored": stored, "outcomes": outcomes,
        "lateness_p50_ms": round(percentile(lateness, .5), 2),
        "lateness_p99_ms": round(percentile(lateness, .99), 2),
        "lateness_max_ms": round(max(lateness, default=float("nan")), 2),
        "latency_error_median_ms": round(statistics.median(diffs), 3) if diffs else None,
        "latency_error_p90_ms": round(percentile(diffs, .9), 3) if diffs else None,
        "latency_matched": len(diffs),
        "reference_error_median_ms": round(statistics.median(ref_diffs), 3) if ref_diffs else None,
        "cpu_ms_per_probe": round(cpu_ms, 3),
        "per_shard": per_shard,
        "load_average": [round(x, 2) for x in load_before] + [round(x, 2) for x in load_ours],
        "cpu_count": os.cpu_count(),
    }
    if blackbox is not None:
        bb_ms = 1000 * blackbox["cpu_s"] / max(1, blackbox["sent"])
        doc.update(
            blackbox_cpu_ms_per_probe=round(bb_ms, 3), blackbox_probes=blackbox["sent"],
            blackbox_results=blackbox["results"],
            blackbox_driver_lateness_p99_ms=round(blackbox["driver_lateness_p99_ms"], 1),
            cpu_ratio_ours_to_blackbox=round(cpu_ms / bb_ms, 2) if bb_ms else None,
            load_average_after_blackbox=[round(x, 2) for x in os.getloadavg()],
        )
    if args.format == "json":
        print(json.dumps(doc, indent=2))
        return 0
    print(f"database               {doc['database']} ({'fresh file' if not args.database_url else 'given'})")
    print(f"targets x interval     {args.targets} x {args.interval:g} s, {args.shards} prober process(es), "
          f"{args.seconds:g} s")
    print(f"probes sent / stored   {len(rows)} / {stored}   outcomes {outcomes}")
    print(f"probes/s sustained     {doc['probes_per_s']}  (expected {expected:.1f})")
    print(f"lateness p50/p99/max   {doc['lateness_p50_ms']} / {doc['lateness_p99_ms']} / "
          f"{doc['lateness_max_ms']} ms   (goal p99 < 250 ms)")
    print(f"latency error median   {doc['latency_error_median_ms']} ms over {len(diffs)} matched requests "
          f"(prober minus farm-side time; goal < 1 ms); p90 {doc['latency_error_p90_ms']} ms")
    print(f"reference client error {doc['reference_error_median_ms']} ms median over {len(ref_diffs)} "
          "requests (bare blocking socket, own process, same farm, connect included)")
    for sh in per_shard:
        print(f"shard {sh['shard']:<6}           {sh['probes_per_s']} probes/s, p99 lateness "
              f"{sh['lateness_p99_ms']} ms, CPU {sh['cpu_s']} s ({sh['cores']} cores), late {sh['late']}, "
              f"skipped {sh['skipped']}")
    print(f"prober CPU per probe   {doc['cpu_ms_per_probe']} ms (from /proc, all shards)")
    if blackbox is not None:
        print(f"blackbox_exporter      {doc['blackbox_cpu_ms_per_probe']} ms CPU per probe over "
              f"{blackbox['sent']} probes {blackbox['results']} (from /proc)")
        print(f"ours / blackbox CPU    {doc['cpu_ratio_ours_to_blackbox']}x")
    print(f"load average           {doc['load_average']} on {os.cpu_count()} cores (before; after ours)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
