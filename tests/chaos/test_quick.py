"""The chaos suite's quick form, part of `make test`: one seed, targetRegistrationSeconds 2 and
targetInitialSeconds 1, one controller replica killed with -9 and restarted, a burst of API 500s and 30% ELBv2
throttling while two canaries share one Ingress next to an invalid Rollout.

Covers: both canaries end Healthy on the new image, the invalid Rollout Degraded with InvalidSpec and
untouched, every invariant held (invariants.py) and not one failed probe request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tests.chaos import injecting
from tests.chaos.scenario import Outcome, Scenario


async def test_quick_chaos(run_chaos: Callable[[Scenario], Awaitable[Outcome]], chaos_seed: int) -> None:
    # Short bursts (a new leader's LIST failing 4 times backs off ~8 s) and a long throttling window (the
    # controller asks ELBv2 about once a second while it waits on targets) keep it quick and still biting.
    scenario = Scenario("quick", seed=chaos_seed, registration_seconds=2, initial_seconds=1, replicas=1,
                        kinds=injecting.QUICK, chaos_window=10.0, burst=(2, 4), throttle_seconds=(6.0, 10.0),
                        baseline_within=30.0, converge_within=75.0)
    outcome = await run_chaos(scenario)
    assert outcome.ok, outcome.report()
    kinds = {fault["kind"] for fault in outcome.faults}
    assert kinds == set(injecting.QUICK), outcome.report()
    assert outcome.probes > 0 and outcome.requests > 0
