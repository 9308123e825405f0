"""AnalysisTemplate / ClusterAnalysisTemplate / AnalysisRun specs (argoproj.io/v1alpha1): model and parsing.

Room: plan (pure). Turns the raw `spec` dicts into frozen values; never mutates them, never does I/O. Shape
errors (a wrong type where the CRD schema has a fixed one) raise `SpecError`; the semantic checks, with the
reference's messages (utils/analysis ValidateMetrics), live in `statemachine.analysis_checks`.

A metric keeps its raw dict (`Metric.raw`): the `{{args.*}}` templating (`statemachine.analysis_args`) works
on the raw strings and the result is parsed again, as the reference resolves a metric before reading it.
Public API: the phases, `Argument`, `Metric`, `DryRun`, `MeasurementRetention`, `TemplateRef`,
`AnalysisSpec`, `parse_metric`, `parse_spec`, `parse_argument`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from statemachine.raw import Raw

__all__ = [
    "COMPLETED",
    "DEFAULT_CONSECUTIVE_ERROR_LIMIT",
    "ERROR",
    "FAILED",
    "INCONCLUSIVE",
    "PENDING",
    "REFERENCE_PROVIDERS",
    "RUNNING",
    "SUCCESSFUL",
    "SUPPORTED_PROVIDERS",
    "AnalysisSpec",
    "Argument",
    "DryRun",
    "MeasurementRetention",
    "Metric",
    "SecretKeyRef",
    "SpecError",
    "TemplateRef",
    "completed",
    "parse_argument",
    "parse_metric",
    "parse_spec",
]

PENDING = "Pending"
RUNNING = "Running"
SUCCESSFUL = "Successful"
FAILED = "Failed"
ERROR = "Error"
INCONCLUSIVE = "Inconclusive"
COMPLETED = frozenset({SUCCESSFUL, FAILED, ERROR, INCONCLUSIVE})

DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
SUPPORTED_PROVIDERS = ("alb", "cloudWatch", "prometheus", "web")
# metricproviders.Type's order: the first one present names the metric's provider.
REFERENCE_PROVIDERS = ("prometheus", "job", "kayenta", "web", "datadog", "wavefront", "newRelic",
                       "cloudWatch", "graphite", "influxdb", "skywalking", "plugin")
_PROVIDERS = (*REFERENCE_PROVIDERS, "alb")
_GO_INT = re.compile(r"[+-]?[0-9]+")


def completed(phase: str) -> bool:
    """AnalysisPhase.Completed: Successful, Failed, Error or Inconclusive."""
    return phase in COMPLETED


class SpecError(ValueError):
    """A spec whose shape the CRD schema would refuse (the message names the field)."""


@dataclass(frozen=True, slots=True)
class SecretKeyRef:
    """`valueFrom.secretKeyRef`: a key of a Secret in the run's namespace."""

    name: str
    key: str


@dataclass(frozen=True, slots=True)
class Argument:
    """One `args[]` entry (template, run, or the Rollout's analysis args); `value` None: not supplied."""

    name: str
    value: str | None = None
    secret: SecretKeyRef | None = None
    field_path: str | None = None
    """`valueFrom.fieldRef.fieldPath`, read from the Rollout."""
    pod_template_hash: str | None = None
    """`valueFrom.podTemplateHashValue` (Rollout args only): "Stable" or "Latest"."""

    @property
    def has_value_from(self) -> bool:
        return self.secret is not None or self.field_path is not None or self.pod_template_hash is not None

    def to_raw(self) -> dict[str, Any]:
        """The `args[]` entry as the API stores it (Go field order, empty parts left out)."""
        raw: dict[str, Any] = {"name": self.name}
        if self.value is not None:
            raw["value"] = self.value
        value_from: dict[str, Any] = {}
        if self.pod_template_hash is not None:
            value_from["podTemplateHashValue"] = self.pod_template_hash
        if self.secret is not None:
            value_from["secretKeyRef"] = {"name": self.secret.name, "key": self.secret.key}
        if self.field_path is not None:
            value_from["fieldRef"] = {"fieldPath": self.field_path}
        if value_from:
            raw["valueFrom"] = value_from
        return raw


