"""Pure rollout logic: from an observed snapshot, decide the next desired world and state. No I/O.

Import the modules (`statemachine.planning`, `statemachine.machine`, …); this package exports nothing itself.
"""

from __future__ import annotations

__all__: list[str] = []
