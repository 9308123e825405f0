"""Start-up and shutdown of the controller process (service.running) against the API emulator on loopback,
with a fake reconciler honouring the reconciler contract and a fake ELBv2 opener where AWS would be needed.

Aspects: /readyz is 503 until every cache has synced, then 200; /healthz answers; /metrics serves the
workqueue and reconcile families; the reconciler is built after the sync with the informers, a KubeWriter, an
EventRecorder and the settings, and its workers reconcile the cached Rollouts; the debug API serves the
reconciler's keys; no AWS client is created without --aws-verify-target-group (no aiobotocore client, no
opener call, no TargetGroupBinding informer) and the verifiers reach the reconciler with it; an opener that
fails is a StartError; --namespaced watches the kubeconfig context's namespace only; a standby waiting for
the Lease is ready, serves `leading: false`, and stops at once; a stolen Lease raises LeadershipLost; a stop
lets a reconcile in flight finish and leaves no task running; a missing kubeconfig is a StartError naming it;
a taken port is a ListenError naming the flag; kubeconfig lookup order; --qps/--burst parsed from the flags
build one limiter shared by the writer (so Events) and every reflector, and its waits are served on /metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiobotocore.session
import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from sandbox.apiserver import kubeconfig as kubeconfigs
from sandbox.apiserver.server import ApiServer
from service import kube_client, results, running, settings
from service.http import server
from service.kube import leases
from tests.sandbox.polling import until

ROLLOUTS = "rollouts.argoproj.io"
LEASES = "leases.coordination.k8s.io"


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


def rollout(name: str, namespace: str = "shop") -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}},
                     "strategy": {"canary": {"steps": [{"setWeight": 20}]}}}}


class FakeReconciler:
    """Honours the contract; records what it was built with and what it reconciled."""

    def __init__(self, gate: asyncio.Event | None = None, **built_with: Any) -> None:
        self.built_with = built_with
        self.gate = gate
        self.reconciled: list[str] = []
        self.finished: list[str] = []

    async def reconcile(self, key: str) -> results.Result:
        self.reconciled.append(key)
        if self.gate is not None:
            await self.gate.wait()
        self.finished.append(key)
        return results.Result()

    def forget(self, key: str) -> None:
        pass

    def describe(self, key: str) -> dict[str, Any] | None:
        return {"state": "Progressing"} if key in self.reconciled else None

    def keys(self) -> list[str]:
        return sorted(set(self.reconciled))

    def unserved(self) -> dict[str, str]:
        return {}


class Factory:
    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate
        self.made: list[FakeReconciler] = []

    def __call__(self, **kwargs: Any) -> FakeReconciler:
        made = FakeReconciler(self.gate, **kwargs)
        self.made.append(made)
        return made


async def credentials_found() -> None:
    """The AWS credentials check, answering "found"."""
    return None


class Process:
    """One `running.run` in a task, with its ports once listening."""

    def __init__(self, config: settings.Settings, factory: Factory, **kwargs: Any) -> None:
        self.stop = asyncio.Event()
        self.started: running.Started | None = None
        self.factory = factory
        kwargs.setdefault("check_aws_credentials", credentials_found)  # the fake openers need none
        self.task = asyncio.create_task(running.run(
            config, stop=self.stop, reconciler_factory=factory, on_started=self._on_started,
            identity="test-replica", environ={}, **kwargs))

    def _on_started(self, started: running.Started) -> None:
        self.started = started

    async def listening(self) -> running.Started:
        await until(lambda: self.started is not None or self.task.done(), within=20, what="listeners")
        if self.task.done():
            self.task.result()
        assert self.started is not None
        return self.started

    async def finish(self, within: float = 20.0) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, within)


@pytest.fixture
def kubeconfig(api_server: ApiServer, tmp_path: Path) -> Path:
    for namespace in ("shop", "elsewhere"):
        api_server.storage.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": namespace}})
    return kubeconfigs.write_kubeconfig(tmp_path / "kubeconfig", api_server.url, namespace="shop")


def make_settings(kubeconfig: Path, **groups: Any) -> settings.Settings:
    defaults: dict[str, Any] = {
        "kube": settings.KubeSettings(kubeconfig=str(kubeconfig)),
        "http": settings.HttpSettings(metrics_port=0, healthz_port=0, host="127.0.0.1",
                                      debug_address=("127.0.0.1", 0)),
        "leader": settings.LeaderSettings(elect=False),
        "queueing": settings.QueueingSettings(rollout_threads=2),
    }
    defaults.update(groups)
    return settings.Settings(**defaults)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def _get(http: aiohttp.ClientSession, port: int, path: str) -> tuple[int, str]:
    async with http.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


@pytest.fixture
def no_aws_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any aiobotocore client created in the test is recorded (and refused)."""
    created: list[str] = []

    def refuse(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        created.append(service_name)
        raise AssertionError(f"an AWS client was created: {service_name}")

    monkeypatch.setattr(aiobotocore.session.AioSession, "create_client", refuse)
    yield created


async def test_readyz_is_503_until_every_cache_has_synced(api_server: ApiServer, kubeconfig: Path,
                                                          http: aiohttp.ClientSession) -> None:
    api_server.storage.create(ROLLOUTS, rollout("web"))
    api_server.faults.set_latency(3.0, verb="list", resource="rollouts")
    process = Process(make_settings(kubeconfig), Factory())
    ports = await process.listening()
    status, body = await _get(http, ports.healthz_port, "/readyz")
    assert status == 503 and body.startswith("[-]informers-synced failed: ")  # and why
    assert "rollouts.argoproj.io not synced" in body or "the informers have not started" in body
    assert body.endswith("\nreadyz check failed\n")
    assert process.factory.made == []  # no reconciler before the caches are synced
    assert await _get(http, ports.healthz_port, "/healthz") == (200, "ok")
    await until(lambda: process.factory.made, within=20, what="the reconciler")
    assert await _get(http, ports.healthz_port, "/readyz") == (
        200, "[+]informers-synced ok\nreadyz check passed\n")
    await process.finish()


async def test_reconciler_is_built_after_sync_and_workers_reconcile(
        api_server: ApiServer, kubeconfig: Path, http: aiohttp.ClientSession,
        no_aws_clients: list[str]) -> None:
    api_server.storage.create(ROLLOUTS, rollout("web"))
    opened: list[Any] = []

    def opener(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        raise AssertionError("verifiers opened without --aws-verify-target-group")

    config = make_settings(kubeconfig)
    process = Process(config, Factory(), open_verifiers=opener)
    ports = await process.listening()
    await until(lambda: process.factory.made and process.factory.made[0].finished == ["shop/web"],
                within=20, what="the first reconcile")
    built = process.factory.made[0].built_with
    assert set(built) == {"informers", "writer", "recorder", "verifiers", "settings", "clock", "metrics"}
    assert built["verifiers"] is None and built["settings"] is config
    assert built["informers"].target_group_bindings is None
    assert built["informers"].synced()
    assert built["recorder"].writer is built["writer"]
    # A new Rollout reaches the workers through the informers.
    api_server.storage.create(ROLLOUTS, rollout("api"))
    await until(lambda: "shop/api" in process.factory.made[0].finished, within=20, what="the new rollout")
    assert ports.debug_port is not None
    status, body = await _get(http, ports.debug_port, "/rollouts")
    assert status == 200
    assert '{"key": "shop/api", "state": "Progressing"}' in body
    status, metrics = await _get(http, ports.metrics_port, "/metrics")
    assert status == 200
    assert 'workqueue_adds_total{name="Rollouts"}' in metrics
    assert 'rollout_reconcile_count{name="web",namespace="shop"}' in metrics
    info = ('rollout_info{name="web",namespace="shop",phase="Progressing",strategy="canary",'
            'traffic_router=""} 1')
    assert info in metrics
    await process.finish()
    assert opened == [] and no_aws_clients == []


class FakeVerifiers:
    pass


async def test_verification_opens_the_verifiers_and_watches_bindings(api_server: ApiServer,
                                                                     kubeconfig: Path) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    closed: list[bool] = []
    made = FakeVerifiers()

    @contextlib.asynccontextmanager
    async def opener(aws: Any, **kwargs: Any) -> AsyncIterator[Any]:
        calls.append((aws, kwargs))
        yield made
        closed.append(True)

    config = make_settings(kubeconfig, aws=settings.AlbSettings(verify_target_group=True))
    process = Process(config, Factory(), open_verifiers=opener)
    await until(lambda: process.factory.made, within=20, what="the reconciler")
    built = process.factory.made[0].built_with
    assert built["verifiers"] is made
    assert built["informers"].target_group_bindings is not None
    assert calls[0][0] is config.aws.client and set(calls[0][1]) == {"registry"}
    assert closed == []
    await process.finish()
    assert closed == [True]


async def test_a_cache_that_never_syncs_fails_readyz_with_the_reason_and_blocks_nothing(
        api_server: ApiServer, kubeconfig: Path, http: aiohttp.ClientSession) -> None:
    @contextlib.asynccontextmanager
    async def opener(aws: Any, **kwargs: Any) -> AsyncIterator[Any]:
        yield FakeVerifiers()

    api_server.storage.create(ROLLOUTS, rollout("web"))
    missing = "elbv2.k8s.aws/v9"  # no such CRD version is served: its LIST answers 404 forever
    config = make_settings(kubeconfig, aws=settings.AlbSettings(verify_target_group=True,
                                                                target_group_binding_api_version=missing))
    process = Process(config, Factory(), open_verifiers=opener)
    ports = await process.listening()
    # the workers run anyway (the reconciler says per Rollout what it cannot verify)
    await until(lambda: process.factory.made and "shop/web" in process.factory.made[0].finished, within=20,
                what="the first reconcile without the TargetGroupBinding cache")

    async def explained() -> bool:
        status, body = await _get(http, ports.healthz_port, "/readyz")
        return status == 503 and "404" in body

    await until(explained, within=20, what="/readyz naming the missing CRD")
    _, body = await _get(http, ports.healthz_port, "/readyz")
    assert body.startswith("[-]informers-synced failed: targetgroupbindings.elbv2.k8s.aws not synced: 404")
    assert "(is the TargetGroupBinding CustomResourceDefinition targetgroupbindings.elbv2.k8s.aws " \
           "(elbv2.k8s.aws/v9) installed?)" in body
    await process.finish()


async def test_an_opener_that_fails_is_a_start_error(api_server: ApiServer, kubeconfig: Path) -> None:
    from service.aws import elbv2

    @contextlib.asynccontextmanager
    async def opener(aws: Any, **kwargs: Any) -> AsyncIterator[Any]:
        if aws is not None:
            raise elbv2.AwsCallError("CreateClient", "NoRegion",
                                     "no AWS region: set --aws-region, AWS_REGION or AWS_DEFAULT_REGION")
        yield None

    config = make_settings(kubeconfig, aws=settings.AlbSettings(verify_target_group=True))
    process = Process(config, Factory(), open_verifiers=opener)
    with pytest.raises(running.StartError, match=r"^cannot create the ELBv2 client: .*no AWS region"):
        await asyncio.wait_for(process.task, 20)


async def test_namespaced_watches_the_context_namespace_only(api_server: ApiServer, kubeconfig: Path) -> None:
    api_server.storage.create(ROLLOUTS, rollout("web", "shop"))
    api_server.storage.create(ROLLOUTS, rollout("other", "elsewhere"))
    namespaced = settings.KubeSettings(kubeconfig=str(kubeconfig), namespaced=True)
    config = make_settings(kubeconfig, kube=namespaced)
    process = Process(config, Factory())
    await until(lambda: process.factory.made and process.factory.made[0].finished, within=20,
                what="a reconcile")
    informers = process.factory.made[0].built_with["informers"]
    assert list(informers.rollouts.store.keys()) == ["shop/web"]
    await process.finish()


async def test_graceful_stop_lets_the_reconcile_in_flight_finish(api_server: ApiServer,
                                                                 kubeconfig: Path) -> None:
    api_server.storage.create(ROLLOUTS, rollout("web"))
    gate = asyncio.Event()
    process = Process(make_settings(kubeconfig), Factory(gate))
    await until(lambda: process.factory.made and process.factory.made[0].reconciled, within=20,
                what="a reconcile in flight")
    process.stop.set()
    await asyncio.sleep(0.05)
    assert not process.task.done()  # draining
    gate.set()
    await asyncio.wait_for(process.task, 20)
    assert process.factory.made[0].finished == ["shop/web"]


def _lease(holder: str) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "argo-rollouts-controller-lock", "namespace": "default"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 3600, "leaseTransitions": 0}}


