"""service.backoff: the one exponential backoff with jitter (work queue, reflectors, AWS retries).

Aspects: the ceiling grows by `factor` and stops at `cap`, also for huge exponents; jitter 0 is exact, 0.5
keeps the first half fixed, 1 spans [0, ceiling]; nonsense parameters are refused.
"""

from __future__ import annotations

import random

import pytest

from service import backoff


@pytest.mark.parametrize(("exponent", "ceiling"), [
    pytest.param(0, 0.5, id="base"),
    pytest.param(1, 1.5, id="factor"),
    pytest.param(2, 4.0, id="capped"),
    pytest.param(10**6, 4.0, id="huge-exponent-stays-finite"),
    pytest.param(-1, 0.5, id="negative-is-base"),
])
def test_ceiling_grows_then_caps(exponent: int, ceiling: float) -> None:
    policy = backoff.Backoff(0.5, 4.0, jitter=0.0, factor=3.0)
    assert policy.ceiling(exponent) == pytest.approx(ceiling)
    assert policy.delay(exponent, random.Random(1)) == pytest.approx(ceiling)


@pytest.mark.parametrize("jitter", [0.1, 0.5, 1.0])
def test_jitter_is_the_random_fraction_of_the_ceiling(jitter: float) -> None:
    policy = backoff.Backoff(1.0, 100.0, jitter=jitter)
    rng = random.Random(5)
    for exponent in range(8):
        ceiling = policy.ceiling(exponent)
        samples = [policy.delay(exponent, rng) for _ in range(100)]
        assert all(ceiling * (1 - jitter) <= value <= ceiling for value in samples)
        assert max(samples) - min(samples) > ceiling * jitter * 0.5  # the spread is used


@pytest.mark.parametrize("kwargs", [
    pytest.param({"base": -1.0, "cap": 1.0, "jitter": 0.1}, id="negative-base"),
    pytest.param({"base": 1.0, "cap": float("inf"), "jitter": 0.1}, id="infinite-cap"),
    pytest.param({"base": 1.0, "cap": 1.0, "jitter": 1.5}, id="jitter-above-1"),
    pytest.param({"base": 1.0, "cap": 1.0, "jitter": 0.1, "factor": 0.5}, id="shrinking"),
])
def test_nonsense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        backoff.Backoff(**kwargs)
