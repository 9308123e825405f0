"""`alb-rollouts verify` when things go wrong: throttling, denied access, unreachable endpoints, bad input.

Aspects: a throttling proxy in front of moto (still exit 0, retries counted, slower on a fake clock);
AccessDenied (exit 1 naming the IAM action); user errors, each with its exact message (bad key, missing
rollout, missing ingress, not ALB, InvalidSpec, unsupported step); no region; unreachable cluster; unreachable
AWS endpoint (retried on a fake clock, then exit 1); a Kubernetes error names what was read; a slow cluster
is cut by the call deadline; --weight out of range; a bad --aws-max-rps.
"""

from __future__ import annotations

import json

import pytest

from sandbox.apiserver.kubeconfig import write_kubeconfig
from service import cli
from service.commands import verify

from .conftest import REGION, FakeClock
from .verify_setup import NS, alb_for, rollout_obj, run_cli, seed


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
                                                  "--kubeconfig", str(path), "--aws-region", REGION])
    assert await verify.run_async(args) == 1
    assert capsys.readouterr().err.startswith(
        "alb-rollouts verify: reading rollout default/demo: ClientConnectorError: Cannot connect to host "
        "127.0.0.1:9")


async def test_weight_out_of_range_exits_1(kube, moto_endpoint, capsys):
    server, kubeconfig = kube
    seed(server, rollout_obj(), None)
    assert await run_cli(kubeconfig, moto_endpoint, "--weight", "101") == 1
    assert capsys.readouterr().err == "alb-rollouts verify: --weight must be between 0 and 100, not 101\n"



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


async def test_kubernetes_error_names_what_was_read(kube, moto_endpoint, capsys):
    server, kubeconfig = kube
    seed(server, rollout_obj(), "k8s-default-app-1.us-east-1.elb.amazonaws.com")
    server.faults.fail_next("list", "replicasets", code=403)
    assert await run_cli(kubeconfig, moto_endpoint) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == "alb-rollouts verify: reading replicasets in default: HTTP 403 Forbidden\n"


async def test_slow_cluster_is_cut_by_the_kubernetes_deadline(kube, moto_endpoint, capsys, monkeypatch):
    server, kubeconfig = kube
    seed(server, rollout_obj(), None)
    monkeypatch.setattr(verify, "KUBE_TIMEOUT_SECONDS", 0.2)
    server.faults.set_latency(0.5, "get", "rollouts")
    assert await run_cli(kubeconfig, moto_endpoint) == 1
    assert capsys.readouterr().err == (
        "alb-rollouts verify: reading rollout default/demo: no answer within 0.2s\n")
