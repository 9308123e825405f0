"""The expr-language evaluator of analysis `successCondition` / `failureCondition`.

Aspects: every condition the reference's docs, examples and tests use, each with a result that makes it true
and one that makes it false; operator precedence and associativity as expr's (unary minus below `**`,
chained comparisons, `not` binding tighter than `==`); literals (numbers in every base, both quotes, raw
strings, escapes, comments, arrays, maps); member, index, negative index, slice and optional access on dicts
and lists; predicate closures (`{# < 5}`, `{.field}`, braceless, nested, `#index`) for every predicate
builtin; number semantics (int/float mixing, float division, Go's `%` and `**`, NaN); the reference's env
functions, including `default`/`isNil` looking at `result` itself; the other builtins; `string()` printing as
Go's %v; the exact error messages of syntax errors (with line:column), unknown names and operators,
unsupported functions and syntax, static type mismatches, runtime type errors and index out of range;
`check` against whatever result; parse caching; no Python eval; the full `measurement_phase` truth table and
its error wording.
"""

from __future__ import annotations

import pytest

from statemachine import analysis_expr
from statemachine.analysis_expr import ExprError, check, condition, evaluate, measurement_phase

NAN = float("nan")
INF = float("inf")
CLOUDWATCH = [{"Id": "rate", "Values": [0.001, 0.002, 0.0, 0.005, 0.01], "Label": "x",
               "StatusCode": "Complete"}]
CLOUDWATCH_HIGH = [{"Id": "rate", "Values": [0.001, 0.002, 0.0, 0.005, 0.5], "Label": "x"}]
APDEX = {"service_apdex": {"label": None, "values": {"values": [2.0, 2.0]}}}


# --- every condition of the reference's docs, examples and tests -------------------------------------------

