"""`kubectl argo rollouts restart`: the plugin's exact patch, then reconciles against the sandbox.

Aspects: every pod created before restartAt is evicted (pods/eviction) and replaced, never more than
max(floor(25% x replicas), 1) pods unavailable at any moment (replayed from the pods' change history), then
status.restartedAt == spec.restartAt and the phase is Healthy again; a future restartAt lists no pod and
evicts nothing until it is reached (the reconcile asks to look again then), and with more pods to go it asks
again in 30 s; mid-update (canary paused, not promoted) the pods of both ReplicaSets are restarted, as the
reference does (its restarter runs whatever the step), and the update stays where it was (the canary weight
drops to 0 while the canary's only pod restarts, then comes back); the reconcile that first sees a new pod
template restarts nothing; no older pod records restartedAt at once; failures: the pod LIST and an eviction
answered 500 raise (nothing recorded), a 429 (a PodDisruptionBudget) skips that pod for the next one, and a
budget that allows no disruption holds the restart (looked at again in 30 s) until it is lifted; a failed
restartedAt write raises and the next reconcile writes it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from sandbox.cluster import pods
from service.kube import writing
from statemachine import models

from .world import ACTION, NS, ROLLOUTS, World, forward, template

# pkg/kubectl-argo-rollouts/cmd/restart/restart.go: restartPatch, byte for byte, sent as a merge patch
PLUGIN_PATCH = '{\n\t"spec": {\n\t\t"restartAt": "%s"\n\t}\n}'
PDBS = "poddisruptionbudgets.policy"


def _align(w: World) -> None:
    """Move the controller's fake clock to the wall clock the sandbox stamps pods with."""
    behind = (datetime.now(UTC) - w.clock.now()).total_seconds()
    assert behind >= 0, "the wall clock reads earlier than the FakeClock's start"
    w.clock.advance(behind)


async def _next_second(w: World) -> str:
    """Wait for the wall clock to leave the second the newest pod was created in; that second, as the plugin
    prints `now` (RFC 3339, whole seconds)."""
    stamps = [models.parse_time(p["metadata"]["creationTimestamp"]) for p in w.storage.list("pods", NS)]
    newest = max(stamp for stamp in stamps if stamp is not None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while datetime.now(UTC).replace(microsecond=0) <= newest:
        assert loop.time() < deadline, "the wall clock did not move"
        await asyncio.sleep(0.02)
    return models.format_time(datetime.now(UTC))


async def _restart(w: World, at: str, name: str = "demo") -> None:
    """`kubectl argo rollouts restart <name>` as the plugin sends it, over HTTP."""
    url = f"{w.writer.inner.api.configuration.host}/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts/{name}"
    async with aiohttp.ClientSession() as http:
        async with http.patch(url, data=(PLUGIN_PATCH % at).encode(),
                              headers={"Content-Type": writing.MERGE_PATCH}) as answer:
            assert answer.status == 200, await answer.text()
    await w.caught_up()


async def _healthy(w: World, **options: Any) -> dict[str, str]:
    _align(w)
    w.seed(**options)
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    return _pods(w)


def _pods(w: World) -> dict[str, str]:
    return {p["metadata"]["uid"]: p["metadata"]["name"] for p in w.storage.list("pods", NS)}


def _evictions(w: World, status: int | None = None) -> list[str]:
    return [str(r.name) for r in w.faults.request_log
            if r.subresource == "eviction" and (status is None or r.status == status)]


def _pod_lists(w: World) -> int:
    return sum(1 for r in w.faults.request_log if r.resource == "pods" and r.verb == "list")


def _most_unavailable(w: World, since: str, before: list[dict[str, Any]], expected: int) -> int:
    """The most pods short of `expected` Ready ones at any change since resourceVersion `since`."""
    ready = {p["metadata"]["name"]: pods.is_ready(p) for p in before}
    worst = expected - sum(ready.values())
    for event in w.storage.events_since("pods", int(since)):
        name = event.object["metadata"]["name"]
        if event.type == "DELETED":
            ready.pop(name, None)
        else:
            ready[name] = pods.is_ready(event.object)
        worst = max(worst, expected - sum(ready.values()))
    return worst


def _restarted(w: World, at: str) -> bool:
    return w.status().get("restartedAt") == at


async def test_restart_replaces_every_pod_one_at_a_time(world: Any) -> None:
    w: World = await world()
    old = await _healthy(w, replicas=4)
    assert len(old) == 4
    at = await _next_second(w)
    w.cluster.pod_ready_seconds = 0.3  # long enough to see a second eviction wait for the first pod
    since, before = w.storage.resource_version, w.storage.list("pods", NS)
    await _restart(w, at)
    _align(w)
    assert w.get(ROLLOUTS, "demo")["spec"]["restartAt"] == at
    await w.settle(lambda: _restarted(w, at) and w.status().get("phase") == "Healthy", what="restarted")
    now = w.storage.list("pods", NS)
    assert len(now) == 4 and not set(old) & {p["metadata"]["uid"] for p in now}
    assert all(p["metadata"]["creationTimestamp"] >= at and pods.is_ready(p) for p in now)
    assert sorted(_evictions(w, 201)) == sorted(old.values())
    assert _most_unavailable(w, since, before, expected=4) == 1
    assert w.status().get("message", "") == ""
    assert w.annotations()[ACTION] == forward(0, 100)


async def test_future_restart_waits_for_its_time(world: Any) -> None:
    w: World = await world()
    old = await _healthy(w, replicas=4)
    at = models.format_time(w.clock.now() + timedelta(seconds=90))
    await _restart(w, at)
    result = await w.reconcile()
    assert result.requeue_after is not None and 89 < result.requeue_after <= 90
    assert (_pod_lists(w), _evictions(w), _pods(w)) == (0, [], old)
    assert "restartedAt" not in w.status()
    w.clock.advance(result.requeue_after)
    result = await w.reconcile()
    assert result.requeue_after == 30.0  # three more to go once the first replacement is ready
    assert _evictions(w, 201) == [sorted(old.values())[0]]
    assert "restartedAt" not in w.status()


async def test_mid_update_restarts_both_replicasets_and_keeps_the_step(world: Any) -> None:
    w: World = await world()
    await _healthy(w, replicas=4, steps=[{"setWeight": 20}, {"pause": {}}])
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused" and len(w.storage.list("pods", NS)) == 5,
                   what="paused at the pause step")
    paused = w.status()
    old = _pods(w)
    at = await _next_second(w)
    w.cluster.pod_ready_seconds = 0.3
    since, before = w.storage.resource_version, w.storage.list("pods", NS)
    await _restart(w, at)
    _align(w)
    # while its only pod restarts the canary has none available: weight 0 (reference §4.1), then 20 again
    await w.settle(lambda: (_restarted(w, at) and _all_ready(w, 5)
                            and w.annotations()[ACTION] == forward(20, 80)),
                   what="restarted mid-update, canary weight back")
    status = w.status()
    assert {p["metadata"]["uid"] for p in w.storage.list("pods", NS)}.isdisjoint(old)
    assert sorted(_evictions(w, 201)) == sorted(old.values())
    # 4 stable + 1 canary pods: max(4, 5) - max(1, 1) = 4 must stay available
    assert _most_unavailable(w, since, before, expected=5) == 1
    for key in ("phase", "message", "stableRS", "currentPodHash", "currentStepIndex", "pauseConditions"):
        assert status.get(key) == paused.get(key), key
    assert w.annotations()[ACTION] == forward(20, 80)


