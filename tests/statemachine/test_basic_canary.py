"""ReplicaSet sizes of a basic canary (no trafficRouting), transcribed from the reference's own tests.

Aspects: `CalculateReplicaCountsForBasicCanary` (every basic case of TestCalculateReplicaCountsForCanary and
the edge cases), `approximateWeightedCanaryStableReplicaCounts` (its whole table), the maxSurge/maxUnavailable
fenceposts (25% defaults, rounding, both zero, clamping, the legacy parser, invalid values), the validation
message, `GetReplicasForScaleDown`, `ReplicaProgressThresholdMet`, `AtDesiredReplicaCountsForCanary`, the
scale-down of older ReplicaSets, one reconcile's scaling order, and a simulated cluster: total pods never
exceed replicas + maxSurge, availability never drops below replicas - maxUnavailable, and a step settles.
Each transcribed case's id names its Go test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statemachine import basic_canary as bc
from statemachine.snapshot import ReplicaSetView


def rs(name: str, spec: int, available: int = 0, *, replicas: int | None = None,
       revision: int = 0) -> ReplicaSetView:
    return ReplicaSetView(name=name, hash=name, spec_replicas=spec, available_replicas=available,
                          ready_replicas=available, replicas=replicas, revision=revision)


def counts(replicas: int, weight: int, surge: Any, unavailable: Any, stable: tuple[int, int] | None,
           canary: tuple[int, int] | None, older: tuple[ReplicaSetView, ...] = ()) -> tuple[int, int]:
    """(canary, stable) as the Go tests call it: ReplicaSets named "canary", "stable", "older"."""
    return bc.basic_counts(replicas=replicas, weight=weight, max_surge=surge, max_unavailable=unavailable,
                           new_rs=rs("canary", *canary) if canary else None,
                           stable_rs=rs("stable", *stable) if stable else None, others=older)


_GO = "TestCalculateReplicaCountsForCanary/"


def _case(name: str, replicas: int, weight: int, surge: Any, unavailable: Any, stable: tuple[int, int],
          canary: tuple[int, int], expected_stable: int, expected_canary: int,
          older: tuple[ReplicaSetView, ...] = ()) -> Any:
    return pytest.param(replicas, weight, surge, unavailable, stable, canary, older,
                        (expected_canary, expected_stable), id=_GO + name)


# (name, replicas, setWeight, maxSurge, maxUnavailable, stable (spec, available), canary (spec, available),
#  expected stable, expected canary[, older]). promoteFull cases pass weight 100 (GetCanaryReplicasOrWeight).
REFERENCE_CASES = [
    _case("Do not add extra RSs in scaleDownCount when .Spec.Replica < AvailableReplicas",
          10, 100, 3, 0, (7, 8), (6, 3), 7, 6),
    _case("Use max surge int to scale up canary", 10, 20, 2, 0, (10, 10), (0, 0), 10, 2),
    _case("Use max surge percentage to scale up canary", 10, 20, "20%", 0, (10, 10), (0, 0), 10, 2),
    _case("Scale down extra stable replicas", 10, 20, "20%", 0, (10, 10), (2, 2), 8, 2),
    _case("Do not go past max surge", 10, 30, 2, 0, (10, 10), (0, 0), 10, 2),
    _case("Use max unavailable int to scale down stableRS", 10, 20, 0, 2, (10, 10), (0, 0), 8, 0),
    _case("Use max surge percentage to scale down stableRS", 10, 20, 0, "20%", (10, 10), (0, 0), 8, 0),
    _case("Do not go past max unavailable", 10, 30, 0, 2, (10, 10), (0, 0), 8, 0),
    _case("Use Max Surge and Max Unavailable", 10, 50, 2, 1, (10, 10), (0, 0), 9, 2),
    _case("Scale canaryRS to zero on setWeight of 0%", 10, 0, 1, 1, (10, 10), (1, 1), 10, 0),
    _case("Scale stable to zero on setWeight of 100%", 10, 100, 1, 1, (1, 1), (10, 10), 0, 10),
    _case("Do not scale canaryRS down to zero on non-zero weight", 1, 20, 1, 0, (1, 1), (0, 0), 1, 1),
    _case("Do not scale canaryRS down to zero on non-100 weight", 1, 90, 1, 0, (1, 1), (0, 0), 1, 1),
    _case("Scale canaryRS to zero on <50 weight without surge", 1, 49, 0, 1, (1, 1), (0, 0), 1, 0),
    _case("Scale stableRS down to zero on >=50 weight without surge", 1, 51, 0, 1, (1, 1), (0, 0), 0, 0),
    _case("Scale canaryRS to one on >=50 weight without surge and stable replicas",
          1, 51, 0, 1, (0, 0), (0, 0), 0, 1),
    _case("Scale up Stable before canaryRS", 10, 30, 1, 0, (1, 1), (0, 0), 7, 1, (rs("older", 3, 3),)),
    _case("Scale down canaryRS and stable", 10, 30, 0, 3, (8, 5), (4, 4), 7, 3),
    _case("Scale down stable and canary available", 10, 100, 1, 0, (10, 2), (10, 8), 2, 9),
    _case("Do not scale down canaryRS or stable when older RS count >= scaleDownCount",
          10, 30, 0, 1, (8, 6), (4, 2), 8, 4, (rs("older", 3, 3),)),
    _case("Do not round past maxSurge with uneven setWeight divisor", 10, 5, 0, 1, (10, 10), (0, 0), 9, 0),
    _case("Do not round past maxSurge with uneven setWeight divisor (part 2)",
          10, 5, 0, 1, (9, 9), (0, 0), 9, 1),
    _case("Use maxUnavailable of 1 when percentage of maxUnavailable and maxSurge result in 0 replicas",
          10, 10, "0%", "0%", (10, 10), (0, 0), 9, 0),
    _case("Ignore setCanaryScale when trafficRouting is missing and use setWeight for replicas",
          10, 20, "20%", 0, (10, 10), (0, 0), 10, 2),
    _case("honor maxSurge during scale up when stableRS unavailable", 4, 100, 1, 0, (4, 1), (0, 0), 4, 1),
    _case("scale down to maxunavailable without exceeding maxSurge", 3, 99, 0, 2, (3, 3), (0, 0), 1, 0),
    _case("scale down to maxunavailable without exceeding maxSurge (part 2)",
          3, 99, 0, 2, (1, 1), (0, 0), 1, 2),
    _case("honor maxUnavailable during scale down stableRS unavailable", 4, 100, 1, 0, (4, 1), (1, 1), 3, 1),
    _case("honor maxUnavailable when aborting or reducing weight part 1", 4, 0, 1, 0, (0, 0), (4, 4), 1, 4),
    _case("honor maxUnavailable when aborting or reducing weight part 2", 4, 0, 1, 0, (1, 0), (4, 4), 1, 4),
    _case("honor maxUnavailable when aborting or reducing weight part 3", 4, 0, 1, 0, (1, 1), (4, 4), 1, 3),
    _case("promote full does not consider weight", 4, 100, 4, 4, (4, 4), (0, 0), 0, 4),
    _case("promote full still honors maxSurge/maxUnavailable", 4, 100, 3, 0, (4, 4), (0, 0), 4, 3),
]


@pytest.mark.parametrize(
    ("replicas", "weight", "surge", "unavailable", "stable", "canary", "older", "expected"), REFERENCE_CASES)
def test_reference_basic_counts(replicas: int, weight: int, surge: Any, unavailable: Any,
                                stable: tuple[int, int], canary: tuple[int, int],
                                older: tuple[ReplicaSetView, ...], expected: tuple[int, int]) -> None:
    assert counts(replicas, weight, surge, unavailable, stable, canary, older) == expected


def test_new_deployment_where_stable_is_the_new_replicaset() -> None:
    """TestCalculateReplicaCountsForNewDeployment: the same ReplicaSet as new and stable takes everything."""
    same = rs("stable", 10, 0)
    assert bc.basic_counts(replicas=10, weight=10, max_surge=0, max_unavailable=1, new_rs=same,
                           stable_rs=same, others=()) == (10, 0)


@pytest.mark.parametrize("stable", [None, "same"], ids=[
    "TestCalculateReplicaCountsForCanaryStableRSdEdgeCases/nil",
    "TestCalculateReplicaCountsForCanaryStableRSdEdgeCases/same"])
def test_without_distinct_stable_the_new_replicaset_takes_everything(stable: str | None) -> None:
    new = rs("stable", 9, 9)
    stable_rs = new if stable else None
    # status.stableRS is "" in the Go test, so GetCanaryReplicasOrWeight gives 100.
    assert bc.basic_counts(replicas=10, weight=100, max_surge=0, max_unavailable=1, new_rs=new,
                           stable_rs=stable_rs, others=()) == (10, 0)


def test_missing_new_replicaset_still_sizes_the_stable() -> None:
    assert bc.basic_counts(replicas=10, weight=20, max_surge=0, max_unavailable=2, new_rs=None,
                           stable_rs=rs("stable", 10, 10), others=()) == (0, 8)


def test_others_listing_new_or_stable_are_not_counted_twice() -> None:
    new, stable = rs("canary", 0, 0), rs("stable", 10, 10)
    plain = bc.basic_counts(replicas=10, weight=20, max_surge=2, max_unavailable=0, new_rs=new,
                            stable_rs=stable, others=())
    assert bc.basic_counts(replicas=10, weight=20, max_surge=2, max_unavailable=0, new_rs=new,
                           stable_rs=stable, others=(new, stable)) == plain == (2, 10)


@pytest.mark.parametrize(("weight", "replicas"), [(-5, 10), (150, 10), (50, -3)], ids=["weight-below-0",
                                                                                        "weight-above-100",
                                                                                        "negative-replicas"])
def test_out_of_range_inputs_are_clamped(weight: int, replicas: int) -> None:
    clamped = bc.basic_counts(replicas=max(replicas, 0), weight=max(0, min(100, weight)), max_surge=1,
                              max_unavailable=1, new_rs=rs("canary", 0), stable_rs=rs("stable", 10, 10),
                              others=())
    assert bc.basic_counts(replicas=replicas, weight=weight, max_surge=1, max_unavailable=1,
                           new_rs=rs("canary", 0), stable_rs=rs("stable", 10, 10), others=()) == clamped


# --- approximateWeightedCanaryStableReplicaCounts ---------------------------------------------------------

APPROXIMATE = [  # replicas, weight, maxSurge, expected canary, expected stable (maxWeight is always 100)
    (0, 0, 0, 0, 0), (0, 50, 0, 0, 0), (0, 100, 0, 0, 0),
    (0, 0, 1, 0, 0), (0, 50, 1, 0, 0), (0, 100, 1, 0, 0),
    (1, 0, 0, 0, 1), (1, 1, 0, 0, 1), (1, 49, 0, 0, 1), (1, 50, 0, 1, 0), (1, 99, 0, 1, 0), (1, 100, 0, 1, 0),
    (1, 0, 1, 0, 1), (1, 1, 1, 1, 1), (1, 49, 1, 1, 1), (1, 50, 1, 1, 1), (1, 99, 1, 1, 1), (1, 100, 1, 1, 0),
    (2, 0, 0, 0, 2), (2, 1, 0, 1, 1), (2, 50, 0, 1, 1), (2, 99, 0, 1, 1), (2, 100, 0, 2, 0),
    (2, 0, 1, 0, 2), (2, 1, 1, 1, 2), (2, 50, 1, 1, 1), (2, 99, 1, 2, 1), (2, 100, 1, 2, 0),
    (3, 10, 0, 1, 2), (3, 25, 0, 1, 2), (3, 33, 0, 1, 2), (3, 34, 0, 1, 2), (3, 49, 0, 1, 2),
    (3, 50, 0, 2, 1),
    (3, 10, 1, 1, 3), (3, 25, 1, 1, 3), (3, 33, 1, 1, 2), (3, 34, 1, 1, 2), (3, 49, 1, 2, 2),
    (3, 50, 1, 2, 2),
    (10, 0, 1, 0, 10), (10, 1, 0, 1, 9), (10, 14, 0, 1, 9), (10, 15, 0, 2, 8), (10, 16, 0, 2, 8),
    (10, 99, 0, 9, 1), (10, 100, 1, 10, 0),
    (10, 0, 1, 0, 10), (10, 1, 1, 1, 10), (10, 18, 1, 2, 9), (10, 19, 1, 2, 9), (10, 20, 1, 2, 8),
    (10, 23, 1, 2, 8), (10, 24, 1, 3, 8), (10, 25, 1, 3, 8), (10, 99, 1, 10, 1), (10, 100, 1, 10, 0),
]


@pytest.mark.parametrize(("replicas", "weight", "surge", "canary", "stable"), [
    pytest.param(*row, id=f"TestApproximateWeightedNewStableReplicaCounts/replicas:{row[0]}_weight:{row[1]}"
                          f"_surge:{row[2]}-{index}")
    for index, row in enumerate(APPROXIMATE)
])
def test_reference_approximate_counts(replicas: int, weight: int, surge: int, canary: int,
                                      stable: int) -> None:
    assert bc.approximate_counts(replicas, weight, surge) == (canary, stable)


# --- fenceposts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("surge", "unavailable", "replicas", "expected"), [
    pytest.param(None, None, 10, (3, 2), id="defaults-25%-surge-rounds-up-unavailable-down"),
    pytest.param(None, None, 4, (1, 1), id="defaults-exact"),
    pytest.param(None, None, 1, (1, 0), id="defaults-one-replica"),
    pytest.param(None, None, 0, (0, 0), id="no-replicas-no-unavailable"),
    pytest.param("20%", "20%", 7, (2, 1), id="percent-rounding"),
    pytest.param("0%", "0%", 10, (0, 1), id="both-zero-percent-gives-unavailable-1"),
    pytest.param(0, 0, 10, (0, 1), id="both-zero-int-gives-unavailable-1"),
    pytest.param("1%", "1%", 10, (1, 0), id="only-unavailable-rounds-to-0"),
    pytest.param(3, 5, 2, (3, 2), id="ints-ignore-replicas-unavailable-clamped"),
    pytest.param("200%", "200%", 4, (8, 4), id="surge-not-clamped-unavailable-clamped"),
    pytest.param("25", "25", 10, (3, 2), id="legacy-string-without-percent-is-a-percentage"),
    pytest.param("2%5%", "+10%", 10, (3, 1), id="legacy-every-percent-sign-dropped-sign-allowed"),
    pytest.param("39%", "39%", 10, (4, 3), id="TestResolveFenceposts/1"),
    pytest.param("0%", "0%", 0, (0, 0), id="TestResolveFenceposts/0-then-MaxUnavailable-of-0-replicas"),
    pytest.param(5, 1, 10, (5, 1), id="TestMaxSurge/maxSurge with int"),
    pytest.param("50%", 1, 10, (5, 1), id="TestMaxSurge/maxSurge with percents"),
    pytest.param(1, 5, 10, (1, 5), id="TestMaxUnavailable/maxUnavailable less than replicas"),
    pytest.param(1, 10, 10, (1, 10), id="TestMaxUnavailable/maxUnavailable equal replicas"),
    pytest.param(1, 10, 5, (1, 5), id="TestMaxUnavailable/maxUnavailable greater than replicas"),
    pytest.param(1, 10, 0, (1, 0), id="TestMaxUnavailable/maxUnavailable with replicas is 0"),
    pytest.param(1, "50%", 10, (1, 5),
                 id="TestMaxUnavailable/maxUnavailable less than replicas with percents"),
    pytest.param(1, "100%", 10, (1, 10),
                 id="TestMaxUnavailable/maxUnavailable equal replicas with percents"),
    pytest.param(1, "100%", 5, (1, 5),
                 id="TestMaxUnavailable/maxUnavailable greater than replicas with percents"),
])
def test_resolve_surge_unavailable(surge: Any, unavailable: Any, replicas: int,
                                   expected: tuple[int, int]) -> None:
    assert bc.resolve_surge_unavailable(surge, unavailable, replicas) == expected


@pytest.mark.parametrize(("surge", "unavailable", "expected"), [
    pytest.param("oops", "39%", (3, 3), id="TestResolveFenceposts/2-unreadable-surge"),
    pytest.param("55%", "urg", (6, 2), id="TestResolveFenceposts/3-unreadable-unavailable"),
    pytest.param("abc%", None, (3, 2), id="unreadable-percent"),
    pytest.param(-1, -5, (3, 2), id="negative-ints"),
    pytest.param("-10%", "-0%", (3, 0), id="negative-percent-and-minus-zero"),
    pytest.param(" 5%", "1_0%", (3, 2), id="spaces-and-underscores-are-not-go-atoi"),
    pytest.param(True, 1.5, (3, 2), id="wrong-types"),
    pytest.param("9" * 30 + "%", None, (3, 2), id="beyond-int64"),
])
def test_invalid_values_fall_back_to_the_defaults(surge: Any, unavailable: Any,
                                                  expected: tuple[int, int]) -> None:
    """The reference resolves an unreadable value to (0, 0) (validation lets it through, the update stalls)
    and uses a negative one as is; we use the field's default (25% of 10: surge 3, unavailable 2)."""
    assert bc.resolve_surge_unavailable(surge, unavailable, 10) == expected
    views: dict[str, Any] = {"new_rs": rs("canary", 0), "stable_rs": rs("stable", 10, 10), "others": ()}
    assert bc.basic_counts(replicas=10, weight=30, max_surge=surge, max_unavailable=unavailable, **views) == \
        bc.basic_counts(replicas=10, weight=30, max_surge=expected[0], max_unavailable=expected[1], **views)


