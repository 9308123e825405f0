"""Restart a Rollout's pods for `spec.restartAt`: list them, evict what the plan allows, record restartedAt.

Room: reconcile, before the machine moves (the reference restarts pods right after syncing its ReplicaSets,
rollout/canary.go). `statemachine.restarting` decides; this module only lists the pods (a live LIST, and only
while a restart is due), evicts them (policy/v1 Eviction, so PodDisruptionBudgets are honoured) and writes
`status.restartedAt` once none is left. It never sleeps or retries: an error propagates, the worker requeues.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from service import replicaset_sync, results
from service.kube import watching, writing
from statemachine import restarting, status
from statemachine.snapshot import Snapshot

__all__ = ["Restart", "restart"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Restart:
    """What one pass did: pods evicted (the rest of the reconcile waits for fresh counts when > 0), and when
    to look again (None: no need)."""

    evicted: int = 0
    requeue_after: float | None = None

    def sooner(self, requeue_after: float | None) -> float | None:
        """The earlier of this pass's look-again time and another one."""
        if self.requeue_after is None:
            return requeue_after
        return self.requeue_after if requeue_after is None else min(self.requeue_after, requeue_after)


async def restart(raw: Mapping[str, Any], snapshot: Snapshot, owned: replicaset_sync.Owned, *, now: datetime,
                  writer: writing.Writer, rollouts: watching.Reflector, deadline: float) -> Restart:
    """RolloutPodRestarter.Reconcile: evict up to the budget of pods older than restartAt, restartedAt once
    none is left. A 429 (a PodDisruptionBudget) skips that pod, as the reference does; other errors raise."""
    spec = restarting.restart_spec(raw)
    if not restarting.due(spec, now):
        return Restart(requeue_after=restarting.seconds_until(spec, now))
    rollout = snapshot.rollout
    owned_sets = (owned.new, owned.stable, *owned.others)
    sets = [restarting.replicaset_ref(rs) for rs in owned_sets if rs is not None]
    # the reconcile that first sees a new pod template restarts nothing (the reference returns before it)
    template_changed = rollout.status.current_pod_hash != snapshot.pod_hash
    pods: list[dict[str, Any]] = []
    if not template_changed:
        selector = status.label_selector(rollout.selector)
        pods = await writer.list_pods(rollout.namespace, "" if selector == "<none>" else selector)
    views = [restarting.pod_view(pod) for pod in pods]
    plan = restarting.plan(spec, sets, views, now=now, template_changed=template_changed)
    if plan.due:
        log.info("reconcile pod restart", replicas=spec.replicas, max_unavailable=spec.max_unavailable,
                 available=plan.available, can_restart=plan.budget, outstanding=plan.outstanding)
    evicted = await _evict(rollout.namespace, plan, writer=writer)
    finish = plan.finish(evicted)
    if finish.restarted_at is not None:
        log.info("all pods are current: setting restartedAt", restarted_at=finish.restarted_at)
        body = {"status": {"restartedAt": finish.restarted_at}}
        answer = await writer.patch_rollout_status(rollout.namespace, rollout.name, body)
        await results.wait_written(rollouts, answer, deadline)
    elif plan.due:
        log.info("pods still to restart", outstanding=plan.outstanding - evicted, evicted=evicted,
                 retry_in=finish.requeue_after)
    return Restart(evicted=evicted, requeue_after=finish.requeue_after)


async def _evict(namespace: str, plan: restarting.RestartPlan, *, writer: writing.Writer) -> int:
    """Evict `plan.candidates` in order until `plan.budget` evictions succeeded; how many did."""
    evicted = 0
    for name in plan.candidates:
        if evicted >= plan.budget:
            break
        results.wrote_unwatched()
        try:
            await writer.evict_pod(namespace, name)
        except writing.Unavailable as error:
            if error.code != 429:
                raise
            # a PodDisruptionBudget refused it: try the next pod, and this one on a later look
            log.warning("eviction refused", pod=name, error=str(error))
            continue
        log.info("restarting pod that is older than restartAt", pod=name, restart_at=plan.restart_at)
        evicted += 1
    return evicted
