"""Go `encoding/json` compatibility for the ALB annotations (the apply room's wire format).

Encodes exactly as Go marshals (compact, `<>&` escaped, map keys sorted by the caller) and decodes with
Go's error texts, so a value the reference wrote or rejected looks the same here. Never does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["GoJSONError", "dumps", "loads", "syntax_error"]


class GoJSONError(ValueError):
    """A value Go's `json.Unmarshal` would reject; `str()` is Go's error text."""


_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _clean(text: str) -> str:
    # Go strings cannot hold lone surrogates; Go writes U+FFFD for invalid UTF-8.
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def _sanitise(value: Any) -> Any:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(str(k)): _sanitise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_sanitise(v) for v in value]
    if isinstance(value, float):
        raise TypeError("floats are never written to ALB annotations")
    return value


def dumps(value: Any) -> str:
    """Go-JSON text of `value`: dict order is kept (sort Go maps before calling), no whitespace."""
    text = json.dumps(_sanitise(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # `<`, `>`, `&`, U+2028 and U+2029 can only occur inside JSON strings, so a plain replace is safe.
    for raw, escaped in _ESCAPES.items():
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def _quote_char(byte: int) -> str:
    """Go's `quoteChar`: how a byte is shown in a syntax error."""
    if byte == 0x27:
        return "'\\''"
    if byte == 0x22:
        return "'\"'"
    short = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 0x5C: "\\\\"}
    if byte in short:
        return f"'{short[byte]}'"
    if byte < 0x20 or byte == 0x7F:
        return f"'\\x{byte:02x}'"
    if 0x80 <= byte <= 0xA0 or byte == 0xAD:
        return f"'\\u{byte:04x}'"
    return f"'{chr(byte)}'"


def syntax_error(byte: int, context: str) -> GoJSONError:
    return GoJSONError(f"invalid character {_quote_char(byte)} {context}")


_SPACE = frozenset(b" \t\r\n")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")
_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}


class _Scanner:
    """A port of Go's scanner state machine: only the error it stops on matters."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.step: Callable[[int], None] = self.begin_value
        self.end_top = False
        self.literal = b""
        self.literal_pos = 0
        self.hex_left = 0

    # values
    def begin_value(self, c: int) -> None:
        if c in _SPACE:
            return
        if c == ord("{"):
            self.stack.append("key")
            self.step = self.begin_string_or_empty
        elif c == ord("["):
            self.stack.append("array")
            self.step = self.begin_value_or_empty
        elif c == ord('"'):
            self.step = self.in_string
        elif c == ord("-"):
            self.step = self.neg
        elif c == ord("0"):
            self.step = self.zero
        elif c in _DIGITS:
            self.step = self.one
        elif c in _LITERALS:
            self.literal, self.literal_pos = _LITERALS[c], 1
            self.step = self.in_literal
        else:
            raise syntax_error(c, "looking for beginning of value")

    def begin_value_or_empty(self, c: int) -> None:
        if c in _SPACE:
            return
        if c == ord("]"):
            self.end_value(c)
        else:
            self.begin_value(c)

    def begin_string_or_empty(self, c: int) -> None:
        if c in _SPACE:
            return
        if c == ord("}"):
            self.stack[-1] = "value"
            self.end_value(c)
        else:
            self.begin_string(c)

    def begin_string(self, c: int) -> None:
        if c in _SPACE:
            return
        if c != ord('"'):
            raise syntax_error(c, "looking for beginning of object key string")
        self.step = self.in_string

    def end_value(self, c: int) -> None:
        if not self.stack:
            self.step = self.end_top_step
            self.end_top = True
            self.end_top_step(c)
            return
        if c in _SPACE:
            self.step = self.end_value
            return
        top = self.stack[-1]
        if top == "key":
            if c != ord(":"):
                raise syntax_error(c, "after object key")
            self.stack[-1] = "value"
            self.step = self.begin_value
        elif top == "value":
            if c == ord(","):
                self.stack[-1] = "key"
                self.step = self.begin_string
            elif c == ord("}"):
                self.stack.pop()
                self.step = self.end_value
            else:
                raise syntax_error(c, "after object key:value pair")
        else:
            if c == ord(","):
                self.step = self.begin_value
            elif c == ord("]"):
                self.stack.pop()
                self.step = self.end_value
            else:
                raise syntax_error(c, "after array element")

    def end_top_step(self, c: int) -> None:
        if c not in _SPACE:
            raise syntax_error(c, "after top-level value")

    # strings
    def in_string(self, c: int) -> None:
        if c == ord('"'):
            self.step = self.end_value
        elif c == ord("\\"):
            self.step = self.in_string_escape
        elif c < 0x20:
            raise syntax_error(c, "in string literal")

    def in_string_escape(self, c: int) -> None:
        if c in b'bfnrt\\/"':
            self.step = self.in_string
        elif c == ord("u"):
            self.hex_left = 4
            self.step = self.in_unicode_escape
        else:
            raise syntax_error(c, "in string escape code")

    def in_unicode_escape(self, c: int) -> None:
        if c not in _HEX:
            raise syntax_error(c, "in \\u hexadecimal character escape")
        self.hex_left -= 1
        if self.hex_left == 0:
            self.step = self.in_string

    # numbers
    def neg(self, c: int) -> None:
        if c == ord("0"):
            self.step = self.zero
        elif c in _DIGITS:
            self.step = self.one
        else:
            raise syntax_error(c, "in numeric literal")

    def one(self, c: int) -> None:
        if c in _DIGITS:
            return
        self.zero(c)

    def zero(self, c: int) -> None:
        if c == ord("."):
            self.step = self.dot
        elif c in b"eE":
            self.step = self.exponent
        else:
            self.end_value(c)

    def dot(self, c: int) -> None:
        if c not in _DIGITS:
            raise syntax_error(c, "after decimal point in numeric literal")
        self.step = self.dot_digits

    def dot_digits(self, c: int) -> None:
        if c in _DIGITS:
            return
        if c in b"eE":
            self.step = self.exponent
        else:
            self.end_value(c)

    def exponent(self, c: int) -> None:
        if c in b"+-":
            self.step = self.exponent_sign
        else:
            self.exponent_sign(c)

    def exponent_sign(self, c: int) -> None:
        if c not in _DIGITS:
            raise syntax_error(c, "in exponent of numeric literal")
        self.step = self.exponent_digits

    def exponent_digits(self, c: int) -> None:
        if c not in _DIGITS:
            self.end_value(c)

    # true / false / null
    def in_literal(self, c: int) -> None:
        expected = self.literal[self.literal_pos]
        if c != expected:
            word = self.literal.decode()
            raise syntax_error(c, f"in literal {word} (expecting '{chr(expected)}')")
        self.literal_pos += 1
        if self.literal_pos == len(self.literal):
            self.step = self.end_value


def _check_valid(data: bytes) -> None:
    scanner = _Scanner()
    for byte in data:
        scanner.step(byte)
    if scanner.end_top:
        return
    # Go feeds one space at EOF: a literal cut short reports that space, anything else "unexpected end".
    scanner.step(0x20)
    if not scanner.end_top:
        raise GoJSONError("unexpected end of JSON input")


def loads(text: str) -> Any:
    """Parse like Go: Go's syntax error texts, no NaN/Infinity, lone surrogates become U+FFFD."""
    _check_valid(text.encode("utf-8", "surrogatepass"))
    return _sanitise_loaded(json.loads(text))


def _sanitise_loaded(value: Any) -> Any:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(k): _sanitise_loaded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitise_loaded(v) for v in value]
    return value
