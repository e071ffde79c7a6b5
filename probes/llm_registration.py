"""What registering an openai-chat target asks of the service, for the CLI, the team API and the pages.

Before the target is stored: the key is there (the course demands one) and the model is known
(given, or the first that ``GET /v1/models`` lists: ``probes.llm_discovery``). After: the key is
enforced (no key and a wrong key must be refused); the check's ``auth`` probe rows are stored
like any probe, so the team page shows an unenforced key in red from the first minute.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.contract import Outcome, TargetKind
from core.netguard import AllowedNetworks
from probes.llm_discovery import FIX_CLI, check_base_url, discover_model, require_token
from storage.probes import ProbeRow, record_probes
from storage.targets import ProbeTarget, probe_targets

log = logging.getLogger(__name__)

# Each of the key check's requests waits at most this long at registration.
KEY_CHECK_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ChatModel:
    """The model a registration stores, and a note when the server listed several (else None)."""

    model: str
    note: str | None = None


def resolve_model(
    *,
    base_url: str,
    token: str | None,
    model: str | None,
    fix: str = FIX_CLI,
    token_flag: str = "--token KEY",
    networks: AllowedNetworks | None = None,
    name_url: bool = True,
) -> ChatModel:
    """The model to register for an openai-chat target: ``model`` as given, else the server's first.

    TokenRequired without a key; BaseUrlEndsInV1 for ``.../v1``; DiscoveryError (cause and ``fix``
    in one line) when the model list cannot be read. ``networks``: a team's registration (None:
    the operator's). ``name_url``: as ``discover_model``'s.
    """
    require_token(TargetKind.OPENAI_CHAT, token, flag=token_flag)
    check_base_url(base_url)
    if model is not None and model.strip():
        return ChatModel(model.strip())
    found = discover_model(base_url, token, fix=fix, networks=networks, name_url=name_url)
    return ChatModel(found.model, found.note())


@dataclass(frozen=True)
class KeyCheck:
    """The key-enforcement check run at registration: its verdict and what to tell the registrant."""

    enforced: bool | None  # None: the check could not tell (no answer); see ``warning``
    rows: int  # auth probe rows stored
    warning: str | None = None  # one plain line when the key is not enforced or the check failed


def check_key_after_registration(
    session: Session,
    target_id: int,
    *,
    networks: AllowedNetworks | None = None,
    timeout_s: float = KEY_CHECK_TIMEOUT_S,
) -> KeyCheck:
    """Run the key-enforcement check on a just-registered openai-chat target and store its rows.

    Never raises for the target: a server that does not answer is a warning, not a refusal
    (it may be starting). Call it once the target is committed: the check waits on the service.
    ``networks``: a team's registration, whose requests stay inside the self-service networks.
    """
    targets = probe_targets(session, ids=[target_id])
    if not targets or targets[0].kind != TargetKind.OPENAI_CHAT:
        return KeyCheck(enforced=None, rows=0)
    target = targets[0]
    try:
        rows = run_key_enforcement_check(target, timeout_s=timeout_s, networks=networks)
    except Exception as exc:  # noqa: BLE001 - a failed check must not undo the registration
        log.warning("event=key_check_failed target_id=%d error=%s", target_id, type(exc).__name__)
        return KeyCheck(enforced=None, rows=0, warning=(
            "warning: the key check could not run; the prober checks it again at its next key check"))
    record_probes(session, rows)
    return _verdict(target, rows)


def _verdict(target: ProbeTarget, rows: list[ProbeRow]) -> KeyCheck:
    url = target.base_url + target.predict_path
    accepted = [r for r in rows if r.outcome == Outcome.AUTH_NOT_ENFORCED]
    if accepted:
        # A row's detail is "accepted a request without a key: <the fix>"; the first half says what.
        what = " and ".join((r.detail or "").split(": ", 1)[0] for r in accepted if r.detail)
        return KeyCheck(enforced=False, rows=len(rows), warning=(
            f"warning: {url} {what or 'accepted a request without its key'}: the service does not "
            "enforce its key; make it answer 401 or 403 unless a request carries its key"))
    if rows and all(r.outcome == Outcome.OK for r in rows):
        return KeyCheck(enforced=True, rows=len(rows))
    detail = next((r.detail for r in rows if r.outcome != Outcome.OK and r.detail), None)
    return KeyCheck(enforced=None, rows=len(rows), warning=(
        f"warning: the key check of {url} got no clear answer ({detail or 'no answer'}); "
        "the prober checks it again at its next key check"))


def run_key_enforcement_check(
    target: ProbeTarget, *, timeout_s: float, networks: AllowedNetworks | None
) -> list[ProbeRow]:
    """The ``auth`` probe rows of ``probes.llm.check_key_enforcement`` for ``target``.

    Blocking: the check runs on an event loop of its own (the callers, a CLI command, a sync API
    route in a worker thread, a Streamlit script, have none).
    """
    from probes.llm import check_key_enforcement  # lazily: the chat probes' imports are not small

    return asyncio.run(check_key_enforcement(target, timeout_s=timeout_s, networks=networks))
