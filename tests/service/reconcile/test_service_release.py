"""Releasing Services against the sandbox: the managed-by annotation and the pod-hash selector key removed.

Aspects: a deleted Rollout releases its canary and stable Services (other selector keys and annotations kept)
after its Ingress action is reset; one only relabelled for another --instance-id releases nothing; a live
Rollout whose canaryService moves manages the new Service and releases the old one; a Service annotated for
another Rollout is never written, by either path; a Service gone before the patch is skipped; a 409 raises and
the retry decides again from the newer copy (here: adopted by another Rollout meanwhile, so left alone); the
release patch's resourceVersion precondition makes the API server refuse it over a stale copy.

The deleted path is driven through `deletion.reset_if_deleted(..., services=...)` as the reconciler calls it.
"""

from __future__ import annotations

from typing import Any

import pytest

from service import deletion
from service.kube import writing
from statemachine import services

from .world import ACTION, HASH, NS, ROLLOUTS, World, service
from .world import template as pod_template

MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
MOVE = {"spec": {"strategy": {"canary": {"canaryService": "canary2"}}}}
RESET = ('{"Type":"forward","ForwardConfig":{"TargetGroups":'
         '[{"ServiceName":"stable","ServicePort":"80","Weight":100}]}}')


def _managed(w: World, name: str) -> tuple[str | None, str | None]:
    """(managed-by annotation, pod-hash selector) of a Service as stored."""
    found = w.get("services", name)
    annotations = found["metadata"].get("annotations") or {}
    return annotations.get(MANAGED_BY), (found["spec"].get("selector") or {}).get(HASH)


def _foreign(w: World) -> dict[str, Any]:
    """A Service another Rollout manages (annotation and hash selector), in the same namespace."""
    body = service("foreign")
    body["metadata"]["annotations"] = {MANAGED_BY: "other"}
    body["spec"]["selector"][HASH] = "0ther"
    return w.apply("services", body)


def _annotated(w: World) -> dict[str, Any]:
    """A user annotation on the stable Service, to show that a release keeps it."""
    return w.storage.merge_patch("services", NS, "stable", {"metadata": {"annotations": {"team": "a"}}})


async def _healthy(w: World) -> str:
    """Reconcile to Healthy/Promoted with both Services adopted; the stable pod hash."""
    def adopted() -> bool:
        return all(_managed(w, s)[0] == "demo" and _managed(w, s)[1] for s in ("stable", "canary"))
    await w.settle(lambda: w.status().get("phase") == "Healthy" and w.state() == "Promoted" and adopted(),
                   what="healthy with both Services adopted")
    await w.lbc.settled()
    return str(w.status()["stableRS"])


async def _deleted(w: World) -> int:
    """What the reconciler does for a key gone from the cache (with the Services cache)."""
    await w.caught_up()
    return await deletion.reset_if_deleted(w.writer, w.reconciler.applier.ingresses, NS, "demo",
                                           services=w.informers.services)


async def test_deletion_releases_both_services(world: Any) -> None:
    w: World = await world()
    w.seed()
    foreign = _foreign(w)
    _annotated(w)
    pod_hash = await _healthy(w)
    assert _managed(w, "stable") == ("demo", pod_hash)
    w.storage.delete(ROLLOUTS, NS, "demo")
    assert await _deleted(w) == 1
    assert w.annotations()[ACTION] == RESET
    for name in ("stable", "canary"):
        assert _managed(w, name) == (None, None)
        assert w.get("services", name)["spec"]["selector"] == {"app": "demo"}
    assert w.get("services", "stable")["metadata"]["annotations"] == {"team": "a"}
    assert w.get("services", "foreign") == foreign  # never written
    writes = len(w.writer.writes)
    assert await _deleted(w) == 0  # released once: nothing left to do
    assert len(w.writer.writes) == writes


async def test_relabelled_for_another_instance_keeps_its_services(world: Any) -> None:
    w: World = await world()
    w.seed()
    pod_hash = await _healthy(w)
    label = {"argo-rollouts.argoproj.io/controller-instance-id": "blue"}
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"metadata": {"labels": label}})
    await w.caught_up()
    assert w.informers.rollouts.store.get(f"{NS}/demo") is None
    assert await _deleted(w) == 0
    for name in ("stable", "canary"):
        assert _managed(w, name) == ("demo", pod_hash)