@pytest.mark.parametrize(("expression", "true_result", "false_result"), [
    pytest.param("result[0] >= 0.95", [0.96], [0.5], id="prometheus-vector"),
    pytest.param("result[0] >= 10", [10.0], [9.0], id="vector-int-threshold"),
    pytest.param("result[0] <= 0.95", [0.2], [0.99], id="vector-le"),
    pytest.param("result[0] >= 0.90", [0.9], [0.89], id="vector-ge-090"),
    pytest.param("result[0] >= 0.99", [0.995], [0.98], id="vector-ge-099"),
    pytest.param("result[0] <= 0.01", [0.01], [0.02], id="vector-le-001"),
    pytest.param("result[0] < 0.50", [0.49], [0.5], id="vector-lt"),
    pytest.param("result[0] > 0.90", [0.91], [0.9], id="vector-gt"),
    pytest.param("result[0] == 10", [10.0], [11.0], id="vector-eq"),
    pytest.param("result[0] != 10", [11.0], [10.0], id="vector-ne"),
    pytest.param("result[1] <  20", [0.0, 19.0], [0.0, 21.0], id="vector-second"),
    pytest.param("result >= 0.95", 0.96, 0.94, id="scalar-ge"),
    pytest.param("result > 10", 11.0, 10.0, id="crd-example-gt"),
    pytest.param("result <= 0.01", 0.0, 0.5, id="scalar-le"),
    pytest.param("result < 0.95", 0.5, 0.95, id="scalar-lt"),
    pytest.param("result < 0.001", 0.0, 0.001, id="scalar-lt-small"),
    pytest.param("result >= 0.001", 0.001, 0.0, id="scalar-ge-small"),
    pytest.param("result == 10", 10.0, 9.0, id="scalar-eq"),
    pytest.param("result != 10", 9.0, 10.0, id="scalar-ne"),
    pytest.param("result > 0", 1.0, 0.0, id="scalar-positive"),
    pytest.param("result <= 0", 0.0, 1.0, id="scalar-non-positive"),
    pytest.param("result >= 0.9", 0.9, 0.8, id="scalar-ge-09"),
    pytest.param("result < 0.9", 0.8, 0.9, id="scalar-lt-09"),
    pytest.param("result < 0.05", 0.01, 0.05, id="scalar-lt-005"),
    pytest.param("result == true", True, False, id="bool-true"),
    pytest.param("result == false", False, True, id="bool-false"),
    pytest.param("result == 'true'", "true", "false", id="web-string-true"),
    pytest.param('result == "true"', "true", "false", id="web-string-true-double"),
    pytest.param("result == 'It worked!'", "It worked!", "It failed", id="job-string"),
    pytest.param('result == "I am OK"', "I am OK", "I am not", id="job-double-quoted"),
    pytest.param("result == 'fail123'", "fail123", "fail12", id="web-fail123"),
    pytest.param("result == 'test: notJson'", "test: notJson", "test", id="web-not-json"),
    pytest.param("result.major == '1'", {"major": "1"}, {"major": "2"}, id="web-major"),
    pytest.param("result.successRate >= 0.95", {"successRate": 0.99}, {"successRate": 0.5}, id="member"),
    pytest.param("result.ok && result.successPercent >= 0.90", {"ok": True, "successPercent": 0.95},
                 {"ok": False, "successPercent": 0.95}, id="web-and"),
    pytest.param("result.Status == 999", {"Status": 999}, {"Status": 1}, id="status-999"),
    pytest.param("result.Status == -1", {"Status": -1}, {"Status": 1}, id="status-negative"),
    pytest.param("result.count == 10", {"count": 10}, {"count": 9}, id="count-eq"),
    pytest.param("result.count != 10", {"count": 9}, {"count": 10}, id="count-ne"),
    pytest.param("result[0].count == 10", [{"count": 10}], [{"count": 1}], id="index-member"),
    pytest.param("result[2].count < 20", [{}, {}, {"count": 1}], [{}, {}, {"count": 21}], id="third-member"),
    pytest.param("result.count == 10 and result['average.duration'] < 15.0",
                 {"count": 10, "average.duration": 3.0}, {"count": 10, "average.duration": 15.0},
                 id="newrelic-and-bracket-key"),
    pytest.param("result.count != 10 or result['average.duration'] >= 15.0",
                 {"count": 10, "average.duration": 15.0}, {"count": 10, "average.duration": 3.0},
                 id="newrelic-or"),
    pytest.param("result.a > 0 && result.b && all(result.c, {# < 5}) && result.d == nil",
                 {"a": 1, "b": True, "c": [1, 4]}, {"a": 1, "b": True, "c": [1, 5]}, id="wavefront-mixed"),
    pytest.param('result.num > 1.1 && result.bool && result.mapfield.foo == "bar"',
                 {"num": 2, "bool": True, "mapfield": {"foo": "bar"}},
                 {"num": 2, "bool": True, "mapfield": {"foo": "baz"}}, id="graphite-nested"),
    pytest.param("result[0].Values[0] == 0.1", [{"Values": [0.1]}], [{"Values": [0.2]}],
                 id="cloudwatch-first"),
    pytest.param("result[0].Values[0] != 0.1", [{"Values": [0.2]}], [{"Values": [0.1]}], id="cloudwatch-ne"),
    pytest.param("len(result[0].Values) >= 5 and all(result[0].Values, {# <= 0.01})", CLOUDWATCH,
                 CLOUDWATCH_HIGH, id="cloudwatch-docs"),
    pytest.param("all(result.service_apdex.values.values, {asFloat(.value) >= 9900})",
                 {"service_apdex": {"values": {"values": [{"value": "9901"}, {"value": 9900}]}}},
                 {"service_apdex": {"values": {"values": [{"value": "9899"}]}}}, id="skywalking-dot-field"),
    pytest.param("all(result.service_apdex.values.values, {# > 1})", APDEX,
                 {"service_apdex": {"values": {"values": [2.0, 1.0]}}}, id="evaluate-test-apdex"),
    pytest.param("all(result, # < 1000)", [1.0, 999.0], [1.0, 1000.0], id="braceless-predicate"),
    pytest.param("all(result, # > 10)", [11.0], [11.0, 10.0], id="all-gt"),
    pytest.param("all(result, # < 10)", [], [10.0], id="all-empty-is-true"),
    pytest.param("max(result) < 0.05", [0.01, 0.04], [0.01, 0.05], id="max-any-endpoint"),
    pytest.param("max(result) < 1000000", [1.0], [1e6], id="max-high-cardinality"),
    pytest.param("len(result) > 0 && result[0] >= 0.95", [0.96], [], id="guard-empty-and"),
    pytest.param("len(result) == 0 || result[0] >= 0.95", [], [0.5], id="guard-empty-or"),
    pytest.param("len(result) != 2", [1.0], [1.0, 2.0], id="len-ne"),
    pytest.param("10 in result", [10.0, 1.0], [1.0], id="in-vector"),
    pytest.param("2 in result", [2.0, 2.0], [3.0], id="in-float-vector"),
    pytest.param("10.000000 in result", [10], [1], id="float-in-ints"),
    pytest.param("10.000000 not in result", [1], [10], id="not-in"),
    pytest.param("isNaN(result) || result >= 0.95", NAN, 0.5, id="nan-guard"),
    pytest.param("result >= 0.9 || isNaN(result)", NAN, 0.5, id="nan-guard-reversed"),
    pytest.param("isInf(result)", INF, 1.0, id="is-inf"),
    pytest.param("default(result, 0) < 5", None, 7.0, id="default-nil"),
    pytest.param("default(result, 0) < 10", 9.0, 10.0, id="default-value"),
    pytest.param("default(result, 0) < 0.05", None, 0.05, id="default-small"),
    pytest.param("default(result, 1) < 0.05", 0.01, None, id="default-one"),
    pytest.param("default(result, 0) > 5", 6.0, None, id="datadog-restarts-resolved"),
    pytest.param("asInt(result) > 0", "3", "0", id="as-int-string"),
    pytest.param("asInt(result) <= 0", 0.5, 1.5, id="as-int-truncates"),
    pytest.param("asInt(result) == 1", 1.123, 2, id="as-int-float"),
    pytest.param("asFloat(result) > 1.1", "1.2", "1.1", id="as-float-string"),
    pytest.param("asFloat(result) == 1.1", "1.1", 1, id="as-float-eq"),
    pytest.param("asFloat(result) >= 1", 1, 0, id="as-float-int"),
    pytest.param("(result.requests_made * result.requests_succeeded / 100) >= 90",
                 {"requests_made": 100, "requests_succeeded": 95},
                 {"requests_made": 100, "requests_succeeded": 80},
                 id="crd-example-arithmetic"),
    pytest.param("true", None, None, id="literal-true"),
])
def test_reference_conditions(expression: str, true_result: object, false_result: object) -> None:
    check(expression)
    assert condition(expression, true_result) is True
    if expression != "true":
        assert condition(expression, false_result) is False


