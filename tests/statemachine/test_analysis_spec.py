"""Analysis specs: parsing (analysis_spec) and the checks on resolved metrics (analysis_checks).

Aspects: a metric's fields and IntOrString limits (ints, numeric strings, other strings read as 0 like Go's
IntValue); the provider's name and raw config, plugins counted per plugin, null providers absent;
EffectiveCount and the default limits; run-only fields (terminate, ttlStrategy) and template refs; shape
errors naming the field; args round-trip through `to_raw`; ValidateMetrics' messages, one row each, first
error wins; ours: unsupported providers and conditions that do not parse; Go's ParseDuration errors; dry-run
and retention rules (unanchored regular expressions, a rule matching nothing, a pattern that does not
compile).
"""

from __future__ import annotations

from typing import Any

import pytest

from statemachine import analysis_checks, analysis_spec
from statemachine.analysis_spec import Argument, DryRun, MeasurementRetention, Metric, SecretKeyRef, SpecError

WEB = {"web": {"url": "http://metrics/{{args.service}}"}}


def metric(name: str = "m", **fields: Any) -> Metric:
    return analysis_spec.parse_metric({"name": name, "provider": WEB, **fields})


def test_metric_fields_are_read() -> None:
    parsed = analysis_spec.parse_metric({
        "name": "error-rate", "interval": "30s", "initialDelay": "1m", "count": 5,
        "successCondition": "result[0] < 0.05", "failureCondition": "result[0] > 0.2", "failureLimit": "2",
        "inconclusiveLimit": 1, "consecutiveErrorLimit": 0, "consecutiveSuccessLimit": 3,
        "provider": {"prometheus": {"address": "http://prom", "query": "q"}},
    })
    assert parsed == Metric(
        name="error-rate", interval="30s", initial_delay="1m", count=5, success_condition="result[0] < 0.05",
        failure_condition="result[0] > 0.2", failure_limit=2, inconclusive_limit=1, consecutive_error_limit=0,
        consecutive_success_limit=3, provider_name="prometheus", providers=("prometheus",))
    assert parsed.provider == {"address": "http://prom", "query": "q"}
    assert parsed.consecutive_error_limit_value == 0  # written 0 is not the default 4


@pytest.mark.parametrize(("written", "read"), [
    pytest.param(3, 3, id="int"),
    pytest.param("3", 3, id="numeric-string"),
    pytest.param("+3", 3, id="signed-string"),
    pytest.param("-1", -1, id="negative-string"),
    pytest.param("{{args.count}}", 0, id="unresolved-template-reads-0"),
    pytest.param(" 3", 0, id="atoi-refuses-spaces"),
    pytest.param(None, None, id="absent"),
])
def test_int_or_string_reads_like_go(written: object, read: int | None) -> None:
    assert metric(failureLimit=written).failure_limit == read


@pytest.mark.parametrize(("provider", "name", "providers"), [
    pytest.param({"alb": {"metric": "x"}}, "alb", ("alb",), id="ours"),
    pytest.param({"cloudWatch": {}}, "cloudWatch", ("cloudWatch",), id="empty-config-counts"),
    pytest.param({"web": None, "datadog": {}}, "datadog", ("datadog",), id="null-is-absent"),
    pytest.param({"plugin": {"a/b": {}, "c/d": {}}}, "plugin", ("plugin", "plugin"), id="each-plugin"),
    pytest.param({"plugin": {}}, "", (), id="no-plugins"),
    pytest.param({"web": {}, "prometheus": {}}, "prometheus", ("prometheus", "web"), id="type-order"),
    pytest.param({}, "", (), id="none"),
])
def test_provider_name_and_count(provider: dict[str, Any], name: str, providers: tuple[str, ...]) -> None:
    parsed = analysis_spec.parse_metric({"name": "m", "provider": provider})
    assert (parsed.provider_name, parsed.providers) == (name, providers)


