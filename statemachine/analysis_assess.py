"""Assessing an AnalysisRun: each metric's phase from its counters, and the run's phase and message.

Room: plan (pure). Ports analysis.go's assessRunStatus, assessMetricStatus and
assessMetricFailureInconclusiveOrError, and utils/analysis IsTerminating / IsWorse, with the reference's
messages and events. `statemachine.analysis_run` calls it after recording the new measurements.

Public API: `Assessment`, `assess`, `metric_phase`, `broken_limit`, `is_terminating`, `run_event`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from statemachine import analysis_spec as spec
from statemachine.analysis_spec import AnalysisSpec, Metric
from statemachine.analysis_status import MetricResult, RunStatus, RunSummary
from statemachine.events import NORMAL, WARNING, Event

__all__ = ["Assessment", "assess", "broken_limit", "is_terminating", "metric_phase", "run_event"]

# IsWorse's order, best to worst; an unknown phase ranks as the best.
_ORDER = (spec.SUCCESSFUL, spec.RUNNING, spec.PENDING, spec.INCONCLUSIVE, spec.ERROR, spec.FAILED)
_TALLY = {spec.ERROR: "error", spec.FAILED: "failed", spec.INCONCLUSIVE: "inconclusive"}


@dataclass(frozen=True, slots=True)
class Assessment:
    """assessRunStatus' answer: the results with their new phases, the run's phase, message, summaries."""

    results: tuple[MetricResult, ...]
    phase: str
    message: str
    run_summary: RunSummary
    dry_run_summary: RunSummary
    events: tuple[Event, ...] = ()


def is_terminating(run_spec: AnalysisSpec, status: RunStatus) -> bool:
    """IsTerminating: asked to, or a metric that counts (not dry-run) already ended badly."""
    return run_spec.terminate or any(
        not result.dry_run and result.phase in (spec.FAILED, spec.ERROR, spec.INCONCLUSIVE)
        for result in status.metric_results)


def run_event(phase: str) -> Event:
    """recordAnalysisRunCompletionEvent (Warning for Error and Failed)."""
    kind = WARNING if phase in (spec.ERROR, spec.FAILED) else NORMAL
    return Event(kind, f"AnalysisRun{phase}", f"Analysis Completed. Result: {phase}")


def broken_limit(metric: Metric, result: MetricResult) -> tuple[str, str]:
    """assessMetricFailureInconclusiveOrError: the phase and message of the limit broken ("" if none).

    The checks run in order and a later broken limit wins: failure, inconclusive, consecutive errors.
    """
    phase = message = ""
    failure_limit = metric.failure_limit_value
    if failure_limit >= 0 and result.failed > failure_limit:
        phase, message = spec.FAILED, f"failed ({result.failed}) > failureLimit ({failure_limit})"
    inconclusive_limit = metric.inconclusive_limit_value
    if result.inconclusive > inconclusive_limit:
        phase = spec.INCONCLUSIVE
        message = f"inconclusive ({result.inconclusive}) > inconclusiveLimit ({inconclusive_limit})"
    error_limit = metric.consecutive_error_limit_value
    if result.consecutive_error > error_limit:
        phase = spec.ERROR
        message = f"consecutiveErrors ({result.consecutive_error}) > consecutiveErrorLimit ({error_limit})"
    return phase, message


def metric_phase(metric: Metric, result: MetricResult, terminating: bool) -> str:
    """assessMetricStatus: a metric's phase from its measurements, counters and limits."""
    if spec.completed(result.phase):
        return result.phase
    last = result.last
    if last is None:
        return spec.SUCCESSFUL if terminating else spec.PENDING
    if not spec.completed(last.phase):
        return spec.RUNNING
    phase, _ = broken_limit(metric, result)
    if phase:
        return phase
    success_limit = metric.consecutive_success_limit_value
    if success_limit > 0 and result.consecutive_success >= success_limit:
        return spec.SUCCESSFUL
    count = metric.effective_count
    if count is not None and result.count >= count:
        if success_limit > 0:
            # the success limit was not reached; with failureLimit -1 it was the only way to succeed
            return spec.INCONCLUSIVE if metric.failure_limit_value >= 0 else spec.FAILED
        return spec.SUCCESSFUL
    return spec.SUCCESSFUL if terminating else spec.RUNNING


def _worse(current: str, new: str) -> bool:
    def rank(phase: str) -> int:
        return _ORDER.index(phase) if phase in _ORDER else 0
    return rank(new) > rank(current)


def _tally(summary: RunSummary, phase: str) -> RunSummary:
    key = _TALLY.get(phase, "successful")
    return replace(summary, **{key: getattr(summary, key) + 1})


def assess(run_spec: AnalysisSpec, status: RunStatus, metrics: Sequence[Metric],
           dry_run: frozenset[str]) -> Assessment:
    """assessRunStatus over the resolved `metrics`: the worst completed metric that counts decides.

    The run stays Running until every metric completed, unless it is terminating (then Successful when
    nothing worse happened). Dry-run metrics only show in their own message and in the dry-run summary.
    """
    results = list(status.metric_results)
    terminating = is_terminating(run_spec, status)
    events: list[Event] = []
    worst, worst_message = "", "Run Terminated" if run_spec.terminate else ""
    all_completed = True
    summary, dry_summary = RunSummary(), RunSummary()
    for metric in metrics:
        dry = metric.name in dry_run
        if dry:
            dry_summary = replace(dry_summary, count=dry_summary.count + 1)
        else:
            summary = replace(summary, count=summary.count + 1)
        index = next((i for i, r in enumerate(results) if r.name == metric.name), -1)
        if index < 0:
            all_completed = False  # not started yet (an initial delay)
            continue
        result = results[index]
        phase = metric_phase(metric, result, terminating)
        if result.phase != phase:
            if spec.completed(phase):
                kind = WARNING if phase in (spec.ERROR, spec.FAILED) else NORMAL
                text = f"Metric '{metric.name}' Completed. Result: {phase}"
                events.append(Event(kind, f"Metric{phase}", text))
            last = result.last
            message = last.message if last is not None else result.message
            result = replace(result, phase=phase, message=message)
            results[index] = result
        if not spec.completed(phase):
            all_completed = False
            continue
        limit_phase, message = broken_limit(metric, result)
        if not dry:
            if not worst or _worse(worst, phase):
                worst = phase
                if message:
                    worst_message = f'Metric "{metric.name}" assessed {phase} due to {message}'
                    if result.message:
                        worst_message += f': "Error Message: {result.message}"'
            summary = _tally(summary, limit_phase)
        else:
            worst = worst or spec.SUCCESSFUL  # a dry-run metric never makes the run worse
            if message:
                results[index] = replace(result, message=f"Metric assessed {phase} due to {message}")
            dry_summary = _tally(dry_summary, limit_phase)
    worst_message = worst_message.strip()
    if terminating:
        phase, message = worst or spec.SUCCESSFUL, worst_message
    elif not all_completed or not worst:
        phase, message = spec.RUNNING, ""
    else:
        phase, message = worst, worst_message
    return Assessment(tuple(results), phase, message, summary, dry_summary, tuple(events))
