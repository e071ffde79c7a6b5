"""Benchmark of the reference service: /predict against /health on the same server, side by side.

Starts ``clfwatch service serve`` (one uvicorn worker) on loopback, then:
1. wrk, closed loop, against GET /health (the reference: the cheapest route of the same stack);
2. wrk, closed loop, against POST /predict (a Lua script cycles through the eval texts);
3. an open-loop sender at a fixed 200 requests/s against /predict (wrk has no rate control and
   wrk2 is not packaged here); latency counts from the moment each request was *due*, so a
   stalled server cannot hide its queueing delay (no coordinated omission).

Prints requests/s and p99 of each, and the predict/health throughput ratio. Goals (issue 3):
ratio >= 0.5 and p99 of /predict at 200 rps under 10 ms.

    .venv/bin/python bench/service.py [--duration 5] [--rounds 3] [--connections 32] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from service.data import DATA_DIR, EVAL_FILE  # noqa: E402
from service.model import MODEL_FILE, read_labelled_csv, train_model  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.servers import stop_group, wait_http  # noqa: E402

DEFAULT_DURATION_S = 5
DEFAULT_ROUNDS = 3
DEFAULT_CONNECTIONS = 32
WRK_THREADS = 2
FIXED_RATE_RPS = 200
FIXED_RATE_CONNECTIONS = 16
LUA_TEXTS = 200
GOAL_RATIO = 0.5
GOAL_P99_MS = 10.0

# Requests are formatted once per wrk thread in init(), so the client spends its CPU (shared
# with the server on this machine) on sending, not on building strings.
LUA_TEMPLATE = """
local bodies = {
%s
}
local requests = {}
local i = 0
init = function(args)
  local headers = {["Content-Type"] = "application/json"}
  for k, body in ipairs(bodies) do
    requests[k] = wrk.format("POST", "/predict", headers, body)
  end
end
request = function()
  i = i %% #requests + 1
  return requests[i]
