"""The reference's `workqueue_*` metrics on an injected CollectorRegistry, and what one queue reports.

Room: queue. Names, label, help texts and buckets are those the reference exports (client-go's queue metrics
as defined by k8s.io/component-base v0.29.3, which Argo Rollouts links), so existing dashboards keep working.
It never registers on the global registry and never reads the wall clock: the queue passes its clock in.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["DURATION_BUCKETS", "QueueRecorder", "WorkqueueMetrics"]


def _exponential_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    # Multiplied step by step as Go's prometheus.ExponentialBuckets does: the `le` labels match byte for byte.
    buckets = []
    for _ in range(count):
        buckets.append(start)
        start *= factor
    return tuple(buckets)


DURATION_BUCKETS = _exponential_buckets(10e-9, 10, 10)
"""1e-08 s to 10 s, as component-base v0.29 defines them for both duration histograms."""


class WorkqueueMetrics:
    """The seven families, labelled by queue `name`; one instance per registry, shared by all queues."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.depth = Gauge(
            "workqueue_depth", "[ALPHA] Current depth of workqueue", ["name"], registry=registry
        )
        self.adds = Counter(
            "workqueue_adds_total", "[ALPHA] Total number of adds handled by workqueue", ["name"],
            registry=registry,
        )
        self.queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "[ALPHA] How long in seconds an item stays in workqueue before being requested.",
            ["name"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "[ALPHA] How long in seconds processing an item from workqueue takes.",
            ["name"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.unfinished_work = Gauge(
            "workqueue_unfinished_work_seconds",
            "[ALPHA] How many seconds of work has done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads "
            "by observing the rate at which this increases.",
            ["name"],
            registry=registry,
        )
        self.longest_running = Gauge(
            "workqueue_longest_running_processor_seconds",
            "[ALPHA] How many seconds has the longest running processor for workqueue been running.",
            ["name"],
            registry=registry,
        )
        self.retries = Counter(
            "workqueue_retries_total", "[ALPHA] Total number of retries handled by workqueue", ["name"],
            registry=registry,
        )

    def recorder(self, name: str, *, monotonic: Callable[[], float],
                 depth: Callable[[], int]) -> QueueRecorder:
        """The reporter for the queue called `name` (a later queue of the same name takes its gauges over)."""
        return QueueRecorder(self, name, monotonic=monotonic, depth=depth)


class QueueRecorder:
    """One queue's view of the families: it stamps adds and starts, and computes the gauges on scrape."""

    def __init__(self, families: WorkqueueMetrics, name: str, *, monotonic: Callable[[], float],
                 depth: Callable[[], int]) -> None:
        self._monotonic = monotonic
        self._adds = families.adds.labels(name)
        self._retries = families.retries.labels(name)
        self._queue_duration = families.queue_duration.labels(name)
        self._work_duration = families.work_duration.labels(name)
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}
        # Gauges are computed at scrape time: exact, and no refresh task (client-go polls every 500 ms).
        families.depth.labels(name).set_function(lambda: float(depth()))
        families.unfinished_work.labels(name).set_function(self.unfinished_seconds)
        families.longest_running.labels(name).set_function(self.longest_running_seconds)

    def added(self, key: Hashable) -> None:
        """A key became dirty (a real add, not a duplicate)."""
        self._adds.inc()
        self._added_at.setdefault(key, self._monotonic())

    def started(self, key: Hashable) -> None:
        """A worker took the key: observe its time in the queue, start timing its work."""
        now = self._monotonic()
        added = self._added_at.pop(key, None)
        if added is not None:
            self._queue_duration.observe(now - added)
        self._started_at[key] = now

    def finished(self, key: Hashable) -> None:
        """The worker called done: observe how long the work took."""
        started = self._started_at.pop(key, None)
        if started is not None:
            self._work_duration.observe(self._monotonic() - started)

    def retried(self) -> None:
        self._retries.inc()

    def dropped(self) -> None:
        """The queue shut down and dropped its waiting keys: they will never be started."""
        self._added_at.clear()

    def unfinished_seconds(self) -> float:
        now = self._monotonic()
        return sum(now - started for started in self._started_at.values())

    def longest_running_seconds(self) -> float:
        now = self._monotonic()
        return max((now - started for started in self._started_at.values()), default=0.0)
