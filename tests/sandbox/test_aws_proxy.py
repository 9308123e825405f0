"""The truthful AWS proxy: requests reach the upstream byte for byte and answers come back unchanged (moto's
other Actions and errors too); DescribeTargetHealth tells each target's health from the registration clock in
moto's XML shape, adds draining targets unless targets are named, and leaves targets it never registered to
moto, for aiobotocore and boto3 alike; calls are counted per Action and an interceptor can answer instead."""

from __future__ import annotations

import asyncio
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import boto3
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from aiohttp import web
from botocore.exceptions import ClientError

from sandbox import aws
from sandbox.aws_proxy import AwsProxy, ProxiedCall
from sandbox.lbc.health import TargetClock

NS = "{http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/}"
ELB_AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/elasticloadbalancing/aws4_request, "
            "SignedHeaders=host, Signature=0")
FORM = "application/x-www-form-urlencoded"


class FakeTime:
    now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An upstream that records each request and answers 418 with a header of its own."""
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append({"method": request.method, "path": request.raw_path, "body": await request.read(),
                     "headers": dict(request.headers)})
        return web.Response(status=418, body=b"<teapot/>", headers={"X-Echo": "yes"},
                            content_type="text/xml")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


async def _post(url: str, body: str, path: str = "/") -> tuple[int, str]:
    headers = {"Content-Type": FORM, "Authorization": ELB_AUTH}
    async with aiohttp.ClientSession() as session, session.post(url + path, data=body.encode(),
                                                                headers=headers) as reply:
        return reply.status, await reply.text()


def _without_request_id(text: str) -> str:
    return re.sub(r"<RequestId>[^<]*</RequestId>", "", text)


async def test_requests_reach_the_upstream_byte_for_byte(echo: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = echo
    body = b"Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn=arn%3Ax&Odd=%2B%20+%C3%A9"
    headers = {"Content-Type": FORM, "Authorization": ELB_AUTH, "X-Amz-Date": "20260101T000000Z"}
    async with AwsProxy(url, health=TargetClock()) as proxy, aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.url}/a%2Fb/?x=1%202&y", data=body, headers=headers) as reply:
            assert (reply.status, reply.headers["X-Echo"], await reply.read()) == (418, "yes", b"<teapot/>")
        assert proxy.calls == {"DescribeTargetHealth": 1}
    (request,) = seen
    assert (request["method"], request["path"], request["body"]) == ("POST", "/a%2Fb/?x=1%202&y", body)
    assert {k: request["headers"][k] for k in headers} == headers


async def test_other_actions_and_errors_pass_through_unchanged(aws_endpoint: str, elbv2: Any,
                                                               ec2: Any) -> None:
    network = await aws.ensure_network(ec2)
    await elbv2.create_target_group(Name="passing", Protocol="HTTP", Port=80, VpcId=network.vpc_id,
                                    TargetType="ip")
    bodies = ["Action=DescribeTargetGroups&Version=2015-12-01",
              "Action=DescribeTargetGroups&Version=2015-12-01&Names.member.1=missing"]
    async with AwsProxy(aws_endpoint, health=TargetClock()) as proxy:
        for body in bodies:
            direct, proxied = await _post(aws_endpoint, body), await _post(proxy.url, body)
            assert proxied[0] == direct[0]
            assert _without_request_id(proxied[1]) == _without_request_id(direct[1])
        assert proxy.calls == {"DescribeTargetGroups": 2}
    assert "<Code>TargetGroupNotFound</Code>" in direct[1] and direct[0] == 400


async def _group(elbv2: Any, ec2: Any) -> str:
    """A target group holding four targets in moto; a fifth was registered and deregistered."""
    network = await aws.ensure_network(ec2)
    made = await elbv2.create_target_group(Name="truth", Protocol="HTTP", Port=8080, VpcId=network.vpc_id,
                                           TargetType="ip")
    arn = str(made["TargetGroups"][0]["TargetGroupArn"])
    targets = [{"Id": f"10.0.1.{n}", "Port": 8080} for n in range(1, 6)]
    await elbv2.register_targets(TargetGroupArn=arn, Targets=targets)
    await elbv2.deregister_targets(TargetGroupArn=arn, Targets=targets[4:])
    return arn


def _states(described: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
            for d in described["TargetHealthDescriptions"]}


TRUTH = {
    "10.0.1.1": ("initial", "Elb.RegistrationInProgress"),
    "10.0.1.2": ("initial", "Elb.InitialHealthChecking"),
    "10.0.1.3": ("healthy", None),
    "10.0.1.4": ("healthy", None),  # registered behind the clock's back: moto's word stands
    "10.0.1.5": ("draining", "Target.DeregistrationInProgress"),
}


async def test_target_health_tells_the_truth(aws_endpoint: str, elbv2: Any, ec2: Any) -> None:
    arn = await _group(elbv2, ec2)
    time = FakeTime()
    clock = TargetClock(time)
    clock.registered(arn, [("10.0.1.2", 8080)], initial_seconds=4.0)
    time.now += 3.0
    clock.registered(arn, [("10.0.1.1", 8080)], initial_seconds=4.0)
    clock.registered(arn, [("10.0.1.3", 8080)], initial_seconds=0.0)
    clock.deregistered(arn, [("10.0.1.5", 8080)], delay_seconds=9.0)
    async with AwsProxy(aws_endpoint, health=clock) as proxy, aws.client("elbv2", proxy.url) as truth:
        assert _states(await elbv2.describe_target_health(TargetGroupArn=arn)) == {
            f"10.0.1.{n}": ("healthy", None) for n in range(1, 5)}
        assert _states(await truth.describe_target_health(TargetGroupArn=arn)) == TRUTH
        named = await truth.describe_target_health(
            TargetGroupArn=arn, Targets=[{"Id": "10.0.1.5", "Port": 8080}, {"Id": "10.0.1.1", "Port": 8080}])
        assert _states(named) == {k: TRUTH[k] for k in ("10.0.1.5", "10.0.1.1")}

        def with_boto3() -> dict[str, Any]:
            client = boto3.client("elbv2", region_name=aws.REGION, endpoint_url=proxy.url,
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
            return dict(client.describe_target_health(TargetGroupArn=arn))

        assert _states(await asyncio.to_thread(with_boto3)) == TRUTH
        raw = f"Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn={arn}"
        status, text = await _post(proxy.url, raw)
        time.now += 10.0
        later = _states(await truth.describe_target_health(TargetGroupArn=arn))
    assert later == {f"10.0.1.{n}": ("healthy", None) for n in range(1, 5)}
    assert status == 200
    root = ET.fromstring(text)
    assert root.tag == f"{NS}DescribeTargetHealthResponse"
    members = root.findall(f"{NS}DescribeTargetHealthResult/{NS}TargetHealthDescriptions/{NS}member")
    assert [[child.tag.removeprefix(NS) for child in member] for member in members] == [
        ["Target", "HealthCheckPort", "TargetHealth"]] * 5
    health = members[0].find(f"{NS}TargetHealth")
    assert health is not None and [child.tag.removeprefix(NS) for child in health] == [
        "State", "Reason", "Description"]


async def test_interceptors_answer_instead_of_moto_and_calls_are_counted(aws_endpoint: str, elbv2: Any,
                                                                         ec2: Any) -> None:
    arn = await _group(elbv2, ec2)
    throttled: list[ProxiedCall] = []

    async def throttle_once(call: ProxiedCall) -> web.Response | None:
        if call.action != "DescribeTargetHealth" or throttled:
            return None
        throttled.append(call)
        body = ('<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error>'
                "<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
                "<RequestId>1</RequestId></ErrorResponse>")
        return web.Response(status=400, text=body, content_type="text/xml")

    config = AioConfig(retries={"total_max_attempts": 1})
    async with AwsProxy(aws_endpoint) as proxy:
        proxy.interceptors.append(throttle_once)
        async with get_session().create_client("elbv2", region_name=aws.REGION, endpoint_url=proxy.url,
                                               config=config, aws_access_key_id="testing",
                                               aws_secret_access_key="testing") as client:
            with pytest.raises(ClientError) as refused:
                await client.describe_target_health(TargetGroupArn=arn)
            assert refused.value.response["Error"]["Code"] == "Throttling"
            assert len(_states(await client.describe_target_health(TargetGroupArn=arn))) == 4
            await client.describe_target_groups()
        assert proxy.calls == {"DescribeTargetHealth": 2, "DescribeTargetGroups": 1}
    (call,) = throttled
    assert (call.service, call.params["TargetGroupArn"]) == ("elasticloadbalancing", arn)
    assert json.dumps(call.params)  # plain strings, ready for a throttling rule to match on
