"""The AnalysisRun engine: which metrics to measure now, and the status after their measurements.

Room: plan (pure). Ports analysis/analysis.go's reconcileAnalysisRun around its provider calls: `due` is
generateMetricTasks (plus the arguments, the spec checks and the Secrets that may end the run first) and
`record` is runMeasurements' bookkeeping, the assessment (`statemachine.analysis_assess`),
garbageCollectMeasurements and calculateNextReconcileTime, with the reference's messages and events.
Time is passed in; the caller measures (`statemachine.analysis_expr` turns a provider's result into a
phase, see `measurement_from_result`).

A reconcile: `run = load(raw)`; `tasks = due(run, now, secrets)`; when `tasks.outcome` is set, write it and
stop; else measure every `tasks.tasks[i].metric` and `record(run, {name: measurement}, now,
redact=tasks.redact)`; write `render_status(outcome.status)`, emit its events, requeue at `outcome.next_at`.
A measurement is due at the instant its interval ends (the reference needs the clock strictly past it,
which its requeue delay always gives).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from statemachine import analysis_args, analysis_checks, analysis_expr
from statemachine import analysis_spec as spec
from statemachine.analysis_assess import assess, is_terminating, run_event
from statemachine.analysis_spec import AnalysisSpec, Metric, SpecError
from statemachine.analysis_status import Measurement, MetricResult, RunStatus, parse_status
from statemachine.events import Event
from statemachine.raw import Raw, mapping

__all__ = [
    "DEFAULT_ERROR_RETRY_SECONDS",
    "DEFAULT_MEASUREMENT_HISTORY_LIMIT",
    "Outcome",
    "Run",
    "Task",
    "Tasks",
    "due",
    "load",
    "measurement_from_result",
    "record",
    "ttl_expired",
]

DEFAULT_MEASUREMENT_HISTORY_LIMIT = 10
DEFAULT_ERROR_RETRY_SECONDS = 10


@dataclass(frozen=True, slots=True)
class Run:
    """An AnalysisRun as read: its spec (arguments unresolved), its status, and a shape error if any."""

    spec: AnalysisSpec
    status: RunStatus
    error: str = ""


@dataclass(frozen=True, slots=True)
class Task:
    """One metric to measure now: `metric` is resolved (Secrets included); `resume` an in-flight one."""

    metric: Metric
    resume: Measurement | None = None
    terminating: bool = False
    """The run is terminating: the provider should stop `resume` rather than continue it."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The status to write, the events of the change, and when to look again (None: no requeue)."""

    status: RunStatus
    next_at: datetime | None = None
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class Tasks:
    """What `due` found: the measurements to take, the earliest next one, and the values to redact.

    `outcome` set: the run ends now (arguments, spec or Secrets unusable): write it, measure nothing.
    """

    tasks: tuple[Task, ...] = ()
    next_at: datetime | None = None
    redact: frozenset[str] = frozenset()
    outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    metrics: tuple[Metric, ...]
    dry_run: frozenset[str]
    retention: Mapping[str, int]


def load(raw: Raw) -> Run:
    """A raw AnalysisRun; a spec of the wrong shape is kept as `error` (the run then ends in Error)."""
    status = parse_status(mapping(raw, "status"))
    try:
        return Run(spec.parse_spec(mapping(raw, "spec")), status)
    except SpecError as err:
        return Run(AnalysisSpec(), status, f"Analysis spec invalid: {err}")


def _prepare(run: Run) -> _Prepared | str:
    """The metrics resolved without Secrets, checked, and the dry-run / retention maps; or the run's error."""
    if run.error:
        return run.error
    args = analysis_args.without_secrets(run.spec.args)
    try:
        metrics = tuple(analysis_args.resolve_metric(metric, args) for metric in run.spec.metrics)
    except analysis_args.ArgError as err:
        return f"Unable to resolve metric arguments: {err}"
    except SpecError as err:
        return f"Analysis spec invalid: {err}"
    problem = analysis_checks.validate_metrics(metrics)
    dry_run = analysis_checks.dry_run_metrics(run.spec.dry_run, metrics)
    retention = analysis_checks.retention_limits(run.spec.measurement_retention, metrics)
    for found in (problem, dry_run, retention):
        if isinstance(found, str):
            return f"Analysis spec invalid: {found}"
    assert isinstance(dry_run, frozenset) and not isinstance(retention, str)
    return _Prepared(metrics, dry_run, retention)


def _ended(run: Run, message: str) -> Outcome:
    """The reference's early exits: phase Error, the message, a completion event; nothing else changes."""
    status = replace(run.status, phase=spec.ERROR, message=message)
    return Outcome(status, None, (run_event(spec.ERROR),))


