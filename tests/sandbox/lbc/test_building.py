"""Model building: which Ingresses are `alb` (annotation overrides ingressClassName; IngressClass controller;
default class), stack ids and group membership, LB and TG naming, the TG resource tag, path ordering and
patterns, use-annotation backends, the 503 stand-ins for a missing action or Service, build failures
(rejectActions, multi-group missing Service, missing port), header conditions, and binding targets."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.lbc import building, models, parsing
from tests.sandbox.lbc import manifests

ALB_CLASS = {"metadata": {"name": "alb"}, "spec": {"controller": "ingress.k8s.aws/alb"}}
NGINX_CLASS = {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}
KEY = "alb.ingress.kubernetes.io/actions.stable"
SPLIT = manifests.forward(("canary", 10), ("stable", 90))


def _view(*ingresses: dict[str, Any], classes: list[dict[str, Any]] | None = None) -> building.ClusterView:
    services = [manifests.service("stable"), manifests.service("canary")]
    for svc in services:
        svc["metadata"]["uid"] = f"uid-{svc['metadata']['name']}"
    return building.ClusterView(
        ingresses=list(ingresses), services=services,
        endpoint_slices=[manifests.endpoint_slice("stable", ["10.0.1.2", "10.0.1.1"], ("10.0.1.9",)),
                         manifests.endpoint_slice("canary", ["10.0.2.1"])],
        ingress_classes=[ALB_CLASS, NGINX_CLASS] if classes is None else classes,
    )


def _ingress(**kwargs: Any) -> dict[str, Any]:
    made = manifests.ingress(**kwargs)
    made["metadata"]["uid"] = f"uid-{made['metadata']['name']}"
    return made


@pytest.mark.parametrize(
    ("annotations", "class_name", "classes", "managed"),
    [
        pytest.param({}, "alb", None, True, id="class-name-alb"),
        pytest.param({}, "nginx", None, False, id="class-name-other"),
        pytest.param({}, "alb", [], False, id="class-name-without-ingressclass"),
        pytest.param({"kubernetes.io/ingress.class": "alb"}, "nginx", None, True, id="annotation-overrides"),
        pytest.param({"kubernetes.io/ingress.class": "nginx"}, "alb", None, False, id="annotation-other"),
        pytest.param({}, None, None, False, id="no-class-no-default"),
        pytest.param(
            {}, None,
            [{**ALB_CLASS, "metadata": {
                "name": "alb", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}}}],
            True, id="default-class-is-alb",
        ),
    ],
)
def test_which_ingresses_are_alb(annotations, class_name, classes, managed) -> None:
    ingress = _ingress(annotations=annotations, class_name=class_name)
    known = [ALB_CLASS, NGINX_CLASS] if classes is None else classes
    assert building.is_alb_ingress(ingress, known) is managed
    stacks = building.build_stacks(_view(ingress, classes=classes), cluster="c")
    assert list(stacks) == (["default/app"] if managed else [])


def test_weighted_action_builds_one_rule_and_two_tagged_target_groups() -> None:
    ingress = _ingress(annotations={KEY: manifests.forward(("canary", 10), ("stable", 90), sticky=300)})
    stack = building.build_stacks(_view(ingress), cluster="c")["default/app"]
    assert isinstance(stack, models.StackModel)
    assert stack.lb_name.startswith("k8s-default-app-") and len(stack.lb_name) == len("k8s-default-app-") + 10
    resource_ids = [tg.resource_id for tg in stack.target_groups]
    assert resource_ids == ["default/app-canary:80", "default/app-stable:80"]
    assert [tg.port for tg in stack.target_groups] == [8080, 8080]
    assert all(tg.name.startswith(f"k8s-default-{tg.service}-") for tg in stack.target_groups)
    (rule,) = stack.rules
    assert rule.priority == 1
    assert rule.conditions == (parsing.Condition("path-pattern", values=("/*",)),)
    assert rule.action == models.ForwardModel(
        target_groups=((models.TargetRef(resource_id="default/app-canary:80"), 10),
                       (models.TargetRef(resource_id="default/app-stable:80"), 90)),
        stickiness=parsing.Stickiness(True, 300),
    )
    assert stack.default_action == parsing.FixedResponse("404", "text/plain")


def test_paths_sorted_exact_then_longest_prefix_then_implementation_specific() -> None:
    def path(value: str, kind: str) -> dict[str, Any]:
        backend = {"service": {"name": "stable", "port": {"number": 80}}}
        return {"path": value, "pathType": kind, "backend": backend}

    paths = [path("/impl", "ImplementationSpecific"), path("/a", "Prefix"), path("/api/v1/", "Prefix"),
             path("/exact", "Exact"), path("/", "Prefix")]
    view = _view(_ingress(paths=paths, host="shop.example.com"))
    stack = building.build_stacks(view, cluster="c")["default/app"]
    assert isinstance(stack, models.StackModel)
    got = [(r.priority, r.conditions) for r in stack.rules]
    host = parsing.Condition("host-header", values=("shop.example.com",))
    assert got == [
        (1, (host, parsing.Condition("path-pattern", values=("/exact",)))),
        (2, (host, parsing.Condition("path-pattern", values=("/api/v1", "/api/v1/*")))),
        (3, (host, parsing.Condition("path-pattern", values=("/a", "/a/*")))),
        (4, (host, parsing.Condition("path-pattern", values=("/*",)))),
        (5, (host, parsing.Condition("path-pattern", values=("/impl",)))),
    ]


def test_header_route_conditions_join_the_path() -> None:
    annotations = {
        "alb.ingress.kubernetes.io/actions.canary-route": manifests.forward(("canary", 100), ("stable", 0)),
        "alb.ingress.kubernetes.io/conditions.canary-route":
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Canary","values":["yes"]}}]',
        KEY: manifests.forward(("canary", 0), ("stable", 100)),
    }
    paths = manifests.action_paths("canary-route", "stable")
    stack = building.build_stacks(_view(_ingress(annotations=annotations, paths=paths)),
                                  cluster="c")["default/app"]
    assert isinstance(stack, models.StackModel)
    assert stack.rules[0].conditions == (
        parsing.Condition("path-pattern", values=("/*",)),
        parsing.Condition("http-header", values=("yes",), header_name="X-Canary"),
    )
    assert stack.rules[1].conditions == (parsing.Condition("path-pattern", values=("/*",)),)


@pytest.mark.parametrize(
    ("annotations", "backend", "body"),
    [
        pytest.param({}, "stable", "Backend action does not exist", id="missing-action"),
        pytest.param({"alb.ingress.kubernetes.io/actions.gone": manifests.forward(("nothere", 100))}, "gone",
                     "Backend service does not exist", id="single-missing-service"),
    ],
)
def test_tolerated_gaps_become_fixed_503(annotations, backend, body) -> None:
    stack = building.build_stacks(_view(_ingress(annotations=annotations, backend=backend)),
                                  cluster="c")["default/app"]
    assert isinstance(stack, models.StackModel)
    assert stack.rules[0].action == parsing.FixedResponse("503", "text/plain", body)
    assert stack.target_groups == ()


@pytest.mark.parametrize(
    ("annotations", "reject", "message"),
    [
        pytest.param({KEY: manifests.forward(("nothere", 10), ("stable", 90))}, False,
                     'services "nothere" not found', id="multi-missing-service"),
        pytest.param({KEY: manifests.forward(("canary", 10), ("stable", 90), port="81")}, False,
                     "unable to find port 81 on service default/canary", id="missing-port"),
        pytest.param({KEY: "{"}, False, f"failed to parse json annotation, {KEY}: {{: ", id="bad-json"),
        pytest.param(
            {KEY: SPLIT}, True,
            f"failed to parse json annotation, {KEY}: {SPLIT}: rejected by the sandbox (rejectActions)",
            id="reject-actions-knob",
        ),
    ],
)
def test_build_failures_carry_the_message(annotations, reject, message) -> None:
    failure = building.build_stacks(_view(_ingress(annotations=annotations)), cluster="c",
                                    reject_actions=reject)["default/app"]
    assert isinstance(failure, models.BuildFailure)
    assert failure.message.startswith(message)
    assert failure.members == (models.IngressRef("default", "app", "uid-app"),)


def test_backend_without_service_fails_the_build() -> None:
    path = {"path": "/", "pathType": "Prefix", "backend": {"resource": {"kind": "Bucket", "name": "b"}}}
    failure = building.build_stacks(_view(_ingress(paths=[path])), cluster="c")["default/app"]
    assert isinstance(failure, models.BuildFailure)
    assert failure.message == 'missing required "service" field'


def test_two_default_backends_in_a_group_fail_the_build() -> None:
    group = {"alb.ingress.kubernetes.io/group.name": "shared"}
    members = []
    for name in ("one", "two"):
        made = _ingress(name=name, use_annotation=False, annotations=group)
        made["spec"]["defaultBackend"] = {"service": {"name": "stable", "port": {"number": 80}}}
        members.append(made)
    failure = building.build_stacks(_view(*members), cluster="c")["shared"]
    assert isinstance(failure, models.BuildFailure)
    assert failure.message == "multiple ingress defined default backend in group shared"
    assert [m.name for m in failure.members] == ["one", "two"]


def test_group_name_joins_ingresses_into_one_stack_in_order() -> None:
    group = {"alb.ingress.kubernetes.io/group.name": "shared"}
    first = _ingress(name="b-first", use_annotation=False,
                     annotations={**group, "alb.ingress.kubernetes.io/group.order": "-1"})
    second = _ingress(name="a-second", use_annotation=False, annotations=group)
    stacks = building.build_stacks(_view(first, second), cluster="c")
    stack = stacks["shared"]
    assert isinstance(stack, models.StackModel) and stack.explicit_group
    assert [m.name for m in stack.members] == ["b-first", "a-second"]
    assert stack.lb_name.startswith("k8s-shared-")
    assert [tg.resource_id for tg in stack.target_groups] == ["default/a-second-stable:80",
                                                             "default/b-first-stable:80"]


def test_load_balancer_name_annotation_wins() -> None:
    ingress = _ingress(use_annotation=False,
                       annotations={"alb.ingress.kubernetes.io/load-balancer-name": "my-alb"})
    stack = building.build_stacks(_view(ingress), cluster="c")["default/app"]
    assert isinstance(stack, models.StackModel) and stack.lb_name == "my-alb"


def test_binding_targets_are_ready_endpoints_of_the_service_port() -> None:
    view = _view()
    ready = (("10.0.1.1", 8080), ("10.0.1.2", 8080))
    assert building.service_targets(view, "default", "stable", 80) == ready
    assert building.service_targets(view, "default", "stable", "http") == ready
    assert building.service_targets(view, "default", "stable", 81) == ()
    assert building.service_targets(view, "default", "missing", 80) == ()
    tgb = {"metadata": {"name": "k8s-x", "namespace": "default"},
           "spec": {"targetGroupARN": "arn:x", "targetType": "ip",
                    "serviceRef": {"name": "canary", "port": 80}}}
    assert building.plan_bindings(view, [tgb]) == {
        "default/k8s-x": models.BindingTargets("default", "k8s-x", "arn:x", (("10.0.2.1", 8080),))
    }


def test_a_stack_is_built_again_only_when_a_member_or_a_service_it_read_changed() -> None:
    ingress = _ingress(annotations={KEY: manifests.forward(("canary", 20), ("stable", 80))},
                       backend="stable")
    ingress["metadata"]["resourceVersion"] = "1"
    view = _view(ingress)
    cache: building.StackCache = {}
    first = building.build_stacks(view, cluster="c", cache=cache)["default/app"]
    assert building.build_stacks(_view(ingress), cluster="c", cache=cache)["default/app"] is first
    changed = _view(ingress)
    changed.services[1]["metadata"]["resourceVersion"] = "7"  # the canary Service changed: read again
    changed.services[1]["spec"]["ports"][0]["targetPort"] = 9090
    again = building.build_stacks(changed, cluster="c", cache=cache)["default/app"]
    assert again is not first and again == building.build_stacks(changed, cluster="c")["default/app"]
    assert {tg.port for tg in again.target_groups} == {8080, 9090}
    ingress["metadata"]["resourceVersion"] = "2"  # a member changed
    assert building.build_stacks(changed, cluster="c", cache=cache)["default/app"] is not again
    assert building.build_stacks(building.ClusterView(), cluster="c", cache=cache) == {} and cache == {}


def test_a_binding_is_planned_again_only_when_its_service_or_endpoints_changed() -> None:
    tgb = {"metadata": {"name": "k8s-x", "namespace": "default", "resourceVersion": "1"},
           "spec": {"targetGroupARN": "arn:x", "targetType": "ip",
                    "serviceRef": {"name": "canary", "port": 80}}}
    cache: building.BindingCache = {}
    view = _view()
    first = building.plan_bindings(view, [tgb], cache)["default/k8s-x"]
    assert building.plan_bindings(_view(), [tgb], cache)["default/k8s-x"] is first
    moved = _view()
    moved.endpoint_slices[1] = manifests.endpoint_slice("canary", ["10.0.2.7"])
    moved.endpoint_slices[1]["metadata"]["resourceVersion"] = "9"  # the pods changed: plan again
    again = building.plan_bindings(moved, [tgb], cache)["default/k8s-x"]
    assert again.targets == (("10.0.2.7", 8080),)
    assert building.plan_bindings(moved, [], cache) == {} and cache == {}
