"""The CloudWatch analysis provider: GetMetricData over the last `interval`, answered as the reference does.

Room: analysis (service). Ports argo-rollouts' metricproviders/cloudwatch: `interval` (Go duration, default
5m) and `metricDataQueries` (the CRD's lowerCamel MetricDataQuery: id, expression, label, metricStat{metric
{namespace, metricName, dimensions[{name, value}]}, period, stat, unit}, period, returnData), converted as
its convertType does and sent with StartTime = now - interval, EndTime = now (the injected clock). The result
is the MetricDataResults as the conditions see them (`result[0].Values`: Id, Label, StatusCode, Timestamps,
Values, Messages); the value is Go's `%+v` of the values ("[[0.1 0.2] [3]]"). The region is the client's:
the one given, else AWS_REGION, else AWS_DEFAULT_REGION; credentials are the session's default chain.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from service.analysis.providers import Observation, ProviderError, RequestSlots, go_duration, go_float
from service.aws.elbv2 import resolve_region
from service.clock import Clock

__all__ = ["DEFAULT_INTERVAL", "CloudWatchProvider"]

DEFAULT_INTERVAL = "5m"
_OPERATION = "operation error CloudWatch: GetMetricData"
_log = structlog.get_logger()


class CloudWatchProvider:
    """Calls GetMetricData; one aiobotocore client (created on first use), one rate-limit bucket."""

    def __init__(self, clock: Clock, *, region: str | None = None, endpoint_url: str | None = None,
                 session: AioSession | None = None, environ: Mapping[str, str] | None = None,
                 rate: float = 10.0, burst: int = 20) -> None:
        self._clock = clock
        self._region = resolve_region(region, environ)
        self._endpoint_url = endpoint_url
        self._session = session
        self._slots = RequestSlots(clock, rate=rate, burst=burst)
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._opening = asyncio.Lock()

    async def measure(
        self, provider: Mapping[str, Any], *, timeout: float  # noqa: ASYNC109 (the engine's seam)
    ) -> Observation:
        interval = go_duration(str(provider.get("interval") or DEFAULT_INTERVAL))
        queries = [_query(raw) for raw in _query_list(provider.get("metricDataQueries"))]
        end = self._clock.now()
        start = end - timedelta(seconds=interval)
        try:
            async with asyncio.timeout(timeout):
                client = await self._open()
                await self._slots.acquire(self._region or "", within=timeout)
                response = await client.get_metric_data(
                    StartTime=start, EndTime=end, MetricDataQueries=queries)
        except ClientError as exc:
            raise ProviderError(_api_error(exc)) from exc
        except TimeoutError as exc:
            raise ProviderError(f"{_OPERATION}, context deadline exceeded") from exc
        except (BotoCoreError, ValueError, OSError) as exc:
            raise ProviderError(f"{_OPERATION}, {exc}") from exc
        return _observation(response)

    async def aclose(self) -> None:
        async with self._opening:
            await self._stack.aclose()
            self._client = None

    async def _open(self) -> Any:
        async with self._opening:
            if self._client is None:
                if self._region is None:
                    raise ProviderError("no AWS region for CloudWatch: set AWS_REGION or AWS_DEFAULT_REGION")
                session = self._session or get_session()
                # The Go SDK's default: standard retries, three attempts (the measure's timeout bounds them).
                config = AioConfig(retries={"mode": "standard", "total_max_attempts": 3},
                                   user_agent_extra="alb-rollouts")
                self._client = await self._stack.enter_async_context(session.create_client(
                    "cloudwatch", region_name=self._region, endpoint_url=self._endpoint_url, config=config))
            return self._client


def _query_list(raw: Any) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(q, Mapping) for q in raw):
        raise ProviderError("cloudWatch metricDataQueries must be a list of objects")
    return raw


def _int_value(raw: Any) -> int:
    """IntOrString.IntValue(): the int, or a string's Atoi (0 when it is not a number)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    try:
        return int(str(raw).strip())
    except ValueError:
        return 0


def _query(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The reference's convertType: CRD lowerCamel fields to the API's MetricDataQuery."""
    query: dict[str, Any] = {"Id": str(raw.get("id") or "")}
    for source, target in (("expression", "Expression"), ("label", "Label")):
        if raw.get(source) is not None:
            query[target] = str(raw[source])
    stat = raw.get("metricStat")
    if isinstance(stat, Mapping):
        metric: Mapping[str, Any] = stat["metric"] if isinstance(stat.get("metric"), Mapping) else {}
        converted: dict[str, Any] = {"MetricName": str(metric.get("metricName") or "")}
        if metric.get("namespace") is not None:
            converted["Namespace"] = str(metric["namespace"])
        dimensions = metric.get("dimensions")
        if isinstance(dimensions, list):
            converted["Dimensions"] = [{"Name": str(d.get("name") or ""), "Value": str(d.get("value") or "")}
                                       for d in dimensions if isinstance(d, Mapping)]
        metric_stat: dict[str, Any] = {"Metric": converted, "Period": _int_value(stat.get("period")),
                                       "Stat": str(stat.get("stat") or "")}
        if stat.get("unit"):
            metric_stat["Unit"] = str(stat["unit"])
        query["MetricStat"] = metric_stat
    if raw.get("period") is not None:
        query["Period"] = _int_value(raw["period"])
    if raw.get("returnData") is not None:
        query["ReturnData"] = raw["returnData"] is True
    return query


def _observation(response: Mapping[str, Any]) -> Observation:
    results = [
        {
            "Id": item.get("Id"),
            "Label": item.get("Label"),
            "StatusCode": item.get("StatusCode"),
            "Timestamps": list(item.get("Timestamps") or []),
            "Values": [float(v) for v in item.get("Values") or []],
            "Messages": [{"Code": m.get("Code"), "Value": m.get("Value")}
                         for m in item.get("Messages") or []],
        }
        for item in response.get("MetricDataResults") or []
    ]
    value = "[" + " ".join("[" + " ".join(go_float(v) for v in r["Values"]) + "]" for r in results) + "]"
    messages = response.get("Messages") or []
    metadata = {}
    if messages:
        _log.warning("cloudwatch_messages", count=len(messages))
        metadata["messages"] = "[" + " ".join(
            f"{{Code:{m.get('Code', '')} Value:{m.get('Value', '')}}}" for m in messages) + "]"
    return Observation(result=results, value=value, metadata=metadata)


def _api_error(exc: ClientError) -> str:
    """The Go SDK's wording of an API error."""
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    return (f"{_OPERATION}, https response error StatusCode: {meta.get('HTTPStatusCode', 0)}, "
            f"RequestID: {meta.get('RequestId', '')}, api error {error.get('Code', '')}: "
            f"{error.get('Message', '')}")
