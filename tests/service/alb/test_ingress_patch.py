"""The desired Ingress and its merge-patch body (reference §1.5, §1.6, §1.8; SPEC §4.4, §4.5, §4.7, §5).

Covers: exact body bytes for a first write, a weight change and no change (None); resourceVersion precondition
inside the body (and absent when unknown); other rollouts' entries kept and the legacy key deleted; prefix and
rootService/ping-pong keys; multi-ingress; header route add/remove with spec.rules sent whole and sorted by
managedRoutes; managed-route removal; refusals (class not managed, '' class, unparsable bookkeeping) and
errors (service missing, stickiness, malformed); unusual Ingresses; cleanup after deletion. Properties:
test_ingress_patch_properties.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from service.alb import actions, ingress_patch, rules
from service.alb.ingress_patch import HeaderRoute, Routing
from statemachine.ingress_checks import backend_service

KEY = "rollouts.argoproj.io/managed-alb-annotations"
LEGACY = "rollouts.argoproj.io/managed-alb-actions"
REFUSED = 'refusing to write Ingress "default/ingress": '
RESOURCE = {"resource": {"kind": "B", "name": "b"}}
ACTION = "alb.ingress.kubernetes.io/actions.stable"
ROUTING = Routing(
    rollout="rollout", action_service="stable", canary_service="canary", stable_service="stable", port=80
)


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def names(rule: dict[str, Any]) -> list[str | None]:
    return [backend_service(p) for p in rule["http"]["paths"]]


def body(patch: dict[str, Any] | None) -> str:
    assert patch is not None
    return ingress_patch.encode(patch).decode()


def test_first_write_exact_body(make_ingress) -> None:
    patch = ingress_patch.weight_patch(make_ingress(), ROUTING, desired_weight=10)
    assert body(patch) == (
        '{"metadata":{"annotations":{"alb.ingress.kubernetes.io/actions.stable":"{\\"Type\\":\\"forward\\",'
        '\\"ForwardConfig\\":{\\"TargetGroups\\":[{\\"ServiceName\\":\\"canary\\",\\"ServicePort\\":\\"80\\",'
        '\\"Weight\\":10},{\\"ServiceName\\":\\"stable\\",\\"ServicePort\\":\\"80\\",\\"Weight\\":90}]}}",'
        '"rollouts.argoproj.io/managed-alb-annotations":"{\\"rollout\\":[\\"alb.ingress.kubernetes.io/actions.stable'
        '\\"]}"},"resourceVersion":"7"}}'
    )


def test_weight_change_sends_only_the_action(make_ingress, apply_patch) -> None:
    first = ingress_patch.weight_patch(make_ingress(), ROUTING, desired_weight=10)
    ingress = apply_patch(make_ingress(), first)
    assert ingress_patch.weight_patch(ingress, ROUTING, desired_weight=10) is None
    patch = ingress_patch.weight_patch(ingress, ROUTING, desired_weight=20)
    assert patch == {
        "metadata": {
            "annotations": {
                ACTION: '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary",'
                        '"ServicePort":"80","Weight":20},{"ServiceName":"stable","ServicePort":"80","Weight":80}]}}'
            },
            "resourceVersion": "7",
        }
    }


def test_no_resource_version_no_precondition(make_ingress) -> None:
    """Without a resourceVersion the body is the reference's SMP diff, byte for byte (§1.5 step 4)."""
    patch = ingress_patch.weight_patch(make_ingress(resource_version=None), ROUTING, desired_weight=0)
    assert body(patch) == (
        '{"metadata":{"annotations":{"alb.ingress.kubernetes.io/actions.stable":"{\\"Type\\":\\"forward\\",'
        '\\"ForwardConfig\\":{\\"TargetGroups\\":[{\\"ServiceName\\":\\"canary\\",\\"ServicePort\\":\\"80\\",'
        '\\"Weight\\":0},{\\"ServiceName\\":\\"stable\\",\\"ServicePort\\":\\"80\\",\\"Weight\\":100}]}}",'
        '"rollouts.argoproj.io/managed-alb-annotations":"{\\"rollout\\":[\\"alb.ingress.kubernetes.io/actions.stable'
        '\\"]}"}}}'
    )


@pytest.mark.parametrize("metadata", [None, {}, {"annotations": None}],
                         ids=["null", "empty", "null-annotations"])
def test_odd_metadata_still_gets_a_body(make_ingress, metadata) -> None:
    ingress = make_ingress() | {"metadata": metadata}
    patch = ingress_patch.weight_patch(ingress, ROUTING, desired_weight=10)
    assert patch == {"metadata": {"annotations": {
        ACTION: '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary",'
                '"ServicePort":"80","Weight":10},{"ServiceName":"stable","ServicePort":"80","Weight":90}]}}',
        KEY: '{"rollout":["' + ACTION + '"]}',
    }}}


