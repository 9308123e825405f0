"""The transition table against the sandbox: every trigger fired for real, with the effects its row names.

Aspects: one Rollout (with `--aws-verify-target-group`, the LBC simulator and moto) is driven through an
initial deploy, an update with the ALB lagging (set_weight, verify, weights_unverified, complete_step), a
pause and the plugin's promote, promotion, an abort and a retry, an invalid spec and its fix; every fired row
is recorded with what its effects did, and each outcome must come from an effect the row names, in the row's
order. Per trigger the sandbox shows the effect: the Ingress annotation written, the
ELBv2 verification asked, the ReplicaSet scaled, the Service repointed, the status written. A trigger the
machine refuses raises, is counted in `rollout_illegal_transitions_total`, and the model is rebuilt from
status; an effect that fails halfway (a kill -9 between effects) is finished by the next reconcile with no
step repeated or skipped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from service import rollout_metrics
from statemachine import machine

from .world import ACTION, NS, ROLLOUTS, World, forward, template

PROMOTE = {"status": {"pauseConditions": None}}
ABORT = {"status": {"abort": True}}
RETRY = {"status": {"abort": False}}

# which effect writes which outcome line (service.applying, replicaset_sync)
PREFIXES = (
    ("scaled old ReplicaSet", "scale_down_old"), ("dated ReplicaSet", "scale_down_old"),
    ("ELBv2: Service", "scale_down_old"), ("scaled ReplicaSet", "scale_replicasets"),
    ("pointed Service", "point_services"), ("patched Ingress", "patch_ingresses"),
    ("ELBv2: canary weight", "verify_weights"), ("status written", "write_status"),
)


def _effect(outcome: str) -> str:
    return next(effect for prefix, effect in PREFIXES if outcome.startswith(prefix))


class Recorder:
    """An after_state_change hook keeping every fired row: trigger, source, dest and its effects' outcomes."""

    def __init__(self) -> None:
        self.fired: list[tuple[str, str, str, list[str]]] = []

    def __call__(self, event: Any) -> None:
        move = event.kwargs["move"]
        self.fired.append((event.event.name, move.source.name, move.target.name,
                           list(event.kwargs["outcomes"])))

    def of(self, trigger: str) -> list[list[str]]:
        return [outcomes for name, _, _, outcomes in self.fired if name == trigger]

    def lines(self, *triggers: str) -> list[str]:
        return [line for trigger in triggers for outcomes in self.of(trigger) for line in outcomes]


def _rows(trigger: str, source: str, dest: str) -> tuple[str, ...]:
    for row in machine.describe():
        if row["trigger"] == trigger and source in row["source"] and row["dest"] in (dest, "="):
            return tuple(row["effects"])
    raise AssertionError(f"no row {trigger} {source} -> {dest}")


async def _record(w: World) -> Recorder:
    recorder = Recorder()
    w.reconciler.machine.after_state_change.append(recorder)
    return recorder


