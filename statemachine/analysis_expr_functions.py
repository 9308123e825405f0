"""Analysis conditions, part 4: the functions a condition may call, with their call signatures.

Room: plan (pure). statemachine/analysis_expr_check.py validates calls against SIGNATURES and
statemachine/analysis_expr.py runs FUNCTIONS. Two families, as in the reference controller
(utils/evaluate/evaluate.go): the environment's own `asInt`, `asFloat`, `isNaN`, `isInf`, `isNil` and
`default` (the last two look at `result` itself, whatever argument they are given), and the plain builtins
of github.com/expr-lang/expr (builtin/) that conditions use: `len`, `abs`, `ceil`, `floor`, `round`, `int`,
`float`, `string`, `type`, `upper`, `lower`, `trim`, `first`, `last`, `max`, `min`, `mean`, `median`.
The predicate builtins (`all`, `map`, ...) run in the evaluator since they take closures. Other expr builtins
(`date`, `now`, `split`, ...) are UNSUPPORTED and rejected by name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from statemachine.analysis_expr_syntax import ExprError
from statemachine.analysis_expr_values import (
    MIN_INT64,
    compare,
    go_format,
    go_type,
    is_number,
    require_string,
)

__all__ = ["FUNCTIONS", "PREDICATE_FUNCTIONS", "SIGNATURES", "UNSUPPORTED", "Signature"]

Function = Callable[[tuple[object, ...], object], object]  # (arguments, result) -> value

_GO_INT: Final = re.compile(r"[+-]?[0-9]+")
_GO_FLOAT: Final = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
                              re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Signature:
    """How expr's checker validates a call: its message style, arity, each argument's kind and the result."""

    style: str  # "env" (checkArguments), "builtin" (a Validate func), "aggregate" (validateAggregateFunc)
    low: int
    high: int  # -1: variadic
    params: tuple[str, ...]  # any, float64, string, length, number, number|string, array
    returns: str | None  # a Go type name, "same" (the first argument's), or None for unknown


def _parse_int(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64); None for a syntax error, ValueError when out of range."""
    if not _GO_INT.fullmatch(text):
        return None
    value = int(text)
    if not MIN_INT64 <= value < 2**63:
        raise ValueError("value out of range")
    return value


def _parse_float(text: str) -> float | None:
    """Go's strconv.ParseFloat(text, 64); None for a syntax error, ValueError when out of range."""
    if not _GO_FLOAT.fullmatch(text):
        return None
    value = float(text)
    if math.isinf(value) and "inf" not in text.lower():
        raise ValueError("value out of range")
    return value


def _truncate(value: float) -> int:
    return int(value) if math.isfinite(value) else MIN_INT64


def _as_int(args: tuple[object, ...], _result: object) -> object:
    value = args[0]
    if is_number(value):
        return _truncate(value) if isinstance(value, float) else value
    if isinstance(value, str):
        try:
            parsed = _parse_int(value)
        except ValueError:
            raise ExprError(f'strconv.ParseInt: parsing "{value}": value out of range') from None
        if parsed is None:
            raise ExprError(f'strconv.ParseInt: parsing "{value}": invalid syntax')
        return parsed
    raise ExprError(f"asInt() not supported on {go_type(value)} {go_format(value)}")


def _as_float(args: tuple[object, ...], _result: object) -> object:
    value = args[0]
    if is_number(value):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        try:
            parsed = _parse_float(value)
        except ValueError:
            raise ExprError(f'strconv.ParseFloat: parsing "{value}": value out of range') from None
        if parsed is None:
            raise ExprError(f'strconv.ParseFloat: parsing "{value}": invalid syntax')
        return parsed
    raise ExprError(f"asFloat() not supported on {go_type(value)} {go_format(value)}")


