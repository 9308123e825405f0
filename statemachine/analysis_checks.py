"""Checks on resolved analysis metrics, with the reference's messages, plus ours (supported providers).

Room: plan (pure). Ports utils/analysis ValidateMetrics / ValidateMetric, GetDryRunMetrics and
GetMeasurementRetentionMetrics, and the error text of Go's time.ParseDuration. Each check returns the first
problem as the reference does (it stops at the first error), or None. The engine prefixes these with
"Analysis spec invalid: " when it ends a run on one.

Public API: `validate_metrics`, `metric_error`, `dry_run_metrics`, `retention_limits`, `duration_error`,
`duration_seconds`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from statemachine import analysis_expr, go_text
from statemachine.analysis_spec import SUPPORTED_PROVIDERS, DryRun, MeasurementRetention, Metric

__all__ = [
    "dry_run_metrics",
    "duration_error",
    "duration_seconds",
    "metric_error",
    "retention_limits",
    "validate_metrics",
]

_UNITS = ("ns", "us", "\u00b5s", "\u03bcs", "ms", "s", "m", "h")
_MAX_DURATION_SECONDS = (2**63 - 1) / 1e9


def _time_quote(text: str) -> str:
    """time's own quote(): `"` and `\\` escaped, bytes outside printable ASCII as \\xNN."""
    out = ['"']
    for char in text:
        if char < " " or ord(char) >= 0x80:
            out.extend(f"\\x{byte:02x}" for byte in char.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + char if char in '"\\' else char)
    out.append('"')
    return "".join(out)


def duration_error(text: str) -> str | None:
    """The error time.ParseDuration gives for `text`, or None when Go accepts it."""
    invalid = f"time: invalid duration {_time_quote(text)}"
    rest = text[1:] if text[:1] in ("+", "-") else text
    if rest == "0":
        return None
    if not rest:
        return invalid
    while rest:
        if not (rest[0] == "." or "0" <= rest[0] <= "9"):
            return invalid
        whole = re.match(r"[0-9]*", rest)
        assert whole is not None
        rest = rest[whole.end():]
        fraction = ""
        if rest[:1] == ".":
            digits = re.match(r"[0-9]*", rest[1:])
            assert digits is not None
            fraction = digits.group()
            rest = rest[1 + digits.end():]
        if not whole.group() and not fraction:
            return invalid
        end = next((i for i, char in enumerate(rest) if char == "." or "0" <= char <= "9"), len(rest))
        if end == 0:
            return f"time: missing unit in duration {_time_quote(text)}"
        if rest[:end] not in _UNITS:
            return f"time: unknown unit {_time_quote(rest[:end])} in duration {_time_quote(text)}"
        rest = rest[end:]
    seconds = go_text.go_duration_seconds(text)
    return invalid if seconds is None or abs(seconds) > _MAX_DURATION_SECONDS else None


def duration_seconds(text: str) -> float | None:
    """Seconds in a duration Go accepts; None when it does not (the reference then skips the metric)."""
    return None if duration_error(text) is not None else go_text.go_duration_seconds(text)


def metric_error(metric: Metric) -> str | None:
    """ValidateMetric: the reference's first complaint about one metric, or None."""
    count = metric.count or 0
    failure_limit = metric.failure_limit_value
    success_limit = metric.consecutive_success_limit_value
    inconclusive_limit = metric.inconclusive_limit_value
    if success_limit < 0:
        return "consecutiveSuccessLimit must be >= 0"
    if failure_limit < -1:
        return "failureLimit must be >= 0, or -1 to be disabled"
    if success_limit == 0 and failure_limit == -1:
        return "failureLimit and consecutiveSuccessLimit cannot both be disabled"
    if inconclusive_limit < 0:
        return "inconclusiveLimit must be >= 0"
    if metric.consecutive_error_limit is not None and metric.consecutive_error_limit < 0:
        return "consecutiveErrorLimit must be >= 0"
    if count > 0:
        if failure_limit >= 0 and count < failure_limit + success_limit:
            return (f"count ({count}) must be >= failureLimit + consecutiveSuccessLimit "
                    f"({failure_limit} + {success_limit}) if both >= 0")
        if failure_limit < 0 and count < success_limit:
            return "count must be >= consecutiveSuccessLimit"
        if count < inconclusive_limit:
            return "count must be >= inconclusiveLimit"
    if count > 1 and not metric.interval:
        return "interval must be specified when count > 1"
    if metric.interval and (problem := duration_error(metric.interval)):
        return f"invalid interval string: {problem}"
    if metric.initial_delay and (problem := duration_error(metric.initial_delay)):
        return f"invalid startDelay string: {problem}"
    if not metric.providers:
        return "no provider specified"
    if len(metric.providers) > 1:
        return "multiple providers specified"
    return None


def _our_error(metric: Metric) -> str | None:
    """Ours: a provider alb-rollouts has, and conditions that parse (the reference finds those mid-run)."""
    if metric.provider_name not in SUPPORTED_PROVIDERS:
        return (f'provider "{metric.provider_name}" is not supported by alb-rollouts '
                f"(supported: {', '.join(sorted(SUPPORTED_PROVIDERS))})")
    for key, expression in (("successCondition", metric.success_condition),
                            ("failureCondition", metric.failure_condition)):
        if expression:
            try:
                analysis_expr.check(expression)
            except analysis_expr.ExprError as err:
                return f"invalid {key} {go_text.go_quote(expression)}: {err}"
    return None


def validate_metrics(metrics: Sequence[Metric]) -> str | None:
    """ValidateMetrics (first error, `metrics[i]: ...`), then ours (`metrics[i] (name): ...`)."""
    if not metrics:
        return "no metrics specified"
    seen: set[str] = set()
    for index, metric in enumerate(metrics):
        if metric.name in seen:
            return f"metrics[{index}]: duplicate name '{metric.name}'"
        seen.add(metric.name)
        if problem := metric_error(metric):
            return f"metrics[{index}]: {problem}"
        if problem := _our_error(metric):
            return f"metrics[{index}] ({metric.name}): {problem}"
    return None


def _matches(pattern: str, name: str) -> bool:
    """regexp.MatchString, unanchored; a pattern that does not compile matches nothing."""
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False


def dry_run_metrics(rules: Iterable[DryRun], metrics: Sequence[Metric]) -> frozenset[str] | str:
    """GetDryRunMetrics: the names running in dry-run, or the message of the first rule matching none."""
    names: set[str] = set()
    for index, rule in enumerate(rules):
        matched = [metric.name for metric in metrics if _matches(rule.metric_name, metric.name)]
        if not matched:
            return f"dryRun[{index}]: Rule didn't match any metric name(s)"
        names.update(matched)
    return frozenset(names)


def retention_limits(rules: Iterable[MeasurementRetention],
                     metrics: Sequence[Metric]) -> Mapping[str, int] | str:
    """GetMeasurementRetentionMetrics: metric name -> limit (a later rule wins), or the first rule's error."""
    limits: dict[str, int] = {}
    for index, rule in enumerate(rules):
        matched = [metric.name for metric in metrics if _matches(rule.metric_name, metric.name)]
        if not matched:
            return f"measurementRetention[{index}]: Rule didn't match any metric name(s)"
        limits.update(dict.fromkeys(matched, rule.limit))
    return limits
