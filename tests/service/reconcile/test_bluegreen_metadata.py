"""Blue-green's ephemeral pod metadata and injected anti-affinity on the sandbox (reference §1.5, §1.6).

Aspects: the first ReplicaSet and its pods take `activeMetadata`; an update's preview ReplicaSet and pods take
`previewMetadata` while the active pods keep theirs, in the template and the
`rollout.argoproj.io/ephemeral-metadata` annotation as the reference writes them; the preview pods keep the
preview labels until `stableRS` moves, then the same pods (uids unchanged) carry the active metadata and the
old ReplicaSet and its pods lose theirs; `antiAffinity` puts the reference's term against the active (stable)
pods on the preview ReplicaSet, none on the first one.
"""

from __future__ import annotations

from typing import Any

from .test_bluegreen import _deploy
from .test_bluegreen_flows import _paused, _promote, _promoted
from .world import HASH, NS, World

ANNOTATION = "rollout.argoproj.io/ephemeral-metadata"
ROLES = {"previewMetadata": {"labels": {"role": "preview"}, "annotations": {"team": "preview-watchers"}},
         "activeMetadata": {"labels": {"role": "active"}}}


def _pods(w: World, pod_hash: str) -> list[dict[str, Any]]:
    return [p for p in w.storage.list("pods", NS)
            if p["metadata"]["labels"].get(HASH) == pod_hash and not p["metadata"].get("deletionTimestamp")]


def _roles(w: World, pod_hash: str) -> set[str | None]:
    return {p["metadata"]["labels"].get("role") for p in _pods(w, pod_hash)}


def _rs(w: World, pod_hash: str) -> dict[str, Any]:
    return w.get("replicasets.apps", f"demo-{pod_hash}")


async def test_preview_and_active_metadata_move_with_the_pods_kept(world: Any) -> None:
    w: World = await world()
    h1 = await _deploy(w, autoPromotionEnabled=False, **ROLES)
    rs = _rs(w, h1)
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "demo", HASH: h1, "role": "active"}
    assert rs["metadata"]["annotations"][ANNOTATION] == '{"labels":{"role":"active"}}'
    assert _roles(w, h1) == {"active"}

    h1, h2 = await _paused(w)
    rs = _rs(w, h2)
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "demo", HASH: h2, "role": "preview"}
    assert rs["spec"]["template"]["metadata"]["annotations"] == {"team": "preview-watchers"}
    assert rs["metadata"]["annotations"][ANNOTATION] == (
        '{"labels":{"role":"preview"},"annotations":{"team":"preview-watchers"}}')
    await w.settle(lambda: _roles(w, h2) == {"preview"}, what="preview pods labelled")
    assert {p["metadata"]["annotations"]["team"] for p in _pods(w, h2)} == {"preview-watchers"}
    assert _roles(w, h1) == {"active"}
    uids = {p["metadata"]["uid"] for p in _pods(w, h2)}

    _promote(w)
    await w.settle(lambda: _promoted(w, h2) and _roles(w, h2) == {"active"}, what="promoted and relabelled")
    assert {p["metadata"]["uid"] for p in _pods(w, h2)} == uids
    assert all("team" not in (p["metadata"].get("annotations") or {}) for p in _pods(w, h2))
    assert _rs(w, h2)["metadata"]["annotations"][ANNOTATION] == '{"labels":{"role":"active"}}'
    old = _rs(w, h1)
    assert ANNOTATION not in old["metadata"]["annotations"]
    assert "role" not in old["spec"]["template"]["metadata"]["labels"]
    assert all("role" not in p["metadata"]["labels"] for p in _pods(w, h1))


async def test_anti_affinity_against_the_active_pods(world: Any) -> None:
    w: World = await world()
    anti = {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 40}}
    h1 = await _deploy(w, autoPromotionEnabled=False, antiAffinity=anti)
    assert "affinity" not in _rs(w, h1)["spec"]["template"]["spec"]  # no stable to keep away from yet
    _, h2 = await _paused(w)
    term = {"labelSelector": {"matchExpressions": [{"key": HASH, "operator": "In", "values": [h1]}]},
            "namespaces": [NS], "topologyKey": "kubernetes.io/hostname"}
    assert _rs(w, h2)["spec"]["template"]["spec"]["affinity"] == {"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 40, "podAffinityTerm": term}]}}
    assert all(p["spec"]["affinity"]["podAntiAffinity"] for p in _pods(w, h2))
