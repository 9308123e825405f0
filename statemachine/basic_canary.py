"""ReplicaSet sizes of a basic canary (a canary without trafficRouting): setWeight is a replica ratio.

Room: plan (pure). Ports the reference's `CalculateReplicaCountsForBasicCanary`,
`AtDesiredReplicaCountsForCanary` (basic branch), `scaleDownOldReplicaSetsForCanary` and the
maxSurge/maxUnavailable fenceposts. Never raises on bad input: an unreadable or negative maxSurge or
maxUnavailable counts as its default (the reference's validation lets both through, then it resolves an
unreadable one to 0 for both fields and stalls, and uses a negative one as it is); a weight outside 0..100 is
clamped and negative replicas count as 0.

The caller passes `weight` as `GetCanaryReplicasOrWeight` computes it for a canary without trafficRouting:
100 when `status.promoteFull`, when `status.stableRS` is empty, or when `status.stableRS ==
status.currentPodHash` (fully promoted); otherwise `weights.current_set_weight(rollout)`, which is 0 when
aborted, 100 past the last step or without steps, else the latest setWeight at or before the current step
(0 when none). setCanaryScale, dynamicStableScale and minPodsPerReplicaSet need trafficRouting, so none of
them applies here. `stable_rs` is the ReplicaSet named by `status.stableRS` (it may be `new_rs` itself);
`others` every other ReplicaSet of the Rollout, scaled to zero or not.

One reconcile scales like the reference: the stable ReplicaSet if it differs from its desired size (and
nothing else), else the new one, else the older ones (`next_scale` does exactly that).

Public API:
- `resolve_surge_unavailable(max_surge, max_unavailable, replicas) -> (surge, unavailable)` (pods).
- `surge_unavailable_errors(max_surge, max_unavailable, *, strict=False) -> list[str]`: field errors.
- `basic_counts(...) -> (new, stable)`: desired spec.replicas this cycle.
- `others_scale_down(...) -> {name: replicas}`: new spec.replicas of older ReplicaSets this cycle.
- `next_scale(...) -> {name: replicas}`: what one reconcile scales, in the reference's order.
- `at_desired_counts(...) -> bool`: whether a setWeight step's ReplicaSets are sized and available.
- `progress_threshold_met(threshold, rs, desired) -> bool`: `spec.strategy.canary.replicaProgressThreshold`.
- `approximate_counts(replicas, weight, surge) -> (canary, stable)`: the weight's closest replica split.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from statemachine import go_text
from statemachine.snapshot import ReplicaSetView

__all__ = [
    "BOTH_ZERO_MESSAGE",
    "DEFAULT_MAX_SURGE",
    "DEFAULT_MAX_UNAVAILABLE",
    "PROGRESS_PERCENT",
    "PROGRESS_PODS",
    "IntOrPercent",
    "ProgressThreshold",
    "approximate_counts",
    "at_desired_counts",
    "basic_counts",
    "next_scale",
    "others_scale_down",
    "parse_int_or_percent",
    "progress_threshold_met",
    "resolve_surge_unavailable",
    "surge_unavailable_errors",
]

IntOrPercent = int | str
# The reference's defaults are the strings "25" (no "%"): its legacy parser reads any string as a percentage.
DEFAULT_MAX_SURGE: IntOrPercent = "25"
DEFAULT_MAX_UNAVAILABLE: IntOrPercent = "25"
BOTH_ZERO_MESSAGE = "MaxSurge and MaxUnavailable both can not be zero"
PROGRESS_PERCENT = "Percent"
PROGRESS_PODS = "Pods"

_MAX_WEIGHT = 100
_GO_INT_MIN, _GO_INT_MAX = -(2**63), 2**63 - 1
_ATOI = re.compile(r"[+-]?[0-9]+")
_PERCENT = re.compile(r"[0-9]+%")
_INVALID = "Invalid value"
_STRICT_DETAIL = "must be a non-negative integer or percentage such as \"25%\""


@dataclass(frozen=True, slots=True)
class ProgressThreshold:
    """`replicaProgressThreshold`: `type` is "Percent" or "Pods" (any other type counts pods)."""

    type: str
    value: int


# --- maxSurge / maxUnavailable -------------------------------------------------------------------------


def _atoi(text: str) -> int | None:
    """Go's strconv.Atoi: optional sign and decimal digits only, within int64."""
    if not _ATOI.fullmatch(text):
        return None
    value = int(text)
    return value if _GO_INT_MIN <= value <= _GO_INT_MAX else None


