"""service.http.metrics: the Go-compatible text exposition.

Aspects: floats written as Go's strconv 'g' shortest form (table, incl. exponents, infinities, NaN and -0);
a whole registry rendered byte for byte as client_golang would (families sorted by name, empty families
left out, no `_created` series, counters keep `_total`, a PlainCounter has none, histogram buckets with Go
`le` values before _sum and _count, series sorted by label values, `le` last); HELP and label escaping;
info, summary and untyped families.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, Summary
from prometheus_client.metrics_core import Metric, UnknownMetricFamily
from prometheus_client.registry import Collector

from service import rollout_metrics
from service.http import metrics

GO_FLOATS = [
    pytest.param(1.0, "1", id="one"),
    pytest.param(0.0, "0", id="zero"),
    pytest.param(-0.0, "0", id="negative-zero"),
    pytest.param(-1.0, "-1", id="minus-one"),
    pytest.param(0.01, "0.01", id="bucket-0.01"),
    pytest.param(0.15, "0.15", id="bucket-0.15"),
    pytest.param(0.25, "0.25", id="bucket-0.25"),
    pytest.param(2.5, "2.5", id="fraction"),
    pytest.param(100.0, "100", id="hundred"),
    pytest.param(123456.0, "123456", id="six-digits"),
    pytest.param(1e6, "1e+06", id="million"),
    pytest.param(1234567.0, "1.234567e+06", id="seven-digits"),
    pytest.param(1.7957e9, "1.7957e+09", id="timestamp-like"),
    pytest.param(1e21, "1e+21", id="huge"),
    pytest.param(0.0001, "0.0001", id="ten-thousandth"),
    pytest.param(1e-5, "1e-05", id="small"),
    pytest.param(1e-8, "1e-08", id="workqueue-bucket"),
    pytest.param(-2.5e-7, "-2.5e-07", id="negative-small"),
    pytest.param(1 / 3, "0.3333333333333333", id="third"),
    pytest.param(float("inf"), "+Inf", id="plus-inf"),
    pytest.param(float("-inf"), "-Inf", id="minus-inf"),
    pytest.param(float("nan"), "NaN", id="nan"),
]


@pytest.mark.parametrize(("value", "text"), GO_FLOATS)
def test_go_float(value: float, text: str) -> None:
    assert metrics.go_float(value) == text


def test_registry_renders_like_client_golang() -> None:
    registry = CollectorRegistry()
    errors = rollout_metrics.PlainCounter("rollout_reconcile_error", "Error occurring during the rollout",
                                          ["namespace", "name"], registry=registry)
    errors.labels("ns", "web").inc()
    errors.labels("ns", "api").inc(2)
    events = Counter("rollout_events_total", "Count of rollout events",
                     ["namespace", "name", "type", "reason"], registry=registry)
    events.labels("ns", "web", "Normal", "RolloutCompleted").inc()
    reconcile = Histogram("rollout_reconcile", "Rollout reconciliation performance.", ["namespace", "name"],
                          buckets=[0.01, 0.15, 0.25, 0.5, 1], registry=registry)
    reconcile.labels("ns", "web").observe(0.2)
    Gauge("aaa_empty", "never set", ["x"], registry=registry)
    assert metrics.render(registry).decode() == (
        "# HELP rollout_events_total Count of rollout events\n"
        "# TYPE rollout_events_total counter\n"
        'rollout_events_total{name="web",namespace="ns",reason="RolloutCompleted",type="Normal"} 1\n'
        "# HELP rollout_reconcile Rollout reconciliation performance.\n"
        "# TYPE rollout_reconcile histogram\n"
        'rollout_reconcile_bucket{name="web",namespace="ns",le="0.01"} 0\n'
        'rollout_reconcile_bucket{name="web",namespace="ns",le="0.15"} 0\n'
        'rollout_reconcile_bucket{name="web",namespace="ns",le="0.25"} 1\n'
        'rollout_reconcile_bucket{name="web",namespace="ns",le="0.5"} 1\n'
        'rollout_reconcile_bucket{name="web",namespace="ns",le="1"} 1\n'
        'rollout_reconcile_bucket{name="web",namespace="ns",le="+Inf"} 1\n'
        'rollout_reconcile_sum{name="web",namespace="ns"} 0.2\n'
        'rollout_reconcile_count{name="web",namespace="ns"} 1\n'
        "# HELP rollout_reconcile_error Error occurring during the rollout\n"
        "# TYPE rollout_reconcile_error counter\n"
        'rollout_reconcile_error{name="api",namespace="ns"} 2\n'
        'rollout_reconcile_error{name="web",namespace="ns"} 1\n'
    )


def test_histogram_series_sorted_by_label_values() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("h", "h", ["name"], buckets=[1], registry=registry)
    histogram.labels("b").observe(2)
    histogram.labels("a").observe(0.5)
    lines = [line for line in metrics.render(registry).decode().splitlines() if not line.startswith("#")]
    assert lines == [
        'h_bucket{name="a",le="1"} 1', 'h_bucket{name="a",le="+Inf"} 1', 'h_sum{name="a"} 0.5',
        'h_count{name="a"} 1',
        'h_bucket{name="b",le="1"} 0', 'h_bucket{name="b",le="+Inf"} 1', 'h_sum{name="b"} 2',
        'h_count{name="b"} 1',
    ]


def test_escaping() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("escaped", 'help with \\ and\nnewline and "quotes"', ["v"], registry=registry)
    gauge.labels('a\\b"c\nd').set(1)
    assert metrics.render(registry).decode() == (
        '# HELP escaped help with \\\\ and\\nnewline and "quotes"\n'
        "# TYPE escaped gauge\n"
        'escaped{v="a\\\\b\\"c\\nd"} 1\n'
    )


def test_info_summary_and_untyped() -> None:
    registry = CollectorRegistry()
    Info("build", "Build information", registry=registry).info({"version": "v1"})
    summary = Summary("latency_seconds", "Latency", registry=registry)
    summary.observe(0.5)

    class Untyped(Collector):
        def collect(self) -> list[Metric]:
            family = UnknownMetricFamily("legacy", "Legacy value")
            family.add_metric([], 3)
            return [family]

    registry.register(Untyped())
    assert metrics.render(registry).decode() == (
        "# HELP build_info Build information\n# TYPE build_info gauge\nbuild_info{version=\"v1\"} 1\n"
        "# HELP latency_seconds Latency\n# TYPE latency_seconds summary\n"
        "latency_seconds_sum 0.5\nlatency_seconds_count 1\n"
        "# HELP legacy Legacy value\n# TYPE legacy untyped\nlegacy 3\n"
    )


def test_timestamps_are_milliseconds() -> None:
    registry = CollectorRegistry()

    class Stamped(Collector):
        def collect(self) -> list[Metric]:
            family = UnknownMetricFamily("stamped", "x")
            family.add_metric([], 1, timestamp=12.5)
            return [family]

    registry.register(Stamped())
    assert metrics.render(registry).decode().splitlines()[-1] == "stamped 1 12500"


def test_empty_registry_renders_nothing() -> None:
    assert metrics.render(CollectorRegistry()) == b""