@dataclass(frozen=True, slots=True)
class Metric:
    """One `metrics[]` entry; None limits mean "not written" (the properties apply the defaults)."""

    name: str
    interval: str = ""
    initial_delay: str = ""
    count: int | None = None
    success_condition: str = ""
    failure_condition: str = ""
    failure_limit: int | None = None
    inconclusive_limit: int | None = None
    consecutive_error_limit: int | None = None
    consecutive_success_limit: int | None = None
    provider_name: str = ""
    """The provider key (`prometheus`, `web`, `cloudWatch`, `alb`, ...); "" when none is given."""
    providers: tuple[str, ...] = ()
    """Every provider key given (a plugin counts once per plugin): more than one is invalid."""
    provider: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The raw config under `provider.<provider_name>`."""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def effective_count(self) -> int | None:
        """EffectiveCount: count; 1 when neither count nor interval is set; None (forever) for an interval."""
        if not self.count:
            return None if self.interval else 1
        return self.count

    @property
    def failure_limit_value(self) -> int:
        return self.failure_limit if self.failure_limit is not None else 0

    @property
    def inconclusive_limit_value(self) -> int:
        return self.inconclusive_limit if self.inconclusive_limit is not None else 0

    @property
    def consecutive_error_limit_value(self) -> int:
        """GetConsecutiveErrorLimitOrDefault: 4 when not written."""
        limit = self.consecutive_error_limit
        return DEFAULT_CONSECUTIVE_ERROR_LIMIT if limit is None else limit

    @property
    def consecutive_success_limit_value(self) -> int:
        return self.consecutive_success_limit if self.consecutive_success_limit is not None else 0


@dataclass(frozen=True, slots=True)
class DryRun:
    """A `dryRun[]` rule: metrics whose name the (unanchored) regular expression matches run in dry-run."""

    metric_name: str


@dataclass(frozen=True, slots=True)
class MeasurementRetention:
    """A `measurementRetention[]` rule: keep `limit` measurements of the matching metrics."""

    metric_name: str
    limit: int


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """A template spec's own `templates[]` entry (a template that includes others)."""

    template_name: str
    cluster_scope: bool = False


@dataclass(frozen=True, slots=True)
class AnalysisSpec:
    """A template spec or an AnalysisRun spec (`terminate` and `ttl_strategy` are the run's alone)."""

    metrics: tuple[Metric, ...] = ()
    args: tuple[Argument, ...] = ()
    dry_run: tuple[DryRun, ...] = ()
    measurement_retention: tuple[MeasurementRetention, ...] = ()
    templates: tuple[TemplateRef, ...] = ()
    terminate: bool = False
    ttl_strategy: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)
    """`secondsAfterCompletion` / `secondsAfterFailure` / `secondsAfterSuccess`, as written."""


# --- parsing -----------------------------------------------------------------------------------------


