"""Load-engine benchmark: the spike load against a trivial local endpoint, Locust vs wrk.

In one run, against the same one-worker uvicorn serving a constant ``POST /predict`` answer
(its own process, so it has a core of its own):

* Locust in one process (``stress.load.run_locust``, what ``clfwatch stress run`` uses),
* Locust in distributed mode, a master and 2 workers on loopback (``--workers 2``),
* wrk, the reference (C, event loop, no think time), with the same concurrency and body.

All three use the spike's user count and no think time, for ``--seconds`` each. Prints
requests/s of each and the ratio of each Locust run to wrk. On a small machine the server is
the limit for all three; the ratio says how close Locust gets to it.

    .venv/bin/python bench/stress.py [--users 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stress.bars import DEFAULT_BARS  # noqa: E402
from stress.load import run_locust  # noqa: E402
from stress.target import TargetSpec  # noqa: E402

READY_TIMEOUT_S = 20.0
BODY = {"id": "bench-1", "text": "hello bot, how are you?"}


def serve(port: int) -> None:
    """The trivial endpoint: constant answers, no model, so only the load tools are measured."""
    import uvicorn

    answer = json.dumps({"id": "bench-1", "probability": 0.5}).encode()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            httpx.post(url + "/predict", json=BODY, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"bench server not ready at {url}")


def run_wrk(url: str, users: int, seconds: float) -> float:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = {json.dumps(json.dumps(BODY))}\n")
        script = f.name
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{users}", f"-d{int(seconds)}s", "-s", script, url + "/predict"],
            capture_output=True, text=True, timeout=seconds + 30, check=True,
        ).stdout
    finally:
        os.unlink(script)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=DEFAULT_BARS.spike_users)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], start_new_session=True)
    try:
        wait_ready(url)
        spec = TargetSpec(url)
        results: list[tuple[str, float, float | None]] = []
        for label, workers in (("locust, 1 process", 0), ("locust, master + 2 workers", 2)):
            stats = run_locust(spec, users=args.users, spawn_rate=float(args.users), run_time_s=args.seconds,
                               wait_min_s=0.0, wait_max_s=0.0, timeout_s=5.0, max_requests=10_000_000,
                               workers=workers)
            if not stats.ok:
                raise SystemExit(f"{label}: {stats.error}")
            results.append((label, stats.rps, stats.latency_ms.get("p95")))
        results.append(("wrk -t2", run_wrk(url, args.users, args.seconds), None))
    finally:
        server.terminate()
        server.wait(timeout=10)
    wrk_rps = results[-1][1]
    print(f"spike load: {args.users} concurrent users, {args.seconds:g} s each, trivial endpoint at {url}")
    print(f"{'engine':<30}{'req/s':>10}{'p95 ms':>9}{'vs wrk':>9}")
    for label, rps, p95 in results:
        p95_text = "-" if p95 is None else f"{p95:g}"
        print(f"{label:<30}{rps:>10.0f}{p95_text:>9}{rps / wrk_rps:>9.2f}")
    print(f"distributed / single-process Locust: {results[1][1] / results[0][1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
