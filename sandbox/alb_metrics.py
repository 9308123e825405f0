"""What the sandbox's ALB reports to CloudWatch: the traffic knobs and the recorder of probe results.

The traffic probe (sandbox/traffic.py) decides what each simulated request met; this module turns one probe's
per-target-group counts into the data points a real ALB publishes in `AWS/ApplicationELB`, dimensions
LoadBalancer (`app/<name>/<id>`) + TargetGroup (`targetgroup/<name>/<id>`), the final parts of the ARNs:
`RequestCount` and `HTTPCode_Target_5XX_Count` (counts, the latter only when non-zero, as the ALB does) and,
when asked, `TargetResponseTime` (each response time with its count). `TrafficKnobs` are the control
endpoint's `POST /traffic` knobs: which pod-template hashes fail a share of their requests, and whether
`GET /traffic` records. moto (5.2.5) cannot compute a percentile over TargetResponseTime data: GetMetricData
with `p99` then answers HTTP 500, so response times are recorded only on request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sandbox.traffic import ProbeResult

__all__ = ["NAMESPACE", "TrafficKnobs", "dimensions", "metric_data", "record"]

NAMESPACE = "AWS/ApplicationELB"
# PutMetricData: at most 150 distinct values in one datum's Values, and 1000 datums in one call.
_VALUES_PER_DATUM = 150
_DATUMS_PER_CALL = 1000
_KNOBS = {"failingHashes": "failing_hashes", "recordMetrics": "record_metrics",
          "recordResponseTimes": "record_response_times"}


@dataclass(frozen=True, slots=True)
class TrafficKnobs:
    """The probe's knobs; `configure` returns new knobs (a body with one bad value changes nothing)."""

    failing_hashes: Mapping[str, float] = field(default_factory=dict)
    """Pod-template hash -> share (0..1) of the requests its pods serve that answer 5xx."""
    record_metrics: bool = False
    """`GET /traffic` puts each probe's RequestCount and HTTPCode_Target_5XX_Count into CloudWatch."""
    record_response_times: bool = False
    """...and TargetResponseTime (off by default: moto answers any percentile over it with HTTP 500)."""

    def as_dict(self) -> dict[str, Any]:
        return {"failingHashes": dict(sorted(self.failing_hashes.items())),
                "recordMetrics": self.record_metrics, "recordResponseTimes": self.record_response_times}

    def configure(self, body: Mapping[str, Any]) -> TrafficKnobs:
        """These knobs with `body` applied (`failingHashes` replaces the whole map); ValueError naming it."""
        unknown = sorted(key for key in body if key not in _KNOBS)
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(unknown)}")
        changes: dict[str, Any] = {}
        for key in ("recordMetrics", "recordResponseTimes"):
            if key in body:
                if not isinstance(body[key], bool):
                    raise ValueError(f"{key} must be true or false")
                changes[_KNOBS[key]] = body[key]
        if "failingHashes" in body:
            changes["failing_hashes"] = _failing(body["failingHashes"])
        return replace(self, **changes)


def _failing(raw: Any) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise ValueError("failingHashes must be an object of pod-template hash -> share of requests (0..1)")
    failing: dict[str, float] = {}
    for pod_hash, share in raw.items():
        if (not isinstance(share, int | float) or isinstance(share, bool) or math.isnan(share)
                or not 0 <= share <= 1):
            raise ValueError(f"failingHashes.{pod_hash} must be a number from 0 to 1")
        if not pod_hash:
            raise ValueError("failingHashes: a pod-template hash must not be empty")
        failing[str(pod_hash)] = float(share)
    return failing


def dimensions(load_balancer_arn: str, target_group_arn: str) -> list[dict[str, str]]:
    """The LoadBalancer and TargetGroup dimensions of a target group's metrics, from the two ARNs."""
    load_balancer = load_balancer_arn.partition(":loadbalancer/")[2]
    target_group = target_group_arn.rpartition(":")[2]
    return [{"Name": "LoadBalancer", "Value": load_balancer}, {"Name": "TargetGroup", "Value": target_group}]


def metric_data(result: ProbeResult, *, at: datetime, response_times: bool = False) -> list[dict[str, Any]]:
    """PutMetricData's MetricData for one probe: per target group whose targets answered."""
    data: list[dict[str, Any]] = []
    if not result.load_balancer_arn:
        return data
    for arn, answered in sorted(result.by_target_group.items()):
        common = {"Dimensions": dimensions(result.load_balancer_arn, arn), "Timestamp": at}
        data.append({"MetricName": "RequestCount", "Unit": "Count", "Value": float(answered.requests),
                     **common})
        if answered.target_5xx:
            data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Unit": "Count",
                         "Value": float(answered.target_5xx), **common})
        if response_times:
            times = answered.response_times
            for start in range(0, len(times), _VALUES_PER_DATUM):
                chunk = times[start:start + _VALUES_PER_DATUM]
                data.append({"MetricName": "TargetResponseTime", "Unit": "Seconds",
                             "Values": [seconds for seconds, _ in chunk],
                             "Counts": [float(count) for _, count in chunk], **common})
    return data


async def record(cloudwatch: Any, result: ProbeResult, *, at: datetime, response_times: bool = False) -> int:
    """Put one probe's data points into CloudWatch (an aiobotocore client); the number of datums put."""
    data = metric_data(result, at=at, response_times=response_times)
    for start in range(0, len(data), _DATUMS_PER_CALL):
        await cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start:start + _DATUMS_PER_CALL])
    return len(data)