@pytest.mark.parametrize(("fields", "effective"), [
    pytest.param({}, 1, id="neither-is-one"),
    pytest.param({"count": 0}, 1, id="zero-count-is-one"),
    pytest.param({"interval": "1m"}, None, id="interval-only-forever"),
    pytest.param({"interval": "1m", "count": 0}, None, id="interval-zero-count-forever"),
    pytest.param({"interval": "1m", "count": 4}, 4, id="both"),
    pytest.param({"count": "7"}, 7, id="string-count"),
])
def test_effective_count(fields: dict[str, Any], effective: int | None) -> None:
    assert metric(**fields).effective_count == effective


def test_default_limits() -> None:
    parsed = metric()
    assert (parsed.failure_limit_value, parsed.inconclusive_limit_value, parsed.consecutive_error_limit_value,
            parsed.consecutive_success_limit_value) == (
        0, 0, analysis_spec.DEFAULT_CONSECUTIVE_ERROR_LIMIT, 0)
    assert analysis_spec.DEFAULT_CONSECUTIVE_ERROR_LIMIT == 4


def test_run_spec_fields() -> None:
    spec = analysis_spec.parse_spec({
        "metrics": [{"name": "m", "provider": WEB}],
        "args": [{"name": "service", "value": "api"},
                 {"name": "token", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}],
        "dryRun": [{"metricName": "m.*"}],
        "measurementRetention": [{"metricName": "m", "limit": 20}],
        "templates": [{"templateName": "base"}, {"templateName": "shared", "clusterScope": True}],
        "terminate": True,
        "ttlStrategy": {"secondsAfterCompletion": 60},
    })
    assert [m.name for m in spec.metrics] == ["m"]
    assert spec.args == (Argument("service", "api"), Argument("token", secret=SecretKeyRef("creds", "token")))
    assert spec.dry_run == (DryRun("m.*"),)
    assert spec.measurement_retention == (MeasurementRetention("m", 20),)
    assert [(t.template_name, t.cluster_scope) for t in spec.templates] == [("base", False), ("shared", True)]
    assert spec.terminate is True
    assert spec.ttl_strategy == {"secondsAfterCompletion": 60}


@pytest.mark.parametrize(("spec", "message"), [
    pytest.param({"metrics": {}}, "spec.metrics: must be a list", id="metrics-not-list"),
    pytest.param({"metrics": ["m"]}, "spec.metrics[0]: must be an object", id="metric-not-object"),
    pytest.param({"metrics": [{"name": 1}]}, "spec.metrics[0].name: must be a string", id="name"),
    pytest.param({"metrics": [{"name": "m", "count": 1.5}]},
                 "spec.metrics[0].count: must be an integer or a string",
                 id="count"),
    pytest.param({"metrics": [{"name": "m", "provider": []}]}, "spec.metrics[0].provider: must be an object",
                 id="provider"),
    pytest.param({"args": [{"name": "a", "value": 1}]}, "spec.args[0].value: must be a string",
                 id="arg-value"),
    pytest.param({"measurementRetention": [{"metricName": "m", "limit": "3"}]},
                 "spec.measurementRetention[0].limit: must be an integer", id="retention-limit"),
    pytest.param({"terminate": "yes"}, "spec.terminate: must be a boolean", id="terminate"),
    pytest.param({"ttlStrategy": {"secondsAfterFailure": "1"}},
                 "spec.ttlStrategy.secondsAfterFailure: must be an integer", id="ttl"),
])
def test_shape_errors_name_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        analysis_spec.parse_spec(spec)
    assert str(caught.value) == message


