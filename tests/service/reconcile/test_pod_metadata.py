"""Ephemeral pod metadata and the injected anti-affinity on the sandbox.

Aspects: canaryMetadata/stableMetadata — the first ReplicaSet and its pods take the stable metadata; an
update's canary ReplicaSet and pods the canary metadata while the stable pods keep theirs; the templates and
the `rollout.argoproj.io/ephemeral-metadata` annotation as the reference writes them; after promotion the
same pods (uids unchanged) carry the stable metadata and the old stable ReplicaSet and its pods lose theirs;
a quiet reconcile lists no pod; a pod relabelled by hand is healed after a restart of the controller
(fresh memory); a pod gone between the LIST and its patch is skipped; a failed pod patch is retried by the
next reconcile. antiAffinity — the canary ReplicaSet's template carries the reference's term against the
stable pods, kept once promoted; the first ReplicaSet gets none.
"""

from __future__ import annotations

import json
from typing import Any

from service import reconciling

from .world import HASH, NS, ROLLOUTS, World, template

ANNOTATION = "rollout.argoproj.io/ephemeral-metadata"
ROLES = {"canaryMetadata": {"labels": {"role": "canary"}, "annotations": {"team": "canary-watchers"}},
         "stableMetadata": {"labels": {"role": "stable"}}}


def _pods(w: World, pod_hash: str) -> list[dict[str, Any]]:
    return [p for p in w.storage.list("pods", NS)
            if p["metadata"]["labels"].get(HASH) == pod_hash and not p["metadata"].get("deletionTimestamp")]


def _roles(w: World, pod_hash: str) -> set[str | None]:
    return {p["metadata"]["labels"].get("role") for p in _pods(w, pod_hash)}


def _rs(w: World, pod_hash: str) -> dict[str, Any]:
    return w.get("replicasets.apps", f"demo-{pod_hash}")


async def _deployed(w: World, **options: Any) -> str:
    w.seed(**options)
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    return str(w.status()["stableRS"])


async def _paused_canary(w: World) -> str:
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused at the canary step")
    return str(w.status()["currentPodHash"])


def _promote(w: World) -> None:
    # kubectl argo rollouts promote demo
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")


async def test_roles_move_with_the_pods_kept(world: Any) -> None:
    w: World = await world()
    stable = await _deployed(w, **ROLES)
    rs = _rs(w, stable)
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "demo", HASH: stable, "role": "stable"}
    assert rs["metadata"]["annotations"][ANNOTATION] == '{"labels":{"role":"stable"}}'
    assert "role" not in rs["metadata"]["labels"]
    assert _roles(w, stable) == {"stable"}

    canary = await _paused_canary(w)
    rs = _rs(w, canary)
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "demo", HASH: canary, "role": "canary"}
    assert rs["spec"]["template"]["metadata"]["annotations"] == {"team": "canary-watchers"}
    assert rs["metadata"]["annotations"][ANNOTATION] == (
        '{"labels":{"role":"canary"},"annotations":{"team":"canary-watchers"}}')
    assert _roles(w, canary) == {"canary"}
    assert {p["metadata"]["annotations"]["team"] for p in _pods(w, canary)} == {"canary-watchers"}
    assert _roles(w, stable) == {"stable"}
    canary_uids = {p["metadata"]["uid"] for p in _pods(w, canary)}
    stable_uids = {p["metadata"]["uid"] for p in _pods(w, stable)}

    _promote(w)
    await w.settle(lambda: w.status().get("stableRS") == canary and _roles(w, canary) == {"stable"},
                   what="promoted and relabelled")
    assert canary_uids <= {p["metadata"]["uid"] for p in _pods(w, canary)}  # relabelled, not restarted
    assert not any("team" in (p["metadata"].get("annotations") or {}) for p in _pods(w, canary))
    rs = _rs(w, canary)
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "demo", HASH: canary, "role": "stable"}
    assert not rs["spec"]["template"]["metadata"].get("annotations")
    assert rs["metadata"]["annotations"][ANNOTATION] == '{"labels":{"role":"stable"}}'
    old = _rs(w, stable)  # still running out its scaleDownDelaySeconds: no role any more
    assert ANNOTATION not in old["metadata"]["annotations"]
    assert "role" not in old["spec"]["template"]["metadata"]["labels"]
    assert {p["metadata"]["uid"] for p in _pods(w, stable)} == stable_uids
    assert _roles(w, stable) == {None}

    # settled: a quiet reconcile lists no pod
    before = len(w.writer.writes)
    await w.reconcile()
    assert w.writer.writes[before:] == []


