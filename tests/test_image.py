"""The image `make image` built (build/image/oci), run as a container runtime runs it, against the sandbox.

Covers:
- the image's config: the non-root user 10001 (as the Dockerfile and k8s/base), Entrypoint `alb-rollouts`,
  Cmd `run`;
- what is in its root filesystem: the product's two packages and its console script, and none of sandbox,
  tests, moto or pytest;
- its entrypoint, started by image/oci_run.py (read-only root filesystem, tmpfs /tmp, the host's network) with
  `run` and the demo's flags against an in-process sandbox: the process runs as uid 10001; the demo's Rollout
  (sandbox.demo_manifests) goes Healthy on its first deploy, then, after an image change, its canary is seen
  at the first step's 20% in the Ingress annotation (verified against the ALB in ELBv2, flag
  `--aws-verify-target-group`) and ends Healthy on the new ReplicaSet with all traffic on it;
- SIGTERM stops it cleanly (exit status 0).

Skipped, with the reason, where the image has not been built (`make image`; this test never builds it, which
takes about a minute) or was built from other source than the working tree's (its label
`alb-rollouts.source-digest`), where this is not root (mounts and chroot), or where umoci or util-linux is
missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from sandbox import aws, demo
from sandbox.demo_manifests import ACTION_KEY, CANARY, IMAGES, INGRESSES_PATH, ROLLOUTS_PATH, STABLE, objects
from sandbox.demo_manifests import ROLLOUT as NAME
from sandbox.demo_manifests import template as pod_template
from sandbox.running import Sandbox


def _load_runner() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "image" / "oci_run.py"
    spec = importlib.util.spec_from_file_location("oci_run", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


oci_run = _load_runner()
LAYOUT: Path = oci_run.DEFAULT_LAYOUT
APP_UID = 10001


def _why_skip() -> str | None:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "running the image needs root on Linux (mount namespaces, chroot)"
    if missing := oci_run.missing_tools():
        return f"missing {', '.join(missing)} to run the image (make image installs umoci)"
    if not (LAYOUT / "index.json").exists():
        return f"no image built at {LAYOUT}: run `make image` first (it takes about a minute)"
    built_from = oci_run.image_config(LAYOUT, "latest").get("Labels", {}).get(oci_run.SOURCE_LABEL)
    if built_from != oci_run.source_digest():
        return f"the image at {LAYOUT} was built from other source than this working tree: run `make image`"
    return None


pytestmark = [pytest.mark.skipif(_why_skip() is not None, reason=_why_skip() or ""),
              pytest.mark.usefixtures("no_task_left_running")]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The image's root filesystem, unpacked once by umoci (about 8 s); removed afterwards (150 MB)."""
    target = oci_run.unpack(LAYOUT, "latest", tmp_path_factory.mktemp("image") / "rootfs")
    yield target
    shutil.rmtree(target, ignore_errors=True)


def test_the_image_config_runs_alb_rollouts_as_a_non_root_user() -> None:
    config = oci_run.image_config(LAYOUT, "latest")
    assert config["User"] == f"{APP_UID}:{APP_UID}"
    assert config["Entrypoint"] == ["alb-rollouts"]
    assert config["Cmd"] == ["run"]
    assert "PYTHONDONTWRITEBYTECODE=1" in config["Env"]


def test_the_image_holds_the_product_and_no_test_or_sandbox_code(rootfs: Path) -> None:
    site = rootfs / "usr/local/lib/python3.11/dist-packages"
    assert (site / "service" / "cli.py").is_file()
    assert (site / "statemachine").is_dir()
    assert (rootfs / "usr/local/bin/alb-rollouts").is_file()
    present = {path.name for path in site.iterdir()}
    assert not present & {"sandbox", "tests", "moto", "pytest", "_pytest"}, present


def _weights(ingress: dict[str, Any]) -> dict[str, int]:
    """Service -> weight in the Ingress's weighted-forward action annotation."""
    text = ingress.get("metadata", {}).get("annotations", {}).get(ACTION_KEY)
    if not text:
        return {}
    groups = json.loads(text)["ForwardConfig"]["TargetGroups"]
    return {str(group["ServiceName"]): int(group["Weight"]) for group in groups}