# Renewals every 0.1 s notice a new holder at once; the deadlines leave room for a loaded CI machine.
FAST_LEASE = settings.LeaderSettings(elect=True, lease_duration_seconds=30.0, renew_deadline_seconds=20.0,
                                     retry_period_seconds=0.1, namespace="default")


async def test_standby_is_ready_and_stops_at_once(api_server: ApiServer, kubeconfig: Path,
                                                  http: aiohttp.ClientSession) -> None:
    api_server.storage.create(LEASES, _lease("the-other-replica"))
    patient = settings.LeaderSettings(elect=True, lease_duration_seconds=60.0, renew_deadline_seconds=30.0,
                                      retry_period_seconds=0.1, namespace="default")
    process = Process(make_settings(kubeconfig, leader=patient), Factory())
    ports = await process.listening()
    await until(lambda: sum(1 for r in api_server.faults.request_log if "leases" in (r.resource or "")) >= 3,
                within=20, what="election rounds")
    ready = (200, "[+]informers-synced ok\nreadyz check passed\n")
    assert await _get(http, ports.healthz_port, "/readyz") == ready
    assert ports.debug_port is not None
    assert await _get(http, ports.debug_port, "/rollouts") == (
        200, '{"leading": false, "rollouts": [], "unserved": []}')
    await process.finish(within=15)  # not the 60 s lease: a standby has nothing to drain
    assert process.factory.made == []


