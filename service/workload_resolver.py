"""`spec.workloadRef` on the wire: the referenced Deployment from the informer cache, the Rollout's
`rollout.argoproj.io/workload-generation` annotation, and the Deployment's replicas for `scaleDown`.

Room: reconcile (observe → queue → **reconcile** → plan → apply → status). Before parsing, `resolve` reads the
Deployment a Rollout references from the Deployment cache and hands both to the pure
`statemachine.workload_refs.resolve` for the effective Rollout (the Deployment's pod template). When the
Deployment's generation differs from the Rollout's annotation it patches the annotation on the Rollout, as the
reference's Deployment informer does (Argo CD's health check compares it with
`status.workloadObservedGeneration`). After the plan's effects, `scale_down` applies `workloadRef.scaleDown`
(a PUT of the cached Deployment with the new `spec.replicas`, as the reference's Update; 409 when stale).
Errors propagate (the worker requeues); nothing here decides, sleeps or retries. A Deployment change reaches
the Rollout through the Deployment informer (service.kube.enqueuing `on_deployment`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import structlog

from service import results
from service.kube import informers as informers_mod
from service.kube import watching, writing
from statemachine import workload_refs
from statemachine.snapshot import Snapshot

__all__ = ["DeploymentsUnsynced", "WorkloadResolver"]

log = structlog.get_logger(__name__)


class DeploymentsUnsynced(Exception):
    """The Deployment cache has not loaded: "not found" would be a guess; retry (with backoff)."""


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class WorkloadResolver:
    """Reads the Deployment cache (`deployments`) and writes the Rollout annotation and Deployment scale."""

    def __init__(self, *, deployments: watching.Reflector | None, rollouts: watching.Reflector,
                 writer: writing.Writer, deadline: float) -> None:
        self.deployments = deployments  # None: informers built without one (tests); a reference then fails
        self.rollouts = rollouts
        self.writer = writer
        self.deadline = deadline

    async def resolve(self, raw: Mapping[str, Any]) -> workload_refs.Resolution:
        """The effective Rollout (statemachine.workload_refs.resolve); raises DeploymentsUnsynced while the
        Deployment cache has not loaded, and the annotation patch's errors."""
        key = workload_refs.referenced(raw)
        if key is None:
            return workload_refs.resolve(raw, None)
        deployments = self.deployments
        if deployments is None or not deployments.synced.is_set():
            reason = "deployments.apps not watched"
            if deployments is not None:
                reason = informers_mod.unsynced_reason(deployments)
                if (deployments.last_error or "").startswith("404"):  # apps/v1 deployments not served
                    return workload_refs.resolve(raw, None, served=False)
            raise DeploymentsUnsynced(f"cannot resolve spec.workloadRef: {reason}")
        deployment = deployments.store.get(key)
        resolution = workload_refs.resolve(raw, deployment)
        if deployment is not None:
            await self._record_generation(raw, deployment)
        return resolution

    async def _record_generation(self, raw: Mapping[str, Any], deployment: Mapping[str, Any]) -> None:
        """The reference's updateRolloutsReferenceAnnotation: the Deployment's generation on the Rollout."""
        metadata = _map(raw.get("metadata"))
        generation = workload_refs.deployment_generation(deployment)
        if _map(metadata.get("annotations")).get(workload_refs.WORKLOAD_GENERATION_ANNOTATION) == generation:
            return
        body = {"metadata": {"annotations": {workload_refs.WORKLOAD_GENERATION_ANNOTATION: generation}}}
        answer = await self.writer.patch_rollout(str(metadata.get("namespace") or "default"),
                                                 str(metadata.get("name") or ""), body)
        log.info("workload generation recorded", generation=generation)
        await results.wait_written(self.rollouts, answer, self.deadline)

    async def scale_down(self, resolution: workload_refs.Resolution, snapshot: Snapshot, *,
                         planned: int | None) -> int | None:
        """Apply `workloadRef.scaleDown` to the referenced Deployment; the replicas written, or None."""
        if resolution.deployment is None or self.deployments is None:
            return None
        key = workload_refs.referenced(resolution.raw) or ""
        current = self.deployments.store.get(key) or resolution.deployment
        replicas = workload_refs.deployment_replicas(current)
        target = workload_refs.deployment_scale(snapshot, planned=planned, current=replicas)
        if target is None:
            return None
        namespace, _, name = key.partition("/")
        body = copy.deepcopy(dict(current))
        body.update(apiVersion=workload_refs.DEPLOYMENT_API_VERSION, kind="Deployment")
        body["spec"] = {**_map(body.get("spec")), "replicas": target}
        log.info("scaling deployment", deployment=name, replicas=target, was=replicas,
                 scale_down=snapshot.rollout.workload_ref.scale_down if snapshot.rollout.workload_ref else "")
        answer = await self.writer.replace_deployment(namespace, name, body)
        await results.wait_written(self.deployments, answer, self.deadline)
        return target