def _float_test(test: Callable[[float], bool]) -> Function:
    """isNaN / isInf take a Go float64: nil arrives as 0; ints pass (JSON numbers are Go floats)."""
    def call(args: tuple[object, ...], _result: object) -> object:
        value = 0.0 if args[0] is None else args[0]
        if not is_number(value):
            raise ExprError(f"reflect: Call using {go_type(value)} as type float64")
        return test(float(value))  # type: ignore[arg-type]
    return call


def _len(args: tuple[object, ...], _result: object) -> object:
    if isinstance(args[0], list | tuple | dict | str):
        return len(args[0])
    raise ExprError(f"invalid argument for len (type {go_type(args[0])})")


def _number(name: str, convert: Callable[[float], float]) -> Function:
    """abs, ceil, floor, round: ints go through (as floats for the rounding ones), other kinds are errors."""
    def call(args: tuple[object, ...], _result: object) -> object:
        value = args[0]
        if isinstance(value, int) and not isinstance(value, bool):
            return abs(value) if name == "abs" else float(value)
        if isinstance(value, float):
            return convert(value) if math.isfinite(value) or name == "abs" else value
        raise ExprError(f"invalid argument for {name} (type {go_type(value)})")
    return call


def _go_round(value: float) -> float:
    """Go's math.Round: halves away from zero (Python's round() goes to even)."""
    whole = float(math.trunc(value))
    return whole + math.copysign(1.0, value) if abs(value - whole) >= 0.5 else whole


