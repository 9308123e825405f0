"""The one RFC 7386 merge-patch diff (status and Ingress bodies).

Aspects: unchanged keys are left out; removed keys become null; nested objects are diffed key by key, lists
replaced whole; values compare as JSON (false vs 0, true vs 1); `keys` restricts the top level; key order;
the inputs are not mutated.
"""

from __future__ import annotations

import copy

import pytest

from statemachine import merge_patch


def test_changed_keys_only_nulls_for_removals_lists_whole() -> None:
    old = {"a": 1, "b": {"c": 1, "d": 2}, "e": [1], "f": False}
    new = {"a": 1, "b": {"c": 1}, "e": [1, 2], "f": 0}
    assert merge_patch.diff(old, new) == {"b": {"d": None}, "e": [1, 2], "f": 0}
    assert merge_patch.diff(old, new, ("a",)) == {}


@pytest.mark.parametrize(("old", "new", "patch"), [
    pytest.param({}, {}, {}, id="both-empty"),
    pytest.param({"a": 1}, {"a": 1}, {}, id="equal"),
    pytest.param({"a": True}, {"a": 1}, {"a": 1}, id="true-is-not-1"),
    pytest.param({"a": [{"x": 1}]}, {"a": [{"x": 2}]}, {"a": [{"x": 2}]}, id="list-of-objects-whole"),
    pytest.param({"a": {"b": {"c": 1}}}, {"a": {"b": {"c": 1, "d": 2}}}, {"a": {"b": {"d": 2}}}, id="deep"),
    pytest.param({"a": {"b": 1}}, {"a": 2}, {"a": 2}, id="object-replaced-by-scalar"),
    pytest.param({"a": 2}, {"a": {"b": 1}}, {"a": {"b": 1}}, id="scalar-replaced-by-object"),
    pytest.param({"a": {"b": 1}}, {"a": {}}, {"a": {"b": None}}, id="emptied-object"),
])
def test_diff(old: dict[str, object], new: dict[str, object], patch: dict[str, object]) -> None:
    before, after = copy.deepcopy(old), copy.deepcopy(new)
    assert merge_patch.diff(old, new) == patch
    assert (old, new) == (before, after)


def test_keys_restrict_and_order_the_top_level() -> None:
    old = {"z": 1, "y": 1, "x": 1}
    new = {"z": 2, "y": 2}
    assert list(merge_patch.diff(old, new)) == ["z", "y", "x"]
    assert list(merge_patch.diff(old, new, ("x", "z", "missing"))) == ["x", "z"]
