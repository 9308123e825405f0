"""Taking the measurements an AnalysisRun's due tasks ask for: all at once, each through its provider.

Room: analysis (service), inside reconcile. `service.analysis.run_reconciling` hands over the engine's tasks
(`statemachine.analysis_run.due`, arguments and Secrets resolved); each metric is measured concurrently by the
provider `Providers.select` picks (service.analysis.providers), within a deadline. A `ProviderError`,
an unsupported provider or a deadline becomes an Error measurement carrying the message (runMeasurements /
MarkMeasurementError); a result's phase comes from the metric's conditions
(`analysis_run.measurement_from_result`). The engine's `record` then does the bookkeeping. It never writes to
the API and never logs a measured value or an argument (they may hold Secret values).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import structlog

from service.analysis.providers import Observation, ProviderError, Providers, go_float
from service.clock import Clock
from statemachine import analysis_spec as spec
from statemachine.analysis_run import Task, measurement_from_result
from statemachine.analysis_spec import Metric
from statemachine.analysis_status import Measurement

__all__ = ["MEASURE_TIMEOUT_SECONDS", "Measured", "masked", "measure_all", "metric_metadata"]

log = structlog.get_logger(__name__)

MEASURE_TIMEOUT_SECONDS = 60.0
"""The most one measurement may take (a provider's own, shorter timeout applies first): well under the
worker's reconcile deadline, so a slow peer delays only its own run."""
_SLACK_SECONDS = 1.0
"""The safety net past the deadline, for a provider that overruns its own."""


@dataclass(frozen=True, slots=True)
class Measured:
    """What `record` takes: the measurement of each task's metric, and the metrics' provider metadata."""

    measurements: Mapping[str, Measurement]
    metadata: Mapping[str, Mapping[str, str]]


def metric_metadata(metric: Metric) -> dict[str, str]:
    """GetMetadata: what a provider stores on the metric's first result (Prometheus: the resolved query)."""
    query = metric.provider.get("query") if metric.provider_name == "prometheus" else None
    return {"ResolvedPrometheusQuery": query} if isinstance(query, str) and query else {}


async def measure_all(providers: Providers, tasks: Sequence[Task], *, clock: Clock,
                      within: float = MEASURE_TIMEOUT_SECONDS, redact: frozenset[str] = frozenset()
                      ) -> Measured:
    """Measure every task concurrently, each within `within` seconds; one failing never stops the others.

    `redact`: the Secret values the tasks' arguments carry (`Tasks.redact`), masked in what is logged."""
    async with asyncio.TaskGroup() as group:
        jobs = [group.create_task(_measure(providers, task, clock, within, redact)) for task in tasks]
    measurements: dict[str, Measurement] = {}
    metadata: dict[str, Mapping[str, str]] = {}
    for task, job in zip(tasks, jobs, strict=True):
        measurement, known = job.result()
        measurements[task.metric.name] = measurement
        if known:
            metadata[task.metric.name] = metric_metadata(task.metric)
    return Measured(measurements, metadata)


def _error(started: Measurement | None, message: str, clock: Clock) -> Measurement:
    """MarkMeasurementError (on the in-flight measurement when resuming one)."""
    base = started or Measurement(spec.ERROR, started_at=clock.now())
    return replace(base, phase=spec.ERROR, message=message, finished_at=base.finished_at or clock.now())


def masked(text: str, redact: frozenset[str]) -> str:
    """`text` with every Secret value in `redact` replaced by "*****" (as the reference's log redactor)."""
    for secret in redact:
        if secret:
            text = text.replace(secret, "*****")
    return text


async def _measure(providers: Providers, task: Task, clock: Clock, within: float, redact: frozenset[str]
                   ) -> tuple[Measurement, bool]:
    """One metric's measurement, and whether its provider was found (its metadata is then stored)."""
    metric = task.metric
    bound = log.bind(metric=metric.name, provider=metric.provider_name)
    if task.resume is not None and task.terminating:
        # Our providers finish a measurement in one call: one still in flight was started elsewhere (the
        # reference's Job or Kayenta). End it as their Terminate does; the engine notes "Metric Terminated".
        bound.info("terminating in-progress measurement")
        return replace(task.resume, phase=spec.SUCCESSFUL, finished_at=clock.now()), False
    try:
        provider, config = providers.select(metric.name, metric.raw.get("provider") or {})
    except ProviderError as err:
        bound.warning("no provider for the metric", error=masked(str(err), redact))
        return _error(task.resume, str(err), clock), False
    started_at = clock.now()
    try:
        async with asyncio.timeout(within + _SLACK_SECONDS):
            observation: Observation = await provider.measure(config, timeout=within)
    except ProviderError as err:
        bound.warning("measurement had error", error=masked(str(err), redact))
        return _error(Measurement(spec.ERROR, started_at=started_at), str(err), clock), True
    except TimeoutError:
        message = f"measurement did not finish within {go_float(within)}s"
        bound.warning("measurement had error", error=message)
        return _error(Measurement(spec.ERROR, started_at=started_at), message, clock), True
    measurement = measurement_from_result(metric, observation.result, observation.value, started_at,
                                          clock.now())
    if observation.metadata:
        measurement = replace(measurement, metadata=tuple(observation.metadata.items()))
    bound.info("measurement completed", phase=measurement.phase)
    return measurement, True
