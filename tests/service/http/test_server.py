"""service.http.server and health over a real loopback port, through aiohttp's client.

Aspects: /healthz answers 200 "ok" and 500 naming a failing liveness check; /readyz answers 503 listing
the failing check, then 200 once every check passes; a check that raises counts as failing; /metrics
serves the registry's text (reference names, Go content type, gzip when asked) on its own port and not on
the probe port; one port for both serves all paths; ports 0 report the real bound ports; leaving `serve`
closes the ports; a taken port is a ListenError naming the flag, and what was opened before is closed.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from service import rollout_metrics, settings
from service.http import health, metrics, server


def _url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}{path}"


async def _get(client: aiohttp.ClientSession, port: int, path: str) -> tuple[int, str]:
    async with client.get(_url(port, path)) as response:
        return response.status, await response.text()


async def test_healthz_is_ok(listeners: server.Listeners, client: aiohttp.ClientSession) -> None:
    assert await _get(client, listeners.healthz_port, "/healthz") == (200, "ok")


async def test_healthz_fails_with_a_failing_liveness_check(listeners: server.Listeners, probes: health.Health,
                                                           client: aiohttp.ClientSession) -> None:
    alive = {"loop": True, "watchers": False}
    probes.add_liveness("loop", lambda: alive["loop"])
    probes.add_liveness("watchers", lambda: alive["watchers"])
    assert await _get(client, listeners.healthz_port, "/healthz") == (500, "unhealthy: watchers\n")
    alive["watchers"] = True
    assert await _get(client, listeners.healthz_port, "/healthz") == (200, "ok")


async def test_readyz_is_503_until_every_check_passes(listeners: server.Listeners, probes: health.Health,
                                                      client: aiohttp.ClientSession) -> None:
    synced = {"rollouts": True, "ingresses": False}
    probes.add_readiness("rollouts-cache", lambda: synced["rollouts"])
    probes.add_readiness("ingresses-cache", lambda: synced["ingresses"])
    assert await _get(client, listeners.healthz_port, "/readyz") == (
        503, "[+]rollouts-cache ok\n[-]ingresses-cache failed\nreadyz check failed\n")
    assert not probes.ready()
    synced["ingresses"] = True
    assert await _get(client, listeners.healthz_port, "/readyz") == (
        200, "[+]rollouts-cache ok\n[+]ingresses-cache ok\nreadyz check passed\n")
    assert probes.ready()


async def test_readyz_without_checks_is_ready(listeners: server.Listeners,
                                              client: aiohttp.ClientSession) -> None:
    assert await _get(client, listeners.healthz_port, "/readyz") == (200, "readyz check passed\n")


async def test_a_raising_check_fails_without_breaking_the_probe(
        listeners: server.Listeners, probes: health.Health, client: aiohttp.ClientSession) -> None:
    def broken() -> bool:
        raise RuntimeError("cache gone")

    probes.add_readiness("caches", broken)
    probes.add_liveness("heartbeat", broken)
    assert await _get(client, listeners.healthz_port, "/readyz") == (
        503, "[-]caches failed\nreadyz check failed\n")
    assert await _get(client, listeners.healthz_port, "/healthz") == (500, "unhealthy: heartbeat\n")
    assert not probes.live()
    probes.remove("caches")
    probes.remove("heartbeat")
    assert await _get(client, listeners.healthz_port, "/readyz") == (200, "readyz check passed\n")
    assert probes.live()


async def test_metrics_are_served_on_the_metrics_port(listeners: server.Listeners,
                                                      registry: CollectorRegistry,
                                                      client: aiohttp.ClientSession) -> None:
    rollouts = rollout_metrics.RolloutMetrics(registry, rollouts=lambda: [
        {"metadata": {"namespace": "ns", "name": "web"}, "spec": {"strategy": {"canary": {}}}}])
    rollouts.observe_reconcile("ns", "web", 0.02, failed=True)
    rollouts.count_event("ns", "web", "Normal", "RolloutStepCompleted")
    async with client.get(_url(listeners.metrics_port, "/metrics")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == metrics.CONTENT_TYPE
        body = await response.text()
    assert body == metrics.render(registry).decode()
    for name in ("rollout_info", "rollout_info_replicas_available", "rollout_info_replicas_unavailable",
                 "rollout_info_replicas_desired", "rollout_info_replicas_updated", "rollout_reconcile",
                 "rollout_reconcile_error", "rollout_events_total"):
        assert f"# TYPE {name} " in body
    assert 'rollout_reconcile_error{name="web",namespace="ns"} 1\n' in body
    assert await _get(client, listeners.metrics_port, "/healthz") == (404, "404: Not Found")
    assert (await _get(client, listeners.healthz_port, "/metrics"))[0] == 404


@pytest.mark.parametrize(("accept", "encoding"), [
    pytest.param("gzip", "gzip", id="gzip"),
    pytest.param("deflate", None, id="deflate-not-offered"),
    pytest.param("identity", None, id="identity"),
])
async def test_metrics_compression(listeners: server.Listeners, registry: CollectorRegistry,
                                   client: aiohttp.ClientSession, accept: str, encoding: str | None) -> None:
    rollout_metrics.RolloutMetrics(registry).count_event("ns", "web", "Warning", "RolloutAborted")
    async with client.get(_url(listeners.metrics_port, "/metrics"),
                          headers={"Accept-Encoding": accept}) as response:
        assert response.headers.get("Content-Encoding") == encoding
        assert await response.text() == metrics.render(registry).decode()


async def test_one_port_serves_every_path(probes: health.Health, registry: CollectorRegistry,
                                          client: aiohttp.ClientSession) -> None:
    port = _free_port()
    same = settings.HttpSettings(metrics_port=port, healthz_port=port, host="127.0.0.1")
    rollout_metrics.RolloutMetrics(registry).observe_reconcile("ns", "web", 0.5)
    async with server.serve(same, health=probes, registry=registry) as bound:
        assert (bound.healthz_port, bound.metrics_port) == (port, port)
        assert await _get(client, port, "/healthz") == (200, "ok")
        assert (await _get(client, port, "/readyz"))[0] == 200
        status, body = await _get(client, port, "/metrics")
        assert status == 200 and "rollout_reconcile_count" in body


async def test_leaving_serve_closes_the_ports(loopback: settings.HttpSettings, probes: health.Health,
                                             registry: CollectorRegistry,
                                             client: aiohttp.ClientSession) -> None:
    async with server.serve(loopback, health=probes, registry=registry) as bound:
        assert bound.healthz_port != bound.metrics_port
        assert await _get(client, bound.healthz_port, "/healthz") == (200, "ok")
    for port in (bound.healthz_port, bound.metrics_port):
        with pytest.raises(aiohttp.ClientConnectorError):
            await _get(client, port, "/healthz")


async def test_taken_port_names_the_flag(loopback: settings.HttpSettings, probes: health.Health,
                                         registry: CollectorRegistry, client: aiohttp.ClientSession,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[int] = []
    original = server._listen

    async def recording(*args: Any, **kwargs: Any) -> int:
        bound = await original(*args, **kwargs)
        opened.append(bound)
        return bound

    monkeypatch.setattr(server, "_listen", recording)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        clash = settings.HttpSettings(metrics_port=port, healthz_port=0, host="127.0.0.1")
        with pytest.raises(server.ListenError) as error:
            async with server.serve(clash, health=probes, registry=registry):
                pytest.fail("serve must not start with a taken port")
    assert error.value.errno == errno.EADDRINUSE
    assert error.value.strerror == (f"cannot listen on 127.0.0.1:{port} (--metricsPort): "
                                    f"{os.strerror(errno.EADDRINUSE)}")
    (healthz_port,) = opened  # the probe port was opened first, and must be closed again
    with pytest.raises(aiohttp.ClientConnectorError):
        await _get(client, healthz_port, "/healthz")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
