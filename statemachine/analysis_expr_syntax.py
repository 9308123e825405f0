"""Analysis conditions, part 1: the expr-language syntax tree, errors and lexer.

Room: plan (pure). statemachine/analysis_expr_parser.py builds the tree from these tokens;
statemachine/analysis_expr.py checks and evaluates it. The lexer is a port of parser/lexer of
github.com/expr-lang/expr, the language the reference controller evaluates `successCondition` /
`failureCondition` with: the same tokens, keywords, number and string forms, and error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "NEGATABLE", "ArrayLit", "Binary", "Call", "Chain", "Conditional", "ExprError", "Literal", "MapLit",
    "Member", "Name", "Node", "Pointer", "Predicate", "Slice", "Token", "Unary", "lex", "unsupported",
    "where",
]


class ExprError(ValueError):
    """A condition that cannot be parsed, checked or evaluated; the message names the construct or place."""


def unsupported(what: str, source: str) -> ExprError:
    """The error for valid expr we deliberately do not implement."""
    return ExprError(f'unsupported {what} in condition "{source}"')


@dataclass(frozen=True, slots=True)
class Literal:
    value: object


@dataclass(frozen=True, slots=True)
class ArrayLit:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MapLit:
    pairs: tuple[tuple[Node, Node], ...]


@dataclass(frozen=True, slots=True)
class Name:
    name: str


@dataclass(frozen=True, slots=True)
class Pointer:
    """`#` (name "") or `#index` inside a predicate; `.field` is `#.field`."""

    name: str


@dataclass(frozen=True, slots=True)
class Member:
    target: Node
    key: Node
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Chain:
    """Bounds an optional chain `a?.b.c`: a nil before `?.` makes the whole chain nil."""

    node: Node


@dataclass(frozen=True, slots=True)
class Slice:
    target: Node
    start: Node | None
    stop: Node | None


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Conditional:
    test: Node
    then: Node
    other: Node


@dataclass(frozen=True, slots=True)
class Predicate:
    body: Node


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]


Node = (Literal | ArrayLit | MapLit | Name | Pointer | Member | Chain | Slice | Unary | Binary | Conditional
        | Predicate | Call)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # Identifier, Number, String, Operator, Bracket, EOF; "Error" carries a lexing error
    value: str
    pos: int

    def __str__(self) -> str:
        return self.kind if not self.value else f"{self.kind}({_go_quote(self.value)})"


_KEYWORDS: Final = frozenset({"in", "or", "and", "matches", "contains", "startsWith", "endsWith", "let",
                              "if", "else"})
NEGATABLE: Final = frozenset({"contains", "matches", "startsWith", "endsWith", "in"})
_ESCAPES: Final = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_HEX: Final = "0123456789abcdefABCDEF"
# what may follow a first operator rune to make a two-rune operator (expr's lexer, state.go)
_FOLLOW: Final = {"?": ".?", "|": "|", ":": ":", ".": ".", "&": "&=*", "!": "&=*", "=": "&=*", "*": "&=*",
                  "<": "&=*", ">": "&=*"}


def _go_quote(text: str) -> str:
    """Go's %#v of a string, as expr prints tokens."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _digit(char: str) -> bool:
    return "0" <= char <= "9" and char != ""


def _alnum(char: str) -> bool:
    return char != "" and (char in "_$" or char.isalpha() or char.isdecimal())


def where(source: str, pos: int, message: str) -> ExprError:
    """expr's `message (line:column)` for an error at rune offset `pos`."""
    before = source[:pos]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return ExprError(f"{message} ({line}:{column})")


def lex(source: str) -> list[Token]:
    """The tokens of `source`, ending with EOF or with an "Error" token that the parser raises on reaching."""
    return _Lexer(source).lex()


