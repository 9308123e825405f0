"""The chaos suite's full form, `make chaos` (CHAOS=full; skipped otherwise): every combination of
targetRegistrationSeconds 0, 2, 5 and targetInitialSeconds 0, 3, each with its own seed drawn from the base
seed (CHAOS_SEED), two controller replicas with leader election and every fault kind of `injecting.FULL`:
kill -9 of the leader twice (failover), API 500s, 429s with Retry-After, dropped watches, 410 compaction,
latency, 30% and 100% ELBv2 throttling windows, LBC lag, an LBC pause, slow target registration and another
writer on the shared Ingress (409s), while two canaries share the Ingress next to an invalid Rollout.

Covers: both canaries end Healthy on the new image, the invalid Rollout Degraded with InvalidSpec and
untouched, every invariant held (invariants.py) and not one failed probe request, for each combination.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import pytest

from tests.chaos import injecting
from tests.chaos.scenario import Outcome, Scenario

pytestmark = pytest.mark.skipif(os.environ.get("CHAOS", "").lower() != "full",
                                reason="the full chaos matrix runs with CHAOS=full (make chaos)")

COMBINATIONS = [(registration, initial) for registration in (0, 2, 5) for initial in (0, 3)]


@pytest.mark.timeout(420)
@pytest.mark.parametrize(("registration", "initial"), COMBINATIONS,
                         ids=[f"R{r}-I{i}" for r, i in COMBINATIONS])
async def test_full_chaos(run_chaos: Callable[[Scenario], Awaitable[Outcome]], chaos_seed: int,
                          registration: int, initial: int) -> None:
    seed = chaos_seed * 10 + COMBINATIONS.index((registration, initial))
    scenario = Scenario(f"full-R{registration}-I{initial}", seed=seed, registration_seconds=registration,
                        initial_seconds=initial, replicas=2, kinds=injecting.FULL, chaos_window=25.0,
                        baseline_within=60.0, converge_within=180.0)
    outcome = await run_chaos(scenario)
    assert outcome.ok, outcome.report()
    assert {fault["kind"] for fault in outcome.faults} == set(injecting.FULL), outcome.report()