def test_minus_zero_percent_is_zero() -> None:
    assert bc.parse_int_or_percent("-0%") == (0, True)
    assert bc.resolve_surge_unavailable("-0%", "-0%", 10) == (0, 1)


# --- validation ---------------------------------------------------------------------------------------------

BOTH_ZERO = "MaxSurge and MaxUnavailable both can not be zero"


@pytest.mark.parametrize(("surge", "unavailable", "value"), [
    pytest.param(0, 0, "0", id="TestInvalidMaxSurgeMaxUnavailable/int-int"),
    pytest.param("0", 0, '"0"', id="TestInvalidMaxSurgeMaxUnavailable/string-int"),
    pytest.param("0%", 0, '"0%"', id="TestInvalidMaxSurgeMaxUnavailable/percent-int"),
    pytest.param(0, "0", "0", id="TestInvalidMaxSurgeMaxUnavailable/int-string"),
    pytest.param(0, "0%", "0", id="TestInvalidMaxSurgeMaxUnavailable/int-percent"),
    pytest.param("0", "0", '"0"', id="TestInvalidMaxSurgeMaxUnavailable/string-string"),
    pytest.param("0%", "0%", '"0%"', id="TestInvalidMaxSurgeMaxUnavailable/percent-percent"),
    pytest.param("abc%", 0, '"abc%"', id="unreadable-reads-as-zero"),
    pytest.param("<a&b>", "00%", '"\\u003ca\\u0026b\\u003e"', id="value-rendered-as-json"),
    pytest.param("-5%", "-0", '"-5%"', id="a-negative-percent-is-no-percent-and-reads-as-zero"),
])
def test_both_zero_message(surge: Any, unavailable: Any, value: str) -> None:
    assert bc.surge_unavailable_errors(surge, unavailable) == [
        f"spec.strategy.maxSurge: Invalid value: {value}: {BOTH_ZERO}"]