# --- precedence, associativity, literals --------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "value"), [
    pytest.param("1 + 2 * 3", 7, id="mul-before-add"),
    pytest.param("(1 + 2) * 3", 9, id="parentheses"),
    pytest.param("10 - 4 - 3", 3, id="minus-left-assoc"),
    pytest.param("2 ** 3 ** 2", 512.0, id="power-right-assoc"),
    pytest.param("2 ^ 3", 8.0, id="caret-is-power"),
    pytest.param("-2 ** 2", -4.0, id="unary-minus-below-power"),
    pytest.param("-1 + 2", 1, id="unary-minus-above-plus"),
    pytest.param("2 * 3 % 4", 2, id="mul-mod-left-assoc"),
    pytest.param("not true == false", True, id="not-binds-tighter-than-eq"),
    pytest.param("!false && false", False, id="bang-then-and"),
    pytest.param("true || false && false", True, id="and-before-or"),
    pytest.param("false and true or true", True, id="word-operators"),
    pytest.param("1 + 2 == 3", True, id="arith-before-compare"),
    pytest.param("1 < 2 < 3", True, id="chained-comparison"),
    pytest.param("3 > 2 > 2", False, id="chained-comparison-false"),
    pytest.param("2 > 1 == true", True, id="compare-then-eq"),
    pytest.param("1 in [1, 2] == true", True, id="in-and-eq-left-assoc"),
    pytest.param("'a' + 'b' contains 'ab'", True, id="plus-before-contains"),
    pytest.param("true ? 1 : 2 + 3", 1, id="ternary-then"),
    pytest.param("false ? 1 : 2 + 3", 5, id="ternary-else"),
    pytest.param("false ? 1 : true ? 2 : 3", 2, id="ternary-nested"),
    pytest.param("1 + 1 not in [3]", True, id="not-in-below-arithmetic"),
    pytest.param("-[1, 2][1] * 2", -4, id="unary-minus-over-index"),
    pytest.param("1 .. 3", [1, 2, 3], id="range"),
    pytest.param("nil ?? 3", 3, id="coalesce"),
    pytest.param("0x1F + 1_000 + 0b101 + 0o17", 1051, id="integer-bases"),
    pytest.param(".5 + 1e3 + 1.", 1001.5, id="float-forms"),
    pytest.param('"a\\tb" + \'c\\\'d\'', "a\tbc'd", id="escapes"),
    pytest.param('"\\x41\\u00e9\\u{1F600}\\101"', "Aé😀A", id="hex-unicode-octal-escapes"),
    pytest.param("`raw ``tick`` \\n`", "raw `tick` \\n", id="raw-string"),
    pytest.param("1 + /* two */ 2 // three", 3, id="comments"),
    pytest.param("[1, 'a', nil, true,]", [1, "a", None, True], id="array-trailing-comma"),
    pytest.param('{"a": 1, b: [2], 3: 4}', {"a": 1, "b": [2], "3": 4}, id="map-literal"),
    pytest.param("'abc' startsWith 'ab' && 'abc' endsWith 'bc'", True, id="starts-ends"),
    pytest.param("'abc' matches '^a.c$'", True, id="matches"),
    pytest.param("'abc' not matches 'x'", True, id="not-matches"),
    pytest.param("'abc' not contains 'x'", True, id="not-contains"),
    pytest.param("'abc'[1:]", "bc", id="string-slice"),
])
def test_values(expression: str, value: object) -> None:
    assert evaluate(expression, None) == value


