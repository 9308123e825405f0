"""Pod restarts for `spec.restartAt` (what `kubectl argo rollouts restart` sets): which pods to evict now.

Room: plan (pure). The reference's RolloutPodRestarter (rollout/restart.go) as decisions over the pods the
service observed: a pod created before `restartAt` is evicted, at most max(maxUnavailable, 1) of the Rollout's
pods unavailable at a time, and `status.restartedAt` records `restartAt` once none is left. It never lists,
evicts or writes (`service.pod_restarter` does) and never reads a clock: `now` is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from statemachine import models
from statemachine.raw import integer as _int
from statemachine.raw import mapping as _map

__all__ = [
    "RESTART_CHECK_SECONDS",
    "Finish",
    "PodView",
    "ReplicaSetRef",
    "RestartPlan",
    "RestartSpec",
    "due",
    "max_unavailable",
    "plan",
    "pod_view",
    "replicaset_ref",
    "restart_spec",
    "scaled_value",
    "seconds_until",
]

RESTART_CHECK_SECONDS = 30.0
"""restartPodCheckTime: pods still to restart are looked at again this soon even if no ReplicaSet moves."""
_DEFAULT_MAX = "25"  # defaults.DefaultMaxSurge / DefaultMaxUnavailable: a string, hence a percentage

Raw = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RestartSpec:
    """The Rollout's fields the restarter reads; `max_unavailable` is resolved (MaxUnavailable)."""

    restart_at: str | None
    restarted_at: str | None
    replicas: int
    max_unavailable: int
    min_ready_seconds: int = 0


@dataclass(frozen=True, slots=True)
class ReplicaSetRef:
    """One of the Rollout's ReplicaSets: its uid (pods name it as owner) and its spec.replicas."""

    uid: str
    replicas: int


@dataclass(frozen=True, slots=True)
class PodView:
    """What the restarter needs of a pod; `ready_since` is the Ready condition's lastTransitionTime."""

    name: str
    owners: frozenset[str]
    created: datetime | None
    ready: bool = False
    ready_since: datetime | None = None
    deleting: bool = False

    def available(self, min_ready_seconds: int, now: datetime) -> bool:
        """podutil.IsPodAvailable, and not being deleted."""
        if self.deleting or not self.ready:
            return False
        if min_ready_seconds <= 0:
            return True
        return self.ready_since is not None and self.ready_since + timedelta(seconds=min_ready_seconds) < now


@dataclass(frozen=True, slots=True)
class Finish:
    """After the evictions: the `status.restartedAt` to write (None: not yet), and when to look again."""

    restarted_at: str | None
    requeue_after: float | None


@dataclass(frozen=True, slots=True)
class RestartPlan:
    """One reconcile's restart: evict up to `budget` of `candidates` (in order); `outstanding` pods are older
    than `restartAt` (those being deleted included); `requeue_after` is the wait for a future `restartAt`."""

    due: bool
    restart_at: str = ""
    candidates: tuple[str, ...] = ()
    budget: int = 0
    outstanding: int = 0
    available: int = 0
    requeue_after: float | None = None

    def finish(self, evicted: int) -> Finish:
        """None left once `evicted` succeeded: record restartAt (even before the new pods are ready, as the
        reference does); otherwise look again in RESTART_CHECK_SECONDS."""
        if not self.due:
            return Finish(None, self.requeue_after)
        if self.outstanding - evicted <= 0:
            return Finish(self.restart_at, None)
        return Finish(None, RESTART_CHECK_SECONDS)


def _text(obj: Any, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, str) and value else None


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int | None:
    """intstr.GetValueFromIntOrPercent (the legacy one Argo calls: any string is a percentage, "%" or not);
    None when it does not parse."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = value.replace("%", "")
    if not text.lstrip("+-").isdigit():
        return None
    share = int(text) * total / 100
    return math.ceil(share) if round_up else math.floor(share)


def max_unavailable(replicas: int, surge: int | str | None, unavailable: int | str | None, *,
                    canary: bool) -> int:
    """replicasetutil.MaxUnavailable: the canary's resolveFenceposts (both 0 → 1), capped at replicas."""
    if replicas == 0:
        return 0
    resolved = scaled_value(_DEFAULT_MAX if unavailable is None else unavailable, replicas, round_up=False)
    if canary:
        extra = scaled_value(_DEFAULT_MAX if surge is None else surge, replicas, round_up=True)
        if extra is None or resolved is None:
            resolved = 0  # validation refuses it; resolveFenceposts' error reads as 0 here
        elif extra == 0 and resolved == 0:
            resolved = 1
    return min(resolved or 0, replicas)


