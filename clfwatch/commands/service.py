"""``clfwatch service train | serve | gen-data | llm``: the reference classifier, and the demo LLM."""

from __future__ import annotations

import argparse
import gc
import logging
from pathlib import Path

from clfwatch.commands import CommandError
from core.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_WORKERS = 1
MAX_WORKERS = 64
APP_FACTORY = "service.app:create_app_from_env"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    svc = subparsers.add_parser("service", help="the reference classifier service and the demo LLM")
    sub = svc.add_subparsers(dest="action", required=True, metavar="ACTION")

    train = sub.add_parser("train", help="fit the model on service/data/train.csv into the model dir")
    train.add_argument("--data-dir", type=Path, default=None, help="folder holding train.csv")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(handler=run_train)

    serve = sub.add_parser("serve", help="serve the model over HTTP with uvicorn")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    serve.set_defaults(handler=run_serve)

    gen = sub.add_parser("gen-data", help="regenerate the shipped CSV files deterministically")
    gen.add_argument("--out", type=Path, default=None, help="output folder (default: service/data)")
    gen.add_argument("--seed", type=int, default=None)
    gen.set_defaults(handler=run_gen_data)

    llm = sub.add_parser("llm", help="serve the demo LLM (OpenAI-compatible chat, key CLFWATCH_DEMO_LLM_KEY)")
    llm.add_argument("--host", default=DEFAULT_HOST)
    llm.add_argument("--port", type=int, default=None, help="default CLFWATCH_DEMO_LLM_PORT (38300)")
    llm.add_argument("--ttft-ms", type=float, default=None, help="time to first token (default 80)")
    llm.add_argument("--itl-ms", type=float, default=None, help="time between tokens (default 25)")
    llm.set_defaults(handler=run_llm)


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from service.data import DATA_DIR
    from service.model import ModelError, train_model

    try:
        metadata = train_model(args.data_dir or DATA_DIR, settings.service_model_dir, seed=args.seed)
    except ModelError as exc:
        raise CommandError(str(exc)) from None
    auc = metadata["metrics"]["holdout_roc_auc"]
    print(f"trained {metadata['version']} into {settings.service_model_dir}: held-out ROC-AUC {auc:.4f}")
    print(training_report_line(args.data_dir or DATA_DIR, settings, seed=args.seed,
                               version=str(metadata["version"])))
    return 0


def training_report_line(data_dir: Path, settings: Settings, *, seed: int, version: str) -> str:
    """Log the Evidently report of the training split against the validation split; one line on how it went.

    Without CLFWATCH_EVIDENTLY_URL nothing is computed: `make up`, the Docker build and the tests
    train often, and a text-drift report costs seconds and a 4 MB HTML file nobody asked for.
    A failed report never fails the training, whose model is already written.
    """
    if not settings.evidently_url:
        return (
            "Evidently: no report (set CLFWATCH_EVIDENTLY_URL to log the training split against the "
            f"validation split to project {settings.evidently_project!r})"
        )
    from drift.traffic import NotEnoughDataError, log_training_report, text_pusher
    from service.data import TRAIN_FILE
    from service.model import read_labelled_csv, split_holdout

    texts, labels = read_labelled_csv(Path(data_dir) / TRAIN_FILE)
    fit_texts, holdout_texts, _, _ = split_holdout(texts, labels, seed=seed)
    pusher = text_pusher(settings)
    assert pusher is not None  # evidently_url is set
    try:
        report = log_training_report(fit_texts, holdout_texts, pusher=pusher,
                                     run_name=f"{version}: training split vs validation split")
    except NotEnoughDataError as exc:
        return f"Evidently: no report ({exc})"
    if not report.pushed:
        return f"Evidently: no report reached {settings.evidently_url} (see the log); the model is saved"
    return (
        f"Evidently: logged to project {settings.evidently_project!r} at {settings.evidently_url}: "
        f"{report.summary.line()}"
    )


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port must be 0-65535, got {args.port}")
    if not 1 <= args.workers <= MAX_WORKERS:
        raise CommandError(f"--workers must be 1-{MAX_WORKERS}, got {args.workers}")
    from service.model_files import missing_model_message

    # No model: say so before importing uvicorn, FastAPI and scikit-learn (about 2 CPU-s).
    missing = missing_model_message(settings.service_model_dir)
    if missing is not None:
        raise CommandError(missing)
    import uvicorn

    from service.app import create_app
    from service.model import ModelError

    try:
        app = create_app(settings)  # also the check that the model loads, before any worker starts
    except ModelError as exc:
        raise CommandError(str(exc)) from None
    gc.freeze()  # the model's ~100k long-lived objects leave the collector's scans: no GC pauses
    common = {"host": args.host, "port": args.port, "log_config": None, "access_log": False,
              "server_header": False}
    if args.workers == 1:
        uvicorn.run(app, **common)  # type: ignore[arg-type]
    else:
        # Workers are separate processes: each builds its own app from the same environment,
        # and each keeps its own Prometheus counters (multiprocess mode is not wired).
        log.warning(
            "event=metrics_per_worker workers=%d: each /metrics scrape shows one worker only",
            args.workers,
        )
        uvicorn.run(APP_FACTORY, factory=True, workers=args.workers, **common)  # type: ignore[arg-type]
    return 0


def run_gen_data(args: argparse.Namespace, settings: Settings) -> int:
    from service.data import DATA_DIR
    from service.data.generate import DEFAULT_SEED, write_datasets

    written = write_datasets(args.out or DATA_DIR, seed=DEFAULT_SEED if args.seed is None else args.seed)
    for name, path in written.items():
        print(f"wrote {name}: {path.stat().st_size} bytes -> {path}")
    return 0


MAX_DELAY_MS = 60_000.0


def run_llm(args: argparse.Namespace, settings: Settings) -> int:
    port = settings.demo_llm_port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise CommandError(f"--port must be 0-65535, got {port}")
    for name in ("ttft_ms", "itl_ms"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= MAX_DELAY_MS:
            raise CommandError(f"--{name.replace('_', '-')} must be 0-{MAX_DELAY_MS:.0f}, got {value}")
    import uvicorn

    from service.llm_demo import DEFAULT_ITL_S, DEFAULT_TTFT_S, Delays, create_llm_demo_app

    delays = Delays(
        ttft_s=DEFAULT_TTFT_S if args.ttft_ms is None else args.ttft_ms / 1000,
        itl_s=DEFAULT_ITL_S if args.itl_ms is None else args.itl_ms / 1000,
    )
    app = create_llm_demo_app(key=settings.demo_llm_key.get_secret_value(), delays=delays)
    log.info("event=demo_llm_start host=%s port=%d ttft_s=%.3f itl_s=%.3f",
             args.host, port, delays.ttft_s, delays.itl_s)
    uvicorn.run(app, host=args.host, port=port, log_config=None, access_log=False, server_header=False)
    return 0
