"""Go encoding/json compatibility.

Covers: compact output in given field order; `<`, `>`, `&`, U+2028/U+2029 escaped like Go; non-ASCII kept raw;
control characters; floats refused; every syntax-error text of Go's scanner for the common cases (including
the space Go feeds at EOF); lone surrogates read as U+FFFD; valid documents decode.
"""

from __future__ import annotations

import pytest

from service.alb import gojson

KEY_START = "invalid character '{}' looking for beginning of object key string"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"b": 1, "a": [True, None]}, '{"b":1,"a":[true,null]}', id="order-kept-compact"),
        pytest.param({"k": "a<b>&c"}, '{"k":"a\\u003cb\\u003e\\u0026c"}', id="html-escapes"),
        pytest.param("\u2028\u2029", '"\\u2028\\u2029"', id="line-separators"),
        pytest.param("héllo ☃", '"héllo ☃"', id="non-ascii-raw"),
        pytest.param("a\nb\tc\x01\x7f", '"a\\nb\\tc\\u0001\x7f"', id="control-characters"),
        pytest.param('q"\\', '"q\\"\\\\"', id="quote-backslash"),
        pytest.param("\ud800x", '"\ufffdx"', id="lone-surrogate"),
    ],
)
def test_dumps_like_go(value: object, expected: str) -> None:
    assert gojson.dumps(value) == expected


def test_dumps_refuses_floats() -> None:
    with pytest.raises(TypeError, match="floats are never written"):
        gojson.dumps({"Weight": 1.5})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("test", "invalid character 'e' in literal true (expecting 'r')", id="test"),
        pytest.param("tru", "invalid character ' ' in literal true (expecting 'e')", id="true-cut"),
        pytest.param("fals", "invalid character ' ' in literal false (expecting 'e')", id="false-cut"),
        pytest.param("nul", "invalid character ' ' in literal null (expecting 'l')", id="null-cut"),
        pytest.param("nope", "invalid character 'o' in literal null (expecting 'u')", id="null-wrong"),
        pytest.param("{", "unexpected end of JSON input", id="open-object"),
        pytest.param('{"a":', "unexpected end of JSON input", id="missing-value"),
        pytest.param("   ", "unexpected end of JSON input", id="blank"),
        pytest.param("x", "invalid character 'x' looking for beginning of value", id="bad-start"),
        pytest.param("[1,]", "invalid character ']' looking for beginning of value", id="trail-arr"),
        pytest.param('{"a":1,}', KEY_START.format("}"), id="trail-obj"),
        pytest.param("{a:1}", KEY_START.format("a"), id="bare-key"),
        pytest.param('{"a" 1}', "invalid character '1' after object key", id="missing-colon"),
        pytest.param('{"a":1 "b":2}', "invalid character '\"' after object key:value pair", id="no-comma"),
        pytest.param("[1 2]", "invalid character '2' after array element", id="array-missing-comma"),
        pytest.param("{}x", "invalid character 'x' after top-level value", id="after-top"),
        pytest.param('"a\x01"', "invalid character '\\x01' in string literal", id="control-in-string"),
        pytest.param('"a\nb"', "invalid character '\\n' in string literal", id="newline-in-string"),
        pytest.param('"\\q"', "invalid character 'q' in string escape code", id="bad-escape"),
        pytest.param('"\\u12x4"', "invalid character 'x' in \\u hexadecimal character escape", id="bad-hex"),
        pytest.param("-x", "invalid character 'x' in numeric literal", id="minus"),
        pytest.param("1.e", "invalid character 'e' after decimal point in numeric literal", id="dot"),
        pytest.param("1e+x", "invalid character 'x' in exponent of numeric literal", id="exponent"),
        pytest.param("{'a':1}", KEY_START.format("\\'"), id="quote"),
        pytest.param("NaN", "invalid character 'N' looking for beginning of value", id="nan"),
        pytest.param("é", "invalid character 'Ã' looking for beginning of value", id="utf8-lead-byte"),
        pytest.param("\x7f", "invalid character '\\x7f' looking for beginning of value", id="delete"),
        pytest.param("\u00a0", "invalid character 'Â' looking for beginning of value", id="nbsp-lead-byte"),
    ],
)
def test_loads_reports_go_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(gojson.GoJSONError) as caught:
        gojson.loads(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(' {"a": ["b", null], "c": -1.5e3} ', {"a": ["b", None], "c": -1500.0}, id="document"),
        pytest.param('"\\ud800"', "\ufffd", id="lone-surrogate-escape"),
        pytest.param('"\\ud83d\\ude00"', "\U0001f600", id="surrogate-pair"),
        pytest.param("null", None, id="null"),
    ],
)
def test_loads_valid_documents(text: str, expected: object) -> None:
    assert gojson.loads(text) == expected
