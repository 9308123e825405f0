"""Combining AnalysisTemplates and ClusterAnalysisTemplates into the spec of a new AnalysisRun.

Room: plan (pure). Ports utils/analysis FlattenTemplates and NewAnalysisRunFromTemplates with their
messages: metrics, dry-run rules and retention rules are concatenated (templates first, then cluster
templates) and must not repeat a name; arguments of the same name must agree, and the Rollout's analysis
args are merged over them (`analysis_args.merge_args`). The caller fetched the templates (and any template
they include by `templates[]`); this module only combines their parsed specs.

Public API: `flatten`, `new_run_spec`, `render_run_spec`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from statemachine.analysis_args import merge_args
from statemachine.analysis_spec import AnalysisSpec, Argument, DryRun, MeasurementRetention, SpecError

__all__ = ["flatten", "new_run_spec", "render_run_spec"]


def _unique(names: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SpecError(f"two {what} have the same name '{name}'")
        seen.add(name)


def _flatten_args(specs: Sequence[AnalysisSpec]) -> tuple[Argument, ...]:
    combined: list[Argument] = []
    for arg in (arg for spec in specs for arg in spec.args):
        index = next((i for i, old in enumerate(combined) if old.name == arg.name), -1)
        if index < 0:
            combined.append(arg)
            continue
        previous = combined[index]
        if previous.value is not None and arg.value is not None and previous.value != arg.value:
            raise SpecError(f"Argument `{previous.name}` specified multiple times with different values: "
                            f"'{previous.value}', '{arg.value}'")
        if previous.value is None:  # a set value is never replaced by one without
            combined[index] = arg
    return tuple(combined)


def flatten(templates: Sequence[AnalysisSpec],
            cluster_templates: Sequence[AnalysisSpec] = ()) -> AnalysisSpec:
    """FlattenTemplates: one spec holding every template's metrics, rules and args; `SpecError` on a clash."""
    specs = [*templates, *cluster_templates]
    metrics = tuple(metric for spec in specs for metric in spec.metrics)
    _unique([metric.name for metric in metrics], "metrics")
    dry_run = tuple(rule for spec in specs for rule in spec.dry_run)
    _unique([rule.metric_name for rule in dry_run], "Dry-Run metric rules")
    retention = tuple(rule for spec in specs for rule in spec.measurement_retention)
    _unique([rule.metric_name for rule in retention], "Measurement Retention metric rules")
    return AnalysisSpec(metrics=metrics, args=_flatten_args(specs), dry_run=dry_run,
                        measurement_retention=retention)


def new_run_spec(templates: Sequence[AnalysisSpec], cluster_templates: Sequence[AnalysisSpec] = (),
                 args: Sequence[Argument] = (), dry_run: Sequence[DryRun] = (),
                 measurement_retention: Sequence[MeasurementRetention] = ()) -> AnalysisSpec:
    """NewAnalysisRunFromTemplates' spec: the Rollout's args merged in, its rules before the templates'."""
    template = flatten(templates, cluster_templates)
    merged = merge_args(args, template.args)
    rules = (*dry_run, *template.dry_run)
    _unique([rule.metric_name for rule in rules], "Dry-Run metric rules")
    kept = (*measurement_retention, *template.measurement_retention)
    _unique([rule.metric_name for rule in kept], "Measurement Retention metric rules")
    return AnalysisSpec(metrics=template.metrics, args=merged, dry_run=rules, measurement_retention=kept)


def render_run_spec(spec: AnalysisSpec) -> dict[str, Any]:
    """The raw AnalysisRun `spec` (Go field order; `metrics` always, the rest only when set)."""
    out: dict[str, Any] = {"metrics": [dict(metric.raw) for metric in spec.metrics]}
    if spec.args:
        out["args"] = [arg.to_raw() for arg in spec.args]
    if spec.terminate:
        out["terminate"] = True
    if spec.dry_run:
        out["dryRun"] = [{"metricName": rule.metric_name} for rule in spec.dry_run]
    if spec.measurement_retention:
        out["measurementRetention"] = [{"metricName": rule.metric_name, "limit": rule.limit}
                                       for rule in spec.measurement_retention]
    if spec.ttl_strategy:
        out["ttlStrategy"] = dict(spec.ttl_strategy)
    return out
