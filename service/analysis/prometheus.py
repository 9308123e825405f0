"""The Prometheus analysis provider: an instant (or range) PromQL query, answered as the reference answers it.

Room: analysis (service). Ports argo-rollouts' metricproviders/prometheus: `address` (else
ARGO_ROLLOUTS_PROMETHEUS_ADDRESS), `query`, `timeout` (seconds, default 30), `headers`, `insecure`,
`authentication.basicAuth` and `rangeQuery`; POSTs the form to /api/v1/query (or query_range) and falls back
to GET on 405/501 like client_golang. A vector or a matrix becomes a list of floats (value "[0.99,1]"), a
scalar a float (value "0.99"); other result types, API errors ("bad_data: ...") and transport failures are
ProviderErrors worded as the reference's. SigV4 and OAuth2 authentication are refused as not supported.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import structlog
from multidict import CIMultiDict

from service.analysis.providers import (
    Observation,
    ProviderError,
    RequestSlots,
    go_duration,
    go_float,
    go_url_error,
    peer_of,
    transport_reason,
)
from service.clock import Clock

__all__ = ["ADDRESS_ENV", "DEFAULT_TIMEOUT", "PrometheusProvider"]

ADDRESS_ENV = "ARGO_ROLLOUTS_PROMETHEUS_ADDRESS"
DEFAULT_TIMEOUT = 30.0
_log = structlog.get_logger()
# The only time expressions a rangeQuery may use here: expr's now(), optionally minus/plus a duration.
_TIME_EXPRESSION = re.compile(r"""\s*now\(\)\s*(?:([+-])\s*duration\(\s*(?:"([^"]*)"|'([^']*)')\s*\)\s*)?""")


@dataclass(frozen=True, slots=True)
class _Query:
    """One metric's Prometheus settings, checked."""

    address: str
    query: str
    timeout: float
    insecure: bool
    headers: tuple[tuple[str, str], ...]
    basic_auth: aiohttp.BasicAuth | None
    range_query: Mapping[str, Any] | None


class PrometheusProvider:
    """Queries the metric's Prometheus; one shared HTTP session, one rate-limit bucket per address."""

    def __init__(self, clock: Clock, *, default_address: str | None = None, rate: float = 10.0,
                 burst: int = 20) -> None:
        self._clock = clock
        self._default_address = default_address
        self._slots = RequestSlots(clock, rate=rate, burst=burst)
        self._session: aiohttp.ClientSession | None = None

    async def measure(
        self, provider: Mapping[str, Any], *, timeout: float  # noqa: ASYNC109 (the engine's seam)
    ) -> Observation:
        settings = _settings(provider, self._default_address)
        endpoint, form = self._request(settings)
        url = settings.address.rstrip("/") + endpoint
        budget = min(timeout, settings.timeout)
        method = "POST"
        try:
            async with asyncio.timeout(budget):
                await self._slots.acquire(peer_of(settings.address), within=budget)
                status, body = await self._send(settings, method, url, form)
                if status in (405, 501):  # client_golang's DoGetFallback: the server refuses form POSTs
                    method, url = "GET", f"{url}?{form}"
                    status, body = await self._send(settings, method, url, None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(go_url_error(method, url, transport_reason(exc))) from exc
        data, warnings = _api_data(status, body)
        observation = _observation(data, warnings)
        _log.debug("prometheus_measured", peer=peer_of(settings.address), value=observation.value)
        return observation

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _request(self, settings: _Query) -> tuple[str, str]:
        """The API path and the urlencoded form of an instant query (time=now) or a range query."""
        if settings.range_query is None:
            return "/api/v1/query", urlencode({"query": settings.query, "time": _unix(self._clock.now())})
        spec = settings.range_query
        start = _eval_time(spec.get("start"), "start", self._clock.now())
        end = _eval_time(spec.get("end"), "end", self._clock.now())
        try:
            step = go_duration(str(spec.get("step") or ""))
        except ProviderError as exc:
            raise ProviderError(f"failed to parse rangeQuery.step as duration: {exc}") from exc
        form = {"query": settings.query, "start": _unix(start), "end": _unix(end),
                "step": go_float(step, "f")}
        return "/api/v1/query_range", urlencode(form)

    async def _send(self, settings: _Query, method: str, url: str, form: str | None) -> tuple[int, bytes]:
        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=True)
        headers: CIMultiDict[str] = CIMultiDict()
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for key, value in settings.headers:
            headers[key] = value  # Header.Set: the last value of a key wins
        async with self._session.request(
            method, url, data=form, headers=headers, auth=settings.basic_auth,
            ssl=False if settings.insecure else True,
        ) as response:
            return response.status, await response.read()


def _settings(provider: Mapping[str, Any], default_address: str | None) -> _Query:
    address = provider.get("address") or ""
    if not isinstance(address, str):
        raise ProviderError("prometheus address is not is url format")
    if address:
        if not _is_url(address):
            raise ProviderError("prometheus address is not is url format")
    elif default_address:
        if not _is_url(default_address):
            raise ProviderError("prometheus address is not is url format")
        address = default_address
    else:
        raise ProviderError("prometheus address is not configured")
    timeout = provider.get("timeout")
    if timeout is None:
        seconds = DEFAULT_TIMEOUT
    elif isinstance(timeout, int) and not isinstance(timeout, bool):
        if timeout < 0:
            raise ProviderError("prometheus timeout should not be negative")
        seconds = float(timeout)
    else:
        raise ProviderError(f"prometheus timeout must be a whole number of seconds, not {timeout!r}")
    range_query = provider.get("rangeQuery")
    if range_query is not None and not isinstance(range_query, Mapping):
        raise ProviderError("prometheus rangeQuery must be an object")
    return _Query(
        address=address,
        query=str(provider.get("query") or ""),
        timeout=seconds,
        insecure=provider.get("insecure") is True,
        headers=_headers(provider.get("headers")),
        basic_auth=_authentication(provider.get("authentication"), address),
        range_query=range_query,
    )


