"""service.settings: the controller's flags and environment.

Aspects: every flag's default (same as the reference); every flag's parsing (table); the deprecated alias
--alb-verify-weight and the old --metricsport spelling; pflag-style booleans (--flag, --flag=false);
repeatable --alb-ingress-classes including '' (no class) replacing the default; Go durations; the
ROLLOUT_VERIFY_RETRY_INTERVAL variable (Go duration or seconds, empty, invalid, zero); leader-election
timing rules; lease namespace lookup; bad values exit through argparse with the flag's name; reference
flags for absent features are accepted; the settings are frozen.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from service import flag_values, settings
from service.aws import elbv2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alb-rollouts run")
    settings.add_arguments(parser)
    return parser


def _settings(argv: list[str], environ: dict[str, str] | None = None,
              namespace_file: Path | None = None) -> settings.Settings:
    parser = _parser()
    return settings.from_args(parser.parse_args(argv), environ or {}, parser=parser,
                              namespace_file=namespace_file or Path("/nonexistent/namespace"))


def _field(result: settings.Settings, path: str) -> Any:
    value: Any = result
    for part in path.split("."):
        value = getattr(value, part)
    return value


DEFAULTS = [
    pytest.param("kube.kubeconfig", None, id="kubeconfig"),
    pytest.param("kube.namespaced", False, id="namespaced"),
    pytest.param("kube.instance_id", "", id="instance-id"),
    pytest.param("kube.qps", 40.0, id="qps"),
    pytest.param("kube.burst", 80, id="burst"),
    pytest.param("kube.resync_seconds", 900.0, id="rollout-resync"),
    pytest.param("kube.ingress_api_version", "", id="ingress-api-version"),
    pytest.param("queueing.rollout_threads", 10, id="rollout-threads"),
    pytest.param("queueing.ingress_threads", 10, id="ingress-threads"),
    pytest.param("aws.verify_target_group", False, id="aws-verify-target-group"),
    pytest.param("aws.ingress_classes", ("alb",), id="alb-ingress-classes"),
    pytest.param("aws.tag_key_resource_id", "ingress.k8s.aws/resource", id="alb-tag-key-resource-id"),
    pytest.param("aws.target_group_binding_api_version", "elbv2.k8s.aws/v1beta1",
                 id="aws-target-group-binding-api-version"),
    pytest.param("aws.verify_retry_interval_seconds", 10.0, id="ROLLOUT_VERIFY_RETRY_INTERVAL"),
    pytest.param("aws.client.region", None, id="aws-region"),
    pytest.param("aws.client.endpoint_url", None, id="aws-endpoint-url"),
    pytest.param("aws.client.max_rps", 5.0, id="aws-max-rps"),
    # a reconcile never waits long on AWS (issue 8): 2 attempts within 4 s, 3 s each
    pytest.param("aws.client.call_timeout_seconds", 3.0, id="aws-call-timeout"),
    pytest.param("aws.client.retry.max_attempts", 2, id="aws-attempts"),
    pytest.param("aws.client.retry.deadline_seconds", 4.0, id="aws-deadline"),
    pytest.param("http.metrics_port", 8090, id="metricsPort"),
    pytest.param("http.healthz_port", 8080, id="healthzPort"),
    pytest.param("http.debug_address", ("127.0.0.1", 8091), id="debug-address"),
    pytest.param("leader.elect", True, id="leader-elect"),
    pytest.param("leader.lease_duration_seconds", 15.0, id="leader-election-lease-duration"),
    pytest.param("leader.renew_deadline_seconds", 10.0, id="leader-election-renew-deadline"),
    pytest.param("leader.retry_period_seconds", 2.0, id="leader-election-retry-period"),
    pytest.param("leader.namespace", "argo-rollouts", id="lease-namespace"),
    pytest.param("leader.lease_name", "argo-rollouts-controller-lock", id="lease-name"),
    pytest.param("logging.level", "info", id="loglevel"),
    pytest.param("logging.format", "text", id="logformat"),
]


@pytest.mark.parametrize(("path", "expected"), DEFAULTS)
def test_default(path: str, expected: Any) -> None:
    assert _field(_settings([]), path) == expected


def test_defaults_equal_the_dataclass_defaults() -> None:
    built = _settings([])
    assert built == settings.Settings(leader=settings.LeaderSettings())


PARSED = [
    pytest.param(["--kubeconfig", "/tmp/kc"], "kube.kubeconfig", "/tmp/kc", id="kubeconfig"),
    pytest.param(["--namespaced"], "kube.namespaced", True, id="namespaced-bare"),
    pytest.param(["--namespaced=true"], "kube.namespaced", True, id="namespaced-true"),
    pytest.param(["--namespaced=false"], "kube.namespaced", False, id="namespaced-false"),
    pytest.param(["--instance-id", "blue"], "kube.instance_id", "blue", id="instance-id"),
    pytest.param(["--qps", "12.5"], "kube.qps", 12.5, id="qps"),
    pytest.param(["--burst=7"], "kube.burst", 7, id="burst"),
    pytest.param(["--rollout-resync", "60"], "kube.resync_seconds", 60.0, id="rollout-resync"),
    pytest.param(["--ingress-api-version", "networking/v1"], "kube.ingress_api_version", "networking/v1",
                 id="ingress-api-version"),
    pytest.param(["--rollout-threads", "3"], "queueing.rollout_threads", 3, id="rollout-threads"),
    pytest.param(["--ingress-threads", "4"], "queueing.ingress_threads", 4, id="ingress-threads"),
    pytest.param(["--aws-verify-target-group"], "aws.verify_target_group", True,
                 id="aws-verify-target-group"),
    pytest.param(["--aws-verify-target-group=False"], "aws.verify_target_group", False,
                 id="aws-verify-target-group-false"),
    pytest.param(["--alb-verify-weight"], "aws.verify_target_group", True, id="alb-verify-weight-alias"),
    pytest.param(["--alb-verify-weight=1"], "aws.verify_target_group", True, id="alb-verify-weight-1"),
    pytest.param(["--alb-ingress-classes", "internal"], "aws.ingress_classes", ("internal",),
                 id="one-class-replaces-default"),
    pytest.param(["--alb-ingress-classes", "alb", "--alb-ingress-classes", "internal"], "aws.ingress_classes",
                 ("alb", "internal"), id="repeated-classes"),
    pytest.param(["--alb-ingress-classes", ""], "aws.ingress_classes", ("",), id="empty-class"),
    pytest.param(["--alb-ingress-classes=", "--alb-ingress-classes=alb"], "aws.ingress_classes", ("", "alb"),
                 id="empty-and-alb"),
    pytest.param(["--alb-ingress-classes", "a,b"], "aws.ingress_classes", ("a,b",),
                 id="class-not-split-on-commas"),
    pytest.param(["--alb-ingress-classes", "x", "--alb-ingress-classes", "x"], "aws.ingress_classes", ("x",),
                 id="repeated-class-once"),
    pytest.param(["--alb-tag-key-resource-id", "my/key"], "aws.tag_key_resource_id", "my/key",
                 id="alb-tag-key-resource-id"),
    pytest.param(["--aws-target-group-binding-api-version", "elbv2.k8s.aws/v1"],
                 "aws.target_group_binding_api_version", "elbv2.k8s.aws/v1",
                 id="aws-target-group-binding-api-version"),
    pytest.param(["--aws-region", "eu-west-1"], "aws.client.region", "eu-west-1", id="aws-region"),
    pytest.param(["--aws-endpoint-url", "http://127.0.0.1:5000"], "aws.client.endpoint_url",
                 "http://127.0.0.1:5000", id="aws-endpoint-url"),
    pytest.param(["--aws-max-rps", "0.5"], "aws.client.max_rps", 0.5, id="aws-max-rps"),
    pytest.param(["--metricsPort", "9000"], "http.metrics_port", 9000, id="metricsPort"),
    pytest.param(["--metricsport", "9001"], "http.metrics_port", 9001, id="metricsport-old-spelling"),
    pytest.param(["--healthzPort=0"], "http.healthz_port", 0, id="healthzPort-any"),
    pytest.param(["--debug-address", "0.0.0.0:9999"], "http.debug_address", ("0.0.0.0", 9999),
                 id="debug-address"),
    pytest.param(["--debug-address", ":9999"], "http.debug_address", ("0.0.0.0", 9999),
                 id="debug-address-no-host"),
    pytest.param(["--debug-address", "[::1]:9999"], "http.debug_address", ("::1", 9999),
                 id="debug-address-ipv6"),
    pytest.param(["--debug-address", ""], "http.debug_address", None, id="debug-address-off"),
    pytest.param(["--leader-elect=false"], "leader.elect", False, id="leader-elect-false"),
    pytest.param(["--leader-elect"], "leader.elect", True, id="leader-elect-bare"),
    pytest.param(["--leader-election-lease-duration", "1m"], "leader.lease_duration_seconds", 60.0,
                 id="lease-duration-go"),
    pytest.param(["--leader-election-renew-deadline", "12.5s"], "leader.renew_deadline_seconds", 12.5,
                 id="renew-deadline-fraction"),
    pytest.param(["--leader-election-retry-period", "1500ms"], "leader.retry_period_seconds", 1.5,
                 id="retry-period-ms"),
    pytest.param(["--leader-election-retry-period", "3"], "leader.retry_period_seconds", 3.0,
                 id="retry-period-seconds"),
    pytest.param(["--instance-id", "blue"], "leader.lease_name", "argo-rollouts-controller-lock-blue",
                 id="lease-name-per-instance"),
    pytest.param(["--instance-id", "Blue_Team.1"], "leader.lease_name",
                 "argo-rollouts-controller-lock-blue-team.1", id="lease-name-dns-safe"),
    pytest.param(["--leader-election-lease-name", "alb-lock"], "leader.lease_name", "alb-lock",
                 id="lease-name-flag"),
    pytest.param(["--leader-election-lease-name", "mine", "--instance-id", "blue"], "leader.lease_name",
                 "mine-blue", id="lease-name-flag-per-instance"),
    pytest.param(["--instance-id", "a" * 63], "kube.instance_id", "a" * 63, id="instance-id-63"),
    pytest.param(["--loglevel", "debug"], "logging.level", "debug", id="loglevel-debug"),
    pytest.param(["--loglevel", "WARN"], "logging.level", "warn", id="loglevel-upper"),
    pytest.param(["--loglevel", "warning"], "logging.level", "warn", id="loglevel-warning"),
    pytest.param(["--loglevel", "trace"], "logging.level", "debug", id="loglevel-trace"),
    pytest.param(["--loglevel", "fatal"], "logging.level", "error", id="loglevel-fatal"),
    pytest.param(["--logformat", "json"], "logging.format", "json", id="logformat-json"),
    pytest.param(["--logformat", "JSON"], "logging.format", "json", id="logformat-upper"),
    pytest.param(["--logformat="], "logging.format", "text", id="logformat-empty-is-text"),
]


@pytest.mark.parametrize(("argv", "path", "expected"), PARSED)
def test_flag_parsing(argv: list[str], path: str, expected: Any) -> None:
    assert _field(_settings(argv), path) == expected


LABEL = ("argument --instance-id: must be a label value (up to 63 letters, digits, '-', '_' or '.', starting "
         "and ending with a letter or digit),")
BAD = [
    pytest.param(["--qps", "0"], "argument --qps: must be a number of requests per second above 0, got 0",
                 id="qps-zero"),
    pytest.param(["--qps", "fast"], "argument --qps: must be a number of requests per second above 0, "
                 "got 'fast'", id="qps-word"),
    pytest.param(["--burst", "0"], "argument --burst: must be a whole number of requests from 1, got 0",
                 id="burst-zero"),
    pytest.param(["--rollout-threads", "0"], "argument --rollout-threads: must be a whole number of workers "
                 "from 1, got 0", id="threads-zero"),
    pytest.param(["--rollout-threads", "2.5"], "argument --rollout-threads: must be a whole number of "
                 "workers from 1, got '2.5'", id="threads-fraction"),
    pytest.param(["--metricsPort", "70000"], "argument --metricsPort/--metricsport: must be a port number "
                 "from 0 to 65535, got 70000", id="port-too-big"),
    pytest.param(["--healthzPort", "http"], "argument --healthzPort: must be a port number from 0 to 65535, "
                 "got 'http'", id="port-word"),
    pytest.param(["--debug-address", "localhost"], "argument --debug-address: must be HOST:PORT (or \"\" to "
                 "turn it off), got 'localhost'", id="debug-address-no-port"),
    pytest.param(["--debug-address", "h:99999"], "argument --debug-address: must be a port number from 0 to "
                 "65535, got 99999 in 'h:99999'", id="debug-address-bad-port"),
    pytest.param(["--leader-elect=maybe"], "argument --leader-elect: must be true or false, got 'maybe'",
                 id="bool-word"),
    pytest.param(["--alb-verify-weight=yes"], "argument --aws-verify-target-group/--alb-verify-weight: must "
                 "be true or false, got 'yes'", id="alias-bool-word"),
    pytest.param(["--leader-election-lease-duration", "fifteen"], "argument "
                 "--leader-election-lease-duration: not a duration: 'fifteen' (use e.g. 10s, 1m30s, 500ms "
                 "or a number of seconds)",
                 id="duration-word"),
    pytest.param(["--leader-election-retry-period", "0s"], "argument --leader-election-retry-period: must be "
                 "more than 0, got '0s'", id="duration-zero"),
    pytest.param(["--leader-election-retry-period=-2s"], "argument --leader-election-retry-period: must be "
                 "more than 0, got '-2s'", id="duration-negative"),
    pytest.param(["--leader-election-retry-period", "2d"], "argument --leader-election-retry-period: not a "
                 "duration: '2d' (use e.g. 10s, 1m30s, 500ms or a number of seconds)", id="duration-unit"),
    pytest.param(["--loglevel", "loud"], "argument --loglevel: must be one of debug, info, warn, error; got "
                 "'loud'", id="loglevel"),
    pytest.param(["--logformat", "xml"], "argument --logformat: must be text or json, got 'xml'",
                 id="logformat"),
    pytest.param(["--aws-max-rps", "inf"], "argument --aws-max-rps: must be more than 0 calls per second, "
                 "got inf", id="max-rps-inf"),
    pytest.param(["--aws-endpoint-url", "localhost:5000"], "argument --aws-endpoint-url: must be an http:// "
                 "or https:// URL, got 'localhost:5000'", id="endpoint-no-scheme"),
    pytest.param(["--aws-target-group-binding-api-version", "v1beta1"], "argument "
                 "--aws-target-group-binding-api-version: must be GROUP/VERSION, got 'v1beta1'",
                 id="tgb-version"),
    pytest.param(["--instance-id=-blue"], f"{LABEL} got '-blue'", id="instance-id-leading-dash"),
    pytest.param(["--instance-id", "a" * 64], f"{LABEL} got '{'a' * 64}'", id="instance-id-too-long"),
    pytest.param(["--instance-id", "blue team"], f"{LABEL} got 'blue team'", id="instance-id-space"),
    pytest.param(["--ingress-api-version", "networking.k8s.io/v1"], "argument --ingress-api-version: must be "
                 "networking/v1 or extensions/v1beta1, got 'networking.k8s.io/v1'", id="ingress-api-version"),
]


@pytest.mark.parametrize(("argv", "message"), BAD)
def test_bad_flag_value_is_an_argparse_error(argv: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _settings(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"alb-rollouts run: error: {message}"


def test_plain_seconds_are_a_duration() -> None:
    assert _settings(["--leader-election-lease-duration", "15"]).leader.lease_duration_seconds == 15.0


LEADER_RULES = [
    pytest.param(["--leader-election-lease-duration", "10s"],
                 "--leader-election-lease-duration (10s) must be longer than "
                 "--leader-election-renew-deadline (10s)", id="lease-not-longer-than-renew"),
    pytest.param(["--leader-election-retry-period", "9s"],
                 "--leader-election-renew-deadline (10s) must be longer than 1.2 x "
                 "--leader-election-retry-period (9s)", id="renew-within-jittered-retry"),
]


@pytest.mark.parametrize(("argv", "message"), LEADER_RULES)
def test_leader_timing_rules(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _settings(argv)
    assert capsys.readouterr().err.splitlines()[-1] == f"alb-rollouts run: error: {message}"
    # The same timings are fine when leader election is off: they are never used.
    assert _settings([*argv, "--leader-elect=false"]).leader.elect is False


def test_without_a_parser_the_error_is_raised() -> None:
    args = _parser().parse_args(["--leader-election-lease-duration", "5s"])
    with pytest.raises(settings.SettingsError, match=r"^--leader-election-lease-duration \(5s\) must be"):
        settings.from_args(args, {})


RETRY_INTERVALS = [
    pytest.param("10s", 10.0, id="go-seconds"),
    pytest.param("1m30s", 90.0, id="go-composite"),
    pytest.param("250ms", 0.25, id="go-milliseconds"),
    pytest.param("1h", 3600.0, id="go-hours"),
    pytest.param("30", 30.0, id="plain-seconds"),
    pytest.param("2.5", 2.5, id="plain-fraction"),
    pytest.param(" 5s ", 5.0, id="surrounding-spaces"),
    pytest.param("", 10.0, id="empty-is-default"),
]


@pytest.mark.parametrize(("raw", "seconds"), RETRY_INTERVALS)
def test_verify_retry_interval_env(raw: str, seconds: float) -> None:
    built = _settings([], {settings.VERIFY_RETRY_INTERVAL_ENV: raw})
    assert built.aws.verify_retry_interval_seconds == seconds


BAD_RETRY_INTERVALS = [
    pytest.param("ten", "environment variable ROLLOUT_VERIFY_RETRY_INTERVAL='ten' is not a duration; use "
                 "e.g. 10s, 1m or a number of seconds", id="word"),
    pytest.param("10x", "environment variable ROLLOUT_VERIFY_RETRY_INTERVAL='10x' is not a duration; use "
                 "e.g. 10s, 1m or a number of seconds", id="unknown-unit"),
    pytest.param("0", "environment variable ROLLOUT_VERIFY_RETRY_INTERVAL='0' must be more than 0",
                 id="zero"),
    pytest.param("-5s", "environment variable ROLLOUT_VERIFY_RETRY_INTERVAL='-5s' must be more than 0",
                 id="negative"),
    pytest.param("nan", "environment variable ROLLOUT_VERIFY_RETRY_INTERVAL='nan' is not a duration; use "
                 "e.g. 10s, 1m or a number of seconds", id="nan"),
]


@pytest.mark.parametrize(("raw", "message"), BAD_RETRY_INTERVALS)
def test_bad_verify_retry_interval_is_a_clear_error(raw: str, message: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args([])
    with pytest.raises(settings.SettingsError) as error:
        settings.from_args(args, {settings.VERIFY_RETRY_INTERVAL_ENV: raw})
    assert str(error.value) == message
    with pytest.raises(SystemExit):
        _settings([], {settings.VERIFY_RETRY_INTERVAL_ENV: raw})
    assert capsys.readouterr().err.splitlines()[-1] == f"alb-rollouts run: error: {message}"


DURATIONS = [
    pytest.param("0", 0.0, id="bare-zero"),
    pytest.param("1.5h", 5400.0, id="fractional-hours"),
    pytest.param(".5s", 0.5, id="leading-point"),
    pytest.param("1h2m3s4ms", 3723.004, id="every-unit"),
    pytest.param("100us", 1e-4, id="micro"),
    pytest.param("100µs", 1e-4, id="micro-sign"),
    pytest.param("10ns", 1e-8, id="nano"),
    pytest.param("+3s", 3.0, id="plus-sign"),
    pytest.param("-3s", -3.0, id="minus-sign"),
    pytest.param("1e3", 1000.0, id="exponent-seconds"),
]


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_parse_duration(text: str, seconds: float) -> None:
    assert flag_values.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "1 s", "1s2", "+", "-", "1.2.3s", "ms5", "inf", "nan"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not a"):
        flag_values.parse_duration(text)


def test_lease_namespace_from_pod_namespace(tmp_path: Path) -> None:
    file = tmp_path / "namespace"
    file.write_text("from-file\n")
    assert _settings([], {"POD_NAMESPACE": "from-env"}, file).leader.namespace == "from-env"
    assert _settings([], {}, file).leader.namespace == "from-file"
    file.write_text("  \n")
    assert _settings([], {}, file).leader.namespace == "argo-rollouts"


def test_reference_flags_for_absent_features_are_accepted() -> None:
    argv = [name + "=1" for name in settings.COMPAT_FLAGS]
    argv += ["--self-service-notification-enabled", "--nginx-ingress-classes", "nginx"]
    assert _settings(argv) == _settings([])


def test_aws_client_settings_reuse_elbv2() -> None:
    built = _settings(["--aws-region", "us-west-2", "--aws-max-rps", "2"])
    assert isinstance(built.aws.client, elbv2.AwsSettings)
    assert built.aws.client == elbv2.AwsSettings(region="us-west-2", max_rps=2.0, call_timeout_seconds=3.0,
                                                 retry=settings.RECONCILE_AWS_RETRY)


def test_settings_are_frozen() -> None:
    built = _settings([])
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.kube.qps = 1.0  # type: ignore[misc]


def test_every_field_has_a_docstring() -> None:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(settings))
    for node in tree.body:
        if not (isinstance(node, ast.ClassDef) and node.name.endswith("Settings")):
            continue
        body = node.body
        for index, statement in enumerate(body):
            if isinstance(statement, ast.AnnAssign):
                following = body[index + 1] if index + 1 < len(body) else None
                assert isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant), (
                    f"{node.name}.{ast.unparse(statement.target)} has no docstring")
