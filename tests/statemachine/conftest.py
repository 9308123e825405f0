"""Builders for planner tests: raw Rollout dicts, ReplicaSet views, snapshots, and applying a status patch."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from statemachine import models, parsing, planning
from statemachine.snapshot import ReplicaSetView, Snapshot

__all__ = ["NOW", "STEPS", "applied", "merge", "parse", "progressing_status", "rollout_dict", "rs",
           "settle", "snapshot"]

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
STEPS: list[dict[str, Any]] = [
    {"setWeight": 10}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "1h"}},
]


def rollout_dict(steps: list[dict[str, Any]] | None = None, status: dict[str, Any] | None = None, *,
                 replicas: int = 10, paused: bool = False, generation: int = 2, revision: str | None = "2",
                 **canary: Any) -> dict[str, Any]:
    annotations = {"rollout.argoproj.io/revision": revision} if revision else {}
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "demo"}},
        "template": {"metadata": {"labels": {"app": "demo"}}, "spec": {"containers": [{"name": "c"}]}},
        "strategy": {"canary": {
            "canaryService": "canary", "stableService": "stable",
            "trafficRouting": {"alb": {"ingress": "ingress", "servicePort": 80}},
            "steps": STEPS if steps is None else steps, **canary,
        }},
    }
    if paused:
        spec["paused"] = True
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "demo", "namespace": "default", "generation": generation,
                     "annotations": annotations},
        "spec": spec,
        "status": status or {},
    }


def progressing_status(index: int = 0, *, canary_weight: int = 0, verified: bool | None = None,
                       **extra: Any) -> dict[str, Any]:
    """A status mid-update: stable `old`, new template `new`, weights at `canary_weight`."""
    weights: dict[str, Any] = {
        "canary": {"weight": canary_weight, "serviceName": "canary", "podTemplateHash": "new"},
        "stable": {"weight": 100 - canary_weight, "serviceName": "stable", "podTemplateHash": "old"},
    }
    if verified is not None:
        weights["verified"] = verified
    status: dict[str, Any] = {"currentPodHash": "new", "stableRS": "old", "currentStepIndex": index,
                              "observedGeneration": "2", "canary": {"weights": weights}}
    status.update(extra)
    return status


def rs(hash_: str, spec: int, available: int | None = None, *, revision: int = 0) -> ReplicaSetView:
    available = spec if available is None else available
    return ReplicaSetView(name=f"demo-{hash_}", hash=hash_, spec_replicas=spec, available_replicas=available,
                          ready_replicas=available, revision=revision)


def snapshot(raw: dict[str, Any], *, new: ReplicaSetView | None = None, stable: ReplicaSetView | None = None,
             **kwargs: Any) -> Snapshot:
    return Snapshot(rollout=parsing.parse_rollout(raw), new_rs=new, stable_rs=stable, **kwargs)


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as the API server applies an `application/merge-patch+json` body."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def applied(raw: dict[str, Any], patch: dict[str, Any] | None) -> dict[str, Any]:
    """The Rollout dict after a `{"status": ...}` merge patch (unchanged for None)."""
    return merge(raw, patch) if patch is not None else copy.deepcopy(raw)


def parse(raw: dict[str, Any]) -> models.Rollout:
    return parsing.parse_rollout(raw)


def settle(raw: dict[str, Any], **cluster: Any) -> tuple[dict[str, Any], planning.Plan]:
    """Apply plans at NOW until one changes nothing; the settled Rollout and that last plan."""
    for _ in range(5):
        plan = planning.plan(snapshot(raw, **cluster), now=NOW)
        if plan.status_patch is None:
            return raw, plan
        raw = applied(raw, plan.status_patch)
    raise AssertionError("status did not settle")
