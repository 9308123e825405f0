"""Transition guards: each transition fires only if the planned status really puts the Rollout in its `dest`.

Room: plan (pure). Guards receive transitions' `EventData` (send_event=True) carrying the `plan` keyword; they
evaluate `states.state_from_status`, which is built from the planning predicates (is_invalid, is_aborted,
is_promoted, is_paused, is_unverified, is_weight_set). They never read a clock and never change anything.
"""

from __future__ import annotations

from typing import Any

from statemachine import states

__all__ = ["LANDS_IN_DEST", "lands_in_dest"]

# transitions resolves this dotted path itself, so the table stays plain data (and exportable)
LANDS_IN_DEST = "statemachine.guards.lands_in_dest"


def lands_in_dest(event: Any) -> bool:
    """True when the Rollout, with the planned status applied, derives to the transition's destination."""
    plan = event.kwargs.get("plan")
    if plan is None or event.transition is None:
        return False
    return bool(states.state_from_status(plan.after).name == event.transition.dest)
