"""Blue-green end to end as a user drives it (issue 10): `kubectl apply` of k8s/examples/bluegreen/, the
kubectl plugin's exact patches sent with `kubectl patch`, `alb-rollouts run --aws-verify-target-group` as a
real process (killed with SIGKILL and started again), the LBC simulator registering and draining targets
with a delay, and a traffic probe through the ALB every 0.1 s from the first deploy to the end.

Covers, each with zero failed probe requests:
- manual promotion: an update waits in `BlueGreenPause` behind the preview Service, `promote` switches the
  active Service, the old ReplicaSet is scaled down after `scaleDownDelaySeconds`;
- abort (the active Service stays on the stable pods, phase Degraded), retry (back to the pause),
  `promote --full` (no pause, straight to the new version);
- rollback to the previous revision's template: the same ReplicaSet (same name) becomes active again;
- a controller killed with SIGKILL mid-update and started again: the update goes on from the status, no pod
  is recreated and nothing is switched before the promote;
- auto-promotion after `autoPromotionSeconds`, with no user action;
- the LBC simulator paused: the cutover holds (status.blueGreen.activeSelector and stableRS stay on the old
  version, the old ReplicaSet keeps its pods, undated) until the new targets are registered and healthy,
  then completes once the LBC runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from sandbox import aws, demo, traffic
from sandbox.running import Sandbox, SandboxState

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None,
                                reason="kubectl is not installed (apt-get install kubernetes-client)")

EXAMPLE = Path(__file__).resolve().parents[2] / "k8s" / "examples" / "bluegreen" / "rollout.yaml"
NS = "shop"
NAME, ACTIVE, PREVIEW, INGRESS = "alb-bluegreen", "alb-bluegreen-active", "alb-bluegreen-preview", \
    "alb-bluegreen-ingress"
ROLLOUTS, REPLICASETS = "rollouts.argoproj.io", "replicasets.apps"
HASH = "rollouts-pod-template-hash"
DEADLINE = "scale-down-deadline"
# The plugin's merge patches (reference blue-green §8), byte for byte; all but pause go to /status.
PROMOTE = '{"status":{"pauseConditions":null}}'
PROMOTE_FULL = '{"status":{"promoteFull":true}}'
ABORT = '{"status":{"abort":true}}'
RETRY = '{"status":{"abort":false}}'
LBC = {"targetRegistrationSeconds": 0.3, "targetInitialSeconds": 0.3, "deregistrationDelaySeconds": 0.5}
WITHIN = 40.0


# ---- the user's tools --------------------------------------------------------------------------------------


class Kubectl:
    """kubectl 1.32 against the sandbox, with its own HOME (discovery cache)."""

    def __init__(self, state: SandboxState, home: Path) -> None:
        self.kubeconfig = state.kubeconfig
        self.home = home
        self.env = {**os.environ, "HOME": str(home)}

    async def __call__(self, *args: str) -> str:
        assert KUBECTL is not None
        process = await asyncio.create_subprocess_exec(
            KUBECTL, "--kubeconfig", self.kubeconfig, *args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
        return out.decode()

    async def apply(self, documents: list[dict[str, Any]], name: str = "manifest.yaml") -> None:
        path = self.home / name
        path.write_text(yaml.safe_dump_all(documents))
        await self("apply", "--validate=false", "-n", NS, "-f", str(path))

    async def plugin(self, body: str) -> None:
        """What `kubectl argo rollouts promote|abort|retry` sends: a merge patch of the status subresource."""
        out = await self("patch", "rollout", NAME, "-n", NS, "--subresource=status", "--type=merge",
                         "-p", body)
        assert out == f"rollout.argoproj.io/{NAME} patched\n"

    async def rollout(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(await self("get", "rollout", NAME, "-n", NS, "-o", "json"))
        return found


class Controller:
    """`alb-rollouts run` as the demo starts it, one process at a time; its log kept for failures."""

    def __init__(self, state: SandboxState, log_dir: Path) -> None:
        self.state = state
        self.log_dir = log_dir
        self.process: asyncio.subprocess.Process | None = None
        self.started = 0

    async def start(self) -> None:
        argv = [sys.executable, "-m", "service.commands.run", *demo.controller_command(self.state)[2:]]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_EC2_METADATA_DISABLED": "true", "PYTHONUNBUFFERED": "1",
               "ROLLOUT_VERIFY_RETRY_INTERVAL": "0.3s"}
        self.started += 1
        with (self.log_dir / f"controller-{self.started}.log").open("w") as log:
            self.process = await asyncio.create_subprocess_exec(
                *argv, stdout=log, stderr=asyncio.subprocess.STDOUT, env=env)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no Lease release, nothing flushed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def log(self) -> str:
        return "\n".join(path.read_text()[-3000:] for path in sorted(self.log_dir.glob("controller-*.log")))


class Probe:
    """Requests through the ALB every 0.1 s, with what failed and when."""

    def __init__(self, world: Sandbox, elbv2: Any) -> None:
        self.world, self.elbv2 = world, elbv2
        self.requests = self.failed = 0
        self.failures: list[str] = []

    async def run(self) -> None:
        seed = 0
        while True:
            seed += 1
            result = await traffic.probe(self.world.storage, self.elbv2, NS, INGRESS, requests=10, seed=seed)
            self.requests += result.requests
            if result.failed:
                self.failed += result.failed
                active = self.world.storage.get("services", NS, ACTIVE) or {}
                self.failures.append(f"{time.strftime('%X')}: {result.failed}/{result.requests} failed; "
                                     f"active selector {active.get('spec', {}).get('selector')}")
            await asyncio.sleep(0.1)


class User:
    """The sandbox, kubectl, the controller and the probe of one test."""

    def __init__(self, world: Sandbox, kubectl: Kubectl, controller: Controller, probe: Probe,
                 session: aiohttp.ClientSession) -> None:
        self.world, self.kubectl, self.controller, self.probe = world, kubectl, controller, probe
        self.session = session
        self.documents = list(yaml.safe_load_all(EXAMPLE.read_text()))

    @property
    def manifest(self) -> dict[str, Any]:
        found: dict[str, Any] = next(d for d in self.documents if d["kind"] == "Rollout")
        return found

    def status(self) -> dict[str, Any]:
        found = self.world.storage.get(ROLLOUTS, NS, NAME) or {}
        return dict(found.get("status") or {})

    def replicasets(self) -> dict[str, dict[str, Any]]:
        return {str(rs["metadata"]["labels"][HASH]): rs for rs in self.world.storage.list(REPLICASETS, NS)}

    def selects(self, service: str) -> str | None:
        found = self.world.storage.get("services", NS, service) or {}
        selected = found.get("spec", {}).get("selector", {}).get(HASH)
        return None if selected is None else str(selected)

    def pods(self) -> dict[str, str]:
        """uid -> pod-template hash of every pod not being deleted."""
        return {str(p["metadata"]["uid"]): str(p["metadata"]["labels"].get(HASH))
                for p in self.world.storage.list("pods", NS) if not p["metadata"].get("deletionTimestamp")}

    async def lbc(self, knobs: dict[str, Any]) -> None:
        async with self.session.post(f"{self.world.state.control}/lbc", json=knobs) as reply:
            assert reply.status == 200, await reply.text()

    async def until(self, done: Callable[[], bool], what: str, within: float = WITHIN) -> None:
        deadline = time.monotonic() + within
        while not done():
            if self.controller.process is not None and self.controller.process.returncode is not None:
                raise AssertionError(f"the controller exited while waiting for {what}:\n"
                                     f"{self.controller.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {within}s: {what}; status {self.status()}\n"
                                     f"{self.controller.log()}")
            await asyncio.sleep(0.05)

    async def hold(self, seconds: float, still: Callable[[], bool], what: str) -> None:
        """`still()` holds at every look for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert still(), f"{what}: status {self.status()}"
            await asyncio.sleep(0.05)

    async def set_image(self, image: str) -> None:
        self.manifest["spec"]["template"]["spec"]["containers"][0]["image"] = image
        await self.kubectl.apply(self.documents)

    async def set_strategy(self, **fields: Any) -> None:
        self.manifest["spec"]["strategy"]["blueGreen"].update(fields)
        await self.kubectl.apply(self.documents)

    def healthy_on(self, pod_hash: str) -> bool:
        status = self.status()
        return (status.get("phase") == "Healthy" and status.get("stableRS") == pod_hash
                and self.selects(ACTIVE) == pod_hash and self.selects(PREVIEW) == pod_hash)

    def paused(self) -> bool:
        status = self.status()
        return (status.get("phase") == "Paused"
                and [c.get("reason") for c in status.get("pauseConditions") or []] == ["BlueGreenPause"])

    async def updated(self, image: str) -> tuple[str, str]:
        """Set the image; (the stable hash, the new one) once the new ReplicaSet exists."""
        old = str(self.status()["stableRS"])
        await self.set_image(image)
        await self.until(lambda: self.status().get("currentPodHash") not in (None, old), "the new ReplicaSet")
        return old, str(self.status()["currentPodHash"])

    async def scaled_down(self, pod_hash: str) -> None:
        await self.until(lambda: self.replicasets()[pod_hash]["spec"]["replicas"] == 0,
                         f"ReplicaSet {pod_hash} scaled down")


