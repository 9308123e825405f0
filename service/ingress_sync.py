"""A Rollout's Ingresses on the wire: the weight/header-route patches of a plan, and the reset on deletion.

Room: apply. Bodies come from `service.alb.ingress_patch` (pure, byte-exact); this module refuses Ingresses we
may not write before any call, sends each body with its resourceVersion precondition, records the
reference's `PatchingALBIngress` events for each Ingress it changes (one per part of the body that changes
it: managed routes removed, header route, weight), and waits for the Ingress cache to show the write. A 409
propagates (the worker requeues: never a loop in place); nothing is retried here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from service import results
from service.alb import actions, ingress_patch, preview
from service.kube import caches, indexes, recording, watching, writing
from statemachine import events, models
from statemachine.plans import Plan

__all__ = ["IngressSync"]

log = structlog.get_logger(__name__)


class IngressSync:
    """The Ingress writes of one reconcile; `reflector` is the Ingress informer (its store is read)."""

    def __init__(self, *, writer: writing.Writer, reflector: watching.Reflector,
                 recorder: recording.EventRecorder, classes: Sequence[str], deadline: float) -> None:
        self.writer = writer
        self.reflector = reflector
        self.recorder = recorder
        self.classes = tuple(classes)
        self.deadline = deadline

    def current(self, namespace: str, name: str) -> caches.RawObject | None:
        return self.reflector.store.get(f"{namespace}/{name}")

    def check(self, rollout: models.Rollout) -> None:
        """Raise `ingress_patch.Refusal` (or IngressError) for an Ingress we must not write; no call made."""
        for name in _names(rollout):
            current = self.current(rollout.namespace, name)
            if current is not None:
                ingress_patch.check_writable(current, self.classes)

    async def apply(self, plan: Plan, involved: Mapping[str, Any]) -> list[str]:
        """Send the plan's Ingress patches; returns the names of the Ingresses patched."""
        rollout = plan.after
        traffic = plan.traffic
        if not traffic.write and not traffic.remove_routes and traffic.header_route is None:
            return []
        routing = preview.routing_for(rollout)
        weight = plan.canary_weight
        additional = tuple(actions.Destination(d.service_name, d.weight) for d in plan.additional)
        route = ingress_patch.header_route(traffic.header_route)
        patched: list[str] = []
        for name in _names(rollout):
            current = self.current(rollout.namespace, name)
            if current is None:
                raise LookupError(f'ingress.networking.k8s.io "{name}" not found')
            patch = ingress_patch.patch_for(
                dict(current), routing, desired_weight=weight, additional=additional, header_route=route,
                remove_managed_routes=traffic.remove_routes, classes=self.classes)
            if patch.body is None:
                continue
            for event in _events(name, patch, route, weight):
                await self.recorder.emit(involved, event)
            try:
                answer = await self.writer.patch_ingress(rollout.namespace, name, patch.body)
            except writing.KubeWriteError as error:
                text = f"error patching alb ingress `{name}`: {error}"
                await self.recorder.emit(involved, events.traffic_routing_error(text))
                raise
            log.info("patched Ingress", ingress=name, weight=weight)
            patched.append(name)
            await results.wait_written(self.reflector, answer, self.deadline)
        return patched

    def listing(self, namespace: str, rollout: str) -> list[str]:
        """Names of the Ingresses of `namespace` whose bookkeeping annotation lists `rollout`."""
        listed = self.reflector.store.by_index(indexes.BY_BOOKKEEPING, f"{namespace}/{rollout}")
        return [str((ingress.get("metadata") or {}).get("name", "")) for ingress in listed]

    async def cleanup(self, namespace: str, rollout: str) -> int:
        """Reset a deleted Rollout's actions on each Ingress of its namespace listing it; returns the count.

        Ingresses we may not write are skipped (logged): they are not ours to reset.
        """
        patched = 0
        for ingress in indexes.in_namespace(self.reflector.store, namespace):
            metadata = ingress.get("metadata") or {}
            name = str(metadata.get("name", ""))
            try:
                body, problems = ingress_patch.cleanup_patch(dict(ingress), rollout, self.classes)
            except (ingress_patch.Refusal, ValueError) as refusal:
                log.info("not resetting Ingress", ingress=name, reason=str(refusal))
                continue
            for problem in problems:
                log.warning("cannot reset an action", ingress=name, problem=problem)
            if body is None:
                continue
            answer = await self.writer.patch_ingress(namespace, name, body)
            log.info("reset Ingress of a deleted rollout", ingress=name)
            patched += 1
            await results.wait_written(self.reflector, answer, self.deadline)
        return patched


def _events(name: str, patch: ingress_patch.IngressPatch, route: ingress_patch.HeaderRoute | None,
            weight: int) -> list[events.Event]:
    """The reference's event for each of its writes this one body stands for, in its order (§1.6, §1.5)."""
    said = []
    if patch.routes_removed:
        said.append(events.removing_managed_routes(name))
    if patch.header_route and route is not None:
        said.append(events.patching_header_route(name, route.name))
    if patch.weight:
        said.append(events.patching_ingress(name, weight))
    return said


def _names(rollout: models.Rollout) -> tuple[str, ...]:
    alb = rollout.canary.alb if rollout.canary else None
    return alb.ingress_names if alb is not None else ()
