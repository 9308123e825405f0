"""The blue-green cutover, made before it breaks (ours, docs/bluegreen.md): the active Service's switch from
one hash to another, widened first, its new hash set only once the new pods serve; and the target checks
that gate it and the promotion (§3.7, §3.8, §14 items 1, 2 and 5).

Room: plan (pure). A mixin of `statemachine.bluegreen_planning`'s cycle: it reads the cycle's snapshot,
strategy and AWS answer and adds to its selectors, events and notes.
"""

from __future__ import annotations

from statemachine import bluegreen_rules as rules
from statemachine import events, traffic_safety
from statemachine.bluegreen_decision import switch_service, widen_service
from statemachine.bluegreen_spec import BlueGreenStrategy
from statemachine.snapshot import Snapshot

__all__ = ["TARGET_WAIT_RETRY", "CutOver"]

TARGET_WAIT_RETRY = 1.0
"""While the active Service's EndpointSlices still show other pods, Kubernetes alone is looked at again."""


class CutOver:
    """The cycle's state these methods read and add to (set by `bluegreen_planning._Cycle`)."""

    snapshot: Snapshot
    strategy: BlueGreenStrategy
    selectors: list[tuple[str, str]]
    events: list[events.Event]
    notes: list[str]
    widening: str
    targets_verified: bool | None
    retry: float

    def point_active(self, active_observed: str, active_after: str) -> None:
        service = self.strategy.active_service
        if not active_after:
            return
        self.selectors.append((service, active_after))
        if active_after != active_observed:
            self.events.append(switch_service(service, active_observed, active_after))

    def cut_over(self, observed: str, current: str, wanted: str, *, widened: bool, aborted: bool) -> str:
        """reconcileActiveService's switch (§3.7) from `current` (activeSelector) to `wanted`, made before it
        breaks; returns the activeSelector after this cycle.

        Ours (§14 item 5, docs/bluegreen.md): the reference sets the new hash at once, and the LBC deregisters
        the old pods before the new ones are registered and healthy: the target group serves nothing for a
        while. Here the first cycle drops the hash key instead (`WidenService`): the Service selects the old
        and the new pods, and the LBC registers the new ones while the old keep serving. Each cycle after
        keeps it widened until the new pods are among its ready endpoints and, with
        --aws-verify-target-group, every endpoint is registered and healthy in its target groups; then the new
        hash is set (`SwitchService` from the old hash, as the reference says it) and recorded in
        activeSelector, the old pods drain while the new serve, and §3.8 gates the promotion as before. The
        rules decide every cycle as if the switch had not happened yet, so an abort sets `current` back at
        once (so does anything else that keeps it, as drift: `bluegreen_rules.widened`). The reference's
        direct switch stays for an abort, a Service not observed (planner tests without a cluster), and while
        a third ReplicaSet has pods (a widened selector would send them traffic).
        """
        service = self.strategy.active_service
        switching = bool(current) and bool(wanted) and wanted != current and not aborted
        if switching and (widened or self.may_widen(current, wanted)):
            if widened and self.widened_serving(wanted):
                self.selectors.append((service, wanted))
                self.events.append(switch_service(service, current, wanted))
                self.notes.append(f"Service {service} switched from {current} to {wanted}: the new pods "
                                  "serve, the old drain")
                return wanted
            self.selectors.append((service, traffic_safety.WIDE))
            if not widened:
                self.events.append(widen_service(service, current, wanted))
            self.widening = wanted
            self.notes.append(f"Service {service} widened to pods {current} and {wanted}: waiting for its "
                              f"targets to serve pods {wanted}")
            return current
        if widened:  # an abort: straight back, and the reference never saw the Service leave `current`
            self.selectors.append((service, wanted or current))
            self.notes.append(f"Service {service} set back to {wanted or current} from widened")
            if wanted and wanted != current:
                self.events.append(switch_service(service, current, wanted))
            return wanted or current
        self.point_active(observed, wanted)
        return wanted

    def may_widen(self, current: str, wanted: str) -> bool:
        """Can the active Service select every ReplicaSet's pods for a while? Only when it is observed (its
        endpoints are what the wait reads), `wanted` has ready pods to wait for (none with 0 replicas), and no
        ReplicaSet but `current` and `wanted` has pods."""
        snapshot, service = self.snapshot, self.strategy.active_service
        target = rules.by_hash(snapshot, wanted)
        if service not in snapshot.endpoints or target is None or target.ready_replicas <= 0:
            return False
        sets = (snapshot.new_rs, snapshot.stable_rs, *snapshot.others)
        busy = sorted(rs.name for rs in sets if rs is not None and rs.hash not in (current, wanted)
                      and (rs.spec_replicas > 0 or rs.ready_replicas > 0))
        if busy:
            self.notes.append(f"Service {service} switched directly: widened, it would also select the pods "
                              f"of {', '.join(busy)}")
        return not busy

    def widened_serving(self, pod_hash: str) -> bool:
        """Does the widened active Service serve the pods of `pod_hash`: they are among its ready endpoints
        and, with --aws-verify-target-group, AWS found every endpoint registered and healthy (the answer
        passed in, else the snapshot's targets)?"""
        snapshot, service = self.snapshot, self.strategy.active_service
        if not traffic_safety.caught_up(snapshot.endpoints.get(service), pod_hash, widened=True):
            return False
        if not snapshot.verify_weights:
            return True
        if self.targets_verified is not None:
            return self.targets_verified
        return snapshot.targets.get(service) == pod_hash

    def targets_ok(self, pod_hash: str) -> bool:
        """Do the active Service's targets serve the pods of `pod_hash` (§3.8, better per §14 items 1-2)?

        Without `--aws-verify-target-group` nothing is checked. With it, the lead's answer counts, but never
        while fresh EndpointSlices still show other pods; without an answer the snapshot's targets decide.
        """
        snapshot, service = self.snapshot, self.strategy.active_service
        if not snapshot.verify_weights or not pod_hash:
            return True
        endpoints = snapshot.endpoints.get(service)
        if endpoints is not None and endpoints != frozenset({pod_hash}):
            return False
        if self.targets_verified is not None:
            return self.targets_verified
        return traffic_safety.serving(snapshot, service, pod_hash)

    def wait_interval(self, pod_hash: str, *, widened: bool = False) -> float:
        """Kubernetes is looked at again soon while endpoints lag, ELBv2 once per verify retry interval."""
        endpoints = self.snapshot.endpoints.get(self.strategy.active_service)
        if endpoints is not None and not traffic_safety.caught_up(endpoints, pod_hash, widened=widened):
            return TARGET_WAIT_RETRY
        return self.retry if self.snapshot.verify_weights else TARGET_WAIT_RETRY