# --- numbers ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "result", "value"), [
    pytest.param("7 / 2", None, 3.5, id="int-division-is-float"),
    pytest.param("4 / 2", None, 2.0, id="exact-division-still-float"),
    pytest.param("1 / 0", None, INF, id="divide-by-zero-inf"),
    pytest.param("-1 / 0", None, -INF, id="divide-by-zero-negative"),
    pytest.param("7 % 3", None, 1, id="modulo"),
    pytest.param("-7 % 3", None, -1, id="modulo-takes-dividend-sign"),
    pytest.param("2 ** -1", None, 0.5, id="power-is-float"),
    pytest.param("0 ** -1", None, INF, id="power-zero-negative"),
    pytest.param("1 + 1.5", None, 2.5, id="int-plus-float"),
    pytest.param("1 == 1.0", None, True, id="int-equals-float"),
    pytest.param("result > 1", 2, True, id="int-result-vs-int"),
    pytest.param("result * 2", 1.5, 3.0, id="float-times-int"),
    pytest.param("abs(-2) + abs(-1.5)", None, 3.5, id="abs"),
    pytest.param("ceil(1.2) + floor(1.8) + round(2.5) + round(-2.5)", None, 2.0 + 1.0 + 3.0 - 3.0,
                 id="rounding"),
    pytest.param("int(2.9) + int('3') + float('0.5')", None, 5.5, id="int-float"),
    pytest.param("min(3, [1, 2]) + max(result)", [5, 7.5], 8.5, id="min-max-flatten"),
    pytest.param("mean(result) + median([3, 1, 2])", [1, 2], 3.5, id="mean-median"),
    pytest.param("max(result)", [], None, id="max-empty-is-nil"),
])
def test_numbers(expression: str, result: object, value: object) -> None:
    assert evaluate(expression, result) == value


@pytest.mark.parametrize(("expression", "value"), [
    pytest.param("result > 0", False, id="gt"),
    pytest.param("result < 0", False, id="lt"),
    pytest.param("result == result", False, id="eq-self"),
    pytest.param("result != result", True, id="ne-self"),
    pytest.param("isNaN(result)", True, id="is-nan"),
    pytest.param("isNaN(0 / 0) && isNaN((-8) ** 0.5)", True, id="nan-from-arithmetic"),
    pytest.param("max([1, result]) == 1", True, id="max-skips-later-nan"),
])
def test_nan(expression: str, value: bool) -> None:
    assert condition(expression, NAN) is value


