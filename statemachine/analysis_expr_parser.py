"""Analysis conditions, part 2: the expr-language parser, from tokens to the syntax tree.

Room: plan (pure). A port of parser/parser.go of github.com/expr-lang/expr: its operator table and
precedences, unary operators binding looser than `**`, chained comparisons (`1 < x < 3`), `not in` style
negated operators, predicate arguments with or without braces, `#` and `.field` pointers inside predicates,
member, index and slice postfixes, optional chaining, and the ternary. Syntax errors carry expr's message and
`(line:column)`; valid expr we do not run (`let`, `if`, pipes, sequences, method calls) raises the
"unsupported" error.

Why hand-written rather than a grammar library such as lark: expr is not context free at the token level
(`not in` is one operator, `#`/`.field` are pointers only inside predicates, some builtins take closures
without braces, comparisons chain) and its users see expr's own error messages; porting expr's Pratt parser
keeps its precedences and messages exactly, with no new dependency.
"""

from __future__ import annotations

import math
from typing import Final

from statemachine.analysis_expr_syntax import (
    NEGATABLE,
    ArrayLit,
    Binary,
    Call,
    Chain,
    Conditional,
    ExprError,
    Literal,
    MapLit,
    Member,
    Name,
    Node,
    Pointer,
    Predicate,
    Slice,
    Token,
    Unary,
    lex,
    unsupported,
    where,
)

__all__ = ["BINARY", "PREDICATES", "UNARY", "parse"]

UNARY: Final = {"not": 50, "!": 50, "-": 90, "+": 90}
# operator: (precedence, right associative)
BINARY: Final = {
    "|": (0, False), "or": (10, False), "||": (10, False), "and": (15, False), "&&": (15, False),
    "==": (20, False), "!=": (20, False), "<": (20, False), ">": (20, False), ">=": (20, False),
    "<=": (20, False), "in": (20, False), "matches": (20, False), "contains": (20, False),
    "startsWith": (20, False), "endsWith": (20, False), "..": (25, False), "+": (30, False),
    "-": (30, False), "*": (60, False), "/": (60, False), "%": (60, False), "**": (100, True),
    "^": (100, True), "??": (500, False),
}
_COMPARISONS: Final = frozenset({"<", ">", ">=", "<="})
# expr's builtins taking (collection, predicate, ...): whether each argument after the collection is optional
PREDICATES: Final = {
    "all": (False,), "none": (False,), "any": (False,), "one": (False,), "filter": (False,), "map": (False,),
    "count": (True,), "sum": (True,), "find": (False,), "findIndex": (False,), "findLast": (False,),
    "findLastIndex": (False,), "groupBy": (False,), "sortBy": (False, True), "reduce": (False, True),
}


