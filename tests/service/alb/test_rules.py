"""Ingress rules: use-annotation paths, managedRoutes sort, class, shape checks, labels.

Covers: header-route path inserted first in every http rule (networking/v1 and legacy shapes), not twice;
removal of the first matching path per rule; stable sort by managedRoutes with unlisted paths last; unusual
Ingresses (no http, resource backends, zero paths, no annotations) read without crashing; malformed fields
raise errors naming the field; class from annotation or ingressClassName. (Which service a path routes to is
`statemachine.ingress_checks`, tested there.)
"""

from __future__ import annotations

from typing import Any

import pytest

from service.alb import rules
from statemachine.ingress_checks import backend_service

CLASS = "kubernetes.io/ingress.class"
ROUTE_PATH = {
    "backend": {"service": {"name": "header-route", "port": {"name": "use-annotation"}}},
    "path": "/*",
    "pathType": "ImplementationSpecific",
}


def names(rule_list: list[dict[str, Any]]) -> list[list[str | None]]:
    return [[backend_service(p) for p in (r.get("http") or {}).get("paths", [])] for r in rule_list]


def test_insert_route_path_first_in_every_rule(make_path) -> None:
    original: list[dict[str, Any]] = [
        {"host": "a", "http": {"paths": [make_path("stable")]}},
        {"host": "b", "http": {"paths": [make_path("stable"), make_path("other", 80)]}},
        {"host": "c"},
    ]
    result = rules.insert_route_path(original, "header-route", legacy=False)
    assert result[0]["http"]["paths"][0] == ROUTE_PATH
    assert names(result) == [["header-route", "stable"], ["header-route", "stable", "other"], []]
    assert result[2] == {"host": "c"}
    assert names(original) == [["stable"], ["stable", "other"], []]


def test_insert_route_path_legacy_shape() -> None:
    legacy_backend = {"serviceName": "stable", "servicePort": "use-annotation"}
    original: list[dict[str, Any]] = [{"http": {"paths": [{"backend": legacy_backend}]}}]
    result = rules.insert_route_path(original, "r1", legacy=True)
    assert result[0]["http"]["paths"][0] == {
        "backend": {"serviceName": "r1", "servicePort": "use-annotation"},
        "path": "/*",
        "pathType": "ImplementationSpecific",
    }


def test_insert_route_path_is_idempotent(make_path) -> None:
    once = rules.insert_route_path([{"http": {"paths": [make_path("stable")]}}], "header-route", legacy=False)
    assert rules.insert_route_path(once, "header-route", legacy=False) == once


def test_insert_into_zero_paths_rule(make_path) -> None:
    result = rules.insert_route_path(
        [{"http": {"paths": []}}, {"http": {"paths": [make_path("stable")]}}], "r", legacy=False
    )
    assert names(result) == [["r"], ["r", "stable"]]


def test_remove_route_path_first_match_per_rule(make_path) -> None:
    original: list[dict[str, Any]] = [
        {"http": {"paths": [make_path("r", path="/a"), make_path("stable"), make_path("r", path="/b")]}},
        {"http": {"paths": [make_path("stable")]}},
        {"host": "no-http"},
        {"http": {"paths": []}},
    ]
    result = rules.remove_route_path(original, "r")
    assert names(result) == [["stable", "r"], ["stable"], [], []]
    assert result[0]["http"]["paths"][1]["path"] == "/b"


def test_sort_paths_by_managed_routes(make_path) -> None:
    original = [{"http": {"paths": [
        make_path("stable", path="/s"), make_path("r2"), make_path("x", path="/x"), make_path("r1"),
        {"path": "/res", "backend": {"resource": {"kind": "Bucket", "name": "b"}}},
    ]}}]
    result = rules.sort_paths(original, ["r1", "r2"])
    assert names(result) == [["r1", "r2", "stable", "x", None]]


