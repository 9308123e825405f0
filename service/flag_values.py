"""Value parsers for the controller's flags: each turns a flag's text into a value or raises
`argparse.ArgumentTypeError`, which argparse reports as "argument --flag: ...".

Room: start-up. Pure functions used by `service.settings`; no I/O, no globals read.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from statemachine import parsing

__all__ = ["LOG_LEVELS", "address", "bounded_int", "endpoint_url", "go_bool", "group_version",
           "ingress_api_version", "label_value", "log_format", "log_level", "parse_duration", "port",
           "positive_duration", "positive_float", "rate"]

_N = TypeVar("_N", int, float)

LOG_LEVELS = {"trace": "debug", "debug": "debug", "info": "info", "warn": "warn", "warning": "warn",
              "error": "error", "fatal": "error", "panic": "error"}
"""logrus's level names (the reference parses --loglevel with logrus) mapped to the four we log at."""

def parse_duration(text: str) -> float:
    """Seconds from a Go duration ("10s", "1m30s", "500ms") or a plain number of seconds ("10", "2.5")."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = _go_duration(value)
    if not math.isfinite(seconds):
        raise ValueError(f"not a finite duration: {text!r}")
    return seconds


def _go_duration(value: str) -> float:
    seconds = parsing.go_duration_seconds(value)
    if seconds is None:
        raise ValueError(f"not a duration: {value!r} (use e.g. 10s, 1m30s, 500ms or a number of seconds)")
    return seconds


def positive_duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return seconds


_GO_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
             **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)}
"""strconv.ParseBool's words, which pflag accepts in --flag=value."""


def go_bool(text: str) -> bool:
    if text not in _GO_BOOLS:
        raise argparse.ArgumentTypeError(f"must be true or false, got {text!r}")
    return _GO_BOOLS[text]


def _number(convert: Callable[[str], _N], what: str, *, low: float, high: float = math.inf,
            low_included: bool = True) -> Callable[[str], _N]:
    def parse(text: str) -> _N:
        try:
            value = convert(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        above = low <= value if low_included else low < value
        if not (above and value <= high and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text.strip()}")
        return value

    return parse


def bounded_int(low: int, high: int | None, what: str) -> Callable[[str], int]:
    return _number(int, what, low=low, high=math.inf if high is None else high)


def positive_float(what: str) -> Callable[[str], float]:
    return _number(float, what, low=0.0, low_included=False)


port = bounded_int(0, 65535, "a port number from 0 to 65535")


def log_level(text: str) -> str:
    level = LOG_LEVELS.get(text.strip().lower())
    if level is None:
        raise argparse.ArgumentTypeError(f"must be one of debug, info, warn, error; got {text!r}")
    return level


def log_format(text: str) -> str:
    value = text.strip().lower()
    if value not in ("", "text", "json"):
        raise argparse.ArgumentTypeError(f"must be text or json, got {text!r}")
    return value or "text"


def address(text: str) -> tuple[str, int] | None:
    if text == "":
        return None
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT (or \"\" to turn it off), got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = port(port_text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} in {text!r}") from None
    return (host or "0.0.0.0", number)


_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def label_value(text: str) -> str:
    # It becomes a label selector value: an invalid one would only fail later, at the API server.
    if not _LABEL_VALUE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"must be a label value (up to 63 letters, digits, '-', '_' or '.', "
                                         f"starting and ending with a letter or digit), got {text!r}")
    return text


def endpoint_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"must be an http:// or https:// URL, got {text!r}")
    return text


def ingress_api_version(text: str) -> str:
    if text not in ("", "networking/v1", "extensions/v1beta1"):
        raise argparse.ArgumentTypeError(f"must be networking/v1 or extensions/v1beta1, got {text!r}")
    return text


def group_version(text: str) -> str:
    group, sep, version = text.partition("/")
    if not sep or not group or not version or "/" in version:
        raise argparse.ArgumentTypeError(f"must be GROUP/VERSION, got {text!r}")
    return text


rate = positive_float("more than 0 calls per second")
