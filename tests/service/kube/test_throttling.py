"""service.kube.throttling: the --qps/--burst limiter on every request, over the wire to the API emulator, on
an injected FakeClock (no real time is waited for); and the server's Retry-After hints.

Covers: --qps 5 --burst 2 spreads 10 writes over 1.6 s of the limiter's clock (two at once, then one every
0.2 s), each waiting caller asleep once (no polling) and no request sent before its token; every wait in
`rest_client_rate_limiter_duration_seconds` (verb, host); a reflector's LIST and WATCH start wait for a token
and a whole watch stream costs one, a reconnect another; Lease calls and Events take tokens too; a token's
wait does not eat into the request's deadline; Retry-After as a header (seconds), in a Status's
details.retryAfterSeconds, or neither (an HTTP date, a negative or odd value).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import pytest
from kubernetes_asyncio import client
from prometheus_client import CollectorRegistry

from sandbox.apiserver.server import ApiServer
from sandbox.apiserver.storage import Storage
from service import client_metrics
from service.clock import FakeClock
from service.kube import caches, leases, resources, throttling, watching, writing
from service.settings import LeaderSettings
from tests.sandbox.polling import until

WAITS = "rest_client_rate_limiter_duration_seconds"


def _service(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"ports": [{"port": 80}]}}


def _limiter(qps: float, burst: int, clock: FakeClock,
             registry: CollectorRegistry) -> throttling.RequestLimiter:
    metrics = client_metrics.KubeClientMetrics(registry)
    return throttling.RequestLimiter(qps, burst, clock=clock, metrics=metrics)


def _waits(registry: CollectorRegistry, api_server: ApiServer, verb: str, what: str = "count") -> float:
    labels = {"verb": verb, "host": urlsplit(api_server.url).netloc}
    return registry.get_sample_value(f"{WAITS}_{what}", labels) or 0.0


def _served(api_server: ApiServer, verb: str) -> int:
    return sum(1 for r in api_server.faults.request_log if r.verb == verb)


async def test_qps_5_burst_2_spreads_10_writes_over_1_6_seconds_of_the_limiters_clock(
    api_server: ApiServer, api_client: client.ApiClient, storage: Storage, registry: CollectorRegistry
) -> None:
    storage.create("services", _service("web"))
    clock = FakeClock()
    writer = writing.KubeWriter(api_client, deadline=10.0, limiter=_limiter(5.0, 2, clock, registry))
    start = clock.monotonic()
    sent_at: list[float] = []

    async def write(n: int) -> None:
        await writer.patch_service("default", "web", {"metadata": {"labels": {"n": str(n)}}})
        sent_at.append(clock.monotonic() - start)

    writes = [asyncio.create_task(write(n)) for n in range(10)]
    await until(lambda: len(sent_at) == 2 and clock.sleepers == 8, what="the burst through, the rest asleep")
    assert _served(api_server, "patch") == 2  # nobody sends before its token
    while clock.next_deadline is not None:
        served = _served(api_server, "patch")
        clock.advance(clock.next_deadline - clock.monotonic())
        await until(lambda: _served(api_server, "patch") == served + 1, what="one more write")  # noqa: B023
        assert clock.sleepers == 10 - (served + 1)  # each waiter sleeps once: nobody polls
    await asyncio.gather(*writes)
    assert sent_at == pytest.approx([0.0, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6])
    assert clock.monotonic() - start >= 1.6 - 1e-9
    assert _waits(registry, api_server, "PATCH") == 10
    assert _waits(registry, api_server, "PATCH", "sum") == pytest.approx(0.2 * sum(range(1, 9)))


async def test_the_token_wait_is_not_part_of_the_request_deadline(
    api_server: ApiServer, api_client: client.ApiClient, storage: Storage, registry: CollectorRegistry
) -> None:
    storage.create("services", _service("web"))
    clock = FakeClock()
    limiter = _limiter(0.1, 1, clock, registry)
    limiter.bucket.reserve()  # the only token is gone: the next request waits 10 s of the fake clock
    writer = writing.KubeWriter(api_client, deadline=0.5, limiter=limiter)
    task = asyncio.create_task(writer.patch_service("default", "web", {"metadata": {"labels": {"a": "b"}}}))
    await until(lambda: clock.sleepers == 1, what="the write waiting for its token")
    clock.advance(10.0)
    answer = await task  # client-go throttles before the request timeout starts: no Timeout here
    assert answer["metadata"]["labels"] == {"a": "b"}


async def test_a_reflector_waits_for_tokens_and_a_watch_stream_costs_one(
    api_server: ApiServer, api_client: client.ApiClient, storage: Storage, registry: CollectorRegistry,
    settings: watching.WatchSettings,
) -> None:
    clock = FakeClock()
    limiter = _limiter(1.0, 1, clock, registry)
    limiter.bucket.reserve()  # empty: the LIST must wait for the limiter's clock
    reflector = watching.Reflector(api_client, resources.SERVICES, caches.Store(), settings=settings,
                                   limiter=limiter)
    reflector.start()
    try:
        await until(lambda: clock.sleepers == 1, what="the LIST waiting for its token")
        assert api_server.faults.request_log == []
        clock.advance(1.0)
        await until(reflector.synced.is_set, what="the LIST")
        await until(lambda: clock.sleepers == 1, what="the WATCH waiting for its token")
        assert _served(api_server, "watch") == 0
        clock.advance(1.0)
        await until(lambda: api_server.open_watches == 1, what="the watch")
        for name in ("a", "b", "c"):
            storage.create("services", _service(name))
        await until(lambda: len(reflector.store) == 3, what="three events on one stream")
        assert _waits(registry, api_server, "GET") == 2  # one LIST, one WATCH start: events cost nothing
        api_server.faults.close_watches()
        await until(lambda: clock.sleepers == 1, what="the reconnect waiting for its token")
        clock.advance(1.0)
        await until(lambda: _waits(registry, api_server, "GET") == 3 and api_server.open_watches == 1,
                    what="the resumed watch")
    finally:
        await reflector.stop()
    assert _waits(registry, api_server, "GET", "sum") == pytest.approx(3.0)


async def test_lease_calls_and_events_take_tokens(
    api_server: ApiServer, api_client: client.ApiClient, storage: Storage, registry: CollectorRegistry
) -> None:
    clock = FakeClock()
    limiter = _limiter(100.0, 100, clock, registry)
    settings = LeaderSettings(lease_duration_seconds=15, renew_deadline_seconds=10, retry_period_seconds=2,
                              namespace="default", lease_name="lock")
    async with leases.leading(api_client, settings, "me", clock=clock, limiter=limiter):
        writer = writing.KubeWriter(api_client, deadline=5.0, limiter=limiter)  # the EventRecorder's sink
        await writer.create_event("default", {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": "default"},
            "involvedObject": {"kind": "Service", "namespace": "default", "name": "web"},
            "reason": "Tested", "message": "a fact", "type": "Normal", "count": 1})
    # GET (404) + POST to take the Lease, PUT to release it; one Event POST.
    assert (_waits(registry, api_server, "GET"), _waits(registry, api_server, "POST"),
            _waits(registry, api_server, "PUT")) == (1, 2, 1)
    assert len(api_server.faults.request_log) == 4


@pytest.mark.parametrize(("headers", "status", "expected"), [
    pytest.param({"Retry-After": "2"}, None, 2.0, id="header"),
    pytest.param({"Retry-After": "0"}, None, 0.0, id="header-zero"),
    pytest.param({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, {"details": {"retryAfterSeconds": 4}},
                 None, id="http-date-is-no-hint"),
    pytest.param({"Retry-After": "-3"}, None, None, id="negative"),
    pytest.param({"Retry-After": "inf"}, None, None, id="infinite"),
    pytest.param({}, {"details": {"retryAfterSeconds": 4}}, 4.0, id="status-details"),
    pytest.param(None, b'{"kind":"Status","details":{"retryAfterSeconds":3}}', 3.0, id="status-bytes"),
    pytest.param(None, '{"details":{"retryAfterSeconds":true}}', None, id="status-bool"),
    pytest.param(None, b"upstream connect error", None, id="not-json"),
    pytest.param(None, {"details": "odd"}, None, id="odd-details"),
    pytest.param(None, None, None, id="nothing"),
])
def test_retry_after_seconds(headers: dict[str, str] | None, status: Any, expected: float | None) -> None:
    assert throttling.retry_after_seconds(headers, status) == expected
