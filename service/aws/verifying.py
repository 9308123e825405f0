"""Assembles the AWS verifiers around the one ELBv2 client of the process.

Room: act (AWS). The controller opens this once at start-up (only when verification is enabled) and closes it
at shutdown; it never opens a second client.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from service.aws import elbv2, lookups, metrics, targets, throttling, weights

__all__ = ["READ_WINDOW_SECONDS", "AwsVerifiers", "open_verifiers"]

# Verifications of one ALB (rules) or one target group (health) asked within this window share one read.
READ_WINDOW_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class AwsVerifiers:
    """The client (for call counts), the shared caches, and both verifiers."""

    client: elbv2.Elbv2
    reads: lookups.Elbv2Lookups
    weights: weights.WeightVerifier
    targets: targets.TargetVerifier


@asynccontextmanager
async def open_verifiers(
    settings: elbv2.AwsSettings,
    *,
    registry: CollectorRegistry | None = None,
    monotonic: throttling.Monotonic = time.monotonic,
    sleep: throttling.Sleep = asyncio.sleep,
    rng: random.Random | None = None,
    rules_fresh_seconds: float = 2.0,
) -> AsyncIterator[AwsVerifiers]:
    """Open the ELBv2 client and build the verifiers on it; metrics go to `registry` when given."""
    aws_metrics = metrics.AwsMetrics(registry) if registry is not None else None
    async with elbv2.open_elbv2(settings, metrics=aws_metrics, monotonic=monotonic, sleep=sleep,
                                rng=rng) as client:
        reads = lookups.Elbv2Lookups(client, monotonic=monotonic, rules_fresh_seconds=rules_fresh_seconds,
                                     read_window=READ_WINDOW_SECONDS, sleep=sleep)
        yield AwsVerifiers(
            client=client,
            reads=reads,
            weights=weights.WeightVerifier(reads, metrics=aws_metrics),
            targets=targets.TargetVerifier(reads, metrics=aws_metrics, fresh_seconds=rules_fresh_seconds,
                                           window=READ_WINDOW_SECONDS),
        )
