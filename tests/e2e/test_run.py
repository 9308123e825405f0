"""`alb-rollouts run` as a real process on the sandbox, seen from outside: its probes, metrics, debug API and
shutdown, with the real reconciler.

Covers: start-up logs the bound ports (JSON logs); /readyz turns 200 and the first deploy becomes Healthy with
its weights in the Ingress annotation; the debug API lists the Rollout with its state, describes it (state,
transitions with reasons, next look) and serves the machine; /metrics carries the reference families with the
Rollout's series, and no ELBv2 family without --aws-verify-target-group (no AWS client); SIGTERM stops it with
exit 0 and "stopped" logged.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sandbox import aws, demo
from sandbox.running import Sandbox
from tests.sandbox.polling import until

ROLLOUTS = "rollouts.argoproj.io"
INGRESSES = "ingresses.networking.k8s.io"


class Controller:
    """`python -m service.commands.run` (what `alb-rollouts run` runs) with its JSON log lines collected."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            text = line.decode()
            self.raw.append(text)
            try:
                self.lines.append(json.loads(text))
            except ValueError:
                continue

    def logged(self, msg: str) -> dict[str, Any] | None:
        return next((line for line in self.lines if line.get("msg") == msg), None)

    async def terminate(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 30)
        await self.reader
        return code


@pytest.fixture
async def world(moto_server: aws.MotoServer, aws_endpoint: str) -> AsyncIterator[Sandbox]:
    async with Sandbox(moto=moto_server, pod_ready_seconds=0.2, bookmark_interval=0.2,
                       watch_timeout=5.0) as made:
        yield made


@pytest.fixture
async def controller(world: Sandbox) -> AsyncIterator[Controller]:
    argv = [sys.executable, "-m", "service.commands.run", "--kubeconfig", str(world.kubeconfig),
            "--leader-elect=false", "--metricsPort", "0", "--healthzPort", "0",
            "--debug-address", "127.0.0.1:0", "--logformat", "json"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT, env=env)
    made = Controller(process)
    try:
        yield made
    finally:
        await made.terminate()


def _apply(world: Sandbox) -> None:
    plural = {"namespaces": "namespaces", "services": "services", "ingresses": INGRESSES,
              "rollouts": ROLLOUTS}
    for path, body in demo.objects():
        world.storage.create(plural[path.rsplit("/", 1)[-1]], body)


@pytest.mark.usefixtures("quiet_sandbox")
async def test_the_process_from_outside(world: Sandbox, controller: Controller) -> None:
    _apply(world)
    listening = await until(lambda: controller.logged("listening"), within=30, what="the listening line")
    health, metrics_port = listening["healthz_port"], listening["metrics_port"]
    debug = listening["debug_port"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def get(port: int, path: str) -> tuple[int, str]:
            async with http.get(f"http://127.0.0.1:{port}{path}") as reply:
                return reply.status, await reply.text()

        async def ready() -> bool:
            return (await get(health, "/readyz"))[0] == 200

        await until(ready, within=30, what="/readyz 200")

        def healthy() -> bool:
            found = world.storage.get(ROLLOUTS, demo.DEMO_NAMESPACE, "web") or {}
            return (found.get("status") or {}).get("phase") == "Healthy"

        await until(healthy, within=30, what="the first deploy Healthy")
        ingress = world.storage.get(INGRESSES, demo.DEMO_NAMESPACE, "web") or {}
        action = ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.web-stable"]
        assert json.loads(action)["ForwardConfig"]["TargetGroups"][-1] == {
            "ServiceName": "web-stable", "ServicePort": "80", "Weight": 100}

        async def settled() -> bool:  # promoted and no longer waiting for the stable targets
            return '"state": "Promoted"' in (await get(debug, "/rollouts"))[1]

        await until(settled, within=30, what="the debug API to show Promoted")
        status, body = await get(debug, "/rollouts")
        assert status == 200
        listed = json.loads(body)
        assert listed["leading"] is True
        assert [entry["key"] for entry in listed["rollouts"]] == ["demo/web"]
        status, body = await get(debug, "/rollouts/demo/web")
        described = json.loads(body)
        assert status == 200 and described["rollout"] == "demo/web"
        assert described["state"] == listed["rollouts"][0]["state"]
        assert {"transitions", "aws", "nextLook"} <= set(described)
        status, body = await get(debug, "/machine")
        assert status == 200 and json.loads(body)["transitions"]
        assert (await get(debug, "/rollouts/demo/nothing"))[0] == 404

        status, exposition = await get(metrics_port, "/metrics")
        assert status == 200
        for family in ('rollout_info{name="web",namespace="demo",', 'rollout_reconcile_count{name="web",',
                       'workqueue_adds_total{name="Rollouts"}', "controller_clientset_k8s_request_total{"):
            assert family in exposition, family
        # No ELBv2 client without verification, so none of its families.
        assert "aws_api_requests_total" not in exposition

    assert await controller.terminate() == 0, "".join(controller.raw)
    assert controller.logged("stopped") is not None
    assert controller.logged("controller started") is not None