@pytest.mark.parametrize(("surge", "unavailable"), [
    (None, None), (None, 0), (0, None), (1, 0), (0, "1%"), ("1", 0), (-1, 0), ("7", "x"),
])
def test_no_message_unless_both_zero(surge: Any, unavailable: Any) -> None:
    assert bc.surge_unavailable_errors(surge, unavailable) == []


def test_strict_names_values_the_reference_would_silently_misread() -> None:
    detail = 'must be a non-negative integer or percentage such as "25%"'
    assert bc.surge_unavailable_errors("abc%", -2, strict=True) == [
        f'spec.strategy.canary.maxSurge: Invalid value: "abc%": {detail}',
        f"spec.strategy.canary.maxUnavailable: Invalid value: -2: {detail}",
    ]
    assert bc.surge_unavailable_errors("25%", None, strict=True) == []
    assert bc.surge_unavailable_errors(1.5, 0, strict=True) == [  # type: ignore[arg-type]
        f"spec.strategy.canary.maxSurge: Invalid value: 1.5: {detail}"]


# --- GetReplicasForScaleDown, ReplicaProgressThresholdMet --------------------------------------------------


@pytest.mark.parametrize(("view", "ignore", "expected"), [
    pytest.param(None, False, 0, id="TestGetReplicasForScaleDown/test rs is nil"),
    pytest.param(rs("a", 3, 5), False, 3,
                 id="TestGetReplicasForScaleDown/test expected replicas is less than actual replicas"),
    pytest.param(rs("a", 3, 2), True, 3, id="TestGetReplicasForScaleDown/test ignore availability"),
    pytest.param(rs("a", 3, 2), False, 2, id="TestGetReplicasForScaleDown/test not ignore availability"),
])
def test_reference_replicas_for_scale_down(view: ReplicaSetView | None, ignore: bool, expected: int) -> None:
    assert bc._for_scale_down(view, ignore) == expected


