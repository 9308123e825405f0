"""The AWS checks of one reconcile: do the ALBs carry the planned weights, are the stable pods registered?

Room: apply (verify). Called only with `--aws-verify-target-group` (the verifiers exist only then). Inputs are
read from the informer caches (Ingress status hostnames, Service, EndpointSlices, TargetGroupBindings), never
from a live LIST. The verifiers never raise; an AWS failure comes back as an unverified answer with its text.
Target events use the reference's reasons and messages; the recorder keeps an unchanged fact from repeating.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from service.aws import inputs, results, verifying
from service.kube import indexes, informers, recording
from statemachine import events, models
from statemachine.plans import Plan

__all__ = [
    "TARGET_GROUP_UNVERIFIED",
    "TARGET_GROUP_VERIFIED",
    "TARGET_GROUP_VERIFY_ERROR",
    "Verifier",
    "WeightCheck",
]

log = structlog.get_logger(__name__)

TARGET_GROUP_VERIFIED = "TargetGroupVerified"
TARGET_GROUP_UNVERIFIED = "TargetGroupUnverified"
TARGET_GROUP_VERIFY_ERROR = "TargetGroupVerifyError"
_SAID_LIMIT = 10_000  # remembered target events; forgetting them only means one more event


@dataclass(frozen=True, slots=True)
class WeightCheck:
    """One weight verification: the answer and the `status.alb` / `status.albs` it implies."""

    result: results.WeightVerification
    alb: dict[str, Any]
    albs: list[dict[str, Any]]

    @property
    def verified(self) -> bool:
        return self.result.verified

    @property
    def error(self) -> str | None:
        return self.result.error or None


class Verifier:
    """Weight and target verification over the caches of `informers`."""

    def __init__(self, *, verifiers: verifying.AwsVerifiers, informers: informers.Informers,
                 recorder: recording.EventRecorder, tag_key: str) -> None:
        self.verifiers = verifiers
        self.informers = informers
        self.recorder = recorder
        self.tag_key = tag_key
        self._said: dict[tuple[str, str], str] = {}  # (rollout, target group) -> the last target event

    async def weights(self, plan: Plan) -> WeightCheck:
        """Ask AWS whether every Ingress's ALB forwards the plan's weights."""
        rollout = plan.after
        store = self.informers.ingresses.store
        ingresses = {name: store.get(f"{rollout.namespace}/{name}")
                     for name in inputs.ingress_names(rollout)}
        additional = tuple((d.service_name, d.weight) for d in plan.additional)
        request = inputs.weight_request(rollout, ingresses, plan.canary_weight, additional=additional,
                                        tag_key=self.tag_key)
        answer = await self.verifiers.weights.verify(request)
        raw = rollout.raw_status
        previous_albs = raw.get("albs")
        alb, albs = results.alb_status_patch(
            answer, raw.get("alb") if isinstance(raw.get("alb"), Mapping) else None,
            previous_albs if isinstance(previous_albs, list) else None)
        log.info("weights verified" if answer.verified else "weights not yet verified",
                 weight=plan.canary_weight, reason=answer.reason)
        return WeightCheck(answer, alb, albs)

    async def serving(self, rollout: models.Rollout, service_name: str) -> tuple[bool, str]:
        """Do the target groups bound to the Service have its ready endpoints registered and `healthy`?

        (True, why) when nothing is bound (the Service is not behind an ALB target group we can check).
        """
        bindings_reflector = self.informers.target_group_bindings
        key = f"{rollout.namespace}/{service_name}"
        service = self.informers.services.store.get(key)
        if service is None or bindings_reflector is None:
            return True, f"Service {service_name}: no target group to check"
        bindings = bindings_reflector.store.by_index(indexes.BY_SERVICE, key)
        slices = self.informers.endpoint_slices.store.by_index(indexes.BY_SERVICE, key)
        answer = await self.verifiers.targets.verify(service, bindings, slices, healthy=True)
        serving = all(group.verified or not group.verifiable for group in answer.target_groups)
        reasons = "; ".join(f"TargetGroup {g.target_group}: {g.reason}" for g in answer.target_groups)
        return serving, reasons or f"Service {service_name}: no target group bound"

    async def released(self, rollout: models.Rollout, service_name: str) -> tuple[bool, str]:
        """Have the target groups bound to the Service let go of every target that is not one of its ready
        endpoints (deregistered, or draining)? Before that, an older ReplicaSet's pods still take requests.

        (True, why) when nothing is bound; an AWS error answers False (its text in why).
        """
        bindings_reflector = self.informers.target_group_bindings
        key = f"{rollout.namespace}/{service_name}"
        service = self.informers.services.store.get(key)
        if service is None or bindings_reflector is None:
            return True, f"Service {service_name}: no target group to check"
        bindings = bindings_reflector.store.by_index(indexes.BY_SERVICE, key)
        slices = self.informers.endpoint_slices.store.by_index(indexes.BY_SERVICE, key)
        answer = await self.verifiers.targets.verify(service, bindings, slices)
        held = [g for g in answer.target_groups if g.verifiable and (g.error or g.extra)]
        if not held:
            return True, f"Service {service_name}: no target outside its endpoints is registered"
        return False, "; ".join(
            f"TargetGroup {g.target_group}: " + (g.reason if g.error else "still registered (not draining): "
                                                 + ", ".join(g.extra)) for g in held)

    async def stable_targets(self, rollout: models.Rollout, stable_service: str, stable_rs: str,
                             involved: Mapping[str, Any]) -> bool:
        """Are the stable Service's ready endpoints registered in every target group bound to it?

        False without asking AWS while the EndpointSlices still list pods of another ReplicaSet than
        `stable_rs` (just after the selector switch): the old pods' registration proves nothing.
        """
        bindings_reflector = self.informers.target_group_bindings
        key = f"{rollout.namespace}/{stable_service}"
        service = self.informers.services.store.get(key)
        if service is None or bindings_reflector is None:
            return True  # nothing bound (or nothing to bind): the reference treats it as verified
        bindings = bindings_reflector.store.by_index(indexes.BY_SERVICE, key)
        slices = self.informers.endpoint_slices.store.by_index(indexes.BY_SERVICE, key)
        stale = _foreign_pods(slices, stable_rs)
        if stale:
            log.info("stable endpoints not yet switched", service=stable_service, pods=stale[:3])
            return False
        answer = await self.verifiers.targets.verify(service, bindings, slices)
        for group in answer.target_groups:
            prefix = f"Service {group.service} (TargetGroup {group.target_group})"
            if group.error:
                event = events.Event(events.WARNING, TARGET_GROUP_VERIFY_ERROR,
                                     f"Failed to verify {prefix}: {group.reason}")
            elif group.verified:
                event = events.Event(events.NORMAL, TARGET_GROUP_VERIFIED,
                                     f"{prefix} verified: {group.registered} endpoints registered")
            elif group.verifiable:
                event = events.Event(events.WARNING, TARGET_GROUP_UNVERIFIED,
                                     f"{prefix} not verified: {group.registered}/{group.total} endpoints "
                                     "registered")
            else:
                continue  # instance targets: nothing to verify, as the reference skips them
            said = (rollout.key, group.target_group)
            if self._said.get(said) == event.message:
                continue  # SPEC §4.9: a waiting rollout does not repeat an unchanged fact on every retry
            if len(self._said) > _SAID_LIMIT:
                self._said.clear()
            self._said[said] = event.message
            await self.recorder.emit(involved, event)
        return all(group.verified or not group.verifiable for group in answer.target_groups)


def _foreign_pods(slices: list[dict[str, Any]], replicaset: str) -> list[str]:
    """Pods behind the slices' endpoints that a ReplicaSet other than `replicaset` made (by name prefix)."""
    found = []
    for eps in slices:
        for endpoint in eps.get("endpoints") or []:
            ref = endpoint.get("targetRef") or {}
            name = str(ref.get("name") or "")
            if ref.get("kind") == "Pod" and name and not name.startswith(f"{replicaset}-"):
                found.append(name)
    return found