async def test_a_stolen_lease_raises_leadership_lost(api_server: ApiServer, kubeconfig: Path) -> None:
    api_server.storage.create(ROLLOUTS, rollout("web"))
    process = Process(make_settings(kubeconfig, leader=FAST_LEASE), Factory())
    await until(lambda: process.factory.made and process.factory.made[0].finished, within=20,
                what="leading and reconciling")
    stolen = api_server.storage.get(LEASES, "default", "argo-rollouts-controller-lock")
    assert stolen is not None and stolen["spec"]["holderIdentity"] == "test-replica"
    stolen["spec"]["holderIdentity"] = "usurper"
    api_server.storage.replace(LEASES, stolen)
    with pytest.raises(leases.LeadershipLost, match=r"^another candidate holds the lease$"):
        await asyncio.wait_for(process.task, 20)


async def test_missing_kubeconfig_is_a_start_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "kubeconfig"
    process = Process(make_settings(missing), Factory())
    with pytest.raises(running.StartError, match=rf"^cannot load the Kubernetes configuration "
                       rf"\(--kubeconfig {missing}\): "):
        await asyncio.wait_for(process.task, 20)


async def test_taken_port_is_a_listen_error(kubeconfig: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        http_settings = settings.HttpSettings(metrics_port=0, healthz_port=port, host="127.0.0.1",
                                              debug_address=None)
        process = Process(make_settings(kubeconfig, http=http_settings), Factory())
        with pytest.raises(server.ListenError, match=r"\(--healthzPort\)"):
            await asyncio.wait_for(process.task, 20)


@pytest.mark.parametrize(("flag", "env", "home_file", "expected"), [
    pytest.param("/flag/config", {"KUBECONFIG": "/env/config"}, True, "/flag/config", id="flag-first"),
    pytest.param(None, {"KUBECONFIG": "/env/a:/env/b"}, True, "/env/a", id="env-first-entry"),
    pytest.param(None, {}, True, "HOME", id="home-file"),
    pytest.param(None, {}, False, None, id="in-cluster"),
])
def test_kubeconfig_lookup_order(flag: str | None, env: dict[str, str], home_file: bool, expected: str | None,
                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    if home_file:
        (tmp_path / ".kube").mkdir()
        (tmp_path / ".kube" / "config").write_text("{}")
    found = kube_client.kubeconfig_path(settings.KubeSettings(kubeconfig=flag), env)
    assert found == (str(tmp_path / ".kube" / "config") if expected == "HOME" else expected)



async def test_qps_and_burst_flags_reach_the_one_limiter(api_server: ApiServer, kubeconfig: Path) -> None:
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser)
    flags = settings.from_args(parser.parse_args(["--kubeconfig", str(kubeconfig), "--qps", "250",
                                                  "--burst", "7"]), {})
    config = dataclasses.replace(make_settings(kubeconfig), kube=flags.kube)
    registry = CollectorRegistry()
    process = Process(config, Factory(), registry=registry)
    await until(lambda: process.factory.made, within=20, what="the reconciler")
    built = process.factory.made[0].built_with
    limiter = built["writer"].limiter
    assert (limiter.qps, limiter.burst) == (250.0, 7)
    assert built["recorder"].writer.limiter is limiter  # Events take the same tokens
    assert all(reflector.limiter is limiter for reflector in built["informers"].all)
    labels = {"verb": "GET", "host": api_server.url.removeprefix("http://")}

    def waits() -> float:
        return registry.get_sample_value("rest_client_rate_limiter_duration_seconds_count", labels) or 0.0

    informers = len(built["informers"].all)
    await until(lambda: waits() >= 2 * informers, within=20, what="a LIST and a WATCH start per informer")
    await process.finish()


def test_the_debug_api_speaks_for_the_rollouts_only_while_leading() -> None:
    process = running._Process()
    process.reconciler = FakeReconciler()  # type: ignore[assignment]
    assert process.describer() is None  # released (or never held) the Lease: "leading": false
    process.leading = True
    assert process.describer() is process.reconciler
