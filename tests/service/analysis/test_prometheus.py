"""The Prometheus provider against a real Prometheus scraping an exporter the tests set, and a scripted peer.

Covers, against Prometheus (skipped without /usr/bin/prometheus): a gauge's new values followed by the query
result (vector → list of floats, value "[0.25]"); a counter; a scalar (float, value "0.5"); an empty vector;
a range query (matrix → every sample); a bad query (Prometheus's own bad_data message); a string result
(not supported, as the reference). Against a scripted peer: the POST form (query, time) with headers (Set
semantics) and basic auth, the GET fallback on 405, warnings as metadata, a 5xx, a body that is not JSON, a
stalled peer (the metric's and the engine's timeouts); and a refused connection, the address from the
environment default, the configuration errors, the rate limit on a fake clock.
"""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import parse_qs

import pytest

from service.analysis.prometheus import PrometheusProvider
from service.analysis.providers import Observation, ProviderError
from service.clock import FakeClock, SystemClock
from tests.sandbox.polling import eventually, until
from tests.service.analysis.conftest import PROMETHEUS, Peer, PrometheusHarness

needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus is not installed (apt-get install prometheus)")


@pytest.fixture
async def provider() -> AsyncIterator[PrometheusProvider]:
    made = PrometheusProvider(SystemClock())
    yield made
    await made.aclose()


async def _settles(provider: PrometheusProvider, address: str, query: str, expected: Observation) -> None:
    """Poll until Prometheus has scraped what the test just exported (scrape_interval is 1 s)."""

    async def check() -> None:
        assert await provider.measure({"address": address, "query": query}, timeout=10) == expected

    await eventually(check, within=30)


@needs_prometheus
async def test_vector_follows_the_exported_gauge(provider: PrometheusProvider,
                                                 prometheus: PrometheusHarness) -> None:
    query = 'analysis_test_gauge{case="follow"}'
    prometheus.gauge.labels("follow").set(0.25)
    await _settles(provider, prometheus.url, query, Observation([0.25], "[0.25]"))
    prometheus.gauge.labels("follow").set(1e21)
    await _settles(provider, prometheus.url, query, Observation([1e21], "[1000000000000000000000]"))
    prometheus.gauge.labels("follow").set(float("nan"))

    async def is_nan() -> None:
        observed = await provider.measure({"address": prometheus.url, "query": query}, timeout=10)
        result: Any = observed.result
        assert observed.value == "[NaN]" and math.isnan(result[0])

    await eventually(is_nan, within=30)


@needs_prometheus
async def test_counter_scalar_and_empty_vector(provider: PrometheusProvider,
                                               prometheus: PrometheusHarness) -> None:
    prometheus.counter.labels("counter").inc(3)
    await _settles(provider, prometheus.url, 'analysis_test_total{case="counter"}', Observation([3.0], "[3]"))
    observed = await provider.measure({"address": prometheus.url, "query": "scalar(vector(0.5))"}, timeout=10)
    assert observed == Observation(0.5, "0.5")
    empty = await provider.measure({"address": prometheus.url, "query": 'analysis_test_gauge{case="none"}'},
                                   timeout=10)
    assert empty == Observation([], "[]")


@needs_prometheus
async def test_range_query_flattens_the_matrix(provider: PrometheusProvider,
                                               prometheus: PrometheusHarness) -> None:
    prometheus.gauge.labels("range").set(7)
    await _settles(provider, prometheus.url, 'analysis_test_gauge{case="range"}', Observation([7.0], "[7]"))
    spec = {"address": prometheus.url, "query": 'analysis_test_gauge{case="range"}',
            "rangeQuery": {"start": 'now() - duration("2s")', "end": "now()", "step": "500ms"}}

    async def several() -> list[float]:
        observed = await provider.measure(spec, timeout=10)
        values: list[float] = cast(list[float], observed.result)
        assert len(values) >= 2
        assert observed.value == "[" + ",".join("7" for _ in values) + "]"
        return values

    assert set(await eventually(several, within=30)) == {7.0}


@needs_prometheus
async def test_prometheus_errors(provider: PrometheusProvider, prometheus: PrometheusHarness) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.measure({"address": prometheus.url, "query": "sum(rate(x[5m]"}, timeout=10)
    assert str(caught.value).startswith('bad_data: invalid parameter "query": ')
    assert "parse error" in str(caught.value)
    with pytest.raises(ProviderError, match=r"^Prometheus metric type not supported$"):
        await provider.measure({"address": prometheus.url, "query": '"hello"'}, timeout=10)


def _success(result_type: str, result: object, warnings: list[str] | None = None) -> dict[str, object]:
    body: dict[str, object] = {"status": "success", "data": {"resultType": result_type, "result": result}}
    if warnings:
        body["warnings"] = warnings
    return body


async def test_request_form_headers_auth_and_get_fallback(provider: PrometheusProvider, peer: Peer) -> None:
    refused = {"status": "error", "errorType": "x", "error": "POST refused"}
    peer.json("/prefix/api/v1/query", refused, status=405)
    spec = {"address": f"{peer.url}/prefix", "query": "up == 1",
            "headers": [{"key": "X-Scope-OrgID", "value": "a"}, {"key": "x-scope-orgid", "value": "b"}],
            "authentication": {"basicAuth": {"username": "u", "password": "p"}}}
    with pytest.raises(ProviderError, match=r"^client_error: client error: 405$"):
        await provider.measure(spec, timeout=10)
    post, get = peer.requests
    assert (post.method, get.method) == ("POST", "GET")
    assert parse_qs(post.body.decode())["query"] == ["up == 1"]
    assert float(get.query["time"]) > 1.7e9
    assert get.query["query"] == "up == 1"
    assert post.headers["x-scope-orgid"] == ["b"]
    assert post.headers["authorization"] == ["Basic " + base64.b64encode(b"u:p").decode()]
    assert post.headers["content-type"] == ["application/x-www-form-urlencoded"]


