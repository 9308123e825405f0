"""Validation of parsed Rollouts: the exact InvalidSpec messages of the Rollout spec and its Services.

Aspects: a valid Rollout (online and offline) gives None; one table row per message, compared byte for
byte: every row of reference §1.7, the reference's other canary checks (duplicate services, ping-pong,
maxTrafficWeight, setWeight, pause, setMirrorRoute, managed-by), and ours (non-canary strategy, routers
other than alb, unsupported steps, setCanaryScale, stickiness, servicePort); first-match-wins order; `errors`
lists everything in order; `check` raises InvalidSpec; unknown (None) Ingresses/Services skip lookups.
Unusual Ingresses and the never-raises property: test_validation_ingresses.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from statemachine import models, parsing, validation
from tests.statemachine.validation_cases import (
    ALB,
    DELETE,
    HEADER_ROUTE,
    ING,
    PING_PONG,
    PREFIX,
    TR,
    UNSUPPORTED,
    C,
    Changes,
    apply,
    default_ingresses,
    default_services,
    header_steps,
    ingress_dict,
    odd_ingress,
    rollout_dict,
    root_ingress,
    run,
    service_dict,
    service_path,
)

REFERENCE_ROWS = [
    # reference §1.7, in its order
    pytest.param({f"{TR}.alb.ingresses": ["ing"]}, None, None,
                 f"{ALB}: Internal error: Either Ingress or Ingresses must be configured. Both are "
                 "configured.",
                 id="ingress-and-ingresses"),
    pytest.param({f"{TR}.alb.ingress": DELETE}, None, None,
                 f"{ALB}: Internal error: Either Ingress or Ingresses must be configured. Neither are "
                 "configured.",
                 id="neither-ingress"),
    pytest.param({f"{TR}.alb.ingress": DELETE, f"{TR}.alb.ingresses": []}, None, None,
                 f"{ALB}: Internal error: Either Ingress or Ingresses must be configured. Neither are "
                 "configured.",
                 id="empty-ingresses-is-unset-after-remarshal"),
    pytest.param({f"{TR}.alb.ingress": "missing"}, None, None,
                 f'{ALB}.ingress: Invalid value: "missing": ingress.networking.k8s.io "missing" not found',
                 id="ingress-not-found"),
    pytest.param({f"{TR}.alb.ingress": DELETE, f"{TR}.alb.ingresses": ["ing", "gone", "other"]}, None, None,
                 f'{ALB}.ingresses: Invalid value: []string{{"ing", "gone", "other"}}: '
                 'ingress.networking.k8s.io "gone" not found',
                 id="ingresses-not-found"),
    pytest.param({}, {"ing": ingress_dict(service_path("web"))}, None,
                 f'{ALB}.ingress: Invalid value: "ing": ingress `ing` has no rules using service stable-svc '
                 'backend',
                 id="no-rule-uses-stable"),
    pytest.param({f"{TR}.alb.ingress": DELETE, f"{TR}.alb.ingresses": ["ing", "other"]},
                 {"ing": ingress_dict(), "other": ingress_dict(service_path("web"))}, None,
                 f'{ALB}.ingresses: Invalid value: "other": '
                 "ingress `other` has no rules using service stable-svc backend",
                 id="multi-no-rule-uses-stable"),
    pytest.param({f"{TR}.alb.rootService": "root-svc"}, None, None,
                 f'{ALB}.ingress: Invalid value: "ing": ingress `ing` has no rules using service root-svc '
                 'backend',
                 id="no-rule-uses-root"),
    pytest.param({f"{C}.pingPong": {"pingService": "ping-svc", "pongService": "pong-svc"}}, None, None,
                 'spec.strategy.trafficRouting.alb.rootService: Invalid value: "": '
                 "Root service field is required for the configuration with ALB "
                 "and ping-pong feature enabled",
                 id="ping-pong-without-root"),
    pytest.param({f"{C}.stableService": DELETE}, None, None,
                 'spec.strategy.stableService: Invalid value: "": '
                 "Canary service and Stable service must to be set to use Traffic Routing",
                 id="stable-service-missing"),
    pytest.param({f"{C}.canaryService": ""}, None, None,
                 'spec.strategy.canaryService: Invalid value: "": '
                 "Canary service and Stable service must to be set to use Traffic Routing",
                 id="canary-service-missing"),
    pytest.param(header_steps({"headerName": "x", "headerValue": {"prefix": "a"}}), None, None,
                 'spec.strategy.steps[1].setHeaderRoute.match[0]: Invalid value: '
                 'v1alpha1.StringMatch{Exact:"", '
                 "Prefix:\"a\", Regex:\"\"}: SetHeaderRoute match value invalid. ALB supports 'exact' value "
                 "only",
                 id="header-prefix"),
    pytest.param(header_steps({"headerName": "x", "headerValue": {"exact": "1"}},
                              {"headerName": "y", "headerValue": {"exact": "a", "regex": "b.*"}}), None, None,
                 'spec.strategy.steps[1].setHeaderRoute.match[1]: Invalid value: '
                 'v1alpha1.StringMatch{Exact:"a", '
                 "Prefix:\"\", Regex:\"b.*\"}: SetHeaderRoute match value invalid. ALB supports 'exact' "
                 "value only",
                 id="header-exact-and-regex"),
    pytest.param(header_steps({"headerName": "x", "headerValue": {}}), None, None,
                 'spec.strategy.steps[1].setHeaderRoute.match[0]: Invalid value: '
                 'v1alpha1.StringMatch{Exact:"", '
                 "Prefix:\"\", Regex:\"\"}: SetHeaderRoute match value invalid. ALB supports 'exact' value "
                 "only",
                 id="header-empty-value"),
    pytest.param(header_steps({"headerName": "x"}), None, None,
                 'spec.strategy.steps[1].setHeaderRoute.match[0]: Invalid value: "null": StringMatch value '
                 'missed, '
                 "match value must have one of the following: exact, regex, prefix",
                 id="header-nil-value"),
    pytest.param({f"{C}.steps": [HEADER_ROUTE]}, None, None,
                 "spec.strategy.trafficRouting.managedRoutes: Required value: "
                 "Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'",
                 id="header-without-managed-routes"),
    pytest.param({f"{C}.steps": [{"setWeight": 5}, HEADER_ROUTE], f"{TR}.managedRoutes": [{"name": "other"}]},
                 None, None,
                 'spec.strategy.steps[1].setHeaderRoute: Invalid value: "hr": '
                 "Steps define a route that does not exist in "
                 "spec.strategy.canary.trafficRouting.managedRoutes",
                 id="route-not-managed"),
    pytest.param({}, None, {"canary-svc": service_dict("canary-svc")},
                 'spec.strategy.canary.stableService: Invalid value: "stable-svc": service "stable-svc" not '
                 'found',
                 id="stable-not-found"),
    pytest.param({}, None, {"stable-svc": service_dict("stable-svc")},
                 'spec.strategy.canary.canaryService: Invalid value: "canary-svc": service "canary-svc" not '
                 'found',
                 id="canary-not-found"),
    pytest.param({**PING_PONG, f"{C}.stableService": DELETE, f"{C}.canaryService": DELETE}, root_ingress(),
                 {"pong-svc": service_dict("pong-svc")},
                 'spec.strategy.canary.pingPong.pingService: Invalid value: "ping-svc": service "ping-svc" '
                 'not found',
                 id="ping-not-found"),
    pytest.param({**PING_PONG, f"{C}.stableService": DELETE, f"{C}.canaryService": DELETE}, root_ingress(),
                 {"ping-svc": service_dict("ping-svc")},
                 'spec.strategy.canary.pingPong.pongService: Invalid value: "pong-svc": service "pong-svc" '
                 'not found',
                 id="pong-not-found"),
    # other reference checks (validation.go, validation_references.go)
    pytest.param({"spec.replicas": -1}, None, None,
                 "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                 id="negative-replicas"),
    pytest.param({"spec.strategy": {}}, None, None,
                 "spec.strategy.strategy: Required value: "
                 "Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'",
                 id="no-strategy"),
    pytest.param({f"{C}.canaryService": "stable-svc"}, None, None,
                 'spec.strategy.stableService: Invalid value: "stable-svc": This rollout uses the same '
                 'service for '
                 "the stable and canary services, but two different services are required.",
                 id="same-stable-and-canary"),
    pytest.param({**PING_PONG, f"{C}.pingPong.pingService": ""}, root_ingress(), None,
                 'spec.strategy.pingPong.pingService: Invalid value: "": '
                 "Ping service and Pong service must to be set to use Ping-Pong feature",
                 id="ping-empty"),
    pytest.param({**PING_PONG, f"{C}.pingPong.pongService": DELETE}, root_ingress(), None,
                 'spec.strategy.pingPong.pongService: Invalid value: "": '
                 "Ping service and Pong service must to be set to use Ping-Pong feature",
                 id="pong-empty"),
    pytest.param({**PING_PONG, f"{C}.pingPong.pongService": "ping-svc"}, root_ingress(), None,
                 'spec.strategy.pingPong.pingService: Invalid value: "ping-svc": This rollout uses the same '
                 'service '
                 "for the ping and pong services, but two different services are required.",
                 id="ping-equals-pong"),
    pytest.param({f"{C}.dynamicStableScale": True, f"{C}.scaleDownDelaySeconds": 30}, None, None,
                 "spec.strategy.dynamicStableScale: Invalid value: true: "
                 "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds",
                 id="dynamic-stable-scale-with-delay"),
    pytest.param({f"{TR}.maxTrafficWeight": 1000}, None, None,
                 "spec.strategy.trafficRouting.maxTrafficWeight: Invalid value: 1000: "
                 "Canary maxTrafficWeight in traffic routing only support in Nginx and Plugins",
                 id="max-traffic-weight"),
    pytest.param({f"{C}.steps": [{"setWeight": 20}, {"setWeight": 101}]}, None, None,
                 "spec.strategy.steps[1].setWeight: Invalid value: 101: SetWeight needs to be between 0 and "
                 "100",
                 id="set-weight-above-100"),
    pytest.param({f"{C}.steps": [{"setWeight": -1}]}, None, None,
                 "spec.strategy.steps[0].setWeight: Invalid value: -1: SetWeight needs to be between 0 and "
                 "100",
                 id="set-weight-negative"),
    pytest.param({f"{C}.steps": [{"pause": {"duration": "-5s"}}]}, None, None,
                 "spec.strategy.steps[0].pause.duration: Invalid value: -5: Duration needs to be greater "
                 "than 0",
                 id="pause-negative"),
    pytest.param({f"{C}.steps": [{"setMirrorRoute": {"name": "m"}}], f"{TR}.managedRoutes": [{"name": "m"}]},
                 None, None,
                 'spec.strategy.steps[0].setMirrorRoute: Invalid value: v1alpha1.SetMirrorRoute{Name:"m", '
                 "Match:[]v1alpha1.RouteMatch(nil), Percentage:(*int32)(nil)}: "
                 "SetMirrorRoute requires TrafficRouting, supports Istio only",
                 id="mirror-route-with-alb"),
    pytest.param({}, None, {**default_services(), "canary-svc": service_dict(
                     "canary-svc", {"argo-rollouts.argoproj.io/managed-by-rollouts": "someone-else"})},
                 'spec.strategy.canary.canaryService: Invalid value: "canary-svc": '
                 'Service "canary-svc" is managed by another Rollout',
                 id="service-managed-by-another-rollout"),
]

_AA = ("antiAffinity.PreferredDuringSchedulingIgnoredDuringExecution: {} "
       "antiAffinity.RequiredDuringSchedulingIgnoredDuringExecution: {}")

OUR_ROWS = [
    pytest.param({"spec.strategy": {"blueGreen": {"activeService": "a", "previewService": "a"}}}, None, None,
                 'spec.strategy.activeService: Invalid value: "a": This rollout uses the same service for '
                 "the active and preview services, but two different services are required.",
                 id="blue-green-same-services"),
    pytest.param({f"{C}.antiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 5},
                                         "requiredDuringSchedulingIgnoredDuringExecution": {}}}, None, None,
                 f'spec.strategy.antiAffinity: Invalid value: "{_AA.format("true", "true")}": '
                 "AntiAffinity must have exactly one strategy listed", id="anti-affinity-both"),
    pytest.param({f"{C}.antiAffinity": {}}, None, None,
                 f'spec.strategy.antiAffinity: Invalid value: "{_AA.format("false", "false")}": '
                 "AntiAffinity must have exactly one strategy listed", id="anti-affinity-neither"),
    pytest.param({f"{C}.antiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 101}}},
                 None, None, "spec.strategy.antiAffinity.weight: Invalid value: 101: "
                 "AntiAffinity weight must be between 1-100", id="anti-affinity-weight"),
    pytest.param({TR: {"managedRoutes": [{"name": "hr"}]}}, None, None,
                 "spec.strategy.canary.trafficRouting: Required value: trafficRouting names no traffic "
                 "router: add trafficRouting.alb, or remove trafficRouting for a basic canary",
                 id="traffic-routing-without-router"),
    pytest.param({TR: DELETE, f"{C}.steps": [{"setWeight": 10}, {"setCanaryScale": {"replicas": 1}}]},
                 None, None,
                 "spec.strategy.trafficRouting: Required value: "
                 "SetCanaryScale requires TrafficRouting to be set",
                 id="basic-set-canary-scale"),
    pytest.param({TR: DELETE, f"{C}.steps": [{"setHeaderRoute": {"name": "hr"}}]}, None, None,
                 'spec.strategy.steps[0].setHeaderRoute: Invalid value: "hr": '
                 "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix",
                 id="basic-set-header-route"),
    pytest.param({TR: DELETE, f"{C}.dynamicStableScale": True}, None, None,
                 "spec.strategy.dynamicStableScale: Invalid value: true: "
                 "Canary dynamicStableScale can only be used with traffic routing",
                 id="basic-dynamic-stable-scale"),
    pytest.param({TR: DELETE, f"{C}.scaleDownDelaySeconds": 30}, None, None,
                 "spec.strategy.scaleDownDelaySeconds: Invalid value: 30: "
                 "Canary scaleDownDelaySeconds can only be used with traffic routing",
                 id="basic-scale-down-delay"),
    pytest.param({TR: DELETE, f"{C}.maxSurge": 0, f"{C}.maxUnavailable": "0%"}, None, None,
                 "spec.strategy.maxSurge: Invalid value: 0: MaxSurge and MaxUnavailable both can not be zero",
                 id="basic-surge-and-unavailable-zero"),
    pytest.param({TR: DELETE, f"{C}.steps": [{"setWeight": 101}]}, None, None,
                 "spec.strategy.steps[0].setWeight: Invalid value: 101: "
                 "SetWeight needs to be between 0 and 100",
                 id="basic-weight-over-100"),
    pytest.param({TR: {"nginx": {"stableIngress": "ing"}}}, None, None,
                 'spec.strategy.canary.trafficRouting: Invalid value: "nginx": '
                 "traffic router not supported by alb-rollouts (only alb)",
                 id="nginx"),
    pytest.param({TR: {"istio": {}, "smi": {}}}, None, None,
                 'spec.strategy.canary.trafficRouting: Invalid value: []string{"istio", "smi"}: '
                 "traffic router not supported by alb-rollouts (only alb)",
                 id="two-other-routers"),
    pytest.param({f"{TR}.nginx": {"stableIngress": "ing"}}, None, None,
                 'spec.strategy.canary.trafficRouting: Invalid value: []string{"alb", "nginx"}: '
                 "alb-rollouts routes with alb alone; remove the others",
                 id="alb-and-nginx"),
    pytest.param({f"{C}.steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 20}, {"experiment": {}}]},
                 None, None, f'spec.strategy.canary.steps[3]: Invalid value: "experiment": {UNSUPPORTED}',
                 id="experiment-step"),
    pytest.param({f"{C}.steps": [{"setWeight": 1}, {"plugin": {"name": "x"}}]}, None, None,
                 f'spec.strategy.canary.steps[1]: Invalid value: "plugin": {UNSUPPORTED}', id="plugin-step"),
    pytest.param({f"{C}.steps": [{"setCanaryScale": {"weight": 101}}]}, None, None,
                 "spec.strategy.canary.steps[0].setCanaryScale.weight: Invalid value: 101: must be between "
                 "0 and 100",
                 id="canary-scale-weight"),
    pytest.param({f"{C}.steps": [{"setCanaryScale": {"replicas": -2}}]}, None, None,
                 "spec.strategy.canary.steps[0].setCanaryScale.replicas: Invalid value: -2: "
                 "must be greater than or equal to 0",
                 id="canary-scale-replicas"),
    pytest.param({f"{TR}.alb.stickinessConfig": {"enabled": True, "durationSeconds": 0}}, None, None,
                 f"{ALB}.stickinessConfig.durationSeconds: Invalid value: 0: "
                 "TargetGroupStickinessConfig's duration must be between 1 and 604800 seconds (7 days)!",
                 id="stickiness-zero"),
    pytest.param({f"{TR}.alb.stickinessConfig": {"enabled": True, "durationSeconds": 604801}}, None, None,
                 f"{ALB}.stickinessConfig.durationSeconds: Invalid value: 604801: "
                 "TargetGroupStickinessConfig's duration must be between 1 and 604800 seconds (7 days)!",
                 id="stickiness-over-7-days"),
    pytest.param({f"{TR}.alb.servicePort": DELETE}, None, None,
                 f"{ALB}.servicePort: Required value: "
                 "the Services' port the ALB action forwards to (1-65535)",
                 id="service-port-missing"),
    pytest.param({f"{TR}.alb.servicePort": 65536}, None, None,
                 f"{ALB}.servicePort: Invalid value: 65536: must be between 1 and 65535, inclusive",
                 id="service-port-too-big"),
    pytest.param({f"{TR}.alb.servicePort": -80}, None, None,
                 f"{ALB}.servicePort: Invalid value: -80: must be between 1 and 65535, inclusive",
                 id="service-port-negative"),
]

@pytest.mark.parametrize(("changes", "ingresses", "services", "expected"), REFERENCE_ROWS + OUR_ROWS)
def test_message(changes: Changes, ingresses: dict[str, Any] | None, services: dict[str, Any] | None,
                 expected: str) -> None:
    assert run(changes, ingresses, services) == PREFIX + expected


VALID = [
    pytest.param({}, None, None, id="example"),
    pytest.param({f"{TR}.alb.ingress": DELETE, f"{TR}.alb.ingresses": ["ing", "other"]}, None, None,
                 id="multi-ingress"),
    pytest.param({f"{TR}.alb.ingress": "ing", f"{TR}.alb.ingresses": []}, None, None,
                 id="ingress-with-empty-ingresses"),
    pytest.param({**PING_PONG}, root_ingress(), None, id="ping-pong-root-service-need-not-exist"),
    pytest.param({**PING_PONG, f"{C}.stableService": DELETE, f"{C}.canaryService": DELETE},
                 root_ingress(), None,
                 id="pure-ping-pong"),
    pytest.param({f"{TR}.alb.stickinessConfig": {"enabled": False, "durationSeconds": 0}}, None, None,
                 id="stickiness-disabled-any-duration"),
    pytest.param({f"{TR}.alb.stickinessConfig": {"enabled": True, "durationSeconds": 604800}}, None, None,
                 id="stickiness-7-days"),
    pytest.param({f"{TR}.alb.servicePort": 65535}, None, None, id="port-65535"),
    pytest.param({**header_steps({"headerName": "x", "headerValue": {"exact": "1"}})}, None, None,
                 id="header-route-exact"),
    pytest.param({f"{C}.steps": [{"setHeaderRoute": {"name": "hr"}}],
                  f"{TR}.managedRoutes": [{"name": "hr"}]},
                 None, None, id="header-route-removal"),
    pytest.param({f"{C}.steps": [{"setCanaryScale": {"weight": 100, "replicas": 0}}, {"setWeight": 0},
                                 {"setWeight": 100}, {"pause": {"duration": 0}}]}, None, None, id="bounds"),
    pytest.param({}, odd_ingress({"metadata.annotations": DELETE}), None, id="ingress-without-annotations"),
    pytest.param({}, odd_ingress({"metadata": DELETE}), None, id="ingress-without-metadata"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": {"paths": [
        {"backend": {"serviceName": "stable-svc", "servicePort": "use-annotation"}}]}}]}), None,
                 id="legacy-use-annotation"),
    pytest.param({}, None, {**default_services(), "stable-svc": service_dict(
        "stable-svc", {"argo-rollouts.argoproj.io/managed-by-rollouts": "demo"})},
                 id="service-managed-by-us"),
]


@pytest.mark.parametrize(("changes", "ingresses", "services"), VALID)
def test_valid(changes: Changes, ingresses: dict[str, Any] | None, services: dict[str, Any] | None) -> None:
    assert run(changes, ingresses, services) is None


def test_unknown_resources_skip_lookups() -> None:
    rollout = parsing.parse_rollout(apply(rollout_dict(), {f"{TR}.alb.ingress": "missing"}))
    assert validation.validate(rollout) is None
    assert validation.validate(rollout, services={}) == (
        PREFIX + 'spec.strategy.canary.stableService: Invalid value: "stable-svc": service "stable-svc" not '
                 'found')
    assert validation.validate(rollout, ingresses={}) == (
        PREFIX + f'{ALB}.ingress: Invalid value: "missing": ingress.networking.k8s.io "missing" not found')


def test_ingress_config_is_checked_offline() -> None:
    rollout = parsing.parse_rollout(apply(rollout_dict(), {f"{TR}.alb.ingress": DELETE}))
    assert validation.validate(rollout) == (
        PREFIX + f"{ALB}: Internal error: Either Ingress or Ingresses must be configured. Neither are "
                 "configured.")


ORDER = [
    pytest.param({f"{C}.steps": [{"setWeight": 500}], f"{C}.stableService": DELETE},
                 'spec.strategy.stableService: Invalid value: "": ', id="services-before-steps"),
    pytest.param({f"{C}.steps": [{"setWeight": 500}, {"experiment": {}}]},
                 "spec.strategy.steps[0].setWeight: Invalid value: 500:", id="earlier-step-first"),
    pytest.param({f"{C}.steps": [{"experiment": {}}, {"setWeight": 500}]},
                 'spec.strategy.canary.steps[0]: Invalid value: "experiment"',
                 id="unsupported-step-in-place"),
    pytest.param({f"{TR}.maxTrafficWeight": 200, f"{C}.steps": [{"setWeight": 150}]},
                 "spec.strategy.trafficRouting.maxTrafficWeight:", id="max-weight-before-steps"),
    pytest.param({f"{C}.steps": [{"setWeight": 500}], f"{TR}.alb.servicePort": 0},
                 "spec.strategy.steps[0].setWeight:", id="reference-before-ours"),
    pytest.param({f"{TR}.alb.servicePort": 0, f"{TR}.alb.ingress": "missing"},
                 f"{ALB}.servicePort: Required value:", id="spec-before-resources"),
    pytest.param({f"{TR}.alb.ingress": "missing", f"{C}.stableService": "gone"},
                 'spec.strategy.canary.stableService: Invalid value: "gone"', id="services-before-ingresses"),
    pytest.param({f"{TR}.alb.ingress": "missing", f"{TR}.alb.ingresses": ["x"], f"{C}.canaryService": "gone"},
                 'spec.strategy.canary.canaryService: Invalid value: "gone"',
                 id="services-before-ingress-config"),
    pytest.param({"spec.replicas": -1, TR: DELETE}, "spec.replicas:", id="replicas-first"),
]


@pytest.mark.parametrize(("changes", "starts_with"), ORDER)
def test_first_match_wins(changes: Changes, starts_with: str) -> None:
    message = run(changes)
    assert message is not None and message.startswith(PREFIX + starts_with), message


def test_errors_lists_every_problem_in_order() -> None:
    rollout = parsing.parse_rollout(apply(rollout_dict(), {
        f"{C}.canaryService": DELETE, f"{C}.steps": [{"setWeight": 101}, {"experiment": {}}],
        f"{TR}.alb.servicePort": 0}))
    assert validation.errors(rollout) == [
        PREFIX + 'spec.strategy.canaryService: Invalid value: "": '
        "Canary service and Stable service must to be set to use Traffic Routing",
        PREFIX + "spec.strategy.steps[0].setWeight: Invalid value: 101: SetWeight needs to be between 0 and "
                 "100",
        PREFIX + f'spec.strategy.canary.steps[1]: Invalid value: "experiment": {UNSUPPORTED}',
        PREFIX + f"{ALB}.servicePort: Required value: "
        "the Services' port the ALB action forwards to (1-65535)",
    ]


def test_errors_accumulate_resource_content_problems() -> None:
    services = {**default_services(), "stable-svc": service_dict(
        "stable-svc", {"argo-rollouts.argoproj.io/managed-by-rollouts": "x"})}
    rollout = parsing.parse_rollout(apply(rollout_dict(), {}))
    ingresses = {"ing": ingress_dict(service_path("web"))}
    assert validation.errors(rollout, ingresses=ingresses, services=services) == [
        PREFIX + 'spec.strategy.canary.stableService: Invalid value: "stable-svc": '
        'Service "stable-svc" is managed by another Rollout',
        PREFIX + f"{ING} has no rules using service stable-svc backend",
    ]


def test_check_raises_invalid_spec_with_the_message() -> None:
    rollout = parsing.parse_rollout(apply(rollout_dict(), {f"{C}.steps": [{"plugin": {}}]}))
    with pytest.raises(models.InvalidSpec) as raised:
        validation.check(rollout)
    assert raised.value.message == (
        PREFIX + f'spec.strategy.canary.steps[0]: Invalid value: "plugin": {UNSUPPORTED}')
    validation.check(parsing.parse_rollout(rollout_dict()), ingresses=default_ingresses(),
                     services=default_services())


def test_rollout_name_is_quoted_as_is() -> None:
    changes = {"metadata.name": "web-ä", f"{TR}.alb.servicePort": 0}
    rollout = parsing.parse_rollout(apply(rollout_dict(), changes))
    assert validation.validate(rollout) == (
        'The Rollout "web-ä" is invalid: spec.strategy.canary.trafficRouting.alb.servicePort: '
        "Required value: the Services' port the ALB action forwards to (1-65535)")
