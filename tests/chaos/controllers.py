"""The controller replicas of a chaos scenario: `alb-rollouts run --leader-elect` as real processes, each
with its log file, supervised the way a Deployment's pods are (a replica that exits on its own is started
again after a second; one the chaos killed waits for the chaos to restart it).

`CHAOS_CONTROLLER_PYTHONPATH` runs another checkout of the controller (e.g. a git worktree of an older
commit): its directory is the processes' PYTHONPATH and working directory, so `python -m
service.commands.run` imports that `service/` and not this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.running import SandboxState
from tests.chaos import manifests

__all__ = ["Controller", "Exit", "Fleet", "command", "controller_pythonpath"]

_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true"}
_RESTART_AFTER = 1.0  # like the kubelet's first crash-loop back-off (10 s there), shortened for the suite


def controller_pythonpath() -> str | None:
    return os.environ.get("CHAOS_CONTROLLER_PYTHONPATH") or None


def command(state: SandboxState) -> list[str]:
    """`alb-rollouts run` with leader election on short Lease timings, verifying against the AWS proxy."""
    return [sys.executable, "-m", "service.commands.run", "--kubeconfig", state.kubeconfig,
            "--aws-endpoint-url", state.aws_endpoint_url, "--aws-region", state.aws_region,
            "--aws-verify-target-group", "--leader-elect",
            "--leader-election-lease-duration", "4s", "--leader-election-renew-deadline", "3s",
            "--leader-election-retry-period", "0.5s",
            "--metricsPort", "0", "--healthzPort", "0", "--debug-address", "127.0.0.1:0",
            "--logformat", "json"]


@dataclass(frozen=True, slots=True)
class Exit:
    """A replica that stopped without being asked to: when, its code and its last log line."""

    at: float
    name: str
    code: int
    last_line: str

    @property
    def lost_lease(self) -> bool:
        """Exit 1 after "leader election lost" is what the reference does too (the pod restarts)."""
        return self.code == 1 and "leader election lost" in self.last_line


@dataclass(slots=True)
class Controller:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    held_down: bool = False  # killed by the chaos: not restarted by the supervisor
    restarted: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        self.starts += 1
        with self.log_path.open("a") as log:
            log.write(f'{{"msg": "chaos: start #{self.starts} of {self.name}"}}\n')
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, stdout=log, stderr=asyncio.subprocess.STDOUT, env=self.env, cwd=self.cwd,
                start_new_session=True)

    async def kill9(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def last_line(self) -> str:
        try:
            lines = self.log_path.read_text().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def identity(self) -> str:
        """This incarnation's Lease candidate identity, from its "waiting for the lease" log line."""
        try:
            lines = self.log_path.read_text().splitlines()
        except OSError:
            return ""
        marker = f"chaos: start #{self.starts} of {self.name}"
        mine = lines[max((i for i, line in enumerate(lines) if marker in line), default=0):]
        for line in mine:
            if "leader election: waiting for the lease" in line:
                with contextlib.suppress(ValueError):
                    return str(json.loads(line).get("identity") or "")
        return ""

    def tail(self, count: int) -> list[str]:
        try:
            return self.log_path.read_text().splitlines()[-count:]
        except OSError:
            return []


class Fleet:
    """`replicas` controllers named chaos-ctl-N (their POD_NAME, so the Lease's holder names one)."""

    def __init__(self, state: SandboxState, replicas: int, log_dir: Path, *, now: Callable[[], float],
                 say: Callable[[str], None]) -> None:
        pythonpath = controller_pythonpath()
        env = {**os.environ, **_AWS_ENV, "PYTHONUNBUFFERED": "1", "ROLLOUT_VERIFY_RETRY_INTERVAL": "1s",
               "POD_NAMESPACE": manifests.LEASE_NAMESPACE}
        if pythonpath is not None:
            env["PYTHONPATH"] = pythonpath
        cwd = pythonpath or os.getcwd()
        names = [f"chaos-ctl-{n}" for n in range(replicas)]
        self.controllers = [Controller(name, command(state), {**env, "POD_NAME": name}, cwd,
                                       log_dir / f"{name}.log") for name in names]
        self.exits: list[Exit] = []
        self._now = now
        self._say = say
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for controller in self.controllers:
            await controller.start()
            pid = controller.process.pid if controller.process else "?"
            self._say(f"{controller.name} started (pid {pid})")
        self._tasks = [asyncio.create_task(self._supervise(c), name=f"supervise-{c.name}")
                       for c in self.controllers]

    async def _supervise(self, controller: Controller) -> None:
        while True:
            process = controller.process
            assert process is not None
            code = await process.wait()
            if self._stopping:
                return
            if controller.held_down or controller.process is not process:
                await controller.restarted.wait()  # set by `restart`
                continue
            gone = Exit(self._now(), controller.name, code, controller.last_line())
            self.exits.append(gone)
            self._say(f"{controller.name} exited by itself with code {code}: {gone.last_line[:300]}")
            await asyncio.sleep(_RESTART_AFTER)  # (`stop` cancels this task before it stops the replicas)
            await controller.start()
            self._say(f"{controller.name} restarted after its exit")

    def leader(self, holders: list[str]) -> Controller | None:
        """The running replica whose identity is one of the Leases' holders (a restarted replica has a new
        identity: the Lease of a killed one names nobody running)."""
        for controller in self.controllers:
            if controller.running and controller.identity() in holders:
                return controller
        return None

    async def kill9(self, controller: Controller) -> None:
        controller.held_down = True
        controller.restarted.clear()
        await controller.kill9()

    async def restart(self, controller: Controller) -> None:
        if controller.running:
            return
        await controller.start()
        controller.held_down = False
        controller.restarted.set()

    async def restore(self) -> None:
        """Every replica running again (the end of the chaos)."""
        for controller in self.controllers:
            if controller.held_down:
                await self.restart(controller)
                self._say(f"{controller.name} restarted (end of chaos)")

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(c.stop() for c in self.controllers))

    def describe(self) -> dict[str, Any]:
        return {c.name: {"starts": c.starts, "log": str(c.log_path)} for c in self.controllers}

    def logs_tail(self, count: int) -> list[str]:
        lines: list[str] = []
        for controller in self.controllers:
            lines.append(f"--- {controller.name} ({controller.log_path}), last {count} lines:")
            lines += [f"  {line[:400]}" for line in controller.tail(count)]
        return lines