def test_other_rollouts_kept_and_legacy_key_deleted(make_ingress) -> None:
    ingress = make_ingress(
        services=("stable", "other-stable"),
        annotations={
            KEY: '{"zz-other": ["x/actions.other-stable"]}',
            LEGACY: "zz-other:x/actions.other-stable",
        },
    )
    patch = ingress_patch.weight_patch(ingress, ROUTING, desired_weight=50)
    assert patch is not None
    assert patch["metadata"]["annotations"][KEY] == (
        '{"rollout":["alb.ingress.kubernetes.io/actions.stable"],"zz-other":["x/actions.other-stable"]}'
    )
    assert patch["metadata"]["annotations"][LEGACY] is None
    assert list(patch["metadata"]["annotations"]) == [ACTION, LEGACY, KEY]


def test_prefix_root_service_and_ping_pong(make_ingress) -> None:
    canary, stable = actions.ping_pong_services("ping", "ping-svc", "pong-svc")
    routing = replace(ROUTING, action_service="root-svc", canary_service=canary, stable_service=stable,
                      port=443, prefix="custom.io")
    patch = ingress_patch.weight_patch(make_ingress(services=("root-svc",)), routing, desired_weight=25)
    assert patch is not None
    assert patch["metadata"]["annotations"] == {
        "custom.io/actions.root-svc": (
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"pong-svc",'
            '"ServicePort":"443","Weight":25},{"ServiceName":"ping-svc","ServicePort":"443","Weight":75}]}}'
        ),
        KEY: '{"rollout":["custom.io/actions.root-svc"]}',
    }


def test_multi_ingress_each_gets_its_own_body(make_ingress) -> None:
    first = make_ingress("ingress-a", resource_version="3")
    second = make_ingress(
        "ingress-b", resource_version="9", annotations={KEY: '{"rollout":["' + ACTION + '"]}'}
    )
    patches = [ingress_patch.weight_patch(i, ROUTING, desired_weight=10) for i in (first, second)]
    action = ('{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"80",'
              '"Weight":10},{"ServiceName":"stable","ServicePort":"80","Weight":90}]}}')
    assert patches == [
        {"metadata": {"annotations": {ACTION: action, KEY: '{"rollout":["' + ACTION + '"]}'},
                      "resourceVersion": "3"}},
        {"metadata": {"annotations": {ACTION: action}, "resourceVersion": "9"}},
    ]
    # the second Ingress already carrying the weight does not stop the first from being patched (§6.10)
    written = [ingress_patch.weight_patch(i, ROUTING, desired_weight=10)
               for i in (second | {"metadata": {**second["metadata"], "annotations": {
                   ACTION: action, KEY: '{"rollout":["' + ACTION + '"]}'}}}, first)]
    assert written[0] is None and written[1] == patches[0]


def _header_ingress(make_ingress, make_path) -> dict[str, Any]:
    ingress: dict[str, Any] = make_ingress(rules=[
        {"host": "a.example", "http": {"paths": [make_path("stable")]}},
        {"host": "b.example", "http": {"paths": [make_path("stable")]}},
    ])
    return ingress


def test_header_route_add_exact(make_ingress, make_path) -> None:
    routing = replace(ROUTING, managed_routes=("header-route",))
    route = HeaderRoute("header-route", (actions.Match("Agent", "Chrome"),))
    patch = ingress_patch.weight_patch(
        _header_ingress(make_ingress, make_path), routing, desired_weight=0, header_route=route
    )
    assert body(patch) == (
        '{"metadata":{"annotations":{"alb.ingress.kubernetes.io/actions.header-route":"{\\"Type\\":\\"forward\\",'
        '\\"ForwardConfig\\":{\\"TargetGroups\\":[{\\"ServiceName\\":\\"canary\\",\\"ServicePort\\":\\"80\\",'
        '\\"Weight\\":100}]}}","alb.ingress.kubernetes.io/actions.stable":"{\\"Type\\":\\"forward\\",'
        '\\"ForwardConfig\\":{\\"TargetGroups\\":[{\\"ServiceName\\":\\"canary\\",\\"ServicePort\\":\\"80\\",'
        '\\"Weight\\":0},{\\"ServiceName\\":\\"stable\\",\\"ServicePort\\":\\"80\\",\\"Weight\\":100}]}}",'
        '"alb.ingress.kubernetes.io/conditions.header-route":"[{\\"field\\":\\"http-header\\",\\"httpHeaderConfig\\":'
        '{\\"httpHeaderName\\":\\"Agent\\",\\"values\\":[\\"Chrome\\"]}}]",'
        '"rollouts.argoproj.io/managed-alb-annotations":"{\\"rollout\\":[\\"alb.ingress.kubernetes.io/actions.'
        'header-route\\",\\"alb.ingress.kubernetes.io/conditions.header-route\\",\\"alb.ingress.kubernetes.io/'
        'actions.stable\\"]}"},"resourceVersion":"7"},"spec":{"rules":['
        '{"host":"a.example","http":{"paths":[{"backend":{"service":{"name":"header-route","port":{"name":'
        '"use-annotation"}}},"path":"/*","pathType":"ImplementationSpecific"},{"backend":{"service":{"name":"stable",'
        '"port":{"name":"use-annotation"}}},"path":"/*","pathType":"ImplementationSpecific"}]}},'
        '{"host":"b.example","http":{"paths":[{"backend":{"service":{"name":"header-route","port":{"name":'
        '"use-annotation"}}},"path":"/*","pathType":"ImplementationSpecific"},{"backend":{"service":{"name":"stable",'
        '"port":{"name":"use-annotation"}}},"path":"/*","pathType":"ImplementationSpecific"}]}}]}}'
    )


