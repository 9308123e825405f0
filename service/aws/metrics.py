"""Prometheus metrics of the AWS verifiers, registered on an injected CollectorRegistry.

Room: act (AWS). Names are ours (the reference has no AWS metrics); it never registers on the global
registry, so every test and every process gets its own.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["AwsMetrics"]


class AwsMetrics:
    """The five AWS metrics: calls by operation/outcome, throttles, call latency, verification results."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "aws_api_requests_total",
            "ELBv2 API requests sent, by operation and outcome (success, throttled, error).",
            ["operation", "outcome"],
            registry=registry,
        )
        self.throttled = Counter(
            "aws_api_throttled_total",
            "ELBv2 API requests answered with a throttling error.",
            ["operation"],
            registry=registry,
        )
        self.duration = Histogram(
            "aws_api_request_duration_seconds",
            "Time of one ELBv2 API request (one attempt), in seconds.",
            ["operation"],
            registry=registry,
        )
        self.weight_verifications = Counter(
            "alb_weight_verifications_total",
            "ALB weight verifications, by result (verified, unverified, error).",
            ["result"],
            registry=registry,
        )
        self.target_verifications = Counter(
            "alb_target_verifications_total",
            "Target group IP verifications, by result (verified, unverified, error).",
            ["result"],
            registry=registry,
        )
