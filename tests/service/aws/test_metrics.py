"""The AWS metrics as a scraper sees them: exact names, types and label names, read from the registry.

Aspects: the five families exist on an injected registry (never the global one) with the names and labels
of the issue; a verification run through moto fills them (requests by operation/outcome, throttles,
durations, weight and target verification results).
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry

from service.aws import metrics, results

from .conftest import Lbc

NS = "default"
FAMILIES = {
    "aws_api_requests": ("counter", ("operation", "outcome")),
    "aws_api_throttled": ("counter", ("operation",)),
    "aws_api_request_duration_seconds": ("histogram", ("operation",)),
    "alb_weight_verifications": ("counter", ("result",)),
    "alb_target_verifications": ("counter", ("result",)),
}


def test_names_types_and_labels_exactly():
    registry = CollectorRegistry()
    metrics.AwsMetrics(registry)
    found = {family.name: family.type for family in registry.collect()}
    assert found == {name: kind for name, (kind, _) in FAMILIES.items()}
    aws = metrics.AwsMetrics(CollectorRegistry())
    labels = {
        "aws_api_requests": aws.requests._labelnames,
        "aws_api_throttled": aws.throttled._labelnames,
        "aws_api_request_duration_seconds": aws.duration._labelnames,
        "alb_weight_verifications": aws.weight_verifications._labelnames,
        "alb_target_verifications": aws.target_verifications._labelnames,
    }
    assert labels == {name: names for name, (_, names) in FAMILIES.items()}
    assert REGISTRY.get_sample_value("aws_api_requests_total", {"operation": "x", "outcome": "y"}) is None


async def test_a_verification_fills_every_family(lbc: Lbc, sut):
    alb = await lbc.alb("k8s-default-app")
    listener = await lbc.listener(alb.arn)
    canary = await lbc.target_group(NS, "app", "canary")
    stable = await lbc.target_group(NS, "app", "stable")
    await lbc.rule(listener, 1, [(canary, 20), (stable, 80)])
    await lbc.register(stable, [("10.0.1.1", 8080)])
    s = await sut()
    s.faults.fail("DescribeRules", "Throttling")
    c, st, extra = results.destinations("canary", "stable", 20)
    request = results.WeightRequest(NS, (results.IngressTarget("app", (alb.dns,)),), 80, c, st, extra)
    assert (await s.weights.verify(request)).verified is True
    service = {"metadata": {"name": "stable", "namespace": NS},
               "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    binding = {"metadata": {"name": "tgb", "namespace": NS},
               "spec": {"targetGroupARN": stable, "targetType": "ip",
                        "serviceRef": {"name": "stable", "port": 80}}}
    slices = [{"metadata": {"labels": {"kubernetes.io/service-name": "stable"}}, "addressType": "IPv4",
               "ports": [{"name": "http", "port": 8080}], "endpoints": [{"addresses": ["10.0.1.1"]}]}]
    assert (await s.targets.verify(service, [binding], slices)).verified is True
    value = s.registry.get_sample_value
    assert value("aws_api_requests_total", {"operation": "DescribeRules", "outcome": "throttled"}) == 1
    assert value("aws_api_requests_total", {"operation": "DescribeRules", "outcome": "success"}) == 1
    assert value("aws_api_requests_total", {"operation": "DescribeTargetHealth", "outcome": "success"}) == 1
    assert value("aws_api_throttled_total", {"operation": "DescribeRules"}) == 1
    assert value("aws_api_request_duration_seconds_count", {"operation": "DescribeRules"}) == 2
    assert value("alb_weight_verifications_total", {"result": "verified"}) == 1
    assert value("alb_target_verifications_total", {"result": "verified"}) == 1
