"""Analysis conditions: evaluate a metric's `successCondition` / `failureCondition` safely.

Room: plan (pure). The analysis run code asks `measurement_phase` what a measurement's value means and spec
validation asks `check` whether a condition is usable. The reference controller compiles conditions with the
expr language (github.com/expr-lang/expr) in utils/evaluate/evaluate.go; this is a port of the part of expr
that conditions use, never Python's eval: analysis_expr_syntax.py and analysis_expr_parser.py parse (a
hand-written Pratt parser, the reason is in the parser's docstring), analysis_expr_check.py runs expr's
static check with `result` typed by its value, this module walks the tree over analysis_expr_values.py and
analysis_expr_functions.py. Parsing and checking are cached because the same conditions run every interval.
Errors are ExprError with expr's message; valid expr that we do not run is named "unsupported".
"""

from __future__ import annotations

import functools
from typing import Final

from statemachine.analysis_expr_check import Nature, check_tree, nature_of
from statemachine.analysis_expr_functions import FUNCTIONS, PREDICATE_FUNCTIONS
from statemachine.analysis_expr_parser import parse
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
)
from statemachine.analysis_expr_values import (
    arithmetic,
    compare,
    equal,
    fetch,
    go_type,
    make_range,
    negate,
    require_bool,
    require_string,
    slice_of,
    string_op,
    within,
)

__all__ = ["ExprError", "check", "condition", "evaluate", "measurement_phase"]

_ORDERING: Final = frozenset({"<", ">", "<=", ">="})
_STRING_OPS: Final = frozenset({"contains", "startsWith", "endsWith", "matches"})


@functools.lru_cache(maxsize=1024)
def _parsed(expression: str) -> Node:
    return parse(expression)


@functools.lru_cache(maxsize=1024)
def _checked(expression: str, result: Nature) -> Node:
    tree = _parsed(expression)
    check_tree(tree, expression, result)
    return tree


def check(expression: str) -> None:
    """Raise ExprError if `expression` does not parse or cannot work whatever `result` holds."""
    _checked(expression, None)


def evaluate(expression: str, result: object) -> object:
    """The value of `expression` with `result` bound to the measurement's value."""
    tree = _checked(expression, nature_of(result))
    try:
        return _Evaluator(result).eval(tree)
    except RecursionError:
        raise ExprError(f'condition nests too deeply: "{expression}"') from None
    except OverflowError as exc:
        raise ExprError(str(exc)) from None


def condition(expression: str, result: object) -> bool:
    """Evaluate `expression` and require a bool, as the reference's EvalCondition does."""
    value = evaluate(expression, result)
    if isinstance(value, bool):
        return value
    raise ExprError(f"expected bool, but got {go_type(value)}")


def measurement_phase(result: object, success: str, failure: str) -> str:
    """The reference's EvaluateResult: "Successful", "Failed" or "Inconclusive"; ExprError means Error."""
    succeeded = _evaluated("successCondition", success, result) if success else False
    failed = _evaluated("failureCondition", failure, result) if failure else False
    if not success and not failure:
        return "Successful"
    if not failure:
        # without a failureCondition, not succeeding is failing
        failed = not succeeded
    elif not success:
        succeeded = not failed
    if failed:
        return "Failed"
    return "Successful" if succeeded else "Inconclusive"


def _evaluated(kind: str, expression: str, result: object) -> bool:
    try:
        return condition(expression, result)
    except ExprError as exc:
        if result is None or (isinstance(result, list | tuple) and not result):
            raise ExprError(f'could not evaluate {kind} "{expression}": metric result is nil or empty: '
                            "no data returned from the metric provider") from exc
        raise ExprError(f'could not evaluate {kind} "{expression}": {exc}') from exc


class _ShortCircuit(Exception):
    """An optional access (`?.`) met nil: its whole chain is nil."""


