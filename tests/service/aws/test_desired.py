"""The weight `alb-rollouts verify` checks: the planner's, fed with the Rollout's ReplicaSets (no I/O).

Aspects: the §4.1 rows the planner picks from ReplicaSet counts (current setWeight, canary not ready, canary
not at its size yet, past the last step, fully promoted, aborted); ReplicaSets of another Rollout (by owner
name or uid) and ones without the hash label are ignored; a held cycle keeps the weights in status;
ReplicaSet parsing (hash label, counts, revision, odd values).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from service.aws import desired
from statemachine import models, snapshot

NOW = datetime(2026, 1, 1, tzinfo=UTC)
UID = "uid-demo"


def rollout(*, steps: list[dict[str, Any]], index: int, replicas: int = 4,
            status: dict[str, Any] | None = None) -> models.Rollout:
    return models.parse_rollout({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "demo", "namespace": "default", "uid": UID},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "demo"}},
                 "template": {"metadata": {"labels": {"app": "demo"}},
                              "spec": {"containers": [{"name": "c"}]}},
                 "strategy": {"canary": {"canaryService": "canary", "stableService": "stable", "steps": steps,
                                         "trafficRouting": {"alb": {"ingress": "app", "servicePort": 80}}}}},
        "status": {"currentStepIndex": index, "stableRS": "old", "currentPodHash": "new", **(status or {})},
    })


def rs(pod_hash: str, replicas: int, available: int, *, owner: str = "demo", uid: str = UID,
       label: bool = True) -> dict[str, Any]:
    labels = {"rollouts-pod-template-hash": pod_hash} if label else {}
    return {"metadata": {"name": f"{owner}-{pod_hash}", "labels": labels,
                         "ownerReferences": [{"kind": "Rollout", "name": owner, "uid": uid}]},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "availableReplicas": available, "readyReplicas": available}}


STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}]


@pytest.mark.parametrize(("index", "status", "sets", "expected"), [
    pytest.param(0, {}, [rs("old", 4, 4), rs("new", 1, 1)], (20, "current-set-weight"), id="at-set-weight"),
    pytest.param(1, {}, [rs("old", 4, 4), rs("new", 1, 1)], (20, "current-set-weight"), id="paused-after"),
    pytest.param(0, {}, [rs("old", 4, 4), rs("new", 1, 0)], (0, "canary-unavailable"), id="canary-not-ready"),
    pytest.param(2, {}, [rs("old", 4, 4), rs("new", 1, 1)], (20, "previous-set-weight"),
                 id="canary-not-at-its-size-yet"),
    pytest.param(3, {}, [rs("old", 4, 4), rs("new", 4, 4)], (100, "end-of-steps"), id="past-last-step"),
    pytest.param(0, {"stableRS": "new"}, [rs("new", 4, 4)], (0, "fully-promoted"), id="fully-promoted"),
    pytest.param(0, {"abort": True}, [rs("old", 4, 4), rs("new", 1, 1)], (0, "aborted"), id="aborted"),
    pytest.param(0, {}, [rs("old", 4, 4), rs("new", 1, 1, owner="other")], (0, "canary-unavailable"),
                 id="other-rollouts-replicaset"),
    pytest.param(0, {}, [rs("old", 4, 4), rs("new", 1, 1, uid="recreated")], (0, "canary-unavailable"),
                 id="owner-uid-differs"),
    pytest.param(0, {}, [rs("old", 4, 4), rs("new", 1, 1, label=False)], (0, "canary-unavailable"),
                 id="no-hash-label"),
])
def test_desired_weight_from_replica_sets(index, status, sets, expected):
    wanted = desired.desired_weights(rollout(steps=STEPS, index=index, status=status), sets, now=NOW)
    assert (wanted.canary, wanted.why) == expected
    assert wanted.additional == ()


def test_held_traffic_keeps_the_weights_in_status():
    """No stable pod is available: the controller leaves the ALB as the status says."""
    weights = {"canary": {"weight": 10, "podTemplateHash": "new"},
               "stable": {"weight": 90, "podTemplateHash": "old"}}
    ro = rollout(steps=STEPS, index=0, status={"canary": {"weights": weights}})
    wanted = desired.desired_weights(ro, [rs("old", 4, 0), rs("new", 1, 1)], now=NOW)
    assert wanted == desired.Desired(10, (), "weights in status (holding traffic: stable ReplicaSet cannot "
                                             "take 100% yet)")


def test_held_traffic_without_weights_in_status_wants_zero():
    wanted = desired.desired_weights(rollout(steps=STEPS, index=0), [rs("old", 4, 0), rs("new", 1, 1)],
                                     now=NOW)
    assert wanted == desired.Desired(0, (), "no weights in status (holding traffic: stable ReplicaSet cannot "
                                            "take 100% yet)")


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param({"metadata": {"name": "demo-a", "labels": {"rollouts-pod-template-hash": "a"},
                               "annotations": {"rollout.argoproj.io/revision": "3"}},
                  "spec": {"replicas": 2},
                  "status": {"replicas": 2, "availableReplicas": 1, "readyReplicas": 1}},
                 snapshot.ReplicaSetView("demo-a", "a", 2, 1, 1, 2, 3), id="full"),
    pytest.param({"metadata": {"name": "demo-a"}, "spec": {}},
                 snapshot.ReplicaSetView("demo-a", "", 1, 0, 0, None, 0), id="defaults"),
    pytest.param({"metadata": {"name": "x", "annotations": {"rollout.argoproj.io/revision": "v2"}},
                  "spec": {"replicas": True}, "status": {"replicas": "2", "availableReplicas": None}},
                 snapshot.ReplicaSetView("x", "", 0, 0, 0, None, 0), id="odd-values"),
    pytest.param({}, snapshot.ReplicaSetView("", "", 1, 0, 0, None, 0), id="empty"),
])
def test_replica_set_view(raw, expected):
    assert desired.replica_set_view(raw) == expected
