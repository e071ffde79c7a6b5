"""Steps 1-5 of ``make up``: database, reference model, evaluation set, targets, secrets.

Each step checks before it acts, so a second ``make up`` keeps what the first one made.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from clfwatch.up.common import VAR_DIR, StopFlag, UpError, clfwatch_argv, say
from clfwatch.up.supervise import run_step
from core.contract import TargetKind
from core.settings import Settings
from service.model_files import METADATA_FILE, MODEL_FILE  # what `clfwatch service train` writes
from storage.engine import session_scope, upgrade_database, wait_for_database
from storage.evalset import EvalSetError, eval_count, parse_eval_csv, replace_eval_set
from storage.targets import TargetError, add_target, list_targets, update_target

SECRETS_DIR = VAR_DIR
ADMIN_PASSWORD_FILE = "admin-password"
REGISTRATION_CODE_FILE = "registration-code"
SECRET_BYTES = 18  # 24 URL-safe characters
SECRET_FILE_MODE = 0o600
TRAIN_TIMEOUT_S = 600.0
DB_WAIT_TRIES = 30
REFERENCE_TARGET = "reference"
SLOW_TARGET = "demo-slow"
FLAKY_TARGET = "demo-flaky"
LLM_TARGET = "demo-llm"
EVAL_FILE_NAME = "eval_labelled.csv"


def safe_url(database_url: str) -> str:
    """The database URL with its password masked, fit to print."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is not printed at all
        return "(unparsable URL)"


def migrate(settings: Settings) -> None:
    say(f"step 1/6: migrating the database {safe_url(settings.database_url)}")
    try:
        wait_for_database(settings.database_url, tries=DB_WAIT_TRIES)
    except OperationalError:
        raise UpError(f"the database does not answer after {DB_WAIT_TRIES} tries") from None
    upgrade_database(settings.database_url)


def model_present(model_dir: Path) -> bool:
    return (model_dir / MODEL_FILE).is_file() and (model_dir / METADATA_FILE).is_file()


def ensure_model(settings: Settings, stop: StopFlag) -> None:
    model_dir = settings.service_model_dir
    if model_present(model_dir):
        say(f"step 2/6: reference model found in {model_dir}")
        return
    say(f"step 2/6: training the reference model into {model_dir} (clfwatch service train)")
    run_step(clfwatch_argv("service", "train"), stop, timeout_s=TRAIN_TIMEOUT_S)
    if not model_present(model_dir):
        raise UpError(f"clfwatch service train wrote nothing to {model_dir}")


def eval_file() -> Path:
    from service.data import DATA_DIR  # the service package ships the data it was built on

    return Path(DATA_DIR) / EVAL_FILE_NAME


def ensure_eval_set(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        count = eval_count(session)
    if count:
        say(f"step 3/6: evaluation set already loaded ({count} samples), kept as is")
        return
    path = eval_file()
    say(f"step 3/6: loading the evaluation set from {path}")
    try:
        rows = parse_eval_csv(path.read_text(encoding="utf-8"))
    except (OSError, EvalSetError) as exc:
        raise UpError(f"cannot load {path}: {exc}") from None
    with session_scope(settings.database_url) as session:
        replace_eval_set(session, rows)
    say(f"  loaded {len(rows)} samples")


def ensure_targets(settings: Settings, wanted: dict[str, str]) -> None:
    """Register each wanted target once; a target whose port changed gets the new URL.

    The demo LLM (``LLM_TARGET``) is an ``openai-chat`` target with the demo's model and the
    key it demands (CLFWATCH_DEMO_LLM_KEY, refreshed every run so a changed key follows).
    """
    say("step 4/6: registering the reference service, the two demo targets and the demo LLM")
    token = settings.service_api_key.get_secret_value() if settings.service_api_key else None
    llm_key = settings.demo_llm_key.get_secret_value()
    try:
        with session_scope(settings.database_url) as session:
            existing = {view.name: view for view in list_targets(session)}
            for name, url in wanted.items():
                target_token = {REFERENCE_TARGET: token, LLM_TARGET: llm_key}.get(name)
                view = existing.get(name)
                if view is None and name == LLM_TARGET:
                    from service.llm_demo import DEMO_MODEL

                    add_target(session, name=name, base_url=url, token=target_token,
                               kind=TargetKind.OPENAI_CHAT, model=DEMO_MODEL)
                    say(f"  registered {name} at {url} (openai-chat, model {DEMO_MODEL})")
                elif view is None:
                    add_target(session, name=name, base_url=url, token=target_token)
                    say(f"  registered {name} at {url}")
                elif view.base_url != url:
                    update_target(session, name, base_url=url, token=target_token)
                    say(f"  {name} moved from {view.base_url} to {url}")
                else:
                    if target_token:
                        update_target(session, name, token=target_token)
                    say(f"  {name} already registered at {url}" + ("" if view.active else " (inactive)"))
    except TargetError as exc:
        raise UpError(str(exc)) from None


def stored_secret(path: Path) -> tuple[str, bool]:
    """The secret kept in ``path`` (mode 0600), made on first use; (value, newly made).

    Kept under var/ so a second ``make up`` reuses it: a course's registration code must not
    change under the students' feet, nor the admin password under the instructor's.
    """
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        value = ""
    if value:
        os.chmod(path, SECRET_FILE_MODE)  # a copy that lost its mode gets it back
        return value, False
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(SECRET_BYTES)
    path.unlink(missing_ok=True)  # an empty file left by a crash
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(value + "\n")
    return value, True


@dataclass(frozen=True)
class Secrets:
    """What the admin page and self-registration need; each from the environment or var/."""

    admin_password: str
    admin_from: str  # where it came from, to print
    registration_code: str
    code_from: str

    def env(self) -> dict[str, str]:
        return {"CLFWATCH_ADMIN_PASSWORD": self.admin_password,
                "CLFWATCH_REGISTRATION_CODE": self.registration_code}


def ensure_secrets(settings: Settings, directory: Path = SECRETS_DIR) -> Secrets:
    """An admin password and a registration code: the environment's if set, else var/'s."""
    say("step 5/6: admin password and registration code")
    found: list[tuple[str, str]] = []
    for value, file_name, variable in (
        (settings.admin_password, ADMIN_PASSWORD_FILE, "CLFWATCH_ADMIN_PASSWORD"),
        (settings.registration_code, REGISTRATION_CODE_FILE, "CLFWATCH_REGISTRATION_CODE"),
    ):
        if value is not None:
            found.append((value.get_secret_value(), f"from {variable}"))
            continue
        path = directory / file_name
        secret, made = stored_secret(path)
        found.append((secret, f"{'generated into' if made else 'kept in'} {path} (mode 0600)"))
    (admin, admin_from), (code, code_from) = found
    return Secrets(admin, admin_from, code, code_from)
