"""Analysis conditions, part 5: the static check expr runs before evaluating a condition.

Room: plan (pure). statemachine/analysis_expr.py runs it once per condition and kind of `result`. A port of
the parts of checker/checker.go of github.com/expr-lang/expr that matter to conditions: unknown names,
unsupported functions, argument counts and kinds, predicate scopes (`#`, `#index` only in `map`), and
mismatched operand types when both types are known. A type is a Go type name ("int", "float64", "string",
"bool", "nil", "[]interface {}", "map[string]interface {}") or None when unknown; like expr, the reference
types `result` by the value it holds, so `result == "x"` on a number fails here rather than being false.
"""

from __future__ import annotations

import re
from typing import Final

from statemachine.analysis_expr_functions import PREDICATE_FUNCTIONS, SIGNATURES, UNSUPPORTED
from statemachine.analysis_expr_parser import PREDICATES
from statemachine.analysis_expr_syntax import (
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
    Unary,
    unsupported,
)

__all__ = ["ARRAY", "MAP", "Nature", "check_tree", "nature_of"]

Nature = str | None
ARRAY: Final = "[]interface {}"
MAP: Final = "map[string]interface {}"
_NUMERIC: Final = frozenset({"int", "int64", "float64"})
_INTEGER: Final = frozenset({"int", "int64"})


def nature_of(value: object) -> Nature:
    """The type expr gives a value in its environment (`result`) or a literal."""
    if value is None:
        return "nil"
    kinds = ((bool, "bool"), (int, "int"), (float, "float64"), (str, "string"), (list | tuple, ARRAY),
             (dict, MAP))
    return next((name for kind, name in kinds if isinstance(value, kind)), None)


def check_tree(tree: Node, source: str, result: Nature) -> Nature:
    """The type of `tree` with `result` of type `result`; raises ExprError as expr's checker would."""
    return _Checker(source, result).visit(tree)


def _array(nature: Nature) -> bool:
    return nature is not None and nature.startswith("[]")


def _elem(nature: Nature) -> Nature:
    return nature[2:] if _array(nature) and nature != ARRAY else None  # type: ignore[index]


def _label(nature: Nature) -> str:
    return "unknown" if nature is None else nature


def _maybe(left: Nature, right: Nature, kinds: frozenset[str]) -> bool:
    """expr's MaybeCompatible: unknown on one side and one of `kinds` (or unknown) on the other."""
    return (left is None and (right is None or right in kinds)) or (right is None and left in kinds)


def _comparable(left: Nature, right: Nature) -> bool:
    return (None in (left, right) or "nil" in (left, right) or (left in _NUMERIC and right in _NUMERIC)
            or (_array(left) and _array(right)) or left == right)


def _promote(left: Nature, right: Nature) -> Nature:
    if left is None or right is None:
        return None
    return "float64" if "float64" in (left, right) else "int"


def _binary(op: str, left: Nature, right: Nature, node: Binary) -> Nature:
    """The result type of `left op right`, following checker.binaryNode; "" means mismatched."""
    numbers, strings, integers = _NUMERIC, frozenset({"string"}), _INTEGER
    if op in ("==", "!="):
        return "bool" if _comparable(left, right) else ""
    if op in ("or", "||", "and", "&&"):
        return "bool" if (left == right == "bool") or _maybe(left, right, frozenset({"bool"})) else ""
    if op in ("<", ">", "<=", ">="):
        ordered = (left in numbers and right in numbers) or left == right == "string"
        return "bool" if ordered or _maybe(left, right, numbers | strings) else ""
    if op in ("-", "*", "+"):
        if left in numbers and right in numbers:
            return _promote(left, right)
        if op == "+" and left == right == "string":
            return "string"
        return None if _maybe(left, right, numbers | (strings if op == "+" else frozenset())) else ""
    if op in ("/", "**", "^"):
        return "float64" if (left in numbers and right in numbers) or _maybe(left, right, numbers) else ""
    if op == "%":
        return "int" if (left in integers and right in integers) or _maybe(left, right, integers) else ""
    if op == "..":
        return "[]int" if (left in integers and right in integers) or _maybe(left, right, integers) else ""
    if op == "in":
        if right == MAP:
            if left not in (None, "string"):
                raise ExprError(f"cannot use {_label(left)} as type string in map key")
            return "bool"
        if _array(right):
            if not _comparable(left, _elem(right)):
                raise ExprError(f"cannot use {_label(left)} as type {_label(_elem(right))} in array")
            return "bool"
        return "bool" if right is None or (left is None and right == "string") else ""
    if op == "??":
        if left == "nil" or right == "nil":
            return right if left == "nil" else left
        return left if left == right else None
    # matches, contains, startsWith, endsWith
    if op == "matches" and isinstance(node.right, Literal) and isinstance(node.right.value, str):
        try:
            re.compile(node.right.value)
        except re.error as exc:
            raise ExprError(f"error parsing regexp: {exc}") from None
    return "bool" if left == right == "string" or _maybe(left, right, strings) else ""