def _string(obj: Raw, key: str, path: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SpecError(f"{path}.{key}: must be a string")
    return value


def _int_or_string(obj: Raw, key: str, path: str) -> int | None:
    """IntOrString.IntValue: an int, or a string read by strconv.Atoi (0 when it is not a number)."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SpecError(f"{path}.{key}: must be an integer or a string")
    if isinstance(value, int):
        return value
    return int(value) if _GO_INT.fullmatch(value) else 0


def _list(obj: Raw, key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(f"{path}.{key}: must be a list")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise SpecError(f"{path}.{key}[{index}]: must be an object")
    return value


def _mapping(obj: Raw, key: str, path: str) -> Raw:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}.{key}: must be an object")
    return value


def _providers(provider: Raw) -> tuple[str, ...]:
    names: list[str] = []
    for name in _PROVIDERS:
        value = provider.get(name)
        if name == "plugin":
            names.extend(["plugin"] * (len(value) if isinstance(value, Mapping) else 0))
        elif value is not None:
            names.append(name)
    return tuple(names)


def parse_metric(raw: Raw, path: str = "metrics[0]") -> Metric:
    """One raw `metrics[]` entry; `SpecError` for a wrong shape."""
    if not isinstance(raw, Mapping):
        raise SpecError(f"{path}: must be an object")
    provider = _mapping(raw, "provider", path)
    providers = _providers(provider)
    name = providers[0] if providers else ""
    config = provider.get(name)
    return Metric(
        name=_string(raw, "name", path),
        interval=_string(raw, "interval", path),
        initial_delay=_string(raw, "initialDelay", path),
        count=_int_or_string(raw, "count", path),
        success_condition=_string(raw, "successCondition", path),
        failure_condition=_string(raw, "failureCondition", path),
        failure_limit=_int_or_string(raw, "failureLimit", path),
        inconclusive_limit=_int_or_string(raw, "inconclusiveLimit", path),
        consecutive_error_limit=_int_or_string(raw, "consecutiveErrorLimit", path),
        consecutive_success_limit=_int_or_string(raw, "consecutiveSuccessLimit", path),
        provider_name=name,
        providers=providers,
        provider=config if isinstance(config, Mapping) else {},
        raw=raw,
    )


def parse_argument(raw: Raw, path: str = "args[0]") -> Argument:
    """One raw `args[]` entry (of a template, a run, or a Rollout's analysis)."""
    if not isinstance(raw, Mapping):
        raise SpecError(f"{path}: must be an object")
    value = raw.get("value")
    if value is not None and not isinstance(value, str):
        raise SpecError(f"{path}.value: must be a string")
    value_from = _mapping(raw, "valueFrom", path)
    where = f"{path}.valueFrom"
    secret_raw = _mapping(value_from, "secretKeyRef", where)
    field_raw = _mapping(value_from, "fieldRef", where)
    pod_hash = value_from.get("podTemplateHashValue")
    if pod_hash is not None and not isinstance(pod_hash, str):
        raise SpecError(f"{where}.podTemplateHashValue: must be a string")
    secret = None
    if value_from.get("secretKeyRef") is not None:
        secret = SecretKeyRef(_string(secret_raw, "name", f"{where}.secretKeyRef"),
                              _string(secret_raw, "key", f"{where}.secretKeyRef"))
    field_path = None
    if value_from.get("fieldRef") is not None:
        field_path = _string(field_raw, "fieldPath", f"{where}.fieldRef")
    return Argument(name=_string(raw, "name", path), value=value, secret=secret, field_path=field_path,
                    pod_template_hash=pod_hash)


def _retention(raw: Raw, path: str) -> MeasurementRetention:
    limit = raw.get("limit", 0)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise SpecError(f"{path}.limit: must be an integer")
    return MeasurementRetention(_string(raw, "metricName", path), limit)


def _ttl(spec: Raw) -> dict[str, int]:
    ttl = _mapping(spec, "ttlStrategy", "spec")
    out: dict[str, int] = {}
    for key in ("secondsAfterCompletion", "secondsAfterFailure", "secondsAfterSuccess"):
        value = ttl.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"spec.ttlStrategy.{key}: must be an integer")
        out[key] = value
    return out


def parse_spec(spec: Raw) -> AnalysisSpec:
    """A raw template or run `spec`; `SpecError` for a wrong shape."""
    if not isinstance(spec, Mapping):
        raise SpecError("spec: must be an object")
    terminate = spec.get("terminate")
    if terminate is not None and not isinstance(terminate, bool):
        raise SpecError("spec.terminate: must be a boolean")
    templates = tuple(
        TemplateRef(_string(ref, "templateName", f"spec.templates[{i}]"), ref.get("clusterScope") is True)
        for i, ref in enumerate(_list(spec, "templates", "spec")))
    return AnalysisSpec(
        metrics=tuple(parse_metric(m, f"spec.metrics[{i}]")
                      for i, m in enumerate(_list(spec, "metrics", "spec"))),
        args=tuple(parse_argument(a, f"spec.args[{i}]") for i, a in enumerate(_list(spec, "args", "spec"))),
        dry_run=tuple(DryRun(_string(d, "metricName", f"spec.dryRun[{i}]"))
                      for i, d in enumerate(_list(spec, "dryRun", "spec"))),
        measurement_retention=tuple(_retention(r, f"spec.measurementRetention[{i}]")
                                    for i, r in enumerate(_list(spec, "measurementRetention", "spec"))),
        templates=templates,
        terminate=terminate is True,
        ttl_strategy=_ttl(spec),
    )
