"""The reference's Rollout metrics, registered on an injected CollectorRegistry.

Room: serve (metrics). Names, help texts, labels and buckets are argo-rollouts' (controller/metrics/
prommetrics.go and rollouts.go) so existing dashboards keep working: `rollout_info` and
`rollout_info_replicas_*` are gauges computed at scrape time from the Rollouts the informer cache holds
(plus the deprecated `rollout_phase`), `rollout_reconcile` is a histogram, `rollout_reconcile_error` and
`rollout_events_total` are counters (`PlainCounter`: no `_total`, as the reference names the error counter).
Scraping never raises: a Rollout it cannot read is skipped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["PHASES", "RECONCILE_BUCKETS", "TRAFFIC_WAIT_BUCKETS", "PlainCounter", "RolloutInfoCollector",
           "RolloutMetrics",
           "rollout_phase", "strategy_and_traffic_router"]

log = structlog.get_logger(__name__)

RECONCILE_BUCKETS = (0.01, 0.15, 0.25, 0.5, 1.0)
"""DefaultReconcileHistogramBuckets, in seconds."""
PHASES = ("Completed", "Progressing", "Paused", "Timeout", "Error", "Abort")
"""The phases `rollout_phase` has one series each for, in the reference's order."""
_NAMESPACE_NAME = ("namespace", "name")
# Reason of the Progressing condition -> metrics phase (calculatePhase); InvalidSpec wins over all.
_PROGRESSING_PHASES = {
    "NewReplicaSetAvailable": "Completed",
    "RolloutPaused": "Paused",
    "ReplicaSetCreateError": "Error",
    "ProgressDeadlineExceeded": "Timeout",
    "RolloutAborted": "Abort",
}
# Later entries win, as in getStrategyAndTrafficRouter.
_TRAFFIC_ROUTERS = (("alb", "ALB"), ("ambassador", "Ambassador"), ("istio", "Istio"), ("nginx", "Nginx"),
                    ("smi", "SMI"), ("appMesh", "AppMesh"))

RolloutSource = Callable[[], Iterable[Mapping[str, Any]]]
"""Returns the raw Rollouts the controller currently knows (its cache); read at every scrape."""


class PlainCounter(Collector):
    """A labelled counter exposed under its own name, with no `_total` (the reference's `*_error` ones)."""

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str], *,
                 registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._values: dict[tuple[str, ...], float] = {}
        registry.register(self)

    def labels(self, *values: str) -> _PlainChild:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
        return _PlainChild(self, tuple(str(v) for v in values))

    def value(self, *values: str) -> float:
        return self._values.get(tuple(values), 0.0)

    def remove(self, *values: str) -> None:
        """Forget one series (its object is gone), as CounterVec.DeleteLabelValues does."""
        self._values.pop(tuple(values), None)

    def collect(self) -> Iterable[Metric]:
        metric = Metric(self.name, self.documentation, "counter")
        for key, value in self._values.items():
            metric.add_sample(self.name, dict(zip(self.labelnames, key, strict=True)), value)
        return [metric]

    def describe(self) -> Iterable[Metric]:
        return [Metric(self.name, self.documentation, "counter")]


class _PlainChild:
    __slots__ = ("_key", "_parent")

    def __init__(self, parent: PlainCounter, key: tuple[str, ...]) -> None:
        self._parent = parent
        self._key = key

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        values = self._parent._values
        values[self._key] = values.get(self._key, 0.0) + amount


