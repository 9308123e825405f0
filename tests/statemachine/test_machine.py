"""The state machine: its table, every transition, guards, records, rebuild from status, and sharing.

Aspects: the constructor options (no auto transitions, events as EventData, model override without warnings),
each row of TRANSITIONS fired from each of its sources, guard refusal and illegal triggers, transition records
(from, to, trigger, reason, time from `now`) and their bound, rebuilding a model from status alone, one
machine shared by many slotted models, the AsyncMachine built from the same table, and the property that every
plan's trigger is legal from its source and lands on its target.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transitions.extensions.asyncio import AsyncMachine

from statemachine import machine, planning
from statemachine.guards import Move
from statemachine.machine import States
from tests.statemachine.conftest import NOW, applied, parse, progressing_status, rollout_dict, rs, snapshot

INVALID = {"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec", "message": "bad",
           "lastUpdateTime": "2026-11-26T11:00:00Z", "lastTransitionTime": "2026-11-26T11:00:00Z"}
PAUSE = [{"reason": "CanaryPauseStep", "startTime": "2026-11-26T11:00:00Z"}]
STATUS_FOR = {
    States.Progressing: progressing_status(0, canary_weight=0),
    States.WeightSet: progressing_status(0, canary_weight=10),
    States.Verifying: progressing_status(0, canary_weight=10, verified=False),
    States.Paused: progressing_status(1, canary_weight=10, pauseConditions=PAUSE, controllerPause=True),
    States.Promoted: {**progressing_status(4), "stableRS": "new"},
    States.Aborted: progressing_status(0, abort=True),
    States.Degraded: progressing_status(0, conditions=[INVALID]),
}


def _after(state: States) -> Any:
    return parse(rollout_dict(status=STATUS_FOR[state]))


@pytest.mark.parametrize("state", [s for s in States if s is not States.WaitingForTargets])
def test_state_from_status(state: States) -> None:
    assert machine.state_from_status(_after(state)) is state


def test_spec_paused_is_paused() -> None:
    rollout = parse(rollout_dict(status=progressing_status(0), paused=True))
    assert machine.state_from_status(rollout) is States.Paused


def test_machine_options() -> None:
    m = machine.build_machine()
    assert (m.auto_transitions, m.send_event, m.model_override, m.models) == (False, True, True, [])
    assert set(m.states) == {s.name for s in States}
    assert "to_Progressing" not in m.events


def _move(row: dict[str, Any], source: States, **facts: bool) -> Move:
    """A move that satisfies `row` from `source`: its destination, and the facts its guards need."""
    dest = source if row["dest"] == machine.STAYS else row["dest"]
    needed = {name: True for name in row["conditions"] if name not in ("unchanged",)}
    return Move(source=source, target=dest, **{**needed, **facts})  # type: ignore[arg-type]


ROWS = [(i, source) for i, row in enumerate(machine.TRANSITIONS) for source in row["source"]]


@pytest.mark.parametrize(("index", "source"), ROWS, ids=[
    f"{machine.TRANSITIONS[i]['trigger']}:{s.name}->{machine.describe()[i]['dest']}" for i, s in ROWS])
def test_each_row_moves_and_runs_its_effects_in_order(index: int, source: States) -> None:
    row = machine.TRANSITIONS[index]
    m = machine.build_machine()
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=source)
    move = _move(row, source)
    when = NOW + timedelta(seconds=5)
    outcomes = machine.fire(m, model, row["trigger"], move, reason="why", now=when)
    assert model.state is move.target
    assert outcomes == list(row["effects"])
    assert model.history[-1] == machine.TransitionRecord(source.name, move.target.name, row["trigger"], "why",
                                                         when, tuple(row["effects"]))


def test_effects_run_in_each_rows_order_and_every_effect_is_used() -> None:
    used = {name for row in machine.TRANSITIONS for name in row["effects"]}
    assert used == set(machine.EFFECTS)
    abort = next(row for row in machine.TRANSITIONS if row["trigger"] == "abort")
    effects = list(abort["effects"])
    assert effects.index("patch_ingresses") < effects.index("point_services") < effects.index(
        "scale_replicasets"), "an abort takes traffic off the canary before its Service and pods change"
    for row in machine.TRANSITIONS:
        if row["effects"]:
            assert row["effects"][-1] == "write_status", "status is the last effect: the durable truth"
        if row["dest"] is States.Degraded or (row["trigger"] == "sync" and States.Degraded in row["source"]):
            assert row["effects"] == ("write_status",), "an invalid spec touches nothing but its status"


def test_guard_refuses_a_move_that_lands_elsewhere() -> None:
    m = machine.build_machine()
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=States.Progressing)
    move = Move(States.Progressing, States.Verifying, weights_changed=True)
    with pytest.raises(machine.IllegalTransition, match="set_weight refused"):
        machine.fire(m, model, "set_weight", move, now=NOW)
    assert (model.state, model.history) == (States.Progressing, ())
    assert not m.events["set_weight"].trigger(model, now=NOW)  # no move at all: refused too


def test_a_move_from_another_state_than_the_models_is_refused() -> None:
    m = machine.build_machine()
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=States.WeightSet)
    with pytest.raises(machine.IllegalTransition):
        machine.fire(m, model, "set_weight", Move(States.Progressing, States.WeightSet), now=NOW)


def test_illegal_trigger_raises() -> None:
    m = machine.build_machine()
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=States.Promoted)
    with pytest.raises(machine.IllegalTransition, match="Can't trigger event set_weight"):
        machine.fire(m, model, "set_weight", Move(States.Promoted, States.WeightSet), now=NOW)
    with pytest.raises(machine.IllegalTransition, match="no row"):
        machine.fire(m, model, None, Move(States.Promoted, States.WeightSet), now=NOW)


def test_history_is_bounded_and_quiet_syncs_are_not_recorded() -> None:
    m = machine.build_machine(effects={name: (lambda event: None) for name in machine.EFFECTS})
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=States.Progressing)
    for i in range(machine.HISTORY_LENGTH + 3):
        machine.fire(m, model, "set_weight", Move(States.Progressing, States.WeightSet, weights_changed=True),
                     reason=f"set {i}", now=NOW)
        machine.fire(m, model, "reset_weight", Move(States.WeightSet, States.Progressing),
                     reason=f"reset {i}", now=NOW)
    assert len(model.history) == machine.HISTORY_LENGTH
    assert model.history[-1].reason == f"reset {machine.HISTORY_LENGTH + 2}"
    machine.fire(m, model, "sync", Move(States.Progressing, States.Progressing), reason="quiet", now=NOW)
    assert model.history[-1].reason != "quiet"


def test_choose_reads_the_table() -> None:
    p, ws, v = States.Progressing, States.WeightSet, States.Verifying
    assert machine.choose(Move(p, p)) == "sync"
    assert machine.choose(Move(v, v, verify_due=True)) == "verify"
    assert machine.choose(Move(p, ws, weights_changed=True)) == "set_weight"
    assert machine.choose(Move(v, ws)) == "weights_verified"
    assert machine.choose(Move(v, ws, weights_changed=True)) == "set_weight"
    assert machine.choose(Move(ws, v)) == "weights_unverified"
    assert machine.choose(Move(ws, ws, step_advanced=True)) == "complete_step"
    assert machine.choose(Move(States.Paused, States.Aborted)) == "abort"
    assert machine.choose(Move(States.Aborted, States.Aborted, step_advanced=True)) is None


@pytest.mark.parametrize("source", list(States))
@pytest.mark.parametrize("target", list(States))
def test_every_plain_move_has_a_row(source: States, target: States) -> None:
    movers = (States.Progressing, States.WeightSet, States.Verifying, States.Promoted)
    if target is States.WaitingForTargets and source not in (*movers, target):
        pytest.skip("a paused, aborted or invalid Rollout holds traffic without a state of its own")
    move = Move(source, target)
    trigger = machine.choose(move)
    assert trigger is not None
    m = machine.build_machine()
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=source)
    machine.fire(m, model, trigger, move, now=NOW)
    assert model.state is target


def test_fire_a_plan_and_rebuild_from_status() -> None:
    m = machine.build_machine()
    raw = rollout_dict(status=progressing_status(0, canary_weight=0))
    model = machine.add_rollout(m, parse(raw))
    assert machine.state_from_status(parse(raw)) is States.Progressing
    plan = planning.plan(snapshot(raw, new=rs("new", 1), stable=rs("old", 10), verify_weights=True), now=NOW)
    assert plan.trigger == "set_weight"
    machine.fire(m, model, plan.trigger, plan.move, reason=plan.reason, now=NOW)
    assert model.state is plan.target is States.WeightSet
    assert model.history[0].reason == "waiting for AWS to confirm canary weight 10"
    rebuilt = machine.add_rollout(machine.build_machine(), parse(applied(raw, plan.status_patch)))
    assert rebuilt.state is model.state
    quiet = planning.plan(snapshot(applied(raw, plan.status_patch), new=rs("new", 1), stable=rs("old", 10),
                                   verify_weights=True), now=NOW, source=model.state)
    assert (quiet.trigger, quiet.move.verify_due) == ("verify", True)
    assert machine.fire(m, model, quiet.trigger, quiet.move, now=NOW) == list(
        next(r for r in machine.TRANSITIONS if r["trigger"] == "verify")["effects"])
    assert model.state is States.WeightSet


def test_one_machine_many_small_models(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="transitions")
    m = machine.build_machine()
    models = [machine.RolloutModel(f"ns/r{i}") for i in range(50)]
    for model in models:
        m.add_model(model, initial=States.Paused)
    assert not hasattr(models[0], "__dict__")
    assert [a for a in dir(models[0]) if not a.startswith("_")] == ["history", "key", "state"]
    assert not [r for r in caplog.records if "Skip binding" in r.getMessage()]
    m.remove_model(models[0])
    assert len(m.models) == 49


async def test_async_machine_runs_bound_effects_and_a_failure_leaves_the_state() -> None:
    seen: list[str] = []

    def effect(name: str, fail: bool = False) -> Any:
        async def run(event: Any) -> None:
            seen.append(name)
            if fail:
                raise RuntimeError(f"{name} failed")
            event.kwargs["outcomes"].append(f"{name}: done")
        return run

    effects = {name: effect(name) for name in machine.EFFECTS}
    m = machine.build_machine(AsyncMachine, effects=effects, queued="model",
                              after_state_change=lambda event: seen.append("hook"))
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=States.Progressing)
    move = Move(States.Progressing, States.WeightSet, weights_changed=True)
    kwargs = machine.trigger_kwargs(move, "why", NOW)
    assert await m.events["set_weight"].trigger(model, **kwargs)
    assert model.state is States.WeightSet
    assert seen == [*machine.CONVERGE, "hook"]
    assert model.history[0].effects == tuple(f"{name}: done" for name in machine.CONVERGE)

    failing = machine.build_machine(AsyncMachine, effects={**effects, "patch_ingresses": effect("x", True)},
                                    queued="model")
    other = machine.RolloutModel("default/other")
    failing.add_model(other, initial=States.Progressing)
    with pytest.raises(RuntimeError, match="x failed"):
        await failing.events["set_weight"].trigger(other, **machine.trigger_kwargs(move, "", NOW))
    assert (other.state, other.history) == (States.Progressing, ())


def test_describe_names_every_row() -> None:
    rows = machine.describe()
    assert rows[0] == {"trigger": "verify", "source": ["WeightSet", "Verifying"], "dest": "=",
                       "conditions": ["lands_in_dest", "unchanged", "verify_due"],
                       "effects": list(machine.ASK_AWS)}
    assert len(rows) == len(machine.TRANSITIONS)


step_strategy = st.one_of(
    st.builds(lambda w: {"setWeight": w}, st.integers(0, 100)),
    st.just({"pause": {}}),
    st.builds(lambda d: {"pause": {"duration": d}}, st.integers(0, 7200)),
    st.builds(lambda r: {"setCanaryScale": {"replicas": r}}, st.integers(0, 5)),
)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(step_strategy, max_size=5), data=st.data(), abort=st.booleans(), paused=st.booleans(),
       promote_full=st.booleans(), verified=st.one_of(st.none(), st.booleans()),
       new_available=st.integers(0, 5), pause=st.booleans(), promoted=st.booleans(),
       template=st.sampled_from(["new", "ccc", "old"]), invalid=st.booleans())
def test_every_plan_is_a_legal_transition(steps: list[dict[str, Any]], data: st.DataObject, abort: bool,
                                          paused: bool, promote_full: bool, verified: bool | None,
                                          new_available: int, pause: bool, promoted: bool, template: str,
                                          invalid: bool) -> None:
    index = data.draw(st.integers(0, len(steps)))
    status = progressing_status(index, canary_weight=10, abort=abort, promoteFull=promote_full,
                                verified=verified, controllerPause=pause)
    if pause:
        status["pauseConditions"] = PAUSE
    if promoted:
        status["stableRS"] = "new"
    raw = rollout_dict(steps, status, replicas=5, paused=paused)
    snap = snapshot(raw, new=rs(template, 5, new_available), stable=rs("old", 5), template_hash=template,
                    verify_weights=True, verified=verified, invalid_spec="bad" if invalid else None)
    m = machine.build_machine()
    model = machine.add_rollout(m, snap.rollout)
    plan = planning.plan(snap, now=NOW, source=model.state)
    assert plan.trigger is not None, f"no row for {plan.move}"
    machine.fire(m, model, plan.trigger, plan.move, now=NOW)
    assert model.state is plan.target
