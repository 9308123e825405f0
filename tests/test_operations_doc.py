"""docs/operations.md keeps up with the code: every flag `alb-rollouts run` accepts (read from its argparse
parser, aliases included), every metric family the controller exports (each `*Metrics` class of `service/`
built on a fresh registry, one series put in every family, rendered by the real /metrics renderer) and every
HTTP route (the probe/metrics app and the debug API) is named in it. Also checks that the discovery itself
found what it must (so an empty list cannot pass).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

import service
from service import cli
from service.http import debug, health, server
from service.http import metrics as http_metrics

DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
SAMPLE_ROLLOUT = {"metadata": {"namespace": "ns", "name": "name"}, "spec": {}, "status": {}}


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


def _named(doc: str, word: str) -> bool:
    """`word` appears whole: `--leader-elect` does not count as named by `--leader-election-retry-period`."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", doc) is not None


def controller_flags() -> list[str]:
    """Every option string of `alb-rollouts run`, from the CLI's own parser."""
    parser = cli.build_parser("run")
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    run = commands.choices["run"]
    return [flag for action in run._actions for flag in action.option_strings if flag not in ("-h", "--help")]


def _metrics_classes() -> Iterator[type]:
    for info in pkgutil.walk_packages(service.__path__, "service."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (inspect.isclass(value) and value.__module__ == module.__name__ and name.endswith("Metrics")
                    and next(iter(inspect.signature(value).parameters), None) == "registry"):
                yield value


def _fill(metric: Any) -> None:
    """One series in a labelled metric (prometheus-client's or our PlainCounter), so it is rendered."""
    ours = getattr(metric, "labelnames", None)
    labels = metric._labelnames if isinstance(metric, MetricWrapperBase) else ours
    if labels is None or not callable(getattr(metric, "labels", None)):
        return
    child = metric.labels(*["x"] * len(labels)) if labels else metric
    record: Callable[[float], None] | None = getattr(child, "inc", None) or getattr(child, "observe", None)
    assert record is not None, metric
    record(1)


def exported_metrics() -> list[str]:
    """The family names /metrics writes (`# TYPE` lines), with a series in every family."""
    registry = CollectorRegistry()
    for made in _metrics_classes():
        # The scrape-time Rollout gauges are read from the cache: give them one Rollout to show.
        wants_rollouts = "rollouts" in inspect.signature(made).parameters
        extra = {"rollouts": lambda: [SAMPLE_ROLLOUT]} if wants_rollouts else {}
        instance = made(registry, **extra)
        for name in dir(instance):
            if not name.startswith("_"):
                _fill(getattr(instance, name))
    rendered = http_metrics.render(registry).decode()
    names = [line.split()[2] for line in rendered.splitlines() if line.startswith("# TYPE ")]
    assert len(names) == len({metric.name for metric in registry.collect()}), "a family was left empty"
    return names


def routes() -> list[str]:
    """Every GET path the controller serves, `{namespace}` written `<namespace>` as the doc does."""
    apps = [server.build_app(health=health.Health(), registry=CollectorRegistry()),
            debug.build_app(lambda: None)]
    paths = [route.resource.canonical for app in apps for route in app.router.routes()
             if route.resource is not None and route.method == "GET"]
    return [re.sub(r"\{(\w+)\}", r"<\1>", path) for path in paths]


def test_discovery_finds_the_known_flags_metrics_and_routes() -> None:
    flags, metrics = controller_flags(), exported_metrics()
    assert {"--aws-verify-target-group", "--alb-verify-weight", "--metricsport", "--kloglevel"} <= set(flags)
    assert len(flags) >= 40
    assert {"rollout_info", "rollout_reconcile_error", "rollout_illegal_transitions_total",
            "aws_api_throttled_total", "workqueue_depth", "rest_client_rate_limiter_duration_seconds"
            } <= set(metrics)
    assert {"/healthz", "/readyz", "/metrics", "/rollouts", "/rollouts/<namespace>/<name>", "/machine"
            } <= set(routes())


def test_every_flag_is_documented(doc: str) -> None:
    missing = [flag for flag in controller_flags() if not _named(doc, flag)]
    assert not missing, f"flags of `alb-rollouts run` missing from docs/operations.md: {missing}"


def test_every_metric_is_documented(doc: str) -> None:
    missing = [name for name in exported_metrics() if not _named(doc, name)]
    assert not missing, f"metric families missing from docs/operations.md: {missing}"


def test_every_endpoint_is_documented(doc: str) -> None:
    missing = [path for path in routes() if f"`{path}`" not in doc and f"GET {path}" not in doc]
    assert not missing, f"HTTP endpoints missing from docs/operations.md: {missing}"


def test_a_missing_name_is_caught() -> None:
    assert not _named("only --leader-election-retry-period here", "--leader-elect")
    assert _named("`--leader-elect=false`", "--leader-elect")
    assert not _named("workqueue_depth_total", "workqueue_depth")
