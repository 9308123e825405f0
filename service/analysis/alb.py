"""The `alb` analysis provider: a canary's and its stable's ALB metrics, with no query to write.

Room: analysis (service). Ours, beyond the reference. A metric names the ALB and the two target groups:

    provider:
      alb:
        loadBalancer: k8s-default-web-abc/50dc6c495c0c9188       # status.alb.loadBalancer.fullName
        canaryTargetGroup: k8s-default-canary-1a2b/73e2d6bc24d8a067  # status.alb.canaryTargetGroup.fullName
        stableTargetGroup: k8s-default-stable-3c4d/0ee0e6e5bd0b1f2c  # status.alb.stableTargetGroup.fullName
        interval: 5m    # the window read, ending now (Go duration; default 5m)
        period: 5m      # optional: CloudWatch's period (Go duration or seconds); default the window, >= 60 s

Each name may be the Rollout status's fullName (no `app/` / `targetgroup/` prefix, as the reference writes
it), the CloudWatch dimension value (`app/name/id`, `targetgroup/name/id`) or the ARN. One GetMetricData,
sent through the CloudWatch provider (its client, region, retries, rate limit and error wording), reads
`AWS/ApplicationELB` `RequestCount` Sum, `HTTPCode_Target_5XX_Count` Sum and `TargetResponseTime` p99 per
target group, dimensions LoadBalancer + TargetGroup. The result the conditions see:

    {"canary": {"requests": n, "errors": n, "errorRate": errors / requests, "p99": seconds},
     "stable": {...}}

Counts are summed over the periods in the window (the ALB publishes nothing for a minute without requests,
so no data counts 0); errorRate is 0.0 without requests; p99 is the largest per-period p99 (CloudWatch
cannot merge percentiles) and NaN when there is no data, so `isNaN(result.canary.p99)` tells "no data" and
a bare comparison with it is false rather than an error. The value is the result as compact JSON, with
Go's float format (NaN reads `NaN`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import structlog

from service.analysis.providers import Observation, Provider, ProviderError, go_duration, go_float

__all__ = ["DEFAULT_INTERVAL", "FIELDS", "NAMESPACE", "AlbProvider", "cloudwatch_request", "dimension_value"]

DEFAULT_INTERVAL = "5m"
NAMESPACE = "AWS/ApplicationELB"
FIELDS = ("loadBalancer", "canaryTargetGroup", "stableTargetGroup", "interval", "period")
_REQUIRED = FIELDS[:3]
_SIDES = (("canary", "canaryTargetGroup"), ("stable", "stableTargetGroup"))
# Query id suffix, metric, statistic.
_METRICS = (("requests", "RequestCount", "Sum"), ("errors", "HTTPCode_Target_5XX_Count", "Sum"),
            ("p99", "TargetResponseTime", "p99"))
_FAILED_STATUSES = frozenset({"InternalError", "Forbidden"})
_PREFIXES = {"loadBalancer": ("app/", ":loadbalancer/"), "canaryTargetGroup": ("targetgroup/", ":"),
             "stableTargetGroup": ("targetgroup/", ":")}
_log = structlog.get_logger()


class AlbProvider:
    """Reads the canary and stable target groups' ALB metrics through a CloudWatch provider."""

    def __init__(self, cloudwatch: Provider) -> None:
        self._cloudwatch = cloudwatch

    async def measure(
        self, provider: Mapping[str, Any], *, timeout: float  # noqa: ASYNC109 (the engine's seam)
    ) -> Observation:
        request = cloudwatch_request(provider)
        observed = await self._cloudwatch.measure(request, timeout=timeout)
        return _observation(observed)

    async def aclose(self) -> None:
        # The CloudWatch provider may be shared with the `cloudWatch` key; closing it twice is harmless.
        await self._cloudwatch.aclose()


def dimension_value(field: str, text: str) -> str:
    """The CloudWatch dimension value of a load balancer or target group given as fullName, value or ARN."""
    prefix, arn_marker = _PREFIXES[field]
    value = text.strip()
    if value.startswith("arn:"):
        value = prefix + value.rpartition(arn_marker)[2].removeprefix(prefix)
    elif value.count("/") == 1:
        value = prefix + value
    parts = value.split("/")
    if len(parts) != 3 or parts[0] + "/" != prefix or not parts[1] or not parts[2]:
        raise ProviderError(f"alb provider: {field} {text!r} is not an ALB {_noun(field)} "
                            f"(want name/id, {prefix}name/id or an ARN)")
    return value


