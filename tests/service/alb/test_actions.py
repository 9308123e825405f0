"""Weighted and header-route action annotations, byte for byte (reference §1.1-§1.3, SPEC §3, §4.6).

Covers: action/condition keys with default and custom prefix, rootService vs stableService; canary/stable
payload; ping-pong naming both ways; experiment destinations; stickiness (enabled, disabled, both error
bounds and the edges); Weight 0 always present; omitempty names; clamping; header-route action and merged
exact-only conditions; property: weights always within 0..100 and summing to 100.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.alb import actions, gojson

STICKINESS_ERROR = "TargetGroupStickinessConfig's duration must be between 1 and 604800 seconds (7 days)!"


@pytest.mark.parametrize(
    ("prefix", "root", "stable", "expected"),
    [
        pytest.param("", "", "stable-svc", "alb.ingress.kubernetes.io/actions.stable-svc", id="default"),
        pytest.param(None, None, "stable-svc", "alb.ingress.kubernetes.io/actions.stable-svc", id="none"),
        pytest.param("test.annotation", "root-svc", "stable-svc", "test.annotation/actions.root-svc",
                     id="both"),
        pytest.param("", "root-svc", "stable-svc", "alb.ingress.kubernetes.io/actions.root-svc", id="root"),
    ],
)
def test_action_key(prefix: str | None, root: str | None, stable: str, expected: str) -> None:
    assert actions.action_key(prefix, actions.action_service(root, stable)) == expected


def test_condition_key() -> None:
    assert actions.condition_key("", "header-route") == "alb.ingress.kubernetes.io/conditions.header-route"
    assert actions.condition_key("custom.io", "r1") == "custom.io/conditions.r1"


@pytest.mark.parametrize(
    ("weight", "port", "expected"),
    [
        pytest.param(
            10,
            80,
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"80",'
            '"Weight":10},{"ServiceName":"stable","ServicePort":"80","Weight":90}]}}',
            id="spec-example",
        ),
        pytest.param(
            0,
            443,
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"443",'
            '"Weight":0},{"ServiceName":"stable","ServicePort":"443","Weight":100}]}}',
            id="weight-zero-present",
        ),
        pytest.param(
            100,
            8080,
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"8080",'
            '"Weight":100},{"ServiceName":"stable","ServicePort":"8080","Weight":0}]}}',
            id="full",
        ),
    ],
)
def test_forward_action_canary_stable(weight: int, port: int, expected: str) -> None:
    got = actions.forward_action(
        canary_service="canary", stable_service="stable", port=port, desired_weight=weight
    )
    assert got == expected


def test_reference_example_port_443() -> None:
    got = actions.forward_action(
        canary_service="canary-svc", stable_service="stable-svc", port=443, desired_weight=10
    )
    assert got == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary-svc","ServicePort":"443",'
        '"Weight":10},{"ServiceName":"stable-svc","ServicePort":"443","Weight":90}]}}'
    )


@pytest.mark.parametrize(
    ("stable_ping_pong", "canary", "stable"),
    [
        pytest.param("ping", "pong-svc", "ping-svc", id="ping-is-stable"),
        pytest.param("pong", "ping-svc", "pong-svc", id="pong-is-stable"),
        pytest.param("", "ping-svc", "pong-svc", id="empty-means-pong"),
        pytest.param("other", "ping-svc", "pong-svc", id="anything-else-means-pong"),
    ],
)
def test_ping_pong_services(stable_ping_pong: str, canary: str, stable: str) -> None:
    assert actions.ping_pong_services(stable_ping_pong, "ping-svc", "pong-svc") == (canary, stable)


def test_ping_pong_payload_both_ways() -> None:
    ping_stable = actions.forward_action(
        canary_service="pong-svc", stable_service="ping-svc", port=80, desired_weight=30
    )
    pong_stable = actions.forward_action(
        canary_service="ping-svc", stable_service="pong-svc", port=80, desired_weight=30
    )
    assert ping_stable == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"pong-svc","ServicePort":"80",'
        '"Weight":30},{"ServiceName":"ping-svc","ServicePort":"80","Weight":70}]}}'
    )
    assert pong_stable == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"ping-svc","ServicePort":"80",'
        '"Weight":30},{"ServiceName":"pong-svc","ServicePort":"80","Weight":70}]}}'
    )


def test_experiment_destinations_between_canary_and_stable() -> None:
    got = actions.forward_action(
        canary_service="canary",
        stable_service="stable",
        port=80,
        desired_weight=10,
        additional=[actions.Destination("exp-a", 5), actions.Destination("exp-b", 15)],
    )
    assert got == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"80",'
        '"Weight":10},{"ServiceName":"exp-a","ServicePort":"80","Weight":5},{"ServiceName":"exp-b",'
        '"ServicePort":"80","Weight":15},{"ServiceName":"stable","ServicePort":"80","Weight":70}]}}'
    )


@pytest.mark.parametrize("duration", [1, 300, 604800], ids=["lower-edge", "typical", "upper-edge"])
def test_stickiness_appended(duration: int) -> None:
    got = actions.forward_action(
        canary_service="canary", stable_service="stable", port=80, desired_weight=10,
        stickiness=(True, duration),
    )
    assert got == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"80",'
        '"Weight":10},{"ServiceName":"stable","ServicePort":"80","Weight":90}],'
        f'"TargetGroupStickinessConfig":{{"Enabled":true,"DurationSeconds":{duration}}}}}}}'
    )


@pytest.mark.parametrize("duration", [0, -5, 604801], ids=["zero", "negative", "over-a-week"])
def test_stickiness_out_of_range(duration: int) -> None:
    with pytest.raises(actions.StickinessError) as caught:
        actions.forward_action(
            canary_service="c", stable_service="s", port=80, desired_weight=10, stickiness=(True, duration)
        )
    assert str(caught.value) == STICKINESS_ERROR
    with pytest.raises(actions.StickinessError):
        actions.header_route_action(canary_service="c", port=80, stickiness=(True, duration))


def test_stickiness_disabled_is_omitted_whatever_the_duration() -> None:
    got = actions.forward_action(
        canary_service="c", stable_service="s", port=80, desired_weight=10, stickiness=(False, 0)
    )
    assert "TargetGroupStickinessConfig" not in got


def test_empty_service_name_is_omitted_like_go() -> None:
    got = actions.forward_action(canary_service="", stable_service="stable", port=80, desired_weight=0)
    assert got == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServicePort":"80","Weight":0},'
        '{"ServiceName":"stable","ServicePort":"80","Weight":100}]}}'
    )


@pytest.mark.parametrize(
    ("desired", "additional", "expected"),
    [
        pytest.param(10, (), actions.Weights(10, (), 90), id="plain"),
        pytest.param(150, (), actions.Weights(100, (), 0), id="over-100"),
        pytest.param(-3, (), actions.Weights(0, (), 100), id="negative"),
        pytest.param(60, (30, 30), actions.Weights(60, (30, 10), 0), id="experiments-overflow"),
        pytest.param(10, (-5, 20), actions.Weights(10, (0, 20), 70), id="negative-experiment"),
    ],
)
def test_split_weights_clamps(desired: int, additional: tuple[int, ...], expected: actions.Weights) -> None:
    assert actions.split_weights(desired, additional) == expected


def test_clamped_payload_never_negative() -> None:
    got = actions.forward_action(
        canary_service="c", stable_service="s", port=80, desired_weight=90,
        additional=[actions.Destination("e", 20)],
    )
    assert got == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"c","ServicePort":"80","Weight":90},'
        '{"ServiceName":"e","ServicePort":"80","Weight":10},{"ServiceName":"s","ServicePort":"80","Weight":0}]}}'
    )


@given(st.integers(-1000, 1000), st.lists(st.integers(-1000, 1000), max_size=5))
def test_weights_always_within_range_and_sum_to_100(desired: int, additional: list[int]) -> None:
    weights = actions.split_weights(desired, additional)
    values = [weights.canary, *weights.additional, weights.stable]
    assert all(0 <= v <= 100 for v in values)
    assert sum(values) == 100
    payload = gojson.loads(
        actions.forward_action(
            canary_service="c", stable_service="s", port=80, desired_weight=desired,
            additional=[actions.Destination(f"e{i}", w) for i, w in enumerate(additional)],
        )
    )
    assert sum(group["Weight"] for group in payload["ForwardConfig"]["TargetGroups"]) == 100


def test_header_route_action() -> None:
    assert actions.header_route_action(canary_service="canary-svc", port=443) == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary-svc","ServicePort":"443",'
        '"Weight":100}]}}'
    )
    assert actions.header_route_action(canary_service="canary-svc", port=443, stickiness=(True, 60)) == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary-svc","ServicePort":"443",'
        '"Weight":100}],"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":60}}}'
    )


@pytest.mark.parametrize(
    ("matches", "expected"),
    [
        pytest.param(
            [actions.Match("Agent", "Chrome")],
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"Agent","values":["Chrome"]}}]',
            id="single",
        ),
        pytest.param(
            [actions.Match("Agent", "Chrome"), actions.Match("X-Beta", "1"),
             actions.Match("Agent", "Firefox")],
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"Agent","values":["Chrome","Firefox"]}},'
            '{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Beta","values":["1"]}}]',
            id="merged-first-seen",
        ),
        pytest.param(
            [actions.Match("Agent", None)],
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"Agent","values":[""]}}]',
            id="non-exact-reads-empty",
        ),
        pytest.param(
            [actions.Match("X", "a<b&c>")],
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X","values":["a\\u003cb\\u0026c\\u003e"]}}]',
            id="go-escapes",
        ),
        pytest.param([], "null", id="empty-is-go-nil"),
    ],
)
def test_header_route_condition(matches: list[actions.Match], expected: str) -> None:
    assert actions.header_route_condition(matches) == expected
