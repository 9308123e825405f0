"""An AnalysisRun's `status`: frozen values, read from and rendered to the raw shape the reference writes.

Room: plan (pure). `parse_status` reads a raw `status` leniently (a wrong type reads as empty: we or the
reference wrote it); `render_status` writes it back in Go's field order with Go's `omitempty` rules, so a
status we write is the one the reference would: `phase` always, `runSummary` always (a struct, never
omitted), the rest only when set. Timestamps are metav1.Time: UTC, whole seconds.

Public API: `Measurement`, `MetricResult`, `RunSummary`, `RunStatus`, `parse_status`, `render_status`,
`render_measurement`, `parse_measurement`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from statemachine.models import format_time, parse_time
from statemachine.raw import Raw, integer, mapping, string

__all__ = [
    "Measurement",
    "MetricResult",
    "RunStatus",
    "RunSummary",
    "parse_measurement",
    "parse_status",
    "render_measurement",
    "render_status",
]

Pairs = tuple[tuple[str, str], ...]
_SUMMARY_KEYS = ("count", "successful", "failed", "inconclusive", "error")


@dataclass(frozen=True, slots=True)
class Measurement:
    """One point-in-time result of a metric; `finished_at` None: still in flight."""

    phase: str
    value: str = ""
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    resume_at: datetime | None = None
    metadata: Pairs = ()


@dataclass(frozen=True, slots=True)
class MetricResult:
    """`metricResults[]`: one metric's recent measurements and its counters."""

    name: str
    phase: str
    measurements: tuple[Measurement, ...] = ()
    message: str = ""
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0
    dry_run: bool = False
    metadata: Pairs = ()
    consecutive_success: int = 0

    @property
    def last(self) -> Measurement | None:
        return self.measurements[-1] if self.measurements else None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """`runSummary` / `dryRunSummary`: how many metrics, and how each ended."""

    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0


@dataclass(frozen=True, slots=True)
class RunStatus:
    """The AnalysisRun's status; `phase` "" before the first reconcile."""

    phase: str = ""
    message: str = ""
    metric_results: tuple[MetricResult, ...] = ()
    started_at: datetime | None = None
    run_summary: RunSummary = RunSummary()
    dry_run_summary: RunSummary | None = None
    completed_at: datetime | None = None

    def result(self, name: str) -> MetricResult | None:
        """GetResult: the metric's result by name."""
        return next((result for result in self.metric_results if result.name == name), None)


# --- parsing -----------------------------------------------------------------------------------------


def _pairs(obj: Raw, key: str) -> Pairs:
    return tuple((k, v) for k, v in mapping(obj, key).items() if isinstance(k, str) and isinstance(v, str))


def _list(obj: Raw, key: str) -> list[Raw]:
    value = obj.get(key)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def parse_measurement(raw: Raw) -> Measurement:
    """One raw `measurements[]` entry."""
    return Measurement(
        phase=string(raw, "phase"),
        value=string(raw, "value"),
        message=string(raw, "message"),
        started_at=parse_time(string(raw, "startedAt")),
        finished_at=parse_time(string(raw, "finishedAt")),
        resume_at=parse_time(string(raw, "resumeAt")),
        metadata=_pairs(raw, "metadata"),
    )


def _parse_result(raw: Raw) -> MetricResult:
    return MetricResult(
        name=string(raw, "name"),
        phase=string(raw, "phase"),
        measurements=tuple(parse_measurement(m) for m in _list(raw, "measurements")),
        message=string(raw, "message"),
        count=integer(raw, "count", 0),
        successful=integer(raw, "successful", 0),
        failed=integer(raw, "failed", 0),
        inconclusive=integer(raw, "inconclusive", 0),
        error=integer(raw, "error", 0),
        consecutive_error=integer(raw, "consecutiveError", 0),
        dry_run=raw.get("dryRun") is True,
        metadata=_pairs(raw, "metadata"),
        consecutive_success=integer(raw, "consecutiveSuccess", 0),
    )


def _parse_summary(raw: Raw) -> RunSummary:
    return RunSummary(*(integer(raw, key, 0) for key in _SUMMARY_KEYS))


def parse_status(raw: Raw) -> RunStatus:
    """A raw AnalysisRun `status` (an empty mapping for a new run)."""
    dry_run = raw.get("dryRunSummary")
    return RunStatus(
        phase=string(raw, "phase"),
        message=string(raw, "message"),
        metric_results=tuple(_parse_result(r) for r in _list(raw, "metricResults")),
        started_at=parse_time(string(raw, "startedAt")),
        run_summary=_parse_summary(mapping(raw, "runSummary")),
        dry_run_summary=_parse_summary(dry_run) if isinstance(dry_run, Mapping) else None,
        completed_at=parse_time(string(raw, "completedAt")),
    )


# --- rendering ---------------------------------------------------------------------------------------


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """Go's omitempty: "", 0, false, empty maps and lists and nil times are left out."""
    if isinstance(value, datetime):
        out[key] = format_time(value)
    elif value:
        out[key] = value


def render_measurement(measurement: Measurement) -> dict[str, Any]:
    """One `measurements[]` entry in the Go struct's order."""
    out: dict[str, Any] = {"phase": measurement.phase}
    _put(out, "message", measurement.message)
    _put(out, "startedAt", measurement.started_at)
    _put(out, "finishedAt", measurement.finished_at)
    _put(out, "value", measurement.value)
    _put(out, "metadata", dict(measurement.metadata))
    _put(out, "resumeAt", measurement.resume_at)
    return out


def _render_result(result: MetricResult) -> dict[str, Any]:
    out: dict[str, Any] = {"name": result.name, "phase": result.phase}
    _put(out, "measurements", [render_measurement(m) for m in result.measurements])
    _put(out, "message", result.message)
    for key, value in (("count", result.count), ("successful", result.successful), ("failed", result.failed),
                       ("inconclusive", result.inconclusive), ("error", result.error),
                       ("consecutiveError", result.consecutive_error), ("dryRun", result.dry_run)):
        _put(out, key, value)
    _put(out, "metadata", dict(result.metadata))
    _put(out, "consecutiveSuccess", result.consecutive_success)
    return out


def _render_summary(summary: RunSummary) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _SUMMARY_KEYS:
        _put(out, key, getattr(summary, key))
    return out


def render_status(status: RunStatus) -> dict[str, Any]:
    """The raw `status` the reference writes for this value."""
    out: dict[str, Any] = {"phase": status.phase}
    _put(out, "message", status.message)
    _put(out, "metricResults", [_render_result(r) for r in status.metric_results])
    _put(out, "startedAt", status.started_at)
    out["runSummary"] = _render_summary(status.run_summary)
    if status.dry_run_summary is not None:
        out["dryRunSummary"] = _render_summary(status.dry_run_summary)
    _put(out, "completedAt", status.completed_at)
    return out