async def test_moved_canary_service_is_released(world: Any) -> None:
    w: World = await world()
    w.seed()
    foreign = _foreign(w)
    w.apply("services", service("canary2"))
    pod_hash = await _healthy(w)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", MOVE)
    await w.settle(lambda: _managed(w, "canary2") == ("demo", pod_hash) and _managed(w, "canary")[0] is None,
                   what="canary2 managed, canary released")
    assert w.get("services", "canary")["spec"]["selector"] == {"app": "demo"}
    assert _managed(w, "stable") == ("demo", pod_hash)
    assert w.get("services", "foreign") == foreign
    described = w.reconciler.describe(f"{NS}/demo") or {}
    effects = [e for t in described["transitions"] for e in t["effects"]]
    assert "released Service canary" in effects


async def test_moved_canary_service_conflict_raises_then_releases(world: Any) -> None:
    w: World = await world()
    w.seed()
    w.apply("services", service("canary2"))
    pod_hash = await _healthy(w)
    # canary2 already as we would point it, so that the first Service write is the release of canary
    adopted = {"metadata": {"annotations": {MANAGED_BY: "demo"}}, "spec": {"selector": {HASH: pod_hash}}}
    w.storage.merge_patch("services", NS, "canary2", adopted)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", MOVE)
    await w.caught_up()
    w.faults.fail_next("patch", "services", code=409, message="the object has been modified")
    with pytest.raises(writing.Conflict):
        await w.reconcile()
    assert _managed(w, "canary") == ("demo", pod_hash)
    await w.settle(lambda: _managed(w, "canary") == (None, None), what="canary released on the retry")
    assert _managed(w, "canary2") == ("demo", pod_hash)


async def test_service_gone_before_the_patch_is_skipped(world: Any) -> None:
    w: World = await world()
    w.seed()
    await _healthy(w)
    w.storage.delete(ROLLOUTS, NS, "demo")
    w.faults.fail_next("patch", "services", code=404)  # the first one, canary: gone between read and write
    assert await _deleted(w) == 1
    assert _managed(w, "canary")[0] == "demo"  # the 404 was faked: the Service is still stored
    assert _managed(w, "stable") == (None, None)


async def test_conflict_raises_and_the_retry_leaves_a_service_another_rollout_took(world: Any) -> None:
    w: World = await world()
    w.seed()
    pod_hash = await _healthy(w)
    w.storage.delete(ROLLOUTS, NS, "demo")
    w.faults.fail_next("patch", "services", code=409, message="the object has been modified")
    with pytest.raises(writing.Conflict):
        await _deleted(w)
    assert w.annotations()[ACTION] == RESET  # the Ingress was reset before
    # meanwhile another Rollout adopted the canary Service
    w.storage.merge_patch("services", NS, "canary", {"metadata": {"annotations": {MANAGED_BY: "other"}}})
    assert await _deleted(w) == 0
    assert _managed(w, "canary") == ("other", pod_hash)
    assert _managed(w, "stable") == (None, None)


async def test_release_over_a_stale_copy_is_refused(world: Any) -> None:
    w: World = await world()
    w.seed()
    pod_hash = await _healthy(w)
    stale = w.get("services", "canary")
    w.storage.merge_patch("services", NS, "canary", {"metadata": {"annotations": {MANAGED_BY: "other"}}})
    with pytest.raises(writing.Conflict):
        await w.writer.patch_service(NS, "canary", services.release_patch(stale))
    assert _managed(w, "canary") == ("other", pod_hash)


async def test_update_keeps_services_named_by_the_spec(world: Any) -> None:
    w: World = await world()
    w.seed()
    await _healthy(w)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": pod_template("app:2")}})
    await w.settle(lambda: w.status().get("currentStepIndex") == 1, what="paused at the first step")
    described = w.reconciler.describe(f"{NS}/demo") or {}
    assert not [e for t in described["transitions"] for e in t["effects"] if e.startswith("released")]
    assert _managed(w, "canary")[0] == _managed(w, "stable")[0] == "demo"
    assert _managed(w, "canary")[1] != _managed(w, "stable")[1]  # the canary Service follows the new pods
