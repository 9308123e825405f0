"""Log configuration: one structlog pipeline for our events and stdlib loggers (kubernetes-asyncio, aiohttp).

Room: start-up. `configure` is called once from `--loglevel` / `--logformat`; `bound_rollout` binds the
per-reconcile context. Every event passes `redact` before it is rendered, so no secret (token, password,
authorization header, AWS secret key or session token) is ever written, whatever a caller passes.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from service import settings as settings_module

__all__ = [
    "AWS_CALL",
    "INGRESS",
    "NAMESPACE",
    "REDACTED",
    "ROLLOUT",
    "SERVICE",
    "STATE",
    "TARGET_GROUP",
    "bound_rollout",
    "configure",
    "redact",
]

# Fixed key names: dashboards and log queries rely on them, so every module binds these and no variants.
NAMESPACE = "namespace"
ROLLOUT = "rollout"
STATE = "state"
INGRESS = "ingress"
SERVICE = "service"
TARGET_GROUP = "target_group"
AWS_CALL = "aws_call"

REDACTED = "[REDACTED]"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
_SECRET_WORDS = ("password", "passwd", "secret", "authorization", "credential", "apikey", "api_key")
# Values can carry secrets too (a header dump, a URL with a token): mask what follows a secret's name, and
# credentials after an HTTP auth scheme.
_KEYED_SECRET = re.compile(
    r"(?i)((?:authorization|token|password|passwd|secret|x-amz-security-token)[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic)\s+)?)[^\s\"',;&]+"
)
_SCHEME_SECRET = re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}")


def _secret_key(key: str) -> bool:
    name = key.lower().replace("-", "_")
    # "token" as a word ending (token, access_token, session_token), not "tokens" of a rate limiter.
    return name.endswith("token") or any(word in name for word in _SECRET_WORDS)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        masked = _KEYED_SECRET.sub(lambda m: m.group(1) + REDACTED, value)
        return _SCHEME_SECRET.sub(lambda m: m.group(1) + REDACTED, masked)
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _secret_key(k) else _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_clean(item) for item in value)
    return value


def redact(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: masks secret-looking keys (at any depth) and secrets written inside strings."""
    for key in list(event_dict):
        if key.startswith("_"):  # structlog's own bookkeeping (_record, _from_structlog)
            continue
        event_dict[key] = REDACTED if _secret_key(key) else _clean(event_dict[key])
    return event_dict


def _shared(json: bool) -> list[Processor]:
    # Tracebacks are rendered before `redact` so their messages are masked too, and never with locals.
    traceback: Processor = (
        structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        if json else structlog.processors.format_exc_info
    )
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,  # first: bound context is part of every event
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        # The reference's logrus JSON keys are time, level and msg; the console renderer wants "timestamp".
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time" if json else "timestamp"),
        structlog.stdlib.PositionalArgumentsFormatter(),
        traceback,
        redact,
    ]
    if json:
        processors.append(structlog.processors.EventRenamer("msg"))
    return processors


def configure(logging_settings: settings_module.LoggingSettings, *, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to `stream` (stdout) at the level and in the format asked."""
    json = logging_settings.format == "json"
    shared = _shared(json)
    renderer: Processor
    if json:
        renderer = structlog.processors.JSONRenderer()
    else:
        out = stream or sys.stdout
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty(), event_key="event")
    structlog.configure(
        processors=[shared[0], structlog.stdlib.filter_by_level, *shared[1:],
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger made at import time must follow a later configure() (tests reconfigure).
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    logging.basicConfig(handlers=[handler], level=_LEVELS[logging_settings.level], force=True)


@contextmanager
def bound_rollout(namespace: str, name: str, **more: Any) -> Iterator[None]:
    """Bind `namespace` and `rollout` ("ns/name") plus `more` for the events logged inside (one reconcile)."""
    context: MutableMapping[str, Any] = {NAMESPACE: namespace, ROLLOUT: f"{namespace}/{name}", **more}
    with structlog.contextvars.bound_contextvars(**context):
        yield
