"""Two small demo classifiers, so a fresh ``make up`` has something to rank.

``slow`` answers correctly but takes 200-400 ms; ``flaky`` answers fast but fails a share of
requests with 503 and has short outages. Both follow the classifier contract of DESIGN.md and
say "bot" by a trivial length rule: their AUC is mediocre on purpose, below the reference service.

Their misbehaviour is deterministic (a seeded generator, a fixed outage schedule), so a test
or a demo sees the same pattern every run.

    python -m clfwatch.demo slow --port 8081
    python -m clfwatch.demo flaky --port 8082
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.logs import setup_logging

log = logging.getLogger(__name__)

KINDS = ("slow", "flaky")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORTS = {"slow": 8081, "flaky": 8082}
DEFAULT_SEED = 8
MAX_BODY_BYTES = 1024 * 1024
MAX_ID_CHARS = 128
SLOW_MIN_DELAY_S = 0.2
SLOW_MAX_DELAY_S = 0.4
FLAKY_FAIL_SHARE = 0.15  # of the requests outside outages
FLAKY_PERIOD_S = 120.0  # one outage per period ...
FLAKY_OUTAGE_S = 15.0  # ... of this length, at the end of the period
LENGTH_MIDPOINT_WORDS = 11.0  # longer texts look more like a bot to this rule (AUC ~0.69 on the
LENGTH_SCALE_WORDS = 4.0  # shipped evaluation set: plausible, and below the reference service)


def length_probability(text: str) -> float:
    """Probability of "bot" from the word count alone: long texts score high."""
    words = len(text.split())
    return 1.0 / (1.0 + math.exp(-(words - LENGTH_MIDPOINT_WORDS) / LENGTH_SCALE_WORDS))


@dataclass
class Misbehaviour:
    """What a demo does wrong, drawn from a seeded generator so every run looks the same."""

    kind: str
    seed: int = DEFAULT_SEED
    started_at: float = field(default_factory=time.monotonic)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown demo kind {self.kind!r}; one of {', '.join(KINDS)}")
        self._rng = random.Random(self.seed)

    def _draw(self) -> float:
        with self._lock:
            return self._rng.random()

    def in_outage(self, now: float | None = None) -> bool:
        """Flaky only: the last FLAKY_OUTAGE_S seconds of every FLAKY_PERIOD_S are an outage."""
        if self.kind != "flaky":
            return False
        elapsed = (time.monotonic() if now is None else now) - self.started_at
        return elapsed % FLAKY_PERIOD_S >= FLAKY_PERIOD_S - FLAKY_OUTAGE_S

    def fails(self, now: float | None = None) -> bool:
        """Whether this request gets a 503 instead of an answer."""
        if self.kind != "flaky":
            return False
        return self.in_outage(now) or self._draw() < FLAKY_FAIL_SHARE

    def delay_s(self) -> float:
        """Slow only: extra seconds before answering."""
        if self.kind != "slow":
            return 0.0
        return SLOW_MIN_DELAY_S + (SLOW_MAX_DELAY_S - SLOW_MIN_DELAY_S) * self._draw()


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def create_demo_app(kind: str, *, seed: int = DEFAULT_SEED) -> FastAPI:
    """The demo classifier ``kind`` ("slow" or "flaky") as an ASGI app."""
    behaviour = Misbehaviour(kind, seed=seed)
    app = FastAPI(title=f"clfwatch demo ({kind})", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    async def health() -> JSONResponse:
        if behaviour.fails():
            return _error(503, "temporarily unavailable")
        await asyncio.sleep(behaviour.delay_s())
        return JSONResponse({"status": "ok"})

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY_BYTES:
                return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, "body must be JSON")
        if not isinstance(payload, dict):
            return _error(422, "body must be a JSON object")
        sample_id, text = payload.get("id"), payload.get("text")
        if not isinstance(sample_id, str) or not sample_id or len(sample_id) > MAX_ID_CHARS:
            return _error(422, f"id must be a string of 1-{MAX_ID_CHARS} characters")
        if not isinstance(text, str):
            return _error(422, "text must be a string")
        if behaviour.fails():
            return _error(503, "temporarily unavailable")
        await asyncio.sleep(behaviour.delay_s())
        return JSONResponse({"id": sample_id, "probability": round(length_probability(text), 6)})

    return app


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clfwatch.demo", description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, help="default 8081 for slow, 8082 for flaky")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("INFO")
    port = args.port or DEFAULT_PORTS[args.kind]
    log.info("event=demo_start kind=%s host=%s port=%d", args.kind, args.host, port)
    uvicorn.run(
        create_demo_app(args.kind, seed=args.seed),
        host=args.host,
        port=port,
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