_PCT, _PODS = bc.PROGRESS_PERCENT, bc.PROGRESS_PODS
_T = "TestAllReplicaProgressThresholdMet/"


@pytest.mark.parametrize(("threshold", "view", "desired", "expected"), [
    pytest.param(bc.ProgressThreshold(_PCT, 90), rs("a", 0, 9), 10, True,
                 id=_T + "test using percentage that 90% availability of pods passes"),
    pytest.param(bc.ProgressThreshold(_PODS, 9), rs("a", 0, 9), 10, True,
                 id=_T + "test using pod values that 90% availability of pods correctly passes"),
    pytest.param(bc.ProgressThreshold(_PCT, 90), rs("a", 0, 8), 10, False,
                 id=_T + "test using percentage that under 90% availability of pods correctly fails"),
    pytest.param(bc.ProgressThreshold(_PODS, 8), rs("a", 0, 7), 10, False,
                 id=_T + "test using pod values that under 8 pods correctly fails"),
    pytest.param(bc.ProgressThreshold(_PODS, -100), rs("a", 10, 10), 10, True,
                 id=_T + "test that when threshold is under 0, it defaults to 100% of pods being available"),
    pytest.param(None, rs("a", 5, 10), 10, False,
                 id=_T + "test that when threshold is nil, it defaults to 100% of pods being available"),
    pytest.param(bc.ProgressThreshold(_PODS, 5), None, 10, False,
                 id=_T + "test that when the replicaset is nil, it always returns false"),
    pytest.param(bc.ProgressThreshold(_PCT, 100), rs("a", 0, 100), 10, True,
                 id=_T + "test that percentages well above the required threshold correctly pass"),
    pytest.param(bc.ProgressThreshold(_PCT, 90), rs("a", 0, 0), 0, True,
                 id=_T + "test that when desired is 0, threshold is always met (percentage type only)"),
    pytest.param(bc.ProgressThreshold(_PCT, 34), rs("a", 0, 1), 3, False, id="percent-just-below"),
    pytest.param(bc.ProgressThreshold(_PCT, 50), rs("a", 0, 1), 2, True, id="percent-exactly-met"),
])
def test_reference_progress_threshold(threshold: bc.ProgressThreshold | None, view: ReplicaSetView | None,
                                      desired: int, expected: bool) -> None:
    assert bc.progress_threshold_met(threshold, view, desired) is expected


