"""Parsing Rollout dicts into the model: the example Rollout, defaults, steps, status, and bad shapes.

Aspects: field mapping, ingress/ingresses semantics, durations, status round-trip fields, InvalidSpec
messages naming the field, and the property that parsing any JSON-like value raises nothing but InvalidSpec.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statemachine import models, parsing


def example_rollout() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "rollouts-demo", "namespace": "default", "generation": 3,
                     "annotations": {"rollout.argoproj.io/revision": "2"}},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {"metadata": {"labels": {"app": "demo"}}, "spec": {"containers": [{"name": "c"}]}},
            "strategy": {"canary": {
                "canaryService": "canary-svc",
                "stableService": "stable-svc",
                "trafficRouting": {"alb": {"ingress": "ingress", "servicePort": 443,
                                           "stickinessConfig": {"enabled": True, "durationSeconds": 3600}}},
                "steps": [{"setWeight": 10}, {"pause": {}}, {"pause": {"duration": "1h30m"}},
                          {"setCanaryScale": {"replicas": 2}},
                          {"setHeaderRoute": {"name": "hr", "match": [
                              {"headerName": "x-canary", "headerValue": {"exact": "yes"}}]}},
                          {"experiment": {}}],
            }},
        },
        "status": {"currentStepIndex": 1, "stableRS": "abc", "currentPodHash": "def",
                   "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}],
                   "canary": {"stablePingPong": "ping", "weights": {
                       "canary": {"weight": 10, "serviceName": "canary-svc", "podTemplateHash": "def"},
                       "stable": {"weight": 90, "serviceName": "stable-svc", "podTemplateHash": "abc"},
                       "verified": False}},
                   "alb": {"loadBalancer": {"name": "lb", "arn": "arn:lb", "fullName": "lb/1"}},
                   "observedGeneration": "3"},
    }


def test_example_rollout_maps_every_field() -> None:
    rollout = parsing.parse_rollout(example_rollout())
    assert rollout.key == "default/rollouts-demo"
    assert rollout.revision == 2
    assert rollout.replicas == 5
    canary = rollout.canary
    assert canary is not None and canary.alb is not None
    assert canary.action_service == "stable-svc"
    assert canary.alb.ingress_names == ("ingress",)
    assert canary.alb.prefix == "alb.ingress.kubernetes.io"
    assert canary.alb.stickiness == models.Stickiness(enabled=True, duration_seconds=3600)
    assert canary.steps == (
        models.SetWeight(10),
        models.Pause(),
        models.Pause(duration_seconds=5400, raw="1h30m"),
        models.SetCanaryScale(replicas=2),
        models.SetHeaderRoute("hr", (models.HeaderMatch("x-canary", exact="yes"),)),
        models.Experiment(),
    )
    status = rollout.status
    assert status.current_step_index == 1
    assert status.pause_conditions == (models.PauseCondition("CanaryPauseStep", "2026-01-01T00:00:00Z"),)
    assert status.canary.weights is not None and status.canary.weights.verified is False
    assert status.canary.weights.canary == models.WeightDestination(10, "canary-svc", "def")
    assert status.alb is not None and status.alb.load_balancer.full_name == "lb/1"
    assert status.observed_generation == "3"


def test_empty_ingresses_list_is_kept_but_falls_back_to_ingress() -> None:
    obj = example_rollout()
    obj["spec"]["strategy"]["canary"]["trafficRouting"]["alb"] = {"ingresses": [], "servicePort": 80}
    alb = parsing.parse_rollout(obj).canary.alb  # type: ignore[union-attr]
    assert alb is not None and alb.ingresses == () and alb.ingress_names == ()
    obj["spec"]["strategy"]["canary"]["trafficRouting"]["alb"]["ingress"] = "single"
    alb = parsing.parse_rollout(obj).canary.alb  # type: ignore[union-attr]
    assert alb is not None and alb.ingress_names == ("single",)


@pytest.mark.parametrize(("value", "seconds"), [
    pytest.param(30, 30, id="int"),
    pytest.param("45", 45, id="digits"),
    pytest.param("30s", 30, id="seconds"),
    pytest.param("5m", 300, id="minutes"),
    pytest.param("1h30m", 5400, id="compound"),
    pytest.param("1.5s", 1, id="fraction-truncates"),
    pytest.param("abc", None, id="garbage"),
    pytest.param("10x", None, id="bad-unit"),
])
def test_durations(value: str | int, seconds: int | None) -> None:
    assert parsing.parse_duration_seconds(value) == seconds


@pytest.mark.parametrize(("mutate", "message"), [
    pytest.param(lambda o: o["spec"]["strategy"]["canary"]["steps"].append({"setWeight": "ten"}),
                 'The Rollout "rollouts-demo" is invalid: spec.strategy.canary.steps[6].setWeight: '
                 'Invalid value: "ten": must be an integer', id="weight-not-int"),
    pytest.param(lambda o: o["spec"]["strategy"]["canary"]["steps"].append({"pause": {"duration": "soon"}}),
                 'The Rollout "rollouts-demo" is invalid: spec.strategy.canary.steps[6].pause.duration: '
                 'Invalid value: "soon": invalid duration (use seconds, or units: 30s, 5m, 1h)',
                 id="bad-duration"),
    pytest.param(lambda o: o["spec"]["strategy"]["canary"]["steps"].append({"teleport": 1}),
                 'The Rollout "rollouts-demo" is invalid: spec.strategy.canary.steps[6]: '
                 'Invalid value: "teleport": unknown step type', id="unknown-step"),
    pytest.param(lambda o: o["spec"]["strategy"]["canary"]["trafficRouting"]["alb"].update(ingresses="x"),
                 'The Rollout "rollouts-demo" is invalid: spec.strategy.canary.trafficRouting.alb.ingresses: '
                 'Invalid value: "x": must be a list', id="ingresses-not-list"),
    pytest.param(lambda o: o.update(spec=[]),
                 'The Rollout "rollouts-demo" is invalid: spec: Invalid value: []: must be an object',
                 id="spec-not-object"),
    pytest.param(lambda o: o.update(status=5),
                 'The Rollout "rollouts-demo" is invalid: status: Invalid value: 5: must be an object',
                 id="status-not-object"),
])
def test_bad_shapes_name_the_field(mutate: Any, message: str) -> None:
    obj = example_rollout()
    mutate(obj)
    with pytest.raises(models.InvalidSpec) as caught:
        parsing.parse_rollout(obj)
    assert caught.value.message == message


@pytest.mark.parametrize(("text", "quoted"), [
    pytest.param("web", '"web"', id="plain"),
    pytest.param('a"b\\c', '"a\\"b\\\\c"', id="quote-backslash"),
    pytest.param("a\nb\tc\a\v", '"a\\nb\\tc\\a\\v"', id="short-escapes"),
    pytest.param("\x01\x7f", '"\\x01\\x7f"', id="control-bytes"),
    pytest.param("héllo ☃ 日本", '"héllo ☃ 日本"', id="printable-unicode-raw"),
    pytest.param("soft\u00adhyphen\u0085", '"soft\\u00adhyphen\\u0085"', id="non-printable-bmp"),
    pytest.param("\U000e0001", '"\\U000e0001"', id="non-printable-astral"),
    pytest.param("\ud800", '"\ufffd"', id="lone-surrogate"),
])
def test_go_quote_is_go_percent_q(text: str, quoted: str) -> None:
    assert parsing.go_quote(text) == quoted


def test_field_error_quotes_values_like_apimachinery() -> None:
    assert parsing.field_error("spec.x", "Invalid value", "a\tb", "bad") == (
        'spec.x: Invalid value: "a\\tb": bad')
    assert parsing.field_error("spec.x", "Invalid value", ["a", "b"], "bad") == (
        'spec.x: Invalid value: []string{"a", "b"}: bad')
    assert parsing.field_error("spec.x", "Invalid value", 7, "bad") == "spec.x: Invalid value: 7: bad"
    assert parsing.field_error("spec.x", "Required value", detail="bad") == "spec.x: Required value: bad"


def test_not_an_object() -> None:
    with pytest.raises(models.InvalidSpec, match="must be a JSON object, got list"):
        models.parse_rollout([])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["spec", "strategy", "canary", "steps", "setWeight", "pause", "duration", "status",
                         "trafficRouting", "alb", "ingress", "ingresses", "weights", "metadata", "name",
                         "servicePort", "stickinessConfig", "setHeaderRoute", "match", "headerValue",
                         "albs"]),
        children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_parsing_anything_raises_only_invalid_spec(value: Any) -> None:
    try:
        parsing.parse_rollout(value)
    except models.InvalidSpec as error:
        assert error.message


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found += _paths(value, (*prefix, i))
    return found


EXAMPLE_PATHS = _paths(example_rollout())[1:]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(EXAMPLE_PATHS), json_values)
def test_replacing_any_part_of_a_real_rollout_raises_only_invalid_spec(
    path: tuple[Any, ...], value: Any
) -> None:
    obj = example_rollout()
    target = obj
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    try:
        parsing.parse_rollout(obj)
    except models.InvalidSpec as error:
        assert error.message
