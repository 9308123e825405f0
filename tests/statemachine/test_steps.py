"""Canary steps: display strings, completion of each step kind, pauses, promotion reasons, verification.

Aspects: every step string of reference §4.2; setWeight completion needs replica counts AND a weight that is
not unverified; pause without duration completes only on promote (conditions cleared under controllerPause);
pause with duration completes strictly after startTime + duration (time passed in); setCanaryScale; header
and mirror routes complete at once; spec.paused suppresses completion; shouldFullPromote reasons;
ShouldVerifyWeight.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from statemachine import models, steps
from tests.statemachine.conftest import NOW, rs, snapshot
from tests.statemachine.conftest import progressing_status as ps
from tests.statemachine.conftest import rollout_dict as ro


@pytest.mark.parametrize(("step", "text"), [
    pytest.param({"setWeight": 10}, "setWeight: 10", id="setWeight"),
    pytest.param({"pause": {}}, "pause", id="pause"),
    pytest.param({"pause": {"duration": "30s"}}, "pause: 30s", id="pause-string"),
    pytest.param({"pause": {"duration": 30}}, "pause: 30", id="pause-int"),
    pytest.param({"setCanaryScale": {"weight": 25}}, "setCanaryScale{weight: 25}", id="scale-weight"),
    pytest.param({"setCanaryScale": {"replicas": 3}}, "setCanaryScale{replicas: 3}", id="scale-replicas"),
    pytest.param({"setCanaryScale": {"matchTrafficWeight": True}}, "setCanaryScale{matchTrafficWeight: true}",
                 id="scale-match"),
    pytest.param({"experiment": {}}, "experiment", id="experiment"),
    pytest.param({"analysis": {}}, "analysis", id="analysis"),
    pytest.param({"setHeaderRoute": {"name": "hr"}}, "setHeaderRoute: hr", id="header-route"),
    pytest.param({"setMirrorRoute": {"name": "mr"}}, "setMirrorRoute: mr", id="mirror-route"),
    pytest.param({"plugin": {"name": "p"}}, "plugin: p", id="plugin"),
])
def test_step_string(step: dict[str, Any], text: str) -> None:
    (parsed,) = snapshot(ro([step])).rollout.steps
    assert steps.step_string(parsed) == text


def test_step_string_of_an_empty_setCanaryScale_is_invalid() -> None:
    assert steps.step_string(models.SetCanaryScale()) == "invalid"


def _complete(step_list: list[dict[str, Any]], status: dict[str, Any], *, new: Any = None, stable: Any = None,
              paused: bool = False, weight_ok: bool = True, now: Any = NOW) -> bool:
    snap = snapshot(ro(step_list, status, paused=paused), new=new or rs("new", 1),
                    stable=stable or rs("old", 10))
    return steps.step_completed(snap, now=now, weight_ok=weight_ok)


PAUSED_AT = (NOW - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
PAUSE = {"reason": "CanaryPauseStep", "startTime": PAUSED_AT}


@pytest.mark.parametrize(("step_list", "status", "kwargs", "done"), [
    pytest.param([{"setWeight": 10}], ps(0), {}, True, id="setWeight-at-counts"),
    pytest.param([{"setWeight": 10}], ps(0), {"weight_ok": False}, False,
                 id="setWeight-unverified"),
    pytest.param([{"setWeight": 10}], ps(0), {"new": rs("new", 1, 0)}, False,
                 id="setWeight-canary-not-available"),
    pytest.param([{"setWeight": 10}], ps(0), {"stable": rs("old", 10, 9)}, False,
                 id="setWeight-stable-not-available"),
    pytest.param([{"setWeight": 10}], ps(0), {"paused": True}, False, id="spec-paused"),
    pytest.param([{"setWeight": 10}, {"pause": {}}], ps(1, pauseConditions=[PAUSE],
                                                                      controllerPause=True), {}, False,
                 id="pause-waits-for-promote"),
    pytest.param([{"setWeight": 10}, {"pause": {}}], ps(1, controllerPause=True), {}, True,
                 id="pause-promoted"),
    pytest.param([{"setWeight": 10}, {"pause": {}}], ps(1), {}, False,
                 id="pause-not-yet-paused"),
    pytest.param([{"setWeight": 10}, {"pause": {"duration": "1h"}}],
                 ps(1, pauseConditions=[PAUSE], controllerPause=True), {}, False,
                 id="timed-pause-running"),
    pytest.param([{"setWeight": 10}, {"pause": {"duration": "30m"}}],
                 ps(1, pauseConditions=[PAUSE], controllerPause=True), {}, False,
                 id="timed-pause-exactly-at-expiry"),
    pytest.param([{"setWeight": 10}, {"pause": {"duration": "29m"}}],
                 ps(1, pauseConditions=[PAUSE], controllerPause=True), {}, True,
                 id="timed-pause-expired"),
    pytest.param([{"setWeight": 10}, {"pause": {"duration": "1h"}}], ps(1, controllerPause=True),
                 {}, True, id="timed-pause-promoted-early"),
    pytest.param([{"setCanaryScale": {"replicas": 2}}], ps(0), {"new": rs("new", 2)}, True,
                 id="setCanaryScale-at-counts"),
    pytest.param([{"setCanaryScale": {"replicas": 2}}], ps(0), {"new": rs("new", 1)}, False,
                 id="setCanaryScale-scaling"),
    pytest.param([{"setHeaderRoute": {"name": "hr"}}], ps(0), {"new": rs("new", 0, 0)}, True,
                 id="setHeaderRoute-immediate"),
    pytest.param([{"setMirrorRoute": {"name": "mr"}}], ps(0), {}, True, id="setMirrorRoute"),
    pytest.param([{"experiment": {}}], ps(0), {}, False, id="experiment-never"),
    pytest.param([{"setWeight": 10}], ps(1), {}, False, id="no-current-step"),
])
def test_step_completed(step_list: list[dict[str, Any]], status: dict[str, Any], kwargs: dict[str, Any],
                        done: bool) -> None:
    assert _complete(step_list, status, **kwargs) is done


def test_pause_expiry_and_wanting_a_pause_condition() -> None:
    raw = ro([{"pause": {"duration": "1h"}}], ps(0, pauseConditions=[PAUSE]))
    rollout = snapshot(raw).rollout
    assert steps.pause_expiry(rollout) == NOW + timedelta(minutes=30)
    assert not steps.wants_pause_condition(rollout)
    fresh = snapshot(ro([{"pause": {}}], ps(0))).rollout
    assert steps.pause_expiry(fresh) is None
    assert steps.wants_pause_condition(fresh)
    promoted = snapshot(ro([{"pause": {}}], ps(0, controllerPause=True))).rollout
    assert not steps.wants_pause_condition(promoted)
    manual = snapshot(ro([{"pause": {}}], ps(0), paused=True)).rollout
    assert not steps.wants_pause_condition(manual)


@pytest.mark.parametrize(("status", "kwargs", "reason"), [
    pytest.param(ps(0), {"stable": None}, "Initial deploy", id="initial-deploy"),
    pytest.param(ps(4), {}, "Completed all 4 canary steps", id="completed-all-steps"),
    pytest.param(ps(4), {"weight_ok": False}, "", id="final-weight-unverified"),
    pytest.param(ps(4), {"new": rs("new", 10, 9)}, "", id="new-not-fully-available"),
    pytest.param(ps(1, promoteFull=True), {}, "Full promotion requested", id="promote-full"),
    pytest.param(ps(4, abort=True), {}, "", id="aborted"),
    pytest.param(ps(2), {}, "", id="mid-rollout"),
])
def test_should_full_promote(status: dict[str, Any], kwargs: dict[str, Any], reason: str) -> None:
    weight_ok = kwargs.pop("weight_ok", True)
    new = kwargs.pop("new", rs("new", 10))
    stable = kwargs.pop("stable", rs("old", 10))
    snap = snapshot(ro(status=status), new=new, stable=stable)
    assert steps.should_full_promote(snap, weight_ok=weight_ok) == reason


def test_completed_all_steps_without_steps() -> None:
    snap = snapshot(ro([], ps(0)), new=rs("new", 10), stable=rs("old", 10))
    assert steps.should_full_promote(snap) == "Completed all 0 canary steps"


@pytest.mark.parametrize(("status", "desired", "verify"), [
    pytest.param(ps(0), 10, True, id="setWeight-step"),
    pytest.param(ps(1), 10, False, id="pause-step"),
    pytest.param(ps(4), 100, True, id="end-of-steps-100"),
    pytest.param(ps(4), 50, False, id="end-of-steps-not-100"),
    pytest.param({**ps(0), "stableRS": ""}, 10, False, id="no-stable"),
    pytest.param({**ps(0), "stableRS": "new"}, 0, False, id="fully-promoted"),
])
def test_should_verify_weight(status: dict[str, Any], desired: int, verify: bool) -> None:
    assert steps.should_verify_weight(snapshot(ro(status=status)).rollout, desired) is verify