# --- access -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "result", "value"), [
    pytest.param("result.missing", {"a": 1}, None, id="missing-key-is-nil"),
    pytest.param("result['a']", {"a": 1}, 1, id="bracket-key"),
    pytest.param("result[0].Values[1]", CLOUDWATCH, 0.002, id="cloudwatch-values"),
    pytest.param("result[0].Label", CLOUDWATCH, "x", id="cloudwatch-label"),
    pytest.param("result[-1]", [1, 2, 3], 3, id="negative-index"),
    pytest.param("result[1:3]", [1, 2, 3, 4], [2, 3], id="slice"),
    pytest.param("result[:2]", [1, 2, 3], [1, 2], id="slice-to"),
    pytest.param("result[-2:]", [1, 2, 3], [2, 3], id="slice-negative-from"),
    pytest.param("result[2:9]", [1, 2, 3], [3], id="slice-clipped"),
    pytest.param("result.a?.b", {"a": None}, None, id="optional-nil"),
    pytest.param("result.x?.a.b", {}, None, id="optional-chain-short-circuits"),
    pytest.param("result.a?.b", {"a": {"b": 2}}, 2, id="optional-present"),
    pytest.param("result.a?.[0]", {"a": [5]}, 5, id="optional-index"),
    pytest.param("'k' in result", {"k": 0}, True, id="in-map-keys"),
    pytest.param("[1, 2] == [1, 2.0]", None, True, id="arrays-equal"),
    pytest.param("result == {'a': [1]}", {"a": [1]}, True, id="maps-equal"),
    pytest.param("result[0] == '1'", [1], False, id="kinds-never-equal"),
    pytest.param("nil in result.a", {"a": None}, False, id="in-nil"),
])
def test_access(expression: str, result: object, value: object) -> None:
    assert evaluate(expression, result) == value


# --- predicates ---------------------------------------------------------------------------------------------

ROWS = [{"v": 1, "Values": [0.5]}, {"v": 3, "Values": [2.0]}, {"v": 5, "Values": [0.1]}]


@pytest.mark.parametrize(("expression", "value"), [
    pytest.param("all(result, {.v > 0})", True, id="all-dot-field"),
    pytest.param("any(result, {.v > 4})", True, id="any"),
    pytest.param("none(result, {.v > 5})", True, id="none"),
    pytest.param("one(result, {.v > 4})", True, id="one"),
    pytest.param("one(result, {.v > 2})", False, id="one-of-two"),
    pytest.param("filter(result, {#.v > 2})", ROWS[1:], id="filter"),
    pytest.param("map(result, {.v * 2})", [2, 6, 10], id="map"),
    pytest.param("map(result, #index)", [0, 1, 2], id="map-index"),
    pytest.param("count(result, .v >= 3)", 2, id="count-braceless"),
    pytest.param("count(map(result, .v > 2))", 2, id="count-bools"),
    pytest.param("sum(result, .v)", 9, id="sum-mapped"),
    pytest.param("sum(map(result, .Values[0]))", 2.6, id="sum-floats"),
    pytest.param("find(result, .v > 1).v", 3, id="find"),
    pytest.param("findIndex(result, .v > 1)", 1, id="find-index"),
    pytest.param("findLast(result, .v > 1).v", 5, id="find-last"),
    pytest.param("findLastIndex(result, .v > 9)", -1, id="find-last-index-missing"),
    pytest.param("find(result, .v > 9)", None, id="find-missing"),
    pytest.param("any(result, {all(#.Values, {# < 1})})", True, id="nested-closures"),
    pytest.param("all(result, {any(.Values, {# > 1})})", False, id="nested-innermost-pointer"),
    pytest.param("len(filter(result, .v in [1, 5])) == 2", True, id="filter-in"),
    pytest.param("first(result).v + last(result).v", 6, id="first-last"),
])
def test_predicates(expression: str, value: object) -> None:
    assert evaluate(expression, ROWS) == value


def test_predicates_stop_at_the_deciding_element() -> None:
    # the second element would fail to compare; all() has already decided on the first
    assert condition("all(result, # > 1)", [0, "x"]) is False
    assert condition("any(result, # > 1)", [2, "x"]) is True