def test_header_route_remove_restores_rules(make_ingress, make_path, apply_patch) -> None:
    routing = replace(ROUTING, managed_routes=("r2", "r1"))
    original = _header_ingress(make_ingress, make_path)
    added = original
    for name in ("r1", "r2"):
        step = HeaderRoute(name, (actions.Match("X", name),))
        step_patch = ingress_patch.weight_patch(added, routing, desired_weight=0, header_route=step)
        added = apply_patch(added, step_patch)
    assert names(added["spec"]["rules"][0]) == ["r2", "r1", "stable"]
    patch = ingress_patch.weight_patch(added, routing, desired_weight=0, header_route=HeaderRoute("r1", None))
    assert patch is not None
    assert patch["metadata"]["annotations"] == {
        "alb.ingress.kubernetes.io/actions.r1": None,
        "alb.ingress.kubernetes.io/conditions.r1": None,
        KEY: '{"rollout":["alb.ingress.kubernetes.io/actions.stable","alb.ingress.kubernetes.io/actions.r2",'
             '"alb.ingress.kubernetes.io/conditions.r2"]}',
    }
    assert names(patch["spec"]["rules"][1]) == ["r2", "stable"]


def test_remove_managed_routes(make_ingress, make_path, apply_patch) -> None:
    routing = replace(ROUTING, managed_routes=("r1",))
    original = _header_ingress(make_ingress, make_path)
    step = HeaderRoute("r1", (actions.Match("X", "1"),))
    added = apply_patch(
        original, ingress_patch.weight_patch(original, routing, desired_weight=0, header_route=step)
    )
    patch = ingress_patch.weight_patch(added, routing, desired_weight=0, remove_managed_routes=True)
    assert patch is not None
    assert patch["metadata"]["annotations"] == {
        "alb.ingress.kubernetes.io/actions.r1": None,
        "alb.ingress.kubernetes.io/conditions.r1": None,
        KEY: '{"rollout":["alb.ingress.kubernetes.io/actions.stable"]}',
    }
    assert patch["spec"]["rules"] == original["spec"]["rules"]


@pytest.mark.parametrize(
    ("class_annotation", "class_name", "classes", "message"),
    [
        pytest.param(None, "nginx", ("alb",), REFUSED + 'its class "nginx" is not '
                     'one of --alb-ingress-classes ["alb"]', id="class-name"),
        pytest.param("nginx", "alb", ("alb",), REFUSED + 'its class "nginx" is not '
                     'one of --alb-ingress-classes ["alb"]', id="annotation-wins"),
        pytest.param(None, None, ("alb", "internal"), REFUSED + 'its class "" '
                     '(no class) is not one of --alb-ingress-classes ["alb", "internal"]', id="no-class"),
    ],
)
def test_unmanaged_class_refused(make_ingress, class_annotation, class_name, classes, message) -> None:
    annotations = {"kubernetes.io/ingress.class": class_annotation} if class_annotation else None
    ingress = make_ingress(annotations=annotations, ingress_class=class_name)
    with pytest.raises(ingress_patch.Refusal) as caught:
        ingress_patch.weight_patch(ingress, ROUTING, desired_weight=10, classes=classes)
    assert str(caught.value) == message


@pytest.mark.parametrize(("class_name", "classes"), [(None, ("",)), ("internal", ("alb", "internal"))])
def test_managed_classes_accepted(make_ingress, class_name, classes) -> None:
    ingress = make_ingress(ingress_class=class_name)
    assert ingress_patch.weight_patch(ingress, ROUTING, desired_weight=10, classes=classes) is not None


def test_invalid_bookkeeping_refused(make_ingress) -> None:
    with pytest.raises(ingress_patch.Refusal) as caught:
        ingress_patch.weight_patch(make_ingress(annotations={KEY: "test"}), ROUTING, desired_weight=10)
    assert str(caught.value) == (
        'refusing to write Ingress "default/ingress": cannot parse annotation '
        "rollouts.argoproj.io/managed-alb-annotations: invalid character 'e' in literal true (expecting 'r')"
    )