class _Evaluator:
    __slots__ = ("result", "scopes")

    def __init__(self, result: object) -> None:
        self.result = result
        self.scopes: list[tuple[object, int]] = []  # the innermost predicate's element and index last

    def eval(self, node: Node) -> object:
        match node:
            case Literal(value):
                return value
            case ArrayLit(items):
                return [self.eval(item) for item in items]
            case MapLit(pairs):
                return {require_string(self.eval(key)): self.eval(value) for key, value in pairs}
            case Name():
                return self.result  # the checker lets no other name through
            case Pointer(name):
                item, index = self.scopes[-1]
                return index if name == "index" else item
            case Member(target, key, optional):
                base = self.eval(target)
                if optional and base is None:
                    raise _ShortCircuit
                return fetch(base, self.eval(key))
            case Chain(inner):
                try:
                    return self.eval(inner)
                except _ShortCircuit:
                    return None
            case Slice(target, start, stop):
                base = self.eval(target)
                return slice_of(base, None if start is None else self.eval(start),
                                None if stop is None else self.eval(stop))
            case Unary(op, operand):
                value = self.eval(operand)
                if op in ("!", "not"):
                    return not require_bool(value)
                return negate(value) if op == "-" else value
            case Binary(op, left, right):
                return self.binary(op, left, right)
            case Conditional(test, then, other):
                return self.eval(then) if require_bool(self.eval(test)) else self.eval(other)
            case Call(name, args):
                if name in PREDICATE_FUNCTIONS:
                    return self.predicate(name, args)
                return FUNCTIONS[name][1](tuple(self.eval(arg) for arg in args), self.result)
            case Predicate(body):
                return self.eval(body)
        raise AssertionError(node)  # pragma: no cover

    def binary(self, op: str, left_node: Node, right_node: Node) -> object:
        left = self.eval(left_node)
        # expr checks only the left side of `&&` / `||` (a non-bool right side is the value)
        if op in ("&&", "and"):
            return self.eval(right_node) if require_bool(left) else False
        if op in ("||", "or"):
            return True if require_bool(left) else self.eval(right_node)
        if op == "??":
            return left if left is not None else self.eval(right_node)
        right = self.eval(right_node)
        if op in ("==", "!="):
            return equal(left, right) == (op == "==")
        if op in _ORDERING:
            return compare(op, left, right)
        if op == "in":
            return within(left, right)
        if op in _STRING_OPS:
            return string_op(op, left, right)
        if op == "..":
            return make_range(left, right)
        return arithmetic(op, left, right)

    def predicate(self, name: str, args: tuple[Node, ...]) -> object:
        """all, any, none, one, filter, map, count, sum, find, findIndex, findLast, findLastIndex."""
        collection = self.eval(args[0])
        if not isinstance(collection, list | tuple):
            raise ExprError(f"builtin {name} takes only array (got {go_type(collection)})")
        body = args[1] if len(args) > 1 else None

        def apply(index: int, item: object) -> object:
            if body is None:
                return item
            self.scopes.append((item, index))
            try:
                return self.eval(body)
            finally:
                self.scopes.pop()

        items = list(enumerate(collection))
        if name == "map":
            return [apply(index, item) for index, item in items]
        if name == "sum":
            total: object = 0
            for index, item in items:
                total = arithmetic("+", total, apply(index, item))
            return total
        if name in ("findLast", "findLastIndex"):
            items.reverse()
        if name in ("all", "any", "none", "find", "findIndex", "findLast", "findLastIndex"):
            # these stop at the first element that decides them
            for index, item in items:
                if require_bool(apply(index, item)) != (name == "all"):
                    return {"all": False, "any": True, "none": False, "find": item, "findLast": item}.get(
                        name, index)
            return {"all": True, "any": False, "none": True}.get(name, -1 if name.endswith("Index") else None)
        hits = [item for index, item in items if require_bool(apply(index, item))]
        return {"one": len(hits) == 1, "count": len(hits)}.get(name, hits)