def _noun(field: str) -> str:
    return "load balancer" if field == "loadBalancer" else "target group"


def _text(provider: Mapping[str, Any], field: str) -> str:
    raw = provider.get(field)
    if raw is None or raw == "":
        raise ProviderError(f"alb provider: missing {field}")
    if not isinstance(raw, str):
        raise ProviderError(f"alb provider: {field} must be a string")
    return raw


def _period(raw: Any, window: float) -> int:
    """Seconds per CloudWatch period: the given Go duration or seconds, else the window (>= 60 s)."""
    if raw is None or raw == "":
        return max(60, math.ceil(window / 60) * 60)
    if isinstance(raw, int) and not isinstance(raw, bool):
        seconds = float(raw)
    elif isinstance(raw, str):
        seconds = float(raw) if raw.strip().isdigit() else go_duration(raw)
    else:
        raise ProviderError("alb provider: period must be a duration (\"1m\") or seconds")
    if seconds <= 0 or seconds != int(seconds):
        raise ProviderError(f"alb provider: period must be a whole number of seconds > 0, got {raw!r}")
    return int(seconds)


def cloudwatch_request(provider: Mapping[str, Any]) -> dict[str, Any]:
    """The cloudWatch provider config (CRD lowerCamel) reading both target groups in one GetMetricData."""
    unknown = sorted(str(key) for key in provider if key not in FIELDS)
    if unknown:
        raise ProviderError(f"alb provider: unknown field(s) {', '.join(unknown)} "
                            f"(known: {', '.join(FIELDS)})")
    load_balancer = dimension_value("loadBalancer", _text(provider, "loadBalancer"))
    target_groups = {side: dimension_value(field, _text(provider, field)) for side, field in _SIDES}
    interval = str(provider.get("interval") or DEFAULT_INTERVAL)
    window = go_duration(interval)
    if window <= 0:
        raise ProviderError(f"alb provider: interval must be > 0, got {interval!r}")
    period = _period(provider.get("period"), window)
    queries = [
        {"id": f"{side}_{suffix}", "metricStat": {
            "metric": {"namespace": NAMESPACE, "metricName": metric, "dimensions": [
                {"name": "LoadBalancer", "value": load_balancer},
                {"name": "TargetGroup", "value": target_groups[side]}]},
            "period": period, "stat": stat}}
        for side, _ in _SIDES for suffix, metric, stat in _METRICS
    ]
    return {"interval": interval, "metricDataQueries": queries}


def _values(by_id: Mapping[str, Mapping[str, Any]], query_id: str) -> list[float]:
    found = by_id.get(query_id)
    if found is None:
        return []
    status = str(found.get("StatusCode") or "")
    if status in _FAILED_STATUSES:
        messages = "; ".join(str(m.get("Value") or "") for m in found.get("Messages") or [])
        raise ProviderError(f"CloudWatch answered {query_id} with {status}" + (f": {messages}" if messages
                                                                                 else ""))
    return [float(v) for v in found.get("Values") or []]


def _side(by_id: Mapping[str, Mapping[str, Any]], side: str) -> dict[str, int | float]:
    requests = round(sum(_values(by_id, f"{side}_requests")))
    errors = round(sum(_values(by_id, f"{side}_errors")))
    latencies = [v for v in _values(by_id, f"{side}_p99") if not math.isnan(v)]
    return {"requests": requests, "errors": errors,
            "errorRate": errors / requests if requests else 0.0,
            "p99": max(latencies) if latencies else math.nan}


def _json_ish(result: Mapping[str, Mapping[str, int | float]]) -> str:
    def number(value: int | float) -> str:
        return str(value) if isinstance(value, int) else go_float(value)

    sides = (f'"{side}":{{' + ",".join(f'"{key}":{number(v)}' for key, v in values.items()) + "}"
             for side, values in result.items())
    return "{" + ",".join(sides) + "}"


def _observation(observed: Observation) -> Observation:
    results = observed.result if isinstance(observed.result, list) else []
    by_id = {str(r.get("Id")): r for r in results if isinstance(r, Mapping)}
    result = {side: _side(by_id, side) for side, _ in _SIDES}
    _log.debug("alb_measured", canary_requests=result["canary"]["requests"],
               stable_requests=result["stable"]["requests"])
    return Observation(result=result, value=_json_ish(result), metadata=observed.metadata)
