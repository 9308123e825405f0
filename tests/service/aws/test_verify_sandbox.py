"""`alb-rollouts verify` against the whole sandbox: the LBC simulator builds the ALB from the Ingress.

Aspects: our verifier agrees with the ALB, tags and TargetGroupBindings the LBC simulator makes; a weight the
LBC has not applied yet is reported (exit 3) until it is (exit 0); `--targets` finds the stable pods' IPs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import structlog

from sandbox.running import Sandbox
from service import cli
from service.commands import verify

NS = "default"
ACTION = "alb.ingress.kubernetes.io/actions.stable"
DEADLINE_SECONDS = 30.0


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def forward(canary: int, stable: int) -> str:
    groups = [{"ServiceName": "canary", "ServicePort": "80", "Weight": canary},
              {"ServiceName": "stable", "ServicePort": "80", "Weight": stable}]
    return json.dumps({"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}, separators=(",", ":"))


def seed(sandbox: Sandbox) -> None:
    storage = sandbox.storage
    for name, replicas in (("stable", 2), ("canary", 1)):
        storage.create("services", {"metadata": {"name": name, "namespace": NS}, "spec": {
            "selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
        labels = {"app": name}
        container = {"name": "app", "image": "app:1", "ports": [{"name": "http", "containerPort": 8080}]}
        storage.create("replicasets.apps", {"metadata": {"name": name, "namespace": NS}, "spec": {
            "replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}})
    storage.create("ingresses.networking.k8s.io", {
        "metadata": {"name": "app", "namespace": NS, "annotations": {ACTION: forward(0, 100)}},
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "stable", "port": {"name": "use-annotation"}}}}]}}]}})
    storage.create("rollouts.argoproj.io", {
        "metadata": {"name": "demo", "namespace": NS},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "stable"}},
                 "template": {"metadata": {"labels": {"app": "stable"}},
                              "spec": {"containers": [{"name": "c"}]}},
                 "strategy": {"canary": {"canaryService": "canary", "stableService": "stable",
                                         "trafficRouting": {"alb": {"ingress": "app", "servicePort": 80}},
                                         "steps": [{"setWeight": 20}, {"pause": {}}]}}}})
    storage.merge_patch("rollouts.argoproj.io", NS, "demo",
                        {"status": {"currentStepIndex": 0, "stableRS": "a", "currentPodHash": "b"}},
                        subresource="status")


async def verify_once(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    state = sandbox.state
    args = cli.build_parser("verify").parse_args([
        "verify", "--rollout", f"{NS}/demo", "--targets", "--kubeconfig", state.kubeconfig,
        "--aws-region", state.aws_region, "--aws-endpoint-url", state.aws_endpoint_url])
    code = await verify.run_async(args)
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


async def until_exit(sandbox: Sandbox, capsys: pytest.CaptureFixture[str], wanted: int) -> dict[str, Any]:
    async with asyncio.timeout(DEADLINE_SECONDS):
        while True:
            code, report = await verify_once(sandbox, capsys)
            if code == wanted:
                return report
            await asyncio.sleep(0.1)  # the LBC simulator applies changes on its own schedule


async def test_verify_follows_the_lbc_simulator(capsys, moto_endpoint):
    shared_moto: Any = SimpleNamespace(endpoint_url=moto_endpoint)  # the sandbox only reads its URL
    async with Sandbox(moto=shared_moto) as sandbox:
        seed(sandbox)
        before = await until_exit(sandbox, capsys, 3)
        assert before["verified"] is False
        assert before["ingresses"][0]["targetGroups"][0]["wanted"] == 20
        sandbox.storage.merge_patch("ingresses.networking.k8s.io", NS, "app",
                                    {"metadata": {"annotations": {ACTION: forward(20, 80)}}})
        after = await until_exit(sandbox, capsys, 0)
    assert [(g["service"], g["weight"], g["wanted"]) for g in after["ingresses"][0]["targetGroups"]] == [
        ("canary", 20, 20), ("stable", 80, 80)]
    assert [(t["service"], t["registered"], t["total"], t["verified"]) for t in after["targets"]] == [
        ("stable", 2, 2, True)]