# --- AtDesiredReplicaCountsForCanary ------------------------------------------------------------------------

_A = "TestAtDesiredReplicaCountsForCanary/"


@pytest.mark.parametrize(("weight", "new", "stable", "expected"), [
    pytest.param(50, rs("newRS", 2, 2, replicas=2), rs("stableRS", 2, 2, replicas=2), True,
                 id=_A + "we are at desired replica counts and availability"),
    pytest.param(50, rs("newRS", 2, 1, replicas=2), rs("stableRS", 2, 2, replicas=2), False,
                 id=_A + "new replicaset is not at desired counts or availability"),
    pytest.param(75, rs("newRS", 3, 3, replicas=3), rs("stableRS", 2, 2, replicas=2), False,
                 id=_A + "stable replicaset is not at desired counts or availability"),
    pytest.param(75, rs("newRS", 3, 3, replicas=1), rs("stableRS", 1, 0, replicas=1), True,
                 id=_A + "stable replicaset is not at desired availability but is at correct count"),
    pytest.param(50, rs("newRS", 2, 2, replicas=2), rs("stableRS", 2, 2, replicas=3), False,
                 id=_A + "test that when status field lags behind spec.replicas we fail"),
])
def test_reference_at_desired_counts(weight: int, new: ReplicaSetView, stable: ReplicaSetView,
                                     expected: bool) -> None:
    assert bc.at_desired_counts(replicas=4, weight=weight, max_surge=1, max_unavailable=1, new_rs=new,
                                stable_rs=stable, others=()) is expected


