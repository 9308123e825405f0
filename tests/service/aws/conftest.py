"""Fixtures for the AWS verifier tests: moto's ELBv2 server on loopback, an LBC-like builder, a fake clock,
and botocore hooks that answer like AWS where moto does not (throttling, the 20-ARN DescribeTags limit)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import structlog
from aiobotocore.awsrequest import AioAWSResponse
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from aiohttp import web
from moto.core.base_backend import backend_lock
from moto.elbv2.models import elbv2_backends
from moto.server import ThreadedMotoServer
from prometheus_client import CollectorRegistry

from sandbox.apiserver.kubeconfig import write_kubeconfig
from sandbox.apiserver.server import ApiServer
from service.aws import elbv2, lookups, metrics, targets, throttling, weights

__all__ = ["ERROR_XML", "REGION", "TAG_KEY", "Alb", "FakeClock", "Faults", "Lbc", "Sut", "error_response",
           "operation_of"]

REGION = "us-east-1"
TAG_KEY = "ingress.k8s.aws/resource"
ERROR_XML = (
    '<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender'
    "</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def aws_session() -> AioSession:
    """One botocore session for all tests: its loader caches the (large) service models."""
    return get_session()


@pytest.fixture(autouse=True)
def _aws_environment(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield
    _reset_elbv2()


# EC2 state (the VPC and subnets ALBs need) outlives the tests: re-creating it after a full moto reset costs
# 0.1-1 s per test, so only ELBv2 is reset, in process (the server thread shares moto's backends).
_NETWORKS: dict[str, tuple[str, list[str]]] = {}


def _reset_elbv2() -> None:
    with backend_lock:
        for _, _, backend in elbv2_backends.iter_backends():
            backend.reset()


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """`alb-rollouts verify` configures structlog for its process; give the next test the defaults back."""
    yield
    structlog.reset_defaults()


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def error_response(request: Any, code: str, message: str, status: int = 400) -> AioAWSResponse:
    body = ERROR_XML.format(code=code, message=message).encode()

    class _Raw:
        async def read(self) -> bytes:
            return body

    return AioAWSResponse(request.url, status, {"Content-Type": "text/xml"}, _Raw())


def operation_of(request: Any) -> str:
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
    for part in body.split("&"):
        if part.startswith("Action="):
            return part.removeprefix("Action=")
    return ""


@dataclass(eq=False)  # hashable: botocore keeps handlers in a dict
class Faults:
    """Per-operation scripted failures served by a before-send hook instead of moto."""

    failures: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    tags_limit: bool = True
    sent: list[str] = field(default_factory=list)

    def fail(self, operation: str, code: str = "Throttling", times: int = 1, status: int = 400) -> None:
        self.failures.setdefault(operation, []).extend([(code, status)] * times)

    def __call__(self, request: Any, **_: Any) -> AioAWSResponse | None:
        operation = operation_of(request)
        self.sent.append(operation)
        queue = self.failures.get(operation)
        if queue:
            code, status = queue.pop(0)
            return error_response(request, code, "Rate exceeded" if code == "Throttling" else code, status)
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if self.tags_limit and operation == "DescribeTags" and body.count("ResourceArns.member.") > 20:
            # moto accepts any number; AWS answers like this.
            return error_response(request, "ValidationError",
                                  "1 validation error detected: ResourceArns must have at most 20 items")
        return None


@dataclass
class Sut:
    """The system under test: one Elbv2 wrapper with its lookups and both verifiers."""

    client: elbv2.Elbv2
    reads: lookups.Elbv2Lookups
    weights: weights.WeightVerifier
    targets: targets.TargetVerifier
    metrics: metrics.AwsMetrics
    registry: CollectorRegistry
    faults: Faults


@pytest.fixture
async def sut(moto_endpoint: str, clock: FakeClock,
              aws_session: AioSession) -> AsyncIterator[Callable[..., Any]]:
    """Factory: `await sut(max_rps=..., burst=..., policy=...)` opens a fresh stack, closed at teardown."""
    stacks: list[Any] = []

    async def make(max_rps: float = 1000.0, burst: int = 1000,
                   policy: throttling.RetryPolicy | None = None, **lookup_options: Any) -> Sut:
        registry = CollectorRegistry()
        aws_metrics = metrics.AwsMetrics(registry)
        settings = elbv2.AwsSettings(region=REGION, endpoint_url=moto_endpoint, max_rps=max_rps, burst=burst,
                                     retry=policy or throttling.RetryPolicy())
        context = elbv2.open_elbv2(settings, metrics=aws_metrics, monotonic=clock.monotonic,
                                   sleep=clock.sleep, session=aws_session, rng=random.Random(4))
        client = await context.__aenter__()
        stacks.append(context)
        faults = Faults()
        client.client.meta.events.register("before-send.elastic-load-balancing-v2", faults)
        reads = lookups.Elbv2Lookups(client, monotonic=clock.monotonic, **lookup_options)
        return Sut(client, reads, weights.WeightVerifier(reads, metrics=aws_metrics),
                   targets.TargetVerifier(reads, metrics=aws_metrics), aws_metrics, registry, faults)

    yield make
    for context in reversed(stacks):
        await context.__aexit__(None, None, None)


@dataclass(frozen=True)
class Alb:
    arn: str
    name: str
    dns: str


class Lbc:
    """Builds ELBv2 objects the way the AWS Load Balancer Controller does for ALB Ingresses."""

    def __init__(self, ec2: Any, elb: Any) -> None:
        self.ec2 = ec2
        self.elb = elb
        self.vpc_id = ""
        self.subnets: list[str] = []
        self._tg_counter = 0

    async def network(self, endpoint: str) -> None:
        """One VPC with two subnets per moto server, made by the first test that needs it."""
        if endpoint not in _NETWORKS:
            vpc = await self.ec2.create_vpc(CidrBlock="10.0.0.0/16")
            vpc_id = vpc["Vpc"]["VpcId"]
            subnets = []
            for cidr, zone in (("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")):
                subnet = await self.ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)
                subnets.append(subnet["Subnet"]["SubnetId"])
            _NETWORKS[endpoint] = (vpc_id, subnets)
        self.vpc_id, self.subnets = _NETWORKS[endpoint][0], list(_NETWORKS[endpoint][1])

    async def alb(self, name: str, stack: str = "default/app") -> Alb:
        answer = await self.elb.create_load_balancer(
            Name=name, Subnets=self.subnets, Type="application", Scheme="internet-facing",
            Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": "test"},
                  {"Key": "ingress.k8s.aws/stack", "Value": stack},
                  {"Key": TAG_KEY, "Value": "LoadBalancer"}])
        lb = answer["LoadBalancers"][0]
        return Alb(lb["LoadBalancerArn"], lb["LoadBalancerName"], lb["DNSName"])

    async def target_group(self, namespace: str, ingress: str, service: str, port: int | str = 80,
                           target_type: str = "ip", tag_value: str | None = None) -> str:
        self._tg_counter += 1
        name = f"k8s-{namespace[:8]}-{service[:8]}-{self._tg_counter:010x}"
        answer = await self.elb.create_target_group(
            Name=name, Protocol="HTTP", ProtocolVersion="HTTP1", Port=8080, VpcId=self.vpc_id,
            TargetType=target_type,
            Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": "test"},
                  {"Key": "ingress.k8s.aws/stack", "Value": f"{namespace}/{ingress}"},
                  {"Key": TAG_KEY, "Value": tag_value or f"{namespace}/{ingress}-{service}:{port}"}])
        return str(answer["TargetGroups"][0]["TargetGroupArn"])

    async def listener(self, lb_arn: str, port: int = 80) -> str:
        answer = await self.elb.create_listener(
            LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port,
            DefaultActions=[{"Type": "fixed-response",
                             "FixedResponseConfig": {"ContentType": "text/plain", "StatusCode": "404"}}])
        return str(answer["Listeners"][0]["ListenerArn"])

    async def rule(self, listener_arn: str, priority: int, forwards: list[tuple[str, int]], *,
                   path: str = "/*", header: tuple[str, str] | None = None) -> str:
        conditions: list[dict[str, Any]] = [
            {"Field": "path-pattern", "PathPatternConfig": {"Values": [path]}}]
        if header is not None:
            conditions.append({"Field": "http-header",
                               "HttpHeaderConfig": {"HttpHeaderName": header[0], "Values": [header[1]]}})
        answer = await self.elb.create_rule(ListenerArn=listener_arn, Priority=priority,
                                            Conditions=conditions, Actions=[_forward(forwards)])
        return str(answer["Rules"][0]["RuleArn"])

    async def set_weights(self, rule_arn: str, forwards: list[tuple[str, int]]) -> None:
        await self.elb.modify_rule(RuleArn=rule_arn, Actions=[_forward(forwards)])

    async def register(self, tg_arn: str, targets: list[tuple[str, int]]) -> None:
        await self.elb.register_targets(TargetGroupArn=tg_arn,
                                        Targets=[{"Id": ip, "Port": port} for ip, port in targets])


def _forward(forwards: list[tuple[str, int]]) -> dict[str, Any]:
    return {"Type": "forward", "Order": 1, "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in forwards]}}


@pytest.fixture
async def lbc(moto_endpoint: str, aws_session: AioSession) -> AsyncIterator[Lbc]:
    session = aws_session
    config = AioConfig(retries={"total_max_attempts": 1})
    options: dict[str, Any] = {"region_name": REGION, "endpoint_url": moto_endpoint, "config": config}
    async with (session.create_client("ec2", **options) as ec2,
                session.create_client("elbv2", **options) as elb):
        builder = Lbc(ec2, elb)
        await builder.network(moto_endpoint)
        yield builder


@pytest.fixture
async def kube(tmp_path: Any) -> AsyncIterator[tuple[ApiServer, str]]:
    """The API emulator on loopback and a kubeconfig pointing at it."""
    server = ApiServer()
    await server.start()
    path = write_kubeconfig(tmp_path / "kubeconfig", server.url)
    yield server, str(path)
    await server.stop()



@pytest.fixture
async def throttling_proxy(moto_endpoint: str) -> AsyncIterator[tuple[str, dict[str, list[str]]]]:
    """An aiohttp proxy in front of moto answering scripted error codes per ELBv2 Action."""
    script: dict[str, list[str]] = {}
    session = aiohttp.ClientSession()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        form = dict(part.split("=", 1) for part in body.decode().split("&") if "=" in part)
        queue = script.get(form.get("Action", ""))
        if queue:
            code = queue.pop(0)
            return web.Response(status=400, content_type="text/xml",
                                text=ERROR_XML.format(code=code, message="Rate exceeded"))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with session.request(request.method, moto_endpoint + request.path_qs, data=body,
                                   headers=headers) as upstream:
            payload = await upstream.read()
            return web.Response(status=upstream.status, body=payload,
                                content_type=upstream.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", script
    await runner.cleanup()
    await session.close()

