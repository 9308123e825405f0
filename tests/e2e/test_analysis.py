"""Canary analysis end to end (issue 11): `kubectl apply` of an AnalysisTemplate and two canary Rollouts
with background analysis (from step 1) and an analysis step, `alb-rollouts run --aws-verify-target-group`
as a real process (the Rollout side and the AnalysisRun controller), and a web metric served by an aiohttp
peer this test controls.

Covers: the Rollout whose metric passes gets its background and step AnalysisRuns measured to Successful
and is promoted (phase Healthy); the one whose metric fails is aborted by its Failed background run (phase
Degraded, the reference's message naming the analysis, canary weight back to 0); `kubectl get analysisrun
-o yaml` reads like upstream's (owner, labels, the template's metric with the args put in,
`status.metricResults` with measurements, `runSummary`); what Argo CD's Rollout health check reads
(`status.phase`) is Progressing while the analysis runs and Degraded once aborted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from sandbox import aws
from sandbox.running import Sandbox

from .test_bluegreen_kubectl import KUBECTL, Controller, Kubectl

pytestmark = pytest.mark.skipif(KUBECTL is None,
                                reason="kubectl is not installed (apt-get install kubernetes-client)")

NS = "shop"
ROLLOUTS, RUNS = "rollouts.argoproj.io", "analysisruns.argoproj.io"


def _template(port: int) -> dict[str, Any]:
    metric = {"name": "healthy", "interval": "1s", "count": 2, "failureLimit": 0,
              "successCondition": "result == true",
              "provider": {"web": {"url": f"http://127.0.0.1:{port}/{{{{args.path}}}}",
                                   "jsonPath": "{$.ok}"}}}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": "health", "namespace": NS},
            "spec": {"args": [{"name": "path"}], "metrics": [metric]}}


def _objects(name: str, path: str, image: str = "nginx:1.27") -> list[dict[str, Any]]:
    labels = {"app": name}
    services = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-{role}"},
                 "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
                for role in ("stable", "canary")]
    backend = {"service": {"name": f"{name}-stable", "port": {"name": "use-annotation"}}}
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": name, "annotations": {"alb.ingress.kubernetes.io/target-type": "ip"}},
               "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [
                   {"path": "/", "pathType": "Prefix", "backend": backend}]}}]}}
    analysis = {"templates": [{"templateName": "health"}], "args": [{"name": "path", "value": path}]}
    steps = [{"setWeight": 20}, {"analysis": analysis}, {"setWeight": 50}, {"pause": {"duration": "2s"}}]
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": name},
               "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                        "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                            {"name": "web", "image": image,
                             "ports": [{"name": "http", "containerPort": 80}]}]}},
                        "strategy": {"canary": {
                            "canaryService": f"{name}-canary", "stableService": f"{name}-stable",
                            "trafficRouting": {"alb": {"ingress": name, "servicePort": 80}},
                            "analysis": {**analysis, "startingStep": 1},
                            "steps": steps}}}}
    return [*services, ingress, rollout]


@pytest.fixture
async def metric_peer() -> AsyncIterator[int]:
    """`/good` answers ok, `/bad` not: the web metric's two verdicts."""
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"ok": request.match_info["path"] == "good"})

    app = web.Application()
    app.router.add_get("/{path}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield int(runner.addresses[0][1])
    await runner.cleanup()


def _status(world: Sandbox, name: str) -> dict[str, Any]:
    found = world.storage.get(ROLLOUTS, NS, name) or {}
    return dict(found.get("status") or {})


async def _until(controller: Controller, done: Any, what: str, within: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not done():
        assert controller.process is not None and controller.process.returncode is None, controller.log()
        assert asyncio.get_running_loop().time() < deadline, (
            f"not within {within}s: {what}\n{controller.log()}")
        await asyncio.sleep(0.05)


@pytest.mark.usefixtures("quiet_sandbox")
async def test_a_passing_analysis_promotes_and_a_failing_one_aborts(
        moto_server: aws.MotoServer, aws_endpoint: str, tmp_path: Path, metric_peer: int) -> None:
    async with contextlib.AsyncExitStack() as stack:
        world = await stack.enter_async_context(Sandbox(moto=moto_server, pod_ready_seconds=0.2))
        kubectl = Kubectl(world.state, tmp_path)
        controller = Controller(world.state, tmp_path)
        stack.push_async_callback(controller.stop)
        await kubectl.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}], "ns.yaml")
        await kubectl.apply([_template(metric_peer), *_objects("good", "good"), *_objects("bad", "bad")])
        await controller.start()
        await _until(controller, lambda: all(
            _status(world, n).get("phase") == "Healthy" for n in ("good", "bad")), "the first deploys")
        for name, path in (("good", "good"), ("bad", "bad")):
            await kubectl.apply(_objects(name, path, image="nginx:1.28"), f"{name}.yaml")

        phases: dict[str, set[str]] = {"good": set(), "bad": set()}

        def finished() -> bool:
            for name in phases:
                phases[name].add(str(_status(world, name).get("phase")))
            good, bad = _status(world, "good"), _status(world, "bad")
            return (good.get("phase") == "Healthy" and good.get("stableRS") == good.get("currentPodHash")
                    and bad.get("phase") == "Degraded"
                    and bad.get("canary", {}).get("weights", {}).get("canary", {}).get("weight") == 0)

        await _until(controller, finished, "good promoted and bad aborted")
        assert "Progressing" in phases["good"] and "Progressing" in phases["bad"]  # Argo CD: Progressing
        bad = _status(world, "bad")
        assert bad["abort"] is True
        assert bad["message"].startswith("RolloutAborted: Rollout aborted update to revision 2: ")
        assert "analysis phase error/failed: " in bad["message"]

        runs = {r["metadata"]["name"]: r for r in yaml.safe_load(
            await kubectl("get", "analysisrun", "-n", NS, "-o", "yaml"))["items"]}
        good_hash, bad_hash = _status(world, "good")["currentPodHash"], bad["currentPodHash"]
        good_run, bad_run = runs[f"good-{good_hash}-2-1"], runs[f"bad-{bad_hash}-2"]
        background = runs[f"good-{good_hash}-2"]
        assert background["metadata"]["labels"]["rollout-type"] == "Background"
        assert background["status"]["phase"] == "Successful"
        assert bad_run["metadata"]["labels"]["rollout-type"] == "Background"
        assert good_run["metadata"]["ownerReferences"][0]["name"] == "good"
        assert good_run["metadata"]["labels"] == {"rollouts-pod-template-hash": good_hash,
                                                  "rollout-type": "Step", "step-index": "1", "app": "good"}
        assert good_run["spec"]["args"] == [{"name": "path", "value": "good"}]
        assert good_run["status"]["phase"] == "Successful"
        [result] = good_run["status"]["metricResults"]
        assert (result["name"], result["phase"], result["count"], result["successful"]) == (
            "healthy", "Successful", 2, 2)
        assert all(m["phase"] == "Successful" and m["value"] == "true" and m["startedAt"] and m["finishedAt"]
                   for m in result["measurements"])
        assert good_run["status"]["runSummary"] == {"count": 1, "successful": 1}
        assert bad_run["status"]["phase"] == "Failed"
        assert bad_run["status"]["metricResults"][0]["measurements"][0]["value"] == "false"
        assert bad["message"].endswith(f': {bad_run["status"]["message"]}')