@pytest.mark.parametrize("raw", [
    pytest.param({"name": "a", "value": "x"}, id="value"),
    pytest.param({"name": "a"}, id="nothing"),
    pytest.param({"name": "a", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, id="secret"),
    pytest.param({"name": "a", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, id="field"),
    pytest.param({"name": "a", "valueFrom": {"podTemplateHashValue": "Latest"}}, id="hash"),
])
def test_argument_round_trips(raw: dict[str, Any]) -> None:
    parsed = analysis_spec.parse_argument(raw)
    assert parsed.to_raw() == raw
    assert parsed.has_value_from == ("valueFrom" in raw)


# --- ValidateMetrics -----------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "message"), [
    pytest.param({"consecutiveSuccessLimit": -1}, "consecutiveSuccessLimit must be >= 0",
                 id="success-negative"),
    pytest.param({"failureLimit": -2}, "failureLimit must be >= 0, or -1 to be disabled",
                 id="failure-below-1"),
    pytest.param({"failureLimit": -1}, "failureLimit and consecutiveSuccessLimit cannot both be disabled",
                 id="both-disabled"),
    pytest.param({"inconclusiveLimit": -1}, "inconclusiveLimit must be >= 0", id="inconclusive-negative"),
    pytest.param({"consecutiveErrorLimit": -1}, "consecutiveErrorLimit must be >= 0", id="errors-negative"),
    pytest.param({"count": 2, "interval": "1m", "failureLimit": 2, "consecutiveSuccessLimit": 1},
                 "count (2) must be >= failureLimit + consecutiveSuccessLimit (2 + 1) if both >= 0",
                 id="count-below-limits"),
    pytest.param({"count": 2, "interval": "1m", "failureLimit": -1, "consecutiveSuccessLimit": 3},
                 "count must be >= consecutiveSuccessLimit", id="count-below-success-limit"),
    pytest.param({"count": 2, "interval": "1m", "inconclusiveLimit": 3}, "count must be >= inconclusiveLimit",
                 id="count-below-inconclusive"),
    pytest.param({"count": 2}, "interval must be specified when count > 1", id="count-without-interval"),
    pytest.param({"interval": "5"}, 'invalid interval string: time: missing unit in duration "5"',
                 id="interval-unit"),
    pytest.param({"initialDelay": "soon"}, 'invalid startDelay string: time: invalid duration "soon"',
                 id="initial-delay"),
])
def test_metric_messages(fields: dict[str, Any], message: str) -> None:
    assert analysis_checks.validate_metrics([metric("m", **fields)]) == f"metrics[0]: {message}"


@pytest.mark.parametrize(("provider", "message"), [
    pytest.param({}, "metrics[0]: no provider specified", id="none"),
    pytest.param({"web": {}, "alb": {}}, "metrics[0]: multiple providers specified", id="two"),
    pytest.param({"plugin": {"a/b": {}, "c/d": {}}}, "metrics[0]: multiple providers specified",
                 id="two-plugins"),
    pytest.param({"datadog": {}}, 'metrics[0] (error-rate): provider "datadog" is not supported by '
                 "alb-rollouts (supported: alb, cloudWatch, prometheus, web)", id="datadog"),
    pytest.param({"job": {}}, 'metrics[0] (error-rate): provider "job" is not supported by alb-rollouts '
                 "(supported: alb, cloudWatch, prometheus, web)", id="job"),
    pytest.param({"plugin": {"argoproj-labs/x": {}}}, 'metrics[0] (error-rate): provider "plugin" is not '
                 "supported by alb-rollouts (supported: alb, cloudWatch, prometheus, web)", id="plugin"),
])
def test_provider_messages(provider: dict[str, Any], message: str) -> None:
    parsed = analysis_spec.parse_metric({"name": "error-rate", "provider": provider})
    assert analysis_checks.validate_metrics([parsed]) == message


@pytest.mark.parametrize("provider", ["alb", "cloudWatch", "prometheus", "web"])
def test_supported_providers_are_valid(provider: str) -> None:
    parsed = analysis_spec.parse_metric({"name": "m", "provider": {provider: {}}})
    assert analysis_checks.validate_metrics([parsed]) is None