def test_at_desired_counts_needs_older_pods_gone_and_a_stable() -> None:
    kwargs: dict[str, Any] = {"replicas": 4, "weight": 50, "max_surge": 1, "max_unavailable": 1,
                              "new_rs": rs("new", 2, 2), "stable_rs": rs("stable", 2, 2)}
    assert bc.at_desired_counts(**kwargs, others=(rs("older", 0, 0),))
    assert not bc.at_desired_counts(**kwargs, others=(rs("older", 0, 1),))
    assert not bc.at_desired_counts(**{**kwargs, "stable_rs": None}, others=())


def test_at_desired_counts_honours_the_progress_threshold() -> None:
    kwargs: dict[str, Any] = {"replicas": 10, "weight": 50, "max_surge": 0, "max_unavailable": 1,
                              "new_rs": rs("new", 5, 4), "stable_rs": rs("stable", 5, 5), "others": ()}
    assert not bc.at_desired_counts(**kwargs)
    assert bc.at_desired_counts(**kwargs, progress_threshold=bc.ProgressThreshold(_PCT, 80))
    assert not bc.at_desired_counts(**kwargs, progress_threshold=bc.ProgressThreshold(_PODS, 5))


# --- older ReplicaSets and one reconcile --------------------------------------------------------------------


def scale_down(replicas: int, surge: Any, unavailable: Any, new: ReplicaSetView | None,
               stable: ReplicaSetView | None, *others: ReplicaSetView) -> dict[str, int]:
    return bc.others_scale_down(replicas=replicas, max_surge=surge, max_unavailable=unavailable, new_rs=new,
                                stable_rs=stable, others=others)


