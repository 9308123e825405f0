"""`alb-rollouts verify` against the sandbox API emulator (kubernetes-asyncio) and moto (aiobotocore).

Aspects: verified (exit 0, exact JSON), not yet verified (exit 3, reason on stderr), `--weight`, `--targets`
with registered and missing pod IPs, ping-pong, a throttling proxy in front of moto (still exit 0, retries
counted), AccessDenied (exit 1 naming the IAM action), user errors (bad key, missing rollout, missing
ingress, not ALB, InvalidSpec, unsupported step, no region, unreachable cluster or AWS endpoint, a bad
--aws-max-rps); without --weight the desired weight comes from the planner fed with the cluster's ReplicaSets.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from sandbox.apiserver.kubeconfig import write_kubeconfig
from sandbox.apiserver.server import ApiServer
from service import cli
from service.commands import verify

from .conftest import ERROR_XML, REGION, FakeClock, Lbc

NS = "default"
ROLLOUTS = "rollouts.argoproj.io"


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """The command configures structlog for its process; give the next test the defaults back."""
    yield
    structlog.reset_defaults()


@pytest.fixture
async def kube(tmp_path) -> AsyncIterator[tuple[ApiServer, str]]:
    server = ApiServer()
    await server.start()
    path = write_kubeconfig(tmp_path / "kubeconfig", server.url)
    yield server, str(path)
    await server.stop()


def rollout_obj(*, step_index: int = 0, steps: list[dict[str, Any]] | None = None,
                ping_pong: bool = False, stable_pp: str = "") -> dict[str, Any]:
    canary: dict[str, Any] = {
        "trafficRouting": {"alb": {"ingress": "app", "servicePort": 80}},
        "steps": steps if steps is not None else [{"setWeight": 20}, {"pause": {}}],
    }
    if ping_pong:
        canary["pingPong"] = {"pingService": "ping", "pongService": "pong"}
        canary["trafficRouting"]["alb"]["rootService"] = "root"
    else:
        canary.update(canaryService="canary", stableService="stable")
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "demo", "namespace": NS},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "demo"}},
                 "template": {"metadata": {"labels": {"app": "demo"}},
                              "spec": {"containers": [{"name": "c"}]}},
                 "strategy": {"canary": canary}},
        "status": {"currentStepIndex": step_index, "stableRS": "old", "currentPodHash": "new",
                   "canary": {"stablePingPong": stable_pp}},
    }


def replica_set(owner: dict[str, Any], pod_hash: str, replicas: int, available: int) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "metadata": {"name": f"demo-{pod_hash}", "namespace": NS,
                     "labels": {"app": "demo", "rollouts-pod-template-hash": pod_hash},
                     "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                          "name": meta["name"], "uid": meta["uid"], "controller": True}]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "demo"}},
                 "template": {"metadata": {"labels": {"app": "demo"}},
                              "spec": {"containers": [{"name": "c"}]}}},
        "status": {"replicas": available, "readyReplicas": available, "availableReplicas": available},
    }


def seed(server: ApiServer, rollout: dict[str, Any], hostname: str | None, *,
         extra: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
         replica_sets: tuple[tuple[str, int, int], ...] = (("old", 2, 2), ("new", 1, 1)),
         backend: str = "stable") -> None:
    """The Rollout, its Ingress and its ReplicaSets ((hash, spec replicas, available) each)."""
    storage = server.storage
    status = rollout.pop("status")
    created = storage.create(ROLLOUTS, rollout)
    storage.merge_patch(ROLLOUTS, NS, "demo", {"status": status}, subresource="status")
    for pod_hash, replicas, available in replica_sets:
        rs = replica_set(created, pod_hash, replicas, available)
        rs_status = rs.pop("status")
        storage.create("replicasets.apps", rs)
        storage.merge_patch("replicasets.apps", NS, rs["metadata"]["name"], {"status": rs_status},
                            subresource="status")
    storage.create("ingresses.networking.k8s.io", {
        "metadata": {"name": "app", "namespace": NS, "annotations": {"kubernetes.io/ingress.class": "alb"}},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
            "service": {"name": backend, "port": {"name": "use-annotation"}}}}]}}]}})
    if hostname:
        storage.merge_patch("ingresses.networking.k8s.io", NS, "app",
                            {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}},
                            subresource="status")
    for resource, obj in extra:
        storage.create(resource, obj)


async def alb_for(lbc: Lbc, weights: tuple[int, int], canary: str = "canary", stable: str = "stable") -> Any:
    alb = await lbc.alb("k8s-default-app")
    listener = await lbc.listener(alb.arn)
    canary_tg = await lbc.target_group(NS, "app", canary)
    stable_tg = await lbc.target_group(NS, "app", stable)
    await lbc.rule(listener, 1, [(canary_tg, weights[0]), (stable_tg, weights[1])])
    return alb, canary_tg, stable_tg


async def run_cli(kubeconfig: str, endpoint: str, *extra: str) -> int:
    args = cli.build_parser("verify").parse_args([
        "verify", "--rollout", f"{NS}/demo", "--kubeconfig", kubeconfig, "--aws-region", REGION,
        "--aws-endpoint-url", endpoint, *extra])
    return await verify.run_async(args)


async def test_verified(kube, lbc, moto_endpoint, capsys):
    server, kubeconfig = kube
    alb, canary_tg, stable_tg = await alb_for(lbc, (20, 80))
    seed(server, rollout_obj(), alb.dns)
    assert await run_cli(kubeconfig, moto_endpoint) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == {
        "verified": True,
        "ingresses": [{
            "ingress": "app", "verified": True,
            "reason": "weights applied on load balancer k8s-default-app (1 rule): canary 20, stable 80",
            "loadBalancer": {"name": "k8s-default-app", "arn": alb.arn, "fullName": alb.arn.split("/", 2)[2]},
            "targetGroups": [{"service": "canary", "arn": canary_tg, "weight": 20, "wanted": 20},
                             {"service": "stable", "arn": stable_tg, "weight": 80, "wanted": 80}],
        }],
        "targets": [],
        "awsCalls": {"DescribeListeners": 1, "DescribeLoadBalancers": 1, "DescribeRules": 1,
                     "DescribeTags": 1},
    }
    assert out.err == ""


async def test_not_yet_verified(kube, lbc, moto_endpoint, capsys):
    server, kubeconfig = kube
    alb, _, _ = await alb_for(lbc, (0, 100))
    seed(server, rollout_obj(), alb.dns)
    assert await run_cli(kubeconfig, moto_endpoint) == 3
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["verified"] is False
    assert [g["weight"] for g in report["ingresses"][0]["targetGroups"]] == [0, 100]
    assert out.err == (
        "alb-rollouts verify: rollout default/demo: the controller wants canary weight 20 "
        "(current-set-weight)\n"
        "alb-rollouts verify: ingress app: weights not yet applied on load balancer k8s-default-app: canary "
        "has weight 0 (wanted 20) on listener 80 rule 1; stable has weight 100 (wanted 80) on listener 80 "
        "rule 1\n")


async def test_weight_flag_overrides_the_desired_weight(kube, lbc, moto_endpoint, capsys):
    server, kubeconfig = kube
    alb, _, _ = await alb_for(lbc, (0, 100))
    seed(server, rollout_obj(), alb.dns)
    assert await run_cli(kubeconfig, moto_endpoint, "--weight", "0") == 0
    assert json.loads(capsys.readouterr().out)["verified"] is True


async def test_no_hostname_yet(kube, moto_endpoint, capsys):
    server, kubeconfig = kube
    seed(server, rollout_obj(), None)
    assert await run_cli(kubeconfig, moto_endpoint) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["ingresses"][0]["reason"] == ("load balancer not yet allocated: the ingress has no "
                                                "status.loadBalancer hostname")
    assert report["awsCalls"] == {}


async def test_ping_pong(kube, lbc, moto_endpoint, capsys):
    server, kubeconfig = kube
    alb, _, _ = await alb_for(lbc, (20, 80), canary="pong", stable="ping")
    seed(server, rollout_obj(ping_pong=True, stable_pp="ping"), alb.dns, backend="root")
    assert await run_cli(kubeconfig, moto_endpoint) == 0
    report = json.loads(capsys.readouterr().out)
    assert [g["service"] for g in report["ingresses"][0]["targetGroups"]] == ["pong", "ping"]


def target_objects(tg_arn: str, ips: list[str]) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("services", {"metadata": {"name": "stable", "namespace": NS},
                      "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "web"}]}}),
        ("targetgroupbindings.elbv2.k8s.aws", {
            "metadata": {"name": "k8s-default-stable", "namespace": NS},
            "spec": {"targetGroupARN": tg_arn, "targetType": "ip",
                     "serviceRef": {"name": "stable", "port": 80}}}),
        ("endpointslices.discovery.k8s.io", {
            "metadata": {"name": "stable-x", "namespace": NS,
                         "labels": {"kubernetes.io/service-name": "stable"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}),
    ]


async def test_targets_registered_and_missing(kube, lbc, moto_endpoint, capsys):
    server, kubeconfig = kube
    alb, _, stable_tg = await alb_for(lbc, (20, 80))
    await lbc.register(stable_tg, [("10.0.1.1", 8080)])
    seed(server, rollout_obj(), alb.dns, extra=target_objects(stable_tg, ["10.0.1.1", "10.0.1.2"]))
    assert await run_cli(kubeconfig, moto_endpoint, "--targets") == 3
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["targets"] == [{"service": "stable", "targetGroup": stable_tg, "registered": 1, "total": 2,
                                  "verified": False}]
    assert report["awsCalls"]["DescribeTargetHealth"] == 1
    assert out.err == (f"alb-rollouts verify: service stable (target group {stable_tg}): 1/2 endpoints "
                       "registered; not registered: 10.0.1.2:8080\n")
    await lbc.register(stable_tg, [("10.0.1.2", 8080)])
    assert await run_cli(kubeconfig, moto_endpoint, "--targets") == 0
    assert json.loads(capsys.readouterr().out)["targets"][0]["registered"] == 2


@pytest.fixture
async def throttling_proxy(moto_endpoint) -> AsyncIterator[tuple[str, dict[str, list[str]]]]:
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


async def test_keeps_working_when_aws_throttles(kube, lbc, throttling_proxy, capsys):
    server, kubeconfig = kube
    proxy, script = throttling_proxy
    alb, _, _ = await alb_for(lbc, (20, 80))
    seed(server, rollout_obj(), alb.dns)
    script["DescribeLoadBalancers"] = ["Throttling"]
    script["DescribeRules"] = ["Throttling", "RequestLimitExceeded"]
    clock = FakeClock()
    args = cli.build_parser("verify").parse_args([
        "verify", "--rollout", f"{NS}/demo", "--kubeconfig", kubeconfig, "--aws-region", REGION,
        "--aws-endpoint-url", proxy, "--aws-max-rps", "1"])
    assert await verify.run_async(args, clock=verify.Clock(monotonic=clock.monotonic, sleep=clock.sleep)) == 0
    # Slower, not stalled: backoff and the bucket (halved at each throttle) waited on the fake clock.
    assert sum(clock.sleeps) > 1
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] is True
    assert report["awsCalls"] == {"DescribeListeners": 1, "DescribeLoadBalancers": 2, "DescribeRules": 3,
                                  "DescribeTags": 1}


async def test_access_denied_exits_1_naming_the_action(kube, lbc, throttling_proxy, capsys):
    server, kubeconfig = kube
    proxy, script = throttling_proxy
    alb, _, _ = await alb_for(lbc, (20, 80))
    seed(server, rollout_obj(), alb.dns)
    script["DescribeRules"] = ["AccessDenied"]
    assert await run_cli(kubeconfig, proxy) == 1
    out = capsys.readouterr()
    assert json.loads(out.out)["verified"] is False
    assert out.err == ("alb-rollouts verify: ingress app: AWS denied elasticloadbalancing:DescribeRules "
                       "(AccessDenied): Rate exceeded; grant the controller's role this IAM action\n")


@pytest.mark.parametrize(("key", "mutate", "message"), [
    pytest.param("default", None, "--rollout must be NAMESPACE/NAME, not 'default'", id="bad-key"),
    pytest.param("default/other", None, "rollout default/other not found", id="missing-rollout"),
    pytest.param("default/demo", "no-alb",
                 "rollout default/demo does not use ALB traffic routing "
                 "(spec.strategy.canary.trafficRouting.alb)",
                 id="not-alb"),
    pytest.param("default/demo", "invalid",
                 'InvalidSpec: The Rollout "demo" is invalid: spec.strategy.canary.steps: Invalid value: '
                 '"not-a-list": must be a list\n', id="invalid-spec"),
    pytest.param("default/demo", "unsupported-step",
                 'InvalidSpec: The Rollout "demo" is invalid: spec.strategy.canary.steps[1]: Invalid value: '
                 '"experiment": step type not supported by alb-rollouts yet\n', id="unsupported-step"),
    pytest.param("default/demo", "no-ingress", "ingress default/gone not found", id="missing-ingress"),
])
async def test_user_errors_exit_1(kube, moto_endpoint, capsys, key, mutate, message):
    server, kubeconfig = kube
    obj = rollout_obj()
    if mutate == "no-alb":
        del obj["spec"]["strategy"]["canary"]["trafficRouting"]
    elif mutate == "invalid":
        obj["spec"]["strategy"]["canary"]["steps"] = "not-a-list"
    elif mutate == "unsupported-step":
        obj["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 20}, {"experiment": {}}]
    elif mutate == "no-ingress":
        obj["spec"]["strategy"]["canary"]["trafficRouting"]["alb"]["ingress"] = "gone"
    seed(server, obj, "k8s-default-app-1.us-east-1.elb.amazonaws.com")
    args = cli.build_parser("verify").parse_args(["verify", "--rollout", key, "--kubeconfig", kubeconfig,
                                          "--aws-region", REGION, "--aws-endpoint-url", moto_endpoint])
    assert await verify.run_async(args) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith(f"alb-rollouts verify: {message}")


async def test_no_region_exits_1(kube, capsys):
    server, kubeconfig = kube
    seed(server, rollout_obj(), None)
    args = cli.build_parser("verify").parse_args(["verify", "--rollout", "default/demo",
                                                  "--kubeconfig", kubeconfig])
    assert await verify.run_async(args) == 1
    assert capsys.readouterr().err == (
        "alb-rollouts verify: elasticloadbalancing:CreateClient failed (NoRegion): no AWS region: set "
        "--aws-region, AWS_REGION or AWS_DEFAULT_REGION\n")


async def test_unreachable_cluster_exits_1(tmp_path, capsys):
    path = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    args = cli.build_parser("verify").parse_args(["verify", "--rollout", "default/demo",
                                                  "--kubeconfig", str(path),
                                          "--aws-region", REGION])
    assert await verify.run_async(args) == 1
    assert capsys.readouterr().err.startswith("alb-rollouts verify: reading rollout default/demo: ")


async def test_weight_out_of_range_exits_1(kube, moto_endpoint, capsys):
    server, kubeconfig = kube
    seed(server, rollout_obj(), None)
    assert await run_cli(kubeconfig, moto_endpoint, "--weight", "101") == 1
    assert capsys.readouterr().err == "alb-rollouts verify: --weight must be between 0 and 100, not 101\n"


@pytest.mark.parametrize(("replica_sets", "wanted", "why"), [
    pytest.param((("old", 2, 2), ("new", 1, 1)), 20, "current-set-weight", id="canary-ready"),
    pytest.param((("old", 2, 2), ("new", 1, 0)), 0, "canary-unavailable", id="canary-not-ready"),
    pytest.param((("old", 2, 2),), 0, "canary-unavailable", id="no-canary-replicaset"),
])
async def test_desired_weight_comes_from_the_replica_sets(kube, lbc, moto_endpoint, capsys, replica_sets,
                                                          wanted, why):
    """The planner decides from the cluster's ReplicaSets, as the controller would (ALB at 20 here)."""
    server, kubeconfig = kube
    alb, _, _ = await alb_for(lbc, (20, 80))
    seed(server, rollout_obj(), alb.dns, replica_sets=replica_sets)
    assert await run_cli(kubeconfig, moto_endpoint) == (0 if wanted == 20 else 3)
    out = capsys.readouterr()
    groups = json.loads(out.out)["ingresses"][0]["targetGroups"]
    assert [g["wanted"] for g in groups] == [wanted, 100 - wanted]
    if wanted != 20:
        assert out.err.startswith(
            f"alb-rollouts verify: rollout default/demo: the controller wants canary weight {wanted} "
            f"({why})\n")