def _all_ready(w: World, count: int) -> bool:
    found = w.storage.list("pods", NS)
    return len(found) == count and all(pods.is_ready(p) for p in found)


async def test_the_reconcile_that_sees_a_new_template_restarts_nothing(world: Any) -> None:
    w: World = await world()
    await _healthy(w, replicas=2)
    at = await _next_second(w)
    _align(w)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2"), "restartAt": at}})
    await w.caught_up()
    await w.reconcile()
    assert (_pod_lists(w), _evictions(w)) == (0, [])
    await w.settle(lambda: _restarted(w, at), what="restarted", quiet=False)
    assert _evictions(w)


async def test_nothing_older_records_restarted_at_once_and_a_failed_write_raises(world: Any) -> None:
    w: World = await world()
    old = await _healthy(w, replicas=2)
    at = "2026-01-01T00:00:00Z"  # before every pod
    await _restart(w, at)
    w.faults.fail_next("patch", "rollouts", code=500)
    with pytest.raises(writing.KubeWriteError):
        await w.reconcile()
    assert "restartedAt" not in w.status()
    await w.settle(lambda: _restarted(w, at) and w.status().get("phase") == "Healthy", what="recorded")
    assert (_evictions(w), _pods(w)) == ([], old)


@pytest.mark.parametrize("verb", ["list", "create"])
async def test_pod_list_or_eviction_failing_raises_and_records_nothing(world: Any, verb: str) -> None:
    w: World = await world()
    old = await _healthy(w, replicas=2)
    at = await _next_second(w)
    await _restart(w, at)
    _align(w)
    w.faults.fail_next(verb, "pods", code=500)
    with pytest.raises(writing.Unavailable):
        await w.reconcile()
    assert "restartedAt" not in w.status() and _pods(w) == old
    assert _evictions(w, 201) == []


async def test_a_refused_eviction_moves_on_to_the_next_pod(world: Any) -> None:
    w: World = await world()
    old = await _healthy(w, replicas=4)
    at = await _next_second(w)
    await _restart(w, at)
    _align(w)
    w.faults.fail_next("create", "pods", code=429)
    result = await w.reconcile()
    first, second = sorted(old.values())[:2]
    assert (_evictions(w, 429), _evictions(w, 201)) == ([first], [second])
    assert result.requeue_after == 30.0


async def test_a_disruption_budget_holds_the_restart_until_lifted(world: Any) -> None:
    w: World = await world()
    old = await _healthy(w, replicas=4)
    w.apply(PDBS, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                   "metadata": {"name": "demo", "namespace": NS},
                   "spec": {"minAvailable": 4, "selector": {"matchLabels": {"app": "demo"}}}})
    at = await _next_second(w)
    await _restart(w, at)
    _align(w)
    result = await w.reconcile()
    assert result.requeue_after == 30.0
    assert sorted(_evictions(w, 429)) == sorted(old.values()) and _evictions(w, 201) == []
    assert _pods(w) == old and "restartedAt" not in w.status()
    assert w.status()["message"] == "rollout is restarting"
    w.storage.delete(PDBS, NS, "demo")
    await w.settle(lambda: _restarted(w, at) and w.status().get("phase") == "Healthy", what="restarted")
    assert not set(_pods(w)) & set(old)