# --- functions ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "result", "value"), [
    pytest.param("isNil(result)", None, True, id="is-nil"),
    pytest.param("isNil(result)", 0.0, False, id="is-nil-zero"),
    pytest.param("isNil(result.x)", {"x": None}, False, id="is-nil-looks-at-result-not-argument"),
    pytest.param("default(result.x, 7)", {"x": None}, {"x": None}, id="default-looks-at-result"),
    pytest.param("default(result, 7)", None, 7, id="default-nil"),
    pytest.param("asInt('-12')", None, -12, id="as-int-signed"),
    pytest.param("asFloat('1e3')", None, 1000.0, id="as-float-exponent"),
    pytest.param("isInf(-1 / 0) && !isInf(1)", None, True, id="is-inf"),
    pytest.param("len('héllo') + len({'a': 1})", None, 6, id="len-runes-and-map"),
    pytest.param("upper('a') + lower('B') + trim('  c ') + trim('xxdxx', 'x')", None, "Abcd", id="strings"),
    pytest.param("type(result)", [1], "array", id="type"),
    pytest.param("string(1e6) + ' ' + string(123456.0) + ' ' + string(0.00001) + ' ' + string(2.0)", None,
                 "1e+06 123456 1e-05 2", id="string-floats-as-go"),
    pytest.param("string(result)", [1, 2.5, None, True, "x"], "[1 2.5 <nil> true x]", id="string-array"),
    pytest.param("string(result)", {"b": 1, "a": -0.5}, "map[a:-0.5 b:1]", id="string-map"),
])
def test_functions(expression: str, result: object, value: object) -> None:
    assert evaluate(expression, result) == value


