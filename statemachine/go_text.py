"""Go's text formats, as the reference prints them: strconv.Quote, apimachinery field errors, durations.

Room: plan (pure). Parsing, validation and the analysis checks share them, so their messages match.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["field_error", "go_duration_seconds", "go_quote", "parse_duration_seconds"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


_GO_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                     "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Go's `%q` (strconv.Quote): printable runes kept, the rest escaped as \\n, \\x01, \\u00ad, …"""
    out = []
    for char in text:
        if "\ud800" <= char <= "\udfff":
            char = "\ufffd"  # Go decodes a lone surrogate escape as U+FFFD
        code = ord(char)
        if char in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _go_value(value: Any) -> str:
    """Render a value the way apimachinery's field.Invalid does (strings quoted, lists Go-style)."""
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value) if isinstance(value, int | float) else json.dumps(value, sort_keys=True, default=str)


def field_error(path: str, kind: str, value: Any = None, detail: str = "") -> str:
    """Format one field error like apimachinery: `<path>: <kind>: <value>: <detail>`."""
    if kind == "Invalid value":
        return f"{path}: {kind}: {_go_value(value)}: {detail}"
    return f"{path}: {kind}: {detail}"


def go_duration_seconds(text: str) -> float | None:
    """Seconds in a Go duration string ("30s", "1h30m", "-500ms", "0"), as time.ParseDuration reads it."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    if body[:1] in ("+", "-"):
        body = body[1:]
    if body == "0":
        return 0.0
    if not body or _DURATION_PART.sub("", body) != "":
        return None
    return sign * sum(float(num) * _UNIT_SECONDS[unit] for num, unit in _DURATION_PART.findall(body))


def parse_duration_seconds(value: str | int) -> int | None:
    """Whole seconds in an int or a duration string ("30s", "1h30m", "45"); None when unparsable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    seconds = go_duration_seconds(text)
    return None if seconds is None else int(seconds)

