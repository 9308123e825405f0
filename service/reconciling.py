"""One reconcile of one Rollout: read the caches, plan, apply, write status, move the machine.

Room: reconcile (observe → queue → **reconcile** → plan → apply → status). `Reconciler.reconcile(key)` reads
the newest objects from the informer caches (never the triggering event), parses and validates the Rollout,
claims its ReplicaSets (adopting, never recreating), builds the `Snapshot`, plans (pure), hands the plan to
`service.applying`, fires the machine's trigger and returns a `Result`. Transient failures raise (the worker
requeues with backoff); an invalid spec raises `TerminalError` once its status is written. It never calls the
queue and never sleeps. A Rollout gone from the cache has its Ingress actions reset at once (SPEC §4.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
import transitions

from service import applying, results, rollout_metrics, verify_step
from service import clock as clocks
from service import settings as settings_mod
from service.aws import verifying
from service.kube import informers as informers_mod
from service.kube import recording, writing
from statemachine import events, machine, models, planning, validation
from statemachine.snapshot import Snapshot

__all__ = ["ROLLOUT_API_VERSION", "Reconciler"]

log = structlog.get_logger(__name__)

ROLLOUT_API_VERSION = "argoproj.io/v1alpha1"


@dataclass(slots=True)
class _Memory:
    """What the controller remembers of one Rollout between reconciles (never needed for correctness)."""

    model: machine.RolloutModel
    uid: str
    check: verify_step.WeightCheck | None = None
    checked_weight: int | None = None
    next_look: datetime | None = None


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
        self.machine = machine.build_machine()
        self._memory: dict[str, _Memory] = {}
        verifier = None
        if verifiers is not None and settings.aws.verify_target_group:
            verifier = verify_step.Verifier(verifiers=verifiers, informers=informers, recorder=recorder,
                                            tag_key=settings.aws.tag_key_resource_id)
        self.verifying = verifier is not None
        self.applier = applying.Applier(
            writer=writer, informers=informers, recorder=recorder, verifier=verifier,
            classes=settings.aws.ingress_classes,
            verify_retry_interval=settings.aws.verify_retry_interval_seconds, deadline=self.deadline)

    # ---- the contract ------------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        return sorted(self._memory)

    def forget(self, key: str) -> None:
        """The Rollout is gone: drop its machine model."""
        memory = self._memory.pop(key, None)
        if memory is not None:
            self.machine.remove_model(memory.model)

    def describe(self, key: str) -> dict[str, Any] | None:
        """State, last transitions with reasons, last AWS answer and next look time (SPEC §4.10)."""
        memory = self._memory.get(key)
        if memory is None:
            return None
        history = [{"from": r.source, "to": r.dest, "trigger": r.trigger, "reason": r.reason,
                    "at": models.format_time(r.at) if r.at else None} for r in memory.model.history]
        aws = None
        if memory.check is not None:
            aws = {"weight": memory.checked_weight, "verified": memory.check.verified,
                   "ingresses": [item.to_dict() for item in memory.check.result.ingresses]}
        return {"rollout": key, "state": memory.model.state.value, "transitions": history, "aws": aws,
                "nextLook": models.format_time(memory.next_look) if memory.next_look else None}

    async def reconcile(self, key: str) -> results.Result:
        namespace, _, name = key.partition("/")
        # `state` is bound here too so that its later re-binding is undone when the reconcile ends
        with structlog.contextvars.bound_contextvars(namespace=namespace, rollout=key, state=""):
            raw = self.informers.rollouts.store.get(key)
            if raw is None:
                await self._deleted(namespace, name, key)
                return results.Result()
            if not self._ours(raw):
                self.forget(key)
                return results.Result()
            return await self._reconcile(key, raw)

    # ---- the steps ---------------------------------------------------------------------------------------
    def _ours(self, raw: Mapping[str, Any]) -> bool:
        labels = (raw.get("metadata") or {}).get("labels") or {}
        label = labels.get(models.INSTANCE_ID_LABEL) if isinstance(labels, Mapping) else None
        return (label or "") == self.settings.kube.instance_id

    async def _deleted(self, namespace: str, name: str, key: str) -> None:
        if self.applier.ingresses.listing(namespace, name) and await self._gone(namespace, name):
            patched = await self.applier.ingresses.cleanup(namespace, name)
            log.info("rollout deleted", ingresses_reset=patched)
        self.forget(key)
        if self.metrics is not None:
            self.metrics.forget(namespace, name)

    async def _gone(self, namespace: str, name: str) -> bool:
        """Is the Rollout deleted, not merely out of our cache? A label selector watch also says DELETED when
        a Rollout is relabelled for another --instance-id (a migration): its traffic must not be reset then.
        """
        try:
            # an empty merge patch changes nothing: a live read with the permissions we already hold
            await self.writer.patch_rollout(namespace, name, {})
        except writing.NotFound:
            return True
        log.info("rollout out of our cache but not deleted (another --instance-id?): Ingresses kept")
        return False

    def _model(self, key: str, rollout: models.Rollout) -> _Memory:
        memory = self._memory.get(key)
        if memory is not None and memory.uid != rollout.uid:
            self.forget(key)  # deleted and recreated under the same name: start from its status
            memory = None
        if memory is None:
            memory = _Memory(machine.add_rollout(self.machine, rollout), rollout.uid)
            self._memory[key] = memory
        return memory

    async def _reconcile(self, key: str, raw: dict[str, Any]) -> results.Result:
        now = self.clock.now()
        involved = {"apiVersion": ROLLOUT_API_VERSION, "kind": "Rollout", **raw}
        try:
            rollout = models.parse_rollout(raw)
            problem = validation.validate(rollout, ingresses=self._by_name("ingresses", rollout.namespace),
                                          services=self._by_name("services", rollout.namespace))
        except models.InvalidSpec as error:
            rollout, problem = _fallback(raw), error.message
        memory = self._model(key, rollout)
        structlog.contextvars.bind_contextvars(state=memory.model.state.value)
        if problem is not None:
            await self._invalid(memory, rollout, problem, involved, now=now)
            raise results.TerminalError(problem)
        try:
            self.applier.ingresses.check(rollout)  # refuse an Ingress we may not write before any call
        except ValueError as refusal:  # Refusal or IngressError: retrying cannot help until it changes
            await self._refused(rollout, str(refusal), involved)
            raise results.TerminalError(str(refusal)) from refusal
        owned = await self.applier.replicasets.claim(raw, rollout.namespace, create=True)
        new_rs, stable_rs, others = owned.views()
        verify_error = None
        if memory.check is not None and memory.check.error and _weight(rollout) == memory.checked_weight:
            verify_error = memory.check.error
        snapshot = Snapshot(rollout=rollout, new_rs=new_rs, stable_rs=stable_rs, others=others,
                            template_hash=new_rs.hash if new_rs else "", verify_weights=self.verifying,
                            verify_error=verify_error)
        plan = planning.plan(snapshot, now=now, source=memory.model.state,
                             verify_retry_interval=self.settings.aws.verify_retry_interval_seconds)
        structlog.contextvars.bind_contextvars(state=plan.source.value)
        await self._sync_revision(rollout, snapshot)
        applied = await self.applier.apply(plan, snapshot, owned, involved, now=now)
        if applied.check is not None:
            memory.check, memory.checked_weight = applied.check, plan.canary_weight
        self._fire(memory, plan, now=now)
        requeue = applied.requeue_after
        memory.next_look = now + timedelta(seconds=requeue) if requeue is not None else None
        return results.Result(requeue_after=requeue)

    async def _invalid(self, memory: _Memory, rollout: models.Rollout, problem: str,
                       involved: Mapping[str, Any], *, now: datetime) -> None:
        """InvalidSpec: write its status once and its event; touch nothing else."""
        snapshot = Snapshot(rollout=rollout, invalid_spec=problem)
        plan = planning.plan(snapshot, now=now, source=memory.model.state)
        if plan.status_patch is not None:
            body = plan.status_patch
            written = await self.writer.patch_rollout_status(rollout.namespace, rollout.name, body)
            await results.wait_written(self.informers.rollouts, written, self.deadline)
        for event in plan.events:
            await self.recorder.emit(involved, event)
        self._fire(memory, plan, now=now)
        log.warning("invalid spec", message=problem)

    async def _refused(self, rollout: models.Rollout, refusal: str, involved: Mapping[str, Any]) -> None:
        """An Ingress we may not write (SPEC §5): a Warning event and the status message say what to fix.

        Only `status.message` is written (phase and conditions kept), and only when it differs, so a retry
        writes nothing; the next plan replaces the message once the Ingress is fixed.
        """
        message = f"{events.TRAFFIC_ROUTING_ERROR}: {refusal}"
        if rollout.raw_status.get("message") != message:
            body = {"status": {"message": message}}
            written = await self.writer.patch_rollout_status(rollout.namespace, rollout.name, body)
            await results.wait_written(self.informers.rollouts, written, self.deadline)
        await self.recorder.emit(involved, events.traffic_routing_error(refusal))
        log.warning("refusing to write an Ingress", reason=refusal)

    async def _sync_revision(self, rollout: models.Rollout, snapshot: Snapshot) -> None:
        """Keep the Rollout's revision annotation at its new ReplicaSet's (the reference's syncRevision)."""
        revision = snapshot.new_rs.revision if snapshot.new_rs is not None else 0
        if revision and rollout.annotation(models.REVISION_ANNOTATION) != str(revision):
            body = {"metadata": {"annotations": {models.REVISION_ANNOTATION: str(revision)}}}
            answer = await self.writer.patch_rollout(rollout.namespace, rollout.name, body)
            await results.wait_written(self.informers.rollouts, answer, self.deadline)

    def _fire(self, memory: _Memory, plan: planning.Plan, *, now: datetime) -> None:
        """Move the model along the table; a refused or illegal move still lands where the status says."""
        model = memory.model
        try:
            machine.fire(self.machine, model, plan, now=now)
        except transitions.MachineError as error:
            log.warning("transition not in the table", trigger=plan.trigger, error=str(error))
        if model.state is not plan.target:
            self.machine.set_state(plan.target, model)
            record = machine.TransitionRecord(plan.source.value, plan.target.value, plan.trigger or "observe",
                                              plan.reason, now)
            model.history = (*model.history, record)[-machine.HISTORY_LENGTH:]

    def _by_name(self, kind: str, namespace: str) -> dict[str, Any]:
        store = self.informers.ingresses.store if kind == "ingresses" else self.informers.services.store
        out: dict[str, Any] = {}
        for obj in store.list():
            metadata = obj.get("metadata") or {}
            if metadata.get("namespace") == namespace:
                out[str(metadata.get("name", ""))] = obj
        return out


def _weight(rollout: models.Rollout) -> int | None:
    weights = rollout.status.canary.weights
    return weights.canary.weight if weights is not None else None


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


