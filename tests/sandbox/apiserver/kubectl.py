"""Run the real kubectl against the emulator: a per-test kubeconfig and HOME (so no discovery or OpenAPI cache
is shared between tests), and a skip marker for machines without kubectl."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from sandbox.apiserver.kubeconfig import write_kubeconfig
from tests.sandbox.polling import DEADLINE

__all__ = ["KUBECTL", "Kubectl", "needs_kubectl"]

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed (apt-get install kubernetes-client)"
)


class Kubectl:
    """`await kubectl(*args)` -> (exit code, stdout, stderr); `start` for a process that keeps running."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.tmp = tmp
        self.kubeconfig = str(write_kubeconfig(tmp / "kubeconfig", url))
        self.env = {**os.environ, "HOME": str(tmp)}

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        assert KUBECTL is not None
        return await asyncio.create_subprocess_exec(
            KUBECTL, "--kubeconfig", self.kubeconfig, *args, env=self.env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        proc = await self.start(*args)
        out, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    def file(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text)
        return str(path)
