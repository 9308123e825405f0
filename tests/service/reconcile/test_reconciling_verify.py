"""Reconciling with `--aws-verify-target-group` against the sandbox's LBC simulator and moto.

Aspects: a setWeight step does not complete while the ALB (LBC simulator paused) lacks the weights — the
status says verified false and the Result asks to look again after the verify retry interval; once the LBC
applies them the status records verified true and status.alb/albs, and the step advances; after promotion
the old ReplicaSet is dated for scale-down only once the stable Service's pod IPs are registered
(TargetGroupUnverified while the LBC is paused, then TargetGroupVerified); AWS denying the calls keeps the
rollout in Verifying, the step and the stable ReplicaSet untouched, with one WeightVerifyError event naming
the permission.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from service.aws import results as aws_results
from service.kube import watching

from .world import ACTION, NS, ROLLOUTS, World, forward, template

DENIED = ("DescribeRules: AccessDenied: User is not authorized to perform: "
          "elasticloadbalancing:DescribeRules")


async def test_step_waits_for_the_alb(world: Any) -> None:
    w: World = await world(verify=True, retry_interval=2.0)
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    stable = w.status()["stableRS"]
    await w.lbc.settled()

    await w.update_with_the_alb_behind("app:2")
    await w.settle(lambda: w.annotations()[ACTION] == forward(20, 80)
                   and w.status()["canary"]["weights"].get("verified") is False, what="unverified")
    status = w.status()
    assert status["currentStepIndex"] == 0
    assert "pauseConditions" not in status
    assert w.outcomes[-1].requeue_after == 2.0
    assert w.alb_weights() == {"canary": 0, "stable": 100}
    assert w.reconciler.describe(f"{NS}/demo")["state"] == "Verifying"  # type: ignore[index]

    w.lbc.configure({"paused": False})
    async with asyncio.timeout(20):
        await w.lbc.settled()
    await w.settle(lambda: w.status().get("phase") == "Paused", what="step advanced to the pause")
    status = w.status()
    assert status["currentStepIndex"] == 1
    assert status["canary"]["weights"]["verified"] is True
    assert status["alb"]["ingress"] == "app"
    assert status["alb"]["loadBalancer"]["arn"].startswith("arn:aws:elasticloadbalancing:")
    assert [entry["ingress"] for entry in status["albs"]] == ["app"]
    assert w.alb_weights() == {"canary": 20, "stable": 80}
    described = w.reconciler.describe(f"{NS}/demo")
    assert described is not None and described["aws"]["verified"] is True

    # promoted, then the LBC registers nothing: the old ReplicaSet must keep running, undated
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"status": {"pauseConditions": None}}, subresource="status")
    canary = status["currentPodHash"]
    await w.settle(lambda: w.status().get("stableRS") == canary, what="promoted", quiet=False)
    w.lbc.configure({"paused": True})
    await w.settle(lambda: bool(w.events("TargetGroupUnverified")), what="targets unverified")
    old = w.replica_sets()[f"demo-{stable}"]
    assert old["spec"]["replicas"] == 2
    assert "scale-down-deadline" not in old["metadata"].get("annotations", {})
    assert w.outcomes[-1].requeue_after == 2.0
    assert w.events("TargetGroupUnverified")[-1].endswith("not verified: 0/2 endpoints registered")

    w.lbc.configure({"paused": False})
    async with asyncio.timeout(20):
        await w.lbc.settled()
    await w.settle(lambda: w.status().get("stableRS") == canary
                   and "scale-down-deadline" in w.replica_sets()[f"demo-{stable}"]["metadata"].get(
                       "annotations", {}), what="old ReplicaSet dated for scale-down")
    verified = w.events("TargetGroupVerified")
    assert verified and all(m.startswith("Service stable (TargetGroup arn:") for m in verified)
    assert verified[-1].endswith("verified: 2 endpoints registered")


class DeniedWeights:
    """A weight verifier whose every ELBv2 call is denied (what the real one answers without permission)."""

    def __init__(self) -> None:
        self.calls = 0

    async def verify(self, request: Any) -> aws_results.WeightVerification:
        self.calls += 1
        item = aws_results.IngressVerification(ingress="app", verified=False, reason=DENIED, error=True)
        return aws_results.WeightVerification(verified=False, ingresses=(item,))


async def test_denied_aws_waits_and_says_why(world: Any) -> None:
    w: World = await world(verify=True, retry_interval=2.0)
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    stable = w.status()["stableRS"]
    verifier = w.reconciler.applier.verifier
    assert verifier is not None
    denied = DeniedWeights()
    verifier.verifiers = dataclasses.replace(verifier.verifiers, weights=denied)  # type: ignore[arg-type]
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status()["canary"]["weights"].get("verified") is False, what="unverified")
    for _ in range(3):
        await w.caught_up()
        assert (await w.reconcile()).requeue_after == 2.0
    status = w.status()
    assert status["currentStepIndex"] == 0
    assert w.events("WeightVerifyError") == [f"Failed to verify weight: {DENIED}"]
    assert w.replica_sets()[f"demo-{stable}"]["spec"]["replicas"] == 2
    assert denied.calls >= 4
    assert w.reconciler.describe(f"{NS}/demo")["state"] == "Verifying"  # type: ignore[index]


async def test_a_binding_cache_that_never_syncs_makes_the_rollout_wait_and_say_why(world: Any) -> None:
    w: World = await world(verify=True, retry_interval=2.0, tgb_version="elbv2.k8s.aws/v9")
    w.seed()
    await w.caught_up()
    result = await w.reconcile()
    assert result.requeue_after == 2.0
    status = w.status()
    expected = ("TargetGroupVerifyError: cannot verify target groups: targetgroupbindings.elbv2.k8s.aws not "
                "synced: 404")
    assert status["message"].startswith(expected)
    assert "(is the TargetGroupBinding CustomResourceDefinition targetgroupbindings.elbv2.k8s.aws " \
           "(elbv2.k8s.aws/v9) installed?)" in status["message"]
    assert w.replica_sets() == {}  # nothing else is touched: no ReplicaSet, no Ingress write
    assert w.events("TargetGroupVerifyError") and ACTION not in w.annotations()
    writes = len(w.writer.writes)
    await w.caught_up()
    await w.reconcile()
    assert len(w.writer.writes) == writes  # the same message is not written again


async def test_a_binding_cache_still_on_its_first_list_makes_the_rollout_wait_quietly(world: Any) -> None:
    """A restart in a large cluster: the TargetGroupBindings' first LIST has not answered yet (no error).
    The Rollout waits without a status message or Warning event, and goes on once the cache syncs."""
    w: World = await world(verify=True, retry_interval=2.0, tgb_list_seconds=3.0)
    bindings = w.informers.target_group_bindings
    assert bindings is not None and not bindings.synced.is_set() and bindings.last_error is None
    w.seed()
    await w.caught_up()
    assert (await w.reconcile()).requeue_after == 2.0
    assert w.writer.writes == [] and w.events("TargetGroupVerifyError") == []
    assert "message" not in w.status() and w.replica_sets() == {}
    assert await watching.wait_synced([bindings], within=10.0)
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy once the cache synced")
    assert w.events("TargetGroupVerifyError") == []


async def test_the_reconcile_that_sees_the_targets_serve_moves_the_weight_at_once(world: Any) -> None:
    """No trip through the work queue between "the canary's targets serve" and the Ingress patch: that
    reconcile wrote nothing, so it decides again from the same caches (AGAIN_AT_ONCE)."""
    w: World = await world(verify=True, retry_interval=2.0)
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    await w.lbc.settled()
    await w.update_with_the_alb_behind("app:2")  # the controller waits; ELBv2 has the targets serving
    w.lbc.configure({"paused": False})
    await w.caught_up()
    writes = len(w.writer.writes)
    await w.reconcile()  # one reconcile, one queue pass: it sees them serve and patches the Ingress
    assert w.annotations()[ACTION] == forward(20, 80)
    assert ("patch_ingress", "app") in w.writer.writes[writes:]
    transitions = w.reconciler.describe(f"{NS}/demo")["transitions"]  # type: ignore[index]
    assert [t["trigger"] for t in transitions[-2:]] == ["wait_for_targets", "targets_ready"]


async def test_one_reconcile_verifies_the_weight_completes_the_step_and_pauses(world: Any) -> None:
    """Status-only steps do not each wait behind the whole work queue: after a write to nothing but this
    Rollout, the reconcile decides again from the answer (AGAIN_AT_ONCE), so "verified", "step completed"
    and "paused" are one queue pass; the step and the pause are still each their own status write."""
    w: World = await world(verify=True, retry_interval=2.0)
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    await w.lbc.settled()
    await w.update_with_the_alb_behind("app:2")
    await w.settle(lambda: w.annotations()[ACTION] == forward(20, 80)
                   and w.status()["canary"]["weights"].get("verified") is False, what="unverified")
    w.lbc.configure({"paused": False})
    async with asyncio.timeout(20):
        await w.lbc.settled()
    await w.caught_up()
    writes = len(w.writer.writes)
    await w.reconcile()  # one queue pass
    status = w.status()
    assert status["canary"]["weights"]["verified"] is True
    assert status["currentStepIndex"] == 1
    assert [c["reason"] for c in status["pauseConditions"]] == ["CanaryPauseStep"]
    transitions = w.reconciler.describe(f"{NS}/demo")["transitions"]  # type: ignore[index]
    assert [t["trigger"] for t in transitions[-3:]] == ["verify", "complete_step", "pause"]
    assert [t["effects"] for t in transitions[-2:]] == [["status written"], ["status written"]]
    assert w.writer.writes[writes:] == [("patch_rollout_status", "demo")] * 2  # and nothing else
