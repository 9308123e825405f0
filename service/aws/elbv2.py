"""The one long-lived ELBv2 client of the process, with a token bucket, retries, deadlines and metrics.

Room: act (AWS). Every ELBv2 call of the service goes through `Elbv2.call`; it never raises anything but
`AwsCallError` for AWS-side failures, and it never logs credentials.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore import xform_name
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.parsers import ResponseParserError

from service.aws import metrics as aws_metrics
from service.aws import throttling

__all__ = ["ACCESS_DENIED_CODES", "MAX_PAGES", "AwsCallError", "AwsSettings", "Elbv2", "open_elbv2",
           "resolve_region"]

log = structlog.get_logger(__name__)

ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
MAX_PAGES = 1000  # 400 000 items at the largest page size: far beyond any account, short of forever


@dataclass(frozen=True, slots=True)
class AwsSettings:
    """How to reach ELBv2 and how hard to push it."""

    region: str | None = None
    """Region from --aws-region; None means AWS_REGION, then AWS_DEFAULT_REGION."""
    endpoint_url: str | None = None
    """--aws-endpoint-url (the sandbox's moto); None means the real regional endpoint."""
    max_rps: float = 5.0
    """--aws-max-rps: steady ELBv2 calls per second for the whole process."""
    burst: int = 20
    """Calls allowed at once after a quiet period."""
    call_timeout_seconds: float = 10.0
    """Deadline of one attempt of one call."""
    retry: throttling.RetryPolicy = field(default_factory=throttling.RetryPolicy)
    """Backoff and total deadline for throttled or failing calls."""


def resolve_region(flag: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """--aws-region, then AWS_REGION, then AWS_DEFAULT_REGION; None when none is set."""
    env = os.environ if environ is None else environ
    for value in (flag, env.get("AWS_REGION"), env.get("AWS_DEFAULT_REGION")):
        if value:
            return value
    return None


class AwsCallError(Exception):
    """An ELBv2 call that failed for good (after retries when the failure was transient)."""

    def __init__(self, operation: str, code: str, message: str, *, http_status: int = 0,
                 retryable: bool = False) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation = operation
        self.code = code
        self.message = message
        self.http_status = http_status
        self.retryable = retryable

    @property
    def access_denied(self) -> bool:
        return self.code in ACCESS_DENIED_CODES

    @property
    def throttled(self) -> bool:
        return throttling.is_throttling(self.code)

    def describe(self) -> str:
        """A sentence for a status message or the CLI: names the IAM action when access was denied."""
        if self.access_denied:
            return (f"AWS denied elasticloadbalancing:{self.operation} ({self.code}): {self.message}; "
                    f"grant the controller's role this IAM action")
        if self.code == "NoCredentials":
            return ("no AWS credentials found (environment, web identity/IRSA, profile or instance "
                    f"metadata); needed for elasticloadbalancing:{self.operation}")
        if self.code == "ClientRateLimited":
            return f"elasticloadbalancing:{self.operation} not sent: {self.message}; will retry"
        if self.throttled:
            return f"AWS kept throttling elasticloadbalancing:{self.operation} ({self.code}); will retry"
        return f"elasticloadbalancing:{self.operation} failed ({self.code}): {self.message}"


def _classify(operation: str, error: BaseException) -> AwsCallError:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        code = str(info.get("Code", "") or f"HTTP{status}")
        return AwsCallError(operation, code, str(info.get("Message", "")), http_status=status,
                            retryable=throttling.is_retryable(code, status))
    if isinstance(error, TimeoutError):
        return AwsCallError(operation, "Timeout", "no answer before the call deadline", retryable=True)
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return AwsCallError(operation, "NoCredentials", str(error))
    if isinstance(error, NoRegionError):
        return AwsCallError(operation, "NoRegion", "no AWS region: set --aws-region or AWS_REGION")
    if isinstance(error, (BotoConnectionError, HTTPClientError, aiohttp.ClientError, OSError)):
        return AwsCallError(operation, "ConnectionError", str(error), retryable=True)
    if isinstance(error, ResponseParserError):
        # An unparsable answer is what a 5xx HTML page from a proxy or load balancer looks like.
        return AwsCallError(operation, "BadResponse", str(error), retryable=True)
    return AwsCallError(operation, type(error).__name__, str(error))


class Elbv2:
    """Calls ELBv2 through the bucket with retries; counts every request sent per operation."""

    def __init__(
        self,
        client: Any,
        *,
        bucket: throttling.AdaptiveBucket,
        policy: throttling.RetryPolicy,
        call_timeout_seconds: float,
        metrics: aws_metrics.AwsMetrics | None = None,
        monotonic: throttling.Monotonic = time.monotonic,
        sleep: throttling.Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.policy = policy
        self.call_timeout_seconds = call_timeout_seconds
        self.metrics = metrics
        self.calls: Counter[str] = Counter()
        self.throttles: Counter[str] = Counter()
        self._monotonic = monotonic
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One logical call (e.g. "DescribeRules"); raises AwsCallError when it cannot succeed."""
        method = getattr(self.client, xform_name(operation))
        deadline = self._monotonic() + self.policy.deadline_seconds
        attempts = max(1, self.policy.max_attempts)
        error = AwsCallError(operation, "NotSent", "no attempt was made")
        # A bounded loop: whatever the clock or AWS do, at most `attempts` requests and as many waits.
        for attempt in range(1, attempts + 1):
            wait = self.bucket.reserve(max_wait=max(0.0, deadline - self._monotonic()))
            if wait is None:
                rate, within = self.bucket.configured_rate, self.policy.deadline_seconds
                raise AwsCallError(operation, "ClientRateLimited",
                                   f"more ELBv2 calls queued than --aws-max-rps {rate:g} lets through within "
                                   f"{within:g}s")
            if wait > 0:
                await self._sleep(wait)
            self.calls[operation] += 1
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.call_timeout_seconds):
                    response: dict[str, Any] = await method(**params)
            except Exception as exc:  # every failure is classified; cancellation is not an Exception
                error = _classify(operation, exc)
            else:
                self._observe(operation, "success", started)
                return response
            self._observe(operation, "throttled" if error.throttled else "error", started)
            if error.throttled:
                self.throttles[operation] += 1
                if self.metrics is not None:
                    self.metrics.throttled.labels(operation).inc()
            if error.throttled or error.http_status >= 500:
                # Both mean "AWS is struggling with our pace": send less for a while.
                self.bucket.slow_down()
            if not error.retryable or attempt == attempts:
                break
            delay = self.policy.backoff(attempt, self._rng)
            if self._monotonic() + delay > deadline:
                break
            log.info("aws call retried", aws_call=operation, code=error.code, attempt=attempt,
                     delay=round(delay, 3))
            await self._sleep(delay)
        raise error

    async def pages(self, operation: str, result_key: str, **params: Any) -> list[dict[str, Any]]:
        """All items of a Marker-paginated Describe call; a repeated marker or endless pages are an error."""
        items: list[dict[str, Any]] = []
        marker: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = await self.call(operation, **params, **({"Marker": marker} if marker else {}))
            items.extend(page.get(result_key, []))
            marker = page.get("NextMarker")
            if not marker:
                return items
            if marker in seen:
                raise AwsCallError(operation, "BadPagination",
                                   f"NextMarker {marker!r} came back twice; the listing would never end")
            seen.add(marker)
        raise AwsCallError(operation, "BadPagination", f"more than {MAX_PAGES} pages; stopped reading")

    def _observe(self, operation: str, outcome: str, started: float) -> None:
        if self.metrics is None:
            return
        self.metrics.requests.labels(operation, outcome).inc()
        self.metrics.duration.labels(operation).observe(time.perf_counter() - started)


@asynccontextmanager
async def open_elbv2(
    settings: AwsSettings,
    *,
    metrics: aws_metrics.AwsMetrics | None = None,
    monotonic: throttling.Monotonic = time.monotonic,
    sleep: throttling.Sleep = asyncio.sleep,
    rng: random.Random | None = None,
    session: AioSession | None = None,
) -> AsyncIterator[Elbv2]:
    """Create the process's ELBv2 client (default credential chain) and close it on exit."""
    region = resolve_region(settings.region)
    if region is None:
        raise AwsCallError("CreateClient", "NoRegion",
                           "no AWS region: set --aws-region, AWS_REGION or AWS_DEFAULT_REGION")
    config = AioConfig(
        # Retries are ours (bucket-aware, counted); botocore must send each request exactly once.
        retries={"total_max_attempts": 1},
        connect_timeout=settings.call_timeout_seconds,
        read_timeout=settings.call_timeout_seconds,
        user_agent_extra="alb-rollouts",
    )
    bucket = throttling.AdaptiveBucket(settings.max_rps, settings.burst, monotonic=monotonic)
    session = session or get_session()
    async with AsyncExitStack() as stack:
        try:
            client = await stack.enter_async_context(session.create_client(
                "elbv2", region_name=region, endpoint_url=settings.endpoint_url, config=config))
        except ValueError as exc:  # botocore's words for a malformed --aws-endpoint-url
            raise AwsCallError("CreateClient", "InvalidEndpoint", f"{exc} (--aws-endpoint-url)") from exc
        except BotoCoreError as exc:
            raise _classify("CreateClient", exc) from exc
        yield Elbv2(client, bucket=bucket, policy=settings.retry,
                    call_timeout_seconds=settings.call_timeout_seconds, metrics=metrics,
                    monotonic=monotonic, sleep=sleep, rng=rng)
