"""Crash-free readers of raw Ingress and Service dicts used by validation.

Aspects: `ingress_has_service`, `rules_have_service` and `backend_service` on v1, legacy and odd shapes;
`service_ports` locations; `is_use_annotation` and `describe_port`; `ingress_shape_problem` for ordinary
Ingresses (None) and its exact sentences; `managed_by`; hypothesis: no helper raises on any JSON value, and
an Ingress without a shape problem has a service backend on every path of every rule.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statemachine import ingress_checks


def v1_path(service: str, port: Any = None) -> dict[str, Any]:
    return {"path": "/*", "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": port or {"name": "use-annotation"}}}}


def ingress(*rules: Any) -> dict[str, Any]:
    return {"metadata": {"name": "ing"}, "spec": {"rules": list(rules)}}


def http(*paths: Any) -> dict[str, Any]:
    return {"http": {"paths": list(paths)}}


LEGACY = {"backend": {"serviceName": "stable", "servicePort": "use-annotation"}}
RESOURCE = {"backend": {"resource": {"kind": "Bucket", "name": "b"}}}
MANAGED_BY = ingress_checks.MANAGED_BY_ANNOTATION


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(ingress(http(v1_path("stable"))), True, id="v1"),
    pytest.param(ingress(http(LEGACY)), True, id="legacy"),
    pytest.param(ingress(http(v1_path("other")), http(v1_path("stable"))), True, id="second-rule"),
    pytest.param(ingress(http(v1_path("other"))), False, id="other-service"),
    pytest.param(ingress({"host": "a"}, http(v1_path("stable"))), True, id="rule-without-http-skipped"),
    pytest.param(ingress(http(RESOURCE)), False, id="resource-backend"),
    pytest.param(ingress(http()), False, id="zero-paths"),
    pytest.param(ingress(), False, id="no-rules"),
    pytest.param({"spec": {"rules": "x"}}, False, id="rules-not-list"),
    pytest.param({"spec": {"rules": [{"http": {"paths": [{"backend": {"service": {"name": 5}}}]}}]}}, False,
                 id="name-not-string"),
    pytest.param({"spec": {"rules": [{"http": {"paths": [None, "x", {"backend": []}]}}]}}, False,
                 id="junk-paths"),
    pytest.param(None, False, id="none"),
    pytest.param(["stable"], False, id="list"),
])
def test_ingress_has_service(obj: Any, expected: bool) -> None:
    assert ingress_checks.ingress_has_service(obj, "stable") is expected


def test_rules_have_service_skips_unusual_rules() -> None:
    unusual: list[Any] = [{"host": "no-http"}, http(), {"http": {}}, http(RESOURCE), http({"path": "/"}), "x"]
    assert not ingress_checks.rules_have_service(unusual, "stable")
    assert ingress_checks.rules_have_service([*unusual, http(v1_path("stable"))], "stable")
    assert ingress_checks.rules_have_service([http(LEGACY)], "stable")
    assert not ingress_checks.rules_have_service({"http": {}}, "stable")


@pytest.mark.parametrize(("path", "expected"), [
    pytest.param(v1_path("stable"), "stable", id="v1"),
    pytest.param(LEGACY, "stable", id="legacy"),
    pytest.param(RESOURCE, None, id="resource"),
    pytest.param({"path": "/"}, None, id="no-backend"),
    pytest.param({"backend": {"service": {"name": 5}}}, None, id="name-not-string"),
    pytest.param({"backend": {"service": "stable"}}, None, id="service-not-object"),
    pytest.param("stable", None, id="not-an-object"),
])
def test_backend_service(path: Any, expected: str | None) -> None:
    assert ingress_checks.backend_service(path) == expected


def test_service_ports_lists_every_location() -> None:
    obj = ingress(http(v1_path("stable"), v1_path("other")), {"host": "x"},
                  http(v1_path("stable", {"number": 80}), LEGACY))
    assert ingress_checks.service_ports(obj, "stable") == [
        ("spec.rules[0].http.paths[0]", {"name": "use-annotation"}),
        ("spec.rules[2].http.paths[0]", {"number": 80}),
        ("spec.rules[2].http.paths[1]", "use-annotation"),
    ]


@pytest.mark.parametrize(("port", "use_annotation", "described"), [
    pytest.param({"name": "use-annotation"}, True, 'port name "use-annotation"', id="v1-use-annotation"),
    pytest.param("use-annotation", True, 'port name "use-annotation"', id="legacy-use-annotation"),
    pytest.param({"number": 80}, False, "port 80", id="v1-number"),
    pytest.param({"name": "http"}, False, 'port name "http"', id="v1-name"),
    pytest.param(443, False, "port 443", id="legacy-number"),
    pytest.param("8080", False, "port 8080", id="legacy-digits"),
    pytest.param(None, False, "no port", id="none"),
    pytest.param({}, False, "no port", id="empty"),
    pytest.param("", False, "no port", id="empty-string"),
])
def test_ports(port: Any, use_annotation: bool, described: str) -> None:
    assert ingress_checks.is_use_annotation(port) is use_annotation
    assert ingress_checks.describe_port(port) == described


@pytest.mark.parametrize("obj", [
    pytest.param(ingress(http(v1_path("stable"))), id="ordinary"),
    pytest.param({"spec": {"rules": [http(v1_path("stable"))]}}, id="no-metadata"),
    pytest.param({"metadata": {"name": "ing"}}, id="no-spec"),
    pytest.param({"metadata": {"name": "ing", "annotations": None}, "spec": {}}, id="null-annotations"),
    pytest.param({"metadata": {"annotations": {}}, "spec": {"rules": []}}, id="empty"),
    pytest.param(ingress(http(LEGACY)), id="legacy"),
])
def test_shape_problem_none_for_readable_ingresses(obj: Any) -> None:
    assert ingress_checks.ingress_shape_problem(obj, "ing") is None


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(42, "must be a JSON object", id="number"),
    pytest.param({"metadata": []}, "metadata must be an object", id="metadata"),
    pytest.param({"metadata": {"annotations": {"k": None}}}, "metadata.annotations[k] must be a string",
                 id="annotation-null-value"),
    pytest.param({"metadata": {"annotations": "k"}}, "metadata.annotations must be an object",
                 id="annotations-string"),
    pytest.param({"spec": {"ingressClassName": 1}}, "spec.ingressClassName must be a string", id="class"),
    pytest.param({"spec": []}, "spec must be an object", id="spec"),
    pytest.param({"spec": {"rules": {}}}, "spec.rules must be a list", id="rules"),
    pytest.param(ingress(None), "spec.rules[0] must be an object", id="rule-null"),
    pytest.param(ingress({"host": "a"}),
                 "spec.rules[0] has no http section: alb-rollouts can route only http rules", id="no-http"),
    pytest.param(ingress({"http": "x"}), "spec.rules[0].http must be an object", id="http-string"),
    pytest.param(ingress({"http": {"paths": "x"}}), "spec.rules[0].http.paths must be a list",
                 id="paths-string"),
    pytest.param(ingress(http()), "spec.rules[0].http has no paths", id="zero-paths"),
    pytest.param(ingress(http(v1_path("s")), http("p")), "spec.rules[1].http.paths[0] must be an object",
                 id="path-string"),
    pytest.param(ingress(http({"backend": None})), "spec.rules[0].http.paths[0] has no backend",
                 id="no-backend"),
    pytest.param(ingress(http(RESOURCE)),
                 "spec.rules[0].http.paths[0] has a resource backend: alb-rollouts routes only to Services",
                 id="resource"),
    pytest.param(ingress(http({"backend": "s"})), "spec.rules[0].http.paths[0].backend must be an object",
                 id="backend-string"),
    pytest.param(ingress(http({"backend": {"service": "s"}})),
                 "spec.rules[0].http.paths[0].backend.service must be an object", id="service-string"),
    pytest.param(ingress(http({"backend": {"service": {"port": {}}}})),
                 "spec.rules[0].http.paths[0].backend names no service", id="service-without-name"),
])
def test_shape_problem_sentences(obj: Any, expected: str) -> None:
    assert ingress_checks.ingress_shape_problem(obj, "ing") == f"ingress `ing` {expected}"


@pytest.mark.parametrize(("service", "expected"), [
    pytest.param({"metadata": {"annotations": {MANAGED_BY: "demo"}}}, "demo", id="set"),
    pytest.param({"metadata": {"annotations": {MANAGED_BY: ""}}}, "", id="empty"),
    pytest.param({"metadata": {"annotations": {MANAGED_BY: 7}}}, "7", id="not-string"),
    pytest.param({"metadata": {"annotations": {"other": "x"}}}, None, id="absent"),
    pytest.param({"metadata": {}}, None, id="no-annotations"),
    pytest.param({"metadata": "x"}, None, id="metadata-string"),
    pytest.param("svc", None, id="not-an-object"),
])
def test_managed_by(service: Any, expected: str | None) -> None:
    assert ingress_checks.managed_by(service) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["stable", "use-annotation", ""])
    | st.text(max_size=3),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["metadata", "annotations", "spec", "rules", "http", "paths", "backend", "service",
                         "name", "port", "number", "resource", "serviceName", "servicePort", "host"]),
        children, max_size=4),
    max_leaves=14,
)


@settings(max_examples=500, deadline=None)
@given(obj=json_values)
def test_helpers_never_raise(obj: Any) -> None:
    problem = ingress_checks.ingress_shape_problem(obj, "ing")
    has = ingress_checks.ingress_has_service(obj, "stable")
    ports = ingress_checks.service_ports(obj, "stable")
    assert has == bool(ports)
    for _, port in ports:
        ingress_checks.describe_port(port)
        ingress_checks.is_use_annotation(port)
    ingress_checks.managed_by(obj)
    if problem is None and isinstance(obj, dict) and isinstance(obj.get("spec"), dict):
        for rule in obj["spec"].get("rules") or []:
            assert rule["http"]["paths"]
            assert all(isinstance(p["backend"], dict) and p["backend"].get("resource") is None
                       for p in rule["http"]["paths"])
