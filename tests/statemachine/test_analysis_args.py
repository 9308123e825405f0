"""Analysis arguments (analysis_args) and combining templates into a run spec (analysis_templates).

Aspects: `{{args.x}}` templating like fasttemplate (spaces inside the braces, values inserted verbatim, no
second pass, the last unresolved tag's error, an unclosed `{{`); a metric resolved in every string and key
(provider, conditions, IntOrString count) and parsed again; an argument without a value; secrets: the
placeholder, the Secrets to read, values and redaction, a missing Secret or key, a read error; MergeArgs
(override by value or valueFrom, undeclared args dropped, unresolved ones refused); the Rollout's args:
pod template hashes, metadata fieldRefs (FormatMap, subscripts, unsupported paths), other fieldRefs (%v
formatting of JSON numbers, path errors, the last error wins, lenient mode); FlattenTemplates and
NewAnalysisRunFromTemplates messages and order; the rendered run spec.
"""

from __future__ import annotations

from typing import Any

import pytest

from statemachine import analysis_args, analysis_spec, analysis_templates
from statemachine.analysis_args import ArgError
from statemachine.analysis_spec import (
    AnalysisSpec,
    Argument,
    DryRun,
    MeasurementRetention,
    SecretKeyRef,
    SpecError,
)

VALUES = {"args.service": "api", "args.ns": "prod"}


@pytest.mark.parametrize(("text", "result"), [
    pytest.param("no tags", "no tags", id="plain"),
    pytest.param("{{args.service}}.{{args.ns}}", "api.prod", id="two"),
    pytest.param("{{ args.service }}", "api", id="spaces-trimmed"),
    pytest.param("}}{{args.ns}}}}", "}}prod}}", id="stray-closers"),
    pytest.param("{{args.service}}}", "api}", id="first-closer-ends-the-tag"),
])
def test_template_string(text: str, result: str) -> None:
    assert analysis_args.template_string(text, VALUES) == result


def test_values_are_inserted_verbatim_once() -> None:
    values = {"args.q": 'sum(x{code=~"5.."})\n', "args.loop": "{{args.q}}"}
    result = analysis_args.template_string("{{args.q}}|{{args.loop}}", values)
    assert result == 'sum(x{code=~"5.."})\n|{{args.q}}'


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("{{args.nope}}", "failed to resolve {{args.nope}}", id="unknown"),
    pytest.param("{{ args.a }} {{args.b}}", "failed to resolve {{args.b}}", id="last-wins"),
    pytest.param("{{ metrics.x }}", "failed to resolve {{ metrics.x }}", id="raw-tag-kept"),
    pytest.param("a {{args.service", 'Cannot find end tag="}}" in the template="a {{args.service" '
                 'starting from "args.service"', id="unclosed"),
])
def test_template_errors(text: str, message: str) -> None:
    with pytest.raises(ArgError) as caught:
        analysis_args.template_string(text, VALUES)
    assert str(caught.value) == message


def _metric(**fields: Any) -> analysis_spec.Metric:
    return analysis_spec.parse_metric({"name": "{{args.service}}-errors", **fields})


def test_resolve_metric_templates_every_string() -> None:
    metric = _metric(
        count="{{args.count}}", interval="{{args.every}}", successCondition="result < {{args.max}}",
        provider={"web": {"url": "http://{{args.service}}/metrics",
                          "headers": [{"key": "X-{{args.service}}", "value": "{{ args.service }}"}],
                          "jsonBody": {"{{args.service}}": 3}}})
    args = [Argument("service", "api"), Argument("count", "3"), Argument("every", "1m"),
            Argument("max", "0.5")]
    resolved = analysis_args.resolve_metric(metric, args)
    assert (resolved.name, resolved.count, resolved.interval, resolved.success_condition) == (
        "api-errors", 3, "1m", "result < 0.5")
    assert resolved.provider == {"url": "http://api/metrics", "headers": [{"key": "X-api", "value": "api"}],
                                 "jsonBody": {"api": 3}}
    assert metric.count == 0  # unresolved, the count read as Go's IntValue of a non-number