@pytest.mark.parametrize(
    "rule_list",
    [
        pytest.param([{"host": "no-http"}], id="no-http"),
        pytest.param([{"http": {"paths": []}}], id="zero-paths"),
        pytest.param([{"http": {"paths": [{"path": "/", "backend": RESOURCE}]}}], id="resource-backend"),
        pytest.param([], id="no-rules"),
    ],
)
def test_service_missing_from_unusual_ingress(make_ingress, rule_list) -> None:
    with pytest.raises(rules.IngressError) as caught:
        ingress_patch.weight_patch(make_ingress(rules=rule_list), ROUTING, desired_weight=10)
    assert str(caught.value) == "ingress does not have service `stable` in rules"


def test_unusual_rules_beside_the_service_are_left_alone(make_ingress, make_path, apply_patch) -> None:
    rule_list = [
        {"host": "no-http"},
        {"http": {"paths": []}},
        {"http": {"paths": [{"path": "/r", "backend": RESOURCE}, make_path("stable")]}},
    ]
    ingress = make_ingress(rules=rule_list, annotations=None)
    routing = replace(ROUTING, managed_routes=("r1",))
    patch = ingress_patch.weight_patch(ingress, routing, desired_weight=5,
                                       header_route=HeaderRoute("r1", (actions.Match("X", "1"),)))
    assert patch is not None
    after = apply_patch(ingress, patch)
    assert after["spec"]["rules"][0] == {"host": "no-http"}
    assert names(after["spec"]["rules"][1]) == ["r1"]
    assert names(after["spec"]["rules"][2]) == ["r1", None, "stable"]


def test_malformed_ingress_is_an_error_not_a_crash(make_ingress) -> None:
    ingress = make_ingress()
    ingress["spec"]["rules"] = "oops"
    with pytest.raises(rules.IngressError, match=r'^ingress "default/ingress": spec.rules must be a list$'):
        ingress_patch.weight_patch(ingress, ROUTING, desired_weight=10)


def test_stickiness_error_writes_nothing(make_ingress) -> None:
    routing = replace(ROUTING, stickiness=(True, 0))
    with pytest.raises(actions.StickinessError):
        ingress_patch.weight_patch(make_ingress(), routing, desired_weight=10)


def test_merge_patch_deletes_with_null_and_ignores_other_fields(make_ingress) -> None:
    current = make_ingress(annotations={"a": "1", "b": "2"})
    desired = make_ingress(annotations={"a": "1"}, resource_version="99")
    desired["metadata"]["labels"] = {"ignored": "yes"}
    assert ingress_patch.merge_patch(current, desired) == {
        "metadata": {"annotations": {"b": None}, "resourceVersion": "7"}
    }
    assert ingress_patch.merge_patch(current, current) is None


def test_cleanup_after_delete(make_ingress, make_path, apply_patch) -> None:
    routing = replace(ROUTING, managed_routes=("r1",))
    original = _header_ingress(make_ingress, make_path)
    original["metadata"]["annotations"] = {KEY: '{"other":["x/actions.o"]}', LEGACY: "other:x/actions.o"}
    step = HeaderRoute("r1", (actions.Match("X", "1"),))
    live = apply_patch(
        original, ingress_patch.weight_patch(original, routing, desired_weight=40, header_route=step)
    )
    patch, problems = ingress_patch.cleanup_patch(live, "rollout")
    assert problems == ()
    assert body(patch) == (
        '{"metadata":{"annotations":{"alb.ingress.kubernetes.io/actions.r1":null,'
        '"alb.ingress.kubernetes.io/actions.stable":"{\\"Type\\":\\"forward\\",\\"ForwardConfig\\":'
        '{\\"TargetGroups\\":[{\\"ServiceName\\":\\"stable\\",\\"ServicePort\\":\\"80\\",\\"Weight\\":100}]}}",'
        '"alb.ingress.kubernetes.io/conditions.r1":null,'
        '"rollouts.argoproj.io/managed-alb-annotations":"{\\"other\\":[\\"x/actions.o\\"]}"},'
        '"resourceVersion":"7"},"spec":{"rules":' + compact(original["spec"]["rules"]) + "}}"
    )
    cleaned = apply_patch(live, patch)
    assert ingress_patch.cleanup_patch(cleaned, "rollout") == (None, ())


def test_cleanup_refuses_unmanaged_class(make_ingress) -> None:
    with pytest.raises(ingress_patch.Refusal, match='its class "nginx"'):
        ingress_patch.cleanup_patch(make_ingress(ingress_class="nginx"), "rollout")
