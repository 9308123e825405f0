"""Analysis conditions, part 3: expr's runtime operations on plain Python values.

Room: plan (pure). statemachine/analysis_expr.py applies these while walking the tree. A port of
vm/runtime of github.com/expr-lang/expr over JSON-like values (None, bool, int, float, str, list, dict):
ints and floats mix and compare, `/` always gives a float and never raises, `%` wants ints, `**` is
float power with Go's math.Pow at the edges, values of different kinds are never equal, ordering other kinds
is an error, member and index access (negative indexes, a missing map key reads as nil), slices and `in`.
Error messages are expr's, with Go's type names (`float64`, `[]interface {}`, `<nil>`).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from statemachine.analysis_expr_syntax import ExprError

__all__ = [
    "arithmetic", "compare", "equal", "fetch", "go_format", "go_type", "is_number", "make_range", "negate",
    "require_bool", "require_string", "slice_of", "string_op", "to_float", "to_int", "within",
]

MIN_INT64: Final = -(2**63)
_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge,
}


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def go_type(value: object) -> str:
    """Go's %T of the value the reference would hold (JSON decoding in Go gives these types)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__


def _go_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent
    # Go's %v is strconv 'g' with the shortest digits, which switches to an exponent outside [1e-4, 1e6)
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{mantissa}e{'+' if point - 1 >= 0 else '-'}{abs(point - 1):02d}"
    elif point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return ("-" if sign else "") + text


def go_format(value: object) -> str:
    """Go's %v of the value, as the `string()` builtin and expr's messages print it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_format(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{go_format(key)}:{go_format(value[key])}" for key in sorted(value, key=str))
        return "map[" + " ".join(pairs) + "]"
    return str(value)


def _conversion(value: object, wanted: str) -> ExprError:
    """The panic of a Go type assertion, which is what expr's VM raises for a wrong operand type."""
    held = "nil" if value is None else go_type(value)
    return ExprError(f"interface conversion: interface {{}} is {held}, not {wanted}")


def require_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise _conversion(value, "bool")


def require_string(value: object) -> str:
    if isinstance(value, str):
        return value
    raise _conversion(value, "string")


def to_int(value: object) -> int:
    """expr's runtime.ToInt: numbers truncate toward zero (NaN and infinities give Go's minimum int64)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else MIN_INT64
    raise ExprError(f"invalid operation: int({go_type(value)})")


def to_float(value: object) -> float:
    if is_number(value):
        assert isinstance(value, int | float)
        return float(value)
    raise ExprError(f"invalid operation: float({go_type(value)})")


def equal(left: object, right: object) -> bool:
    """expr's `==`: numbers by value across int and float, otherwise only the same kind can be equal."""
    if is_number(left) and is_number(right):
        return left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(equal(left[key], right[key]) for key in left)
    return type(left) is type(right) and left == right


def compare(op: str, left: object, right: object) -> bool:
    if (is_number(left) and is_number(right)) or (isinstance(left, str) and isinstance(right, str)):
        return _ORDER[op](left, right)
    raise ExprError(f"invalid operation: {go_type(left)} {op} {go_type(right)}")


def _power(base: float, exponent: float) -> float:
    """Go's math.Pow: never raises, gives infinities and NaN where Python's math.pow would."""
    odd = exponent.is_integer() and abs(exponent) < 2**53 and int(exponent) % 2 == 1
    try:
        return math.pow(base, exponent)
    except OverflowError:
        return -math.inf if base < 0 and odd else math.inf
    except ValueError:
        if base == 0:
            return math.copysign(math.inf, base) if odd else math.inf
        return math.nan


def _divide(left: float, right: float) -> float:
    if right != 0:
        return left / right
    if left == 0 or math.isnan(left):
        return math.nan
    return math.copysign(math.inf, left) * math.copysign(1.0, right)


def arithmetic(op: str, left: object, right: object) -> object:
    """`+ - * / % ** ^` as expr types them: `/` and `**` give floats, `%` wants ints, `+` joins strings."""
    if op in ("**", "^"):
        return _power(to_float(left), to_float(right))
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    if not (is_number(left) and is_number(right)):
        raise ExprError(f"invalid operation: {go_type(left)} {op} {go_type(right)}")
    assert isinstance(left, int | float) and isinstance(right, int | float)
    if op == "/":
        return _divide(float(left), float(right))
    if op == "%":
        if isinstance(left, float) or isinstance(right, float):
            raise ExprError(f"invalid operation: {go_type(left)} % {go_type(right)}")
        if right == 0:
            raise ExprError("runtime error: integer divide by zero")
        # Go's remainder takes the dividend's sign
        remainder = abs(left) % abs(right)
        return -remainder if left < 0 else remainder
    result: int | float = left + right if op == "+" else left - right if op == "-" else left * right
    return result


def negate(value: object) -> object:
    if is_number(value):
        assert isinstance(value, int | float)
        return -value
    raise ExprError(f"invalid operation: - {go_type(value)}")


def string_op(op: str, left: object, right: object) -> bool:
    """`contains`, `startsWith`, `endsWith` and `matches`; a nil on either side is false."""
    if left is None or right is None:
        return False
    text, other = require_string(left), require_string(right)
    if op == "contains":
        return other in text
    if op == "startsWith":
        return text.startswith(other)
    if op == "endsWith":
        return text.endswith(other)
    try:
        return re.search(other, text) is not None
    except re.error as exc:
        raise ExprError(f"error parsing regexp: {exc}") from None


def _map_key(key: object) -> str:
    if key is None:
        return ""  # Go looks a nil key up as the zero string
    if not isinstance(key, str):
        raise ExprError(f"reflect.Value.MapIndex: value of type {go_type(key)} is not assignable to type "
                        "string")
    return key


def within(needle: object, haystack: object) -> bool:
    """expr's `in`: an element of an array, a key of a map; a nil haystack holds nothing."""
    if haystack is None:
        return False
    if isinstance(haystack, list | tuple):
        return any(equal(item, needle) for item in haystack)
    if isinstance(haystack, dict):
        return _map_key(needle) in haystack
    raise ExprError(f'operator "in" not defined on {go_type(haystack)}')


def fetch(target: object, key: object) -> object:
    """`target[key]` and `target.key`: arrays and strings by (negative) index, maps by key (missing: nil)."""
    if isinstance(target, list | tuple | str):
        # Go indexes a string's bytes
        items = target.encode() if isinstance(target, str) else target
        index = to_int(key)
        position = index + len(items) if index < 0 else index
        if not 0 <= position < len(items):
            raise ExprError(f"index out of range: {position} (array length is {len(items)})")
        return items[position]
    if isinstance(target, dict):
        return target.get(_map_key(key))
    raise ExprError(f"cannot fetch {go_format(key)} from {go_type(target)}")


def slice_of(target: object, start: object, stop: object) -> object:
    """`target[start:stop]` with Go's clamping: negative bounds count from the end, out-of-range ones clip."""
    if not isinstance(target, list | tuple | str):
        raise ExprError(f"cannot slice {go_type(target)}")
    length = len(target)
    bounds = []
    for bound, default in ((start, 0), (stop, length)):
        value = default if bound is None else to_int(bound)
        value = value + length if value < 0 else value
        bounds.append(min(max(value, 0), length))
    low, high = min(bounds[0], bounds[1]), bounds[1]
    return list(target[low:high]) if not isinstance(target, str) else target[low:high]


def make_range(low: object, high: object) -> list[int]:
    first, last = to_int(low), to_int(high)
    if last - first + 1 > 1_000_000:  # expr's default memory budget
        raise ExprError("memory budget exceeded")
    return list(range(first, last + 1))
