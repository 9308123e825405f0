"""The analysis providers' common seam: what a measurement returns, how it fails, who serves a metric.

Room: analysis (service). The engine picks a provider with `Providers.select` (the reference's precedence over
the keys of a metric's `provider`) and awaits `measure`; a `ProviderError`'s message becomes the Error
measurement's message. Shared by the providers and kept here: the per-peer request slots (token buckets on
the injected clock), Go's float and duration formats that the reference's value strings and errors use, and
Go's `Op "URL": reason` wording of a failed HTTP request.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import structlog

from service.clock import Clock
from service.token_bucket import TokenBucket
from statemachine.go_text import go_quote

if TYPE_CHECKING:
    from aiobotocore.session import AioSession

__all__ = [
    "PROVIDER_KEYS",
    "Observation",
    "Provider",
    "ProviderError",
    "Providers",
    "RequestSlots",
    "go_duration",
    "go_float",
    "go_url_error",
    "peer_of",
    "providers_for",
    "transport_reason",
]

_log = structlog.get_logger()

# The reference's order of precedence when a metric names several providers (metricproviders.Type).
PROVIDER_KEYS = ("prometheus", "job", "kayenta", "web", "datadog", "wavefront", "newRelic", "cloudWatch",
                 "graphite", "influxdb", "skywalking", "plugin", "alb")
"""The reference's order, then ours (`alb`: ALB-native canary metrics, service/analysis/alb.py)."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One successful measurement: what the conditions see as `result`, and the measurement's `value`."""

    result: object
    value: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    """The measurement's metadata (Prometheus warnings, CloudWatch messages); usually empty."""


class ProviderError(Exception):
    """A measurement that failed; the message becomes the Error measurement's message."""


class Provider(Protocol):
    """Measures one metric's provider dict (args already substituted) within `timeout` seconds."""

    async def measure(
        self, provider: Mapping[str, Any], *, timeout: float  # noqa: ASYNC109 (the engine's seam)
    ) -> Observation:
        ...

    async def aclose(self) -> None: ...


class RequestSlots:
    """One token bucket per peer (address, host or region): `rate` requests a second, `burst` at once."""

    def __init__(self, clock: Clock, *, rate: float = 10.0, burst: int = 20) -> None:
        self._clock = clock
        self._rate = rate
        self._burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    async def acquire(self, peer: str, *, within: float) -> None:
        """Wait for a request slot to `peer`; ProviderError at once when none comes within `within` s."""
        bucket = self._buckets.get(peer)
        if bucket is None:
            bucket = TokenBucket(self._rate, self._burst, monotonic=self._clock.monotonic)
            self._buckets[peer] = bucket
        bucket.refill(self._clock.monotonic())
        delay = bucket.take(max_wait=within)
        if delay is None:
            _log.warning("analysis_rate_limited", peer=peer)
            raise ProviderError(f"rate limited: no request slot to {peer} within {go_float(within)}s "
                                f"({go_float(self._rate)} requests/s)")
        if delay > 0:
            try:
                await self._clock.sleep(delay)
            except BaseException:
                bucket.give_back()  # a cancelled wait must not slow down the callers behind it
                raise


class Providers:
    """The providers by their key in a metric's `provider` dict (`prometheus`, `web`, `cloudWatch`, ...)."""

    def __init__(self, by_key: Mapping[str, Provider]) -> None:
        self._by_key = dict(by_key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self._by_key)

    def select(self, metric_name: str, provider: Mapping[str, Any]) -> tuple[Provider, Mapping[str, Any]]:
        """The provider serving a metric and its own part of `provider` (the reference's precedence)."""
        for key in PROVIDER_KEYS:
            config = provider.get(key)
            if config is None:
                continue
            if not isinstance(config, Mapping):
                raise ProviderError(f"provider.{key} of metric '{metric_name}' is not an object")
            chosen = self._by_key.get(key)
            if chosen is None:
                supported = ", ".join(self._by_key) or "none"
                raise ProviderError(f"the {key} provider of metric '{metric_name}' is not supported "
                                    f"(supported: {supported})")
            return chosen, config
        raise ProviderError(f"no valid provider in metric '{metric_name}'")

    async def aclose(self) -> None:
        for provider in self._by_key.values():
            await provider.aclose()


