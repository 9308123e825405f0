"""service.logs: the structlog pipeline behind --loglevel and --logformat.

Aspects: JSON output is one JSON object per line per event, on stdout by default, with the reference's
time/level/msg keys; bound per-rollout context (and per asyncio task) appears in every event; the fixed key
names; stdlib loggers (kubernetes-asyncio, aiohttp) go through the same pipeline; level filtering for both;
secrets are redacted by key at any depth and inside strings, in exceptions too, and tracebacks carry no
locals; the text format renders readable lines without colour codes; a logger made before `configure`
follows it.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from service import logs, settings

EARLY = structlog.get_logger("tests.early")  # made at import time, before any configure()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


def _json(level: str = "info") -> io.StringIO:
    stream = io.StringIO()
    logs.configure(settings.LoggingSettings(level=level, format="json"), stream=stream)
    return stream


def _events(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = stream.getvalue().splitlines()
    return [json.loads(line) for line in lines]


def test_json_is_one_line_per_event_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(settings.LoggingSettings(format="json"))
    log = structlog.get_logger("service.reconciling")
    log.info("weights set", ingress="web", weight=10)
    log.warning("verification pending", target_group="tg-1")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert {k: v for k, v in first.items() if k != "time"} == {
        "msg": "weights set", "level": "info", "logger": "service.reconciling", "ingress": "web",
        "weight": 10}
    assert first["time"].endswith("Z")
    assert (second["msg"], second["level"]) == ("verification pending", "warning")
    assert second["target_group"] == "tg-1"


def test_bound_rollout_context_is_in_every_event() -> None:
    stream = _json()
    log = structlog.get_logger("service.reconciling")
    with logs.bound_rollout("shop", "web", state="Verifying", reconcile_id="r-1"):
        log.info("first")
        log.info("second", aws_call="DescribeRules")
    log.info("after")
    first, second, after = _events(stream)
    expected = {"namespace": "shop", "rollout": "shop/web", "state": "Verifying", "reconcile_id": "r-1"}
    assert {k: first[k] for k in expected} == expected
    assert {k: second[k] for k in expected} == expected
    assert second["aws_call"] == "DescribeRules"
    assert not set(expected) & set(after)


async def test_context_is_per_asyncio_task() -> None:
    stream = _json()
    log = structlog.get_logger("service.controller")
    both_bound = asyncio.Event()
    bound = 0

    async def reconcile(name: str) -> None:
        nonlocal bound
        with logs.bound_rollout("ns", name):
            bound += 1
            if bound == 2:
                both_bound.set()
            await both_bound.wait()  # both contexts are live at once
            log.info("reconciled")

    await asyncio.gather(reconcile("a"), reconcile("b"))
    assert sorted(event["rollout"] for event in _events(stream)) == ["ns/a", "ns/b"]


def test_fixed_key_names() -> None:
    keys = (logs.NAMESPACE, logs.ROLLOUT, logs.STATE, logs.INGRESS, logs.SERVICE, logs.TARGET_GROUP,
            logs.AWS_CALL)
    assert keys == ("namespace", "rollout", "state", "ingress", "service", "target_group", "aws_call")


def test_stdlib_loggers_share_the_pipeline() -> None:
    stream = _json()
    with logs.bound_rollout("ns", "app"):
        logging.getLogger("kubernetes_asyncio.client.rest").warning("watch %s restarted", "rollouts")
    (event,) = _events(stream)
    assert {k: v for k, v in event.items() if k != "time"} == {
        "msg": "watch rollouts restarted", "level": "warning", "logger": "kubernetes_asyncio.client.rest",
        "namespace": "ns", "rollout": "ns/app"}


LEVELS = [
    pytest.param("debug", ["debug", "info", "warning", "error"], id="debug"),
    pytest.param("info", ["info", "warning", "error"], id="info"),
    pytest.param("warn", ["warning", "error"], id="warn"),
    pytest.param("error", ["error"], id="error"),
]


@pytest.mark.parametrize(("level", "shown"), LEVELS)
def test_level_filters_structlog_and_stdlib(level: str, shown: list[str]) -> None:
    stream = _json(level)
    log = structlog.get_logger("service.x")
    std = logging.getLogger("aiohttp.access")
    for name in ("debug", "info", "warning", "error"):
        getattr(log, name)(f"structlog {name}")
        getattr(std, name)("stdlib %s", name)
    events = _events(stream)
    assert [e["level"] for e in events if e["msg"].startswith("structlog")] == shown
    assert [e["level"] for e in events if e["msg"].startswith("stdlib")] == shown


REDACTED_KEYS = [
    pytest.param("token", id="token"),
    pytest.param("access_token", id="access_token"),
    pytest.param("password", id="password"),
    pytest.param("db_password", id="db_password"),
    pytest.param("secret", id="secret"),
    pytest.param("client_secret", id="client_secret"),
    pytest.param("authorization", id="authorization"),
    pytest.param("Authorization", id="Authorization"),
    pytest.param("aws_secret_access_key", id="aws_secret_access_key"),
    pytest.param("aws_session_token", id="aws_session_token"),
    pytest.param("X-Amz-Security-Token", id="x-amz-security-token"),
    pytest.param("credentials", id="credentials"),
    pytest.param("api_key", id="api_key"),
]


@pytest.mark.parametrize("key", REDACTED_KEYS)
def test_secret_keys_are_redacted(key: str) -> None:
    stream = _json()
    structlog.get_logger("service.x").info("call", **{key: "s3cr3t-value"})
    (event,) = _events(stream)
    assert event[key] == "[REDACTED]"
    assert "s3cr3t-value" not in stream.getvalue()


def test_secrets_nested_in_values_are_redacted() -> None:
    stream = _json()
    structlog.get_logger("service.x").info(
        "request",
        headers={"Authorization": "Bearer abc", "Accept": "application/json"},
        attempts=[{"session_token": "tok-1", "code": "Throttling"}],
        credentials_ok=True,
        tokens=3.5,
    )
    (event,) = _events(stream)
    assert event["headers"] == {"Authorization": "[REDACTED]", "Accept": "application/json"}
    assert event["attempts"] == [{"session_token": "[REDACTED]", "code": "Throttling"}]
    assert event["credentials_ok"] == "[REDACTED]"  # named like a secret: masked whatever it holds
    assert event["tokens"] == 3.5  # a rate limiter's tokens are not a token


TEXTS = [
    pytest.param("GET /apis?token=abc123&watch=1", "GET /apis?token=[REDACTED]&watch=1", id="token-in-url"),
    pytest.param("Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer [REDACTED]",
                 id="authorization-header"),
    pytest.param("sent with bearer eyJhbGciOiJSUzI1", "sent with bearer [REDACTED]", id="bare-bearer"),
    pytest.param("password=hunter2 user=bob", "password=[REDACTED] user=bob", id="password-pair"),
    pytest.param("{'X-Amz-Security-Token': 'IQoJb3JpZ2lu'}", "{'X-Amz-Security-Token': '[REDACTED]'}",
                 id="amz-token-in-dump"),
    pytest.param("a basic idea", "a basic idea", id="prose-untouched"),
    pytest.param("tokens=3 left", "tokens=3 left", id="tokens-untouched"),
]


@pytest.mark.parametrize(("text", "logged"), TEXTS)
def test_secrets_inside_strings_are_redacted(text: str, logged: str) -> None:
    stream = _json()
    structlog.get_logger("service.x").info(text, detail=text)
    (event,) = _events(stream)
    assert (event["msg"], event["detail"]) == (logged, logged)


def test_exceptions_are_redacted_and_carry_no_locals() -> None:
    stream = _json()
    log = structlog.get_logger("service.x")
    aws_secret_access_key = "wJalrXUtnFEMI-local"
    try:
        raise RuntimeError(f"login failed password=hunter2 ({len(aws_secret_access_key)})")
    except RuntimeError:
        log.exception("call failed", aws_call="DescribeRules")
    text = stream.getvalue()
    (event,) = _events(stream)
    assert event["exception"][0]["exc_value"] == "login failed password=[REDACTED] (19)"
    assert "hunter2" not in text
    assert "wJalrXUtnFEMI-local" not in text
    assert all("locals" not in frame for frame in event["exception"][0]["frames"])


def test_stdlib_exception_is_rendered_and_redacted() -> None:
    stream = _json()
    try:
        raise ValueError("token=abcdef")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("handler failed")
    (event,) = _events(stream)
    assert event["msg"] == "handler failed"
    assert event["exception"][0]["exc_value"] == "token=[REDACTED]"


def test_text_format_is_readable_without_colours() -> None:
    stream = io.StringIO()
    logs.configure(settings.LoggingSettings(level="info", format="text"), stream=stream)
    with logs.bound_rollout("ns", "app"):
        structlog.get_logger("service.x").info("weights set", password="p4ss", ingress="web")
    (line,) = stream.getvalue().splitlines()
    assert "\x1b[" not in line
    assert "[info     ] weights set" in line
    assert "ingress=web" in line and "rollout=ns/app" in line and "password=[REDACTED]" in line
    assert "p4ss" not in line


def test_text_format_renders_tracebacks_redacted() -> None:
    stream = io.StringIO()
    logs.configure(settings.LoggingSettings(level="info", format="text"), stream=stream)
    try:
        raise RuntimeError("secret=abc")
    except RuntimeError:
        structlog.get_logger("service.x").exception("failed")
    text = stream.getvalue()
    assert "Traceback (most recent call last):" in text
    assert "RuntimeError: secret=[REDACTED]" in text


def test_logger_made_before_configure_follows_it() -> None:
    stream = _json()
    EARLY.info("early logger")
    (event,) = _events(stream)
    assert (event["msg"], event["logger"]) == ("early logger", "tests.early")


def test_redact_leaves_structlog_bookkeeping_alone() -> None:
    record = object()
    event: dict[str, Any] = {"event": "x", "_record": record, "token": "t"}
    result = logs.redact(None, "info", event)
    assert result["_record"] is record
    assert result["token"] == "[REDACTED]"