@pytest.fixture
async def user(moto_server: aws.MotoServer, aws_endpoint: str, tmp_path: Path) -> AsyncIterator[User]:
    async with contextlib.AsyncExitStack() as stack:
        world = await stack.enter_async_context(Sandbox(moto=moto_server, pod_ready_seconds=0.2))
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)))
        elbv2 = await stack.enter_async_context(aws.client("elbv2", world.state.aws_endpoint_url))
        kubectl = Kubectl(world.state, tmp_path)
        controller = Controller(world.state, tmp_path)
        stack.push_async_callback(controller.stop)
        probe = Probe(world, elbv2)
        found = User(world, kubectl, controller, probe, session)
        await kubectl.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}], "ns.yaml")
        strategy = found.manifest["spec"]["strategy"]["blueGreen"]
        strategy.update(autoPromotionEnabled=False, scaleDownDelaySeconds=2)
        found.manifest["spec"]["replicas"] = 2
        await kubectl.apply(found.documents)
        await controller.start()
        await found.until(lambda: found.status().get("phase") == "Healthy", "the first deploy")
        await found.lbc(LBC)

        async def serves() -> bool:
            return (await traffic.probe(world.storage, elbv2, NS, INGRESS, requests=10)).failed == 0

        deadline = time.monotonic() + WITHIN
        while not await serves():
            assert time.monotonic() < deadline, "the first deploy never served"
            await asyncio.sleep(0.1)
        sampling = asyncio.create_task(probe.run())
        try:
            yield found
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling


