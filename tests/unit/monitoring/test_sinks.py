"""Sinks: the webhook retries with back-off against a real loopback HTTP server; failures never raise."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from abwb.errors import InvalidInput
from abwb.monitoring.alerts import Evidence, Finding, reconcile
from abwb.monitoring.sinks import LogSink, WebhookSink, deliver

T = datetime(2026, 6, 1, tzinfo=UTC)
ALERT = reconcile([], [Finding("srm:e", True, "srm", "critical", "SRM in e",
                               Evidence(statistic=1.0, threshold=0.001, p_value=1e-6), experiment="e")],
                  now=T).opened[0]


class Receiver:
    def __init__(self, fail_first: int, status: int = 503, delay_s: float = 0.0) -> None:
        self.fail_first, self.status, self.delay_s = fail_first, status, delay_s
        self.bodies: list[dict[str, object]] = []
        self.attempts = 0


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver(fail_first=2)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.attempts += 1
            body = self.rfile.read(int(self.headers["content-length"]))
            if state.delay_s:
                threading.Event().wait(state.delay_s)
            if state.attempts <= state.fail_first:
                self.send_response(state.status)
                self.end_headers()
                return
            state.bodies.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_retries_with_exponential_backoff(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    waits: list[float] = []
    sink = WebhookSink(url, backoff_s=0.5, max_attempts=4, sleep=waits.append)
    result = sink.send(ALERT)
    sink.close()
    assert result.ok and result.attempts == 3
    assert waits == [0.5, 1.0]
    assert state.bodies == [json.loads(json.dumps(state.bodies[0]))]
    assert state.bodies[0]["event"] == "alert.opened" and state.bodies[0]["alert"]["id"] == ALERT.id  # type: ignore[index]


def test_webhook_gives_up_after_max_attempts_and_does_not_retry_4xx(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.fail_first = 10
    sink = WebhookSink(url, max_attempts=3, sleep=lambda s: None)
    result = sink.send(ALERT)
    assert (result.ok, result.attempts, result.error) == (False, 3, "HTTP 503")
    state.attempts, state.status = 0, 400
    result = sink.send(ALERT)
    assert (result.ok, result.attempts, result.error) == (False, 1, "HTTP 400")
    sink.close()


def test_webhook_times_out_and_retries(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.fail_first, state.delay_s = 0, 0.5
    sink = WebhookSink(url, timeout_s=0.1, max_attempts=2, sleep=lambda s: None)
    result = sink.send(ALERT)
    sink.close()
    assert not result.ok and result.attempts == 2 and "Timeout" in result.error


def test_unreachable_webhook_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    sink = WebhookSink("http://127.0.0.1:9/none", timeout_s=0.5, max_attempts=2, sleep=lambda s: None)
    with caplog.at_level(logging.ERROR, logger="abwb.monitoring"):
        results = deliver([ALERT], [sink, LogSink()])
    sink.close()
    assert [(r.sink, r.ok) for r in results] == [("webhook", False), ("log", True)]
    assert "not delivered to webhook after 2 attempt(s)" in caplog.text


@pytest.mark.parametrize(("kwargs", "path"), [
    ({"url": "ftp://x"}, "webhook_url"), ({"url": "http://x", "max_attempts": 0}, "max_attempts"),
    ({"url": "http://x", "timeout_s": 0}, "timeout_s"),
])
def test_webhook_settings_are_validated(kwargs: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidInput) as info:
        WebhookSink(**kwargs)  # type: ignore[arg-type]
    assert info.value.problems[0].path == path