class _Running:
    """The image's entrypoint as a process, its log kept for failure messages."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process, self.log_path = process, log

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@contextlib.asynccontextmanager
async def _run_image(rootfs: Path, world: Sandbox, folder: Path) -> AsyncIterator[_Running]:
    # The sandbox's kubeconfig, readable by the image's user at /tmp/kubeconfig (the folder is bound there).
    mounted = folder / "mounted"
    mounted.mkdir(mode=0o755)
    shutil.copyfile(world.state.kubeconfig, mounted / "kubeconfig")
    (mounted / "kubeconfig").chmod(0o644)
    command = demo.controller_command(world.state)
    args = command[command.index("run"):]  # the demo's `run` and its flags, the kubeconfig as mounted
    args[args.index("--kubeconfig") + 1] = "/tmp/kubeconfig"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_EC2_METADATA_DISABLED": "true", "ROLLOUT_VERIFY_RETRY_INTERVAL": "0.3s"}
    argv = oci_run.command(rootfs, oci_run.image_config(LAYOUT, "latest"), args, env, [(mounted, "/tmp")])
    log_path = folder / "controller.log"
    with log_path.open("w") as log:
        process = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=asyncio.subprocess.STDOUT,
                                                       start_new_session=True)
    running = _Running(process, log_path)
    try:
        yield running
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()


async def _until(running: _Running, done: Callable[[], Any], what: str, within: float) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while not (value := await done()):
        assert running.process.returncode is None, f"the image's process exited: {running.log()}"
        assert asyncio.get_running_loop().time() < deadline, f"not within {within}s: {what}\n{running.log()}"
        await asyncio.sleep(0.1)
    return value


def _uid(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


async def test_the_images_entrypoint_runs_a_canary_to_healthy_in_the_sandbox(
        moto_server: aws.MotoServer, aws_endpoint: str, rootfs: Path, tmp_path: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        world = await stack.enter_async_context(Sandbox(moto=moto_server, pod_ready_seconds=0.2))
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)))
        kube = demo.kube_client(session, world.state.api_server)
        for path, body in objects():
            await kube.create(path, body)
        running = await stack.enter_async_context(_run_image(rootfs, world, tmp_path))

        async def as_app_user() -> bool:
            return _uid(running.process.pid) == APP_UID

        async def seen() -> tuple[dict[str, Any], dict[str, int]]:
            rollout = await kube.get(f"{ROLLOUTS_PATH}/{NAME}")
            return rollout.get("status") or {}, _weights(await kube.get(f"{INGRESSES_PATH}/{NAME}"))

        async def first_deploy() -> str | None:
            status, weights = await seen()
            healthy = status.get("phase") == "Healthy" and weights.get(STABLE) == 100
            return str(status["stableRS"]) if healthy and status.get("stableRS") else None

        await _until(running, as_app_user, f"the entrypoint running as uid {APP_UID}", 15)
        first = await _until(running, first_deploy, "the first deploy Healthy", 60)
        await kube.merge_patch(f"{ROLLOUTS_PATH}/{NAME}", {"spec": {"template": pod_template(IMAGES[1])}})

        async def canary_step() -> bool:
            _, weights = await seen()
            return weights.get(CANARY) == 20

        async def promoted() -> str | None:
            status, weights = await seen()
            stable = status.get("stableRS")
            done = (status.get("phase") == "Healthy" and stable not in (None, first)
                    and stable == status.get("currentPodHash") and weights.get(STABLE) == 100)
            return str(stable) if done else None

        await _until(running, canary_step, "the canary at 20% in the Ingress annotation", 30)
        second = await _until(running, promoted, f"Healthy on {IMAGES[1]} (a new stable ReplicaSet)", 60)
        assert second != first
        assert _uid(running.process.pid) == APP_UID

        running.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(running.process.wait(), 20)
        assert code == 0, running.log()