TRAFFIC_WAIT_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class RolloutMetrics:
    """Reconcile timing, reconcile errors and events, per Rollout; plus the scrape-time info gauges."""

    def __init__(self, registry: CollectorRegistry, *, rollouts: RolloutSource | None = None) -> None:
        self.reconcile = Histogram(
            "rollout_reconcile", "Rollout reconciliation performance.", _NAMESPACE_NAME,
            buckets=RECONCILE_BUCKETS, registry=registry,
        )
        self.reconcile_error = PlainCounter(
            "rollout_reconcile_error", "Error occurring during the rollout", _NAMESPACE_NAME,
            registry=registry,
        )
        self.events = Counter(
            "rollout_events_total", "Count of rollout events", (*_NAMESPACE_NAME, "type", "reason"),
            registry=registry,
        )
        self.illegal_transitions = Counter(
            "rollout_illegal_transitions", "Triggers the state machine refused (a planner bug; the model is "
            "rebuilt from status)", ("trigger", "source"), registry=registry,
        )
        self.traffic_wait = Histogram(
            "rollout_traffic_target_wait_seconds", "Seconds traffic waited for a target group to serve the "
            "pods it should before weight moved onto it", _NAMESPACE_NAME, buckets=TRAFFIC_WAIT_BUCKETS,
            registry=registry,
        )
        self.unserved = Gauge(
            "alb_rollouts_unserved_rollouts", "Rollouts of this instance whose strategy alb-rollouts does "
            "not serve (left to the Argo Rollouts controller, never written to)", registry=registry,
        )
        self.info = RolloutInfoCollector(rollouts or (lambda: ()), registry=registry)
        self._event_labels: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def observe_reconcile(self, namespace: str, name: str, seconds: float, *, failed: bool = False) -> None:
        """One reconcile of namespace/name took `seconds`; `failed` also counts a reconcile error."""
        self.reconcile.labels(namespace, name).observe(seconds)
        if failed:
            self.reconcile_error.labels(namespace, name).inc()

    def count_event(self, namespace: str, name: str, event_type: str, reason: str) -> None:
        """An Event (type Normal or Warning) was recorded for the Rollout."""
        self.events.labels(namespace, name, event_type, reason).inc()
        self._event_labels.setdefault((namespace, name), set()).add((event_type, reason))

    def illegal_transition(self, trigger: str, source: str) -> None:
        """The machine refused `trigger` from `source` (`rollout_illegal_transitions_total`)."""
        self.illegal_transitions.labels(trigger or "none", source).inc()

    def forget(self, namespace: str, name: str) -> None:
        """Drop the series of a deleted Rollout (the reference does so after its cleanup delay)."""
        with contextlib.suppress(KeyError):
            self.reconcile.remove(namespace, name)
        with contextlib.suppress(KeyError):
            self.traffic_wait.remove(namespace, name)
        self.reconcile_error.remove(namespace, name)
        for event_type, reason in self._event_labels.pop((namespace, name), set()):
            with contextlib.suppress(KeyError):
                self.events.remove(namespace, name, event_type, reason)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def strategy_and_traffic_router(rollout: Mapping[str, Any]) -> tuple[str, str]:
    """("canary"|"blueGreen"|"none", traffic router name or "") as the reference labels them."""
    strategy = _dict(_dict(rollout.get("spec")).get("strategy"))
    if strategy.get("blueGreen") is not None:
        return "blueGreen", ""
    canary = strategy.get("canary")
    if canary is None:
        return "none", ""
    routing = _dict(_dict(canary).get("trafficRouting"))
    router = ""
    for key, label in _TRAFFIC_ROUTERS:
        if routing.get(key) is not None:
            router = label
    return "canary", router


def rollout_phase(rollout: Mapping[str, Any]) -> str:
    """The metrics phase (calculatePhase): from the Progressing condition's reason; InvalidSpec wins."""
    conditions = [c for c in _dict(rollout.get("status")).get("conditions") or () if isinstance(c, Mapping)]
    if any(c.get("type") == "InvalidSpec" for c in conditions):
        return "InvalidSpec"
    progressing = next((c for c in conditions if c.get("type") == "Progressing"), None)
    if progressing is None:
        return "Progressing"
    return _PROGRESSING_PHASES.get(str(progressing.get("reason", "")), "Progressing")


class RolloutInfoCollector(Collector):
    """`rollout_info`, `rollout_info_replicas_*` and the deprecated `rollout_phase`, read from `source`."""

    def __init__(self, source: RolloutSource, *, registry: CollectorRegistry) -> None:
        self._source = source
        registry.register(self)

    def _families(self) -> dict[str, GaugeMetricFamily]:
        def gauge(name: str, documentation: str, *extra: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, documentation, labels=(*_NAMESPACE_NAME, *extra))

        return {
            "info": gauge("rollout_info", "Information about rollout.",
                          "strategy", "traffic_router", "phase"),
            "available": gauge("rollout_info_replicas_available",
                               "The number of available replicas per rollout."),
            "unavailable": gauge("rollout_info_replicas_unavailable",
                                 "The number of unavailable replicas per rollout."),
            "desired": gauge("rollout_info_replicas_desired", "The number of desired replicas per rollout."),
            "updated": gauge("rollout_info_replicas_updated", "The number of updated replicas per rollout."),
            "phase": gauge("rollout_phase",
                           "Information on the state of the rollout (DEPRECATED - use rollout_info)",
                           "strategy", "phase"),
        }

    def describe(self) -> Iterable[Metric]:
        return list(self._families().values())

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        try:
            rollouts = list(self._source())
        except Exception:  # a scrape must answer even when the cache cannot be read
            log.exception("rollout metrics: cannot list rollouts")
            rollouts = []
        for rollout in rollouts:
            try:
                self._add(families, rollout)
            except Exception:  # one odd object never costs the others their series
                log.warning("rollout metrics: rollout skipped", exc_info=True)
        return list(families.values())

    @staticmethod
    def _add(families: dict[str, GaugeMetricFamily], rollout: Mapping[str, Any]) -> None:
        meta, spec, status = (_dict(rollout.get(key)) for key in ("metadata", "spec", "status"))
        key = [str(meta.get("namespace", "")), str(meta.get("name", ""))]
        strategy, router = strategy_and_traffic_router(rollout)
        phase = rollout_phase(rollout)
        replicas = spec.get("replicas")
        available = _int(status.get("availableReplicas"))
        families["info"].add_metric([*key, strategy, router, phase], 1)
        families["available"].add_metric(key, available)
        families["unavailable"].add_metric(key, _int(status.get("replicas")) - available)
        families["desired"].add_metric(key, 1 if replicas is None else _int(replicas))
        families["updated"].add_metric(key, _int(status.get("updatedReplicas")))
        for each in PHASES:
            families["phase"].add_metric([*key, strategy, each], 1 if phase == each else 0)
