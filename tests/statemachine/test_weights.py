"""Desired weights and ReplicaSet sizes (reference §4.1 and the counts of §4.2).

Aspects: every row of the §4.1 table in order (dynamic rollback to stable, fully promoted, aborted with and
without dynamicStableScale, canary unavailable, promoteFull with and without dynamicStableScale, previous
setWeight while scaling, current setWeight, end of steps, no steps), the stable-availability hold, the
setWeight/setCanaryScale/dynamicStableScale/minPodsPerReplicaSet replica counts, the clamped weight status,
the exact `Traffic weight updated` messages, and the property that weights stay in 0..100 and sum to 100.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statemachine import models, planning, weights
from tests.statemachine.conftest import NOW, rs, snapshot
from tests.statemachine.conftest import progressing_status as ps
from tests.statemachine.conftest import rollout_dict as ro


def _decision(raw: dict[str, Any], **kwargs: Any) -> tuple[int, str, str, bool, bool]:
    d = weights.desired_weight(snapshot(raw, **kwargs))
    return d.weight, d.row, d.canary_hash, d.remove_routes, d.hold


PROMOTED = {"currentPodHash": "old", "stableRS": "old", "currentStepIndex": 4, "canary": {"weights": {
    "canary": {"weight": 50, "serviceName": "canary", "podTemplateHash": "new"},
    "stable": {"weight": 50, "serviceName": "stable", "podTemplateHash": "old"}}}}


@pytest.mark.parametrize(("raw", "kwargs", "expected"), [
    pytest.param(ro(status=PROMOTED, dynamicStableScale=True),
                 {"new": rs("old", 10, 7), "stable": rs("old", 10, 7)},
                 (30, "rollback-to-stable", "new", False, False),
                 id="rollback-to-stable-dynamic"),
    pytest.param(ro(status={**PROMOTED, "canary": {"weights": {
                     "canary": {"weight": 20, "podTemplateHash": "new"}, "stable": {"weight": 80}}}},
                     dynamicStableScale=True),
                 {"new": rs("old", 10, 7), "stable": rs("old", 10, 7)},
                 (20, "rollback-to-stable", "new", False, True),
                 id="rollback-to-stable-never-raises-weight"),
    pytest.param(ro(status=PROMOTED), {"new": rs("old", 10), "stable": rs("old", 10)},
                 (0, "fully-promoted", "old", True, False), id="fully-promoted"),
    pytest.param(ro(status=ps(2, canary_weight=50, abort=True)),
                 {"new": rs("new", 5), "stable": rs("old", 10)}, (0, "aborted", "new", True, False),
                 id="aborted"),
    pytest.param(ro(status=ps(2, canary_weight=50, abort=True), dynamicStableScale=True),
                 {"new": rs("new", 5), "stable": rs("old", 6)}, (40, "aborted", "new", True, False),
                 id="aborted-dynamic-follows-stable-availability"),
    pytest.param(ro(status=ps(2, canary_weight=30, abort=True), dynamicStableScale=True),
                 {"new": rs("new", 5), "stable": rs("old", 6)}, (30, "aborted", "new", True, True),
                 id="aborted-dynamic-never-raises-weight"),
    pytest.param(ro(status=ps(2, canary_weight=10)), {"new": None, "stable": rs("old", 10)},
                 (0, "canary-unavailable", "", True, False), id="new-rs-missing"),
    pytest.param(ro(status=ps(2, canary_weight=10)),
                 {"new": rs("new", 5, 0), "stable": rs("old", 10)},
                 (0, "canary-unavailable", "new", True, False),
                 id="new-rs-unavailable"),
    pytest.param(ro(status=ps(2, canary_weight=50, promoteFull=True)),
                 {"new": rs("new", 10, 7), "stable": rs("old", 10)}, (50, "promote-full", "new", True, False),
                 id="promote-full-keeps-current-weight"),
    pytest.param(ro(status={**ps(2, promoteFull=True), "canary": {}}),
                 {"new": rs("new", 10, 7), "stable": rs("old", 10)}, (0, "promote-full", "new", True, False),
                 id="promote-full-without-weights"),
    pytest.param(ro(status=ps(2, canary_weight=50, promoteFull=True),
                              dynamicStableScale=True),
                 {"new": rs("new", 10, 7), "stable": rs("old", 10)}, (70, "promote-full", "new", True, False),
                 id="promote-full-dynamic-follows-canary-availability"),
    pytest.param(ro(status=ps(2, canary_weight=10)),
                 {"new": rs("new", 5, 1), "stable": rs("old", 10)},
                 (10, "previous-set-weight", "new", False, False),
                 id="scaling-uses-previous-set-weight"),
    pytest.param(ro(status=ps(0)),
                 {"new": rs("new", 1, 0 + 1), "stable": rs("old", 9)},
                 (0, "previous-set-weight", "new", False, True),
                 id="no-previous-set-weight-is-0"),
    pytest.param(ro(status=ps(2, canary_weight=10)),
                 {"new": rs("new", 5), "stable": rs("old", 10)},
                 (50, "current-set-weight", "new", False, False),
                 id="current-set-weight"),
    pytest.param(ro(status=ps(1, canary_weight=10)),
                 {"new": rs("new", 1), "stable": rs("old", 10)},
                 (10, "current-set-weight", "new", False, False),
                 id="pause-step-keeps-last-set-weight"),
    pytest.param(ro(status=ps(4, canary_weight=50)),
                 {"new": rs("new", 10), "stable": rs("old", 10)}, (100, "end-of-steps", "new", False, False),
                 id="end-of-steps"),
    pytest.param(ro(status=ps(4, canary_weight=50)),
                 {"new": rs("new", 5), "stable": rs("old", 10)},
                 (50, "previous-set-weight", "new", False, False),
                 id="end-of-steps-while-scaling"),
    pytest.param(ro([], status={**ps(0), "currentStepIndex": None}),
                 {"new": rs("new", 10), "stable": rs("old", 10)}, (0, "no-steps", "new", False, False),
                 id="no-steps"),
    pytest.param(ro(status=ps(2, canary_weight=10)),
                 {"new": rs("new", 5), "stable": rs("old", 10, 4)},
                 (10, "previous-set-weight", "new", False, True),
                 id="hold-when-stable-cannot-take-its-share"),
])
def test_desired_weight_table(raw: dict[str, Any], kwargs: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert _decision(raw, **kwargs) == expected


@pytest.mark.parametrize(("steps", "status", "canary", "expected"), [
    pytest.param([{"setWeight": 10}], {"currentStepIndex": 0}, {}, (1, 3), id="setWeight-rounds-up"),
    pytest.param([{"setWeight": 34}], {"currentStepIndex": 0}, {}, (2, 3), id="setWeight-ceil-1.02"),
    pytest.param([{"setWeight": 0}], {"currentStepIndex": 0}, {}, (0, 3), id="setWeight-0"),
    pytest.param([{"setWeight": 10}, {"setCanaryScale": {"replicas": 2}}], {"currentStepIndex": 1}, {},
                 (2, 3),
                 id="setCanaryScale-replicas"),
    pytest.param([{"setCanaryScale": {"weight": 50}}, {"setWeight": 10}], {"currentStepIndex": 1}, {}, (2, 3),
                 id="setCanaryScale-weight-rounds-up"),
    pytest.param([{"setCanaryScale": {"replicas": 3}}, {"setWeight": 10},
                  {"setCanaryScale": {"matchTrafficWeight": True}}], {"currentStepIndex": 2}, {}, (1, 3),
                 id="matchTrafficWeight-cancels"),
    pytest.param([{"setWeight": 10}], {"currentStepIndex": 1}, {}, (3, 3), id="end-of-steps-full-canary"),
    pytest.param([{"setWeight": 10}], {"currentStepIndex": 0, "promoteFull": True}, {}, (3, 3),
                 id="promote-full"),
    pytest.param([{"setWeight": 10}], {"currentStepIndex": 0}, {"minPodsPerReplicaSet": 2}, (2, 3),
                 id="minPodsPerReplicaSet"),
    pytest.param([{"setWeight": 10}], {"currentStepIndex": 0}, {"dynamicStableScale": True}, (1, 3),
                 id="dynamic-stable-follows-weights-status"),
    pytest.param([{"setWeight": 70}], {"currentStepIndex": 0, "canary": {"weights": {
        "canary": {"weight": 70}, "stable": {"weight": 30}}}}, {"dynamicStableScale": True}, (3, 1),
                 id="dynamic-stable-shrinks"),
    pytest.param([{"setCanaryScale": {"replicas": 2}}], {"currentStepIndex": 0, "abort": True}, {}, (0, 3),
                 id="abort-ignores-setCanaryScale"),
    pytest.param([{"setCanaryScale": {"replicas": 2}}], {"currentStepIndex": 0, "abort": True},
                 {"abortScaleDownDelaySeconds": 0}, (2, 3), id="abort-keeps-setCanaryScale-with-delay-0"),
    pytest.param([{"setWeight": 10}], {"currentStepIndex": 0, "abort": True, "canary": {"weights": {
        "canary": {"weight": 70}, "stable": {"weight": 30}}}}, {"dynamicStableScale": True}, (3, 3),
                 id="abort-dynamic-keeps-canary-until-traffic-moves"),
])
def test_traffic_routed_counts(steps: list[dict[str, Any]], status: dict[str, Any], canary: dict[str, Any],
                               expected: tuple[int, int]) -> None:
    rollout = snapshot(ro(steps, {"currentPodHash": "new", "stableRS": "old", **status}, replicas=3,
                                    **canary)).rollout
    assert weights.traffic_routed_counts(rollout, rollout.status.canary.weights) == expected


def test_current_step_and_index_rules() -> None:
    no_steps = snapshot(ro([])).rollout
    assert weights.current_step(no_steps) == (None, None)
    nil_index = snapshot(ro(status={"currentPodHash": "x"})).rollout
    assert weights.current_step(nil_index) == (models.SetWeight(10), 0)
    past_end = snapshot(ro(status={"currentStepIndex": 7})).rollout
    assert weights.current_step(past_end) == (None, 7)
    assert weights.current_set_weight(past_end) == 100


def test_weight_status_is_clamped() -> None:
    rollout = snapshot(ro()).rollout
    over = weights.weight_status(rollout, 150, "new", "old")
    assert (over.canary.weight, over.stable.weight) == (100, 0)
    under = weights.weight_status(rollout, -5, "new", "old")
    assert (under.canary.weight, under.stable.weight) == (0, 100)
    crowded = weights.weight_status(rollout, 90, "new", "old", (models.WeightDestination(30, "x", "h"),
                                                                 models.WeightDestination(5, "y", "i")))
    assert (crowded.stable.weight, crowded.additional) == (0, (models.WeightDestination(10, "x", "h"),
                                                               models.WeightDestination(0, "y", "i")))


@pytest.mark.parametrize(("desired", "additional", "expected"), [
    pytest.param(10, (), (10, (), 90), id="plain"),
    pytest.param(150, (), (100, (), 0), id="over-100"),
    pytest.param(-3, (), (0, (), 100), id="negative"),
    pytest.param(60, (30, 30), (60, (30, 10), 0), id="experiments-overflow"),
    pytest.param(10, (-5, 20), (10, (0, 20), 70), id="negative-experiment"),
])
def test_split_clamps(desired: int, additional: tuple[int, ...], expected: tuple[int, tuple[int, ...], int]
                      ) -> None:
    assert weights.split(desired, additional) == expected


def _w(canary: int, extra: tuple[models.WeightDestination, ...] = ()) -> models.TrafficWeights:
    return models.TrafficWeights(models.WeightDestination(canary, "canary", "new"),
                                 models.WeightDestination(100 - canary, "stable", "old"), extra)


@pytest.mark.parametrize(("previous", "new", "message"), [
    pytest.param(None, _w(10), "Traffic weight updated to 10", id="first"),
    pytest.param(_w(10), _w(50), "Traffic weight updated from 10 to 50", id="change"),
    pytest.param(_w(10), _w(10, (models.WeightDestination(5, "exp", "h1"),)),
                 "Traffic weight updated additional: [{5 exp h1}]", id="additional"),
    pytest.param(_w(10), _w(20, (models.WeightDestination(5, "exp", "h1"),)),
                 "Traffic weight updated from 10 to 20, additional: [{5 exp h1}]", id="both"),
    pytest.param(_w(10), models.TrafficWeights(models.WeightDestination(10, "canary", "new"),
                                               models.WeightDestination(90, "stable", "other")),
                 "Traffic weight updated ", id="hash-only"),
])
def test_traffic_weight_message(previous: models.TrafficWeights | None, new: models.TrafficWeights,
                                message: str) -> None:
    assert weights.traffic_weight_message(previous, new) == message


step_strategy = st.one_of(
    st.builds(lambda w: {"setWeight": w}, st.integers(0, 100)),
    st.just({"pause": {}}),
    st.builds(lambda d: {"pause": {"duration": d}}, st.integers(0, 7200)),
    st.builds(lambda r: {"setCanaryScale": {"replicas": r}}, st.integers(0, 20)),
    st.builds(lambda w: {"setCanaryScale": {"weight": w}}, st.integers(0, 100)),
    st.just({"setCanaryScale": {"matchTrafficWeight": True}}),
    st.just({"setHeaderRoute": {"name": "hr"}}),
)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(step_strategy, max_size=6),
    data=st.data(),
    replicas=st.integers(1, 20),
    dynamic=st.booleans(),
    abort=st.booleans(),
    promote_full=st.booleans(),
    prior=st.one_of(st.none(), st.integers(0, 100)),
    new_available=st.integers(0, 20),
    stable_available=st.integers(0, 20),
    verified=st.one_of(st.none(), st.booleans()),
)
def test_weights_stay_in_range_and_sum_to_100(
    steps: list[dict[str, Any]], data: st.DataObject, replicas: int, dynamic: bool, abort: bool,
    promote_full: bool, prior: int | None, new_available: int, stable_available: int, verified: bool | None,
) -> None:
    index = data.draw(st.integers(0, len(steps)))
    status = ps(index, canary_weight=prior or 0, abort=abort, promoteFull=promote_full)
    if prior is None:
        status["canary"] = {}
    raw = ro(steps, status, replicas=replicas, dynamicStableScale=dynamic)
    snap = snapshot(raw, new=rs("new", replicas, min(new_available, replicas)),
                    stable=rs("old", replicas, min(stable_available, replicas)), verified=verified,
                    verify_weights=True)
    decision = weights.desired_weight(snap)
    assert 0 <= decision.weight <= 100
    plan = planning.plan(snap, now=NOW)
    if plan.traffic.weights is not None:
        assert 0 <= plan.canary_weight <= 100 and 0 <= plan.stable_weight <= 100
        assert plan.canary_weight + plan.stable_weight + sum(a.weight for a in plan.additional) == 100
