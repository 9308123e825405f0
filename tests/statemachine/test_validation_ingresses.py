"""Validation against the Rollout's Ingresses: unusual shapes give a clear InvalidSpec, never a crash.

Aspects: one row per Ingress shape problem (not an object, wrong JSON types, no rules, no http, zero paths,
no backend, resource backends, no service name, ports other than use-annotation), compared byte for byte;
hypothesis: validate never raises for mutated Rollouts and arbitrary Ingress/Service shapes.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statemachine import models, parsing, validation
from tests.statemachine.validation_cases import (
    DELETE,
    HEADER_ROUTE,
    ING,
    PREFIX,
    TR,
    C,
    Changes,
    apply,
    default_services,
    ingress_dict,
    odd_ingress,
    rollout_dict,
    run,
    service_path,
)

INGRESS_ROWS = [
    pytest.param({}, {"ing": ["not", "an", "object"]}, None, f"{ING} must be a JSON object",
                 id="not-an-object"),
    pytest.param({}, odd_ingress({"metadata": "x"}), None, f"{ING} metadata must be an object",
                 id="metadata-not-object"),
    pytest.param({}, odd_ingress({"metadata.annotations": ["a"]}), None,
                 f"{ING} metadata.annotations must be an object", id="annotations-list"),
    pytest.param({}, odd_ingress({"metadata.annotations": {"a": 1}}), None,
                 f"{ING} metadata.annotations[a] must be a string", id="annotation-not-string"),
    pytest.param({}, odd_ingress({"spec": "x"}), None, f"{ING} spec must be an object", id="spec-not-object"),
    pytest.param({}, odd_ingress({"spec.rules": {"http": {}}}), None, f"{ING} spec.rules must be a list",
                 id="rules-not-list"),
    pytest.param({}, odd_ingress({"spec.rules": DELETE}), None,
                 f"{ING} has no rules using service stable-svc backend", id="no-rules"),
    pytest.param({}, odd_ingress({"spec": DELETE}), None,
                 f"{ING} has no rules using service stable-svc backend", id="no-spec"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": {"paths": [service_path("stable-svc")]}}, "x"]}),
                 None,
                 f"{ING} spec.rules[1] must be an object", id="rule-not-object"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": {"paths": [service_path("stable-svc")]}},
                                                 {"host": "b.example.com"}]}), None,
                 f"{ING} spec.rules[1] has no http section: alb-rollouts can route only http rules",
                 id="rule-without-http"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": []}]}), None, f"{ING} spec.rules[0].http must be "
                                                                        "an object",
                 id="http-not-object"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": {"paths": {}}}]}), None,
                 f"{ING} spec.rules[0].http.paths must be a list", id="paths-not-list"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": {"paths": []}}]}), None,
                 f"{ING} spec.rules[0].http has no paths", id="zero-paths"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": {}}]}), None,
                 f"{ING} spec.rules[0].http has no paths", id="paths-missing"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": {"paths": [service_path("stable-svc"), 3]}}]}),
                 None,
                 f"{ING} spec.rules[0].http.paths[1] must be an object", id="path-not-object"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": {"paths": [{"path": "/"}]}}]}), None,
                 f"{ING} spec.rules[0].http.paths[0] has no backend", id="path-without-backend"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": {"paths": [
                     service_path("stable-svc"),
                     {"path": "/s3",
                      "backend": {"resource": {"kind": "StorageBucket", "name": "b"}}}]}}]}), None,
                 f"{ING} spec.rules[0].http.paths[1] has a resource backend: alb-rollouts routes only to "
                 "Services",
                 id="resource-backend"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": {"paths": [
                     {"backend": {"service": {"port": {}}}}]}}]}),
                 None, f"{ING} spec.rules[0].http.paths[0].backend names no service",
                 id="backend-without-name"),
    pytest.param({}, {"ing": ingress_dict(service_path("stable-svc", {"number": 80}))}, None,
                 f"{ING} spec.rules[0].http.paths[0] routes service stable-svc to port 80, not to port name "
                 "use-annotation, so the ALB would not apply the weights",
                 id="port-number"),
    pytest.param({}, {"ing": ingress_dict(service_path("web"), service_path("stable-svc"),
                                          service_path("stable-svc", {"name": "http"}))}, None,
                 f'{ING} spec.rules[0].http.paths[2] routes service stable-svc to port name "http", not to '
                 'port '
                 "name use-annotation, so the ALB would not apply the weights",
                 id="port-name"),
    pytest.param({}, odd_ingress({"spec.rules": [{"http": {"paths": [
                     {"backend": {"serviceName": "stable-svc", "servicePort": 80}}]}}]}), None,
                 f"{ING} spec.rules[0].http.paths[0] routes service stable-svc to port 80, not to port name "
                 "use-annotation, so the ALB would not apply the weights",
                 id="legacy-port-number"),
]


@pytest.mark.parametrize(("changes", "ingresses", "services", "expected"), INGRESS_ROWS)
def test_message(changes: Changes, ingresses: dict[str, Any] | None, services: dict[str, Any] | None,
                 expected: str) -> None:
    assert run(changes, ingresses, services) == PREFIX + expected


# --- property: never raises --------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-70000, 700000) | st.sampled_from(
        ["", "ing", "other", "stable-svc", "canary-svc", "use-annotation", "hr", "-5s", "1h"])
    | st.text(max_size=4),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "port", "http", "paths", "backend", "service", "resource", "number", "exact",
                         "prefix", "regex", "headerName", "headerValue", "match", "rules", "annotations",
                         "enabled", "durationSeconds", "setWeight", "pause", "duration", "x"]),
        children, max_size=3),
    max_leaves=10,
)
ROLLOUT_PATHS = [
    "spec.replicas", "spec.strategy", f"{C}", f"{C}.canaryService", f"{C}.stableService", f"{C}.pingPong",
    f"{C}.pingPong.pingService", f"{C}.steps", f"{TR}", f"{TR}.alb", f"{TR}.alb.ingress",
    f"{TR}.alb.ingresses",
    f"{TR}.alb.servicePort", f"{TR}.alb.rootService", f"{TR}.alb.stickinessConfig", f"{TR}.managedRoutes",
    f"{TR}.maxTrafficWeight", f"{TR}.nginx", f"{C}.dynamicStableScale", f"{C}.scaleDownDelaySeconds",
    "metadata.name",
]
INGRESS_PATHS = ["metadata", "metadata.annotations", "spec", "spec.rules", "spec.ingressClassName"]
steps = st.lists(st.sampled_from([
    {"setWeight": 10}, {"setWeight": 250}, {"pause": {}}, {"pause": {"duration": "-1s"}}, {"experiment": {}},
    {"setCanaryScale": {"weight": 120}}, {"setMirrorRoute": {"name": "hr"}}, HEADER_ROUTE,
    {"setHeaderRoute": {"name": "hr", "match": [{"headerName": "x", "headerValue": {"prefix": "a"}}]}},
    {"setHeaderRoute": {"name": "hr"}}, {"plugin": {"name": "p"}}]), max_size=4)
mutations = st.dictionaries(st.sampled_from(ROLLOUT_PATHS), json_values | st.just(DELETE), max_size=3)
ingress_values = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(INGRESS_PATHS), json_values | st.just(DELETE), max_size=2).map(
        lambda changes: apply(ingress_dict(), changes)),
    st.lists(json_values, max_size=3).map(lambda paths: ingress_dict(*[
        {"backend": p} if isinstance(p, dict) else service_path("stable-svc", p) for p in paths])),
)
ingress_maps = st.none() | st.dictionaries(st.sampled_from(["ing", "other"]), ingress_values, max_size=2)
service_maps = st.none() | st.just(default_services()) | st.dictionaries(
    st.sampled_from(["stable-svc", "canary-svc", "ping-svc", "pong-svc"]), json_values, max_size=4)


def parse_or_none(obj: dict[str, Any]) -> models.Rollout | None:
    try:
        return parsing.parse_rollout(obj)
    except models.InvalidSpec:
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=mutations, step_list=st.none() | steps, ingresses=ingress_maps, services=service_maps)
def test_validate_never_raises(changes: Changes, step_list: list[dict[str, Any]] | None,
                               ingresses: dict[str, Any] | None, services: dict[str, Any] | None) -> None:
    if step_list is not None:
        changes = {f"{C}.steps": step_list, **changes}
    rollout = parse_or_none(apply(rollout_dict(), changes))
    if rollout is None:
        return
    found = validation.errors(rollout, ingresses=ingresses, services=services)
    message = validation.validate(rollout, ingresses=ingresses, services=services)
    assert message == (found[0] if found else None)
    assert all(m.startswith(f'The Rollout "{rollout.name}" is invalid: ') for m in found)