@pytest.mark.parametrize(("args", "message"), [
    pytest.param([Argument("service")], 'argument "service" was not supplied', id="no-value"),
    pytest.param([Argument("unused"), Argument("service", "api")], 'argument "unused" was not supplied',
                 id="even-unused"),
    pytest.param([Argument("other", "x")], "failed to resolve {{args.service}}", id="undeclared"),
])
def test_resolve_metric_errors(args: list[Argument], message: str) -> None:
    with pytest.raises(ArgError) as caught:
        analysis_args.resolve_metric(_metric(provider={"web": {}}), args)
    assert str(caught.value) == message


def test_an_unclosed_tag_anywhere_wins_over_unresolved_ones() -> None:
    metric = _metric(provider={"web": {"url": "{{args.nope}}", "body": "{{oops"}})
    with pytest.raises(ArgError, match=r"^Cannot find end tag"):
        analysis_args.resolve_metric(metric, [Argument("service", "api")])


# --- secrets ---------------------------------------------------------------------------------------

SECRET_ARGS = (Argument("service", "api"), Argument("token", secret=SecretKeyRef("creds", "token")),
               Argument("user", secret=SecretKeyRef("creds", "user")),
               Argument("key", secret=SecretKeyRef("other", "key")))


def test_without_secrets_and_secret_names() -> None:
    plain = analysis_args.without_secrets(SECRET_ARGS)
    assert plain[1] == Argument("token", analysis_args.SECRET_PLACEHOLDER)
    assert plain[0] == SECRET_ARGS[0]
    assert analysis_args.secret_names(SECRET_ARGS) == ("creds", "other")


def test_resolve_secrets_values_and_redaction() -> None:
    secrets = {"creds": {"token": "s3cr3t", "user": "bob"}, "other": {"key": "k"}}
    args, redact = analysis_args.resolve_secrets(SECRET_ARGS, secrets)
    assert [arg.value for arg in args] == ["api", "s3cr3t", "bob", "k"]
    assert redact == {"s3cr3t", "bob", "k"}


@pytest.mark.parametrize(("secrets", "message"), [
    pytest.param({}, 'secrets "creds" not found', id="absent"),
    pytest.param({"creds": None}, 'secrets "creds" not found', id="not-found"),
    pytest.param({"creds": {"user": "bob"}}, "key 'token' does not exist in secret 'creds'", id="no-key"),
    pytest.param({"creds": 'secrets "creds" is forbidden'}, 'secrets "creds" is forbidden', id="read"),
])
def test_resolve_secrets_errors(secrets: analysis_args.Secrets, message: str) -> None:
    with pytest.raises(ArgError) as caught:
        analysis_args.resolve_secrets(SECRET_ARGS, secrets)
    assert str(caught.value) == message


# --- MergeArgs ---------------------------------------------------------------------------------------


def test_merge_args_overrides_and_drops() -> None:
    template = (Argument("service"), Argument("ns", "default"), Argument("hash"))
    incoming = (Argument("service", "api"), Argument("hash", pod_template_hash="Latest"),
                Argument("extra", "x"))
    assert analysis_args.merge_args(incoming, template) == (
        Argument("service", "api"), Argument("ns", "default"), Argument("hash", pod_template_hash="Latest"))


def test_merge_args_keeps_a_template_secret_under_a_value() -> None:
    secret = Argument("token", secret=SecretKeyRef("creds", "token"))
    merged = analysis_args.merge_args([Argument("token", "plain")], [secret])
    assert merged == (Argument("token", "plain", secret=SecretKeyRef("creds", "token")),)


def test_merge_args_refuses_unresolved() -> None:
    with pytest.raises(ArgError, match=r"^args\.ns was not resolved$"):
        analysis_args.merge_args([Argument("service", "api")], [Argument("service"), Argument("ns")])


# --- the Rollout's args --------------------------------------------------------------------------------

