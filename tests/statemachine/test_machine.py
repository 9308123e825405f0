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
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transitions import MachineError
from transitions.extensions.asyncio import AsyncMachine

from statemachine import machine, planning
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


@pytest.mark.parametrize("state", list(States))
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


ROWS = [(row["trigger"], source, row["dest"]) for row in machine.TRANSITIONS for source in row["source"]]


@pytest.mark.parametrize(("trigger", "source", "dest"), ROWS,
                         ids=[f"{t}:{s.name}->{d.name}" for t, s, d in ROWS])
def test_each_transition(trigger: str, source: States, dest: States) -> None:
    m = machine.build_machine()
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=source)
    when = NOW + timedelta(seconds=5)
    assert m.events[trigger].trigger(model, plan=SimpleNamespace(after=_after(dest), reason="why"), now=when)
    assert model.state is dest
    assert model.history == (machine.TransitionRecord(source.name, dest.name, trigger, "why", when),)


def test_guard_refuses_a_plan_that_lands_elsewhere() -> None:
    m = machine.build_machine()
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=States.Progressing)
    plan = SimpleNamespace(after=_after(States.Verifying), reason="why")
    assert not m.events["set_weight"].trigger(model, plan=plan, now=NOW)
    assert (model.state, model.history) == (States.Progressing, ())
    assert not m.events["set_weight"].trigger(model, now=NOW)


def test_illegal_trigger_raises() -> None:
    m = machine.build_machine()
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=States.Promoted)
    with pytest.raises(MachineError):
        m.events["set_weight"].trigger(model, plan=SimpleNamespace(after=_after(States.WeightSet)), now=NOW)


def test_history_is_bounded() -> None:
    m = machine.build_machine()
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=States.Progressing)
    for i in range(machine.HISTORY_LENGTH + 3):
        forward = SimpleNamespace(after=_after(States.WeightSet), reason=f"set {i}")
        back = SimpleNamespace(after=_after(States.Progressing), reason=f"reset {i}")
        m.events["set_weight"].trigger(model, plan=forward, now=NOW)
        m.events["reset_weight"].trigger(model, plan=back, now=NOW)
    assert len(model.history) == machine.HISTORY_LENGTH
    assert model.history[-1].reason == f"reset {machine.HISTORY_LENGTH + 2}"


def test_fire_a_plan_and_rebuild_from_status() -> None:
    m = machine.build_machine()
    raw = rollout_dict(status=progressing_status(0, canary_weight=0))
    model = machine.add_rollout(m, parse(raw))
    assert machine.state_from_status(parse(raw)) is States.Progressing
    plan = planning.plan(snapshot(raw, new=rs("new", 1), stable=rs("old", 10), verify_weights=True), now=NOW)
    assert (plan.trigger, machine.fire(m, model, plan, now=NOW)) == ("set_weight", True)
    assert model.state is plan.target is States.WeightSet
    assert model.history[0].reason == "waiting for AWS to confirm canary weight 10"
    rebuilt = machine.add_rollout(machine.build_machine(), parse(applied(raw, plan.status_patch)))
    assert rebuilt.state is model.state
    quiet = planning.plan(snapshot(applied(raw, plan.status_patch), new=rs("new", 1), stable=rs("old", 10),
                                   verify_weights=True), now=NOW, source=model.state)
    assert (quiet.trigger, machine.fire(m, model, quiet, now=NOW)) == (None, False)


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


async def test_async_machine_from_the_same_table() -> None:
    seen: list[str] = []
    m = machine.build_machine(AsyncMachine, queued="model",
                              after_state_change=lambda event: seen.append("hook"))
    model = machine.RolloutModel("default/demo")
    m.add_model(model, initial=States.Progressing)
    plan = SimpleNamespace(after=_after(States.WeightSet), reason="why")
    assert await m.events["set_weight"].trigger(model, plan=plan, now=NOW)
    assert model.state is States.WeightSet and seen == ["hook"]
    assert model.history[0].trigger == "set_weight"


def test_describe_names_every_row() -> None:
    rows = machine.describe()
    assert rows[0] == {"trigger": "set_weight", "source": ["Progressing"], "dest": "WeightSet"}
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
    if plan.trigger is None:
        assert plan.source is plan.target
    else:
        assert machine.fire(m, model, plan, now=NOW)
        assert model.state is plan.target