def _int_or_string(obj: Raw, key: str) -> int | str | None:
    value = obj.get(key)
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def restart_spec(raw: Raw) -> RestartSpec:
    """The restarter's fields of a raw Rollout (spec.restartAt, status.restartedAt, the strategy's limits)."""
    spec, status = _map(raw, "spec"), _map(raw, "status")
    strategy = _map(spec, "strategy")
    canary = isinstance(strategy.get("canary"), Mapping)  # else MaxUnavailable reads the blue-green branch
    limits = _map(strategy, "canary" if canary else "blueGreen")
    replicas = _int(spec, "replicas", 1)
    return RestartSpec(
        restart_at=_text(spec, "restartAt"),
        restarted_at=_text(status, "restartedAt"),
        replicas=replicas,
        max_unavailable=max_unavailable(replicas, _int_or_string(limits, "maxSurge"),
                                        _int_or_string(limits, "maxUnavailable"), canary=canary),
        min_ready_seconds=_int(spec, "minReadySeconds", 0),
    )


def due(spec: RestartSpec, now: datetime) -> bool:
    """replicasetutil.NeedsRestart: restartAt reached and not the one status.restartedAt records."""
    restart_at = models.parse_time(spec.restart_at)
    if restart_at is None or restart_at > now:
        return False
    return models.parse_time(spec.restarted_at) != restart_at


def seconds_until(spec: RestartSpec, now: datetime) -> float | None:
    """Seconds until a future restartAt (checkEnqueueRollout); None when unset or already reached."""
    restart_at = models.parse_time(spec.restart_at)
    if restart_at is None or restart_at <= now:
        return None
    return (restart_at - now).total_seconds()


def replicaset_ref(rs: Raw) -> ReplicaSetRef:
    """A ReplicaSet's uid and spec.replicas (1 when unset, as the API server defaults it)."""
    uid = _text(_map(rs, "metadata"), "uid") or ""
    return ReplicaSetRef(uid=uid, replicas=_int(_map(rs, "spec"), "replicas", 1))


def pod_view(pod: Raw) -> PodView:
    """What the restarter reads of a raw pod: name, owners' uids, creation, readiness, deletion."""
    meta = _map(pod, "metadata")
    owners = frozenset(uid for ref in meta.get("ownerReferences") or () if isinstance(ref, Mapping)
                       if isinstance(uid := ref.get("uid"), str))
    ready = next((c for c in _map(pod, "status").get("conditions") or ()
                  if isinstance(c, Mapping) and c.get("type") == "Ready"), None)
    return PodView(
        name=_text(meta, "name") or "",
        owners=owners,
        created=models.parse_time(_text(meta, "creationTimestamp")),
        ready=ready is not None and ready.get("status") == "True",
        ready_since=models.parse_time(_text(ready, "lastTransitionTime")) if ready is not None else None,
        deleting=_text(meta, "deletionTimestamp") is not None,
    )


def _recorded(restart_at: datetime, written: str) -> str:
    """restartAt as status.restartedAt carries it: Go's metav1.Time form, unless that would lose a part."""
    formatted = models.format_time(restart_at)
    return formatted if models.parse_time(formatted) == restart_at else written


def plan(spec: RestartSpec, replica_sets: Iterable[ReplicaSetRef], pods: Iterable[PodView], *,
         now: datetime, template_changed: bool = False) -> RestartPlan:
    """Which pods to evict now (RolloutPodRestarter.Reconcile); only pods owned by the Rollout's ReplicaSets
    count, in name order (the API server's list order). Nothing in the reconcile that first sees a new pod
    template (`template_changed`): the reference returns before its restarter then, and restarts next time."""
    restart_at = models.parse_time(spec.restart_at)
    if spec.restart_at is None or restart_at is None or not due(spec, now):
        return RestartPlan(due=False, requeue_after=seconds_until(spec, now))
    if template_changed:
        return RestartPlan(due=False)
    sets = {rs.uid: rs for rs in replica_sets if rs.uid}  # the new ReplicaSet is often the stable one too
    owned = sorted((pod for pod in pods if pod.owners & sets.keys()), key=lambda pod: pod.name)
    total = sum(rs.replicas for rs in sets.values())
    # the larger of spec and ReplicaSet replicas: a canary weight not dividing replicas evenly has extra pods
    least = max(spec.replicas, total) - max(spec.max_unavailable, 1)
    available = sum(1 for pod in owned if pod.available(spec.min_ready_seconds, now))
    old = [pod for pod in owned if pod.created is None or pod.created < restart_at]
    return RestartPlan(
        due=True,
        restart_at=_recorded(restart_at, spec.restart_at),
        candidates=tuple(pod.name for pod in old if not pod.deleting),
        budget=max(available - least, 0),
        outstanding=len(old),
        available=available,
    )