ROLLOUT: dict[str, Any] = {
    "metadata": {"name": "demo", "namespace": "prod", "uid": "u-1",
                 "labels": {"app": "demo", "team": 'a"b'}, "annotations": {"owner": "me"}},
    "spec": {"replicas": 3, "paused": False, "weights": [0.5, 1000000, 100000, 0.0000125, -2.5e21],
             "template": {"spec": {"containers": [{"name": "app", "image": "demo:2"}]}}},
}


def _rollout_arg(value_from: dict[str, Any]) -> str:
    args = analysis_args.rollout_args([{"name": "a", "valueFrom": value_from}], ROLLOUT,
                                      stable_hash="abc", latest_hash="def")
    value = args[0].value
    assert value is not None
    return value


@pytest.mark.parametrize(("value_from", "value"), [
    pytest.param({"podTemplateHashValue": "Stable"}, "abc", id="stable-hash"),
    pytest.param({"podTemplateHashValue": "Latest"}, "def", id="latest-hash"),
    pytest.param({"fieldRef": {"fieldPath": "metadata.name"}}, "demo", id="name"),
    pytest.param({"fieldRef": {"fieldPath": "metadata.uid"}}, "u-1", id="uid"),
    pytest.param({"fieldRef": {"fieldPath": "metadata.labels"}}, 'app="demo"\nteam="a\\"b"', id="format-map"),
    pytest.param({"fieldRef": {"fieldPath": "metadata.annotations['owner']"}}, "me", id="subscript"),
    pytest.param({"fieldRef": {"fieldPath": "metadata.labels['missing']"}}, "", id="missing-subscript"),
    pytest.param({"fieldRef": {"fieldPath": "spec.template.spec.containers[0].image"}}, "demo:2",
                 id="nested"),
    pytest.param({"fieldRef": {"fieldPath": "spec.replicas"}}, "3", id="int"),
    pytest.param({"fieldRef": {"fieldPath": "spec.paused"}}, "false", id="bool"),
    pytest.param({"fieldRef": {"fieldPath": "spec.weights[0]"}}, "0.5", id="fraction"),
    pytest.param({"fieldRef": {"fieldPath": "spec.weights[1]"}}, "1e+06", id="million-is-exponent"),
    pytest.param({"fieldRef": {"fieldPath": "spec.weights[2]"}}, "100000", id="100k-is-not"),
    pytest.param({"fieldRef": {"fieldPath": "spec.weights[3]"}}, "1.25e-05", id="small"),
    pytest.param({"fieldRef": {"fieldPath": "spec.weights[4]"}}, "-2.5e+21", id="negative-large"),
])
def test_rollout_arg_values(value_from: dict[str, Any], value: str) -> None:
    assert _rollout_arg(value_from) == value


def test_a_plain_value_and_nothing() -> None:
    args = analysis_args.rollout_args([{"name": "a", "value": "v"}, {"name": "b"}], ROLLOUT,
                                      stable_hash="", latest_hash="")
    assert args == (Argument("a", "v"), Argument("b", ""))


@pytest.mark.parametrize(("path", "message"), [
    pytest.param("metadata.generateName", "unsupported fieldPath: metadata.generateName", id="unsupported"),
    pytest.param("metadata.name['x']", 'fieldPath "metadata.name[\'x\']" does not support subscript',
                 id="subscript"),
    pytest.param("spec.nothing", "invalid path spec.nothing in rollout", id="missing"),
    pytest.param("spec.nothing.deeper", "invalid path spec.nothing.deeper in rollout", id="through-missing"),
    pytest.param("spec.weights[x]", "invalid index 'x'", id="bad-index"),
    pytest.param("spec.weights[9]", "index 9 out of range", id="out-of-range"),
    pytest.param("spec.template", "path spec.template in rollout must terminate in a primitive value",
                 id="object"),
])
def test_rollout_arg_errors(path: str, message: str) -> None:
    with pytest.raises(ArgError) as caught:
        _rollout_arg({"fieldRef": {"fieldPath": path}})
    assert str(caught.value) == message