def parse_int_or_percent(value: object) -> tuple[int, bool] | None:
    """(number, is_percent) as the reference's legacy parser reads it: every string is a percentage once
    each "%" is removed ("25", "25%"); None when unreadable ("abc%", a float, a bool)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value, False
    if isinstance(value, str):
        number = _atoi(value.replace("%", ""))
        return None if number is None else (number, True)
    return None


def _scaled(value: object, default: IntOrPercent, replicas: int, *, round_up: bool) -> int:
    parsed = parse_int_or_percent(value)
    if parsed is None or parsed[0] < 0:
        parsed = parse_int_or_percent(default)
    assert parsed is not None  # the defaults parse
    number, percent = parsed
    if not percent:
        return number
    return -(-(number * replicas) // 100) if round_up else (number * replicas) // 100


def resolve_surge_unavailable(max_surge: IntOrPercent | None, max_unavailable: IntOrPercent | None,
                              replicas: int) -> tuple[int, int]:
    """(MaxSurge, MaxUnavailable) in pods: percentages of `replicas`, surge rounded up and unavailable down;
    both 0 makes unavailable 1; unavailable is at most `replicas` (0 without replicas)."""
    replicas = max(replicas, 0)
    surge = _scaled(max_surge, DEFAULT_MAX_SURGE, replicas, round_up=True)
    unavailable = _scaled(max_unavailable, DEFAULT_MAX_UNAVAILABLE, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # a 0% that rounds down may not stall the update (the reference's choice too)
    return surge, min(unavailable, replicas)


def _validation_value(value: object) -> int:
    """The number the reference's validation reads: "N%" is N, any other string Atoi's (0 when unreadable)."""
    if isinstance(value, int):
        return int(value)
    if not isinstance(value, str):
        return 1  # not an IntOrString at all: the reference could not even decode the Rollout
    if _PERCENT.fullmatch(value):
        return int(value[:-1])
    return int(value) if _ATOI.fullmatch(value) else 0


def _go_json(value: int | str) -> str:
    """The bad value as apimachinery renders an IntOrString: json.Marshal, HTML characters escaped."""
    if isinstance(value, int):
        return str(value)
    text = "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in value)
    encoded = json.dumps(text, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        encoded = encoded.replace(char, escape)
    return encoded


def surge_unavailable_errors(max_surge: IntOrPercent | None, max_unavailable: IntOrPercent | None, *,
                             strict: bool = False) -> list[str]:
    """Field errors for the two fields: the reference's only check (both zero, at `spec.strategy.maxSurge`),
    then with `strict` ours for values it misreads (an unreadable one zeroes both, a negative one is used)."""
    errors: list[str] = []
    surge = DEFAULT_MAX_SURGE if max_surge is None else max_surge
    unavailable = DEFAULT_MAX_UNAVAILABLE if max_unavailable is None else max_unavailable
    if _validation_value(surge) == 0 and _validation_value(unavailable) == 0:
        errors.append(f"spec.strategy.maxSurge: {_INVALID}: {_go_json(surge)}: {BOTH_ZERO_MESSAGE}")
    if strict:
        for name, value in (("maxSurge", max_surge), ("maxUnavailable", max_unavailable)):
            parsed = None if value is None else parse_int_or_percent(value)
            if value is not None and (parsed is None or parsed[0] < 0):
                path = f"spec.strategy.canary.{name}"
                errors.append(go_text.field_error(path, _INVALID, value, _STRICT_DETAIL))
    return errors


# --- desired counts ------------------------------------------------------------------------------------


def _floor_ceiling_tied(weight: int, total: int) -> bool:
    # Float arithmetic on purpose: it reproduces the reference's ties bit for bit.
    return math.modf(float(total) * (float(weight) / float(_MAX_WEIGHT)))[0] == 0.5


def _weight_delta(weight: int, canary: int, total: int) -> float:
    return abs(float(canary * _MAX_WEIGHT) / float(total) - float(weight))


def approximate_counts(replicas: int, weight: int, surge: int) -> tuple[int, int]:
    """(canary, stable) closest to `weight`, summing to replicas or (with surge) replicas + 1; a weight in
    1..99 never rounds the canary to 0 unless replicas is 1 without surge; ties round the canary up."""
    if replicas <= 0:
        return 0, 0
    ceil = -(-(replicas * weight) // _MAX_WEIGHT)
    floor = (replicas * weight) // _MAX_WEIGHT
    zero_allowed = weight in (0, _MAX_WEIGHT) or (replicas == 1 and surge == 0)
    options: list[tuple[int, int]] = []
    if ceil < replicas or zero_allowed:
        options.append((ceil, replicas))
    if not _floor_ceiling_tied(weight, replicas) and (floor != 0 or zero_allowed):
        options.append((floor, replicas))
    if surge > 0:
        options.append((ceil, replicas + 1))
        if not _floor_ceiling_tied(weight, replicas + 1) and (floor != 0 or zero_allowed):
            options.append((floor, replicas + 1))
    if not options:
        return 0, replicas  # unreachable in the reference too
    best = options[0]
    for option in options[1:]:
        if _weight_delta(weight, *option) < _weight_delta(weight, *best):
            best = option
    return best[0], best[1] - best[0]


def _stable_exists(new_rs: ReplicaSetView | None, stable_rs: ReplicaSetView | None) -> bool:
    """CheckStableRSExists: a stable ReplicaSet that is not the new one."""
    return stable_rs is not None and (new_rs is None or new_rs.name != stable_rs.name)


def _others(new_rs: ReplicaSetView | None, stable_rs: ReplicaSetView | None,
            others: Iterable[ReplicaSetView]) -> list[ReplicaSetView]:
    """GetOtherRSs: drop the new and stable ReplicaSets should the caller have left them in."""
    skip = {rs.name for rs in (new_rs, stable_rs) if rs is not None}
    return [rs for rs in others if rs.name not in skip]


def _for_scale_down(rs: ReplicaSetView | None, ignore_availability: bool) -> int:
    """GetReplicasForScaleDown: available pods, or the spec count if lower or availability is ignored."""
    if rs is None:
        return 0
    if rs.spec_replicas < rs.available_replicas or ignore_availability:
        return rs.spec_replicas
    return rs.available_replicas


def _drain(drain_rs: ReplicaSetView | None, desired: int, scale_down: int, count: int) -> int:
    """calculateScaleDownReplicaCount: shrink toward `desired` by at most `scale_down`."""
    if drain_rs is not None and drain_rs.spec_replicas > desired:
        return max(desired, drain_rs.spec_replicas - scale_down)
    return count


def _within_limits(drain_rs: ReplicaSetView | None, adjust_rs: ReplicaSetView | None, drain: int, adjust: int,
                   max_allowed: int, min_available: int) -> tuple[int, int]:
    """adjustReplicaWithinLimits: trim `adjust` to maxSurge but keep it from costing availability, then
    trim `drain` by whatever still exceeds maxSurge. Returns (drain, adjust)."""
    over = max(0, adjust + drain - max_allowed)
    available = min(drain_rs.available_replicas, drain) if drain_rs is not None else 0
    if adjust_rs is not None:
        adjust -= over
        available += min(adjust_rs.available_replicas, adjust)
        lost = max(0, adjust_rs.available_replicas - adjust)
        adjust += min(lost, max(0, min_available - available))
        drain -= max(0, adjust + drain - max_allowed)
    return drain, adjust


def basic_counts(*, replicas: int, weight: int, max_surge: IntOrPercent | None,
                 max_unavailable: IntOrPercent | None, new_rs: ReplicaSetView | None,
                 stable_rs: ReplicaSetView | None, others: tuple[ReplicaSetView, ...]) -> tuple[int, int]:
    """(new, stable) desired spec.replicas this cycle (CalculateReplicaCountsForBasicCanary): scale up within
    maxSurge (stable first), and only once no older ReplicaSet has pods, scale down within maxUnavailable."""
    replicas = max(replicas, 0)
    weight = max(0, min(_MAX_WEIGHT, weight))
    surge, unavailable = resolve_surge_unavailable(max_surge, max_unavailable, replicas)
    desired_new, desired_stable = approximate_counts(replicas, weight, surge)
    older = _others(new_rs, stable_rs, others)
    new_count = new_rs.spec_replicas if new_rs is not None else 0
    stable_count = 0
    scale_stable = _stable_exists(new_rs, stable_rs)
    if scale_stable:
        assert stable_rs is not None
        stable_count = stable_rs.spec_replicas
    else:
        # Without a distinct stable ReplicaSet there are no steps to follow: the new one takes everything.
        desired_new, desired_stable = replicas, 0

    max_allowed = replicas + surge
    counted = [*older, *(rs for rs in (new_rs, stable_rs if scale_stable else None) if rs is not None)]
    scale_up = max_allowed - sum(rs.spec_replicas for rs in counted)
    if scale_stable and stable_rs is not None and stable_rs.spec_replicas < desired_stable and scale_up > 0:
        grown = min(desired_stable, stable_rs.spec_replicas + scale_up)
        scale_up -= grown - stable_rs.spec_replicas
        stable_count = grown
    if new_rs is not None and new_rs.spec_replicas < desired_new and scale_up > 0:
        new_count = min(desired_new, new_rs.spec_replicas + scale_up)

    if sum(rs.spec_replicas for rs in older) > 0:
        return new_count, stable_count  # older ReplicaSets give way first (others_scale_down)

    min_available = replicas - unavailable
    # Growing the canary may ignore the stable's availability; shrinking it (abort) the canary's.
    increasing = new_rs is None or desired_new >= new_rs.spec_replicas
    to_scale_down = _for_scale_down(new_rs, not increasing) + _for_scale_down(stable_rs, increasing)
    if to_scale_down <= min_available:
        return new_count, stable_count
    scale_down = to_scale_down - min_available
    if not increasing:
        new_count = _drain(new_rs, desired_new, scale_down, new_count)
        new_count, stable_count = _within_limits(new_rs, stable_rs, new_count, stable_count, max_allowed,
                                                 min_available)
    elif scale_stable:
        stable_count = _drain(stable_rs, desired_stable, scale_down, stable_count)
        stable_count, new_count = _within_limits(stable_rs, new_rs, stable_count, new_count, max_allowed,
                                                 min_available)
    return new_count, stable_count


def others_scale_down(*, replicas: int, max_surge: IntOrPercent | None, max_unavailable: IntOrPercent | None,
                      new_rs: ReplicaSetView | None, stable_rs: ReplicaSetView | None,
                      others: tuple[ReplicaSetView, ...]) -> dict[str, int]:
    """New spec.replicas of older ReplicaSets (scaleDownOldReplicaSetsForCanary, basic canary): first each
    one drops its unavailable pods, then the newest revisions lose pods while availability stays above
    replicas - maxUnavailable. Only ReplicaSets that change are listed."""
    replicas = max(replicas, 0)
    older = _others(new_rs, stable_rs, others)
    active = [rs for rs in older if rs.spec_replicas > 0]
    changes: dict[str, int] = {}
    cleaned: list[ReplicaSetView] = []
    # The reference walks these by creation time; the revision is the closest thing a view carries.
    for rs in sorted(active, key=lambda rs: rs.revision):
        if rs.available_replicas > rs.spec_replicas:
            return changes  # the reference gives up here for this cycle (an error it swallows)
        if rs.available_replicas < rs.spec_replicas:
            changes[rs.name] = rs.available_replicas
        cleaned.append(dataclasses.replace(rs, spec_replicas=rs.available_replicas))
    everyone = {rs.name: rs for rs in (*older, new_rs, stable_rs) if rs is not None}
    available = sum(rs.available_replicas for rs in everyone.values())
    _, unavailable = resolve_surge_unavailable(max_surge, max_unavailable, replicas)
    max_scale_down = available - (replicas - unavailable)
    for rs in sorted(cleaned, key=lambda rs: rs.revision, reverse=True):
        if max_scale_down <= 0:
            break
        if rs.spec_replicas == 0:
            continue
        # Every older pod must go in a basic canary: it serves traffic through the Service.
        desired = rs.spec_replicas - max_scale_down if rs.spec_replicas > max_scale_down else 0
        changes[rs.name] = desired
        max_scale_down -= rs.spec_replicas - desired
    return changes


def next_scale(*, replicas: int, weight: int, max_surge: IntOrPercent | None,
               max_unavailable: IntOrPercent | None, new_rs: ReplicaSetView | None,
               stable_rs: ReplicaSetView | None, others: tuple[ReplicaSetView, ...]) -> dict[str, int]:
    """What one reconcile scales (reconcileCanaryReplicaSets): the stable ReplicaSet when it is off its
    desired size, else the new one, else the older ones; empty when nothing moves."""
    new, stable = basic_counts(replicas=replicas, weight=weight, max_surge=max_surge,
                               max_unavailable=max_unavailable, new_rs=new_rs, stable_rs=stable_rs,
                               others=others)
    if _stable_exists(new_rs, stable_rs) and stable_rs is not None and stable_rs.spec_replicas != stable:
        return {stable_rs.name: stable}
    if new_rs is not None and new_rs.spec_replicas != new:
        return {new_rs.name: new}
    return others_scale_down(replicas=replicas, max_surge=max_surge, max_unavailable=max_unavailable,
                             new_rs=new_rs, stable_rs=stable_rs, others=others)


# --- step completion -----------------------------------------------------------------------------------


def _all_available(rs: ReplicaSetView | None, desired: int) -> bool:
    return rs is not None and rs.spec_replicas == desired and rs.available_replicas == desired


def progress_threshold_met(threshold: ProgressThreshold | None, rs: ReplicaSetView | None,
                           desired: int) -> bool:
    """ReplicaProgressThresholdMet: enough of `desired` available (percent or pods); without a threshold, or
    with a negative one, every desired pod must be there and available."""
    if threshold is None or rs is None or threshold.value < 0:
        return _all_available(rs, desired)
    if threshold.type == PROGRESS_PERCENT:
        # Integer form of the reference's float comparison with an epsilon: both accept exact equality.
        return desired == 0 or rs.available_replicas * 100 >= threshold.value * desired
    return rs.available_replicas >= threshold.value


def at_desired_counts(*, replicas: int, weight: int, max_surge: IntOrPercent | None,
                      max_unavailable: IntOrPercent | None, new_rs: ReplicaSetView | None,
                      stable_rs: ReplicaSetView | None, others: tuple[ReplicaSetView, ...],
                      progress_threshold: ProgressThreshold | None = None) -> bool:
    """AtDesiredReplicaCountsForCanary without trafficRouting: the new ReplicaSet sized and available (or
    past the progress threshold), the stable sized with its pods created, no older pod available."""
    new, stable = basic_counts(replicas=replicas, weight=weight, max_surge=max_surge,
                               max_unavailable=max_unavailable, new_rs=new_rs, stable_rs=stable_rs,
                               others=others)
    if not progress_threshold_met(progress_threshold, new_rs, new):
        return False
    if stable_rs is None or stable_rs.spec_replicas != stable or stable_rs.current_replicas != stable:
        return False
    return sum(rs.available_replicas for rs in _others(new_rs, stable_rs, others)) == 0
