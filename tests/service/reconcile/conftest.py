"""Fixtures for the reconciler tests: the whole sandbox in process, real informers, writer and recorder.

    moto_server  session: sandbox.aws.MotoServer on 127.0.0.1 (reset after each test by `world`)
    world        factory: `await world(verify=False, lag=0.0)` starts API server (shared `api_server`),
                 Cluster, LBC simulator, the truthful AWS proxy in front of moto (what the verifiers and
                 `elbv2_endpoint` see), informers (their enqueued keys in `World.enqueued`), KubeWriter,
                 EventRecorder, optional AwsVerifiers and a Reconciler on a FakeClock; everything is stopped
                 at teardown
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client

from sandbox import aws
from sandbox.apiserver.server import ApiServer
from sandbox.aws_proxy import AwsProxy
from sandbox.cluster import Cluster
from sandbox.lbc import Knobs, LoadBalancerController
from service import clock as clocks
from service import reconciling, settings
from service.aws import elbv2, verifying
from service.kube import informers, recording, watching, writing

from .world import CountingWriter, World

WATCH = watching.WatchSettings(list_timeout=5.0, watch_timeout=5, watch_slack=2.0, backoff_initial=0.02,
                               backoff_max=0.2, min_watch_seconds=0.3)


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
async def world(api_server: ApiServer, moto_server: aws.MotoServer
                ) -> AsyncIterator[Callable[..., Awaitable[World]]]:
    logging.getLogger("sandbox.lbc").setLevel(logging.ERROR)
    stack = contextlib.AsyncExitStack()

    async def make(*, verify: bool = False, lag: float = 0.0, instance_id: str = "",
                   retry_interval: float = 5.0, tgb_version: str = "elbv2.k8s.aws/v1beta1",
                   tgb_list_seconds: float = 0.0) -> World:
        storage = api_server.storage
        # a slow first LIST of the bindings (a large cluster after a restart); the server is this test's own
        api_server.faults.set_latency(tgb_list_seconds, verb="list", resource="targetgroupbindings")
        cluster = Cluster(storage, pod_ready_seconds=0.0)
        await cluster.start()
        stack.push_async_callback(cluster.stop)
        lbc = LoadBalancerController(storage, endpoint_url=moto_server.endpoint_url, cluster="test",
                                     knobs=Knobs(lag_seconds=lag))
        await stack.enter_async_context(lbc)
        proxy = await stack.enter_async_context(AwsProxy(moto_server.endpoint_url, health=lbc.target_health))
        api = await stack.enter_async_context(client.ApiClient(client.Configuration(host=api_server.url)))
        enqueued: list[str] = []  # every key the informers handed to the queue (there is no worker loop here)
        built = informers.build(api, enqueued.append,
                                target_group_binding_api_version=tgb_version if verify else None,
                                settings=WATCH)
        built.start()
        stack.push_async_callback(built.stop)
        # else a CRD version that never syncs, or a LIST still in flight, on purpose
        served = tgb_version == "elbv2.k8s.aws/v1beta1" and not tgb_list_seconds
        assert await (built.wait_synced(10.0) if served else watching.wait_synced(built.required, 10.0))
        clock = clocks.FakeClock()
        writer = CountingWriter(writing.KubeWriter(api, deadline=20.0))
        recorder = recording.EventRecorder(writer, clock=clock)
        verifiers = None
        if verify:
            aws_settings = elbv2.AwsSettings(region=aws.REGION, endpoint_url=proxy.url,
                                             max_rps=1000.0, burst=1000)
            verifiers = await stack.enter_async_context(
                verifying.open_verifiers(aws_settings, rules_fresh_seconds=0.0))
        config = settings.Settings(
            kube=settings.KubeSettings(instance_id=instance_id, request_timeout_seconds=20.0),
            aws=settings.AlbSettings(verify_target_group=verify,
                                     verify_retry_interval_seconds=retry_interval))
        reconciler = reconciling.Reconciler(informers=built, writer=writer, recorder=recorder,
                                            verifiers=verifiers, settings=config, clock=clock)
        return World(storage=storage, faults=api_server.faults, cluster=cluster, lbc=lbc, informers=built,
                     reconciler=reconciler, clock=clock, elbv2_endpoint=proxy.url,
                     writer=writer, enqueued=enqueued)

    yield make
    await stack.aclose()
    await moto_server.areset()


__all__: list[Any] = []
