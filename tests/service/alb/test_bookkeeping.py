"""The managed-alb-annotations bookkeeping map (reference §1.4).

Covers: empty/missing/null values; Go's error text for invalid JSON (`test`) and type mismatches; round trips
that keep (and re-sort, re-format) other rollouts' entries; add without duplicates; remove keeping the empty
entry; drop; Go escaping of `<`, `>`, `&`; never mutating the input.
"""

from __future__ import annotations

import pytest

from service.alb import bookkeeping

GO_TYPE = "json: cannot unmarshal {} into Go value of type {}"
MAP = "map[string][]string"
KEY_A = "alb.ingress.kubernetes.io/actions.stable-svc"
KEY_H = "alb.ingress.kubernetes.io/actions.header-route"
KEY_C = "alb.ingress.kubernetes.io/conditions.header-route"


def test_keys() -> None:
    assert bookkeeping.KEY == "rollouts.argoproj.io/managed-alb-annotations"
    assert bookkeeping.LEGACY_KEY == "rollouts.argoproj.io/managed-alb-actions"


@pytest.mark.parametrize("value", [None, "", "null", " null "], ids=["missing", "empty", "null", "spaced"])
def test_parse_empty(value: str | None) -> None:
    assert bookkeeping.parse(value) == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("test", "invalid character 'e' in literal true (expecting 'r')", id="test"),
        pytest.param("{", "unexpected end of JSON input", id="truncated"),
        pytest.param("rollout:alb.ingress.kubernetes.io/actions.stable",
                     "invalid character 'r' looking for beginning of value", id="legacy-format"),
        pytest.param("[]", GO_TYPE.format("array", MAP), id="array"),
        pytest.param('"x"', GO_TYPE.format("string", MAP), id="str"),
        pytest.param('{"r":"k"}', GO_TYPE.format("string", "[]string"), id="entry-str"),
        pytest.param('{"r":{}}', GO_TYPE.format("object", "[]string"), id="entry-obj"),
        pytest.param('{"r":[1]}', GO_TYPE.format("number", "string"), id="key-number"),
        pytest.param('{"r":[true]}', GO_TYPE.format("bool", "string"), id="key-bool"),
        pytest.param('{"a":[1],"b":"x"}', GO_TYPE.format("number", "string"),
                     id="first-error-wins"),
    ],
)
def test_parse_errors_use_go_text(value: str, message: str) -> None:
    with pytest.raises(bookkeeping.BookkeepingError) as caught:
        bookkeeping.parse(value)
    assert str(caught.value) == message


def test_null_entries_like_go() -> None:
    managed = bookkeeping.parse('{"a":null,"b":[null,"k"],"rollout":null}')
    assert managed == {"a": None, "b": ["", "k"], "rollout": None}
    assert bookkeeping.keys_of(managed, "rollout") == []
    # Go decodes `null` as a nil slice and writes it back as `null`; ours only gains a list when written to
    assert bookkeeping.serialise(bookkeeping.add(managed, "rollout", [KEY_A])) == (
        '{"a":null,"b":["","k"],"rollout":["alb.ingress.kubernetes.io/actions.stable-svc"]}')
    assert bookkeeping.serialise(bookkeeping.remove(managed, "rollout", [KEY_A])) == (
        '{"a":null,"b":["","k"],"rollout":[]}')
    assert bookkeeping.serialise(bookkeeping.drop(managed, "rollout")) == '{"a":null,"b":["","k"]}'


def test_round_trip_keeps_other_rollouts() -> None:
    current = '{ "zeta": ["x/actions.z"],\n "alpha": ["x/actions.a", "x/conditions.a"] }'
    managed = bookkeeping.add(bookkeeping.parse(current), "rollout", [KEY_A])
    assert bookkeeping.serialise(managed) == (
        '{"alpha":["x/actions.a","x/conditions.a"],"rollout":["alb.ingress.kubernetes.io/actions.stable-svc"],'
        '"zeta":["x/actions.z"]}'
    )


def test_add_appends_missing_keys_in_order() -> None:
    managed = bookkeeping.add({"rollout": [KEY_A]}, "rollout", [KEY_H, KEY_C, KEY_A])
    assert bookkeeping.serialise(managed) == (
        '{"rollout":["alb.ingress.kubernetes.io/actions.stable-svc","alb.ingress.kubernetes.io/actions.header-route",'
        '"alb.ingress.kubernetes.io/conditions.header-route"]}'
    )


def test_remove_keeps_empty_entry_like_the_reference() -> None:
    managed = bookkeeping.remove({"rollout": [KEY_H, KEY_C], "other": ["k"]}, "rollout", [KEY_H, KEY_C])
    assert bookkeeping.serialise(managed) == '{"other":["k"],"rollout":[]}'


def test_remove_from_unknown_rollout_creates_empty_entry() -> None:
    assert bookkeeping.serialise(bookkeeping.remove({}, "rollout", [KEY_H])) == '{"rollout":[]}'


def test_drop_removes_only_that_rollout() -> None:
    assert bookkeeping.drop({"a": ["1"], "b": ["2"]}, "a") == {"b": ["2"]}


def test_serialise_escapes_like_go() -> None:
    assert bookkeeping.serialise({"r<1>": ["a&b"]}) == '{"r\\u003c1\\u003e":["a\\u0026b"]}'


def test_updates_never_mutate_input() -> None:
    original = {"rollout": [KEY_A]}
    bookkeeping.add(original, "rollout", [KEY_H])
    bookkeeping.remove(original, "rollout", [KEY_A])
    bookkeeping.drop(original, "rollout")
    assert original == {"rollout": [KEY_A]}