async def test_warnings_status_and_bad_bodies(provider: PrometheusProvider, peer: Peer) -> None:
    peer.json("/api/v1/query", _success("vector", [{"metric": {}, "value": [1, "+Inf"]},
                                                   {"metric": {}, "value": [1, "0.1"]}], ["w1", "w2"]))
    observed = await provider.measure({"address": peer.url, "query": "q"}, timeout=10)
    assert observed == Observation([math.inf, 0.1], "[+Inf,0.1]", {"warnings": '"w1", "w2"'})
    peer.json("/api/v1/query", _success("matrix", [{"metric": {}, "values": [[1, "1"], [2, "2.5"]]},
                                                   {"metric": {}, "values": [[1, "-3"]]}]))
    observed = await provider.measure({"address": peer.url, "query": "q"}, timeout=10)
    assert observed == Observation([1.0, 2.5, -3.0], "[1,2.5,-3]")
    for status, message in ((503, "server_error: server error: 503"),
                            (404, "client_error: client error: 404")):
        peer.text("/api/v1/query", "down", status=status)
        with pytest.raises(ProviderError, match=rf"^{message}$"):
            await provider.measure({"address": peer.url, "query": "q"}, timeout=10)
    peer.text("/api/v1/query", "<html>")
    with pytest.raises(ProviderError, match=r"^bad_response: "):
        await provider.measure({"address": peer.url, "query": "q"}, timeout=10)
    peer.json("/api/v1/query", {"status": "success", "data": {}}, status=400)
    with pytest.raises(ProviderError, match=r"^bad_response: inconsistent body for response code$"):
        await provider.measure({"address": peer.url, "query": "q"}, timeout=10)


async def test_timeouts_and_refused_connection(provider: PrometheusProvider, peer: Peer,
                                               closed_port: int) -> None:
    peer.stall("/api/v1/query")
    url = f"{peer.url}/api/v1/query"
    with pytest.raises(ProviderError) as caught:
        await provider.measure({"address": peer.url, "query": "q", "timeout": 1}, timeout=30)
    assert str(caught.value) == f'Post "{url}": context deadline exceeded'
    with pytest.raises(ProviderError, match="context deadline exceeded"):
        await provider.measure({"address": peer.url, "query": "q"}, timeout=0.2)
    address = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(ProviderError) as caught:
        await provider.measure({"address": address, "query": "q"}, timeout=10)
    assert str(caught.value) == (f'Post "{address}/api/v1/query": dial tcp 127.0.0.1:{closed_port}: '
                                 "connect: connection refused")


async def test_address_from_the_environment_default(peer: Peer) -> None:
    peer.json("/api/v1/query", _success("scalar", [1, "2"]))
    made = PrometheusProvider(SystemClock(), default_address=peer.url)
    try:
        assert await made.measure({"query": "q"}, timeout=10) == Observation(2.0, "2")
    finally:
        await made.aclose()


@pytest.mark.parametrize(("spec", "message"), [
    ({"query": "q"}, "prometheus address is not configured"),
    ({"address": "prometheus:9090", "query": "q"}, "prometheus address is not is url format"),
    ({"address": "http://p:9090", "timeout": -1}, "prometheus timeout should not be negative"),
    ({"address": "http://p:9090", "authentication": {"basicAuth": {"username": "u"}}},
     "missing mandatory parameter in metric for basic auth setup: password"),
    ({"address": "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1",
      "authentication": {"sigv4": {"region": "us-east-1"}}}, "sigv4 authentication .* is not supported"),
    ({"address": "http://p:9090", "rangeQuery": {"start": "now() - 5", "end": "now()", "step": "1m"}},
     "failed to parse rangeQuery.start as time: unsupported expression"),
    ({"address": "http://p:9090", "rangeQuery": {"start": "now()", "end": "now()", "step": "1x"}},
     'failed to parse rangeQuery.step as duration: time: unknown unit "x" in duration "1x"'),
])
async def test_configuration_errors(provider: PrometheusProvider, spec: dict[str, object],
                                    message: str) -> None:
    with pytest.raises(ProviderError, match=message):
        await provider.measure(spec, timeout=10)


async def test_rate_limit_per_address(peer: Peer) -> None:
    clock = FakeClock()
    made = PrometheusProvider(clock, rate=2.0, burst=1)
    peer.json("/api/v1/query", _success("scalar", [1, "1"]))
    try:
        await made.measure({"address": peer.url, "query": "q"}, timeout=10)
        waiting = asyncio.create_task(made.measure({"address": peer.url, "query": "q"}, timeout=10))
        await until(lambda: clock.sleepers, what="the second query to wait for its slot")
        assert len(peer.requests) == 1
        clock.advance(0.5)
        assert await waiting == Observation(1.0, "1")
        assert len(peer.requests) == 2
    finally:
        await made.aclose()
