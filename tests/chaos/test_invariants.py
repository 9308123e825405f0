"""The chaos suite's checker on hand-made change streams: it must catch what it promises to catch.

Covers: a normal canary passes (a first deploy going past the end at once included); a step index that goes
back, skips, or starts a new revision past 0; a canary weight above the current step's setWeight (said once);
a second ReplicaSet for one template; the stable ReplicaSet scaled down, or a stable pod deleted, while
status.stableRS still names it; the invalid Rollout's Services, ReplicaSets or Ingress entries touched.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.apiserver.streams import EventType, WatchEvent
from tests.chaos import manifests
from tests.chaos.invariants import Checker, Timeline
from tests.chaos.manifests import BAD, GOOD

A = GOOD[0]
OLD, NEW = "old1111111", "new2222222"


def _checker() -> Checker:
    return Checker(Timeline(lambda: 1.0))


def _rollout(pod_hash: str, index: int | None, stable: str = OLD) -> WatchEvent:
    status: dict[str, Any] = {"currentPodHash": pod_hash, "stableRS": stable, "phase": "Progressing"}
    if index is not None:
        status["currentStepIndex"] = index
    obj = {"metadata": {"name": A.name, "namespace": manifests.NAMESPACE},
           "spec": {"replicas": 2}, "status": status}
    return WatchEvent("MODIFIED", "rollouts.argoproj.io", obj)


def _ingress(weight: int, bad_entry: bool = False) -> WatchEvent:
    action = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"ServiceName": A.canary, "ServicePort": "80", "Weight": weight},
        {"ServiceName": A.stable, "ServicePort": "80", "Weight": 100 - weight}]}}
    kept = {A.name: [A.action_key], **({BAD.name: [BAD.action_key]} if bad_entry else {})}
    annotations = {A.action_key: json.dumps(action),
                   "rollouts.argoproj.io/managed-alb-annotations": json.dumps(kept)}
    meta = {"name": manifests.INGRESS, "namespace": manifests.NAMESPACE, "annotations": annotations}
    obj = {"metadata": meta}
    return WatchEvent("MODIFIED", "ingresses.networking.k8s.io", obj)


def _replicaset(kind: EventType, pod_hash: str, replicas: int, image: str, app: str = A.name,
                uid: str = "u1") -> WatchEvent:
    obj = {"metadata": {"name": f"{app}-{pod_hash}", "namespace": manifests.NAMESPACE, "uid": uid,
                        "labels": {"rollouts-pod-template-hash": pod_hash}},
           "spec": {"replicas": replicas, "template": manifests.template(app, image)}}
    return WatchEvent(kind, "replicasets.apps", obj)


def _findings(checker: Checker, *events: WatchEvent) -> list[str]:
    for event in events:
        checker.handle(event)
    return [finding.what for finding in checker.findings]


async def test_a_normal_canary_passes() -> None:
    checker = _checker()
    first_deploy = [_rollout(OLD, None, stable=""), _rollout(OLD, 0, stable=""), _rollout(OLD, 6),
                    _ingress(0)]
    canary = [_replicaset("ADDED", OLD, 2, manifests.IMAGES[0]),
              _replicaset("ADDED", NEW, 1, manifests.IMAGES[1], uid="u2"),
              _rollout(NEW, 0), _ingress(20), _rollout(NEW, 1), _rollout(NEW, 2), _ingress(50),
              _rollout(NEW, 3), _rollout(NEW, 4), _ingress(80), _rollout(NEW, 5), _rollout(NEW, 6),
              _ingress(100), _rollout(NEW, 6, stable=NEW), _ingress(0),
              _replicaset("MODIFIED", OLD, 0, manifests.IMAGES[0])]
    assert _findings(checker, *first_deploy, *canary) == []


async def test_steps_back_skipped_or_a_revision_not_at_0() -> None:
    assert _findings(_checker(), _rollout(OLD, 6), _rollout(NEW, 0), _rollout(NEW, 2), _rollout(NEW, 1)) == [
        f"step index skipped from 0 to 2 in revision {NEW}",
        f"step index went back from 2 to 1 in revision {NEW}"]
    assert _findings(_checker(), _rollout(OLD, 6), _rollout(NEW, 1)) == [
        f"revision {NEW} started at step 1, not 0 (after ['{OLD}'])"]


async def test_a_weight_above_the_step_is_found_once() -> None:
    found = _findings(_checker(), _rollout(OLD, 6), _rollout(NEW, 0), _ingress(20), _ingress(50),
                      _rollout(NEW, 1), _rollout(NEW, 1))
    assert found == [f"canary weight 50 in the annotation exceeds step 0's setWeight 20 (revision {NEW})",
                     f"canary weight 50 in the annotation exceeds step 1's setWeight 20 (revision {NEW})"]


async def test_a_second_replicaset_for_one_template() -> None:
    found = _findings(_checker(), _replicaset("ADDED", NEW, 1, manifests.IMAGES[1]),
                      _replicaset("ADDED", "other33333", 1, manifests.IMAGES[1], uid="u9"))
    assert len(found) == 1 and found[0].startswith(f"more than one ReplicaSet for the template with "
                                                   f"{manifests.IMAGES[1]}")


async def test_stable_pods_removed_before_promotion() -> None:
    pod = {"metadata": {"name": f"a-{OLD}-x", "namespace": manifests.NAMESPACE,
                        "labels": {"app": A.name, "rollouts-pod-template-hash": OLD}}}
    found = _findings(_checker(), _rollout(NEW, 0), _replicaset("ADDED", OLD, 2, manifests.IMAGES[0]),
                      _replicaset("MODIFIED", OLD, 1, manifests.IMAGES[0]),
                      WatchEvent("DELETED", "pods", pod))
    assert found == [f"the stable ReplicaSet a-{OLD} was scaled to 1 while status.stableRS is still {OLD} "
                     "(before promotion)",
                     f"stable pod a-{OLD}-x was deleted while status.stableRS is still {OLD} "
                     "(before promotion)"]


async def test_the_invalid_rollout_touched() -> None:
    service = {"metadata": {"name": BAD.stable, "namespace": manifests.NAMESPACE},
               "spec": {"selector": {"app": BAD.name, "rollouts-pod-template-hash": "x"}}}
    found = _findings(_checker(), WatchEvent("MODIFIED", "services", service),
                      _replicaset("ADDED", "bad1111111", 1, manifests.IMAGES[0], app=BAD.name),
                      _ingress(0, bad_entry=True))
    assert [what.split(":")[0] for what in found] == [
        f"the invalid Rollout's Service {BAD.stable} was modified",
        f"ReplicaSet {BAD.name}-bad1111111 was created for the invalid Rollout",
        "the invalid Rollout has a bookkeeping entry"]
