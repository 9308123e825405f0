"""The `/status` merge patch: only managed fields, Go omitempty on both sides, nested diffs, null removals.

Aspects: an unchanged status gives None; empty values stored explicitly do not cause churn; unmanaged fields
(`alb`, analysis state) are never touched; a removed `verified` becomes null; lists are replaced whole; the
pod selector printed as Go's FormatLabelSelector (status.selector, for the scale subresource).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from statemachine import models, status
from tests.statemachine.conftest import parse, progressing_status, rollout_dict


def _rollout(**extra: object) -> models.Rollout:
    return parse(rollout_dict(status=progressing_status(1, canary_weight=10, verified=False, **extra)))


def test_unchanged_status_gives_no_patch() -> None:
    rollout = _rollout(abort=False, replicas=0, message="", alb={"ingress": "i"})
    assert status.status_patch(rollout.raw_status, rollout.status) is None


def test_only_changed_managed_fields_are_sent() -> None:
    rollout = _rollout(alb={"ingress": "i"})
    weights = rollout.status.canary.weights
    assert weights is not None
    new = dataclasses.replace(
        rollout.status, current_step_index=2, phase="Paused",
        canary=models.CanaryStatus(weights=dataclasses.replace(weights, verified=None)),
        pause_conditions=(models.PauseCondition("CanaryPauseStep", "2026-11-26T12:00:00Z"),),
    )
    assert status.status_patch(rollout.raw_status, new) == {"status": {
        "currentStepIndex": 2, "phase": "Paused",
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-26T12:00:00Z"}],
        "canary": {"weights": {"verified": None}},
    }}


def test_cleared_fields_become_null_and_zero_index_is_kept() -> None:
    rollout = _rollout(abort=True, abortedAt="2026-11-26T11:00:00Z")
    new = dataclasses.replace(rollout.status, abort=False, aborted_at=None, current_step_index=0)
    assert status.status_patch(rollout.raw_status, new) == {"status": {
        "abort": None, "abortedAt": None, "currentStepIndex": 0}}



@pytest.mark.parametrize(("selector", "text"), [
    pytest.param({"matchLabels": {"app": "web", "tier": "api"}}, "app=web,tier=api", id="labels"),
    pytest.param({"matchLabels": {"b": "2"}, "matchExpressions": [
        {"key": "a", "operator": "In", "values": ["y", "x"]},
        {"key": "c", "operator": "NotIn", "values": ["z"]},
        {"key": "d", "operator": "Exists"}, {"key": "e", "operator": "DoesNotExist"}]},
        "a in (x,y),b=2,c notin (z),d,!e", id="expressions"),
    pytest.param({}, "<none>", id="everything"),
])
def test_label_selector_prints_like_go(selector: dict[str, Any], text: str) -> None:
    assert status.label_selector(selector) == text
