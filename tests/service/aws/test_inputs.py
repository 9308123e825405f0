"""Building the weight request from a parsed Rollout and raw Ingress dicts (no I/O).

Aspects: plain and ping-pong Service names (stable = ping only when stablePingPong is "ping"); every Ingress
in spec order with its status hostnames (empty and malformed entries skipped, a missing Ingress has none);
the ALB ARN taken from `status.albs[i]` (only when the list fits and the entry is this ingress's) or from
`status.alb` (only when it names this ingress); wanted weights; a Rollout without ALB routing is refused.
"""

from __future__ import annotations

from typing import Any

import pytest

from service.aws import inputs, results
from statemachine import models

LB_A = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/k8s-a/1"
LB_B = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/k8s-b/2"


def rollout(*, alb: dict[str, Any], status: dict[str, Any] | None = None,
            ping_pong: bool = False) -> models.Rollout:
    canary: dict[str, Any] = {"trafficRouting": {"alb": {"servicePort": 443, **alb}},
                              "steps": [{"setWeight": 5}]}
    if ping_pong:
        canary["pingPong"] = {"pingService": "ping", "pongService": "pong"}
        canary["trafficRouting"]["alb"]["rootService"] = "root"
    else:
        canary.update(canaryService="canary", stableService="stable")
    return models.parse_rollout({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "demo", "namespace": "ns"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "demo"}},
                 "template": {"metadata": {"labels": {"app": "demo"}},
                              "spec": {"containers": [{"name": "c"}]}},
                 "strategy": {"canary": canary}},
        "status": status or {},
    })


def ingress(*hostnames: Any) -> dict[str, Any]:
    return {"status": {"loadBalancer": {"ingress": list(hostnames)}}}


def lb_entry(arn: str, name: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"loadBalancer": {"name": "", "arn": arn, "fullName": ""}}
    if name is not None:
        entry["ingress"] = name
    return entry


def test_plain_request_over_every_ingress_in_order():
    ro = rollout(alb={"ingresses": ["b", "a"]})
    ingresses = {"a": ingress({"hostname": "A-1.example"}),
                 "b": ingress({"hostname": ""}, {"ip": "10.0.0.1"}, "junk", {"hostname": "b-1.example"})}
    request = inputs.weight_request(ro, ingresses, 5, tag_key="my/tag")
    assert request == results.WeightRequest(
        namespace="ns",
        ingresses=(results.IngressTarget("b", ("b-1.example",)),
                   results.IngressTarget("a", ("A-1.example",))),
        service_port=443, canary=results.Destination("canary", 5), stable=results.Destination("stable", 95),
        tag_key="my/tag")
    assert request.resource_id("b", "canary") == "ns/b-canary:443"


@pytest.mark.parametrize(("stable_ping_pong", "stable", "canary"), [
    pytest.param("ping", "ping", "pong", id="ping-stable"),
    pytest.param("pong", "pong", "ping", id="pong-stable"),
    pytest.param("", "pong", "ping", id="unset"),
])
def test_ping_pong_names(stable_ping_pong, stable, canary):
    ro = rollout(alb={"ingress": "a"}, status={"canary": {"stablePingPong": stable_ping_pong}},
                 ping_pong=True)
    request = inputs.weight_request(ro, {"a": ingress()}, 30)
    assert (request.stable, request.canary) == (results.Destination(stable, 70),
                                                results.Destination(canary, 30))


@pytest.mark.parametrize(("status", "expected"), [
    pytest.param({"albs": [lb_entry(LB_A, "a"), lb_entry(LB_B, "b")]}, (LB_A, LB_B), id="albs-by-index"),
    pytest.param({"albs": [lb_entry(LB_A, None), lb_entry(LB_B, "")]}, (LB_A, LB_B), id="albs-without-names"),
    pytest.param({"albs": [lb_entry(LB_A, "b"), lb_entry(LB_B, "a")]}, ("", ""),
                 id="albs-of-other-ingresses"),
    pytest.param({"albs": [lb_entry(LB_A, "a")]}, ("", ""), id="albs-of-another-length"),
    pytest.param({"alb": lb_entry(LB_B, "b")}, ("", LB_B), id="alb-names-one-ingress"),
    pytest.param({"albs": [lb_entry("", "a"), "junk"], "alb": lb_entry(LB_B, "b")}, ("", LB_B),
                 id="empty-and-malformed-entries"),
    pytest.param({}, ("", ""), id="nothing-known"),
])
def test_known_load_balancer_arns(status, expected):
    ro = rollout(alb={"ingresses": ["a", "b"]}, status=status)
    request = inputs.weight_request(ro, {"a": ingress(), "b": None}, 0)
    assert tuple(target.known_lb_arn for target in request.ingresses) == expected
    assert request.ingresses[1].hostnames == ()


def test_rollout_without_alb_routing_is_refused():
    ro = models.parse_rollout({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "demo", "namespace": "ns"},
        "spec": {"strategy": {"canary": {"steps": []}}}})
    with pytest.raises(ValueError) as caught:
        inputs.weight_request(ro, {}, 0)
    assert str(caught.value) == "rollout ns/demo does not use ALB traffic routing"
