"""The rollout state machine as data: the states, one transition table, and a builder shared by every Rollout.

Room: plan (pure). One `Machine` (or, in `service/`, one `AsyncMachine`) is built from `TRANSITIONS` per
process and serves thousands of small slotted `RolloutModel`s. A model's state is always derived from its
Rollout's status (`state_from_status`); the machine only checks that a planned move is legal and records it.
Nothing here reads a clock: a transition's time is the `now` keyword its trigger was fired with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, overload

from transitions import Machine

from statemachine import models
from statemachine.guards import LANDS_IN_DEST as G
from statemachine.states import States, state_from_status

if TYPE_CHECKING:
    from statemachine.planning import Plan

__all__ = [
    "HISTORY_LENGTH",
    "MACHINE_OPTIONS",
    "TRANSITIONS",
    "QuietBinding",
    "RolloutModel",
    "States",
    "TransitionRecord",
    "add_rollout",
    "build_machine",
    "describe",
    "fire",
    "record_transition",
    "state_from_status",
]

HISTORY_LENGTH = 10

P, WS, V = States.Progressing, States.WeightSet, States.Verifying
PA, PR, AB, DG = States.Paused, States.Promoted, States.Aborted, States.Degraded

# Every row is guarded by G: the planned status must derive to `dest` (see statemachine.guards).
TRANSITIONS: list[dict[str, Any]] = [
    # trigger                       source                            dest
    {"trigger": "set_weight",       "source": [P],                    "dest": WS, "conditions": G},
    {"trigger": "verify",           "source": [P, WS],                "dest": V,  "conditions": G},
    {"trigger": "weights_verified", "source": [V],                    "dest": WS, "conditions": G},
    {"trigger": "reset_weight",     "source": [WS, V],                "dest": P,  "conditions": G},
    {"trigger": "complete_step",    "source": [P, WS, V],             "dest": P,  "conditions": G},
    {"trigger": "complete_step",    "source": [P, WS, V],             "dest": WS, "conditions": G},
    {"trigger": "complete_step",    "source": [P, WS, V],             "dest": V,  "conditions": G},
    {"trigger": "pause",            "source": [P, WS, V, PA],         "dest": PA, "conditions": G},
    {"trigger": "resume",           "source": [PA],                   "dest": P,  "conditions": G},
    {"trigger": "resume",           "source": [PA],                   "dest": WS, "conditions": G},
    {"trigger": "resume",           "source": [PA],                   "dest": V,  "conditions": G},
    {"trigger": "promote",          "source": [P, WS, V, PA, AB],     "dest": PR, "conditions": G},
    {"trigger": "abort",            "source": [P, WS, V, PA, PR],     "dest": AB, "conditions": G},
    {"trigger": "retry",            "source": [AB],                   "dest": P,  "conditions": G},
    {"trigger": "retry",            "source": [AB],                   "dest": WS, "conditions": G},
    {"trigger": "retry",            "source": [AB],                   "dest": V,  "conditions": G},
    {"trigger": "retry",            "source": [AB],                   "dest": PA, "conditions": G},
    {"trigger": "update",           "source": [P, WS, V, PA, PR, AB], "dest": P,  "conditions": G},
    {"trigger": "update",           "source": [P, WS, V, PA, PR, AB], "dest": WS, "conditions": G},
    {"trigger": "update",           "source": [P, WS, V, PA, PR, AB], "dest": V,  "conditions": G},
    {"trigger": "update",           "source": [P, WS, V, PA, PR, AB], "dest": PA, "conditions": G},
    {"trigger": "update",           "source": [P, WS, V, PA, PR, AB], "dest": PR, "conditions": G},
    {"trigger": "invalidate",       "source": [P, WS, V, PA, PR, AB], "dest": DG, "conditions": G},
    {"trigger": "revalidate",       "source": [DG],                   "dest": P,  "conditions": G},
    {"trigger": "revalidate",       "source": [DG],                   "dest": WS, "conditions": G},
    {"trigger": "revalidate",       "source": [DG],                   "dest": V,  "conditions": G},
    {"trigger": "revalidate",       "source": [DG],                   "dest": PA, "conditions": G},
    {"trigger": "revalidate",       "source": [DG],                   "dest": PR, "conditions": G},
    {"trigger": "revalidate",       "source": [DG],                   "dest": AB, "conditions": G},
]


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One move of one Rollout: from, to, trigger, reason and the `now` it was fired with."""

    source: str
    dest: str
    trigger: str
    reason: str
    at: datetime | None