async def test_unreachable_aws_endpoint_exits_1(kube, capsys):
    """Connection errors are retried (on a fake clock here) until the deadline, then reported."""
    server, kubeconfig = kube
    seed(server, rollout_obj(), "k8s-default-app-1.us-east-1.elb.amazonaws.com")
    clock = FakeClock()
    args = cli.build_parser("verify").parse_args([
        "verify", "--rollout", f"{NS}/demo", "--kubeconfig", kubeconfig, "--aws-region", REGION,
        "--aws-endpoint-url", "http://127.0.0.1:9"])
    fake = verify.Clock(monotonic=clock.monotonic, sleep=clock.sleep)
    assert await verify.run_async(args, clock=fake) == 1
    out = capsys.readouterr()
    assert json.loads(out.out)["awsCalls"] == {"DescribeLoadBalancers": verify.CLI_RETRY.max_attempts}
    assert out.err == (
        "alb-rollouts verify: ingress app: elasticloadbalancing:DescribeLoadBalancers failed "
        '(ConnectionError): Could not connect to the endpoint URL: "http://127.0.0.1:9/"\n')


@pytest.mark.parametrize(("value", "message"), [
    pytest.param("0", "must be more than 0 calls per second, got 0", id="zero"),
    pytest.param("-1", "must be more than 0 calls per second, got -1", id="negative"),
    pytest.param("nan", "must be more than 0 calls per second, got nan", id="nan"),
    pytest.param("fast", "must be a number of calls per second, got 'fast'", id="word"),
])
def test_max_rps_must_be_a_positive_number(value, message, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.build_parser("verify").parse_args(["verify", "--rollout", "a/b", "--aws-max-rps", value])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(f"argument --aws-max-rps: {message}\n")