# --- errors -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "result", "message"), [
    pytest.param("1", True, "expected bool, but got int", id="non-bool-int"),
    pytest.param("result", 1.5, "expected bool, but got float64", id="non-bool-float"),
    pytest.param("result", None, "expected bool, but got <nil>", id="non-bool-nil"),
    pytest.param("result.a", {"a": [1]}, "expected bool, but got []interface {}", id="non-bool-array"),
    pytest.param("invalidVariable", True, "unknown name invalidVariable", id="unknown-name"),
    pytest.param("a == true", True, "unknown name a", id="unknown-name-in-comparison"),
    pytest.param("results[0] >= 90.000000", [1.0], "unknown name results", id="docs-typo-results"),
    pytest.param("foo(result) > 1", 1, "unknown name foo", id="unknown-function"),
    pytest.param("date(result) > 1", 1, 'unsupported function "date" in condition "date(result) > 1"',
                 id="unsupported-function"),
    pytest.param("reduce(result, #acc + #)", [1], 'unsupported function "reduce" in condition '
                 '"reduce(result, #acc + #)"', id="unsupported-predicate-builtin"),
    pytest.param("result.Name() == 'hi'", True, 'unsupported method call "Name" in condition '
                 '"result.Name() == \'hi\'"', id="unsupported-method"),
    pytest.param("result | len()", [1], 'unsupported pipe operator "|" in condition "result | len()"',
                 id="unsupported-pipe"),
    pytest.param("let x = 1; x > 0", 1, 'unsupported "let" in condition "let x = 1; x > 0"',
                 id="unsupported-let"),
    pytest.param("result === 1", 1, 'unexpected token Operator("=") (1:10)', id="unknown-operator-triple-eq"),
    pytest.param("result <> 1", 1, 'unexpected token Operator(">") (1:9)', id="unknown-operator-diamond"),
    pytest.param("result & 1", 1, 'unexpected token Operator("&") (1:8)', id="unknown-operator-amp"),
    pytest.param("result >", 1, "unexpected token EOF (1:8)", id="syntax-dangling-operator"),
    pytest.param("(result > 1", 1, "unexpected token EOF (1:11)", id="syntax-unclosed-paren"),
    pytest.param("result[0] 10.000000", [1], 'unexpected token Number("10.000000") (1:11)',
                 id="syntax-reference-test-missing-operator"),
    pytest.param("result >\n  )", 1, 'unexpected token Bracket(")") (2:3)', id="syntax-second-line"),
    pytest.param("'abc", 1, "literal not terminated (1:5)", id="syntax-unterminated-string"),
    pytest.param("'\\q'", 1, "invalid char escape (1:3)", id="syntax-bad-escape"),
    pytest.param("1a > 0", 1, 'bad number syntax: "1a" (1:2)', id="syntax-bad-number"),
    pytest.param("result @ 1", 1, "unrecognized character: U+0040 '@' (1:8)", id="syntax-bad-character"),
    pytest.param("nil.x", 1, 'unexpected token Operator(".") (1:4)', id="syntax-nil-member"),
    pytest.param("all(result)", [1], "expected at least 2 arguments (1:11)", id="syntax-predicate-arity"),
    pytest.param("a ?? b + c", 1, "Operator (+) and coalesce expressions (??) cannot be mixed. Wrap either "
                 "by parentheses. (1:8)", id="syntax-coalesce-mix"),
    pytest.param("asFloat(result) == \"1.1\"", "1.1",
                 "invalid operation: == (mismatched types float64 and string)",
                 id="static-mismatch-reference-test"),
    pytest.param("result == 'x'", 1.0, "invalid operation: == (mismatched types float64 and string)",
                 id="static-result-typed-by-value"),
    pytest.param("result + 'a' == 'b'", 1, "invalid operation: + (mismatched types int and string)",
                 id="static-plus"),
    pytest.param("!result", 1.0, "invalid operation: ! (mismatched type float64)", id="static-not"),
    pytest.param("7.5 % 2 == 1", 1, "invalid operation: % (mismatched types float64 and int)",
                 id="static-mod"),
    pytest.param("len(result) > 0", 5, "invalid argument for len (type int)", id="static-len"),
    pytest.param("all(result, # > 1)", 5, "builtin all takes only array (got int)", id="static-all"),
    pytest.param("all(result, #index > 0)", [1], "unknown pointer #index", id="static-index-outside-map"),
    pytest.param("asInt() > 0", 1, "not enough arguments to call asInt", id="static-too-few"),
    pytest.param("isNaN(result, 1)", 1.0, "too many arguments to call isNaN", id="static-too-many"),
    pytest.param("len(result, 1) > 0", [1], "invalid number of arguments (expected 1, got 2)",
                 id="static-len-arity"),
    pytest.param("isNaN('x')", 1, "cannot use string as argument (type float64) to call isNaN ",
                 id="static-argument-type"),
    pytest.param("result[0] + 'a' == 'b'", [1], "invalid operation: int + string", id="runtime-plus"),
    pytest.param("result[0] < 'a'", [1], "invalid operation: int < string", id="runtime-less"),
    pytest.param("result[0] && true", [1.0], "interface conversion: interface {} is float64, not bool",
                 id="runtime-and-needs-bool"),
    pytest.param("!result.a", {"a": None}, "interface conversion: interface {} is nil, not bool",
                 id="runtime-not-nil"),
    pytest.param("all(result, # > 1)", [2, "x"], "invalid operation: string > int",
                 id="runtime-in-predicate"),
    pytest.param("all(result.a, # > 1)", {"a": 1}, "builtin all takes only array (got int)",
                 id="runtime-all"),
    pytest.param("any(result, #)", [1], "interface conversion: interface {} is int, not bool",
                 id="runtime-predicate-not-bool"),
    pytest.param("result[2] > 0", [1, 2], "index out of range: 2 (array length is 2)",
                 id="index-out-of-range"),
    pytest.param("result[-3] > 0", [1, 2], "index out of range: -1 (array length is 2)",
                 id="negative-out-of-range"),
    pytest.param("result.a.b == 1", {"a": None}, "cannot fetch b from <nil>", id="fetch-from-nil"),
    pytest.param("result.a.b == 1", {"a": 1}, "cannot fetch b from int", id="fetch-from-number"),
    pytest.param("result[0] == 1", {"a": 1}, "cannot use int to get an element from map[string]interface {}",
                 id="static-int-key-on-map"),
    pytest.param("result.a[0] == 1", {"a": {}}, "reflect.Value.MapIndex: value of type int is not assignable "
                 "to type string", id="runtime-int-key-on-map"),
    pytest.param("1 % (result - 1) == 0", 1, "runtime error: integer divide by zero", id="modulo-by-zero"),
    pytest.param("asInt(result) == 1.1", "1.1", 'strconv.ParseInt: parsing "1.1": invalid syntax',
                 id="as-int"),
    pytest.param("asFloat(result) == 1.1", "NotANum", 'strconv.ParseFloat: parsing "NotANum": invalid syntax',
                 id="as-float"),
    pytest.param("asInt(result) == 1", True, "asInt() not supported on bool true", id="as-int-bool"),
    pytest.param("isNaN(result.a)", {"a": "x"}, "reflect: Call using string as type float64",
                 id="is-nan-string"),
    pytest.param("result[0] matches '('", ["x"], "error parsing regexp: missing ), unterminated subpattern "
                 "at position 0", id="bad-regexp"),
])
def test_errors(expression: str, result: object, message: str) -> None:
    with pytest.raises(ExprError) as caught:
        condition(expression, result)
    assert str(caught.value) == message


