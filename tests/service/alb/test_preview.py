"""The offline preview behind `alb-rollouts plan` (service.alb.preview).

Covers: Routing from a Rollout (plain, ping-pong both ways with rootService, prefix, stickiness, managed
routes); a non-ALB Rollout; state and weight decided by the planner for each kind of status, with the exact
action; the forced-weight status patch (unchanged, changed, `verified` reset, clamped); the example at its
pause step, byte for byte; header-route steps only from revision 2; a forced weight.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from service.alb import ingress_patch, preview
from statemachine import models
from tests.service.alb.builders import build_ingress

REVISION = "rollout.argoproj.io/revision"
PAUSE = {"reason": "CanaryPauseStep", "startTime": "2026-11-26T10:00:00Z"}
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def rollout_dict(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "rollout", "namespace": "default", "annotations": {REVISION: "2"}},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "web:2"}]}},
            "strategy": {"canary": {
                "canaryService": "canary",
                "stableService": "stable",
                "trafficRouting": {"alb": {"ingress": "ingress", "servicePort": 80}},
                "steps": [
                    {"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "10s"}},
                ],
            }},
        },
        "status": {"currentPodHash": "new", "stableRS": "old", **status},
    }


def parsed(obj: dict[str, Any]) -> models.Rollout:
    return models.parse_rollout(obj)


def test_routing_plain() -> None:
    assert preview.routing_for(parsed(rollout_dict())) == ingress_patch.Routing(
        rollout="rollout", action_service="stable", canary_service="canary", stable_service="stable", port=80,
        prefix="alb.ingress.kubernetes.io", stickiness=None, managed_routes=(),
    )


@pytest.mark.parametrize(("stable_ping_pong", "canary", "stable"),
                         [("ping", "pong", "ping"), ("pong", "ping", "pong"), ("", "ping", "pong")])
def test_routing_ping_pong(stable_ping_pong: str, canary: str, stable: str) -> None:
    obj = rollout_dict(canary={"stablePingPong": stable_ping_pong})
    strategy = obj["spec"]["strategy"]["canary"]
    strategy["pingPong"] = {"pingService": "ping", "pongService": "pong"}
    strategy["trafficRouting"]["alb"].update(rootService="root", annotationPrefix="custom.io",
                                             stickinessConfig={"enabled": True, "durationSeconds": 60})
    strategy["trafficRouting"]["managedRoutes"] = [{"name": "r1"}]
    routing = preview.routing_for(parsed(obj))
    names = (routing.action_service, routing.canary_service, routing.stable_service)
    assert names == ("root", canary, stable)
    assert (routing.prefix, routing.stickiness, routing.managed_routes) == ("custom.io", (True, 60), ("r1",))


def test_routing_refuses_non_alb() -> None:
    obj = rollout_dict()
    del obj["spec"]["strategy"]["canary"]["trafficRouting"]
    with pytest.raises(preview.NotAlb) as caught:
        preview.routing_for(parsed(obj))
    assert str(caught.value) == (
        'rollout "default/rollout" does not use ALB traffic routing; there is nothing to plan'
    )


@pytest.mark.parametrize(
    ("status", "paused", "state", "weight"),
    [
        pytest.param({"currentStepIndex": 0}, False, "WeightSet", 20, id="first-set-weight"),
        pytest.param({}, False, "WeightSet", 20, id="nil-index-counts-as-0"),
        pytest.param({"currentStepIndex": 1}, False, "Paused", 20, id="pause-keeps-weight"),
        pytest.param({"currentStepIndex": 1, "controllerPause": True, "pauseConditions": [PAUSE]}, False,
                     "Paused", 20, id="paused-at-pause-step"),
        pytest.param({"currentStepIndex": 3}, False, "Paused", 60, id="later-pause"),
        pytest.param({"currentStepIndex": 2}, True, "Paused", 60, id="spec-paused-keeps-routing"),
        pytest.param({"currentStepIndex": 4}, False, "Promoted", 100, id="past-last-step"),
        pytest.param({"currentStepIndex": 99}, False, "Promoted", 100, id="far-past"),
        pytest.param({"currentStepIndex": 2, "abort": True}, False, "Aborted", 0, id="aborted"),
        pytest.param({"currentStepIndex": 2, "stableRS": "new"}, False, "Promoted", 0, id="fully-promoted"),
    ],
)
def test_state_and_weight_come_from_the_planner(status: dict[str, Any], paused: bool, state: str,
                                                weight: int) -> None:
    obj = rollout_dict(**status)
    obj["spec"]["paused"] = paused
    result = preview.preview(obj, _ingresses(), None, now=NOW)
    assert (result.state, result.desired_weight) == (state, weight)
    body = result.patches[0][2]
    assert body is not None
    assert body["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.stable"] == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"80",'
        f'"Weight":{weight}}},{{"ServiceName":"stable","ServicePort":"80","Weight":{100 - weight}}}]}}}}'
    )


def _ingresses() -> dict[str, Any]:
    return {"ingress": build_ingress(services=("stable",))}


WEIGHTS = {
    "canary": {"weight": 20, "serviceName": "canary", "podTemplateHash": "new"},
    "stable": {"weight": 80, "serviceName": "stable", "podTemplateHash": "old"},
}


def test_status_patch_unchanged_is_none() -> None:
    rollout = parsed(rollout_dict(canary={"weights": WEIGHTS}))
    assert preview.status_patch(rollout, 20) is None


def test_status_patch_first_write() -> None:
    assert preview.status_patch(parsed(rollout_dict()), 20) == {"status": {"canary": {"weights": WEIGHTS}}}


def test_status_patch_resets_verified_and_clamps() -> None:
    weights = copy.deepcopy(WEIGHTS) | {"verified": True}
    rollout = parsed(rollout_dict(canary={"weights": weights}))
    assert preview.status_patch(rollout, 150) == {"status": {"canary": {"weights": {
        "canary": {"weight": 100}, "stable": {"weight": 0}, "verified": None}}}}
    assert preview.status_patch(rollout, 20) is None


def test_preview_of_the_example_at_its_pause() -> None:
    obj = rollout_dict(currentStepIndex=1, controllerPause=True, canary={"weights": WEIGHTS},
                       pauseConditions=[PAUSE])
    assert preview.preview(obj, _ingresses(), None, now=NOW).as_json() == {
        "rollout": "default/rollout", "state": "Paused", "desiredWeight": 20, "status": None,
        "patches": [{"kind": "Ingress", "namespace": "default", "name": "ingress", "patch": {"metadata": {
            "annotations": {
                "alb.ingress.kubernetes.io/actions.stable":
                    '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary",'
                    '"ServicePort":"80","Weight":20},{"ServiceName":"stable","ServicePort":"80","Weight":80}]}}',
                "rollouts.argoproj.io/managed-alb-annotations":
                    '{"rollout":["alb.ingress.kubernetes.io/actions.stable"]}',
            },
            "resourceVersion": "7"}}}],
    }


def _header_rollout(revision: str) -> dict[str, Any]:
    obj = rollout_dict(currentStepIndex=1)
    obj["metadata"]["annotations"][REVISION] = revision
    strategy = obj["spec"]["strategy"]["canary"]
    strategy["trafficRouting"]["managedRoutes"] = [{"name": "beta"}]
    strategy["steps"][1] = {"setHeaderRoute": {"name": "beta", "match": [
        {"headerName": "X", "headerValue": {"exact": "1"}}]}}
    return obj


@pytest.mark.parametrize(("revision", "routed"), [("1", False), ("2", True)])
def test_header_route_only_from_revision_2(revision: str, routed: bool) -> None:
    result = preview.preview(_header_rollout(revision), _ingresses(), None, now=NOW)
    body = result.patches[0][2]
    assert body is not None
    assert ("alb.ingress.kubernetes.io/conditions.beta" in body["metadata"]["annotations"]) is routed
    assert ("spec" in body) is routed


def test_forced_weight_overrides_and_patches_status() -> None:
    result = preview.preview(rollout_dict(currentStepIndex=0), _ingresses(), None, weight=70, now=NOW)
    assert result.desired_weight == 70
    assert result.status == {"status": {"canary": {"weights": {
        "canary": {"weight": 70, "serviceName": "canary", "podTemplateHash": "new"},
        "stable": {"weight": 30, "serviceName": "stable", "podTemplateHash": "old"}}}}}
