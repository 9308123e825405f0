"""The CloudWatch provider against moto's CloudWatch (the multi-service server of tests/conftest.py).

Covers: ALB 5XX counts put with PutMetricData and read back per minute (Sum) and over the window (Average)
through the CRD's lowerCamel metricDataQueries; a query hidden with returnData: false feeding an expression
(moto's metric math only copies a query by its id: no arithmetic); the result as the conditions see it
(`result[0]["Values"]`, Id, Label, StatusCode, Timestamps) and Go's `%+v` value string; StartTime/EndTime
from the injected clock and `interval` (data older than the interval left out); a bad interval (Go's
message); an API error worded as the Go SDK's; the engine's timeout; no region; the client closed and
reopened; the rate limit per region on a fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from aiobotocore.session import AioSession

from service.analysis.cloudwatch import CloudWatchProvider
from service.analysis.providers import ProviderError
from service.clock import FakeClock
from tests.sandbox.polling import until

REGION = "us-east-1"
NOW = datetime.now(UTC).replace(microsecond=0)
DIMENSIONS = [("LoadBalancer", "app/canary-alb/50dc6c495c0c9188"),
              ("TargetGroup", "targetgroup/canary-tg/73e2d6bc24d8a067")]


def _stat(query_id: str, stat: str, period: int | str, **extra: object) -> dict[str, object]:
    metric = {"namespace": "AWS/ApplicationELB", "metricName": "HTTPCode_Target_5XX_Count",
              "dimensions": [{"name": name, "value": value} for name, value in DIMENSIONS]}
    return {"id": query_id, "metricStat": {"metric": metric, "period": period, "stat": stat, "unit": "Count"},
            **extra}


@pytest.fixture
async def errors_put(aws_endpoint: str, cw_session: AioSession) -> str:
    """5XX counts 150 s, 90 s, 30 s and 600 s before NOW: 2, 3, 5 and 100."""
    async with cw_session.create_client("cloudwatch", region_name=REGION, endpoint_url=aws_endpoint) as cw:
        for seconds_ago, count in ((150, 2.0), (90, 3.0), (30, 5.0), (600, 100.0)):
            await cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[{
                "MetricName": "HTTPCode_Target_5XX_Count", "Unit": "Count", "Value": count,
                "Timestamp": NOW - timedelta(seconds=seconds_ago),
                "Dimensions": [{"Name": name, "Value": value} for name, value in DIMENSIONS],
            }])
    return aws_endpoint


@pytest.fixture
async def provider(errors_put: str, cw_session: AioSession) -> AsyncIterator[CloudWatchProvider]:
    made = CloudWatchProvider(FakeClock(start=NOW), region=REGION, endpoint_url=errors_put,
                              session=cw_session)
    yield made
    await made.aclose()


async def test_sum_average_and_a_hidden_query_behind_an_expression(provider: CloudWatchProvider) -> None:
    observed = await provider.measure({"metricDataQueries": [
        _stat("errors", "Sum", 60, returnData=False),
        _stat("avg", "Average", "300"),
        {"id": "rate", "expression": "errors", "label": "5xx per minute"},
    ]}, timeout=20)
    results: Any = observed.result
    by_id = {result["Id"]: result for result in results}
    assert set(by_id) == {"avg", "rate"}
    assert by_id["avg"]["Values"] == [10 / 3]
    assert by_id["avg"]["Label"] == "HTTPCode_Target_5XX_Count Average"
    assert by_id["rate"]["Label"] == "5xx per minute"
    assert sorted(by_id["rate"]["Values"]) == [2.0, 3.0, 5.0]
    assert all(r["StatusCode"] == "Complete" for r in results)
    assert len(by_id["rate"]["Timestamps"]) == 3
    rate = results[1]
    assert observed.value == f"[[3.3333333333333335] [{' '.join(f'{v:g}' for v in rate['Values'])}]]"
    assert observed.metadata == {}


async def test_interval_bounds_the_window(provider: CloudWatchProvider) -> None:
    observed = await provider.measure({"interval": "2m", "metricDataQueries": [_stat("sum", "Sum", 120)]},
                                      timeout=20)
    assert cast(Any, observed.result)[0]["Values"] == [8.0]
    assert observed.value == "[[8]]"
    everything = await provider.measure({"interval": "1h", "metricDataQueries": [_stat("sum", "Sum", 3600)]},
                                        timeout=20)
    assert everything.value == "[[110]]"


async def test_interval_and_api_errors(provider: CloudWatchProvider) -> None:
    with pytest.raises(ProviderError, match=r'^time: unknown unit "d" in duration "1d"$'):
        await provider.measure({"interval": "1d", "metricDataQueries": [_stat("s", "Sum", 60)]}, timeout=20)
    with pytest.raises(ProviderError) as caught:
        await provider.measure({"interval": "0s", "metricDataQueries": [_stat("s", "Sum", 60)]}, timeout=20)
    message = str(caught.value)
    assert message.startswith("operation error CloudWatch: GetMetricData, https response error "
                              "StatusCode: 400, RequestID: ")
    assert message.endswith("api error ValidationError: The parameter StartTime must not equal parameter "
                            "EndTime.")
    with pytest.raises(ProviderError,
                       match=r"^operation error CloudWatch: GetMetricData, context deadline exceeded$"):
        await provider.measure({"metricDataQueries": [_stat("s", "Sum", 60)]}, timeout=0)


async def test_client_reopens_after_aclose(provider: CloudWatchProvider) -> None:
    spec = {"metricDataQueries": [_stat("sum", "Sum", 300)]}
    first = await provider.measure(spec, timeout=20)
    await provider.aclose()
    assert await provider.measure(spec, timeout=20) == first


async def test_region_from_the_environment_or_none(errors_put: str, cw_session: AioSession) -> None:
    spec = {"metricDataQueries": [_stat("sum", "Sum", 300)]}
    nowhere = CloudWatchProvider(FakeClock(start=NOW), endpoint_url=errors_put, session=cw_session,
                                 environ={})
    with pytest.raises(ProviderError, match=r"^no AWS region for CloudWatch"):
        await nowhere.measure(spec, timeout=20)
    await nowhere.aclose()
    from_env = CloudWatchProvider(FakeClock(start=NOW), endpoint_url=errors_put, session=cw_session,
                                  environ={"AWS_DEFAULT_REGION": REGION})
    try:
        assert (await from_env.measure(spec, timeout=20)).value == "[[10]]"
    finally:
        await from_env.aclose()


async def test_rate_limit_per_region(errors_put: str, cw_session: AioSession) -> None:
    clock = FakeClock(start=NOW)
    made = CloudWatchProvider(clock, region=REGION, endpoint_url=errors_put, session=cw_session,
                              rate=1.0, burst=1)
    spec = {"metricDataQueries": [_stat("sum", "Sum", 300)]}
    try:
        await made.measure(spec, timeout=20)
        waiting = asyncio.create_task(made.measure(spec, timeout=20))
        await until(lambda: clock.sleepers, what="the second call to wait for its slot")
        assert not waiting.done()
        clock.advance(1.0)
        assert (await waiting).value == "[[10]]"
    finally:
        await made.aclose()
