"""`alb-rollouts verify` against the sandbox API emulator (kubernetes-asyncio) and moto (aiobotocore).

Aspects: verified (exit 0, exact JSON), not yet verified (exit 3, reason on stderr), `--weight`, no hostname
yet, `--targets` with registered and missing pod IPs, ping-pong; without `--weight` the desired weight comes
from the planner fed with the cluster's ReplicaSets (canary ready, not ready, missing).
"""

from __future__ import annotations

import json

import pytest

from .verify_setup import alb_for, rollout_obj, run_cli, seed, target_objects


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
