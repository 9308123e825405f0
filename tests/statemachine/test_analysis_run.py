"""The AnalysisRun engine (analysis_run, analysis_assess) and the status it writes (analysis_status).

Aspects, each with a stepped clock and the status written back as raw between reconciles: interval (due at
its end, not before; the requeue time), count (stops, run Successful), initialDelay (from startedAt, which
the first reconcile sets), failureLimit, inconclusiveLimit, consecutiveErrorLimit (default 4, errors retry
after 10s, a success resets the streak), consecutiveSuccessLimit; success/failure conditions through
`measurement_from_result`; dry-run metrics (never fail the run, their summary and message); the worst metric
decides and a failing metric stops the others; measurementRetention and the default 10 kept; terminate
(Run Terminated, an in-flight measurement stopped with "Metric Terminated"); run-ending errors (missing
argument, unresolved template, missing Secret or key, invalid spec, wrong shape) and secret redaction;
events; the exact raw status shape and its round trip; a completed run is left alone; ttlStrategy expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statemachine import analysis_run, analysis_status
from statemachine.analysis_run import Outcome, Task, Tasks
from statemachine.analysis_status import Measurement
from statemachine.events import Event

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
WEB = {"web": {"url": "http://metrics.local/{{args.service}}"}}
Phase = str | Measurement | Callable[[Task, datetime], Measurement]


def metric(name: str = "m", **fields: Any) -> dict[str, Any]:
    return {"name": name, "provider": WEB, **fields}


def after(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Sim:
    """An AnalysisRun reconciled like the service does: due, measure, record, write the status back."""

    raw: dict[str, Any]
    measured: list[tuple[datetime, str]] = field(default_factory=list)

    @classmethod
    def of(cls, *metrics: dict[str, Any], **spec: Any) -> Sim:
        spec.setdefault("args", [{"name": "service", "value": "api"}])
        return cls({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
                    "metadata": {"name": "run", "namespace": "prod"},
                    "spec": {"metrics": list(metrics), **spec}, "status": {}})

    def reconcile(self, now: datetime, phases: Mapping[str, Phase] | None = None,
                  secrets: Any = None) -> tuple[Tasks, Outcome]:
        run = analysis_run.load(self.raw)
        tasks = analysis_run.due(run, now, secrets)
        outcome = tasks.outcome
        if outcome is None:
            taken = {}
            for task in tasks.tasks:
                self.measured.append((now, task.metric.name))
                phase = (phases or {}).get(task.metric.name, "Successful")
                taken[task.metric.name] = phase(task, now) if callable(phase) else _measure(phase, now)
            outcome = analysis_run.record(run, taken, now, redact=tasks.redact)
        self.raw["status"] = analysis_status.render_status(outcome.status)
        return tasks, outcome

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.raw["status"]
        return status

    def result(self, name: str = "m") -> dict[str, Any]:
        return next(r for r in self.status["metricResults"] if r["name"] == name)

    def times(self, name: str = "m") -> list[float]:
        return [(at - T0).total_seconds() for at, measured in self.measured if measured == name]


def _measure(phase: str | Measurement, now: datetime) -> Measurement:
    if isinstance(phase, Measurement):
        return phase
    return Measurement(phase, "1", "boom" if phase == "Error" else "", now, now)


# --- when measurements are due -------------------------------------------------------------------


def test_interval_is_due_at_its_end_and_requeues_there() -> None:
    sim = Sim.of(metric(interval="30s"))
    tasks, outcome = sim.reconcile(T0)
    assert [t.metric.name for t in tasks.tasks] == ["m"]
    assert outcome.next_at == after(30)
    for seconds in (10, 29, 30, 45, 59, 60):
        sim.reconcile(after(seconds))
    assert sim.times() == [0, 30, 60]
    assert sim.status["phase"] == "Running"
    assert sim.result()["count"] == 3


def test_count_stops_the_metric_and_completes_the_run() -> None:
    sim = Sim.of(metric(interval="1m", count=3))
    for seconds in range(0, 400, 20):
        _, outcome = sim.reconcile(after(seconds))
    assert sim.times() == [0, 60, 120]
    assert (sim.status["phase"], sim.result()["phase"]) == ("Successful", "Successful")
    assert "message" not in sim.status
    assert sim.status["completedAt"] == "2026-11-26T12:02:00Z"
    assert outcome.next_at is None


def test_one_measurement_without_interval_or_count() -> None:
    sim = Sim.of(metric())
    _, outcome = sim.reconcile(T0)
    assert sim.status["phase"] == "Successful"
    assert outcome.next_at is None
    tasks, _ = sim.reconcile(after(60))
    assert tasks == Tasks()


def test_initial_delay_counts_from_the_first_reconcile() -> None:
    sim = Sim.of(metric("slow", initialDelay="2m", interval="1m"), metric("fast", count=1))
    tasks, outcome = sim.reconcile(T0)
    assert [t.metric.name for t in tasks.tasks] == ["fast"]
    assert sim.status["startedAt"] == "2026-11-26T12:00:00Z"
    assert outcome.next_at == after(120)
    assert sim.status["phase"] == "Running"  # "slow" has not started
    for seconds in (60, 119, 120, 150, 180):
        sim.reconcile(after(seconds))
    assert sim.times("slow") == [120, 180]
    assert sim.times("fast") == [0]


def test_initial_delay_waits_for_started_at() -> None:
    sim = Sim.of(metric(initialDelay="10s"))
    tasks, outcome = sim.reconcile(T0)
    assert tasks.tasks == ()
    assert outcome.next_at == after(10)
    assert outcome.status.phase == "Running"
    assert [r["name"] for r in sim.status.get("metricResults", [])] == []


# --- limits ----------------------------------------------------------------------------------------


def test_failure_limit() -> None:
    sim = Sim.of(metric(interval="10s", failureLimit=1))
    sim.reconcile(T0, {"m": "Failed"})
    assert (sim.status["phase"], sim.result()["phase"], sim.result()["failed"]) == ("Running", "Running", 1)
    _, outcome = sim.reconcile(after(10), {"m": "Failed"})
    assert (sim.status["phase"], sim.result()["phase"]) == ("Failed", "Failed")
    assert sim.status["message"] == 'Metric "m" assessed Failed due to failed (2) > failureLimit (1)'
    assert outcome.events == (Event("Warning", "MetricFailed", "Metric 'm' Completed. Result: Failed"),
                              Event("Warning", "AnalysisRunFailed", "Analysis Completed. Result: Failed"))
    assert sim.status["runSummary"] == {"count": 1, "failed": 1}


def test_failure_limit_minus_one_with_success_limit() -> None:
    sim = Sim.of(metric(interval="10s", count=3, failureLimit=-1, consecutiveSuccessLimit=2))
    for seconds, phase in ((0, "Successful"), (10, "Failed"), (20, "Successful")):
        sim.reconcile(after(seconds), {"m": phase})
    assert (sim.result()["phase"], sim.status["phase"]) == ("Failed", "Failed")
    assert "message" not in sim.status  # no limit was broken: the reference gives no reason


@pytest.mark.parametrize(("phases", "metric_phase"), [
    pytest.param(["Successful", "Successful"], "Successful", id="streak-reached"),
    pytest.param(["Successful", "Failed", "Successful"], "Inconclusive", id="count-without-streak"),
])
def test_consecutive_success_limit(phases: list[str], metric_phase: str) -> None:
    sim = Sim.of(metric(interval="10s", count=3, failureLimit=1, consecutiveSuccessLimit=2))
    for index, phase in enumerate(phases):
        sim.reconcile(after(10 * index), {"m": phase})
    assert sim.result()["phase"] == metric_phase
    assert sim.status["phase"] == metric_phase


def test_inconclusive_limit() -> None:
    sim = Sim.of(metric(interval="10s", inconclusiveLimit=1))
    sim.reconcile(T0, {"m": "Inconclusive"})
    assert sim.status["phase"] == "Running"
    sim.reconcile(after(10), {"m": "Inconclusive"})
    assert sim.status["phase"] == "Inconclusive"
    assert sim.status["message"] == ('Metric "m" assessed Inconclusive due to inconclusive (2) > '
                                     "inconclusiveLimit (1)")
    assert sim.status["runSummary"] == {"count": 1, "inconclusive": 1}


def test_errors_retry_after_10s_and_the_default_limit_is_4() -> None:
    sim = Sim.of(metric(interval="5m"))
    for seconds in range(0, 60, 5):
        sim.reconcile(after(seconds), {"m": "Error"})
    assert sim.times() == [0, 10, 20, 30, 40]
    assert sim.result()["consecutiveError"] == 5
    assert (sim.result()["phase"], sim.result()["message"]) == ("Error", "boom")
    assert sim.status["phase"] == "Error"
    assert sim.status["message"] == ('Metric "m" assessed Error due to consecutiveErrors (5) > '
                                     'consecutiveErrorLimit (4): "Error Message: boom"')
    assert "count" not in sim.result()  # errors are not measurements that count


def test_a_success_resets_the_error_streak() -> None:
    sim = Sim.of(metric(interval="1m", consecutiveErrorLimit=1))
    _, outcome = sim.reconcile(T0, {"m": "Error"})
    assert outcome.next_at == after(10)  # an error is retried after 10s, not after the interval
    _, outcome = sim.reconcile(after(10), {"m": "Successful"})
    assert outcome.next_at == after(70)
    sim.reconcile(after(70), {"m": "Error"})
    result = sim.result()
    assert (result["error"], result["consecutiveError"], result["phase"]) == (2, 1, "Running")
    sim.reconcile(after(80), {"m": "Error"})
    assert sim.status["phase"] == "Error"


# --- conditions --------------------------------------------------------------------------------------


def _from_result(value: object) -> Callable[[Task, datetime], Measurement]:
    def measure(task: Task, now: datetime) -> Measurement:
        return analysis_run.measurement_from_result(task.metric, value, str(value), now, now)
    return measure


@pytest.mark.parametrize(("value", "phase", "message"), [
    pytest.param([0.01], "Successful", "", id="success"),
    pytest.param([0.5], "Failed", 'Metric "m" assessed Failed due to failed (1) > failureLimit (0)',
                 id="failure"),
    pytest.param([0.1], "Inconclusive", 'Metric "m" assessed Inconclusive due to inconclusive (1) > '
                 "inconclusiveLimit (0)", id="neither"),
])
def test_conditions_decide_the_phase(value: object, phase: str, message: str) -> None:
    sim = Sim.of(metric(successCondition="result[0] < 0.05", failureCondition="result[0] > 0.2"))
    sim.reconcile(T0, {"m": _from_result(value)})
    assert (sim.result()["phase"], sim.status["phase"]) == (phase, phase)
    assert sim.status.get("message", "") == message
    assert sim.result()["measurements"][0]["value"] == str(value)


def test_a_condition_that_fails_to_evaluate_is_an_error_measurement() -> None:
    resolved = analysis_run.load(Sim.of(metric(successCondition="result.rate > 1")).raw).spec.metrics[0]
    taken = analysis_run.measurement_from_result(resolved, "text", "text", T0, T0)
    assert (taken.phase, taken.value) == ("Error", "")
    assert taken.message
    plain = analysis_run.load(Sim.of(metric()).raw).spec.metrics[0]
    assert analysis_run.measurement_from_result(plain, None, "", T0, T0).phase == "Successful"


# --- dry-run, several metrics, retention ----------------------------------------------------------


def test_dry_run_metrics_never_fail_the_run() -> None:
    sim = Sim.of(metric("shadow", interval="10s", count=2), metric("real"), dryRun=[{"metricName": "sha"}])
    sim.reconcile(T0, {"shadow": "Failed"})
    assert sim.result("shadow")["phase"] == "Failed"
    assert sim.result("shadow")["dryRun"] is True
    assert sim.result("shadow")["message"] == "Metric assessed Failed due to failed (1) > failureLimit (0)"
    assert sim.status["phase"] == "Successful"  # a failed dry-run metric does not terminate the others
    assert sim.status["runSummary"] == {"count": 1, "successful": 1}
    assert sim.status["dryRunSummary"] == {"count": 1, "failed": 1}


def test_the_worst_metric_decides_and_a_failure_stops_the_rest() -> None:
    sim = Sim.of(metric("a", interval="10s"), metric("b", interval="10s", count=5), metric("c"))
    sim.reconcile(T0, {"c": "Inconclusive"})
    assert sim.status["phase"] == "Running"  # "c" ended badly, which terminates the run next time
    tasks, _ = sim.reconcile(after(10))
    assert tasks.tasks == ()
    assert sim.status["phase"] == "Inconclusive"
    assert sim.status["message"] == ('Metric "c" assessed Inconclusive due to inconclusive (1) > '
                                     "inconclusiveLimit (0)")
    assert (sim.result("a")["phase"], sim.result("b")["phase"]) == ("Successful", "Successful")
    assert sim.status["runSummary"] == {"count": 3, "successful": 2, "inconclusive": 1}


def test_the_run_runs_until_every_metric_completes() -> None:
    sim = Sim.of(metric("a"), metric("b", interval="10s", count=2))
    sim.reconcile(T0)
    assert (sim.result("a")["phase"], sim.status["phase"]) == ("Successful", "Running")
    sim.reconcile(after(10))
    assert sim.status["phase"] == "Successful"
    assert sim.status["runSummary"] == {"count": 2, "successful": 2}


@pytest.mark.parametrize(("retention", "kept"), [
    pytest.param([], 10, id="default-10"),
    pytest.param([{"metricName": "m", "limit": 3}], 3, id="rule"),
    pytest.param([{"metricName": "m", "limit": 0}], 10, id="zero-is-default"),
])
def test_measurement_retention(retention: list[dict[str, Any]], kept: int) -> None:
    sim = Sim.of(metric(interval="1s"), measurementRetention=retention)
    for second in range(12):
        sim.reconcile(after(second))
    measurements = sim.result()["measurements"]
    assert len(measurements) == kept
    assert measurements[-1]["startedAt"] == "2026-11-26T12:00:11Z"
    assert sim.result()["count"] == 12


# --- terminate -------------------------------------------------------------------------------------


def test_terminate_before_any_measurement() -> None:
    sim = Sim.of(metric(initialDelay="1h"), terminate=True)
    tasks, outcome = sim.reconcile(T0)
    assert tasks.tasks == ()
    assert (sim.status["phase"], sim.status["message"]) == ("Successful", "Run Terminated")
    assert outcome.events == (
        Event("Normal", "AnalysisRunSuccessful", "Analysis Completed. Result: Successful"),)


def test_terminate_an_indefinite_metric() -> None:
    sim = Sim.of(metric(interval="10s"))
    sim.reconcile(T0)
    sim.raw["spec"]["terminate"] = True
    tasks, _ = sim.reconcile(after(10))
    assert tasks.tasks == ()
    assert (sim.result()["phase"], sim.status["phase"], sim.status["message"]) == (
        "Successful", "Successful", "Run Terminated")


def test_terminate_stops_an_in_flight_measurement() -> None:
    sim = Sim.of(metric(interval="10s"))
    started = Measurement("Running", started_at=T0, resume_at=after(60))
    sim.reconcile(T0, {"m": started})
    assert sim.result()["measurements"] == [{"phase": "Running", "startedAt": "2026-11-26T12:00:00Z",
                                             "resumeAt": "2026-11-26T12:01:00Z"}]
    tasks, outcome = sim.reconcile(after(30))
    assert tasks.tasks == ()  # resumed at its resumeAt
    assert outcome.next_at == after(60)
    sim.raw["spec"]["terminate"] = True
    tasks, _ = sim.reconcile(after(40), {"m": Measurement("Successful", "7", "", T0, after(40))})
    assert [(t.resume, t.terminating) for t in tasks.tasks] == [(started, True)]
    assert sim.result()["measurements"] == [{"phase": "Successful", "message": "Metric Terminated",
                                             "startedAt": "2026-11-26T12:00:00Z",
                                             "finishedAt": "2026-11-26T12:00:40Z", "value": "7"}]
    assert sim.status["phase"] == "Successful"


# --- run-ending errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "message"), [
    pytest.param({"args": [{"name": "service"}]},
                 'Unable to resolve metric arguments: argument "service" was not supplied',
                 id="arg-no-value"),
    pytest.param({"args": []}, "Unable to resolve metric arguments: failed to resolve {{args.service}}",
                 id="unresolved"),
    pytest.param({"metrics": [metric(count=2)]},
                 "Analysis spec invalid: metrics[0]: interval must be specified when count > 1",
                 id="invalid"),
    pytest.param({"metrics": [{"name": "m", "provider": {"datadog": {}}}]},
                 'Analysis spec invalid: metrics[0] (m): provider "datadog" is not supported by alb-rollouts '
                 "(supported: alb, cloudWatch, prometheus, web)", id="unsupported"),
    pytest.param({"dryRun": [{"metricName": "x"}]},
                 "Analysis spec invalid: dryRun[0]: Rule didn't match any metric name(s)", id="dry-run-rule"),
    pytest.param({"metrics": [{"name": "m", "count": []}]},
                 "Analysis spec invalid: spec.metrics[0].count: must be an integer or a string", id="shape"),
    pytest.param({"args": [{"name": "service", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
                 'Unable to resolve metric arguments: secrets "s" not found', id="secret-missing"),
])
def test_errors_end_the_run(spec: dict[str, Any], message: str) -> None:
    sim = Sim.of(metric())
    sim.raw["spec"].update(spec)
    tasks, outcome = sim.reconcile(T0)
    assert tasks.tasks == ()
    assert sim.status == {"phase": "Error", "message": message, "runSummary": {}}
    assert outcome.events == (Event("Warning", "AnalysisRunError", "Analysis Completed. Result: Error"),)


def test_secrets_resolve_and_are_redacted() -> None:
    sim = Sim.of(metric(interval="10s"),
                 args=[{"name": "service", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "svc"}}}])
    secrets = {"creds": {"svc": "hidden"}}
    tasks = analysis_run.due(analysis_run.load(sim.raw), T0, secrets)
    assert tasks.tasks[0].metric.provider == {"url": "http://metrics.local/hidden"}
    failed = Measurement("Error", "", "GET http://metrics.local/hidden: refused", T0, T0)
    sim.reconcile(T0, {"m": failed}, secrets)
    assert sim.result()["measurements"][0]["message"] == "GET http://metrics.local/*****: refused"
    _, outcome = sim.reconcile(after(10), secrets={"creds": {"other": "x"}})
    assert outcome.status.message == ("Unable to resolve metric arguments: "
                                      "key 'svc' does not exist in secret 'creds'")


# --- status shape ----------------------------------------------------------------------------------


def test_the_raw_status_shape() -> None:
    sim = Sim.of(metric(interval="30s", count=2), metric("once"))
    measure = {"m": Measurement("Successful", "[0.01]", "", T0, after(1)),
               "once": Measurement("Error", "", "timeout", T0, None)}
    _, outcome = sim.reconcile(T0, measure)
    assert sim.status == {
        "phase": "Running",
        "metricResults": [
            {"name": "m", "phase": "Running",
             "measurements": [{"phase": "Successful", "startedAt": "2026-11-26T12:00:00Z",
                               "finishedAt": "2026-11-26T12:00:01Z", "value": "[0.01]"}],
             "count": 1, "successful": 1, "consecutiveSuccess": 1},
            {"name": "once", "phase": "Running",
             "measurements": [{"phase": "Error", "message": "timeout", "startedAt": "2026-11-26T12:00:00Z",
                               "finishedAt": "2026-11-26T12:00:00Z"}],
             "error": 1, "consecutiveError": 1},
        ],
        "startedAt": "2026-11-26T12:00:00Z",
        "runSummary": {"count": 2},
        "dryRunSummary": {},
    }
    assert outcome.next_at == after(10)  # the error retry comes before the interval
    assert analysis_status.render_status(analysis_status.parse_status(sim.status)) == sim.status


def test_a_completed_run_is_left_alone() -> None:
    sim = Sim.of(metric(interval="10s", count=1))
    sim.reconcile(T0)
    done = analysis_run.load(sim.raw)
    assert analysis_run.due(done, after(60)) == Tasks()
    assert analysis_run.record(done, {"m": Measurement("Failed")}, after(60)) == Outcome(done.status)


def test_provider_metadata_is_kept_on_the_first_result() -> None:
    run = analysis_run.load(Sim.of(metric()).raw)
    outcome = analysis_run.record(run, {"m": Measurement("Successful", "1", "", T0, T0)}, T0,
                                  metadata={"m": {"ResolvedPrometheusQuery": "up"}})
    rendered = analysis_status.render_status(outcome.status)
    assert rendered["metricResults"][0]["metadata"] == {"ResolvedPrometheusQuery": "up"}


@pytest.mark.parametrize(("ttl", "results", "expired_after"), [
    pytest.param({"secondsAfterCompletion": 60}, {}, 61, id="completion"),
    pytest.param({"secondsAfterSuccess": 5, "secondsAfterCompletion": 60}, {}, 6, id="success-first"),
    pytest.param({"secondsAfterFailure": 5, "secondsAfterCompletion": 60}, {}, 61, id="other-rule"),
    pytest.param({"secondsAfterFailure": 5, "secondsAfterCompletion": 60}, {"m": "Failed"}, 6, id="failure"),
    pytest.param({"secondsAfterSuccess": 5}, {"m": "Inconclusive"}, None, id="no-rule-applies"),
    pytest.param({}, {}, None, id="none"),
])
def test_ttl_expired(ttl: dict[str, int], results: dict[str, str], expired_after: int | None) -> None:
    sim = Sim.of(metric(), ttlStrategy=ttl)
    run = analysis_run.load(sim.raw)
    assert not analysis_run.ttl_expired(run, after(3600))  # not completed yet
    sim.reconcile(T0, results)
    run = analysis_run.load(sim.raw)
    expired = [s for s in range(0, 120) if analysis_run.ttl_expired(run, after(s + 0.5))]
    assert expired[:1] == ([] if expired_after is None else [expired_after])
