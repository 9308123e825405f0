"""service.rollout_metrics: the reference's Rollout metrics.

Aspects: the exact exposition of rollout_info, rollout_info_replicas_* and the deprecated rollout_phase for
a Rollout (names, help, labels, values); strategy and traffic_router labels (table, later routers win);
the metrics phase from conditions (table, InvalidSpec wins); replica defaults (no spec.replicas → 1, 0
kept); the source is read at every scrape; odd objects are skipped and a failing source gives no series,
never an error; reconcile histogram and error counter; events counter; forget drops a Rollout's series;
PlainCounter's label checks, increments, removal and registry conflicts.
"""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from service import rollout_metrics
from service.http import metrics


def _rollout(name: str = "web", *, replicas: int | None = 3, strategy: dict[str, Any] | None = None,
             status: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"strategy": strategy if strategy is not None else
                            {"canary": {"trafficRouting": {"alb": {"ingress": "web"}}}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"metadata": {"namespace": "shop", "name": name}, "spec": spec, "status": status or {}}


UNSERVED = (b"# HELP alb_rollouts_unserved_rollouts Rollouts of this instance whose strategy alb-rollouts "
            b"does not serve (left to the Argo Rollouts controller, never written to)\n"
            b"# TYPE alb_rollouts_unserved_rollouts gauge\nalb_rollouts_unserved_rollouts 0\n")
"""Always exposed (0 when every Rollout of the instance is served); the info families follow it."""


def _text(rollouts: list[dict[str, Any]]) -> str:
    registry = CollectorRegistry()
    rollout_metrics.RolloutMetrics(registry, rollouts=lambda: rollouts)
    return metrics.render(registry).decode()


def test_info_families_exact() -> None:
    status = {"replicas": 4, "availableReplicas": 3, "updatedReplicas": 1,
              "conditions": [{"type": "Progressing", "status": "True", "reason": "RolloutPaused"}]}
    assert _text([_rollout(status=status)]) == UNSERVED.decode() + (
        "# HELP rollout_info Information about rollout.\n"
        "# TYPE rollout_info gauge\n"
        'rollout_info{name="web",namespace="shop",phase="Paused",strategy="canary",traffic_router="ALB"} 1\n'
        "# HELP rollout_info_replicas_available The number of available replicas per rollout.\n"
        "# TYPE rollout_info_replicas_available gauge\n"
        'rollout_info_replicas_available{name="web",namespace="shop"} 3\n'
        "# HELP rollout_info_replicas_desired The number of desired replicas per rollout.\n"
        "# TYPE rollout_info_replicas_desired gauge\n"
        'rollout_info_replicas_desired{name="web",namespace="shop"} 3\n'
        "# HELP rollout_info_replicas_unavailable The number of unavailable replicas per rollout.\n"
        "# TYPE rollout_info_replicas_unavailable gauge\n"
        'rollout_info_replicas_unavailable{name="web",namespace="shop"} 1\n'
        "# HELP rollout_info_replicas_updated The number of updated replicas per rollout.\n"
        "# TYPE rollout_info_replicas_updated gauge\n"
        'rollout_info_replicas_updated{name="web",namespace="shop"} 1\n'
        "# HELP rollout_phase Information on the state of the rollout (DEPRECATED - use rollout_info)\n"
        "# TYPE rollout_phase gauge\n"
        'rollout_phase{name="web",namespace="shop",phase="Abort",strategy="canary"} 0\n'
        'rollout_phase{name="web",namespace="shop",phase="Completed",strategy="canary"} 0\n'
        'rollout_phase{name="web",namespace="shop",phase="Error",strategy="canary"} 0\n'
        'rollout_phase{name="web",namespace="shop",phase="Paused",strategy="canary"} 1\n'
        'rollout_phase{name="web",namespace="shop",phase="Progressing",strategy="canary"} 0\n'
        'rollout_phase{name="web",namespace="shop",phase="Timeout",strategy="canary"} 0\n'
    )


STRATEGIES = [
    pytest.param({"canary": {"trafficRouting": {"alb": {}}}}, ("canary", "ALB"), id="canary-alb"),
    pytest.param({"canary": {}}, ("canary", ""), id="canary-no-routing"),
    pytest.param({"canary": {"trafficRouting": {"alb": {}, "smi": {}}}}, ("canary", "SMI"), id="later-wins"),
    pytest.param({"canary": {"trafficRouting": {"nginx": {}, "istio": {}}}}, ("canary", "Nginx"),
                 id="nginx-after-istio"),
    pytest.param({"canary": {"trafficRouting": {"appMesh": {}, "ambassador": {}}}}, ("canary", "AppMesh"),
                 id="appmesh-last"),
    pytest.param({"canary": {"trafficRouting": {"plugins": {}}}}, ("canary", ""), id="unknown-router"),
    pytest.param({"blueGreen": {"activeService": "a"}}, ("blueGreen", ""), id="blue-green"),
    pytest.param({"blueGreen": {}, "canary": {}}, ("blueGreen", ""), id="blue-green-first"),
    pytest.param({}, ("none", ""), id="none"),
]


@pytest.mark.parametrize(("strategy", "labels"), STRATEGIES)
def test_strategy_and_traffic_router(strategy: dict[str, Any], labels: tuple[str, str]) -> None:
    assert rollout_metrics.strategy_and_traffic_router(_rollout(strategy=strategy)) == labels


PHASES = [
    pytest.param([], "Progressing", id="no-conditions"),
    pytest.param([{"type": "Progressing", "reason": "ReplicaSetUpdated"}], "Progressing", id="updated"),
    pytest.param([{"type": "Progressing", "reason": "NewReplicaSetAvailable"}], "Completed", id="completed"),
    pytest.param([{"type": "Progressing", "reason": "RolloutPaused"}], "Paused", id="paused"),
    pytest.param([{"type": "Progressing", "reason": "ReplicaSetCreateError"}], "Error", id="error"),
    pytest.param([{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}], "Timeout", id="timeout"),
    pytest.param([{"type": "Progressing", "reason": "RolloutAborted"}], "Abort", id="abort"),
    pytest.param([{"type": "Available", "reason": "RolloutAborted"}], "Progressing", id="other-type-ignored"),
    pytest.param([{"type": "Progressing", "reason": "RolloutAborted"}, {"type": "InvalidSpec"}],
                 "InvalidSpec", id="invalid-spec-wins"),
    pytest.param([{"type": "Progressing", "reason": "RolloutPaused"},
                  {"type": "Progressing", "reason": "RolloutAborted"}], "Paused", id="first-progressing"),
]


@pytest.mark.parametrize(("conditions", "phase"), PHASES)
def test_phase(conditions: list[dict[str, Any]], phase: str) -> None:
    assert rollout_metrics.rollout_phase(_rollout(status={"conditions": conditions})) == phase


def test_invalid_spec_sets_every_deprecated_phase_to_zero() -> None:
    text = _text([_rollout(status={"conditions": [{"type": "InvalidSpec"}]})])
    assert 'phase="InvalidSpec"' in text
    phases = [line for line in text.splitlines() if line.startswith("rollout_phase{")]
    assert [line.rsplit(" ", 1)[1] for line in phases] == ["0"] * 6


@pytest.mark.parametrize(("replicas", "desired"), [
    pytest.param(None, "1", id="unset-means-one"),
    pytest.param(0, "0", id="zero-kept"),
    pytest.param(7, "7", id="seven"),
])
def test_desired_replicas(replicas: int | None, desired: str) -> None:
    text = _text([_rollout(replicas=replicas)])
    assert f'rollout_info_replicas_desired{{name="web",namespace="shop"}} {desired}\n' in text


def test_source_is_read_at_every_scrape() -> None:
    registry = CollectorRegistry()
    cache: list[dict[str, Any]] = []
    rollout_metrics.RolloutMetrics(registry, rollouts=lambda: list(cache))
    assert metrics.render(registry) == UNSERVED
    cache.append(_rollout("a"))
    assert 'rollout_info{name="a"' in metrics.render(registry).decode()
    cache[:] = [_rollout("b")]
    text = metrics.render(registry).decode()
    assert 'rollout_info{name="b"' in text and 'name="a"' not in text


def test_odd_objects_are_skipped_not_fatal() -> None:
    odd = {"metadata": {"namespace": "shop", "name": "odd"}, "spec": {"replicas": "three"},
           "status": {"availableReplicas": True, "conditions": ["not-a-dict"]}}
    broken: Any = {"metadata": None, "spec": ["not", "a", "dict"], "status": 5}
    text = _text([odd, broken, _rollout("good")])
    assert 'rollout_info_replicas_desired{name="odd",namespace="shop"} 0\n' in text
    assert 'rollout_info_replicas_available{name="odd",namespace="shop"} 0\n' in text
    nameless = 'rollout_info{name="",namespace="",phase="Progressing",strategy="none",traffic_router=""} 1\n'
    assert nameless in text
    assert 'rollout_info{name="good"' in text


def test_an_object_that_breaks_the_collector_is_skipped() -> None:
    class Exploding(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("boom")

    text = _text([Exploding(), _rollout("good")])
    assert text.count("rollout_info{") == 1 and 'name="good"' in text


def test_failing_source_gives_no_series() -> None:
    def failing() -> list[dict[str, Any]]:
        raise RuntimeError("cache not ready")

    registry = CollectorRegistry()
    rollout_metrics.RolloutMetrics(registry, rollouts=failing)
    assert metrics.render(registry) == UNSERVED


def test_reconcile_histogram_error_counter_and_events() -> None:
    registry = CollectorRegistry()
    recorder = rollout_metrics.RolloutMetrics(registry)
    recorder.observe_reconcile("shop", "web", 0.3)
    recorder.observe_reconcile("shop", "web", 2.0, failed=True)
    recorder.count_event("shop", "web", "Normal", "TrafficWeightUpdated")
    recorder.count_event("shop", "web", "Normal", "TrafficWeightUpdated")
    recorder.count_event("shop", "web", "Warning", "TargetGroupUnverified")
    text = metrics.render(registry).decode()
    assert 'rollout_reconcile_bucket{name="web",namespace="shop",le="0.5"} 1\n' in text
    assert 'rollout_reconcile_bucket{name="web",namespace="shop",le="+Inf"} 2\n' in text
    assert 'rollout_reconcile_sum{name="web",namespace="shop"} 2.3\n' in text
    assert 'rollout_reconcile_error{name="web",namespace="shop"} 1\n' in text
    events = 'rollout_events_total{name="web",namespace="shop",'
    assert f'{events}reason="TrafficWeightUpdated",type="Normal"}} 2\n' in text
    assert f'{events}reason="TargetGroupUnverified",type="Warning"}} 1\n' in text


def test_forget_drops_the_rollouts_series() -> None:
    registry = CollectorRegistry()
    recorder = rollout_metrics.RolloutMetrics(registry)
    for name in ("gone", "kept"):
        recorder.observe_reconcile("shop", name, 0.1, failed=True)
        recorder.count_event("shop", name, "Normal", "RolloutCompleted")
    recorder.forget("shop", "gone")
    recorder.forget("shop", "never-seen")
    text = metrics.render(registry).decode()
    assert 'name="gone"' not in text
    assert text.count('name="kept"') == 10  # 6 buckets, sum, count, error, event


def test_plain_counter() -> None:
    registry = CollectorRegistry()
    counter = rollout_metrics.PlainCounter("x_error", "Errors", ["namespace", "name"], registry=registry)
    counter.labels("ns", "a").inc()
    counter.labels("ns", "a").inc(0.5)
    assert counter.value("ns", "a") == 1.5
    assert counter.value("ns", "b") == 0.0
    expected = r"^x_error: expected labels \('namespace', 'name'\), got \('ns',\)$"
    with pytest.raises(ValueError, match=expected):
        counter.labels("ns")
    with pytest.raises(ValueError, match=r"^a counter only goes up$"):
        counter.labels("ns", "a").inc(-1)
    counter.remove("ns", "a")
    counter.remove("ns", "never")  # unknown series: nothing to do
    assert metrics.render(registry) == b""


def test_plain_counter_name_conflicts_are_refused() -> None:
    registry = CollectorRegistry()
    rollout_metrics.PlainCounter("dup", "first", [], registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        rollout_metrics.PlainCounter("dup", "second", [], registry=registry)
