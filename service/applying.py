"""The machine's effects: what each name in the transition table does on the wire, for one plan.

Room: apply. `statemachine.machine` names the effects and orders them per row; `Applier.bindings()` binds each
name to an async method here, and the machine runs a row's effects as its `before` callbacks, in order:
  scale_replicasets   each ReplicaSet's ephemeral pod metadata (template, then its pods, relabelled in
                      place), then the new and the stable ReplicaSet to the plan's counts;
  point_services      each Service at its pod-template hash (`rollouts-pod-template-hash` selector; the hash
                      `traffic_safety.WIDE` drops the key: a blue-green cutover's widened step), then
                      release the Services annotated for the Rollout that its spec no longer names;
  patch_ingresses     the weight / header-route patches (resourceVersion precondition; 409 propagates);
  verify_weights      ask ELBv2 whether the ALBs carry the weights in status; the answer is kept for the
                      next plan (the planner moves to WeightSet or Verifying from it), never folded here;
  check_targets       while traffic waits (WaitingForTargets): ask ELBv2 whether the awaited Service's
                      target groups have its ready endpoints registered and `healthy` (once they are the
                      awaited pods; for a widened Service once they include them); the answer is kept;
  scale_down_old      old ReplicaSets: `scale-down-deadline`, then 0; once promoted and verifying, only after
                      the stable Service's targets are registered;
  write_status        at most one merge patch to `/status` (with status.alb/albs of the AWS answer), then the
                      plan's events.
Each effect is idempotent and sends nothing when the world already matches; each notes what it did in
`Work.outcomes` (the transition record). Nothing here decides what the plan did not, sleeps or retries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from service import ingress_sync, pod_relabelling, replicaset_sync, results, service_release, verify_step
from service.kube import informers, recording, writing
from statemachine import (
    ingress_checks,
    machine,
    models,
    replicasets,
    revision_history,
    services,
    traffic_safety,
)
from statemachine.plans import Plan
from statemachine.snapshot import Snapshot

__all__ = ["Applier", "Work", "status_body"]

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Work:
    """One reconcile's plan, what its effects read, and what they report back.

    `answer` is the AWS answer known for the weights in status (its alb/albs go into the status write);
    `check` the answer asked this reconcile; `addresses` the ready endpoint addresses of each Service;
    `targets` what `check_targets` found (Service, pod hash, addresses, serving); `outcomes` one line per
    thing an effect did.
    """

    plan: Plan
    snapshot: Snapshot
    involved: Mapping[str, Any]
    now: datetime
    owned: replicaset_sync.Owned | None = None
    answer: verify_step.WeightCheck | None = None
    check: verify_step.WeightCheck | None = None
    requeue_after: float | None = None
    addresses: Mapping[str, frozenset[str]] = field(default_factory=dict)
    targets: tuple[str, str, frozenset[str], bool] | None = None
    outcomes: list[str] = field(default_factory=list)

    def look_again(self, seconds: float | None) -> None:
        if seconds is not None and (self.requeue_after is None or seconds < self.requeue_after):
            self.requeue_after = seconds


def status_body(plan: Plan, check: verify_step.WeightCheck | None) -> dict[str, Any] | None:
    """The plan's `/status` merge patch with `status.alb` / `status.albs` of the AWS answer folded in."""
    raw = plan.after.raw_status
    body = plan.status_patch  # the planner's diff of the observed status (blue-green's carries blueGreen too)
    if check is None:
        return body
    fields: dict[str, Any] = dict((body or {}).get("status") or {})
    if raw.get("alb") != check.alb:
        fields["alb"] = check.alb
    if raw.get("albs") != check.albs:
        fields["albs"] = check.albs
    return {"status": fields} if fields else None


Effect = Callable[[Any], Awaitable[None]]