def parse(source: str) -> Node:
    """The syntax tree of `source`; raises ExprError for a syntax error or unsupported syntax."""
    try:
        return _Parser(source).parse()
    except RecursionError:
        raise ExprError(f'condition nests too deeply: "{source}"') from None


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.tokens = lex(source)
        self.i = 0
        self.depth = 0  # inside how many predicate arguments
        self.raise_lexing_error()

    @property
    def cur(self) -> Token:
        return self.tokens[self.i]

    def raise_lexing_error(self) -> None:
        if self.cur.kind == "Error":
            raise where(self.src, self.cur.pos, self.cur.value)

    def next(self) -> None:
        if self.cur.kind == "EOF":
            raise where(self.src, self.cur.pos, "unexpected end of expression")
        self.i += 1
        self.raise_lexing_error()

    def is_(self, kind: str, *values: str) -> bool:
        return self.cur.kind == kind and (not values or self.cur.value in values)

    def error(self, message: str, token: Token | None = None) -> ExprError:
        return where(self.src, (token or self.cur).pos, message)

    def unexpected(self) -> ExprError:
        return self.error(f"unexpected token {self.cur}")

    def expect(self, kind: str, value: str) -> None:
        if not self.is_(kind, value):
            raise self.unexpected()
        self.next()

    def no_sequence(self) -> None:
        if self.is_("Operator", ";"):
            raise unsupported('sequence ";"', self.src)

    def parse(self) -> Node:
        node = self.expression(0)
        self.no_sequence()
        if not self.is_("EOF"):
            raise self.unexpected()
        return node

    def expression(self, precedence: int) -> Node:
        if precedence == 0 and self.is_("Operator", "let", "if"):
            raise unsupported(f'"{self.cur.value}"', self.src)
        left = self.primary()
        previous = ""
        while self.is_("Operator"):
            op_token = self.cur
            negate = op_token.value == "not"
            if negate:
                back = self.i
                self.next()
                if self.cur.value not in NEGATABLE:
                    raise self.unexpected()
                if BINARY[self.cur.value][0] < precedence:
                    self.i = back
                    break
                op_token = self.cur
            if op_token.value not in BINARY or BINARY[op_token.value][0] < precedence:
                break
            op = op_token.value
            level, right_assoc = BINARY[op]
            self.next()
            if op == "|":
                raise unsupported('pipe operator "|"', self.src)
            if previous == "??" and op != "??":
                raise self.error(f"Operator ({op}) and coalesce expressions (??) cannot be mixed. "
                                 "Wrap either by parentheses.", op_token)
            if op in _COMPARISONS:
                left = self.comparison(left, op, level)
            else:
                left = Binary(op, left, self.expression(level if right_assoc else level + 1))
                if negate:
                    left = Unary("not", left)
            previous = op
        if precedence == 0:
            left = self.conditional(left)
        return left

    def comparison(self, left: Node, op: str, level: int) -> Node:
        """`a < b <= c` is `a < b && b <= c`, as in expr."""
        root: Node | None = None
        while True:
            right = self.expression(level + 1)
            node = Binary(op, left, right)
            root = node if root is None else Binary("&&", root, node)
            left = right
            if not self.is_("Operator", *_COMPARISONS):
                return root
            op = self.cur.value
            self.next()

    def conditional(self, node: Node) -> Node:
        while self.is_("Operator", "?"):
            self.next()
            if self.is_("Operator", ":"):
                raise unsupported('operator "?:"', self.src)
            then = self.expression(0)
            self.expect("Operator", ":")
            node = Conditional(node, then, self.expression(0))
        return node

    def primary(self) -> Node:
        token = self.cur
        if token.kind == "Operator" and token.value in UNARY:
            self.next()
            return self.postfix(Unary(token.value, self.expression(UNARY[token.value])))
        if self.is_("Bracket", "("):
            self.next()
            inner = self.expression(0)
            self.no_sequence()
            self.expect("Bracket", ")")
            return self.postfix(inner)
        if self.depth > 0 and self.is_("Operator", "#", "."):
            name = ""
            if token.value == "#":
                self.next()
                if self.is_("Identifier"):
                    name = self.cur.value
                    self.next()
            return self.postfix(Pointer(name))
        if self.is_("Operator", "::"):
            raise unsupported('operator "::"', self.src)
        return self.secondary()

    def secondary(self) -> Node:
        token = self.cur
        node: Node
        if token.kind == "Identifier":
            self.next()
            # expr returns these literals without postfix parsing, so `nil.x` is a syntax error
            if token.value in ("true", "false", "nil"):
                return Literal({"true": True, "false": False, "nil": None}[token.value])
            node = self.call(token.value) if self.is_("Bracket", "(") else Name(token.value)
        elif token.kind == "Number":
            self.next()
            return Literal(self.number(token))
        elif token.kind == "String":
            self.next()
            node = Literal(token.value)
        elif self.is_("Bracket", "["):
            node = ArrayLit(tuple(self.items("[", "]")))
        elif self.is_("Bracket", "{"):
            node = self.map_literal()
        else:
            raise self.unexpected()
        return self.postfix(node)

    def number(self, token: Token) -> int | float:
        text = token.value.replace("_", "")
        lower = text.lower()
        kinds = {"0x": ("hex", 16), "0b": ("binary", 2), "0o": ("octal", 8)}
        kind, base = kinds.get(lower[:2], ("integer", 10))
        if kind == "integer" and ("." in lower or "e" in lower):
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                problem = "invalid syntax" if math.isnan(number) else "value out of range"
                raise self.error(f'invalid float literal: strconv.ParseFloat: parsing "{text}": {problem}',
                                 token)
            return number
        try:
            value = int(text[2:] if base != 10 else text, base)
        except ValueError:
            raise self.error(f'invalid {kind} literal: strconv.ParseInt: parsing "{text}": invalid syntax',
                             token) from None
        if value > 2**63 - 1:
            raise self.error(
                f'invalid {kind} literal: strconv.ParseInt: parsing "{text}": value out of range', token)
        return value

    def items(self, opening: str, closing: str) -> list[Node]:
        self.expect("Bracket", opening)
        nodes: list[Node] = []
        while not self.is_("Bracket", closing):
            if nodes:
                self.expect("Operator", ",")
                if self.is_("Bracket", closing):
                    break
            nodes.append(self.expression(0))
        self.expect("Bracket", closing)
        return nodes

    def map_literal(self) -> Node:
        self.expect("Bracket", "{")
        pairs: list[tuple[Node, Node]] = []
        while not self.is_("Bracket", "}"):
            if pairs:
                self.expect("Operator", ",")
                if self.is_("Bracket", "}"):
                    break
                if self.is_("Operator", ","):
                    raise self.unexpected()
            key: Node
            if self.cur.kind in ("Number", "String", "Identifier"):
                key = Literal(self.cur.value)
                self.next()
            elif self.is_("Bracket", "("):
                key = self.expression(0)
            else:
                raise self.error("a map key must be a quoted string, a number, a identifier, or an "
                                 f"expression enclosed in parentheses (unexpected token {self.cur})")
            self.expect("Operator", ":")
            pairs.append((key, self.expression(0)))
        self.expect("Bracket", "}")
        return MapLit(tuple(pairs))

    def call(self, name: str) -> Node:
        if name not in PREDICATES:
            return Call(name, tuple(self.items("(", ")")))
        self.expect("Bracket", "(")
        shape = (False, *PREDICATES[name])
        args: list[Node] = []
        for index, optional in enumerate(shape):
            if self.is_("Bracket", ")"):
                if optional:
                    break
                raise self.error(f"expected at least {len(shape)} arguments")
            if index > 0:
                self.expect("Operator", ",")
            # the collection and sortBy/reduce's trailing argument are expressions, the rest predicates
            is_predicate = index == 1
            args.append(self.predicate() if is_predicate else self.expression(0))
        if self.is_("Operator", ","):
            self.next()
        self.expect("Bracket", ")")
        return Call(name, tuple(args))

    def predicate(self) -> Node:
        braces = self.is_("Bracket", "{")
        if braces:
            self.next()
        self.depth += 1
        body = self.expression(0)
        if self.is_("Operator", ";"):
            if not braces:
                raise self.error("wrap predicate with brackets { and }")
            self.no_sequence()
        self.depth -= 1
        if braces:
            self.expect("Bracket", "}")
        return Predicate(body)

    def postfix(self, node: Node) -> Node:
        chained = False
        while self.cur.kind in ("Operator", "Bracket"):
            token = self.cur
            optional = token.value == "?."
            following = self.tokens[self.i + 1] if optional else token
            if optional and following.kind == "Bracket" and following.value == "[":
                self.next()
                token = self.cur
            if token.value in (".", "?."):
                self.next()
                prop = self.cur
                self.next()
                if prop.kind != "Identifier" and not (prop.kind == "Operator" and prop.value.isidentifier()):
                    raise self.error("expected name")
                if self.is_("Bracket", "("):
                    raise unsupported(f'method call "{prop.value}"', self.src)
                node = Member(node, Literal(prop.value), optional)
            elif token.value == "[":
                self.next()
                start = None if self.is_("Operator", ":") else self.expression(0)
                if self.is_("Operator", ":"):
                    self.next()
                    stop = None if self.is_("Bracket", "]") else self.expression(0)
                    node = Slice(node, start, stop)
                else:
                    assert start is not None
                    node = Member(node, start, optional)
                self.expect("Bracket", "]")
            else:
                break
            chained = chained or optional
        return Chain(node) if chained else node