class RolloutModel:
    """The per-Rollout model: its key, its state and its last transitions (nothing else, to stay small)."""

    __slots__ = ("history", "key", "state")

    def __init__(self, key: str, state: States = States.Progressing) -> None:
        self.key = key
        self.state = state
        self.history: tuple[TransitionRecord, ...] = ()


def record_transition(event: Any) -> None:
    """after_state_change hook: append a `TransitionRecord` to the model's bounded history."""
    plan = event.kwargs.get("plan")
    reason = event.kwargs.get("reason") or (plan.reason if plan is not None else "")
    now = event.kwargs.get("now")
    transition = event.transition
    record = TransitionRecord(
        source=str(transition.source) if transition else "", dest=str(transition.dest) if transition else "",
        trigger=event.event.name if event.event else "", reason=str(reason),
        at=now if isinstance(now, datetime) else None,
    )
    model = event.model
    model.history = (*model.history, record)[-HISTORY_LENGTH:]


class QuietBinding:
    """Machine mix-in for thousands of models.

    With model_override=True transitions binds only methods a model declares and logs a warning for every
    other one, for every model; ours declare none, so they are skipped silently. transitions also scans its
    model list on every `add_model` (quadratic in the number of Rollouts); each model here is a new object
    (see `add_rollout`), so that scan is skipped. Don't use `dispatch`: models carry no bound triggers.
    """

    model_override: bool
    models: list[Any]

    def _checked_assignment(self, model: object, name: str, func: Any) -> None:
        if self.model_override and getattr(model, name, None) is None:
            return
        super()._checked_assignment(model, name, func)  # type: ignore[misc]

    def add_model(self, model: Any, initial: Any = None) -> None:
        registered, self.models = self.models, []
        try:
            super().add_model(model, initial)  # type: ignore[misc]
        finally:
            registered.extend(self.models)
            self.models = registered


MACHINE_OPTIONS: dict[str, Any] = {
    "model": None,
    "auto_transitions": False,
    "send_event": True,
    "model_override": True,
}

M = TypeVar("M", bound=Machine)


@overload
def build_machine(**options: Any) -> Machine: ...


@overload
def build_machine(machine_cls: type[M], **options: Any) -> M: ...


def build_machine(machine_cls: type[Machine] = Machine, **options: Any) -> Machine:
    """One machine from `TRANSITIONS`: `build_machine()` here, `build_machine(AsyncMachine, queued="model")`
    in `service/`. Extra `after_state_change` callbacks run after the transition record is written; attach
    actions with `machine.on_enter_WeightSet(callback)` (callbacks get EventData with `plan` and `now`)."""
    extra = options.pop("after_state_change", None) or []
    hooks = [record_transition, *(extra if isinstance(extra, list) else [extra])]
    quiet = type(f"Quiet{machine_cls.__name__}", (QuietBinding, machine_cls), {})
    built: Machine = quiet(states=States, transitions=TRANSITIONS, initial=States.Progressing,
                           after_state_change=hooks, **{**MACHINE_OPTIONS, **options})
    return built


def add_rollout(machine: Machine, rollout: models.Rollout) -> RolloutModel:
    """A model for `rollout`, registered with its state derived from the status alone."""
    model = RolloutModel(rollout.key)
    machine.add_model(model, initial=state_from_status(rollout))
    return model


def fire(machine: Machine, model: RolloutModel, plan: Plan, *, now: datetime) -> bool:
    """Fire the plan's trigger on a plain Machine; False when there is nothing to do or the guard refused.

    Raises transitions.MachineError when the trigger is not allowed from the model's state.
    """
    if plan.trigger is None:
        return False
    return bool(machine.events[plan.trigger].trigger(model, plan=plan, now=now, reason=plan.reason))


def describe() -> list[dict[str, Any]]:
    """The table with state names, for the debug API and docs."""
    return [
        {"trigger": row["trigger"], "source": [s.name for s in row["source"]], "dest": row["dest"].name}
        for row in TRANSITIONS
    ]