class Applier:
    """The effects, sending writes through `writer` and reading the informers' caches."""

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
        self.relabelling = pod_relabelling.PodRelabelling(writer=writer, reflector=informers.replica_sets,
                                                          deadline=deadline)
        self.ingresses = ingress_sync.IngressSync(writer=writer, reflector=informers.ingresses,
                                                  recorder=recorder, classes=classes, deadline=deadline)

    def bindings(self) -> dict[str, Effect]:
        """Every effect of `statemachine.machine.EFFECTS`, as a transitions callback reading `work`."""
        def bind(method: Callable[[Work], Awaitable[None]]) -> Effect:
            async def effect(event: Any) -> None:
                await method(event.kwargs["work"])
            effect.__name__ = method.__name__
            return effect
        return {name: bind(getattr(self, name)) for name in machine.EFFECTS}

    async def scale_replicasets(self, work: Work) -> None:
        owned, plan = work.owned, work.plan
        if owned is None:
            return
        # ephemeral metadata first (the reference's order), by the roles status held before this reconcile
        owned = work.owned = await self.relabelling.sync(work.involved, owned, work.outcomes)
        namespace, desired = plan.after.namespace, plan.after.replicas
        sets = [(owned.new, plan.canary_replicas)]
        if owned.stable is not None and (owned.new is None or _name(owned.stable) != _name(owned.new)):
            sets.append((owned.stable, plan.stable_replicas))
        for rs, replicas in sets:
            if await self.replicasets.scale(namespace, rs, replicas, desired=desired):
                work.outcomes.append(f"scaled ReplicaSet {_name(rs or {})} to {replicas}")

    async def point_services(self, work: Work) -> None:
        rollout = work.plan.after
        store = self.informers.services.store
        for name, pod_hash in work.plan.selectors:
            current = store.get(f"{rollout.namespace}/{name}")
            if current is None:
                raise LookupError(f'service "{name}" not found')
            selector = (current.get("spec") or {}).get("selector") or {}
            annotations = (current.get("metadata") or {}).get("annotations") or {}
            patch: dict[str, Any] = {}
            if annotations.get(ingress_checks.MANAGED_BY_ANNOTATION) != rollout.name:
                patch["metadata"] = {"annotations": {ingress_checks.MANAGED_BY_ANNOTATION: rollout.name}}
            widen = pod_hash == traffic_safety.WIDE
            if widen and models.POD_TEMPLATE_HASH_LABEL in selector:
                patch["spec"] = {"selector": {models.POD_TEMPLATE_HASH_LABEL: None}}  # merge patch: drop it
            elif not widen and selector.get(models.POD_TEMPLATE_HASH_LABEL) != pod_hash:
                patch["spec"] = {"selector": {models.POD_TEMPLATE_HASH_LABEL: pod_hash}}
            if not patch:
                continue
            log.info("widening Service" if widen else "pointing Service", service=name, pod_hash=pod_hash)
            answer = await self.writer.patch_service(rollout.namespace, name, patch)
            work.outcomes.append(f"widened Service {name} (dropped its {models.POD_TEMPLATE_HASH_LABEL} key)"
                                 if widen else f"pointed Service {name} at {pod_hash}")
            await results.wait_written(self.informers.services, answer, self.deadline)
        # after pointing, so a Service the spec moved to is managed before the old one is let go
        for name in await service_release.release(self.writer, self.informers.services, rollout.namespace,
                                                  rollout.name, deadline=self.deadline,
                                                  keep=services.named_services(rollout)):
            work.outcomes.append(f"released Service {name}")

    async def patch_ingresses(self, work: Work) -> None:
        for name in await self.ingresses.apply(work.plan, work.involved):
            work.outcomes.append(f"patched Ingress {name} (canary weight {work.plan.canary_weight})")

    async def verify_weights(self, work: Work) -> None:
        plan = work.plan
        weights = plan.traffic.weights
        if self.verifier is None or not plan.traffic.verify or weights is None or weights.verified is True:
            return
        check = await self.verifier.weights(plan)
        work.check = check
        # a new answer is planned at once (the move to WeightSet or Verifying); the same one waits
        work.look_again(self.verify_retry_interval if check.verified is weights.verified else 0.0)
        said = "verified" if check.verified else f"not verified: {check.result.reason}"
        work.outcomes.append(f"ELBv2: canary weight {plan.canary_weight} {said}")

    async def check_targets(self, work: Work) -> None:
        wait = work.plan.wait
        if wait is None or self.verifier is None:
            return
        widened = traffic_safety.widens(work.plan.selectors, wait.service)
        if not traffic_safety.caught_up(work.snapshot.endpoints.get(wait.service), wait.pod_hash,
                                        widened=widened):
            return  # the EndpointSlices have not switched yet: AWS cannot have the right targets
        serving, why = await self.verifier.serving(work.plan.after, wait.service)
        addresses = work.addresses.get(wait.service, frozenset())
        work.targets = (wait.service, wait.pod_hash, addresses, serving)
        work.look_again(0.0 if serving else self.verify_retry_interval)
        said = "serve" if serving else "do not serve yet"
        which = f"pods {wait.pod_hash} and the others it selects" if widened else f"pods {wait.pod_hash}"
        work.outcomes.append(f"ELBv2: Service {wait.service} targets {said} {which}: {why}")

    async def scale_down_old(self, work: Work) -> None:
        owned, snapshot = work.owned, work.snapshot
        if owned is None:
            return
        rollout = snapshot.rollout
        limit = revision_history.revision_history_limit(work.involved)
        await self.replicasets.prune(rollout.namespace, revision_history.to_delete(owned.others, limit),
                                     work.outcomes)
        if rollout.blue_green is not None:  # the plan decided the deadlines and sizes (§5.2, §6.1)
            deadlines, sizes = await self._released(work, dict(work.plan.deadlines), dict(work.plan.others))
            sets = tuple(rs for rs in (owned.new, owned.stable, *owned.others) if rs is not None)
            await self.replicasets.set_deadlines(rollout.namespace, sets, deadlines, work.outcomes)
            await self.replicasets.resize(rollout.namespace, owned.others, sizes, work.outcomes)
            return
        if not self.replicasets.needs_scale_down(owned.others):
            return
        if rollout.canary is not None and rollout.canary.basic:  # paced by maxUnavailable, never dated
            await self.replicasets.resize(rollout.namespace, owned.others, dict(work.plan.others),
                                          work.outcomes)
            return
        promoted = bool(rollout.status.stable_rs) and rollout.status.stable_rs == snapshot.pod_hash
        undated = any(replicaset_sync.replicaset_deadline(rs) is None for rs in owned.others
                      if replicaset_sync.spec_replicas(rs) > 0)
        if self.verifier is not None and promoted and undated:
            stable_service, _ = services.stable_and_canary_services(snapshot)
            stable_rs = _name(owned.new) if owned.new is not None else ""
            if stable_service and not await self.verifier.stable_targets(rollout, stable_service, stable_rs,
                                                                         work.involved):
                work.outcomes.append(f"ELBv2: Service {stable_service} targets not yet registered")
                work.look_again(self.verify_retry_interval)
                return
        delay = replicaset_sync.scale_down_delay(rollout)
        wait = await self.replicasets.scale_down_others(
            rollout.namespace, owned.others, now=work.now, delay=delay, done=work.outcomes,
            keep=traffic_safety.referenced(snapshot), budget=traffic_safety.scale_down_budget(snapshot),
            revision_limit=replicaset_sync.scale_down_revision_limit(work.involved))
        work.look_again(wait)

    async def _analysis_runs(self, work: Work) -> None:
        """Terminate the AnalysisRuns the plan lets go (`spec.terminate`, as the reference's cancel), then
        create the ones it wants; a run already there under that name (a cache that lagged) is taken."""
        decision, namespace = work.plan.analysis, work.plan.after.namespace
        if decision is None:
            return
        for name in decision.terminate:
            results.wrote_unwatched()
            try:
                await self.writer.patch_analysis_run(namespace, name, {"spec": {"terminate": True}})
            except writing.NotFound:
                continue
            work.outcomes.append(f"terminated AnalysisRun {name}")
        for run in decision.create:
            try:
                created = await self.writer.create_analysis_run(namespace, run.body)
            except writing.Conflict:
                work.outcomes.append(f"AnalysisRun {run.name} already there")
                continue
            await results.wait_written(self.informers.analysis_runs, created, self.deadline)
            work.outcomes.append(f"created AnalysisRun {run.name}")

    async def _released(self, work: Work, deadlines: dict[str, str | None],
                        sizes: dict[str, int]) -> tuple[dict[str, str | None], dict[str, int]]:
        """Blue-green, with `--aws-verify-target-group` (§14 item 3): an older ReplicaSet is dated (or, with
        `scaleDownDelaySeconds: 0`, scaled down) only once the active Service's target groups hold none of
        its pods outside draining; until then those writes wait for the next look."""
        owned, rollout = work.owned, work.snapshot.rollout
        if self.verifier is None or owned is None or rollout.blue_green is None:
            return deadlines, sizes
        undated = {_name(rs) for rs in owned.others if replicaset_sync.replicaset_deadline(rs) is None}
        retiring = {name for name, value in deadlines.items() if value is not None and name in undated}
        retiring |= {name for name, size in sizes.items() if size == 0 and name in undated}
        if not retiring:
            return deadlines, sizes
        service = rollout.blue_green.active_service
        # The ready endpoints are what the target check compares with: while they still list a retiring
        # ReplicaSet's pods (a cache that has not seen the narrowing yet), its targets would count as wanted
        hashes = {replicasets.replicaset_hash(rs) for rs in owned.others if _name(rs) in retiring}
        listed = sorted(hashes & set(work.snapshot.endpoints.get(service, frozenset())))
        if listed:
            released, why = False, f"its endpoints still list pods {', '.join(listed)}"
        else:
            released, why = await self.verifier.released(rollout, service)
        if released:
            return deadlines, sizes
        work.outcomes.append(f"ELBv2: Service {service} still routes to older pods, "
                             f"{', '.join(sorted(retiring))} kept undated: {why}")
        work.look_again(self.verify_retry_interval)
        return ({k: v for k, v in deadlines.items() if k not in retiring},
                {k: v for k, v in sizes.items() if k not in retiring})

    async def write_status(self, work: Work) -> None:
        plan = work.plan
        rollout = plan.after
        await self._analysis_runs(work)  # before the status that names them
        body = status_body(plan, work.check or work.answer)
        written = None
        if body is not None:
            written = await self.writer.patch_rollout_status(rollout.namespace, rollout.name, body)
            work.outcomes.append("status written")
        for event in plan.events:  # before the wait: the facts are written even if the cache lags
            await self.recorder.emit(work.involved, event)
        if written is not None:
            await results.wait_written(self.informers.rollouts, written, self.deadline)


def _name(rs: Mapping[str, Any]) -> str:
    return str((rs.get("metadata") or {}).get("name", ""))