class _Lexer:
    def __init__(self, source: str) -> None:
        self.src = source
        self.i = 0
        self.tokens: list[Token] = []

    def peek(self) -> str:
        return self.src[self.i] if self.i < len(self.src) else ""

    def accept(self, chars: str) -> bool:
        if self.peek() != "" and self.peek() in chars:
            self.i += 1
            return True
        return False

    def run(self, chars: str) -> None:
        while self.accept(chars):
            pass

    def run_word(self) -> None:
        while _alnum(self.peek()):
            self.i += 1

    def emit(self, kind: str, start: int, value: str | None = None) -> None:
        self.tokens.append(Token(kind, self.src[start:self.i] if value is None else value, start))

    def fail(self, message: str, pos: int) -> None:
        self.tokens.append(Token("Error", message, pos))

    def lex(self) -> list[Token]:
        while not self.tokens or self.tokens[-1].kind not in ("EOF", "Error"):
            start = self.i
            char = self.peek()
            self.i += 1
            if char == "":
                self.tokens.append(Token("EOF", "", max(len(self.src) - 1, 0)))
            elif char.isspace():
                continue
            elif char in "'\"":
                self.string(char, start)
            elif char == "`":
                self.raw_string(start)
            elif _digit(char) or (char == "." and _digit(self.peek())):
                self.number(start)
            elif char == "/" and self.peek() in ("/", "*"):
                self.comment()
            elif char == "#":
                self.accept("#")
                self.emit("Operator", start)
                word = self.i
                self.run_word()
                if self.i > word:
                    self.emit("Identifier", word)
            elif _alnum(char):
                self.i -= 1
                self.identifier()
            elif char in "([{)]}":
                self.emit("Bracket", start)
            elif char in _FOLLOW or char in ",;%+-^/":
                self.accept(_FOLLOW.get(char, ""))
                self.emit("Operator", start)
            else:
                self.fail(f"unrecognized character: U+{ord(char):04X} '{char}'", start)
        return self.tokens

    def identifier(self) -> None:
        start = self.i
        self.run_word()
        word = self.src[start:self.i]
        self.emit("Operator" if word in _KEYWORDS or word == "not" else "Identifier", start)
        if word != "not":
            return
        # `not in`, `not contains`, ... lex as two operators the parser joins
        back = self.i
        while self.peek() != "" and self.peek().isspace():
            self.i += 1
        following = self.i
        self.run_word()
        if self.src[following:self.i] in NEGATABLE:
            self.emit("Operator", following)
        else:
            self.i = back

    def comment(self) -> None:
        if self.src[self.i] == "/":
            end = self.src.find("\n", self.i)
            self.i = len(self.src) if end == -1 else end + 1
            return
        end = self.src.find("*/", self.i + 1)
        if end == -1:
            self.fail("unclosed comment", len(self.src))
        self.i = len(self.src) if end == -1 else end + 2

    def number(self, start: int) -> None:
        self.i = start + (1 if self.src[start] == "." else 0)
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = _HEX + "_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.run(digits)
        end = self.i
        if self.accept("."):
            if self.peek() == ".":  # `1..2` is a range
                self.i = end
                self.emit("Number", start)
                return
            self.run(digits)
        if self.accept("eE"):
            self.accept("+-")
            self.run(digits)
        if _alnum(self.peek()):
            self.i += 1
            self.fail(f"bad number syntax: {_go_quote(self.src[start:self.i])}", self.i - 1)
            return
        self.emit("Number", start)

    def raw_string(self, start: int) -> None:
        end = self.src.find("`", self.i)
        while end != -1 and self.src[end + 1:end + 2] == "`":
            end = self.src.find("`", end + 2)
        if end == -1:
            self.fail("literal not terminated", len(self.src))
            return
        text = self.src[self.i:end].replace("``", "`")
        self.i = end + 1
        self.emit("String", start, text)

    def string(self, quote: str, start: int) -> None:
        out: list[str] = []
        while True:
            char = self.peek()
            self.i += 1
            if char in ("", "\n"):
                self.fail("literal not terminated", self.i - 1)
                return
            if char == quote:
                self.emit("String", start, "".join(out))
                return
            if char != "\\":
                out.append(char)
                continue
            escaped = self.escape(quote)
            if escaped is None:
                self.fail("invalid char escape", self.i - 1)
                return
            out.append(escaped)

    def escape(self, quote: str) -> str | None:
        char = self.peek()
        self.i += 1
        if char != "" and (char in _ESCAPES or char == quote):
            return _ESCAPES.get(char, char)
        if char == "u" and self.peek() == "{":
            end = self.src.find("}", self.i)
            text = self.src[self.i + 1:end] if end != -1 else ""
            if not 0 < len(text) <= 6 or any(c not in _HEX for c in text) or int(text, 16) > 0x10FFFF:
                return None
            self.i = end + 1
            return chr(int(text, 16))
        widths = {"x": (_HEX, 2), "u": (_HEX, 4), "U": (_HEX, 8)}
        if char != "" and char in "01234567":
            self.i -= 1
            valid, width = "01234567", 3
        elif char != "" and char in widths:
            valid, width = widths[char]
        else:
            return None
        text = self.src[self.i:self.i + width]
        if len(text) != width or any(c not in valid for c in text):
            return None
        code = int(text, 8 if width == 3 else 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        self.i += width
        return chr(code)