def test_reference_scale_down_old_rs() -> None:
    """TestCanaryRolloutScaleDownOldRs: 11 available, 10 must stay, so the intermediate V2 loses its pod."""
    assert scale_down(10, 1, 0, rs("rs3", 1, 1, revision=3), rs("rs1", 9, 9, revision=1),
                      rs("rs2", 1, 1, revision=2)) == {"rs2": 0}


def test_reference_scale_down_old_rs_dont_scale_down_too_much() -> None:
    """TestCanaryRolloutScaleDownOldRsDontScaleDownTooMuch: 10 available, 4 must stay, so 6 may go.

    The Go test's oldest ReplicaSet has no revision annotation, which its sort happens to put first (so there
    rs1 -> 0 and rs2 -> 4); with real revisions the newest goes first, and the same 6 pods go."""
    same = rs("rs3", 5, 0, revision=3)
    assert scale_down(4, 1, 0, same, same, rs("rs1", 5, 5, revision=1), rs("rs2", 5, 5, revision=2)) == {
        "rs2": 0, "rs1": 4}


def test_scale_down_cleans_up_unavailable_pods_first() -> None:
    # Unavailable pods cost nothing: they go even when no available pod may.
    assert scale_down(10, 0, 1, rs("new", 1, 0), rs("stable", 8, 8), rs("v2", 3, 1, revision=2)) == {"v2": 1}


def test_scale_down_stops_when_status_shows_more_available_than_spec() -> None:
    # cleanupUnhealthyReplicas errors on such a ReplicaSet and the reference scales nothing else this cycle.
    assert scale_down(10, 0, 1, rs("new", 1, 1), rs("stable", 9, 9), rs("v1", 2, 1, revision=1),
                      rs("v2", 1, 3, revision=2), rs("v3", 1, 1, revision=3)) == {"v1": 1}


def test_scale_down_counts_every_available_pod_and_skips_empty_replicasets() -> None:
    # The scaled-to-zero v1 still has 2 available pods (terminating late): they count toward availability.
    assert scale_down(10, 1, 0, rs("new", 2, 0), rs("stable", 8, 6), rs("v1", 0, 2, revision=1),
                      rs("v2", 3, 3, revision=2)) == {"v2": 2}


def test_scale_down_of_nothing() -> None:
    assert scale_down(10, 1, 0, rs("new", 10, 10), rs("stable", 0, 0), rs("v1", 0, 0)) == {}
    assert scale_down(10, 1, 0, rs("new", 1, 0), rs("stable", 9, 9), rs("v1", 1, 1)) == {}


def _next(replicas: int, weight: int, surge: Any, unavailable: Any, new: ReplicaSetView | None,
          stable: ReplicaSetView | None, *others: ReplicaSetView) -> dict[str, int]:
    return bc.next_scale(replicas=replicas, weight=weight, max_surge=surge, max_unavailable=unavailable,
                         new_rs=new, stable_rs=stable, others=others)


