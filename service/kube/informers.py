"""The controller's informers: one reflector and cache per watched resource, wired to one enqueue function.

Room: observe. It assembles reflectors (service.kube.watching), caches with their indexes (caches, indexes)
and the key fan-out (enqueuing); it starts and stops them together and says when all have synced (/readyz).
It never reconciles and never writes to the API.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kubernetes_asyncio import client

from service.kube import caches, enqueuing, indexes, resources, throttling, watching

__all__ = ["REPLICA_SET_SELECTOR", "Informers", "build", "unsynced_reason"]

REPLICA_SET_SELECTOR = "rollouts-pod-template-hash"
"""Only ReplicaSets a Rollout controller made (ours or the reference's) carry this label: the rest of the
cluster's ReplicaSets (Deployments') are never cached."""


@dataclass(frozen=True, slots=True)
class Informers:
    """Reflectors by resource; their `store`s are the caches reconcilers read."""

    rollouts: watching.Reflector
    ingresses: watching.Reflector
    services: watching.Reflector
    endpoint_slices: watching.Reflector
    replica_sets: watching.Reflector
    target_group_bindings: watching.Reflector | None
    """None unless target groups are verified (the LBC's CRD may not even be installed otherwise)."""
    deployments: watching.Reflector | None = None
    """The Deployments a Rollout's `spec.workloadRef` may name (None for tests that need none). Optional: a
    cluster that does not serve apps/v1 deployments (a 404) neither delays the start nor fails /readyz."""

    @property
    def all(self) -> tuple[watching.Reflector, ...]:
        """Every reflector, Rollouts first."""
        core = (self.rollouts, self.ingresses, self.services, self.endpoint_slices, self.replica_sets)
        optional = (self.deployments, self.target_group_bindings)
        return (*core, *(reflector for reflector in optional if reflector is not None))

    def start(self) -> None:
        """Start every reflector (each runs as its own task)."""
        for reflector in self.all:
            reflector.start()

    async def stop(self) -> None:
        """Stop every reflector and wait until their connections are closed."""
        await asyncio.gather(*(reflector.stop() for reflector in self.all))

    @property
    def required(self) -> tuple[watching.Reflector, ...]:
        """The caches no Rollout can be reconciled without (the TargetGroupBindings and Deployments are
        checked per use)."""
        return (self.rollouts, self.ingresses, self.services, self.endpoint_slices, self.replica_sets)

    def synced(self) -> bool:
        """True once every cache holds its first LIST (what /readyz reports)."""
        return all(reflector.synced.is_set() for reflector in self._counted())

    def unsynced(self) -> list[str]:
        """Why each cache not synced yet is not (empty once all are): for /readyz and the logs."""
        return [unsynced_reason(reflector) for reflector in self._counted() if not reflector.synced.is_set()]

    def _counted(self) -> tuple[watching.Reflector, ...]:
        """The caches readiness waits for: all but Deployments the API server does not serve (a 404)."""
        deployments = self.deployments
        if deployments is None or not (deployments.last_error or "").startswith("404"):
            return self.all
        return tuple(reflector for reflector in self.all if reflector is not deployments)

    async def wait_synced(self, within: float) -> bool:
        """Wait until every cache has synced; False when `within` seconds pass first."""
        return await watching.wait_synced(self.all, within)


def unsynced_reason(reflector: watching.Reflector) -> str:
    """"<resource> not synced: <last error>", with a hint where the cause is known (a missing CRD)."""
    text = f"{reflector.resource.name} not synced"
    if reflector.last_error:
        text += f": {reflector.last_error}"
        if reflector.last_error.startswith("404"):
            resource = reflector.resource
            text += (f" (is the {resource.kind} CustomResourceDefinition {resource.name} "
                     f"({resource.api_version}) installed?)")
    return text


def build(
    api: client.ApiClient,
    enqueue: enqueuing.Enqueue,
    *,
    namespace: str | None = None,
    instance_id: str | None = None,
    target_group_binding_api_version: str | None = None,
    replica_set_selector: str | None = REPLICA_SET_SELECTOR,
    settings: watching.WatchSettings | None = None,
    limiter: throttling.RequestLimiter | None = None,
) -> Informers:
    """Informers for `--namespaced` (one namespace, or all when None) and `--instance-id` (None: unlabelled).

    TargetGroupBindings are watched only when `target_group_binding_api_version` (GROUP/VERSION, from
    `--aws-target-group-binding-api-version`) is given, i.e. with `--aws-verify-target-group`. Every LIST and
    WATCH start takes a token of `limiter` (--qps/--burst, shared with the writes; None: no limit).
    """
    rollout_store = caches.Store(indexes.ROLLOUT_INDEXERS)
    fanout = enqueuing.Fanout(rollout_store, enqueue)

    def reflector(
        resource: resources.Resource,
        store: caches.Store,
        handler: watching.Handler,
        label_selector: str | None = None,
    ) -> watching.Reflector:
        return watching.Reflector(
            api,
            resource,
            store,
            namespace=namespace,
            label_selector=label_selector,
            handlers=[handler],
            settings=settings,
            limiter=limiter,
        )

    return Informers(
        rollouts=reflector(
            resources.ROLLOUTS, rollout_store, fanout.on_rollout, resources.instance_selector(instance_id)
        ),
        ingresses=reflector(resources.INGRESSES, caches.Store(), fanout.on_ingress),
        services=reflector(resources.SERVICES, caches.Store(), fanout.on_service),
        endpoint_slices=reflector(
            resources.ENDPOINT_SLICES, caches.Store(indexes.ENDPOINT_SLICE_INDEXERS), fanout.on_endpoint_slice
        ),
        replica_sets=reflector(
            resources.REPLICA_SETS,
            caches.Store(indexes.REPLICA_SET_INDEXERS),
            fanout.on_replica_set,
            replica_set_selector,
        ),
        deployments=reflector(
            resources.DEPLOYMENTS, caches.Store(), fanout.on_deployment
        ),
        target_group_bindings=None
        if target_group_binding_api_version is None
        else reflector(
            resources.target_group_bindings(target_group_binding_api_version),
            caches.Store(indexes.TARGET_GROUP_BINDING_INDEXERS),
            fanout.on_target_group_binding,
        ),
    )
