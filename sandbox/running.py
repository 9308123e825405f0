"""Start-up and shutdown of a whole sandbox in one event loop: moto, the API server, the cluster controllers,
the LBC simulator, the AWS proxy in front of moto and the control endpoint (`Sandbox`, an async context
manager).

Start order is dependency order and shutdown is the reverse; it owns no behaviour of its own.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import aws, aws_proxy, control
from sandbox.apiserver import kubeconfig, server
from sandbox.apiserver import storage as storing
from sandbox.cluster import Cluster
from sandbox.lbc import Knobs, LoadBalancerController

__all__ = ["CONTROLLER_ENV", "Sandbox", "SandboxState"]

CONTROLLER_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                  "POD_NAMESPACE": "default"}
"""What the controller needs from its environment here: moto takes any credentials, but botocore signs nothing
without some; the Lease lives in POD_NAMESPACE (else argo-rollouts, which the sandbox does not have)."""


@dataclass(frozen=True, slots=True)
class SandboxState:
    """Where everything listens; `as_dict()` is the state file's JSON."""

    kubeconfig: str
    api_server: str
    aws_endpoint_url: str
    aws_region: str
    control: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kubeconfig": self.kubeconfig,
            "apiServer": self.api_server,
            "awsEndpointUrl": self.aws_endpoint_url,
            "awsRegion": self.aws_region,
            "control": self.control,
        }


class Sandbox:
    """A local cluster + ALB stand-in.

    `async with Sandbox() as sandbox:` gives `sandbox.state`, `sandbox.storage`, `sandbox.lbc` (knobs),
    `sandbox.api` (faults), `sandbox.proxy` (the AWS endpoint handed out) and `sandbox.kubeconfig`. Pass
    `moto=` to share one moto server (tests do); otherwise the sandbox starts and stops its own, in a process
    of its own with `moto_process=True` (`alb-rollouts sandbox` does).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, kubeconfig_path: str | Path | None = None,
                 pod_ready_seconds: float = 0.0, lbc_lag_seconds: float = 0.0,
                 moto: aws.MotoServer | None = None, moto_process: bool = False,
                 cluster_name: str = "sandbox",
                 bookmark_interval: float = 1.0, watch_timeout: float = 30.0) -> None:
        self._host = host
        self._port = port
        self._kubeconfig_path = Path(kubeconfig_path) if kubeconfig_path is not None else None
        self._pod_ready_seconds = pod_ready_seconds
        self._own_moto = moto is None
        self.moto = moto or aws.MotoServer(host=host, process=moto_process)
        self.api = server.ApiServer(bookmark_interval=bookmark_interval, watch_timeout=watch_timeout)
        self.storage: storing.Storage = self.api.storage
        self.cluster: Cluster | None = None
        self.lbc: LoadBalancerController | None = None
        self.proxy: aws_proxy.AwsProxy | None = None
        self.control: control.ControlServer | None = None
        self._cluster_name = cluster_name
        self._lag = lbc_lag_seconds
        self._tempdir: str | None = None
        self._state: SandboxState | None = None

    @property
    def state(self) -> SandboxState:
        if self._state is None:
            raise RuntimeError("the sandbox is not running")
        return self._state

    @property
    def kubeconfig(self) -> Path:
        return Path(self.state.kubeconfig)

    async def start(self) -> None:
        moto_ready = asyncio.create_task(asyncio.to_thread(self._start_moto)) if self._own_moto else None
        try:
            await self.api.start(self._host, self._port)
            self.cluster = Cluster(self.storage, pod_ready_seconds=self._pod_ready_seconds)
            await self.cluster.start()
        finally:
            if moto_ready is not None:
                await moto_ready
        self.lbc = LoadBalancerController(self.storage, endpoint_url=self.moto.endpoint_url,
                                          cluster=self._cluster_name, knobs=Knobs(lag_seconds=self._lag))
        await self.lbc.start()
        # Everyone but the LBC simulator sees AWS through the proxy, which knows the targets' real health.
        self.proxy = aws_proxy.AwsProxy(self.moto.endpoint_url, health=self.lbc.target_health)
        await self.proxy.start(self._host, 0)
        self.control = control.ControlServer(lbc=self.lbc, faults=self.api.faults, storage=self.storage,
                                             endpoint_url=self.proxy.url, api_requests=self.api.requests,
                                             aws_calls=self.proxy.client_calls)
        await self.control.start(self._host, 0)
        path = self._kubeconfig_path
        if path is None:
            self._tempdir = tempfile.mkdtemp(prefix="alb-rollouts-sandbox-")
            path = Path(self._tempdir) / "kubeconfig"
        written = kubeconfig.write_kubeconfig(path, self.api.url)
        self._state = SandboxState(kubeconfig=str(written), api_server=self.api.url,
                                   aws_endpoint_url=self.proxy.url, aws_region=aws.REGION,
                                   control=self.control.url)

    def _start_moto(self) -> None:
        self.moto.start()
        # Seconds of moto's EC2 set-up belong to start-up, not to the user's first Ingress.
        self.moto.warm_up()

    async def stop(self) -> None:
        self._state = None
        if self.control is not None:
            await self.control.stop()
        if self.proxy is not None:
            await self.proxy.stop()
        if self.lbc is not None:
            await self.lbc.stop()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.api.stop()
        if self._own_moto:
            await asyncio.to_thread(self.moto.stop)
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    async def __aenter__(self) -> Sandbox:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