@pytest.mark.parametrize(
    ("ingress", "expected"),
    [
        pytest.param({"metadata": {"annotations": {CLASS: "alb"}}}, "alb", id="annotation"),
        pytest.param({"metadata": {"annotations": {CLASS: "nginx"}},
                      "spec": {"ingressClassName": "alb"}}, "nginx", id="annotation-wins"),
        pytest.param({"metadata": {"annotations": {CLASS: ""}},
                      "spec": {"ingressClassName": "alb"}}, "alb", id="empty-annotation-falls-back"),
        pytest.param({"metadata": {}, "spec": {"ingressClassName": "alb"}}, "alb", id="class-name"),
        pytest.param({"metadata": {}, "spec": {}}, "", id="none"),
    ],
)
def test_ingress_class(ingress: dict[str, Any], expected: str) -> None:
    assert rules.ingress_class(ingress) == expected


@pytest.mark.parametrize(
    ("ingress", "message"),
    [
        pytest.param([], "ingress must be a JSON object", id="not-object"),
        pytest.param({"metadata": "x"}, 'ingress "?": metadata must be an object', id="metadata"),
        pytest.param({"metadata": {"name": "i", "annotations": []}},
                     'ingress "default/i": metadata.annotations must be an object', id="annotations"),
        pytest.param({"metadata": {"name": "i", "namespace": "ns", "annotations": {"a": 1}}},
                     'ingress "ns/i": metadata.annotations[a] must be a string', id="annotation-value"),
        pytest.param({"metadata": {"name": "i"}, "spec": []}, 'ingress "default/i": spec must be an object',
                     id="spec"),
        pytest.param({"metadata": {"name": "i"}, "spec": {"ingressClassName": 3}},
                     'ingress "default/i": spec.ingressClassName must be a string', id="class"),
        pytest.param({"metadata": {"name": "i"}, "spec": {"rules": {}}},
                     'ingress "default/i": spec.rules must be a list', id="rules"),
        pytest.param({"metadata": {"name": "i"}, "spec": {"rules": ["x"]}},
                     'ingress "default/i": spec.rules[0] must be an object', id="rule"),
        pytest.param({"metadata": {"name": "i"}, "spec": {"rules": [{"http": []}]}},
                     'ingress "default/i": spec.rules[0].http must be an object', id="http"),
        pytest.param({"metadata": {"name": "i"}, "spec": {"rules": [{"http": {"paths": {}}}]}},
                     'ingress "default/i": spec.rules[0].http.paths must be a list', id="paths"),
        pytest.param({"metadata": {"name": "i"}, "spec": {"rules": [{"http": {"paths": [1]}}]}},
                     'ingress "default/i": spec.rules[0].http.paths[0] must be an object', id="path"),
        pytest.param({"metadata": {"name": "i"},
                      "spec": {"rules": [{"http": {"paths": [{"backend": "s"}]}}]}},
                     'ingress "default/i": spec.rules[0].http.paths[0].backend must be an object',
                     id="backend"),
        pytest.param({"metadata": {"name": "i"},
                      "spec": {"rules": [{"http": {"paths": [{"backend": {"service": "s"}}]}}]}},
                     'ingress "default/i": spec.rules[0].http.paths[0].backend.service must be an object',
                     id="service"),
    ],
)
def test_check_shape_names_the_field(ingress: Any, message: str) -> None:
    with pytest.raises(rules.IngressError) as caught:
        rules.check_shape(ingress)
    assert str(caught.value) == message


def test_check_shape_accepts_unusual_but_valid(make_ingress) -> None:
    ingress = make_ingress(rules=[{"host": "a"}, {"http": {"paths": []}}], annotations=None)
    del ingress["spec"]["ingressClassName"]
    rules.check_shape(ingress)
    rules.check_shape({"metadata": {"name": "i"}})
    rules.check_shape({"metadata": None, "spec": None})
    assert rules.annotations_of({"metadata": {"name": "i"}}) == {}
    assert rules.annotations_of({"metadata": None}) == {}
    assert rules.ingress_class({"metadata": None, "spec": None}) == ""
