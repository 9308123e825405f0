"""What the controller remembers of one Rollout between reconciles, and how the debug API shows it.

Room: reconcile. An observation like a cache: lost on restart, asked again (SPEC §4.10's debug view).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service import verify_step
from statemachine import machine, models
from statemachine.snapshot import Snapshot

__all__ = ["Memory", "blue_green_view", "describe"]


@dataclass(slots=True)
class Memory:
    """What the controller remembers of one Rollout between reconciles: its model, and the last AWS answer
    with the weights it was about (an observation, like a cache; lost on restart, asked again)."""

    model: machine.RolloutModel
    uid: str
    check: verify_step.WeightCheck | None = None
    checked: models.TrafficWeights | None = None
    targets: dict[str, tuple[str, frozenset[str], bool]] = field(default_factory=dict)
    waiting_since: datetime | None = None
    next_look: datetime | None = None
    services: dict[str, Any] | None = None
    """Blue-green: the Services and ReplicaSets the last reconcile saw (the debug API's `blueGreen`)."""


def describe(key: str, memory: Memory) -> dict[str, Any]:
    """State, last transitions with reasons and effects, last AWS answer, next look time (SPEC §4.10)."""
    history = [{"from": r.source, "to": r.dest, "trigger": r.trigger, "reason": r.reason,
                "at": models.format_time(r.at) if r.at else None, "effects": list(r.effects)}
               for r in memory.model.history]
    aws = None
    if memory.check is not None:
        weight = memory.checked.canary.weight if memory.checked is not None else None
        aws = {"weight": weight, "verified": memory.check.verified,
               "ingresses": [item.to_dict() for item in memory.check.result.ingresses]}
    waiting = memory.waiting_since
    targets = {name: {"podHash": pod_hash, "serving": serving}
               for name, (pod_hash, _, serving) in memory.targets.items()}
    described = {"rollout": key, "state": memory.model.state.value, "transitions": history, "aws": aws,
                 "targets": targets, "waitingSince": models.format_time(waiting) if waiting else None,
                 "nextLook": models.format_time(memory.next_look) if memory.next_look else None}
    if memory.services is not None:
        described["blueGreen"] = memory.services
    return described


def blue_green_view(snapshot: Snapshot) -> dict[str, Any] | None:
    """What a blue-green cutover looks like now: each Service's selected hash ("*": widened to every
    version) and the hashes behind its ready endpoints, the status's selectors, and each ReplicaSet's role,
    size and scale-down deadline."""
    strategy = snapshot.rollout.blue_green
    if strategy is None:
        return None
    status = snapshot.rollout.raw_status
    selectors = status.get("blueGreen") if isinstance(status.get("blueGreen"), Mapping) else {}
    services = {role: {"name": name, "selects": snapshot.selectors.get(name),
                       "endpoints": sorted(snapshot.endpoints.get(name, frozenset()))}
                for role, name in (("active", strategy.active_service), ("preview", strategy.preview_service))
                if name}
    new, stable = snapshot.new_rs, snapshot.stable_rs
    if new is not None and stable is not None and new.name == stable.name:
        new = None  # promoted: one ReplicaSet, the stable one
    roles = [("new", new), ("stable", stable), *(("older", rs) for rs in snapshot.others)]
    sets = [{"name": rs.name, "hash": rs.hash, "role": role, "replicas": rs.spec_replicas,
             "available": rs.available_replicas, "scaleDownDeadline": rs.scale_down_deadline or None}
            for role, rs in roles if rs is not None]
    return {"services": services, "activeSelector": (selectors or {}).get("activeSelector"),
            "previewSelector": (selectors or {}).get("previewSelector"), "replicaSets": sets}
