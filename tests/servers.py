"""Real servers on loopback for tests: uvicorn in a thread, or any command in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

READY_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, *, timeout_s: float = READY_TIMEOUT_S, expect: int | None = None) -> None:
    """Poll ``url`` until it answers (with ``expect`` if given); TimeoutError otherwise.

    One client for all the polls: ``httpx.get`` builds a client (and its TLS context) per call,
    about 20 ms of CPU, so ten polls a second while a server starts cost 0.2 CPU-s a second.
    """
    deadline = time.monotonic() + timeout_s
    last: str = "no answer"
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                r = client.get(url)
                if expect is None or r.status_code == expect:
                    return
                last = f"status {r.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout_s} s ({last})")


@contextmanager
def uvicorn_thread(app: Any, *, port: int | None = None, **config: Any) -> Iterator[str]:
    """Serve an ASGI app with a real uvicorn in a thread; yields its base URL.

    The socket is bound here and handed to uvicorn, so the port is ours from the start: a port
    from free_port() could be taken (as another test's ephemeral port) before uvicorn binds it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port or 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **config)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def process(
    cmd: Sequence[str],
    *,
    ready_url: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log_path: Path | None = None,
    timeout_s: float = READY_TIMEOUT_S,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` in its own process group until the block ends; waits for ``ready_url``.

    The whole group is stopped with SIGTERM, then SIGKILL, so no child outlives a test.
    """
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        list(cmd), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        if ready_url:
            try:
                wait_http(ready_url, timeout_s=timeout_s)
            except TimeoutError:
                tail = log_path.read_text(errors="replace")[-2000:] if log_path else ""
                raise TimeoutError(f"{cmd[0]} not ready at {ready_url}; log tail:\n{tail}") from None
        yield proc
    finally:
        stop_group(proc)
        if log_path:
            out.close()  # type: ignore[union-attr]


def stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace_s: float = 10.0) -> None:
    """Signal a process group and wait; SIGKILL what is left after ``grace_s``."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


DASHBOARD_START_TIMEOUT_S = 60.0
REPO_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def dashboard_server(
    database_url: str, log_dir: Path, *, hidden: Sequence[str] = (), **settings: str
) -> Iterator[str]:
    """``clfwatch dashboard`` (streamlit run) on a free loopback port, yielding its base URL.

    ``settings`` are extra CLFWATCH_* variables; the machine's own are dropped. At the end the
    log must hold no traceback and none of ``hidden`` (keys, codes: nothing secret is logged).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLFWATCH_")}
    env.update(CLFWATCH_DATABASE_URL=database_url, DO_NOT_TRACK="1", **settings)
    log_path = log_dir / "dashboard.log"
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "clfwatch.cli", "dashboard", "--port", str(port), "--host", "127.0.0.1"]
    with process(command, ready_url=f"{base}/_stcore/health", env=env, cwd=REPO_ROOT, log_path=log_path,
                 timeout_s=DASHBOARD_START_TIMEOUT_S):
        yield base
    log_text = log_path.read_text(errors="replace")
    assert "Traceback" not in log_text, log_text[-2000:]
    for secret in hidden:
        assert secret not in log_text