def _int(args: tuple[object, ...], _result: object) -> object:
    value = args[0]
    if is_number(value):
        return _truncate(value) if isinstance(value, float) else value
    if isinstance(value, str):
        try:
            parsed = _parse_int(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise ExprError(f"invalid operation: int({value})")
        return parsed
    raise ExprError(f"invalid operation: int({go_type(value)})")


def _float(args: tuple[object, ...], _result: object) -> object:
    value = args[0]
    if is_number(value):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        try:
            parsed = _parse_float(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise ExprError(f"invalid operation: float({value})")
        return parsed
    raise ExprError(f"invalid operation: float({go_type(value)})")


def _type(args: tuple[object, ...], _result: object) -> object:
    value = args[0]
    if value is None:
        return "nil"
    names = ((bool, "bool"), (int, "int"), (float, "float"), (str, "string"), (list | tuple, "array"),
             (dict, "map"))
    return next((name for kind, name in names if isinstance(value, kind)), "unknown")


def _trim(args: tuple[object, ...], _result: object) -> object:
    text = require_string(args[0])
    return text.strip() if len(args) == 1 else text.strip(require_string(args[1]))


def _numbers(name: str, values: object, depth: int = 0) -> list[int | float]:
    """The numbers of an aggregate's arguments, arrays flattened (expr's minMax, mean and median)."""
    if depth > 10_000:
        raise ExprError("recursion depth exceeded")
    if is_number(values):
        return [values]  # type: ignore[list-item]
    if not isinstance(values, list | tuple):
        raise ExprError(f"invalid argument for {name} (type {go_type(values)})")
    return [number for item in values for number in _numbers(name, item, depth + 1)]


def _extreme(name: str, op: str) -> Function:
    def call(args: tuple[object, ...], _result: object) -> object:
        if len(args) == 1 and not is_number(args[0]) and not isinstance(args[0], list | tuple):
            return args[0]  # expr hands a lone non-array argument back
        best: object = None
        for number in _numbers(name, list(args)):
            if best is None or compare(op, best, number):
                best = number
        return best
    return call


def _mean(args: tuple[object, ...], _result: object) -> object:
    numbers = _numbers("mean", list(args))
    return math.fsum(numbers) / len(numbers) if numbers else 0.0


def _median(args: tuple[object, ...], _result: object) -> object:
    # Go's sort.Float64s puts NaNs first
    values = sorted((float(n) for n in _numbers("median", list(args))), key=lambda v: (not math.isnan(v), v))
    if not values:
        return 0.0
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _end(index: int) -> Function:
    """first / last: nil for an empty array or anything else (expr recovers the fetch's panic)."""
    def call(args: tuple[object, ...], _result: object) -> object:
        value = args[0]
        return value[index] if isinstance(value, list | tuple) and value else None
    return call


def _sig(style: str, low: int, high: int, params: tuple[str, ...], returns: str | None) -> Signature:
    return Signature(style, low, high, params, returns)


_ENV_ANY: Final = ("any", "any")
_ONE_NUMBER: Final = ("number",)
FUNCTIONS: Final[dict[str, tuple[Signature, Function]]] = {
    "asInt": (_sig("env", 1, 1, _ENV_ANY, "int64"), _as_int),
    "asFloat": (_sig("env", 1, 1, _ENV_ANY, "float64"), _as_float),
    "isNaN": (_sig("env", 1, 1, ("float64",), "bool"), _float_test(math.isnan)),
    "isInf": (_sig("env", 1, 1, ("float64",), "bool"), _float_test(math.isinf)),
    "isNil": (_sig("env", 1, 1, _ENV_ANY, "bool"), lambda _args, result: result is None),
    "default": (_sig("env", 2, 2, _ENV_ANY, None), lambda args, res: args[1] if res is None else res),
    "len": (_sig("builtin", 1, 1, ("length",), "int"), _len),
    "abs": (_sig("builtin", 1, 1, _ONE_NUMBER, "same"), _number("abs", abs)),
    "ceil": (_sig("builtin", 1, 1, _ONE_NUMBER, "float64"), _number("ceil", lambda v: math.ceil(v) * 1.0)),
    "floor": (_sig("builtin", 1, 1, _ONE_NUMBER, "float64"), _number("floor", lambda v: math.floor(v) * 1.0)),
    "round": (_sig("builtin", 1, 1, _ONE_NUMBER, "float64"), _number("round", _go_round)),
    "int": (_sig("builtin", 1, 1, ("number|string",), "int"), _int),
    "float": (_sig("builtin", 1, 1, ("number|string",), "float64"), _float),
    "first": (_sig("builtin", 1, 1, ("array",), None), _end(0)),
    "last": (_sig("builtin", 1, 1, ("array",), None), _end(-1)),
    "string": (_sig("env", 1, 1, _ENV_ANY, "string"), lambda args, _result: go_format(args[0])),
    "type": (_sig("env", 1, 1, _ENV_ANY, "string"), _type),
    "upper": (_sig("env", 1, 1, ("string",), "string"), lambda args, _r: require_string(args[0]).upper()),
    "lower": (_sig("env", 1, 1, ("string",), "string"), lambda args, _r: require_string(args[0]).lower()),
    "trim": (_sig("env", 1, 2, ("string", "string"), "string"), _trim),
    "max": (_sig("aggregate", 1, -1, (), None), _extreme("max", "<")),
    "min": (_sig("aggregate", 1, -1, (), None), _extreme("min", ">")),
    "mean": (_sig("aggregate", 1, -1, (), None), _mean),
    "median": (_sig("aggregate", 1, -1, (), None), _median),
}
SIGNATURES: Final = {name: signature for name, (signature, _function) in FUNCTIONS.items()}
# predicate builtins the evaluator runs (groupBy, sortBy and reduce are not among them)
PREDICATE_FUNCTIONS: Final = frozenset({"all", "any", "none", "one", "filter", "map", "count", "sum", "find",
                                        "findIndex", "findLast", "findLastIndex"})
UNSUPPORTED: Final = frozenset({
    "groupBy", "sortBy", "reduce", "trimPrefix", "trimSuffix", "split", "splitAfter", "replace", "repeat",
    "join", "indexOf", "lastIndexOf", "hasPrefix", "hasSuffix", "toJSON", "fromJSON", "toBase64",
    "fromBase64", "now", "duration", "date", "timezone", "get", "take", "keys", "values", "toPairs",
    "fromPairs", "reverse", "uniq", "concat", "flatten", "sort", "bitnot", "bitand", "bitor", "bitxor",
    "bitnand", "bitshl", "bitshr", "bitushr",
})
