"""Transition guards: pure predicates on a `Move`, shared by the planner (to choose a row) and the machine.

Room: plan (pure). The planner describes what one reconcile decided as a `Move` (source and target state plus
the few facts that tell moves apart); a table row applies when every guard it names holds for the move and
the row's destination. The same functions guard the `transitions` machine, so a trigger the planner picked
from the table is legal by construction, and the machine still refuses one that is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from statemachine.states import States

__all__ = ["GUARDS", "Guard", "Move", "holds"]


@dataclass(frozen=True, slots=True)
class Move:
    """What one reconcile decided, as the table's guards read it.

    `target` is the state the planned status derives to; `new_revision` a new pod template was seen;
    `step_advanced` the step index moved on; `weights_changed` new weights are written this cycle;
    `verify_due` the weights in status wait for AWS to confirm them (ask now).
    """

    source: States
    target: States
    new_revision: bool = False
    step_advanced: bool = False
    weights_changed: bool = False
    verify_due: bool = False


Guard = Callable[[Move, States], bool]


def lands_in_dest(move: Move, dest: States) -> bool:
    """The planned status derives to the row's destination (every row is guarded by this)."""
    return move.target is dest


def unchanged(move: Move, dest: States) -> bool:
    """Nothing moves: same state, same step, same template (the world is only converged)."""
    return move.source is move.target and not move.step_advanced and not move.new_revision


def new_revision(move: Move, dest: States) -> bool:
    return move.new_revision


def step_advanced(move: Move, dest: States) -> bool:
    return move.step_advanced


def weights_changed(move: Move, dest: States) -> bool:
    return move.weights_changed


def verify_due(move: Move, dest: States) -> bool:
    return move.verify_due


GUARDS: Mapping[str, Guard] = {
    "lands_in_dest": lands_in_dest,
    "unchanged": unchanged,
    "new_revision": new_revision,
    "step_advanced": step_advanced,
    "weights_changed": weights_changed,
    "verify_due": verify_due,
}


def holds(names: tuple[str, ...], move: Move, dest: States) -> bool:
    """Every named guard holds for `move` landing in `dest`."""
    return all(GUARDS[name](move, dest) for name in names)
