"""Reconciling the unusual cases against the sandbox.

Aspects: an invalid (or unparsable) spec → InvalidSpec condition, phase Degraded and message written once,
one event, a TerminalError every time, nothing else touched; a ReplicaSet left by the reference controller
with the same template is adopted, never recreated (pod uids unchanged); a deleted Rollout's action is reset
to 100% on the stable Service and its bookkeeping entry removed, but not one relabelled for another
--instance-id (a migration); two Rollouts on one Ingress keep both
bookkeeping entries; a 409 on the Ingress patch raises and the next reconcile succeeds; a write the cache
does not show within the deadline raises CacheBehind (a retry); a Rollout of another
controller instance is ignored; an Ingress of a class we do not manage, or whose bookkeeping annotation cannot
be parsed, is refused before any other write: a Warning event and a status message (phase kept) written once,
the Ingress untouched, and the message replaced once the Ingress is fixed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from service import reconciling, results
from service.kube import writing

from .world import (
    ACTION,
    BOOKKEEPING,
    HASH,
    INGRESSES,
    NS,
    ROLLOUTS,
    World,
    forward,
    ingress,
    rollout,
    service,
)
from .world import template as pod_template

RESET = ('{"Type":"forward","ForwardConfig":{"TargetGroups":'
         '[{"ServiceName":"stable","ServicePort":"80","Weight":100}]}}')


def _mine(obj: dict[str, Any]) -> tuple[Any, Any]:
    """What the controller may write of an Ingress (the LBC writes its status meanwhile)."""
    return obj["metadata"].get("annotations"), obj["spec"]


async def test_invalid_spec_writes_status_once_and_touches_nothing(world: Any) -> None:
    w: World = await world()
    w.seed(steps=[{"setWeight": 20}, {"experiment": {}}])
    await w.caught_up()
    ingress_before = _mine(w.get(INGRESSES, "app"))
    services_before = [w.get("services", s) for s in ("stable", "canary")]
    with pytest.raises(results.TerminalError) as raised:
        await w.reconcile()
    status = w.status()
    assert status["phase"] == "Degraded"
    assert status["message"] == f"InvalidSpec: {raised.value}"
    (condition,) = [c for c in status["conditions"] if c["type"] == "InvalidSpec"]
    assert (condition["status"], condition["reason"]) == ("True", "InvalidSpec")
    assert "experiment" in condition["message"]
    writes = list(w.writer.writes)
    assert writes == [("patch_rollout_status", "demo")]
    await w.caught_up()
    with pytest.raises(results.TerminalError):
        await w.reconcile()
    assert w.writer.writes == writes  # written once
    assert len(w.events("InvalidSpec")) == 1
    assert w.replica_sets() == {}
    assert _mine(w.get(INGRESSES, "app")) == ingress_before
    assert [w.get("services", s) for s in ("stable", "canary")] == services_before
    assert w.reconciler.describe(f"{NS}/demo")["state"] == "Degraded"  # type: ignore[index]


async def test_reference_replicaset_is_adopted_without_restarting_pods(world: Any) -> None:
    w: World = await world()
    w.seed()
    labels = {"app": "demo", HASH: "5f7c9d8b6"}
    w.apply("replicasets.apps", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "demo-5f7c9d8b6", "namespace": NS, "labels": labels,
                     "annotations": {"rollout.argoproj.io/revision": "1"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {**pod_template(), "metadata": {"labels": labels}}}})
    await w.caught_up()
    pods_before = w.pod_uids()
    assert len(pods_before) == 2
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    assert list(w.replica_sets()) == ["demo-5f7c9d8b6"]
    rs = w.replica_sets()["demo-5f7c9d8b6"]
    owner = w.get(ROLLOUTS, "demo")["metadata"]["uid"]
    assert [(r["kind"], r["uid"], r["controller"]) for r in rs["metadata"]["ownerReferences"]] == [
        ("Rollout", owner, True)]
    assert w.pod_uids() == pods_before
    assert w.status()["stableRS"] == "5f7c9d8b6"
    assert w.get("services", "stable")["spec"]["selector"][HASH] == "5f7c9d8b6"


async def test_deletion_resets_the_ingress(world: Any) -> None:
    w: World = await world()
    w.seed()
    # settled: Healthy, done waiting for the stable targets, and the LBC done writing the Ingress
    await w.settle(lambda: w.status().get("phase") == "Healthy" and w.state() == "Promoted", what="healthy")
    await w.lbc.settled()
    assert json.loads(w.annotations()[BOOKKEEPING]) == {"demo": [ACTION]}
    w.storage.delete(ROLLOUTS, NS, "demo")
    await w.caught_up()
    assert await w.reconcile() == results.Result()
    annotations = w.annotations()
    assert annotations[ACTION] == RESET
    assert BOOKKEEPING not in annotations
    assert w.reconciler.describe(f"{NS}/demo") is None
    assert w.reconciler.keys() == []


async def test_relabelled_for_another_instance_keeps_its_traffic(world: Any) -> None:
    w: World = await world()
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": pod_template("app:2")}})
    await w.settle(lambda: w.annotations()[ACTION] == forward(20, 80), what="canary at 20%")
    # handed over to the controller started with --instance-id blue: our label-selected watch says DELETED
    label = {"argo-rollouts.argoproj.io/controller-instance-id": "blue"}
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"metadata": {"labels": label}})
    await w.caught_up()
    assert w.informers.rollouts.store.get(f"{NS}/demo") is None
    annotations = w.annotations()
    assert await w.reconcile() == results.Result()
    assert w.annotations() == annotations  # not reset: the rollout is not deleted, only not ours
    assert w.reconciler.keys() == []


async def test_two_rollouts_share_an_ingress(world: Any) -> None:
    w: World = await world()
    for name in ("stable", "canary"):
        w.apply("services", service(name))
    for name in ("stable2", "canary2"):
        w.apply("services", service(name, app="other"))
    w.apply(INGRESSES, ingress(backends=("stable", "stable2")))
    w.apply(ROLLOUTS, rollout("demo"))
    w.apply(ROLLOUTS, rollout("other", stable="stable2", canary="canary2", app="other"))
    await w.settle(lambda: w.status("demo").get("phase") == "Healthy", what="demo healthy")
    await w.settle(lambda: w.status("other").get("phase") == "Healthy", key=f"{NS}/other", what="other")
    await w.settle(lambda: True, what="demo still settled")
    annotations = w.annotations()
    assert json.loads(annotations[BOOKKEEPING]) == {
        "demo": [ACTION], "other": ["alb.ingress.kubernetes.io/actions.stable2"]}
    assert annotations[ACTION] == forward(0, 100)
    assert annotations["alb.ingress.kubernetes.io/actions.stable2"] == forward(0, 100, "canary2", "stable2")


async def test_conflict_on_the_ingress_raises_then_succeeds(world: Any) -> None:
    w: World = await world()
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": pod_template("app:2")}})
    await w.caught_up()
    w.faults.fail_next("patch", "ingresses", code=409, message="the object has been modified")
    with pytest.raises(writing.Conflict):
        for _ in range(20):  # the canary must have an available pod before the weight moves
            await w.reconcile()
            await w.caught_up()
    assert w.annotations()[ACTION] == forward(0, 100)
    await w.caught_up()
    await w.settle(lambda: w.annotations()[ACTION] == forward(20, 80), what="weight written")
    assert w.events("TrafficRoutingError")[-1].startswith("error patching alb ingress `app`: 409")


async def test_other_instance_is_ignored(world: Any) -> None:
    w: World = await world(instance_id="blue")
    w.seed()
    await w.caught_up()
    assert await w.reconcile() == results.Result()
    assert w.writer.writes == []
    assert w.reconciler.keys() == []


async def test_ingress_of_another_class_is_refused_with_a_status_message_once(world: Any) -> None:
    w: World = await world()
    for name in ("stable", "canary"):
        w.apply("services", service(name))
    w.apply(INGRESSES, ingress(ingress_class="nginx"))
    w.apply(ROLLOUTS, rollout())
    await w.caught_up()
    ingress_before = _mine(w.get(INGRESSES, "app"))
    with pytest.raises(results.TerminalError) as raised:
        await w.reconcile()
    message = ('refusing to write Ingress "default/app": its class "nginx" is not one of '
               '--alb-ingress-classes ["alb"]')
    assert str(raised.value) == message
    assert w.writer.writes == [("patch_rollout_status", "demo")]
    assert w.status() == {"message": f"TrafficRoutingError: {message}"}
    assert w.events("TrafficRoutingError") == [message]
    await w.caught_up()
    with pytest.raises(results.TerminalError):
        await w.reconcile()
    assert w.writer.writes == [("patch_rollout_status", "demo")]  # not again on a retry
    assert w.events("TrafficRoutingError") == [message]
    assert _mine(w.get(INGRESSES, "app")) == ingress_before
    assert w.replica_sets() == {}
    # the user fixes the class: the next plan replaces the message
    w.storage.merge_patch(INGRESSES, NS, "app", {"spec": {"ingressClassName": "alb"}})
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy once the class is fixed")
    assert "message" not in w.status()


async def test_unparsable_bookkeeping_is_not_overwritten_and_the_status_says_so(world: Any) -> None:
    w: World = await world()
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    w.storage.merge_patch(INGRESSES, NS, "app", {"metadata": {"annotations": {BOOKKEEPING: "{not json"}}})
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": pod_template("app:2")}})
    await w.caught_up()
    ingress_before = _mine(w.get(INGRESSES, "app"))
    replica_sets_before = w.replica_sets()
    writes = len(w.writer.writes)
    with pytest.raises(results.TerminalError) as raised:
        await w.reconcile()
    message = ('refusing to write Ingress "default/app": cannot parse annotation '
               f"{BOOKKEEPING}: invalid character 'n' looking for beginning of object key string")
    assert str(raised.value) == message
    status = w.status()
    assert (status["phase"], status["message"]) == ("Healthy", f"TrafficRoutingError: {message}")
    assert w.writer.writes[writes:] == [("patch_rollout_status", "demo")]
    assert w.events("TrafficRoutingError") == [message]
    await w.caught_up()
    with pytest.raises(results.TerminalError):
        await w.reconcile()
    assert w.writer.writes[writes:] == [("patch_rollout_status", "demo")]  # written once
    assert w.events("TrafficRoutingError") == [message]
    assert _mine(w.get(INGRESSES, "app")) == ingress_before  # other rollouts' data is not lost
    assert w.replica_sets() == replica_sets_before  # no new ReplicaSet while we cannot route


async def test_unparsable_spec_is_invalid_too(world: Any) -> None:
    w: World = await world()
    body = rollout()
    body["spec"]["replicas"] = "two"
    for name in ("stable", "canary"):
        w.apply("services", service(name))
    w.apply(INGRESSES, ingress())
    w.apply(ROLLOUTS, body)
    await w.caught_up()
    with pytest.raises(results.TerminalError) as raised:
        await w.reconcile()
    status = w.status()
    assert status["phase"] == "Degraded"
    assert status["message"] == f"InvalidSpec: {raised.value}"
    assert "spec.replicas" in str(raised.value)
    assert w.writer.writes == [("patch_rollout_status", "demo")]
    assert w.replica_sets() == {}


async def test_a_write_the_cache_never_shows_is_a_retry_not_a_silent_go_on(world: Any) -> None:
    w: World = await world()
    w.seed()
    await w.caught_up()
    seen = {"metadata": {"resourceVersion": w.storage.resource_version}}
    await results.wait_written(w.informers.rollouts, seen, 1.0)
    await w.informers.rollouts.stop()  # the watch is gone: our next write never shows
    ahead = {"metadata": {"resourceVersion": str(int(w.storage.resource_version) + 1)}}
    with pytest.raises(results.CacheBehind) as raised:
        await results.wait_written(w.informers.rollouts, ahead, 0.2)
    version = ahead["metadata"]["resourceVersion"]
    assert str(raised.value) == (f"the rollouts.argoproj.io cache did not show our write (resourceVersion "
                                 f"{version}) within 0.2s")
    w.reconciler.expectations.within = 0.5  # the Rollout waits' deadline (20 s in this world)
    await w.reconcile()  # our Rollout write is sent; the worker does not wait for the watch to show it
    assert w.writer.writes[-1][0].startswith("patch_rollout")
    writes = len(w.writer.writes)
    # the next reconcile finds it unseen and does nothing (it would decide from an older copy)
    assert (await w.reconcile()).requeue_after == reconciling.EXPECTATIONS_POLL_SECONDS
    assert len(w.writer.writes) == writes
    w.clock.advance(0.6)
    with pytest.raises(results.CacheBehind):
        await w.reconcile()  # still unseen: the worker retries with backoff
    assert len(w.writer.writes) == writes
