"""`alb-rollouts verify` against the whole sandbox: the LBC simulator builds the ALB from the Ingress.

Aspects: our verifier agrees with the ALB, tags and TargetGroupBindings the LBC simulator makes; the desired
weight comes from the planner reading the cluster's ReplicaSets (pods made ready by the sandbox); a weight the
LBC has not applied yet is reported (exit 3) until it is (exit 0); `--targets` finds the stable pods' IPs.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.running import Sandbox
from service import cli
from service.commands import verify

NS = "default"
ACTION = "alb.ingress.kubernetes.io/actions.stable"
HASH_LABEL = "rollouts-pod-template-hash"
DEADLINE_SECONDS = 30.0


def forward(canary: int, stable: int) -> str:
    groups = [{"ServiceName": "canary", "ServicePort": "80", "Weight": canary},
              {"ServiceName": "stable", "ServicePort": "80", "Weight": stable}]
    return json.dumps({"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}, separators=(",", ":"))


def seed(sandbox: Sandbox) -> None:
    """A Rollout at setWeight 20 with its ReplicaSets (stable `a`, canary `b`) as the controller left them."""
    storage = sandbox.storage
    template = {"metadata": {"labels": {"app": "demo"}}, "spec": {"containers": [
        {"name": "app", "image": "app:1", "ports": [{"name": "http", "containerPort": 8080}]}]}}
    rollout = storage.create("rollouts.argoproj.io", {
        "metadata": {"name": "demo", "namespace": NS},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "demo"}}, "template": template,
                 "strategy": {"canary": {"canaryService": "canary", "stableService": "stable",
                                         "trafficRouting": {"alb": {"ingress": "app", "servicePort": 80}},
                                         "steps": [{"setWeight": 20}, {"pause": {}}]}}}})
    storage.merge_patch("rollouts.argoproj.io", NS, "demo",
                        {"status": {"currentStepIndex": 0, "stableRS": "a", "currentPodHash": "b"}},
                        subresource="status")
    owner = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "demo",
             "uid": rollout["metadata"]["uid"], "controller": True}
    for service, pod_hash, replicas in (("stable", "a", 2), ("canary", "b", 1)):
        labels = {"app": "demo", HASH_LABEL: pod_hash}
        storage.create("services", {"metadata": {"name": service, "namespace": NS}, "spec": {
            "selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
        storage.create("replicasets.apps", {
            "metadata": {"name": f"demo-{pod_hash}", "namespace": NS, "labels": labels,
                         "ownerReferences": [owner]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {**template, "metadata": {"labels": labels}}}})
    storage.create("ingresses.networking.k8s.io", {
        "metadata": {"name": "app", "namespace": NS, "annotations": {ACTION: forward(0, 100)}},
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "stable", "port": {"name": "use-annotation"}}}}]}}]}})


async def verify_once(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    state = sandbox.state
    args = cli.build_parser("verify").parse_args([
        "verify", "--rollout", f"{NS}/demo", "--targets", "--kubeconfig", state.kubeconfig,
        "--aws-region", state.aws_region, "--aws-endpoint-url", state.aws_endpoint_url])
    code = await verify.run_async(args)
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


async def until_exit(sandbox: Sandbox, capsys: pytest.CaptureFixture[str], wanted: int,
                     weights: list[int | None]) -> dict[str, Any]:
    """Verify until the exit code and the weights the ALB shows are the ones wanted."""
    async with asyncio.timeout(DEADLINE_SECONDS):
        while True:
            code, report = await verify_once(sandbox, capsys)
            seen = [g["weight"] for g in report["ingresses"][0]["targetGroups"]] if report else []
            if code == wanted and seen == weights:
                return report
            await asyncio.sleep(0.1)  # the LBC simulator applies changes on its own schedule


async def test_verify_follows_the_lbc_simulator(capsys, moto_endpoint):
    shared_moto: Any = SimpleNamespace(endpoint_url=moto_endpoint)  # the sandbox only reads its URL
    async with Sandbox(moto=shared_moto) as sandbox:
        seed(sandbox)
        # The canary pod must be ready before the planner wants 20 (until then it wants 0, which the ALB has).
        before = await until_exit(sandbox, capsys, 3, [0, 100])
        assert before["verified"] is False
        assert [g["wanted"] for g in before["ingresses"][0]["targetGroups"]] == [20, 80]
        sandbox.storage.merge_patch("ingresses.networking.k8s.io", NS, "app",
                                    {"metadata": {"annotations": {ACTION: forward(20, 80)}}})
        after = await until_exit(sandbox, capsys, 0, [20, 80])
    assert [(g["service"], g["weight"], g["wanted"]) for g in after["ingresses"][0]["targetGroups"]] == [
        ("canary", 20, 20), ("stable", 80, 80)]
    assert [(t["service"], t["registered"], t["total"], t["verified"]) for t in after["targets"]] == [
        ("stable", 2, 2, True)]
