"""Which Rollouts we serve, and why not the others: a strategy we do not serve is left alone, never refused.

Room: plan (pure). Reads the raw Rollout dict (the API boundary) before parsing, since a spec we do not serve
need not parse as one we do. In a mixed cluster the reference controller may be serving such a Rollout, so it
is never written to and never marked Degraded (SPEC §7): the caller only says so, once, in a Warning event.

Public API:
- `unserved(raw) -> Unserved | None`: why this Rollout is not ours to serve (None: we serve its strategy).
- `Unserved.event()`: the Warning event that tells the user which controller should serve it and how.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from statemachine import events, models

__all__ = ["STRATEGY_NOT_SERVED", "Unserved", "unserved"]

STRATEGY_NOT_SERVED = "StrategyNotServed"
_NOT_ROUTERS = frozenset({"alb", "managedRoutes", "maxTrafficWeight"})


@dataclass(frozen=True, slots=True)
class Unserved:
    """`what`: the strategy as the user wrote it, e.g. `spec.strategy.blueGreen` or `trafficRouting.istio`."""

    what: str

    def message(self) -> str:
        return (f"alb-rollouts does not serve {self.what}: this Rollout is left to the Argo Rollouts "
                "controller, and alb-rollouts never writes to it. Run both controllers with distinct "
                f"--instance-id values and label each Rollout {models.INSTANCE_ID_LABEL}=<id> of the "
                "controller that should serve it (a controller without --instance-id serves only unlabelled "
                "Rollouts)")

    def event(self) -> events.Event:
        return events.Event(events.WARNING, STRATEGY_NOT_SERVED, self.message())


def _mapping(obj: Any, key: str) -> Mapping[str, Any] | None:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, Mapping) else None


def unserved(raw: Mapping[str, Any]) -> Unserved | None:
    """Why this Rollout's strategy is not served by alb-rollouts; None when it is (or the spec is malformed,
    which validation reports as InvalidSpec)."""
    strategy = _mapping(_mapping(raw, "spec"), "strategy")
    if strategy is None:
        return None
    canary = _mapping(strategy, "canary")
    if canary is None:
        return None  # blue-green is served; no strategy at all is InvalidSpec
    routing = _mapping(canary, "trafficRouting")
    if routing is None:
        return None
    others = sorted(key for key in routing if key not in _NOT_ROUTERS)
    if not others:
        return None
    routers = ", ".join(f"trafficRouting.{key}" for key in others)
    if "alb" in routing:
        return Unserved(f"{routers} (alb-rollouts routes with trafficRouting.alb alone)")
    return Unserved(routers)