def _seconds(duration: str) -> timedelta | None:
    seconds = analysis_checks.duration_seconds(duration)
    return None if seconds is None else timedelta(seconds=seconds)


def _interval(metric: Metric, last: Measurement) -> timedelta | None:
    """The wait after `last`: 10s after an error, else the metric's interval (None: none, or unparsable)."""
    if last.phase == spec.ERROR:
        return timedelta(seconds=DEFAULT_ERROR_RETRY_SECONDS)
    return _seconds(metric.interval) if metric.interval else None


def _count_reached(metric: Metric, result: MetricResult) -> bool:
    count = metric.effective_count
    return count is not None and result.count >= count


def _is_due(metric: Metric, result: MetricResult | None, status: RunStatus, now: datetime) -> bool:
    """generateMetricTasks for a metric with no measurement in flight and a run not terminating."""
    last = result.last if result is not None else None
    if result is None or last is None:
        if not metric.initial_delay:
            return True
        delay = _seconds(metric.initial_delay)
        return status.started_at is not None and delay is not None and status.started_at + delay <= now
    if last.finished_at is None or _count_reached(metric, result):
        return False
    interval = _interval(metric, last)
    if interval is None and metric.interval:
        return False  # an interval that does not parse: the reference skips the metric
    wait = interval if interval is not None else timedelta(seconds=DEFAULT_ERROR_RETRY_SECONDS)
    return last.finished_at + wait <= now


def due(run: Run, now: datetime, secrets: analysis_args.Secrets | None = None) -> Tasks:
    """The metrics to measure now (generateMetricTasks), resolved with `secrets` (see `secret_names`)."""
    if spec.completed(run.status.phase):
        return Tasks()
    prepared = _prepare(run)
    if isinstance(prepared, str):
        return Tasks(outcome=_ended(run, prepared))
    try:
        args, redact = analysis_args.resolve_secrets(run.spec.args, secrets or {})
    except analysis_args.ArgError as err:
        return Tasks(outcome=_ended(run, f"Unable to resolve metric arguments: {err}"))
    terminating = is_terminating(run.spec, run.status)
    tasks: list[Task] = []
    for index, metric in enumerate(prepared.metrics):
        result = run.status.result(metric.name)
        if result is not None and spec.completed(result.phase):
            continue
        last = result.last if result is not None else None
        if last is not None and last.finished_at is None:
            if terminating or last.resume_at is None or last.resume_at <= now:
                tasks.append(Task(run.spec.metrics[index], last, terminating))
        elif not terminating and _is_due(metric, result, run.status, now):
            tasks.append(Task(run.spec.metrics[index]))
    try:
        resolved = tuple(replace(task, metric=analysis_args.resolve_metric(task.metric, args))
                         for task in tasks)
    except SpecError as err:
        return Tasks(outcome=_ended(run, f"Unable to resolve metric arguments: {err}"))
    return Tasks(resolved, _next_at(run.status, prepared.metrics, now), redact)


def measurement_from_result(metric: Metric, result: object, value: str, started_at: datetime | None,
                            finished_at: datetime | None) -> Measurement:
    """A provider's finished measurement: the conditions decide its phase; a bad expression is an Error."""
    try:
        phase = analysis_expr.measurement_phase(result, metric.success_condition, metric.failure_condition)
    except analysis_expr.ExprError as err:
        return Measurement(spec.ERROR, "", str(err), started_at, finished_at)  # the reference drops the value
    return Measurement(phase, value, "", started_at, finished_at)


# --- recording ---------------------------------------------------------------------------------------


def _counted(result: MetricResult, measurement: Measurement) -> MetricResult:
    """runMeasurements' counters for a completed measurement."""
    phase = measurement.phase
    if phase == spec.ERROR:
        return replace(result, error=result.error + 1, consecutive_error=result.consecutive_error + 1,
                       consecutive_success=0)
    counted = replace(result, count=result.count + 1, consecutive_error=0,
                      consecutive_success=result.consecutive_success + 1 if phase == spec.SUCCESSFUL else 0)
    if phase == spec.SUCCESSFUL:
        return replace(counted, successful=result.successful + 1)
    if phase == spec.FAILED:
        return replace(counted, failed=result.failed + 1)
    return replace(counted, inconclusive=result.inconclusive + 1)


def _redacted(message: str, redact: frozenset[str]) -> str:
    for secret in redact:
        if secret:
            message = message.replace(secret, "*****")
    return message


