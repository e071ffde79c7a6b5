"""Channels: checked by Apprise, stored on SQLite and Postgres, listed masked, owned per target;
the CLI; and a real SMTP server behind a ``mailto://`` URL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from alerts.channels import (
    ChannelURLError,
    add_channel,
    list_channels,
    mask_url,
    remove_channel,
    send_test_message,
)
from storage.alerts import ChannelError, all_channels, channel_urls
from storage.engine import session_scope
from tests.clfwatch.inproc import clfwatch_in_process
from tests.probes.helpers import register
from tests.servers import free_port

SECRET = "pw-Zq81-secret"
HEADER_TOKEN = "hdr-tok-77"
SMTP_WAIT_S = 10.0


def clfwatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clfwatch.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "url",
    [
        f"json://user:{SECRET}@127.0.0.1:9/hook?-X-Token={HEADER_TOKEN}",
        f"json://127.0.0.1:9/{SECRET}",
        f"mailto://ops:{SECRET}@example.com?smtp=127.0.0.1&to=a@example.com",
        f"tgram://123456789:{SECRET}ABCdefGHIjklMNOpqrSTUvwx/987654321",
    ],
)
def test_masking_hides_every_secret(url: str) -> None:
    from alerts.sender import check_url

    plugin, reason = check_url(url)
    assert plugin is not None, reason
    masked = mask_url(url, plugin)
    assert SECRET not in masked and HEADER_TOKEN not in masked
    assert masked.split("://")[0] == url.split("://")[0]


@pytest.mark.parametrize("url", ["", "nonsense://x", "json://", "tgram://bad", "not a url"])
def test_unusable_urls_are_refused_with_apprises_reason(url: str) -> None:
    from alerts.channels import validate_url

    with pytest.raises(ChannelURLError, match="Apprise|empty"):
        validate_url(url)


def test_channels_are_owned_by_their_target(db_url: str) -> None:
    a = register(db_url, "team-a", "http://127.0.0.1:9")
    b = register(db_url, "team-b", "http://127.0.0.1:9")
    with session_scope(db_url) as session:
        mine = add_channel(session, a, f"json://u:{SECRET}@127.0.0.1:9/a")
        theirs = add_channel(session, b, "json://127.0.0.1:9/b")
        every = add_channel(session, None, "json://127.0.0.1:9/all")
    with session_scope(db_url) as session:
        assert [c.id for c in list_channels(session, a)] == [mine.id]
        assert [c.id for c in list_channels(session, None)] == [every.id]
        assert SECRET not in str(all_channels(session)) and SECRET not in str(list_channels(session, a))
        assert [c.id for c in channel_urls(session, a)] == [mine.id, every.id]
        with pytest.raises(ChannelError):  # team a cannot remove team b's channel...
            remove_channel(session, theirs.id, target_id=a)
        with pytest.raises(ChannelError):  # ...nor the operator's
            remove_channel(session, every.id, target_id=a)
        with pytest.raises(ChannelError):
            send_test_message(session, theirs.id, target_id=a)
        remove_channel(session, mine.id, target_id=a)
    with session_scope(db_url) as session:
        assert [c.id for c in all_channels(session)] == [theirs.id, every.id]
        with pytest.raises(ChannelError):
            remove_channel(session, mine.id)


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.mails.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


def test_mailto_reaches_a_real_smtp_server(sqlite_url: str) -> None:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        tid = register(sqlite_url, "mailed", "http://127.0.0.1:9")
        url = (f"mailto://127.0.0.1:{port}?smtp=127.0.0.1&to=ops@example.com&from=clfwatch@example.com"
               "&mode=insecure")
        with session_scope(sqlite_url) as session:
            channel = add_channel(session, tid, url)
            error = send_test_message(session, channel.id)
        deadline = time.monotonic() + SMTP_WAIT_S
        while not mailbox.mails and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        controller.stop()
    assert error is None
    assert len(mailbox.mails) == 1
    mail = mailbox.mails[0]
    assert mail["Subject"] == "clfwatch: test message"
    assert "ops@example.com" in mail["To"]


def test_cli_add_list_test_remove(cli_env: dict[str, str]) -> None:
    db = cli_env["CLFWATCH_DATABASE_URL"]
    register(db, "team-a", "http://127.0.0.1:9")
    bad = clfwatch(cli_env, "alerts", "add", "team-a", "tgram://bad")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == ["clfwatch: error: Apprise cannot use this URL: "
                                               "Unparseable Telegram URL tgram://bad"]
    ok = clfwatch_in_process(cli_env, "alerts", "add", "team-a", f"json://u:{SECRET}@127.0.0.1:{free_port()}/h")
    assert ok.returncode == 0, ok.stderr
    every = clfwatch_in_process(cli_env, "alerts", "add", "--all", "json://127.0.0.1:9/all")
    assert every.returncode == 0, every.stderr
    listed = clfwatch_in_process(cli_env, "alerts", "list")
    assert listed.returncode == 0 and SECRET not in listed.stdout
    assert "team-a" in listed.stdout and "(every target)" in listed.stdout
    failed = clfwatch(cli_env, "alerts", "test", "1")  # nothing listens on that port
    assert failed.returncode == 1
    assert failed.stderr.startswith("clfwatch: error: channel 1: the provider did not take")
    assert SECRET not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    unknown = clfwatch_in_process(cli_env, "alerts", "add", "nobody", "json://127.0.0.1:9/x")
    assert unknown.returncode == 1 and "no target named 'nobody'" in unknown.stderr
    assert clfwatch_in_process(cli_env, "alerts", "remove", "1").returncode == 0
    gone = clfwatch_in_process(cli_env, "alerts", "remove", "1")
    assert gone.returncode == 1 and "no alert channel with id 1" in gone.stderr
    assert os.environ.get("CLFWATCH_DATABASE_URL") == db  # cli_env points the test process too
