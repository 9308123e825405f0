"""Phase/message (reference §4.5) and the Progressing/Paused/InvalidSpec/Available conditions (§4.3).

Aspects: each row of CalculateRolloutPhase in priority order with its exact message, the client-side
wrapper rows, SetRolloutCondition's keep/replace rules and timestamps, and the condition moves for abort,
retry, pause, resume, progress, completion, availability and InvalidSpec.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from statemachine import models, phases
from tests.statemachine.conftest import NOW, rollout_dict, snapshot

STAMP = "2026-11-26T12:00:00Z"
EARLIER = "2026-11-26T11:00:00Z"
HEALTHY = {"currentPodHash": "new", "stableRS": "new", "currentStepIndex": 4, "replicas": 10,
           "updatedReplicas": 10, "availableReplicas": 10, "readyReplicas": 10, "observedGeneration": "2"}


def _cond(type_: str, status: str, reason: str, message: str = "m") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": EARLIER, "lastTransitionTime": EARLIER}


def _phase(status: dict[str, Any], *, paused: bool = False, restart: str | None = None,
           routed: bool = True) -> tuple[str, str]:
    raw = rollout_dict(status=status, paused=paused)
    if restart:
        raw["spec"]["restartAt"] = restart
    if not routed:
        del raw["spec"]["strategy"]["canary"]["trafficRouting"]
    rollout = snapshot(raw).rollout
    return phases.calculate_phase(rollout, rollout.status, now=NOW)


@pytest.mark.parametrize(("status", "kwargs", "expected"), [
    pytest.param({**HEALTHY, "conditions": [_cond("InvalidSpec", "True", "InvalidSpec", "bad step")]}, {},
                 ("Degraded", "InvalidSpec: bad step"), id="1-invalid-spec"),
    pytest.param({**HEALTHY, "conditions": [_cond("Progressing", "False", "RolloutAborted",
                                                  "Rollout aborted update to revision 2")]}, {"paused": True},
                 ("Degraded", "RolloutAborted: Rollout aborted update to revision 2"), id="1-aborted"),
    pytest.param({**HEALTHY, "conditions": [
                     _cond("Progressing", "False", "ProgressDeadlineExceeded", "slow")]}, {},
                 ("Degraded", "ProgressDeadlineExceeded: slow"), id="1-deadline"),
    pytest.param({**HEALTHY, "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": EARLIER}]},
                 {"paused": True}, ("Paused", "manually paused"), id="2-spec-paused"),
    pytest.param({**HEALTHY, "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": EARLIER},
                                                 {"reason": "BlueGreenPause", "startTime": EARLIER}]}, {},
                 ("Paused", "CanaryPauseStep"), id="3-first-pause-condition"),
    pytest.param(HEALTHY, {"restart": EARLIER}, ("Progressing", "rollout is restarting"), id="4-restarting"),
    pytest.param({**HEALTHY, "restartedAt": EARLIER}, {"restart": EARLIER}, ("Healthy", ""),
                 id="4-restart-done"),
    pytest.param(HEALTHY, {"restart": "2026-11-27T00:00:00Z"}, ("Progressing", "rollout is restarting"),
                 id="4-restart-in-future-counts-as-the-reference-does"),
    pytest.param({**HEALTHY, "updatedReplicas": 9}, {}, ("Progressing", "more replicas need to be updated"),
                 id="5-updated"),
    pytest.param({**HEALTHY, "availableReplicas": 9}, {},
                 ("Progressing", "updated replicas are still becoming available"), id="6-available"),
    pytest.param({**HEALTHY, "replicas": 12}, {"routed": False},
                 ("Progressing", "old replicas are pending termination"), id="8-basic-canary-old-replicas"),
    pytest.param({**HEALTHY, "replicas": 12}, {}, ("Healthy", ""),
                 id="8-traffic-routed-ignores-old-replicas"),
    pytest.param({**HEALTHY, "stableRS": "old"}, {}, ("Progressing", "waiting for all steps to complete"),
                 id="8-not-promoted"),
    pytest.param({**HEALTHY, "stableRS": ""}, {}, ("Progressing", "waiting for all steps to complete"),
                 id="8-no-stable"),
    pytest.param(HEALTHY, {}, ("Healthy", ""), id="9-healthy"),
])
def test_calculate_phase(status: dict[str, Any], kwargs: dict[str, Any], expected: tuple[str, str]) -> None:
    assert _phase(status, **kwargs) == expected


@pytest.mark.parametrize(("status", "expected"), [
    pytest.param({**HEALTHY, "observedGeneration": "1", "phase": "Healthy"},
                 ("Progressing", "waiting for rollout spec update to be observed"),
                 id="generation-not-observed"),
    pytest.param({**HEALTHY, "controllerPause": True, "phase": "Paused", "message": "CanaryPauseStep"},
                 ("Progressing", "waiting for rollout to unpause"), id="unpausing"),
    pytest.param({**HEALTHY, "phase": "Paused", "message": "CanaryPauseStep"}, ("Paused", "CanaryPauseStep"),
                 id="stored-phase"),
    pytest.param({**HEALTHY, "stableRS": "old"}, ("Progressing", "waiting for all steps to complete"),
                 id="calculated-when-not-stored"),
])
def test_rollout_phase_client_wrapper(status: dict[str, Any], expected: tuple[str, str]) -> None:
    rollout = snapshot(rollout_dict(status=status)).rollout
    assert phases.rollout_phase(rollout, now=NOW) == expected


def test_set_condition_keeps_same_status_and_reason() -> None:
    first = phases.set_condition((), "Paused", "True", "RolloutPaused", "Rollout is paused", now=NOW)
    assert first == (models.Condition("Paused", "True", "RolloutPaused", "Rollout is paused", STAMP, STAMP),)
    later = NOW + timedelta(hours=1)
    same = phases.set_condition(first, "Paused", "True", "RolloutPaused", "Rollout is paused", now=later)
    assert same is first
    flipped = phases.set_condition(first, "Paused", "False", "RolloutPaused", "Rollout is paused", now=later)
    assert flipped[0].last_transition_time == "2026-11-26T13:00:00Z"
    same_status = phases.set_condition(first, "Paused", "True", "Other", "x", now=later)
    times = (same_status[0].last_update_time, same_status[0].last_transition_time)
    assert times == ("2026-11-26T13:00:00Z", STAMP)


def _conditions(old: dict[str, Any], new_fields: dict[str, Any], *, paused: bool = False,
                invalid: str | None = None, available: int = 10) -> dict[str, tuple[str, str, str]]:
    rollout = snapshot(rollout_dict(status=old, paused=paused)).rollout
    new = dataclasses.replace(rollout.status, **new_fields)
    facts = phases.ConditionFacts(invalid, 2, "demo-new", available)
    out = phases.next_conditions(rollout, new, facts, now=NOW)
    return {c.type: (c.status, c.reason, c.message) for c in out}


def test_abort_condition() -> None:
    got = _conditions({"currentStepIndex": 1}, {"abort": True})
    assert got["Progressing"] == ("False", "RolloutAborted", "Rollout aborted update to revision 2")
    assert "Paused" not in got


def test_retry_condition() -> None:
    old = {"conditions": [_cond("Progressing", "False", "RolloutAborted")]}
    assert _conditions(old, {"abort": False})["Progressing"] == ("Unknown", "RolloutRetry",
                                                                  "Retrying Rollout after abort")


def test_pause_and_resume_conditions() -> None:
    pause = (models.PauseCondition("CanaryPauseStep", STAMP),)
    got = _conditions({}, {"pause_conditions": pause})
    assert got["Progressing"] == ("Unknown", "RolloutPaused", "Rollout is paused")
    assert got["Paused"] == ("True", "RolloutPaused", "Rollout is paused")
    manual = _conditions({}, {}, paused=True)
    assert manual["Paused"] == ("True", "RolloutPaused", "Rollout is paused")
    old = {"conditions": [_cond("Progressing", "Unknown", "RolloutPaused"),
                          _cond("Paused", "True", "RolloutPaused")]}
    resumed = _conditions(old, {"pause_conditions": ()})
    assert resumed["Progressing"] == ("Unknown", "RolloutResumed", "Rollout is resumed")
    assert resumed["Paused"] == ("False", "RolloutPaused", "Rollout is paused")


def test_progress_and_completion_conditions() -> None:
    progressed = _conditions({"updatedReplicas": 1}, {"updated_replicas": 2})
    assert progressed["Progressing"] == ("True", "ReplicaSetUpdated", 'ReplicaSet "demo-new" is progressing.')
    healthy = _conditions({}, {"current_pod_hash": "new", "stable_rs": "new", "current_step_index": 4,
                               "replicas": 10, "updated_replicas": 10, "available_replicas": 10})
    assert healthy["Progressing"] == ("True", "NewReplicaSetAvailable",
                                      'ReplicaSet "demo-new" has successfully progressed.')
    assert healthy["Available"] == ("True", "AvailableReason", "Rollout has minimum availability")
    assert _conditions({}, {}, available=9)["Available"] == ("False", "AvailableReason",
                                                            "Rollout does not have minimum availability")
    quiet = _conditions({}, {})
    assert "Progressing" not in quiet


def test_invalid_spec_condition_set_and_cleared() -> None:
    got = _conditions({}, {}, invalid="spec.strategy.canary.steps[1]: unsupported step type experiment")
    assert got == {"InvalidSpec": ("True", "InvalidSpec",
                                   "spec.strategy.canary.steps[1]: unsupported step type experiment")}
    cleared = _conditions({"conditions": [_cond("InvalidSpec", "True", "InvalidSpec")]}, {})
    assert "InvalidSpec" not in cleared