def _no_failed_request(user: User) -> None:
    assert user.probe.requests > 0
    assert user.probe.failed == 0, "\n".join(user.probe.failures)


async def test_promote_abort_retry_full_rollback_and_a_killed_controller(user: User) -> None:
    # an update waits behind the preview Service until `kubectl argo rollouts promote`
    v1, v2 = await user.updated("nginx:1.28-alpine")
    await user.until(user.paused, "BlueGreenPause")
    assert (user.selects(ACTIVE), user.selects(PREVIEW)) == (v1, v2)
    assert user.status()["blueGreen"] == {"activeSelector": v1, "previewSelector": v2}
    await user.kubectl.plugin(PROMOTE)
    await user.until(lambda: user.healthy_on(v2), "promoted to v2")
    await user.scaled_down(v1)

    # abort: the active Service stays on v2; retry: back to the pause; promote --full: v3 without a pause
    _, v3 = await user.updated("nginx:1.29-alpine")
    await user.until(user.paused, "BlueGreenPause for v3")
    await user.kubectl.plugin(ABORT)
    await user.until(lambda: user.status().get("phase") == "Degraded" and user.status().get("abort") is True,
                     "aborted")
    assert user.selects(ACTIVE) == v2 and user.status()["stableRS"] == v2
    assert (await user.kubectl.rollout())["status"]["message"].startswith("RolloutAborted: ")
    await user.kubectl.plugin(RETRY)
    await user.until(user.paused, "BlueGreenPause again after retry")
    assert user.selects(ACTIVE) == v2
    await user.kubectl.plugin(PROMOTE_FULL)
    await user.until(lambda: user.healthy_on(v3), "fully promoted to v3")
    assert "promoteFull" not in user.status()
    await user.scaled_down(v2)

    # back to v2's template: v2's own ReplicaSet comes back, behind the pause
    back, again = await user.updated("nginx:1.28-alpine")
    assert (back, again) == (v3, v2)
    await user.until(lambda: user.paused() and user.replicasets()[v2]["status"].get("readyReplicas") == 2,
                     "v2 back behind the pause")
    assert user.replicasets()[v2]["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "4"

    # SIGKILL mid-update; the next process goes on from the status: no pod recreated, nothing switched
    pods = user.pods()
    await user.controller.kill()
    await user.controller.start()
    await user.hold(3.0, lambda: user.paused() and user.selects(ACTIVE) == v3 and user.pods() == pods,
                    "the restarted controller changed something before the promote")
    await user.kubectl.plugin(PROMOTE)
    await user.until(lambda: user.healthy_on(v2), "promoted back to v2")
    assert set(user.pods().values()) >= {v2} and all(
        uid in pods for uid, pod_hash in user.pods().items() if pod_hash == v2)
    await user.scaled_down(v3)
    _no_failed_request(user)


async def test_auto_promotion_and_a_cutover_held_by_a_stopped_lbc(user: User) -> None:
    await user.set_strategy(autoPromotionEnabled=True, autoPromotionSeconds=2)

    # auto-promotion: paused for autoPromotionSeconds, then switched with nobody doing anything
    v1, v2 = await user.updated("nginx:1.28-alpine")
    await user.until(user.paused, "BlueGreenPause")
    paused_at = time.monotonic()
    await user.until(lambda: user.healthy_on(v2), "auto-promoted to v2")
    assert time.monotonic() - paused_at >= 1.0
    await user.scaled_down(v1)

    # the LBC stops: nothing registers v3's pods, so the cutover holds and v2 keeps its pods
    await user.lbc({"paused": True})
    _, v3 = await user.updated("nginx:1.29-alpine")
    await user.until(lambda: user.replicasets()[v3]["status"].get("readyReplicas") == 2, "v3's pods ready")

    def held() -> bool:
        status = user.status()
        v2_rs = user.replicasets()[v2]
        return (status.get("stableRS") == v2 and status.get("blueGreen", {}).get("activeSelector") == v2
                and v2_rs["spec"]["replicas"] == 2
                and DEADLINE not in (v2_rs["metadata"].get("annotations") or {}))

    await user.hold(3.0, held, "the cutover went ahead with the LBC stopped")
    await user.lbc({"paused": False})
    await user.until(lambda: user.healthy_on(v3), "promoted to v3 once the LBC runs again")
    await user.scaled_down(v2)
    assert user.status()["blueGreen"] == {"activeSelector": v3, "previewSelector": v3}
    _no_failed_request(user)
