"""Start-up waits a little for optional caches still on their first LIST (no error yet), so a restart in a
large cluster does not begin by calling its TargetGroupBindings unsynced; a cache whose LIST failed (a
missing CRD) is not waited for, and the wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from kubernetes_asyncio import client

from sandbox.apiserver.server import ApiServer
from service import startup_checks
from service.kube import informers, watching
from tests.sandbox.polling import until

TGB = "elbv2.k8s.aws/v1beta1"


@contextlib.asynccontextmanager
async def started(api_client: client.ApiClient, settings: watching.WatchSettings
                  ) -> AsyncIterator[informers.Informers]:
    """The informers with TargetGroupBindings, once the required caches have synced (as start-up has them)."""
    group = informers.build(api_client, lambda key: None, target_group_binding_api_version=TGB,
                            settings=settings)
    group.start()
    try:
        assert await watching.wait_synced(group.required, 10.0)
        yield group
    finally:
        await group.stop()


async def test_a_slow_first_list_is_waited_for(
    api_client: client.ApiClient, api_server: ApiServer, settings: watching.WatchSettings
) -> None:
    api_server.faults.set_latency(1.0, verb="list", resource="targetgroupbindings")
    async with started(api_client, settings) as group:
        bindings = group.target_group_bindings
        assert bindings is not None and not bindings.synced.is_set()
        await startup_checks.wait_listing(group, asyncio.Event(), within=10.0)
        assert bindings.synced.is_set() and group.synced()


async def test_a_failed_list_is_not_waited_for_and_the_wait_is_bounded(
    api_client: client.ApiClient, api_server: ApiServer, settings: watching.WatchSettings
) -> None:
    api_server.faults.fail_next(verb="list", resource="targetgroupbindings", count=1000, code=404)
    api_server.faults.set_latency(3.0, verb="list", resource="analysisruns")
    async with started(api_client, settings) as group:
        bindings = group.target_group_bindings
        assert bindings is not None
        await until(lambda: (bindings.last_error or "").startswith("404"), what="the 404 on the bindings")
        await startup_checks.wait_listing(group, asyncio.Event(), within=0.2, poll=0.1)
        # back while the analysis LIST is still in flight: bounded by `within`, not by that LIST
        assert group.analysis_runs.last_error is None and not group.analysis_runs.synced.is_set()
        assert await watching.wait_synced([group.analysis_runs], 10.0)  # its LIST ends before the server