def test_the_last_field_read_decides_the_error() -> None:
    bad = {"name": "a", "valueFrom": {"fieldRef": {"fieldPath": "spec.nothing"}}}
    good = {"name": "b", "valueFrom": {"fieldRef": {"fieldPath": "spec.replicas"}}}
    args = analysis_args.rollout_args([bad, good], ROLLOUT, stable_hash="", latest_hash="")
    assert [arg.value for arg in args] == ["", "3"]
    with pytest.raises(ArgError, match=r"invalid path spec\.nothing"):
        analysis_args.rollout_args([good, bad], ROLLOUT, stable_hash="", latest_hash="")
    lenient = analysis_args.rollout_args([good, bad], ROLLOUT, stable_hash="", latest_hash="", lenient=True)
    assert [arg.value for arg in lenient] == ["3", ""]


# --- templates into a run spec -------------------------------------------------------------------------


def _template(*names: str, args: tuple[Argument, ...] = (), dry_run: tuple[str, ...] = (),
              keep: tuple[str, ...] = ()) -> AnalysisSpec:
    return AnalysisSpec(
        metrics=tuple(analysis_spec.parse_metric({"name": n, "provider": {"web": {}}}) for n in names),
        args=args, dry_run=tuple(DryRun(d) for d in dry_run),
        measurement_retention=tuple(MeasurementRetention(k, 5) for k in keep))


def test_new_run_spec_combines_in_order() -> None:
    spec = analysis_templates.new_run_spec(
        [_template("a", args=(Argument("service"), Argument("ns", "default")), dry_run=("a",))],
        [_template("b", args=(Argument("service"),), keep=("b",))],
        args=[Argument("service", "api")], dry_run=[DryRun("b")],
        measurement_retention=[MeasurementRetention("a", 1)])
    assert [m.name for m in spec.metrics] == ["a", "b"]
    assert spec.args == (Argument("service", "api"), Argument("ns", "default"))
    assert spec.dry_run == (DryRun("b"), DryRun("a"))
    assert spec.measurement_retention == (MeasurementRetention("a", 1), MeasurementRetention("b", 5))


def test_flatten_keeps_a_set_value() -> None:
    spec = analysis_templates.flatten([_template("a", args=(Argument("x", "1"),)),
                                       _template("b", args=(Argument("x"),)),
                                       _template("c", args=(Argument("y"),)),
                                       _template("d", args=(Argument("y", "2"),))])
    assert spec.args == (Argument("x", "1"), Argument("y", "2"))


@pytest.mark.parametrize(("templates", "extra", "message"), [
    pytest.param([_template("a"), _template("a")], {}, "two metrics have the same name 'a'", id="metrics"),
    pytest.param([_template("a", args=(Argument("x", "1"),)), _template("b", args=(Argument("x", "2"),))], {},
                 "Argument `x` specified multiple times with different values: '1', '2'", id="args"),
    pytest.param([_template("a", dry_run=("a",)), _template("b", dry_run=("a",))], {},
                 "two Dry-Run metric rules have the same name 'a'", id="dry-run"),
    pytest.param([_template("a", keep=("a",)), _template("b", keep=("a",))], {},
                 "two Measurement Retention metric rules have the same name 'a'", id="retention"),
    pytest.param([_template("a", dry_run=("a",))], {"dry_run": [DryRun("a")]},
                 "two Dry-Run metric rules have the same name 'a'", id="rollout-dry-run"),
    pytest.param([_template("a", args=(Argument("x"),))], {}, "args.x was not resolved", id="unresolved"),
])
def test_combining_errors(templates: list[AnalysisSpec], extra: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        analysis_templates.new_run_spec(templates, **extra)
    assert str(caught.value) == message


def test_render_run_spec() -> None:
    spec = analysis_templates.new_run_spec(
        [_template("a", args=(Argument("token", secret=SecretKeyRef("creds", "t")),), dry_run=("a",))])
    assert analysis_templates.render_run_spec(spec) == {
        "metrics": [{"name": "a", "provider": {"web": {}}}],
        "args": [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "t"}}}],
        "dryRun": [{"metricName": "a"}],
    }
    assert analysis_spec.parse_spec(analysis_templates.render_run_spec(spec)).args == spec.args
