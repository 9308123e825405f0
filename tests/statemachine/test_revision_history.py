"""revisionHistoryLimit: the oldest old ReplicaSets beyond the limit, and only those fully scaled down."""

from __future__ import annotations

from typing import Any

import pytest

from statemachine import revision_history


def _rs(name: str, created: str, *, spec: int = 0, status: int = 0, generation: int = 1, observed: int = 1,
        deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "creationTimestamp": created, "generation": generation}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": metadata, "spec": {"replicas": spec},
            "status": {"replicas": status, "observedGeneration": observed}}


OLD = [_rs("c", "2026-01-03T00:00:00Z"), _rs("a", "2026-01-01T00:00:00Z"), _rs("b", "2026-01-02T00:00:00Z")]


@pytest.mark.parametrize(("others", "limit", "deleted"), [
    pytest.param(OLD, 10, [], id="within-the-limit"),
    pytest.param(OLD, 1, ["a", "b"], id="oldest-first"),
    pytest.param(OLD, 0, ["a", "b", "c"], id="zero-keeps-none"),
    pytest.param([*OLD[:2], _rs("b", "2026-01-02T00:00:00Z", spec=1)], 1, ["a"], id="scaled-up-kept"),
    pytest.param([*OLD[:2], _rs("b", "2026-01-02T00:00:00Z", status=1)], 1, ["a"], id="pods-still-there"),
    pytest.param([*OLD[:2], _rs("b", "2026-01-02T00:00:00Z", generation=2)], 1, ["a"],
                 id="scale-not-observed-yet"),
    pytest.param([*OLD, _rs("d", "2026-01-01T00:00:00Z", deleting=True)], 2, ["a"],
                 id="deleting-not-counted"),
])
def test_to_delete(others: list[dict[str, Any]], limit: int, deleted: list[str]) -> None:
    assert [rs["metadata"]["name"] for rs in revision_history.to_delete(others, limit)] == deleted


def test_within_one_second_the_revision_says_which_is_older() -> None:
    same = "2026-01-01T00:00:00Z"
    others = [_rs("z", same), _rs("y", same)]
    others[0]["metadata"]["annotations"] = {"rollout.argoproj.io/revision": "2"}
    others[1]["metadata"]["annotations"] = {"rollout.argoproj.io/revision": "3"}
    assert [rs["metadata"]["name"] for rs in revision_history.to_delete(others, 1)] == ["z"]


@pytest.mark.parametrize(("spec", "limit"), [({}, 10), ({"revisionHistoryLimit": 2}, 2),
                                             ({"revisionHistoryLimit": -1}, 0),
                                             ({"revisionHistoryLimit": "x"}, 10)])
def test_revision_history_limit(spec: dict[str, Any], limit: int) -> None:
    assert revision_history.revision_history_limit({"spec": spec}) == limit
