"""Event builders: every reason and message byte for byte as the reference emits them (§1.5, §1.6, §2.5, §4).

Aspects: RolloutStepCompleted (1-based index, step string), RolloutCompleted, RolloutAborted,
WeightVerifyError, PatchingALBIngress for a weight, TrafficRoutingError; the Normal/Warning type of each.
"""

from __future__ import annotations

import pytest

from statemachine import events


@pytest.mark.parametrize(("event", "expected"), [
    pytest.param(events.step_completed(0, 4, "setWeight: 10"),
                 ("Normal", "RolloutStepCompleted", "Rollout step 1/4 completed (setWeight: 10)"),
                 id="step-completed"),
    pytest.param(events.step_completed(3, 4, "pause: 30s"),
                 ("Normal", "RolloutStepCompleted", "Rollout step 4/4 completed (pause: 30s)"),
                 id="last-step-completed"),
    pytest.param(events.rollout_completed(3, "6f7d9c8b5", "Completed all 4 canary steps"),
                 ("Normal", "RolloutCompleted",
                  "Rollout completed update to revision 3 (6f7d9c8b5): Completed all 4 canary steps"),
                 id="rollout-completed"),
    pytest.param(events.rollout_completed(1, "abc", "Initial deploy"),
                 ("Normal", "RolloutCompleted",
                  "Rollout completed update to revision 1 (abc): Initial deploy"),
                 id="initial-deploy"),
    pytest.param(events.rollout_aborted(2),
                 ("Warning", "RolloutAborted", "Rollout aborted update to revision 2"), id="aborted"),
    pytest.param(events.weight_verify_error("AccessDenied"),
                 ("Warning", "WeightVerifyError", "Failed to verify weight: AccessDenied"),
                 id="weight-verify-error"),
    pytest.param(events.patching_ingress("ingress", 10),
                 ("Normal", "PatchingALBIngress", "Updating Ingress `ingress` to desiredWeight '10'"),
                 id="patching-weight"),
    pytest.param(events.patching_ingress("public", 0),
                 ("Normal", "PatchingALBIngress", "Updating Ingress `public` to desiredWeight '0'"),
                 id="patching-weight-zero"),
    pytest.param(events.traffic_routing_error("error patching alb ingress `ingress`: conflict"),
                 ("Warning", "TrafficRoutingError", "error patching alb ingress `ingress`: conflict"),
                 id="traffic-routing-error"),
])
def test_event(event: events.Event, expected: tuple[str, str, str]) -> None:
    assert (event.type, event.reason, event.message) == expected