@pytest.mark.parametrize(("expression", "valid"), [
    pytest.param("result > 1", True, id="plain"),
    pytest.param("result.a.b == 'x' && all(result.c, {.d > 1})", True, id="any-result-shape"),
    pytest.param("result == 'x'", True, id="string-compare-fine-without-a-result"),
    pytest.param("foo > 1", False, id="unknown-name"),
    pytest.param("result +", False, id="syntax"),
    pytest.param("now() > result", False, id="unsupported"),
    pytest.param("result > {{args.threshold}}", False, id="unresolved-template"),
    pytest.param("1 + 'a' == 2", False, id="literal-mismatch"),
])
def test_check(expression: str, valid: bool) -> None:
    try:
        check(expression)
    except ExprError:
        assert not valid
    else:
        assert valid


def test_never_runs_python() -> None:
    for expression in ("__import__('os').system('true')", "().__class__", "exec('1')", "eval"):
        with pytest.raises(ExprError):
            evaluate(expression, 1)


def test_parse_and_check_are_cached() -> None:
    """The same condition over results of the same type is parsed and checked once."""
    expression = "result[0] >= 0.0123456789"
    misses = analysis_expr._checked.cache_info().misses
    for value in (0.5, 0.7, 0.9):
        condition(expression, [value])
    assert analysis_expr._checked.cache_info().misses == misses + 1
    parses = analysis_expr._parsed.cache_info()
    check(expression)  # another result type is checked again, on the same parse
    assert analysis_expr._parsed.cache_info().hits == parses.hits + 1
    assert analysis_expr._parsed.cache_info().misses == parses.misses


# --- measurement_phase --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("success", "failure", "phase"), [
    pytest.param("", "", "Successful", id="no-conditions"),
    pytest.param("true", "", "Successful", id="success-only-true"),
    pytest.param("false", "", "Failed", id="success-only-false"),
    pytest.param("", "true", "Failed", id="failure-only-true"),
    pytest.param("", "false", "Successful", id="failure-only-false"),
    pytest.param("true", "false", "Successful", id="success-not-failure"),
    pytest.param("true", "true", "Failed", id="failure-wins"),
    pytest.param("false", "true", "Failed", id="failure"),
    pytest.param("false", "false", "Inconclusive", id="neither"),
])
def test_measurement_phase_truth_table(success: str, failure: str, phase: str) -> None:
    assert measurement_phase(True, success, failure) == phase


def test_measurement_phase_with_real_conditions() -> None:
    assert measurement_phase([0.96], "result[0] >= 0.95", "result[0] < 0.9") == "Successful"
    assert measurement_phase([0.92], "result[0] >= 0.95", "result[0] < 0.9") == "Inconclusive"
    assert measurement_phase([0.5], "result[0] >= 0.95", "result[0] < 0.9") == "Failed"


@pytest.mark.parametrize(("result", "success", "failure", "message"), [
    pytest.param(True, "a == true", "true", 'could not evaluate successCondition "a == true": unknown name a',
                 id="success-error-first"),
    pytest.param(True, "true", "invalidVar == true",
                 'could not evaluate failureCondition "invalidVar == true": unknown name invalidVar',
                 id="failure-error"),
    pytest.param(None, "result[0] >= 0.95", "", 'could not evaluate successCondition "result[0] >= 0.95": '
                 "metric result is nil or empty: no data returned from the metric provider", id="nil-result"),
    pytest.param([], "result[0] >= 0.95", "", 'could not evaluate successCondition "result[0] >= 0.95": '
                 "metric result is nil or empty: no data returned from the metric provider",
                 id="empty-result"),
    pytest.param(1.0, "result", "",
                 'could not evaluate successCondition "result": expected bool, but got float64',
                 id="non-bool"),
])
def test_measurement_phase_errors(result: object, success: str, failure: str, message: str) -> None:
    with pytest.raises(ExprError) as caught:
        measurement_phase(result, success, failure)
    assert str(caught.value) == message