class _Checker:
    def __init__(self, source: str, result: Nature) -> None:
        self.src = source
        self.result = result
        self.scopes: list[tuple[Nature, bool]] = []  # (collection, has #index)

    def visit(self, node: Node) -> Nature:
        match node:
            case Literal(value):
                return nature_of(value)
            case ArrayLit(items):
                for item in items:
                    self.visit(item)
                return ARRAY
            case MapLit(pairs):
                for key, value in pairs:
                    self.visit(key)
                    self.visit(value)
                return MAP
            case Name(name):
                return self.name(name)
            case Pointer(name):
                return self.pointer(name)
            case Member(target, key):
                return self.member(self.visit(target), self.visit(key), key)
            case Chain(inner):
                return self.visit(inner)
            case Slice(target, start, stop):
                return self.slice(target, start, stop)
            case Unary(op, operand):
                return self.unary(op, self.visit(operand))
            case Binary(op, left, right):
                left_nature, right_nature = self.visit(left), self.visit(right)
                nature = _binary(op, left_nature, right_nature, node)
                if nature == "":
                    raise ExprError(f"invalid operation: {op} (mismatched types {_label(left_nature)} and "
                                    f"{_label(right_nature)})")
                return nature
            case Conditional(test, then, other):
                condition = self.visit(test)
                if condition not in (None, "bool"):
                    raise ExprError(f"non-bool expression (type {condition}) used as condition")
                first, second = self.visit(then), self.visit(other)
                return second if first == "nil" else first if second == "nil" or first == second else None
            case Call(name, args):
                return self.call(name, args)
            case Predicate(body):
                return self.visit(body)
        raise AssertionError(node)  # pragma: no cover

    def name(self, name: str) -> Nature:
        if name == "result":
            return self.result
        if name in SIGNATURES:
            raise unsupported(f'function value "{name}"', self.src)
        raise ExprError(f"unknown name {name}")

    def pointer(self, name: str) -> Nature:
        if not self.scopes:
            raise ExprError("cannot use pointer accessor outside predicate")
        collection, has_index = self.scopes[-1]
        if name == "":
            return _elem(collection)
        if name == "index" and has_index:
            return "int"
        raise ExprError(f"unknown pointer #{name}")

    def member(self, base: Nature, prop: Nature, key: Node) -> Nature:
        field = key.value if isinstance(key, Literal) and isinstance(key.value, str) else None
        if base is None:
            return None
        if base == "nil" and field is not None:
            raise ExprError(f"type nil has no field {field}")
        if base == MAP:
            if prop not in (None, "string"):
                raise ExprError(f"cannot use {_label(prop)} to get an element from {base}")
            return None
        if _array(base):
            if prop not in (None, *_INTEGER):
                raise ExprError(f"array elements can only be selected using an integer (got {_label(prop)})")
            return _elem(base)
        if field is not None:
            raise ExprError(f"type {base} has no field {field}")
        raise ExprError(f"type {base}[{_label(prop)}] is undefined")

    def slice(self, target: Node, start: Node | None, stop: Node | None) -> Nature:
        base = self.visit(target)
        if base is None:
            return None
        if base != "string" and not _array(base):
            raise ExprError(f"cannot slice {base}")
        for bound in (start, stop):
            nature = None if bound is None else self.visit(bound)
            if nature not in (None, *_INTEGER):
                raise ExprError(f"non-integer slice index {nature}")
        return base

    def unary(self, op: str, operand: Nature) -> Nature:
        if op in ("!", "not") and operand in (None, "bool"):
            return "bool"
        if op in ("+", "-") and (operand is None or operand in _NUMERIC):
            return operand
        raise ExprError(f"invalid operation: {op} (mismatched type {_label(operand)})")

    def call(self, name: str, args: tuple[Node, ...]) -> Nature:
        if name in UNSUPPORTED or (name in PREDICATES and name not in PREDICATE_FUNCTIONS):
            raise unsupported(f'function "{name}"', self.src)
        if name in PREDICATE_FUNCTIONS:
            return self.predicate_call(name, args)
        if name == "result":
            raise ExprError(f"{_label(self.result)} is not callable")
        if name not in SIGNATURES:
            raise ExprError(f"unknown name {name}")
        return self.signature_call(name, [self.visit(arg) for arg in args])

    def predicate_call(self, name: str, args: tuple[Node, ...]) -> Nature:
        collection = self.visit(args[0])
        if collection is not None and not _array(collection):
            raise ExprError(f"builtin {name} takes only array (got {collection})")
        self.scopes.append((collection, name == "map"))
        body = self.visit(args[1]) if len(args) > 1 else _elem(collection)
        self.scopes.pop()
        if name not in ("map", "sum") and body not in (None, "bool"):
            raise ExprError(f"predicate should return boolean (got {body})")
        returns: dict[str, Nature] = {
            "filter": collection or ARRAY, "map": ARRAY, "count": "int", "sum": None, "findIndex": "int",
            "findLastIndex": "int", "find": _elem(collection), "findLast": _elem(collection),
        }
        return returns.get(name, "bool")

    def signature_call(self, name: str, natures: list[Nature]) -> Nature:
        sig = SIGNATURES[name]
        count = len(natures)
        if sig.style == "builtin" and count != 1:
            raise ExprError(f"invalid number of arguments (expected 1, got {count})")
        if count < sig.low:
            raise ExprError(f"not enough arguments to call {name}")
        if sig.high != -1 and count > sig.high:
            raise ExprError(f"too many arguments to call {name}")
        if sig.style == "aggregate":
            for nature in natures:
                if nature is None or _array(nature):
                    return None
                if nature not in _NUMERIC:
                    raise ExprError(f"invalid argument for {name} (type {self.go_label(nature)})")
            return natures[0]
        for nature, param in zip(natures, sig.params, strict=False):
            self.argument(name, sig.style, param, nature)
        return natures[0] if sig.returns == "same" else sig.returns

    @staticmethod
    def go_label(nature: Nature) -> str:
        return "<nil>" if nature == "nil" else _label(nature)

    def argument(self, name: str, style: str, param: str, nature: Nature) -> None:
        accepted = {
            "any": True, "float64": nature in _NUMERIC, "string": nature == "string",
            "length": nature in ("string", MAP) or _array(nature), "number": nature in _NUMERIC,
            "number|string": nature in _NUMERIC or nature == "string", "array": _array(nature),
        }
        if nature is None or accepted[param]:
            return
        if style == "env":
            if nature == "nil":
                raise ExprError(f"cannot use nil as argument (type {param}) to call {name}")
            # expr's message ends with a space
            raise ExprError(f"cannot use {nature} as argument (type {param}) to call {name} ")
        if param == "array":
            raise ExprError(f"cannot get {name} element from {self.go_label(nature)}")
        raise ExprError(f"invalid argument for {name} (type {self.go_label(nature)})")