@pytest.mark.parametrize(("args", "expected"), [
    pytest.param((10, 10, 1, 0, rs("rs2", 0, 0), rs("rs1", 10, 10)), {"rs2": 1},
                 id="TestCanaryRolloutCreateNewReplicaWithCorrectWeight"),
    pytest.param((5, 40, 0, 1, rs("rs2", 1, 1), rs("rs1", 3, 3)), {"rs2": 2},
                 id="TestCanaryRolloutScaleUpNewReplicaWithCorrectWeight"),
    pytest.param((10, 10, 0, 1, rs("rs2", 0, 0), rs("rs1", 10, 10)), {"rs1": 9},
                 id="TestCanaryRolloutScaleDownStableToMatchWeight"),
    pytest.param((10, 100, 3, 0, rs("rs2", 4, 4), rs("rs1", 9, 9)), {"rs1": 6},
                 id="TestGradualShiftToNewStable-past-the-last-step"),
    pytest.param((10, 20, 1, 0, rs("rs2", 0, 0), rs("rs1", 5, 5)), {"rs1": 8},
                 id="TestCanaryRolloutScaleWhilePaused-stable-first"),
    pytest.param((10, 0, 1, 0, rs("rs2", 1, 1), rs("rs1", 9, 9)), {"rs1": 10},
                 id="TestHandleCanaryAbort/Scale up stable ReplicaSet"),
    pytest.param((10, 10, 1, 0, rs("rs3", 1, 1, revision=3), rs("rs1", 9, 9, revision=1),
                  rs("rs2", 1, 1, revision=2)), {"rs2": 0}, id="TestCanaryRolloutScaleDownOldRs"),
    pytest.param((10, 10, 1, 0, rs("rs2", 1, 1), rs("rs1", 9, 9)), {}, id="settled"),
])
def test_reference_next_scale(args: tuple[Any, ...], expected: dict[str, int]) -> None:
    assert _next(*args) == expected


# --- a simulated cluster ------------------------------------------------------------------------------------


@dataclass
class _Pods:
    spec: int
    available: int
    revision: int


def _views(cluster: dict[str, _Pods]) -> dict[str, ReplicaSetView]:
    return {name: rs(name, p.spec, p.available, revision=p.revision) for name, p in cluster.items()}


def _reconcile(cluster: dict[str, _Pods], replicas: int, weight: int, surge: Any, unavailable: Any) -> None:
    views = _views(cluster)
    changes = _next(replicas, weight, surge, unavailable, views["new"], views["stable"],
                    *(view for name, view in views.items() if name not in ("new", "stable")))
    for name, count in changes.items():
        pods = cluster[name]
        # A ReplicaSet deletes unavailable pods before available ones.
        pods.available = min(pods.available, count)
        pods.spec = count


def _tick(cluster: dict[str, _Pods], ready: list[int]) -> None:
    for pods, count in zip(cluster.values(), ready, strict=False):
        pods.available = min(pods.spec, pods.available + count)


_FENCEPOST = st.one_of(st.integers(0, 4), st.sampled_from(["0%", "10%", "25%", "50%", "100%"]), st.none())
_ACTION = st.one_of(st.tuples(st.just("weight"), st.sampled_from([0, 1, 5, 10, 20, 33, 50, 51, 80, 99, 100])),
                    st.tuples(st.just("ready"), st.lists(st.integers(0, 3), min_size=3, max_size=3)),
                    st.tuples(st.just("reconcile"), st.just(0)))


@settings(max_examples=300, deadline=None)
@given(replicas=st.integers(1, 12), surge=_FENCEPOST, unavailable=_FENCEPOST, older_share=st.integers(0, 12),
       actions=st.lists(_ACTION, max_size=40))
def test_simulated_cluster_keeps_the_fenceposts_and_settles(replicas: int, surge: Any, unavailable: Any,
                                                           older_share: int, actions: list[Any]) -> None:
    older = min(older_share, replicas)  # an interrupted update left this many available pods on V2
    cluster = {"stable": _Pods(replicas - older, replicas - older, 1), "new": _Pods(0, 0, 3),
               "older": _Pods(older, older, 2)}
    max_surge, max_unavailable = bc.resolve_surge_unavailable(surge, unavailable, replicas)
    weight = 0
    for kind, value in actions:
        if kind == "weight":
            weight = value
        elif kind == "ready":
            _tick(cluster, value)
        else:
            _reconcile(cluster, replicas, weight, surge, unavailable)
        assert sum(p.spec for p in cluster.values()) <= replicas + max_surge
        assert sum(p.available for p in cluster.values()) >= replicas - max_unavailable
    for _ in range(6 * replicas + 10):  # every pod turns available at once from now on
        _reconcile(cluster, replicas, weight, surge, unavailable)
        _tick(cluster, [replicas + 1] * 3)
        assert sum(p.spec for p in cluster.values()) <= replicas + max_surge
        assert sum(p.available for p in cluster.values()) >= replicas - max_unavailable
    views = _views(cluster)
    assert bc.at_desired_counts(replicas=replicas, weight=weight, max_surge=surge,
                                max_unavailable=unavailable, new_rs=views["new"], stable_rs=views["stable"],
                                others=(views["older"],))
