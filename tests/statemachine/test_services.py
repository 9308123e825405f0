"""Which pod hash each Service selects: stable/canary, ping-pong either way, abort, rollback, availability.

Aspects: stable Service follows the observed stable ReplicaSet; canary Service follows the new ReplicaSet only
once it has an available pod; abort points the canary Service at stable (dynamicStableScale: only at weight
0); dynamic rollback leaves it alone; ping-pong picks names by stablePingPong and leaves the canary alone once
promoted.
"""

from __future__ import annotations

from typing import Any

import pytest

from statemachine import planning, services
from tests.statemachine.conftest import NOW, progressing_status, rollout_dict, rs, snapshot

PING_PONG = {"pingPong": {"pingService": "ping", "pongService": "pong"}}


@pytest.mark.parametrize(("status", "canary", "kwargs", "weight", "expected"), [
    pytest.param(progressing_status(0), {}, {}, 10, (("stable", "old"), ("canary", "new")), id="progressing"),
    pytest.param(progressing_status(0), {}, {"new": rs("new", 1, 0)}, 0, (("stable", "old"),),
                 id="canary-not-available-yet"),
    pytest.param(progressing_status(0, abort=True), {}, {}, 0, (("stable", "old"), ("canary", "old")),
                 id="abort"),
    pytest.param(progressing_status(0, abort=True), {"dynamicStableScale": True}, {}, 30,
                 (("stable", "old"),), id="abort-dynamic-waits-for-weight-0"),
    pytest.param(progressing_status(0, abort=True), {"dynamicStableScale": True}, {}, 0,
                 (("stable", "old"), ("canary", "old")), id="abort-dynamic-at-0"),
    pytest.param({**progressing_status(0), "canary": {"stablePingPong": "ping"}}, PING_PONG, {}, 10,
                 (("ping", "old"), ("pong", "new")), id="ping-pong-ping-stable"),
    pytest.param(progressing_status(0), PING_PONG, {}, 10, (("pong", "old"), ("ping", "new")),
                 id="ping-pong-default-pong-stable"),
    pytest.param({**progressing_status(4), "stableRS": "new"}, PING_PONG, {"stable": rs("new", 10)}, 0,
                 (("pong", "new"),), id="ping-pong-promoted"),
    pytest.param({**progressing_status(4), "currentPodHash": "old", "stableRS": "old"},
                 {"dynamicStableScale": True}, {"new": rs("old", 10, 7), "stable": rs("old", 10, 7)}, 30,
                 (("stable", "old"),), id="dynamic-rollback-leaves-canary"),
])
def test_service_selectors(status: dict[str, Any], canary: dict[str, Any], kwargs: dict[str, Any],
                           weight: int, expected: tuple[tuple[str, str], ...]) -> None:
    cluster: dict[str, Any] = {"new": rs("new", 1), "stable": rs("old", 10), **kwargs}
    snap = snapshot(rollout_dict(status=status, **canary), **cluster)
    assert services.service_selectors(snap, weight) == expected


def test_plan_carries_selectors_except_for_invalid_specs() -> None:
    raw = rollout_dict(status=progressing_status(0))
    cluster: dict[str, Any] = {"new": rs("new", 1), "stable": rs("old", 10)}
    plan = planning.plan(snapshot(raw, **cluster), now=NOW)
    assert plan.selectors == (("stable", "old"), ("canary", "new"))
    assert planning.plan(snapshot(raw, **cluster, invalid_spec="bad"), now=NOW).selectors == ()
