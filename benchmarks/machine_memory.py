"""Memory of many Rollout models on one shared state machine (the "thousands in a few MB" promise).

Run: `.venv/bin/python benchmarks/machine_memory.py [COUNT]` (default 10,000). Builds one plain Machine from
`statemachine.machine.TRANSITIONS`, adds COUNT slotted models with a state derived as from status, fires one
transition on each so every model carries a transition record, and prints what tracemalloc saw.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from datetime import UTC, datetime

from statemachine import machine, parsing
from statemachine.guards import Move
from statemachine.machine import States, state_from_status

__all__ = ["main", "measure"]


def _quiet(event: object) -> None:
    """An effect that finds the world already as planned (writes nothing, notes nothing)."""


def measure(count: int) -> dict[str, float]:
    """Bytes allocated for `count` models (keys, states and one transition record each) on one machine."""
    # effects bound as service/ binds them, doing nothing here: the record then carries no outcome lines
    shared = machine.build_machine(effects={name: _quiet for name in machine.EFFECTS})
    after = parsing.parse_rollout({
        "metadata": {"name": "r", "namespace": "ns"},
        "spec": {"replicas": 1, "strategy": {"canary": {"steps": [{"setWeight": 10}]}}},
        "status": {"currentPodHash": "h", "stableRS": "s", "currentStepIndex": 0, "canary": {"weights": {
            "canary": {"weight": 10, "podTemplateHash": "h"}, "stable": {"weight": 90}}}},
    })
    move = Move(States.Progressing, state_from_status(after), weights_changed=True)
    reason = "setting canary weight 10 (current-set-weight)"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    started = time.perf_counter()
    models = []
    for i in range(count):
        model = machine.RolloutModel(f"namespace-{i % 100}/rollout-{i}")
        shared.add_model(model, initial=States.Progressing)
        models.append(model)
    added = time.perf_counter() - started
    for model in models:
        machine.fire(shared, model, "set_weight", move, reason=reason, now=now)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert all(model.state is States.WeightSet for model in models)
    used = current - base
    return {"models": count, "bytes": used, "per_model": used / count, "peak": peak - base,
            "add_seconds": added}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    result = measure(count)
    print(f"machine memory: {int(result['models'])} models on one Machine: "
          f"{result['bytes'] / 1e6:.2f} MB ({result['per_model']:.0f} B per model, "
          f"peak {result['peak'] / 1e6:.2f} MB); add_model total {result['add_seconds']:.2f} s")


if __name__ == "__main__":
    main()
