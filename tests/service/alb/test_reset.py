"""Resetting what a deleted Rollout managed (SPEC §4.5; reference §1.8 and its defects).

Covers: reset to 100% on the stable (last) target group for canary/stable, rootService and ping-pong (both
ways), experiment destinations dropped, stickiness kept; header routes and conditions removed; other
rollouts' entries kept; bookkeeping deleted when empty; legacy key deleted; actions already gone; every
unresettable value reported, not raised; unreadable bookkeeping raises.
"""

from __future__ import annotations

import pytest

from service.alb import actions, bookkeeping, reset

KEY = "rollouts.argoproj.io/managed-alb-annotations"
LEGACY = "rollouts.argoproj.io/managed-alb-actions"


def weighted(canary: str, stable: str, weight: int = 30, **kwargs: object) -> str:
    return actions.forward_action(
        canary_service=canary, stable_service=stable, port=80, desired_weight=weight, **kwargs  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            weighted("canary", "stable"),
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"stable","ServicePort":"80",'
            '"Weight":100}]}}',
            id="canary-stable",
        ),
        pytest.param(
            weighted("pong-svc", "ping-svc"),
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"ping-svc","ServicePort":"80",'
            '"Weight":100}]}}',
            id="ping-pong-ping-stable",
        ),
        pytest.param(
            weighted("ping-svc", "pong-svc"),
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"pong-svc","ServicePort":"80",'
            '"Weight":100}]}}',
            id="ping-pong-pong-stable",
        ),
        pytest.param(
            weighted("canary", "stable", additional=[actions.Destination("exp", 10)]),
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"stable","ServicePort":"80",'
            '"Weight":100}]}}',
            id="experiments-dropped",
        ),
        pytest.param(
            weighted("canary", "stable", stickiness=(True, 3600)),
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"stable","ServicePort":"80",'
            '"Weight":100}],"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":3600}}}',
            id="stickiness-kept",
        ),
    ],
)
def test_reset_action(value: str, expected: str) -> None:
    assert reset.reset_action(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("test", "unable to unmarshal previous ALB action: invalid character 'e' in literal true "
                     "(expecting 'r')", id="not-json"),
        pytest.param('{"Type":"forward"}', "previous ALB action has no target groups", id="no-forward"),
        pytest.param('{"ForwardConfig":{"TargetGroups":[]}}', "previous ALB action has no target groups",
                     id="empty-groups"),
        pytest.param('{"ForwardConfig":{"TargetGroups":[{"Weight":1}]}}',
                     "previous ALB action's last target group has no ServiceName", id="no-name"),
        pytest.param('{"ForwardConfig":{"TargetGroups":[{"ServiceName":"s"}]}}',
                     "unable to reset annotation due to missing port", id="no-port"),
        pytest.param('{"ForwardConfig":{"TargetGroups":[{"ServiceName":"s","ServicePort":"80"}],'
                     '"TargetGroupStickinessConfig":1}}', "TargetGroupStickinessConfig is not an object",
                     id="bad-sticky"),
        pytest.param('{"ForwardConfig":{"TargetGroups":[{"ServiceName":"s","ServicePort":"80"}],'
                     '"TargetGroupStickinessConfig":{"Enabled":"yes"}}}',
                     "TargetGroupStickinessConfig has fields of the wrong type", id="bad-sticky-field"),
    ],
)
def test_reset_action_errors(value: str, message: str) -> None:
    with pytest.raises(reset.ResetError) as caught:
        reset.reset_action(value)
    assert str(caught.value) == message


def test_reset_annotations_root_service_with_header_route_keeps_others() -> None:
    root_key = "alb.ingress.kubernetes.io/actions.root-svc"
    route_key = "alb.ingress.kubernetes.io/actions.header-route"
    condition_key = "alb.ingress.kubernetes.io/conditions.header-route"
    other_key = "alb.ingress.kubernetes.io/actions.other-stable"
    annotations = {
        root_key: weighted("ping-svc", "pong-svc"),
        route_key: actions.header_route_action(canary_service="ping-svc", port=80),
        condition_key: actions.header_route_condition([actions.Match("X", "1")]),
        other_key: weighted("other-canary", "other-stable"),
        KEY: bookkeeping.serialise({"rollout": [root_key, route_key, condition_key], "other": [other_key]}),
        LEGACY: "rollout:" + root_key,
        "unrelated": "kept",
    }
    outcome = reset.reset_annotations(annotations, "rollout")
    assert outcome.annotations == {
        root_key: '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"pong-svc",'
                  '"ServicePort":"80","Weight":100}]}}',
        other_key: annotations[other_key],
        KEY: '{"other":["alb.ingress.kubernetes.io/actions.other-stable"]}',
        "unrelated": "kept",
    }
    assert outcome.routes == ("header-route",)
    assert outcome.problems == ()


def test_reset_annotations_last_rollout_deletes_bookkeeping() -> None:
    key = "alb.ingress.kubernetes.io/actions.stable"
    annotations = {key: weighted("canary", "stable"), KEY: '{"rollout":["' + key + '"]}'}
    outcome = reset.reset_annotations(annotations, "rollout")
    assert outcome.annotations == {
        key: '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"stable","ServicePort":"80",'
             '"Weight":100}]}}'
    }


def test_reset_annotations_reports_problems_and_skips_missing() -> None:
    broken = "alb.ingress.kubernetes.io/actions.broken"
    gone = "alb.ingress.kubernetes.io/actions.gone"
    annotations = {broken: "test", KEY: bookkeeping.serialise({"rollout": [broken, gone, "custom/other"]})}
    outcome = reset.reset_annotations(annotations, "rollout")
    assert outcome.annotations == {broken: "test"}
    assert outcome.problems == (
        "cannot reset alb.ingress.kubernetes.io/actions.broken: unable to unmarshal previous ALB action: "
        "invalid character 'e' in literal true (expecting 'r')",
    )


def test_reset_annotations_unreadable_bookkeeping_raises() -> None:
    with pytest.raises(bookkeeping.BookkeepingError, match=r"^invalid character 'e' in literal true"):
        reset.reset_annotations({KEY: "test"}, "rollout")
