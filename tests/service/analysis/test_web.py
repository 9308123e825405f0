"""The web provider against a real aiohttp server on loopback, and the providers' registry.

Covers: a JSON body read through `{$.data.ok}` and through the default `{$}` (Go's json.Marshal value:
sorted keys, Go floats, HTML-escaped strings); client-go JSONPath semantics (indexes, wildcards, recursive
descent, filters, text pieces) and its errors (missing key, index out of bounds, unclosed action, no value);
a body that is not JSON (the text itself); headers sent with Header.Set semantics; POST with `body` (no
Content-Type added) and PUT with `jsonBody` (compact JSON, application/json); body on GET and body+jsonBody
refused; a non-2xx status; the metric's timeoutSeconds and the engine's timeout (a peer that never answers);
a refused connection; an unsupported scheme; the rate limit (a second request waits for the clock, or fails
at once when its slot is beyond the timeout); the registry's precedence and its errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.analysis.providers import Observation, ProviderError, Providers, providers_for
from service.analysis.web import WebProvider
from service.clock import FakeClock, SystemClock
from tests.sandbox.polling import until
from tests.service.analysis.conftest import Peer

PAYLOAD: dict[str, Any] = {
    "data": {"ok": True, "successPercent": 0.95, "items": [{"name": "a", "n": 1}, {"name": "b", "n": 2}]},
    "zeta": [1e-7, 1e21, 100, "<b>&"], "alpha": None,
}


@pytest.fixture
async def web() -> AsyncIterator[WebProvider]:
    provider = WebProvider(SystemClock())
    yield provider
    await provider.aclose()


async def test_json_path_picks_the_value(web: WebProvider, peer: Peer) -> None:
    peer.json("/m", PAYLOAD)
    observed = await web.measure({"url": f"{peer.url}/m", "jsonPath": "{$.data.ok}"}, timeout=10)
    assert observed == Observation(result=True, value="true")
    observed = await web.measure({"url": f"{peer.url}/m", "jsonPath": "{$.data}"}, timeout=10)
    assert observed.result == PAYLOAD["data"]
    assert observed.value == ('{"items":[{"n":1,"name":"a"},{"n":2,"name":"b"}],"ok":true,'
                              '"successPercent":0.95}')
    assert peer.requests[0].method == "GET"


async def test_default_json_path_is_the_whole_body_as_go_marshals_it(web: WebProvider, peer: Peer) -> None:
    peer.json("/m", PAYLOAD)
    observed = await web.measure({"url": f"{peer.url}/m"}, timeout=10)
    result: Any = observed.result
    assert result["zeta"] == [1e-7, 1e21, 100.0, "<b>&"]
    assert isinstance(result["data"]["items"][0]["n"], float)  # every JSON number is a float64
    assert observed.value.startswith('{"alpha":null,"data":{')
    assert observed.value.endswith('"zeta":[1e-7,1e+21,100,"\\u003cb\\u003e\\u0026"]}')


@pytest.mark.parametrize(("path", "result", "value"), [
    ("{.data.items[0].name}", "a", '"a"'),
    ("{$.data.items[-1].n}", 2.0, "2"),
    ("{$.data.items[*].name}", "a", '"a"'),
    ("{$..successPercent}", 0.95, "0.95"),
    ("{$.data.items[?(@.name == 'b')].n}", 2.0, "2"),
    ("{$.data.items[?(@.n > 1.5)].name}", "b", '"b"'),
    ("{$.data['ok']}", True, "true"),
    ("{$.data.items[1:2]}", {"name": "b", "n": 2.0}, '{"n":2,"name":"b"}'),
    ("ratio {$.data.successPercent}", "ratio ", '"ratio "'),
])
async def test_client_go_json_path(web: WebProvider, peer: Peer, path: str, result: object,
                                   value: str) -> None:
    peer.json("/m", PAYLOAD)
    observed = await web.measure({"url": f"{peer.url}/m", "jsonPath": path}, timeout=10)
    assert (observed.result, observed.value) == (result, value)


@pytest.mark.parametrize(("path", "message"), [
    ("{$.data.missing}", "Could not find JSONPath in body: missing is not found"),
    ("{$.data.items[5]}", "Could not find JSONPath in body: array index out of bounds: index 5, length 2"),
    ("{$.data.ok[0]}", "Could not find JSONPath in body: bool is not array or slice"),
    ("{$.data.items[?(@.n > 1)]}", "Could not find JSONPath in body: incompatible types for comparison"),
    ("{$.data.items[2:2]}", "result of web metric produced no value"),
    ("{$.data.ok", "jsonPath {$.data.ok: unclosed action"),
    ("{range .data.items[*]}{.name}{end}", "jsonPath {range .data.items[*]}{.name}{end}: range/end is not "
                                           "supported"),
])
async def test_json_path_errors(web: WebProvider, peer: Peer, path: str, message: str) -> None:
    peer.json("/m", PAYLOAD)
    with pytest.raises(ProviderError) as caught:
        await web.measure({"url": f"{peer.url}/m", "jsonPath": path}, timeout=10)
    assert str(caught.value) == message


async def test_a_body_that_is_not_json_is_the_text(web: WebProvider, peer: Peer) -> None:
    peer.text("/plain", "I am OK")
    peer.text("/broken", '{"data": ')
    peer.text("/nan", '{"x": NaN}')
    assert await web.measure({"url": f"{peer.url}/plain"}, timeout=10) == Observation("I am OK", "I am OK")
    broken = await web.measure({"url": f"{peer.url}/broken", "jsonPath": "{$.data}"}, timeout=10)
    assert broken == Observation('{"data": ', '{"data": ')
    assert (await web.measure({"url": f"{peer.url}/nan"}, timeout=10)).result == '{"x": NaN}'


async def test_headers_are_set_last_one_wins(web: WebProvider, peer: Peer) -> None:
    peer.json("/m", {"ok": 1})
    headers = [{"key": "Authorization", "value": "Bearer one"}, {"key": "X-Tenant", "value": "a"},
               {"key": "authorization", "value": "Bearer two"}]
    await web.measure({"url": f"{peer.url}/m", "headers": headers}, timeout=10)
    sent = peer.requests[0].headers
    assert sent["authorization"] == ["Bearer two"]
    assert sent["x-tenant"] == ["a"]


async def test_post_body_and_put_json_body(web: WebProvider, peer: Peer) -> None:
    peer.json("/m", {"ok": True})
    await web.measure({"url": f"{peer.url}/m", "method": "POST", "body": "raw text"}, timeout=10)
    json_body = {"key1": "value_1", "key2": {"nestedObj": "nested value"}}
    await web.measure({"url": f"{peer.url}/m", "method": "PUT", "jsonBody": json_body,
                       "headers": [{"key": "Content-Type", "value": "text/plain"}]}, timeout=10)
    post, put = peer.requests
    assert (post.method, post.body) == ("POST", b"raw text")
    assert "content-type" not in post.headers
    assert (put.method, put.body) == ("PUT", b'{"key1":"value_1","key2":{"nestedObj":"nested value"}}')
    assert put.headers["content-type"] == ["application/json"]


@pytest.mark.parametrize(("extra", "message"), [
    ({"body": "x"}, "Body/JSONBody can only be used with POST or PUT WebMetric Method types"),
    ({"jsonBody": {"a": 1}}, "Body/JSONBody can only be used with POST or PUT WebMetric Method types"),
    ({"method": "POST", "body": "x", "jsonBody": {"a": 1}},
     "use either Body or JSONBody; both cannot exists for WebMetric payload"),
])
async def test_bodies_refused(web: WebProvider, peer: Peer, extra: dict[str, object], message: str) -> None:
    with pytest.raises(ProviderError, match=message):
        await web.measure({"url": f"{peer.url}/m", **extra}, timeout=10)
    assert peer.requests == []


async def test_non_2xx_status(web: WebProvider, peer: Peer) -> None:
    peer.text("/down", "unavailable", status=503)
    with pytest.raises(ProviderError) as caught:
        await web.measure({"url": f"{peer.url}/down"}, timeout=10)
    assert str(caught.value) == "received non 2xx response code: 503"


async def test_timeouts_metric_and_engine(web: WebProvider, peer: Peer) -> None:
    peer.stall("/slow")
    url = f"{peer.url}/slow"
    with pytest.raises(ProviderError) as caught:
        await web.measure({"url": url, "timeoutSeconds": 1}, timeout=30)
    assert str(caught.value) == (f'Get "{url}": context deadline exceeded '
                                 "(Client.Timeout exceeded while awaiting headers)")
    with pytest.raises(ProviderError, match="context deadline exceeded"):
        await web.measure({"url": url, "method": "POST", "body": "x"}, timeout=0.2)
    assert [r.method for r in peer.requests] == ["GET", "POST"]


async def test_connection_refused_and_bad_scheme(web: WebProvider, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/m"
    with pytest.raises(ProviderError) as caught:
        await web.measure({"url": url}, timeout=10)
    assert str(caught.value) == f'Get "{url}": dial tcp 127.0.0.1:{closed_port}: connect: connection refused'
    with pytest.raises(ProviderError) as caught:
        await web.measure({"url": "ftp://example/x"}, timeout=10)
    assert str(caught.value) == 'Get "ftp://example/x": unsupported protocol scheme "ftp"'


async def test_rate_limit_per_host(peer: Peer) -> None:
    clock = FakeClock()
    web = WebProvider(clock, rate=1.0, burst=1)
    peer.json("/m", {"ok": True})
    try:
        await web.measure({"url": f"{peer.url}/m"}, timeout=10)
        with pytest.raises(ProviderError, match=r"rate limited: no request slot to http://127\.0\.0\.1:\d+ "):
            await web.measure({"url": f"{peer.url}/m"}, timeout=0.5)
        waiting = asyncio.create_task(web.measure({"url": f"{peer.url}/m"}, timeout=10))
        await until(lambda: clock.sleepers, what="the second request to wait for its slot")
        assert len(peer.requests) == 1
        clock.advance(1.0)
        assert await waiting == Observation({"ok": True}, '{"ok":true}')
        assert len(peer.requests) == 2
    finally:
        await web.aclose()


async def test_registry_precedence_and_errors(peer: Peer) -> None:
    providers = providers_for(SystemClock(), environ={})
    try:
        assert providers.keys == ("prometheus", "web", "cloudWatch", "alb")
        peer.json("/m", {"ok": True})
        chosen, config = providers.select("m", {"web": {"url": f"{peer.url}/m"}, "cloudWatch": {}})
        assert await chosen.measure(config, timeout=10) == Observation({"ok": True}, '{"ok":true}')
        first, _ = providers.select("m", {"web": {}, "prometheus": {}})
        assert first is providers.select("m", {"prometheus": {}})[0]
        with pytest.raises(ProviderError, match=r"^no valid provider in metric 'm'$"):
            providers.select("m", {})
        with pytest.raises(ProviderError, match="the datadog provider of metric 'm' is not supported"):
            providers.select("m", {"datadog": {"query": "x"}})
        assert isinstance(Providers({}), Providers)
    finally:
        await providers.aclose()