def test_list_level_messages_and_first_error_wins() -> None:
    assert analysis_checks.validate_metrics([]) == "no metrics specified"
    assert analysis_checks.validate_metrics([metric("a"), metric("a")]) == "metrics[1]: duplicate name 'a'"
    bad = [metric("a"), metric("b", count=3), metric("c", failureLimit=-5)]
    assert analysis_checks.validate_metrics(bad) == "metrics[1]: interval must be specified when count > 1"
    assert analysis_checks.validate_metrics([metric("a", count=3, interval="10s", failureLimit=2)]) is None


@pytest.mark.parametrize(("key", "expression"), [
    pytest.param("successCondition", "result >", id="success-dangling"),
    pytest.param("failureCondition", "result[0] >= (1", id="failure-unclosed"),
])
def test_conditions_that_do_not_parse(key: str, expression: str) -> None:
    message = analysis_checks.validate_metrics([metric("rate", **{key: expression})])
    assert message is not None
    assert message.startswith(f'metrics[0] (rate): invalid {key} "{expression}": ')
    assert analysis_checks.validate_metrics([metric("rate", **{key: "result[0] > 0.5"})]) is None


@pytest.mark.parametrize(("text", "error"), [
    pytest.param("30s", None, id="seconds"),
    pytest.param("1h30m", None, id="compound"),
    pytest.param("1.5h", None, id="fraction"),
    pytest.param(".5s", None, id="leading-point"),
    pytest.param("-5m", None, id="negative"),
    pytest.param("0", None, id="bare-zero"),
    pytest.param("", 'time: invalid duration ""', id="empty"),
    pytest.param("5", 'time: missing unit in duration "5"', id="no-unit"),
    pytest.param("5x", 'time: unknown unit "x" in duration "5x"', id="unknown-unit"),
    pytest.param("5 s", 'time: unknown unit " s" in duration "5 s"', id="space"),
    pytest.param(".s", 'time: invalid duration ".s"', id="no-digits"),
    pytest.param("s5", 'time: invalid duration "s5"', id="unit-first"),
    pytest.param("5é", 'time: unknown unit "\\xc3\\xa9" in duration "5\\xc3\\xa9"', id="non-ascii-bytes"),
    pytest.param("9999999999h", 'time: invalid duration "9999999999h"', id="overflow"),
])
def test_go_duration_errors(text: str, error: str | None) -> None:
    assert analysis_checks.duration_error(text) == error
    assert (analysis_checks.duration_seconds(text) is None) == (error is not None)


def test_duration_values() -> None:
    assert analysis_checks.duration_seconds("1h30m") == 5400
    assert analysis_checks.duration_seconds("250ms") == pytest.approx(0.25)


# --- dry-run and retention rules -----------------------------------------------------------------


def test_dry_run_rules_match_unanchored() -> None:
    metrics = [metric("error-rate"), metric("latency"), metric("errors-total")]
    errors = analysis_checks.dry_run_metrics([DryRun("error")], metrics)
    assert errors == frozenset({"error-rate", "errors-total"})
    everything = analysis_checks.dry_run_metrics([DryRun(".*")], metrics)
    assert everything == frozenset({"error-rate", "latency", "errors-total"})
    assert analysis_checks.dry_run_metrics([], metrics) == frozenset()
    assert (analysis_checks.dry_run_metrics([DryRun("latency"), DryRun("^cpu$")], metrics)
            == "dryRun[1]: Rule didn't match any metric name(s)")
    uncompiled = analysis_checks.dry_run_metrics([DryRun("*")], metrics)
    assert uncompiled == "dryRun[0]: Rule didn't match any metric name(s)"


def test_retention_rules() -> None:
    metrics = [metric("error-rate"), metric("latency")]
    rules = [MeasurementRetention(".*", 3), MeasurementRetention("latency", 20)]
    assert analysis_checks.retention_limits(rules, metrics) == {"error-rate": 3, "latency": 20}
    assert (analysis_checks.retention_limits([MeasurementRetention("cpu", 1)], metrics)
            == "measurementRetention[0]: Rule didn't match any metric name(s)")
