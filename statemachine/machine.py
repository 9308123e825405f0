"""The rollout state machine as data: the states, one transition table naming each move's effects, a builder.

Room: plan (pure). Each row says which trigger moves a Rollout from which states to which one, under which
guards, and which effects run on that move, in order. `statemachine/` only names the effects; `service/`
binds each name to an async writer or verifier (`build_machine(AsyncMachine, effects=...)`), and tests bind
recorders. The planner picks its trigger from these rows (`choose`), never from a second copy of the rules.
One machine serves thousands of small slotted `RolloutModel`s, each added with the state its status derives
to. Nothing here reads a clock: a transition's time is the `now` keyword its trigger was fired with.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, overload

from transitions import Machine, MachineError

from statemachine import models
from statemachine.guards import Move, holds
from statemachine.states import States, state_from_status

__all__ = [
    "EFFECTS",
    "HISTORY_LENGTH",
    "MACHINE_OPTIONS",
    "STAYS",
    "TRANSITIONS",
    "IllegalTransition",
    "QuietBinding",
    "RolloutModel",
    "States",
    "TransitionRecord",
    "add_rollout",
    "build_machine",
    "choose",
    "describe",
    "fire",
    "record_transition",
    "state_from_status",
]

HISTORY_LENGTH = 10

P, WS, V = States.Progressing, States.WeightSet, States.Verifying
PA, PR, AB, DG = States.Paused, States.Promoted, States.Aborted, States.Degraded
WT = States.WaitingForTargets
SERVED = [P, WS, V, PA, PR, AB, WT]
STAYS = "="
"""A row whose destination is its source: nothing moves, the effects converge the world (an internal
transition in `transitions` terms)."""

# Effects, as `service/` binds them. Each is idempotent and sends nothing when the world already matches, so
# a kill -9 between two effects is finished by the next reconcile, with no step repeated or skipped.
SCALE = "scale_replicasets"    # new and stable ReplicaSets to the plan's replica counts
POINT = "point_services"       # Service selectors to the plan's pod-template hashes
ROUTE = "patch_ingresses"      # the weighted-forward / header-route annotations
VERIFY = "verify_weights"      # ask ELBv2 whether the ALBs carry the weights in status (answer kept)
TARGETS = "check_targets"      # ask ELBv2 whether the awaited target groups serve their pods (answer kept)
RETIRE = "scale_down_old"      # old ReplicaSets after scaleDownDelaySeconds (promoted: after target IPs)
STATUS = "write_status"        # one merge patch to /status, then the plan's events
EFFECTS = (SCALE, POINT, ROUTE, VERIFY, TARGETS, RETIRE, STATUS)

# TARGETS acts only while the plan holds traffic for a target group (any state may hold it, e.g. an abort
# whose stable Service must serve first), so no wait can go unasked.
CONVERGE = (SCALE, POINT, TARGETS, ROUTE, RETIRE, STATUS)
ASK_AWS = (SCALE, POINT, TARGETS, ROUTE, VERIFY, RETIRE, STATUS)
UNROUTE = (ROUTE, POINT, SCALE, TARGETS, RETIRE, STATUS)   # traffic leaves the canary before its pods do
RECORD = (STATUS,)
HOLD = (SCALE, POINT, TARGETS, RETIRE, STATUS)    # no Ingress write: traffic waits for targets

# First matching row wins: the planner scans this table in order; `lands_in_dest` guards every row.
_Row = tuple[str, list[States], list[States] | str, tuple[str, ...], tuple[str, ...]]
_ROWS: tuple[_Row, ...] = (
    # trigger             source              dest                    guards                       effects
    ("verify",             [WS, V],            STAYS,                  ("unchanged", "verify_due"), ASK_AWS),
    ("wait_for_targets",   [WT],               STAYS,                  ("unchanged",),              HOLD),
    ("sync",               [DG],               STAYS,                  ("unchanged",),              RECORD),
    ("sync",               SERVED,             STAYS,                  ("unchanged",),              CONVERGE),
    ("invalidate",         SERVED,             [DG],                   (),                          RECORD),
    ("revalidate",         [DG],               SERVED,                 (),                          CONVERGE),
    ("update",             SERVED,             [P, WS, V, PA, PR],     ("new_revision",),           CONVERGE),
    ("update",             [PR],               [P, WS, V, PA, PR],     (),                          CONVERGE),
    ("wait_for_targets",   [P, WS, V, PR],     [WT],                   (),                          HOLD),
    ("targets_ready",      [WT],               [P, WS, V, PA, PR, AB], (),                          CONVERGE),
    ("abort",              [P, WS, V, PA, PR], [AB],                   (),                          UNROUTE),
    ("promote",            [P, WS, V, PA, AB], [PR],                   (),                          CONVERGE),
    ("retry",              [AB],               [P, WS, V, PA],         (),                          CONVERGE),
    ("retry",              [AB],               [WT],                   (),                          HOLD),
    ("pause",              [P, WS, V, PA],     [PA],                   (),                          RECORD),
    ("resume",             [PA],               [P, WS, V],             (),                          RECORD),
    ("resume",             [PA],               [WT],                   (),                          HOLD),
    ("complete_step",      [P, WS, V],         [P, WS, V],             ("step_advanced",),          CONVERGE),
    ("set_weight",         [P, WS, V],         [WS],                   ("weights_changed",),        CONVERGE),
    ("weights_verified",   [V],                [WS],                   (),                          RECORD),
    ("set_weight",         [P],                [WS],                   (),                          CONVERGE),
    ("weights_unverified", [P, WS],            [V],                    (),                          RECORD),
    ("reset_weight",       [WS, V],            [P],                    (),                          CONVERGE),
)


def _expand() -> Iterator[dict[str, Any]]:
    for trigger, source, dests, guards, effects in _ROWS:
        for dest in ([STAYS] if dests == STAYS else dests):
            yield {"trigger": trigger, "source": list(source), "dest": dest, "conditions": guards,
                   "effects": effects}


TRANSITIONS: list[dict[str, Any]] = list(_expand())
"""One row per (trigger, dest): source states, guards (beyond `lands_in_dest`) and effects in order."""


class IllegalTransition(Exception):
    """A trigger the machine refuses from the model's state: a planner bug, counted and never papered over."""


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One move of one Rollout: from, to, trigger, reason, the `now` it was fired with, and what its effects
    did (which Ingresses were patched, what AWS answered)."""

    source: str
    dest: str
    trigger: str
    reason: str
    at: datetime | None
    effects: tuple[str, ...] = ()


class RolloutModel:
    """The per-Rollout model: its key, its state and its last transitions (nothing else, to stay small)."""

    __slots__ = ("history", "key", "state")

    def __init__(self, key: str, state: States = States.Progressing) -> None:
        self.key = key
        self.state = state
        self.history: tuple[TransitionRecord, ...] = ()


def choose(move: Move) -> str | None:
    """The trigger of the first row that applies to `move` (None: no row does, a planner bug)."""
    for row in TRANSITIONS:
        dest = move.source if row["dest"] == STAYS else row["dest"]
        if move.source in row["source"] and move.target is dest and holds(row["conditions"], move, dest):
            return str(row["trigger"])
    return None


def record_transition(event: Any) -> None:
    """after_state_change hook: append a `TransitionRecord` to the model's bounded history.

    A row that stays (sync, verify) is recorded only when one of its effects did something.
    """
    outcomes = tuple(event.kwargs.get("outcomes") or ())
    transition = event.transition
    stays = transition is None or transition.dest is None
    if stays and not outcomes:
        return
    model = event.model
    state = model.state.name if isinstance(model.state, States) else str(model.state)
    now = event.kwargs.get("now")
    record = TransitionRecord(
        source=str(transition.source) if transition else state, dest=state,
        trigger=event.event.name if event.event else "", reason=str(event.kwargs.get("reason") or ""),
        at=now if isinstance(now, datetime) else None, effects=outcomes,
    )
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

Effect = Callable[[Any], Any]
M = TypeVar("M", bound=Machine)


def _guard(names: tuple[str, ...]) -> Callable[[Any], bool]:
    def check(event: Any) -> bool:
        move = event.kwargs.get("move")
        if not isinstance(move, Move):
            return False
        dest = event.transition.dest if event.transition is not None else None
        landing = States[dest] if dest else event.model.state
        return move.source is event.model.state and holds(("lands_in_dest", *names), move, landing)
    check.__name__ = "guard_" + "_".join(names or ("lands_in_dest",))
    return check


def _named(name: str) -> Effect:
    def effect(event: Any) -> None:
        outcomes = event.kwargs.get("outcomes")
        if isinstance(outcomes, list):
            outcomes.append(name)
    effect.__name__ = name
    return effect


def _in_order(names: tuple[str, ...], effects: Mapping[str, Effect]) -> Effect:
    """One callback running the row's effects one after the other (AsyncMachine would gather a list of
    callbacks concurrently); async as soon as one effect is."""
    chain = [effects[name] for name in names]
    if not any(inspect.iscoroutinefunction(effect) for effect in chain):
        def run(event: Any) -> None:
            for effect in chain:
                effect(event)
    else:
        async def run(event: Any) -> None:  # type: ignore[misc]
            for effect in chain:
                result = effect(event)
                if inspect.isawaitable(result):
                    await result
    run.__name__ = "effects_" + "_".join(names)
    return run


def _transitions(effects: Mapping[str, Effect]) -> list[dict[str, Any]]:
    return [{"trigger": row["trigger"], "source": row["source"],
             "dest": None if row["dest"] == STAYS else row["dest"],
             "conditions": [_guard(row["conditions"])],
             "before": [_in_order(row["effects"], effects)]} for row in TRANSITIONS]


@overload
def build_machine(*, effects: Mapping[str, Effect] | None = None, **options: Any) -> Machine: ...


@overload
def build_machine(machine_cls: type[M], *, effects: Mapping[str, Effect] | None = None,
                  **options: Any) -> M: ...


def build_machine(machine_cls: type[Machine] = Machine, *, effects: Mapping[str, Effect] | None = None,
                  **options: Any) -> Machine:
    """One machine from `TRANSITIONS`, each row's effects bound by name from `effects` (missing: a recorder).

    `service/` builds `build_machine(AsyncMachine, effects=..., queued="model")`; effects run as the row's
    `before` callbacks, in order, so a failing effect leaves the model where it was.
    """
    bound = {name: _named(name) for name in EFFECTS}
    bound.update(effects or {})
    extra = options.pop("after_state_change", None) or []
    hooks = [record_transition, *(extra if isinstance(extra, list) else [extra])]
    quiet = type(f"Quiet{machine_cls.__name__}", (QuietBinding, machine_cls), {})
    built: Machine = quiet(states=States, transitions=_transitions(bound), initial=States.Progressing,
                           after_state_change=hooks, **{**MACHINE_OPTIONS, **options})
    return built


def add_rollout(machine: Machine, rollout: models.Rollout) -> RolloutModel:
    """A model for `rollout`, registered with its state derived from the status alone."""
    model = RolloutModel(rollout.key)
    machine.add_model(model, initial=state_from_status(rollout))
    return model


def trigger_kwargs(move: Move, reason: str, now: datetime, **extra: Any) -> dict[str, Any]:
    """The keywords of a trigger: guards read `move`; the record `reason`, `now` and `outcomes`."""
    return {"move": move, "reason": reason, "now": now, "outcomes": [], **extra}


def fire(machine: Machine, model: RolloutModel, trigger: str | None, move: Move, *, reason: str = "",
         now: datetime, **extra: Any) -> list[str]:
    """Fire `trigger` on a plain Machine; the effects' outcomes. Raises IllegalTransition when refused."""
    if trigger is None:
        raise IllegalTransition(f"no row of the table moves {move.source.name} to {move.target.name}")
    kwargs = trigger_kwargs(move, reason, now, **extra)
    try:
        moved = machine.events[trigger].trigger(model, **kwargs)
    except MachineError as error:
        raise IllegalTransition(str(error.value)) from error
    if not moved:
        raise IllegalTransition(f"{trigger} refused from {move.source.name} to {move.target.name}")
    outcomes: list[str] = kwargs["outcomes"]
    return outcomes


def describe() -> list[dict[str, Any]]:
    """The table with state names, for the debug API, `alb-rollouts machine` and the docs."""
    return [
        {"trigger": row["trigger"], "source": [s.name for s in row["source"]],
         "dest": row["dest"] if row["dest"] == STAYS else row["dest"].name,
         "conditions": ["lands_in_dest", *row["conditions"]], "effects": list(row["effects"])}
        for row in TRANSITIONS
    ]
