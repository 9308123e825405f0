"""The ELBv2 client wrapper.

Aspects: region precedence (flag, AWS_REGION, AWS_DEFAULT_REGION); no region -> a clear error before any
client is made; a malformed endpoint URL is a clear error; missing credentials become an AwsCallError naming
the chain and the action; error texts (AccessDenied names the IAM action); Marker pagination through `pages`
(and its page limit); every request counted; the verifier bundle opens on one client.
"""

from __future__ import annotations

import pytest
from aiobotocore.session import get_session
from prometheus_client import CollectorRegistry

from service.aws import elbv2, verifying

from .conftest import REGION


@pytest.mark.parametrize(("flag", "env", "expected"), [
    pytest.param("eu-west-1", {"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-west-1"}, "eu-west-1",
                 id="flag-wins"),
    pytest.param(None, {"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-west-1"}, "us-east-2",
                 id="aws-region"),
    pytest.param(None, {"AWS_DEFAULT_REGION": "us-west-1"}, "us-west-1", id="default-region"),
    pytest.param("", {}, None, id="none"),
])
def test_resolve_region(flag, env, expected):
    assert elbv2.resolve_region(flag, env) == expected


async def test_no_region_is_a_clear_error():
    with pytest.raises(elbv2.AwsCallError) as caught:
        async with elbv2.open_elbv2(elbv2.AwsSettings()):
            pass
    assert caught.value.code == "NoRegion"
    assert caught.value.describe() == (
        "elasticloadbalancing:CreateClient failed (NoRegion): no AWS region: set --aws-region, AWS_REGION or "
        "AWS_DEFAULT_REGION")


async def test_region_from_environment(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_REGION", REGION)
    async with elbv2.open_elbv2(elbv2.AwsSettings(endpoint_url=moto_endpoint)) as client:
        assert client.client.meta.region_name == REGION


async def test_missing_credentials(moto_endpoint, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    settings = elbv2.AwsSettings(region=REGION, endpoint_url=moto_endpoint)
    async with elbv2.open_elbv2(settings, session=get_session()) as client:
        with pytest.raises(elbv2.AwsCallError) as caught:
            await client.call("DescribeLoadBalancers")
    assert caught.value.describe() == (
        "no AWS credentials found (environment, web identity/IRSA, profile or instance metadata); needed for "
        "elasticloadbalancing:DescribeLoadBalancers")
    assert client.calls["DescribeLoadBalancers"] == 1


def test_error_descriptions():
    denied = elbv2.AwsCallError("DescribeTargetHealth", "AccessDenied", "User x is not authorized")
    assert denied.access_denied and not denied.throttled
    assert denied.describe() == (
        "AWS denied elasticloadbalancing:DescribeTargetHealth (AccessDenied): User x is not authorized; "
        "grant the controller's role this IAM action")
    other = elbv2.AwsCallError("DescribeRules", "ValidationError", "bad")
    assert other.describe() == "elasticloadbalancing:DescribeRules failed (ValidationError): bad"


async def test_pages_follow_markers_and_count_every_request(lbc, sut):
    for index in range(5):
        await lbc.alb(f"k8s-default-lb{index}")
    s = await sut()
    items = await s.client.pages("DescribeLoadBalancers", "LoadBalancers", PageSize=2)
    assert sorted(item["LoadBalancerName"] for item in items) == [f"k8s-default-lb{i}" for i in range(5)]
    assert s.client.calls["DescribeLoadBalancers"] == 3


async def test_open_verifiers_builds_on_one_client(moto_endpoint):
    registry = CollectorRegistry()
    settings = elbv2.AwsSettings(region=REGION, endpoint_url=moto_endpoint)
    async with verifying.open_verifiers(settings, registry=registry) as aws:
        assert aws.weights.reads is aws.reads and aws.targets.reads is aws.reads
        assert aws.reads.client is aws.client
        await aws.client.call("DescribeLoadBalancers")
    assert registry.get_sample_value("aws_api_requests_total",
                                     {"operation": "DescribeLoadBalancers", "outcome": "success"}) == 1


async def test_pages_stop_at_the_page_limit(lbc, sut, monkeypatch):
    await lbc.alb("k8s-default-lb0")
    await lbc.alb("k8s-default-lb1")
    monkeypatch.setattr(elbv2, "MAX_PAGES", 1)
    s = await sut()
    with pytest.raises(elbv2.AwsCallError) as caught:
        await s.client.pages("DescribeLoadBalancers", "LoadBalancers", PageSize=1)
    assert caught.value.describe() == (
        "elasticloadbalancing:DescribeLoadBalancers failed (BadPagination): more than 1 pages; "
        "stopped reading")
    assert s.client.calls["DescribeLoadBalancers"] == 1


@pytest.mark.parametrize("url", [pytest.param("not a url", id="words"),
                                 pytest.param("http://", id="no-host")])
async def test_malformed_endpoint_is_a_clear_error(url):
    with pytest.raises(elbv2.AwsCallError) as caught:
        async with elbv2.open_elbv2(elbv2.AwsSettings(region=REGION, endpoint_url=url)):
            pass
    assert caught.value.describe() == (
        f"elasticloadbalancing:CreateClient failed (InvalidEndpoint): Invalid endpoint: {url} "
        "(--aws-endpoint-url)")