async def test_a_restarted_controller_heals_a_pod_relabelled_by_hand(world: Any) -> None:
    w: World = await world()
    stable = await _deployed(w, **ROLES)
    pod = _pods(w, stable)[0]
    w.storage.merge_patch("pods", NS, pod["metadata"]["name"], {"metadata": {"labels": {"role": "canary"}}})
    await w.reconcile()
    assert w.get("pods", pod["metadata"]["name"])["metadata"]["labels"]["role"] == "canary"  # not looked at

    # a new process (leader failover): its memory is empty, so it looks at the pods once
    w.reconciler = reconciling.Reconciler(informers=w.informers, writer=w.writer,
                                          recorder=w.reconciler.recorder, verifiers=None,
                                          settings=w.reconciler.settings, clock=w.clock)
    await w.settle(lambda: _roles(w, stable) == {"stable"}, what="healed")


async def test_pod_patch_failures(world: Any) -> None:
    w: World = await world()
    stable = await _deployed(w, scaleDownDelaySeconds=0, **ROLES)  # no stack of old pods to wait out
    assert len(_pods(w, stable)) == 2
    # the first pod patch fails: the reconcile raises, the next one finishes the job
    failing = w.faults.fail_next("patch", "pods", code=500)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused")
    canary = str(w.status()["currentPodHash"])
    _promote(w)
    await w.settle(lambda: w.status().get("stableRS") == canary and _roles(w, canary) == {"stable"},
                   what="relabelled")
    assert failing.count == 0 and any("500" in str(error) for error in w.errors)

    # a pod deleted between the LIST and its patch (404) is skipped, the rest are patched
    gone = w.faults.fail_next("patch", "pods", code=404)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:3")}})
    errors = len(w.errors)
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused again")
    third = str(w.status()["currentPodHash"])
    _promote(w)
    await w.settle(lambda: w.status().get("stableRS") == third and _roles(w, third) == {"stable"},
                   what="relabelled again")
    assert gone.count == 0 and not any("404" in str(error) for error in w.errors[errors:])


def _term(stable: str) -> dict[str, Any]:
    return {"labelSelector": {"matchExpressions": [{"key": HASH, "operator": "In", "values": [stable]}]},
            "namespaces": [NS], "topologyKey": "kubernetes.io/hostname"}


async def test_anti_affinity_against_the_stable_pods(world: Any) -> None:
    w: World = await world()
    anti = {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 80}}
    stable = await _deployed(w, antiAffinity=anti)
    assert "affinity" not in _rs(w, stable)["spec"]["template"]["spec"]  # no stable to keep away from yet

    canary = await _paused_canary(w)
    affinity = _rs(w, canary)["spec"]["template"]["spec"]["affinity"]
    assert affinity == {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 80, "podAffinityTerm": _term(stable)}]}}
    assert {json.dumps(p["spec"].get("affinity"), sort_keys=True) for p in _pods(w, canary)} == {
        json.dumps(affinity, sort_keys=True)}

    _promote(w)
    await w.settle(lambda: w.status().get("stableRS") == canary, what="promoted")
    # as in the reference, the term stays on the promoted ReplicaSet until another change renews its affinity
    assert _rs(w, canary)["spec"]["template"]["spec"]["affinity"] == affinity


async def test_required_anti_affinity(world: Any) -> None:
    w: World = await world()
    stable = await _deployed(w, antiAffinity={"requiredDuringSchedulingIgnoredDuringExecution": {}})
    canary = await _paused_canary(w)
    assert _rs(w, canary)["spec"]["template"]["spec"]["affinity"] == {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(stable)]}}