end
"""


def predict_bodies(count: int) -> list[bytes]:
    texts, _ = read_labelled_csv(DATA_DIR / EVAL_FILE)
    return [json.dumps({"id": f"b{i}", "text": t}).encode() for i, t in enumerate(texts[:count])]


def write_lua(path: Path, bodies: list[bytes]) -> None:
    # json.dumps escapes non-ASCII and newlines, so each body is a plain ASCII line; a long
    # bracket string needs no further escaping as long as it holds no "]==]".
    lines = [f"  [==[{b.decode('ascii')}]==]," for b in bodies if b"]==]" not in b]
    path.write_text(LUA_TEMPLATE % "\n".join(lines))


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, duration_s: int, connections: int, script: Path | None = None,
            server_pid: int | None = None) -> dict[str, float]:
    """One wrk run; with ``server_pid``, also the server's CPU time per request (load-independent)."""
    cpu_before = process_cpu_s(server_pid) if server_pid else 0.0
    cmd = ["wrk", "-t", str(WRK_THREADS), "-c", str(connections), "-d", f"{duration_s}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    run = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration_s + 30, check=True)
    out = run.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    cpu_s = process_cpu_s(server_pid) - cpu_before if server_pid else 0.0
    return {
        "rps": rps,
        "server_cpu_us": cpu_s / (rps * duration_s) * 1e6,
        "p99_ms": p99,
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
        "socket_errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
    }


async def fixed_rate(host: str, port: int, requests: list[bytes], rate: int, duration_s: int) -> list[float]:
    """Open loop: request i is due at start + i/rate whatever happened to the ones before it.

    Returns latencies in ms, each counted from when its request was due; a non-200 is a failure.
    """
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(FIXED_RATE_CONNECTIONS):
        pool.put_nowait(await asyncio.open_connection(host, port))
    latencies_ms: list[float] = []
    failures = 0

    async def one(due: float, request: bytes) -> None:
        nonlocal failures
        reader, writer = await pool.get()
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            if head[9:12] != b"200":
                failures += 1
            latencies_ms.append((time.perf_counter() - due) * 1000)
        finally:
            pool.put_nowait((reader, writer))

    start = time.perf_counter() + 0.2
    tasks = []
    for i in range(rate * duration_s):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, requests[i % len(requests)])))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=duration_s + 30)
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    if failures:
        raise RuntimeError(f"{failures} requests did not get 200 at the fixed rate")
    return latencies_ms


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def raw_requests(host: str, port: int, bodies: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Ready-to-send HTTP/1.1 requests: one GET /health, and one POST /predict per body."""
    health = [b"GET /health HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), port)]
    head = (b"POST /predict HTTP/1.1\r\nHost: %s:%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n")
    return health, [head % (host.encode(), port, len(b)) + b for b in bodies]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=DEFAULT_DURATION_S, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help="health/predict pairs, interleaved so a change in machine load hits both")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument("--model-dir", type=Path, default=None, help="trained model (default: train one)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    try:
        import uvloop

        run_async = uvloop.run
    except ImportError:
        run_async = asyncio.run

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="clfwatch-bench-") as tmp:
        tmp_dir = Path(tmp)
        model_dir = args.model_dir or tmp_dir / "model"
        if not (model_dir / MODEL_FILE).is_file():
            train_model(DATA_DIR, model_dir)
        bodies = predict_bodies(LUA_TEXTS)
        script = tmp_dir / "predict.lua"
        write_lua(script, bodies)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        health_raw, predict_raw = raw_requests("127.0.0.1", port, bodies)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
        env["CLFWATCH_SERVICE_MODEL_DIR"] = str(model_dir)
        clfwatch = str(Path(sys.executable).with_name("clfwatch"))
        server = subprocess.Popen(
            [clfwatch, "service", "serve", "--port", str(port), "--workers", "1"], env=env, cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wrk_runs: dict[str, list[dict[str, float]]] = {"health": [], "predict": []}
        paced: dict[str, list[float]] = {"health": [], "predict": []}
        try:
            wait_http(f"{url}/health", timeout_s=60, expect=200)
            run_wrk(f"{url}/health", 2, args.connections)  # warm-up
            for _ in range(args.rounds):
                wrk_runs["health"].append(run_wrk(f"{url}/health", args.duration, args.connections,
                                                  server_pid=server.pid))
                wrk_runs["predict"].append(run_wrk(url, args.duration, args.connections, script,
                                                   server_pid=server.pid))
                for name, reqs in (("health", health_raw), ("predict", predict_raw)):
                    paced[name] += run_async(
                        fixed_rate("127.0.0.1", port, reqs, FIXED_RATE_RPS, args.duration)
                    )
        finally:
            stop_group(server)

    ratios = [p["rps"] / h["rps"] for h, p in zip(wrk_runs["health"], wrk_runs["predict"], strict=True)]
    ratio = statistics.median(ratios)
    cpu_ratio = (statistics.median(r["server_cpu_us"] for r in wrk_runs["health"])
                 / statistics.median(r["server_cpu_us"] for r in wrk_runs["predict"]))
    print(f"clfwatch reference service, 1 uvicorn worker, {args.rounds} rounds of wrk -t{WRK_THREADS} "
          f"-c{args.connections} -d{args.duration}s per route, {os.cpu_count()} CPUs, "
          f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after")
    print(f"{'run (median of rounds)':<30}{'requests/s':>12}{'p99 ms':>10}{'non-2xx':>9}{'sock err':>9}"
          f"{'server CPU us/req':>19}")
    for name, label in (("health", "GET /health (wrk)"), ("predict", "POST /predict (wrk)")):
        runs = wrk_runs[name]
        print(f"{label:<30}{statistics.median(r['rps'] for r in runs):>12.0f}"
              f"{statistics.median(r['p99_ms'] for r in runs):>10.2f}"
              f"{sum(r['non_2xx'] for r in runs):>9.0f}{sum(r['socket_errors'] for r in runs):>9.0f}"
              f"{statistics.median(r['server_cpu_us'] for r in runs):>19.0f}")
    for name, label in (("health", "GET /health @200 rps"), ("predict", "POST /predict @200 rps")):
        lat = paced[name]
        print(f"{label:<30}{FIXED_RATE_RPS:>12}{percentile(lat, 0.99):>10.2f}{0:>9}{'':>9}"
              f"  (p50 {percentile(lat, 0.5):.2f} ms, max {max(lat):.2f} ms, n={len(lat)})")
    print(f"ratio predict/health throughput: {ratio:.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"goal >= {GOAL_RATIO})")
    print(f"ratio of server CPU per request health/predict: {cpu_ratio:.2f} "
          "(the throughput ratio a server-bound, otherwise idle machine would show)")
    print(f"p99 of /predict at {FIXED_RATE_RPS} rps: {percentile(paced['predict'], 0.99):.2f} ms "
          f"(goal < {GOAL_P99_MS} ms); /health at the same rate: {percentile(paced['health'], 0.99):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
