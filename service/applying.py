"""Carry out one plan, in a fixed order, and write the Rollout's status once.

Room: apply. The order (each step skipped when it has nothing to send):
  1. ReplicaSets: scale the new and the stable one to the plan's counts;
  2. Services: point each at its pod-template hash (`rollouts-pod-template-hash` selector);
  3. Ingresses: the weight / header-route patches (resourceVersion precondition; 409 propagates);
  4. weight verification, when the plan asks and the verifiers exist (`--aws-verify-target-group`);
  5. old ReplicaSets: `scale-down-deadline` after scaleDownDelaySeconds, then 0 replicas; once promoted and
     verifying, only after the stable Service's targets are registered;
  6. at most one merge patch to `/status`, then the plan's events.
It never decides anything the plan did not (but folding the AWS answer into the status), never sleeps and
never retries: every failure propagates to the worker, every wait is a `requeue_after`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from service import ingress_sync, replicaset_sync, results, verify_step
from service.kube import informers, recording, writing
from statemachine import events, ingress_checks, models, services, status
from statemachine.planning import Plan
from statemachine.snapshot import Snapshot

__all__ = ["Applied", "Applier", "status_body"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Applied:
    """What one apply did: the status write's answer (None: nothing written), when to look again, AWS."""

    written: dict[str, Any] | None
    requeue_after: float | None
    check: verify_step.WeightCheck | None


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def status_body(plan: Plan, check: verify_step.WeightCheck | None) -> dict[str, Any] | None:
    """The plan's `/status` merge patch with the AWS answer folded in (weights.verified, alb, albs)."""
    new = plan.status
    weights = new.canary.weights
    if check is not None and weights is not None and weights.verified is not check.verified:
        verified = dataclasses.replace(weights, verified=check.verified)
        new = dataclasses.replace(new, canary=dataclasses.replace(new.canary, weights=verified))
    raw = plan.after.raw_status
    body = status.status_patch(raw, new)
    if check is None:
        return body
    fields: dict[str, Any] = dict((body or {}).get("status") or {})
    if raw.get("alb") != check.alb:
        fields["alb"] = check.alb
    if raw.get("albs") != check.albs:
        fields["albs"] = check.albs
    return {"status": fields} if fields else None


class Applier:
    """Sends one plan's writes through `writer`, reading the informers' caches."""

    def __init__(self, *, writer: writing.Writer, informers: informers.Informers,
                 recorder: recording.EventRecorder, verifier: verify_step.Verifier | None,
                 classes: tuple[str, ...], verify_retry_interval: float, deadline: float) -> None:
        self.writer = writer
        self.informers = informers
        self.recorder = recorder
        self.verifier = verifier
        self.verify_retry_interval = verify_retry_interval
        self.deadline = deadline
        self.replicasets = replicaset_sync.ReplicaSetSync(writer=writer, reflector=informers.replica_sets,
                                                          deadline=deadline)
        self.ingresses = ingress_sync.IngressSync(writer=writer, reflector=informers.ingresses,
                                                  recorder=recorder, classes=classes, deadline=deadline)

    async def apply(self, plan: Plan, snapshot: Snapshot, owned: replicaset_sync.Owned,
                    involved: Mapping[str, Any], *, now: datetime) -> Applied:
        rollout = plan.after
        namespace = rollout.namespace
        # 1. ReplicaSets
        await self.replicasets.scale(namespace, owned.new, plan.canary_replicas, desired=rollout.replicas)
        if owned.stable is not None and (owned.new is None or _name(owned.stable) != _name(owned.new)):
            await self.replicasets.scale(namespace, owned.stable, plan.stable_replicas,
                                         desired=rollout.replicas)
        # 2. Services
        await self._services(plan)
        # 3. Ingresses
        await self.ingresses.apply(plan, involved)
        # 4. weight verification
        check = None
        requeue = plan.requeue_after
        already = plan.weights is not None and plan.weights.verified is True
        if self.verifier is not None and plan.verify and not already:
            check = await self.verifier.weights(plan)
            if not check.verified:
                requeue = _earliest(requeue, self.verify_retry_interval)
            if check.error is not None and (plan.weights is None or plan.weights.verified is not False):
                # the status flips to unverified now, so the planner will not see the flip: say why here
                await self.recorder.emit(involved, events.weight_verify_error(check.error))
        # 5. old ReplicaSets
        requeue = _earliest(requeue, await self._scale_down(snapshot, owned, involved, now=now))
        # 6. status, then the plan's events
        written = None
        body = status_body(plan, check)
        if body is not None:
            written = await self.writer.patch_rollout_status(namespace, rollout.name, body)
        for event in plan.events:  # before the wait: the facts are written even if the cache lags
            await self.recorder.emit(involved, event)
        if written is not None:
            await results.wait_written(self.informers.rollouts, written, self.deadline)
        return Applied(written, requeue, check)

    async def _services(self, plan: Plan) -> None:
        rollout = plan.after
        store = self.informers.services.store
        for name, pod_hash in plan.selectors:
            current = store.get(f"{rollout.namespace}/{name}")
            if current is None:
                raise LookupError(f'service "{name}" not found')
            selector = (current.get("spec") or {}).get("selector") or {}
            annotations = (current.get("metadata") or {}).get("annotations") or {}
            patch: dict[str, Any] = {}
            if annotations.get(ingress_checks.MANAGED_BY_ANNOTATION) != rollout.name:
                patch["metadata"] = {"annotations": {ingress_checks.MANAGED_BY_ANNOTATION: rollout.name}}
            if selector.get(models.POD_TEMPLATE_HASH_LABEL) != pod_hash:
                patch["spec"] = {"selector": {models.POD_TEMPLATE_HASH_LABEL: pod_hash}}
            if not patch:
                continue
            log.info("pointing Service", service=name, pod_hash=pod_hash)
            answer = await self.writer.patch_service(rollout.namespace, name, patch)
            await results.wait_written(self.informers.services, answer, self.deadline)

    async def _scale_down(self, snapshot: Snapshot, owned: replicaset_sync.Owned,
                          involved: Mapping[str, Any], *, now: datetime) -> float | None:
        rollout = snapshot.rollout
        if not self.replicasets.needs_scale_down(owned.others):
            return None
        promoted = bool(rollout.status.stable_rs) and rollout.status.stable_rs == snapshot.pod_hash
        undated = any(replicaset_sync.replicaset_deadline(rs) is None for rs in owned.others
                      if replicaset_sync.spec_replicas(rs) > 0)
        if self.verifier is not None and promoted and undated:
            stable_service, _ = services.stable_and_canary_services(snapshot)
            stable_rs = _name(owned.new) if owned.new is not None else ""
            if stable_service and not await self.verifier.stable_targets(rollout, stable_service, stable_rs,
                                                                         involved):
                return self.verify_retry_interval
        delay = replicaset_sync.scale_down_delay(rollout)
        return await self.replicasets.scale_down_others(rollout.namespace, owned.others, now=now, delay=delay)


def _name(rs: Mapping[str, Any]) -> str:
    return str((rs.get("metadata") or {}).get("name", ""))
