"""The simulated cluster: runs the ReplicaSet, Endpoints/EndpointSlice and garbage-collection controllers.

Part of the sandbox cluster; one task consumes the storage's change stream and hands each event to every
controller. It talks to the emulator only through the Storage API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sandbox.apiserver import storage as storage_mod
from sandbox.cluster import endpoints, garbage, pods, replicasets

__all__ = ["Cluster"]

log = logging.getLogger(__name__)


class Cluster:
    """Cluster behaviour on top of a Storage; pods become Ready `pod_ready_seconds` after they start."""

    def __init__(self, storage: storage_mod.Storage, *, pod_ready_seconds: float = 0.0) -> None:
        self.storage = storage
        self.replicasets = replicasets.ReplicaSetController(
            storage, pod_ready_seconds=pod_ready_seconds, ips=pods.IpAllocator()
        )
        self.endpoints = endpoints.EndpointsController(storage)
        self.garbage = garbage.GarbageCollector(storage)
        self._task: asyncio.Task[None] | None = None
        self._subscription: storage_mod.Subscription | None = None

    @property
    def pod_ready_seconds(self) -> float:
        """Seconds a new pod takes to become Ready; settable, for pods started from then on."""
        return self.replicasets.ready_after

    @pod_ready_seconds.setter
    def pod_ready_seconds(self, seconds: float) -> None:
        self.replicasets.ready_after = seconds

    async def start(self) -> None:
        """Subscribe, reconcile what already exists, then follow changes."""
        if self._task is not None:
            return
        self._subscription = self.storage.subscribe()
        for controller in (self.garbage, self.replicasets, self.endpoints):
            self._guard(controller.resync)
        self._task = asyncio.create_task(self._run(self._subscription), name="sandbox-cluster")

    async def stop(self) -> None:
        """Stop following changes and cancel pending readiness timers."""
        if self._subscription is not None:
            self._subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        self._subscription = None
        self.replicasets.close()

    def set_pod_ready(self, namespace: str, name: str, ready: bool) -> bool:
        """Make a pod Ready or not (as a readiness probe would); False when there is no such pod."""
        return self.replicasets.set_ready(namespace, name, ready)

    async def _run(self, subscription: storage_mod.Subscription) -> None:
        async for event in subscription:
            for controller in (self.garbage, self.replicasets, self.endpoints):
                self._guard(controller.on_event, event)

    @staticmethod
    def _guard(fn: Callable[..., None], *args: object) -> None:
        # One failing reconcile (say a 409 from a concurrent writer) must not stop the cluster.
        try:
            fn(*args)
        except storage_mod.ApiError as exc:
            log.warning("cluster controller: %s (%s)", exc.message, exc.reason)
