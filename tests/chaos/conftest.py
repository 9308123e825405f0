"""Fixtures of the chaos suite (tests/chaos/): seeded scenarios of the controller as real processes on the
sandbox, with faults injected while two canaries run (see scenario.py for a run, invariants.py for what is
checked, injecting.py for the faults).

    chaos_seed      the base seed: $CHAOS_SEED, else 1 (`make chaos CHAOS_SEED=7`)
    run_chaos       runs one `Scenario` in a fresh sandbox on the session's moto server; returns its Outcome
    (autouse)       no asyncio task may outlive its test; the sandbox's LBC retry warnings are kept quiet

`make test` runs the quick form (test_quick.py); the full matrix (test_full.py) runs only with CHAOS=full
(`make chaos`). $CHAOS_REPORT names a file each run appends its JSON summary to (one line per run);
$CHAOS_WORKDIR keeps each run's controller logs, timeline and failure stories (default: pytest's tmp_path);
$CHAOS_CONTROLLER_PYTHONPATH runs the controller from another checkout (controllers.py).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from sandbox import aws
from tests.chaos.scenario import Outcome, Scenario, run_scenario

__all__: list[str] = []

FULL = os.environ.get("CHAOS", "").lower() == "full"


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


@pytest.fixture(autouse=True)
def _quiet_sandbox() -> Iterator[None]:
    # The LBC simulator warns on each retry; under chaos that is noise (the timeline tells what matters).
    logger = logging.getLogger("sandbox.lbc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture
def chaos_seed() -> int:
    return int(os.environ.get("CHAOS_SEED") or 1)


@pytest.fixture
def run_chaos(moto_server: aws.MotoServer, aws_endpoint: str,
              tmp_path: Path) -> Callable[[Scenario], Awaitable[Outcome]]:
    async def run(scenario: Scenario) -> Outcome:
        kept = os.environ.get("CHAOS_WORKDIR")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        workdir = (Path(kept) / f"{scenario.name}-seed{scenario.seed}-{stamp}" if kept
                   else tmp_path / scenario.name)
        workdir.mkdir(parents=True, exist_ok=True)
        outcome = await run_scenario(scenario, moto_server, workdir)
        print(outcome.report())
        return outcome

    return run
