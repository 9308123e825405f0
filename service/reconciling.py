"""One reconcile of one Rollout: read the caches, plan, and fire the planned trigger on the machine.

Room: reconcile (observe → queue → **reconcile** → plan → apply → status). `Reconciler.reconcile(key)` reads
the newest objects from the informer caches (never the triggering event), resolves a `spec.workloadRef` to
the Deployment's pod template (`service.workload_resolver`), parses and validates the Rollout,
claims its ReplicaSets (adopting, never recreating), builds the `Snapshot` (with the last AWS answer for the
weights in status), plans (pure), and fires the plan's trigger on the one `AsyncMachine`: the row's effects
(`service.applying`) do the writes, in the row's order, and only then does the model move; then the referenced
Deployment is scaled for `workloadRef.scaleDown`. A trigger the machine refuses is a planner bug: it raises
`IllegalTransition`, is counted, and the model is rebuilt from status on the next try. Transient failures
raise (the worker requeues with backoff); an invalid spec raises `TerminalError` once its status is written.
It never calls the queue and never sleeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from transitions import MachineError
from transitions.extensions.asyncio import AsyncMachine

from service import (
    analysis_observing,
    applying,
    deletion,
    expectations,
    pod_restarter,
    refusing,
    results,
    revision_sync,
    rollout_memory,
    rollout_metrics,
    traffic_observing,
    verify_step,
    workload_resolver,
)
from service import clock as clocks
from service import settings as settings_mod
from service.aws import verifying
from service.kube import caches, recording, views, writing
from service.kube import informers as informers_mod
from service.rollout_memory import Memory
from statemachine import machine, models, planning, serving, validation, weights
from statemachine.snapshot import Snapshot

__all__ = ["AGAIN_AT_ONCE", "EXPECTATIONS_POLL_SECONDS", "UNSERVED_EVENT_RETRY", "Reconciler"]

UNSERVED_EVENT_RETRY = 10.0
"""Seconds before saying again that a strategy is not served, when the Event could not be written."""
AGAIN_AT_ONCE = 2
"""At most this many more decisions in one reconcile, each after one that learnt something from AWS and wrote
nothing, or that wrote only this Rollout (a status step: verified, step completed, paused)."""
EXPECTATIONS_POLL_SECONDS = 0.25
"""A reconcile that finds its last writes not yet in the caches looks again this soon: the watch event of the
write normally queues it first, but a write to another kind (a Service) may not queue this Rollout."""

log = structlog.get_logger(__name__)


class Reconciler:
    """Reconciles Rollouts by key ("namespace/name"), one machine model per Rollout."""

    def __init__(self, *, informers: informers_mod.Informers, writer: writing.Writer,
                 recorder: recording.EventRecorder, verifiers: verifying.AwsVerifiers | None,
                 settings: settings_mod.Settings, clock: clocks.Clock,
                 metrics: rollout_metrics.RolloutMetrics | None = None) -> None:
        self.informers = informers
        self.writer = writer
        self.recorder = recorder
        self.settings = settings
        self.clock = clock
        self.metrics = metrics  # None for tests
        self.deadline = settings.kube.request_timeout_seconds
        self.expectations = expectations.Expectations(within=self.deadline, monotonic=clock.monotonic)
        self._memory: dict[str, Memory] = {}
        self._unserved: dict[str, tuple[str, str, bool]] = {}  # key -> (uid, what we do not serve, said)
        verifier = None
        if verifiers is not None and settings.aws.verify_target_group:
            verifier = verify_step.Verifier(verifiers=verifiers, informers=informers, recorder=recorder,
                                            tag_key=settings.aws.tag_key_resource_id)
        self.verifying = verifier is not None
        self.applier = applying.Applier(
            writer=writer, informers=informers, recorder=recorder, verifier=verifier,
            classes=settings.aws.ingress_classes,
            verify_retry_interval=settings.aws.verify_retry_interval_seconds, deadline=self.deadline)
        self.machine = machine.build_machine(AsyncMachine, effects=self.applier.bindings(), queued="model")
        self.workloads = workload_resolver.WorkloadResolver(deployments=informers.deployments,
                                                            rollouts=informers.rollouts, writer=writer,
                                                            deadline=self.deadline)

    # ---- the contract ------------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        return sorted(self._memory)

    def forget(self, key: str) -> None:
        """The Rollout is gone (or its model is not to be trusted): drop its machine model."""
        memory = self._memory.pop(key, None)
        if memory is not None:
            self.machine.remove_model(memory.model)

    def unserved(self) -> dict[str, str]:
        """Rollouts of our instance whose strategy we do not serve, and what that strategy is."""
        return {key: what for key, (_, what, _said) in sorted(self._unserved.items())}

    def describe(self, key: str) -> dict[str, Any] | None:
        """State, last transitions with reasons and effects, last AWS answer, next look time (SPEC §4.10)."""
        memory = self._memory.get(key)
        if memory is None:
            left = self._unserved.get(key)
            return None if left is None else {"rollout": key, "state": None, "unserved": left[1]}
        return rollout_memory.describe(key, memory)

    async def reconcile(self, key: str) -> results.Result:
        namespace, _, name = key.partition("/")
        # `state` is bound here too so that its later re-binding is undone when the reconcile ends
        with structlog.contextvars.bound_contextvars(namespace=namespace, rollout=key, state=""):
            raw = self.informers.rollouts.store.get(key)
            if raw is None:
                await deletion.reset_if_deleted(self.writer, self.applier.ingresses, namespace, name,
                                                services=self.informers.services)
                self.forget(key)
                self.expectations.forget(key)
                self._serve(key)
                if self.metrics is not None:
                    self.metrics.forget(namespace, name)
                return results.Result()
            if not self._ours(raw):
                self.forget(key)
                self._serve(key)
                return results.Result()
            leave = serving.unserved(raw)
            if leave is not None:
                return await self._leave(key, raw, leave)
            self._serve(key)
            if self.expectations.unseen(key):  # the watch event of our last write queues the Rollout again
                return results.Result(requeue_after=EXPECTATIONS_POLL_SECONDS)
            with results.deferring() as deferred:
                try:
                    result = await self._reconcile(key, raw)
                    for _ in range(AGAIN_AT_ONCE):
                        before = len(deferred.written)
                        again = self._again(key, result, deferred)
                        if again is None:
                            break
                        result = await self._reconcile(key, again)
                        if len(deferred.written) == before and result.requeue_after != 0:
                            break  # nothing new written, nothing learnt: the rest waits for its event
                    return result
                finally:
                    for reflector, answer in deferred.written:
                        self.expectations.expect(key, reflector, answer)

    def _again(self, key: str, result: results.Result, deferred: results.Deferred) -> dict[str, Any] | None:
        """The Rollout to decide again from at once, not behind the whole queue; None when it must wait.

        Only while every write of this reconcile was to this Rollout: the caches still hold the rest of the
        world, and the last answer is the newest copy of the Rollout (newer than the cache, until its event).
        """
        rollouts, written = self.informers.rollouts, deferred.written
        cached = rollouts.store.get(key)
        if deferred.unwatched:
            return None
        if not written:  # it learnt something from AWS (targets serve, weights verified) and wrote nothing
            return cached if result.requeue_after == 0 else None
        if any(reflector is not rollouts or _key(answer) != key for reflector, answer in written):
            return None
        answer = written[-1][1]
        if cached is not None and rollouts.has_seen(caches.resource_version_of(answer)):
            return cached  # the watch already brought it (or something newer)
        return dict(answer)

    # ---- the steps ---------------------------------------------------------------------------------------
    async def _leave(self, key: str, raw: Mapping[str, Any], leave: serving.Unserved) -> results.Result:
        """A strategy we do not serve: never written to; one Warning event per Rollout and strategy."""
        self.forget(key)
        uid = str((raw.get("metadata") or {}).get("uid") or "")
        known = self._unserved.get(key)
        said = known is not None and known[:2] == (uid, leave.what) and known[2]
        if not said:
            involved = {"apiVersion": models.ROLLOUT_API_VERSION, "kind": "Rollout", **raw}
            said = await self.recorder.emit(involved, leave.event())
            log.warning("strategy not served: left to another controller", what=leave.what)
        self._unserved[key] = (uid, leave.what, said)
        self._count_unserved()
        # an event that could not be written is tried again (the recorder never raises)
        return results.Result() if said else results.Result(requeue_after=UNSERVED_EVENT_RETRY)

    def _serve(self, key: str) -> None:
        """The Rollout is gone, not of our instance, or of a strategy we serve: no longer unserved."""
        if self._unserved.pop(key, None) is not None:
            self._count_unserved()

    def _count_unserved(self) -> None:
        if self.metrics is not None:
            self.metrics.unserved.set(len(self._unserved))

    def _ours(self, raw: Mapping[str, Any]) -> bool:
        labels = (raw.get("metadata") or {}).get("labels") or {}
        label = labels.get(models.INSTANCE_ID_LABEL) if isinstance(labels, Mapping) else None
        return (label or "") == self.settings.kube.instance_id

    def _model(self, key: str, rollout: models.Rollout) -> Memory:
        memory = self._memory.get(key)
        if memory is not None and memory.uid != rollout.uid:
            self.forget(key)  # deleted and recreated under the same name: start from its status
            memory = None
        if memory is None:
            memory = Memory(machine.add_rollout(self.machine, rollout), rollout.uid)
            self._memory[key] = memory
        return memory

    async def _reconcile(self, key: str, raw: dict[str, Any]) -> results.Result:
        now = self.clock.now()
        involved = {"apiVersion": models.ROLLOUT_API_VERSION, "kind": "Rollout", **raw}
        resolved = await self.workloads.resolve(raw)  # spec.workloadRef: plan from the Deployment's template
        raw = dict(resolved.raw)
        try:
            rollout = models.parse_rollout(raw, template_resolved=resolved.from_ref)
            problem = resolved.problem or validation.validate(
                rollout, ingresses=self._by_name("ingresses", rollout.namespace),
                services=self._by_name("services", rollout.namespace))
        except models.InvalidSpec as error:
            rollout, problem = _fallback(raw), resolved.problem or error.message
        memory = self._model(key, rollout)
        structlog.contextvars.bind_contextvars(state=memory.model.state.value)
        if problem is not None:
            snapshot = Snapshot(rollout=rollout, invalid_spec=problem)
            plan = planning.plan(snapshot, now=now, source=memory.model.state)
            await self._fire(memory, applying.Work(plan, snapshot, involved, now))
            log.warning("invalid spec", message=problem)
            raise results.TerminalError(problem)
        try:
            self.applier.ingresses.check(rollout)  # refuse an Ingress we may not write before any call
        except ValueError as refusal:  # Refusal or IngressError: retrying cannot help until it changes
            await refusing.refuse(rollout, str(refusal), involved, writer=self.writer, recorder=self.recorder,
                                  rollouts=self.informers.rollouts, deadline=self.deadline)
            raise results.TerminalError(str(refusal)) from refusal
        bindings = self.informers.target_group_bindings
        if self.verifying and bindings is not None and not bindings.synced.is_set():
            # an unsynced cache reads as "nothing bound", which would pass every target check: wait, and
            # loudly only once its LIST failed (a large first LIST after a restart is not news to the user)
            if bindings.last_error is None:
                log.info("waiting for the TargetGroupBinding cache's first LIST")
                return results.Result(requeue_after=self.settings.aws.verify_retry_interval_seconds)
            await refusing.unverifiable(rollout, informers_mod.unsynced_reason(bindings), involved,
                                        writer=self.writer, recorder=self.recorder,
                                        rollouts=self.informers.rollouts, deadline=self.deadline)
            return results.Result(requeue_after=self.settings.aws.verify_retry_interval_seconds)
        owned = await self.applier.replicasets.claim(raw, rollout.namespace, create=True)
        new_rs, stable_rs, others = owned.views()
        answer = self._answer(memory, rollout)
        sets = [rs for rs in (new_rs, stable_rs, *others) if rs is not None]
        seen = traffic_observing.observe(self.informers, rollout, sets)
        targets = {name: pod_hash for name, (pod_hash, addresses, serving) in memory.targets.items()
                   if serving and seen.addresses.get(name) == addresses}
        snapshot = Snapshot(rollout=rollout, new_rs=new_rs, stable_rs=stable_rs, others=others,
                            template_hash=new_rs.hash if new_rs else "", verify_weights=self.verifying,
                            verified=answer.verified if answer is not None else None,
                            verify_error=answer.error if answer is not None else None,
                            selectors=seen.selectors, endpoints=seen.endpoints, targets=targets,
                            raw=raw, **analysis_observing.observe(self.informers, rollout))
        plan = planning.plan(snapshot, now=now, source=memory.model.state,
                             verify_retry_interval=self.settings.aws.verify_retry_interval_seconds)
        memory.services = rollout_memory.blue_green_view(snapshot)
        await revision_sync.sync_revision(snapshot, writer=self.writer, rollouts=self.informers.rollouts,
                                          deadline=self.deadline)
        restart = await pod_restarter.restart(raw, snapshot, owned, now=now, writer=self.writer,
                                              rollouts=self.informers.rollouts, deadline=self.deadline)
        if restart.evicted:  # availability counts are stale now: decide on fresh ones, as the reference does
            return results.Result(requeue_after=restart.requeue_after)
        work = applying.Work(plan, snapshot, involved, now, owned=owned, answer=answer,
                             requeue_after=restart.sooner(plan.requeue_after), addresses=seen.addresses)
        try:
            await self._fire(memory, work)
        finally:
            if work.check is not None:  # kept even when a later effect failed: AWS did answer
                memory.check, memory.checked = work.check, plan.traffic.weights
            if work.targets is not None:
                name, pod_hash, addresses, serving = work.targets
                memory.targets[name] = (pod_hash, addresses, serving)
        # workloadRef.scaleDown: the referenced Deployment follows the Rollout (reference: scaleDeployment)
        await self.workloads.scale_down(resolved, snapshot, planned=plan.canary_replicas)
        self._time_the_wait(memory, rollout, now)
        requeue = work.requeue_after
        memory.next_look = now + timedelta(seconds=requeue) if requeue is not None else None
        return results.Result(requeue_after=requeue)

    def _time_the_wait(self, memory: Memory, rollout: models.Rollout, now: datetime) -> None:
        """`rollout_traffic_target_wait_seconds`: from entering WaitingForTargets to leaving it."""
        waiting = memory.model.state is machine.States.WaitingForTargets
        if waiting and memory.waiting_since is None:
            memory.waiting_since = now
        elif not waiting and memory.waiting_since is not None:
            if self.metrics is not None:
                waited = (now - memory.waiting_since).total_seconds()
                self.metrics.traffic_wait.labels(rollout.namespace, rollout.name).observe(waited)
            memory.waiting_since = None

    def _answer(self, memory: Memory, rollout: models.Rollout) -> verify_step.WeightCheck | None:
        """The last AWS answer, if it was about the weights now in status."""
        current = rollout.status.canary.weights
        if memory.check is None or memory.checked is None or current is None:
            return None
        return None if weights.weights_differ(memory.checked, current) else memory.check

    async def _fire(self, memory: Memory, work: applying.Work) -> None:
        """Fire the plan's trigger: the row's effects run, then the model moves (else IllegalTransition)."""
        plan, model = work.plan, memory.model
        structlog.contextvars.bind_contextvars(state=plan.source.value)
        kwargs = machine.trigger_kwargs(plan.move, plan.reason, work.now, work=work, outcomes=work.outcomes)
        try:
            if plan.trigger is None:
                raise machine.IllegalTransition(
                    f"no row of the table moves {plan.source.name} to {plan.target.name}")
            try:
                moved = await self.machine.events[plan.trigger].trigger(model, **kwargs)
            except MachineError as error:
                raise machine.IllegalTransition(str(error.value)) from error
            if not moved:
                raise machine.IllegalTransition(
                    f"{plan.trigger} refused from {model.state.name} to {plan.target.name}")
        except machine.IllegalTransition as error:
            if self.metrics is not None:
                self.metrics.illegal_transition(plan.trigger or "", plan.source.value)
            log.error("illegal transition", trigger=plan.trigger, target=plan.target.value, error=str(error))
            self.forget(model.key)  # rebuilt from status on the next try, as after a restart
            raise
        if work.outcomes:
            log.info("transition", trigger=plan.trigger, to=plan.target.value, reason=plan.reason,
                     effects=work.outcomes)

    def _by_name(self, kind: str, namespace: str) -> views.ByName:
        """`namespace`'s Ingresses or Services by name: a view, so a lookup never copies the namespace."""
        store = self.informers.ingresses.store if kind == "ingresses" else self.informers.services.store
        return views.ByName(store, namespace)


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _fallback(raw: Mapping[str, Any]) -> models.Rollout:
    """A Rollout to hang an InvalidSpec status on when the spec cannot even be parsed."""
    try:
        return models.parse_rollout({**raw, "spec": {"strategy": {}}})
    except models.InvalidSpec:
        metadata = raw.get("metadata") or {}
        generation = metadata.get("generation")
        status = raw.get("status")
        return models.Rollout(namespace=str(metadata.get("namespace") or "default"),
                              name=str(metadata.get("name") or ""), uid=str(metadata.get("uid") or ""),
                              generation=generation if isinstance(generation, int) else 0,
                              raw_status=status if isinstance(status, dict) else {})