def providers_for(
    clock: Clock,
    *,
    environ: Mapping[str, str] | None = None,
    aws_region: str | None = None,
    aws_endpoint_url: str | None = None,
    aws_session: AioSession | None = None,
    rate: float = 10.0,
    burst: int = 20,
) -> Providers:
    """The Prometheus, web, CloudWatch and ALB providers of one controller (`alb` reads via `cloudWatch`)."""
    # Imported here: the provider modules import this seam, so importing them at the top would be a cycle.
    from service.analysis.alb import AlbProvider
    from service.analysis.cloudwatch import CloudWatchProvider
    from service.analysis.prometheus import ADDRESS_ENV, PrometheusProvider
    from service.analysis.web import WebProvider

    env = os.environ if environ is None else environ
    cloud_watch = CloudWatchProvider(clock, region=aws_region, endpoint_url=aws_endpoint_url,
                                     session=aws_session, environ=env, rate=rate, burst=burst)
    return Providers({
        "prometheus": PrometheusProvider(clock, default_address=env.get(ADDRESS_ENV) or None,
                                         rate=rate, burst=burst),
        "web": WebProvider(clock, rate=rate, burst=burst),
        "cloudWatch": cloud_watch,
        "alb": AlbProvider(cloud_watch),  # one client and one rate limit per region for both
    })


def peer_of(url: str) -> str:
    """`scheme://host:port` of a URL: the rate-limit key and what logs name (never a path, query or user)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def go_url_error(method: str, url: str, reason: str) -> str:
    """Go's *url.Error text: `Get "http://x/": reason`."""
    op = method[:1].upper() + method[1:].lower()
    return f"{op} {go_quote(url)}: {reason}"


def transport_reason(exc: BaseException, *, client_timeout: bool = False) -> str:
    """What Go's net/http says for a failed request (the part after `Op "URL": `)."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        suffix = " (Client.Timeout exceeded while awaiting headers)" if client_timeout else ""
        return "context deadline exceeded" + suffix
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"tls: failed to verify certificate: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, socket.gaierror):
            return f"dial tcp: lookup {exc.host}: no such host"
        address = f"{exc.host}:{exc.port}"
        if isinstance(exc.os_error, ConnectionRefusedError):
            return f"dial tcp {address}: connect: connection refused"
        return f"dial tcp {address}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid URL {exc.url}"
    return str(exc) or type(exc).__name__


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "h": 3600.0}
_DURATION_NUMBER = re.compile(r"[0-9]*(?:\.[0-9]*)?")
_DURATION_UNIT = re.compile(r"[^0-9.]*")


def go_duration(text: str) -> float:
    """Seconds in a Go duration ("30s", "1h30m", "-1.5m"), or ProviderError worded as time.ParseDuration."""
    quoted = go_quote(text)
    rest, sign = text, 1.0
    if rest[:1] in ("+", "-"):
        sign, rest = (-1.0 if rest[0] == "-" else 1.0), rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ProviderError(f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        number = _DURATION_NUMBER.match(rest)
        digits = number.group(0) if number else ""
        if not any(char.isdigit() for char in digits):
            raise ProviderError(f"time: invalid duration {quoted}")
        rest = rest[len(digits):]
        unit_match = _DURATION_UNIT.match(rest)
        unit = unit_match.group(0) if unit_match else ""
        if not unit:
            raise ProviderError(f"time: missing unit in duration {quoted}")
        if unit not in _DURATION_UNITS:
            raise ProviderError(f"time: unknown unit {go_quote(unit)} in duration {quoted}")
        total += float(digits) * _DURATION_UNITS[unit]
        rest = rest[len(unit):]
    return sign * total


def go_float(value: float, verb: str = "g") -> str:
    """strconv.FormatFloat(value, verb, -1, 64) for verb "f", "e" or "g": shortest round-trip digits."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    digits, point = _shortest_digits(abs(value))
    if verb == "g":
        exponent = point - 1
        verb = "e" if digits and (exponent < -4 or exponent >= 6) else "f"
    if verb == "e":
        return sign + _format_e(digits, point)
    return sign + _format_f(digits, point)


def _shortest_digits(value: float) -> tuple[str, int]:
    """Go's decimalSlice for |value|: significant digits and the decimal point (value = 0.d * 10**point)."""
    if value == 0:
        return "", 0
    _, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)  # finite: NaN and Inf are handled by the caller
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent
    return digits.rstrip("0"), point


def _format_f(digits: str, point: int) -> str:
    whole = (digits[:point].ljust(point, "0") if point > 0 else "0")
    decimals = max(len(digits) - point, 0)
    if not decimals:
        return whole
    fraction = "".join(digits[point + i] if 0 <= point + i < len(digits) else "0" for i in range(decimals))
    return f"{whole}.{fraction}"


def _format_e(digits: str, point: int) -> str:
    mantissa = (digits[:1] or "0") + (f".{digits[1:]}" if len(digits) > 1 else "")
    exponent = point - 1 if digits else 0
    return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