async def test_every_trigger_runs_its_rows_effects_on_the_sandbox(world: Any) -> None:
    w: World = await world(verify=True, retry_interval=2.0)
    registry = CollectorRegistry()
    w.reconciler.metrics = rollout_metrics.RolloutMetrics(registry)
    recorder = await _record(w)
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    stable = w.status()["stableRS"]
    await w.lbc.settled()

    # an update while the ALB does not apply annotations: the weight is written, AWS says no
    await w.update_with_the_alb_behind("app:2")
    await w.settle(lambda: w.status()["canary"]["weights"].get("verified") is False, what="unverified")
    canary = w.status()["currentPodHash"]
    assert w.annotations()[ACTION] == forward(20, 80)
    assert any(o.startswith(f"scaled ReplicaSet demo-{canary} to ") for o in recorder.lines("update"))
    asked = recorder.lines("verify")
    assert any(o == "ELBv2: canary weight 20 not verified" or o.startswith("ELBv2: canary weight 20 not")
               for o in asked)
    assert recorder.of("weights_unverified") and all(o == ["status written"]
                                                    for o in recorder.of("weights_unverified"))
    # the ALB catches up: the step completes and the pause step pauses
    w.lbc.configure({"paused": False})
    async with asyncio.timeout(20):
        await w.lbc.settled()
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused")
    assert any("ELBv2: canary weight 20 verified" in o for o in recorder.lines("verify"))
    assert recorder.of("pause") == [["status written"]]

    # the plugin's promote: resume, the end of the steps (weight 100), promotion, the stable Service moved
    w.storage.merge_patch(ROLLOUTS, NS, "demo", PROMOTE, subresource="status")
    await w.settle(lambda: w.status().get("stableRS") == canary
                   and w.get("services", "stable")["spec"]["selector"].get("rollouts-pod-template-hash")
                   == canary and w.annotations()[ACTION] == forward(0, 100), what="promoted, weight back")
    assert recorder.of("resume") == [["status written"]]
    # more weight for the canary only once its targets serve: set_weight, or targets_ready after a wait
    assert any("patched Ingress app (canary weight 100)" in o
               for o in recorder.lines("set_weight", "targets_ready"))
    assert recorder.of("complete_step")
    assert recorder.of("promote")
    # promoted: the stable Service moves while it carries no weight, and the weight returns once it serves
    assert any(f"pointed Service stable at {canary}" in o for o in recorder.lines("wait_for_targets"))
    assert any("patched Ingress app (canary weight 0)" in o for o in recorder.lines("targets_ready"))
    await w.settle(lambda: "scale-down-deadline" in w.replica_sets()[f"demo-{stable}"]["metadata"].get(
        "annotations", {}), what="old ReplicaSet dated once the stable targets are registered")
    retiring = ("sync", "wait_for_targets", "targets_ready")
    assert any(o.startswith(f"dated ReplicaSet demo-{stable}") for o in recorder.lines(*retiring))
    w.clock.advance(30.0)
    await w.settle(lambda: w.replica_sets()[f"demo-{stable}"]["spec"]["replicas"] == 0, what="scaled down")
    assert any(o == f"scaled old ReplicaSet demo-{stable} to 0" for o in recorder.lines(*retiring))

    # abort mid-canary: traffic back to stable before the canary Service moves
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:3")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused on v3")
    v3 = w.status()["currentPodHash"]
    w.storage.merge_patch(ROLLOUTS, NS, "demo", ABORT, subresource="status")
    await w.settle(lambda: w.status().get("phase") == "Degraded", what="aborted")
    await w.settle(lambda: w.get("services", "canary")["spec"]["selector"].get("rollouts-pod-template-hash")
                   == canary, what="canary Service back on the stable pods")
    abort = recorder.of("abort")[-1]
    assert "patched Ingress app (canary weight 0)" in abort
    # the canary Service leaves its pods only once the status says its target group carries no weight
    assert f"pointed Service canary at {canary}" not in abort
    lines = [line for _, _, _, outcomes in recorder.fired for line in outcomes]
    assert lines.index("patched Ingress app (canary weight 0)", lines.index(abort[0])) < lines.index(
        f"pointed Service canary at {canary}", lines.index(abort[0]))
    assert w.annotations()[ACTION] == forward(0, 100)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", RETRY, subresource="status")
    await w.settle(lambda: w.status().get("phase") == "Paused" and w.status()["currentPodHash"] == v3,
                   what="retried")
    assert recorder.of("retry")

    # an invalid spec touches nothing but the status; its fix resumes
    writes = len(w.writer.writes)
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"strategy": {"canary": {"steps": [
        {"experiment": {}}]}}}})
    with pytest.raises(Exception, match=r"InvalidSpec|experiment"):
        await w.settle(lambda: w.status().get("phase") == "Degraded", what="invalid")
    assert recorder.of("invalidate") == [["status written"]]
    assert {call for call, *_ in w.writer.writes[writes:]} == {"patch_rollout_status"}
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"strategy": {"canary": {"steps": [
        {"setWeight": 20}, {"pause": {}}, {"setWeight": 50}]}}}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="valid again")
    assert recorder.of("revalidate")

    waits = registry.get_sample_value("rollout_traffic_target_wait_seconds_count",
                                      {"namespace": NS, "name": "demo"})
    assert waits is not None and waits >= recorder.lines("targets_ready").count("status written") >= 1

    # every fired row: its outcomes come from its own effects, in the row's order
    fired = {trigger for trigger, *_ in recorder.fired}
    assert {"update", "verify", "weights_unverified", "complete_step", "pause", "resume", "promote", "abort",
            "retry", "invalidate", "revalidate", "sync", "wait_for_targets", "targets_ready"} <= fired
    for trigger, source, dest, outcomes in recorder.fired:
        effects = _rows(trigger, source, dest)
        order = [effects.index(_effect(o)) for o in outcomes]
        assert order == sorted(order), f"{trigger}: {outcomes} not in the order of {effects}"


async def test_an_illegal_trigger_raises_is_counted_and_the_model_is_rebuilt(
        world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    w: World = await world()
    registry = CollectorRegistry()
    w.reconciler.metrics = rollout_metrics.RolloutMetrics(registry)
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    status = w.status()
    monkeypatch.setattr(machine, "choose", lambda move: "retry")  # a planner bug: retry from Promoted
    with pytest.raises(machine.IllegalTransition, match="retry"):
        await w.reconcile()
    sample = registry.get_sample_value("rollout_illegal_transitions_total",
                                       {"trigger": "retry", "source": "Promoted"})
    assert sample == 1.0
    assert w.reconciler.describe(f"{NS}/demo") is None  # forgotten: rebuilt from status next time
    assert w.status() == status  # nothing was written
    monkeypatch.undo()
    await w.settle(lambda: w.reconciler.describe(f"{NS}/demo") is not None, what="rebuilt")
    assert w.reconciler.describe(f"{NS}/demo")["state"] == "Promoted"  # type: ignore[index]


class FailOnce:
    """A writer whose first status patch after `arm()` fails, as if the controller died between effects."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def arm(self) -> None:
        self.armed = True

    async def patch_rollout_status(self, *args: Any, **kwargs: Any) -> Any:
        if self.armed:
            self.armed = False
            raise ConnectionError("killed between patch_ingresses and write_status")
        return await self.inner.patch_rollout_status(*args, **kwargs)


async def test_a_move_cut_between_two_effects_converges_with_no_step_repeated_or_skipped(world: Any) -> None:
    w: World = await world()
    w.seed()
    await w.settle(lambda: w.status().get("phase") == "Healthy", what="healthy")
    failing = FailOnce(w.reconciler.applier.writer)
    w.reconciler.applier.writer = failing
    w.reconciler.applier.ingresses.writer = failing
    failing.arm()
    w.storage.merge_patch(ROLLOUTS, NS, "demo", {"spec": {"template": template("app:2")}})
    await w.settle(lambda: w.status().get("phase") == "Paused", what="paused at step 1")
    assert any(isinstance(error, ConnectionError) for error in w.errors)
    status = w.status()
    assert status["currentStepIndex"] == 1
    assert w.annotations()[ACTION] == forward(20, 80)
    assert len(w.events("RolloutStepCompleted")) == 1  # the step completed once, not twice
    state = w.reconciler.describe(f"{NS}/demo")
    assert state is not None and state["state"] == "Paused"