def _apply(run: Run, prepared: _Prepared, measurements: Mapping[str, Measurement], now: datetime,
           redact: frozenset[str], metadata: Mapping[str, Mapping[str, str]]) -> list[MetricResult]:
    results = list(run.status.metric_results)
    terminating = is_terminating(run.spec, run.status)
    for name in (m.name for m in prepared.metrics if m.name in measurements):
        measurement = measurements[name]
        index = next((i for i, r in enumerate(results) if r.name == name), -1)
        result = results[index] if index >= 0 else MetricResult(
            name, spec.RUNNING, dry_run=name in prepared.dry_run,
            metadata=tuple(metadata.get(name, {}).items()))
        last = result.last
        resuming = last is not None and last.finished_at is None
        if resuming and terminating and measurement.phase in (spec.SUCCESSFUL, spec.INCONCLUSIVE):
            measurement = replace(measurement, message="Metric Terminated")
        if spec.completed(measurement.phase):
            if measurement.finished_at is None:
                measurement = replace(measurement, finished_at=now)
            result = _counted(result, measurement)
        measurement = replace(measurement, message=_redacted(measurement.message, redact))
        kept = result.measurements[:-1] if resuming else result.measurements
        result = replace(result, measurements=(*kept, measurement))
        if index >= 0:
            results[index] = result
        else:
            results.append(result)
    return results


def _trimmed(results: tuple[MetricResult, ...], prepared: _Prepared) -> tuple[MetricResult, ...]:
    """garbageCollectMeasurements: the newest `limit` measurements (retention rule, else 10) per metric."""
    names = {metric.name for metric in prepared.metrics}
    out = []
    for result in results:
        limit = prepared.retention.get(result.name, 0)
        limit = limit if limit > 0 else DEFAULT_MEASUREMENT_HISTORY_LIMIT
        if len(result.measurements) > limit and result.name in names:
            result = replace(result, measurements=result.measurements[-limit:])
        out.append(result)
    return tuple(out)


def _next_at(status: RunStatus, metrics: tuple[Metric, ...], now: datetime) -> datetime | None:
    """calculateNextReconcileTime: the earliest initial delay end, resume time or interval end."""
    times: list[datetime] = []
    for metric in metrics:
        result = status.result(metric.name)
        if result is not None and spec.completed(result.phase):
            continue
        last = result.last if result is not None else None
        if result is None or last is None:
            delay = _seconds(metric.initial_delay) if metric.initial_delay else None
            if delay is not None:
                times.append((status.started_at or now) + delay)
        elif last.finished_at is None:
            if last.resume_at is not None:
                times.append(last.resume_at)
        elif not _count_reached(metric, result) and (interval := _interval(metric, last)) is not None:
            times.append(last.finished_at + interval)
    return min(times, default=None)


def record(run: Run, measurements: Mapping[str, Measurement], now: datetime, *,
           redact: frozenset[str] = frozenset(),
           metadata: Mapping[str, Mapping[str, str]] | None = None) -> Outcome:
    """The status after `measurements` (metric name -> the one just taken), its events and next requeue.

    `redact`: Secret values to mask in messages (`Tasks.redact`); `metadata`: a provider's metric metadata,
    stored when the metric's first result is created (Prometheus: the resolved query).
    """
    if spec.completed(run.status.phase):
        return Outcome(run.status)
    prepared = _prepare(run)
    if isinstance(prepared, str):
        return _ended(run, prepared)
    now = now.replace(microsecond=0)
    results = _apply(run, prepared, measurements, now, redact, metadata or {})
    status = replace(run.status, metric_results=tuple(results), started_at=run.status.started_at or now)
    found = assess(run.spec, status, prepared.metrics, prepared.dry_run)
    status = replace(status, metric_results=_trimmed(found.results, prepared), run_summary=found.run_summary,
                     dry_run_summary=found.dry_run_summary)
    events = list(found.events)
    if found.phase != status.phase:
        status = replace(status, phase=found.phase, message=found.message)
        if spec.completed(found.phase):
            events.append(run_event(found.phase))
            status = replace(status, completed_at=status.completed_at or now)
    return Outcome(status, _next_at(status, prepared.metrics, now), tuple(events))


def ttl_expired(run: Run, now: datetime) -> bool:
    """isAnalysisRunTtlExceeded: a completed run older than its ttlStrategy allows (the caller deletes it)."""
    status, ttl = run.status, run.spec.ttl_strategy
    if not spec.completed(status.phase) or status.completed_at is None:
        return False
    if status.phase == spec.SUCCESSFUL and "secondsAfterSuccess" in ttl:
        seconds = ttl["secondsAfterSuccess"]
    elif status.phase == spec.FAILED and "secondsAfterFailure" in ttl:
        seconds = ttl["secondsAfterFailure"]
    elif "secondsAfterCompletion" in ttl:
        seconds = ttl["secondsAfterCompletion"]
    else:
        return False
    return int((now - status.completed_at).total_seconds()) > seconds
