"""Alerts reach a real local webhook receiver, in each format, through retries."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.monitor.alerts import Alert, Dispatcher
from app.monitor.config import WebhookConfig
from tests.faults.harness import TRACKR
from tests.monitor.receiver import Receiver, webhook_receiver

DOWN = Alert("down", "render", "connection refused", 1_700_000_000.0, "https://render.example")


def send(webhooks: list[WebhookConfig], alert: Alert = DOWN, attempts: int = 3) -> list[bool]:
    dispatcher = Dispatcher(webhooks, attempts=attempts, backoff_seconds=0.05)

    async def go() -> list[bool]:
        try:
            return await dispatcher.send_now(alert)
        finally:
            await dispatcher.close()

    return asyncio.run(go())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


def test_generic_webhook_gets_the_event_as_json(receiver: Receiver) -> None:
    assert send([WebhookConfig(kind="generic", url=f"{receiver.base_url}/hook")]) == [True]
    (got,) = receiver.received
    assert got.path == "/hook"
    assert got.body["kind"] == "down"
    assert got.body["subject"] == "render"
    assert got.body["detail"] == "connection refused"
    assert got.body["url"] == "https://render.example"
    assert got.body["at"] == "2023-11-14T22:13:20+00:00"
    assert "render is DOWN" in got.body["text"]


def test_slack_and_telegram_formats(receiver: Receiver) -> None:
    slack = WebhookConfig(kind="slack", url=f"{receiver.base_url}/services/T0/B0/x")
    telegram = WebhookConfig.model_validate(
        {
            "kind": "telegram",
            "bot_token": "123:ABC",
            "chat_id": "-100",
            "telegram_api": receiver.base_url,
        }
    )
    assert send([slack, telegram]) == [True, True]
    by_path = {r.path: r.body for r in receiver.received}
    assert set(by_path["/services/T0/B0/x"]) == {"text"}
    assert (
        "🔴 trackr: render is DOWN (https://render.example)" in by_path["/services/T0/B0/x"]["text"]
    )
    assert by_path["/bot123:ABC/sendMessage"]["chat_id"] == "-100"
    assert "render is DOWN" in by_path["/bot123:ABC/sendMessage"]["text"]


def test_server_errors_are_retried_with_backoff(receiver: Receiver) -> None:
    receiver.fail_next = 2
    started = time.monotonic()
    assert send([WebhookConfig(url=receiver.base_url)], attempts=3) == [True]
    assert receiver.attempts == 3
    assert len(receiver.received) == 1
    assert time.monotonic() - started >= 0.05 + 0.1  # two waits: 0.05 s, then 0.1 s


def test_gives_up_after_the_attempts_and_never_retries_a_refusal(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.fail_next = 10
    assert send([WebhookConfig(url=receiver.base_url)], attempts=3) == [False]
    assert receiver.attempts == 3
    receiver.attempts, receiver.fail_next, receiver.fail_status = 0, 10, 403
    telegram = WebhookConfig.model_validate(
        {
            "kind": "telegram",
            "bot_token": "999:SECRET",
            "chat_id": "1",
            "telegram_api": receiver.base_url,
        }
    )
    assert send([telegram], attempts=3) == [False]
    assert receiver.attempts == 1  # 4xx: the webhook said no, asking again won't change that
    assert "refused with HTTP 403" in caplog.text
    assert "SECRET" not in caplog.text


def test_unreachable_webhook_fails_without_hanging() -> None:
    assert send([WebhookConfig(url="http://127.0.0.1:9/")], attempts=2) == [False]


def test_test_alert_command(receiver: Receiver, tmp_path: Path) -> None:
    ok = subprocess.run(
        [TRACKR, "monitor", "test-alert", "--webhook", f"{receiver.base_url}/x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "delivered" in ok.stdout
    assert receiver.received[0].body["kind"] == "test"
    config = tmp_path / "m.toml"
    config.write_text('alert_attempts = 1\n[[webhooks]]\nurl = "http://127.0.0.1:9/"\n')
    failed = subprocess.run(
        [TRACKR, "monitor", "test-alert", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1
    assert "FAILED" in failed.stdout