def _headers(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(h, Mapping) for h in raw):
        raise ProviderError("prometheus headers must be a list of {key, value}")
    return tuple((str(h.get("key") or ""), str(h.get("value") or "")) for h in raw)


def _authentication(raw: Any, address: str) -> aiohttp.BasicAuth | None:
    auth = raw if isinstance(raw, Mapping) else {}
    sigv4 = auth.get("sigv4") or {}
    if "aps-workspaces" in address and isinstance(sigv4, Mapping) and any(sigv4.values()):
        raise ProviderError("prometheus sigv4 authentication (Amazon Managed Prometheus) is not supported")
    oauth2 = auth.get("oauth2") or {}
    if isinstance(oauth2, Mapping) and oauth2.get("tokenUrl"):
        if not oauth2.get("clientId") or not oauth2.get("clientSecret"):
            raise ProviderError("missing mandatory parameter in metric for OAuth2 setup")
        raise ProviderError("prometheus oauth2 authentication is not supported")
    basic = auth.get("basicAuth") or {}
    username = str(basic.get("username") or "") if isinstance(basic, Mapping) else ""
    password = str(basic.get("password") or "") if isinstance(basic, Mapping) else ""
    if not username and not password:
        return None
    if not username:
        raise ProviderError("missing mandatory parameter in metric for basic auth setup: username")
    if not password:
        raise ProviderError("missing mandatory parameter in metric for basic auth setup: password")
    return aiohttp.BasicAuth(username, password)


def _is_url(text: str) -> bool:
    """The reference's IsUrl: it parses, with a scheme and a host."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc)


def _unix(moment: datetime) -> str:
    """client_golang's formatTime: Unix seconds with the fraction, shortest."""
    return go_float(moment.timestamp(), "f")


def _eval_time(expression: Any, name: str, now: datetime) -> datetime:
    """A rangeQuery start/end: `now()` or `now() - duration("1h")` (the forms the reference documents)."""
    text = str(expression or "")
    match = _TIME_EXPRESSION.fullmatch(text)
    if match is None:
        raise ProviderError(f"failed to parse rangeQuery.{name} as time: unsupported expression "
                            f'{text!r} (only now() and now() - duration("...") are supported)')
    sign, double_quoted, single_quoted = match.groups()
    if sign is None:
        return now
    try:
        seconds = go_duration(double_quoted if double_quoted is not None else single_quoted)
    except ProviderError as exc:
        raise ProviderError(f"failed to parse rangeQuery.{name} as time: {exc}") from exc
    return now - timedelta(seconds=seconds) if sign == "-" else now + timedelta(seconds=seconds)


def _api_data(status: int, body: bytes) -> tuple[Any, list[str]]:
    """client_golang's apiClient.Do: the response's `data` and warnings, or its error as `type: message`."""
    if status // 100 != 2 and status not in (400, 422):
        if status // 100 == 4:
            raise ProviderError(f"client_error: client error: {status}")
        if status // 100 == 5:
            raise ProviderError(f"server_error: server error: {status}")
        raise ProviderError(f"bad_response: bad response code {status}")
    payload: Any = {}
    if status != 204:
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise ProviderError(f"bad_response: {exc}") from exc
    if not isinstance(payload, dict):
        raise ProviderError("bad_response: the response body is not a JSON object")
    warnings = [str(w) for w in payload.get("warnings") or []]
    if status in (400, 422) and payload.get("status") == "success":
        raise ProviderError("bad_response: inconsistent body for response code")
    if payload.get("status") == "error":
        raise ProviderError(f"{payload.get('errorType', '')}: {payload.get('error', '')}")
    return payload.get("data"), warnings


def _observation(data: Any, warnings: list[str]) -> Observation:
    """The reference's processResponse: scalar → float, vector/matrix → list of floats, else an error."""
    metadata = {"warnings": ", ".join(f'"{w}"' for w in warnings)} if warnings else {}
    kind = data.get("resultType") if isinstance(data, Mapping) else None
    result = data.get("result") if isinstance(data, Mapping) else None
    try:
        if kind == "scalar":
            scalar = _sample_value(result)
            return Observation(result=scalar, value=go_float(scalar, "f"), metadata=metadata)
        if kind == "vector":
            # A native-histogram sample has no float value: the reference's zero SampleValue.
            values = [_sample_value(s["value"]) if "value" in s else 0.0 for s in result or [] if s]
        elif kind == "matrix":
            values = [_sample_value(pair) for series in result or [] if series
                      for pair in series.get("values") or []]
        elif kind in (None, "string"):
            raise ProviderError("Prometheus metric type not supported")
        else:
            raise ProviderError(f'bad_response: unexpected value type "{kind}"')
    except (TypeError, KeyError, AttributeError, ValueError) as exc:
        raise ProviderError(f"bad_response: malformed {kind} result: {exc}") from exc
    text = "[" + ",".join(go_float(v, "f") for v in values) + "]"
    return Observation(result=values, value=text, metadata=metadata)


def _sample_value(pair: Any) -> float:
    """The float of a `[timestamp, "value"]` pair (Prometheus sends "NaN", "+Inf" as strings too)."""
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
        raise ValueError(f"sample value must be a quoted string in {pair!r}")
    return float(pair[1])
