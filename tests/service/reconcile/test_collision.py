"""A ReplicaSet name collision on the sandbox: status.collisionCount and the next name.

Aspects: a foreign ReplicaSet (not ours, not in our hash-labelled cache) holding the first ReplicaSet's
name bumps status.collisionCount to 1 and the Rollout goes on with the name of the new hash, leaving the
foreign one untouched; the same mid-update with a foreign ReplicaSet that our cache holds; a stale copy of the
Rollout (409 on the status write) is never bumped twice; a colliding ReplicaSet gone before we could read it
bumps nothing; our own ReplicaSet missing from a lagging cache is taken as the new one, no bump.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from service import replicaset_sync
from service.kube import caches, indexes, writing
from statemachine import pod_templates

from .world import HASH, NS, ROLLOUTS, RS, World, template


def _foreign(name: str, *, labels: dict[str, str]) -> dict[str, Any]:
    pod = copy.deepcopy(template("other:1", app="other"))
    # an orphan our selector does not match: not ours, and not ours to adopt (an owner that does not exist
    # would be garbage-collected)
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}}, "template": pod}}


def _untouched(w: World, taken: dict[str, Any]) -> None:
    """Neither adopted nor changed by us (the sandbox's ReplicaSet controller writes its status)."""
    now = w.get(RS, taken["metadata"]["name"])
    assert (now["metadata"], now["spec"]) == (
        {**taken["metadata"], "resourceVersion": now["metadata"]["resourceVersion"]}, taken["spec"])


def _name(image: str, collisions: int = 0) -> str:
    return f"demo-{pod_templates.pod_template_hash(template(image), collisions)}"


async def test_first_replicaset_collides_with_a_foreign_one(world: Any) -> None:
    w: World = await world()
    taken = w.apply(RS, _foreign(_name("app:1"), labels={"app": "other"}))
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    status = w.status()
    assert status["collisionCount"] == 1
    assert f"demo-{status['stableRS']}" == _name("app:1", 1) != _name("app:1")
    assert w.get(RS, _name("app:1", 1))["spec"]["replicas"] == 2
    _untouched(w, taken)
    assert any(isinstance(e, writing.Conflict) and e.reason == "AlreadyExists" for e in w.errors)


async def test_canary_replicaset_collides_mid_update(world: Any) -> None:
    w: World = await world()
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    stable = w.status()["stableRS"]
    # hash-labelled, so our cache holds it, but another controller's
    name = _name("app:2")
    taken = w.apply(RS, _foreign(name, labels={"app": "other", HASH: name.removeprefix("demo-")}))
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused at the canary step")
    status = w.status()
    assert status["collisionCount"] == 1
    canary = status["currentPodHash"]
    assert f"demo-{canary}" == _name("app:2", 1)
    assert w.get("services", "canary")["spec"]["selector"][HASH] == canary
    assert w.get("services", "stable")["spec"]["selector"][HASH] == stable
    _untouched(w, taken)

    # kubectl argo rollouts promote demo: the rollout carries on under the new name
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")
    await w.settle(lambda: w.status().get("stableRS") == canary, what="promoted")
    assert w.status()["collisionCount"] == 1


async def test_a_stale_rollout_is_not_bumped_twice(world: Any) -> None:
    w: World = await world()
    w.apply(RS, _foreign(_name("app:1"), labels={"app": "other"}))
    stale = w.faults.fail_next("patch", "rollouts", code=409)
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    assert stale.count == 0
    assert w.status()["collisionCount"] == 1
    assert any(isinstance(e, writing.Conflict) and e.reason == "Conflict" for e in w.errors)


async def test_a_collision_gone_before_it_was_read_bumps_nothing(world: Any) -> None:
    w: World = await world()
    w.apply(RS, _foreign(_name("app:1"), labels={"app": "other"}))
    gone = w.faults.fail_next("get", "replicasets", code=404)
    w.seed()
    await w.caught_up()
    with pytest.raises(writing.Conflict):
        await w.reconcile()
    assert gone.count == 0
    assert "collisionCount" not in w.status()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    assert w.status()["collisionCount"] == 1


class _Lagging:
    """The ReplicaSet informer, as if its cache had not yet seen any ReplicaSet."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.store = caches.Store(indexes.with_namespace(indexes.REPLICA_SET_INDEXERS))  # empty, indexed
        self.resource = real.resource

    async def wait_seen(self, version: str, within: float) -> bool:
        return bool(await self.real.wait_seen(version, within))


async def test_our_own_replicaset_missing_from_a_lagging_cache_is_taken(world: Any) -> None:
    w: World = await world()
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    ours = w.get(RS, _name("app:1"))
    lagging: Any = _Lagging(w.informers.replica_sets)
    sync = replicaset_sync.ReplicaSetSync(writer=w.writer, reflector=lagging, deadline=5.0)
    before = len(w.replica_sets())
    owned = await sync.claim(w.get(ROLLOUTS, "demo"), NS, create=True)
    assert owned.new is not None and not owned.created
    assert owned.new["metadata"]["uid"] == ours["metadata"]["uid"]
    assert "collisionCount" not in w.status()
    assert len(w.replica_sets()) == before
