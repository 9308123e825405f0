"""The world an AnalysisRun controller test runs in, and builders for the runs a user applies.

`run_world` (a fixture: import it into the test module) builds, on the shared sandbox API server, a
kubernetes-asyncio client, the real informers, KubeWriter and EventRecorder, a FakeClock, and either the real
workers (`AnalysisWork.start`, as service.running wires them) or a bare `RunReconciler` the test calls itself.
Each world is closed at teardown, or earlier with `close()` (a controller restart).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from kubernetes_asyncio import client
from prometheus_client import CollectorRegistry

from sandbox.apiserver.faults import Faults
from sandbox.apiserver.server import ApiServer
from sandbox.apiserver.storage import Storage
from service import clock as clocks
from service import results, settings, workqueue_metrics
from service.analysis import providers as providing
from service.analysis import run_reconciling, running
from service.kube import informers, recording, watching, writing

__all__ = ["NS", "RUNS", "RunWorld", "analysis_run", "run_world", "web_metric"]

NS = "default"
RUNS = "analysisruns.argoproj.io"
WATCH = watching.WatchSettings(list_timeout=5.0, watch_timeout=5, watch_slack=2.0, backoff_initial=0.02,
                               backoff_max=0.2, min_watch_seconds=0.3)


def web_metric(name: str, url: str, *, condition: str = "result == 1", json_path: str = "{$.value}",
               **extra: Any) -> dict[str, Any]:
    """A `metrics[]` entry measured by the web provider."""
    return {"name": name, "successCondition": condition,
            "provider": {"web": {"url": url, "jsonPath": json_path}}, **extra}


def analysis_run(name: str, *metrics: dict[str, Any], args: list[dict[str, Any]] | None = None,
                 labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """An AnalysisRun as `kubectl create -f` sends it."""
    body: dict[str, Any] = {"metrics": list(metrics), **spec}
    if args is not None:
        body["args"] = args
    metadata: dict[str, Any] = {"name": name, "namespace": NS}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "metadata": metadata, "spec": body}


@dataclass
class RunWorld:
    """One controller (informers, writer, recorder, reconciler, maybe workers) on the shared sandbox."""

    storage: Storage
    faults: Faults
    informers: informers.Informers
    clock: clocks.FakeClock
    reconciler: run_reconciling.RunReconciler
    registry: CollectorRegistry
    rollout_keys: list[str]
    """What the informers sent to the Rollout queue (the owners of changed AnalysisRuns among them)."""
    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    def create(self, run: dict[str, Any]) -> dict[str, Any]:
        return self.storage.create(RUNS, copy.deepcopy(run))

    def run(self, name: str) -> dict[str, Any] | None:
        return self.storage.get(RUNS, NS, name)

    def status(self, name: str) -> dict[str, Any]:
        found = self.run(name)
        assert found is not None, f"AnalysisRun {name} not found"
        return dict(found.get("status") or {})

    def phase(self, name: str) -> str:
        return str(self.status(name).get("phase", ""))

    def events(self, reason: str) -> list[dict[str, Any]]:
        return [e for e in self.storage.list("events", NS) if e.get("reason") == reason]

    async def caught_up(self) -> None:
        version = self.storage.resource_version
        assert await self.informers.analysis_runs.wait_seen(version, 10.0), "AnalysisRun cache behind"

    async def reconcile(self, name: str) -> results.Result:
        """One reconcile of the run, from a cache that has seen every write so far."""
        await self.caught_up()
        return await self.reconciler.reconcile(f"{NS}/{name}")

    async def close(self) -> None:
        await self.stack.aclose()


@pytest.fixture
async def run_world(api_server: ApiServer) -> AsyncIterator[Callable[..., Awaitable[RunWorld]]]:
    made: list[RunWorld] = []

    async def make(*, workers: bool = False, config: settings.Settings | None = None,
                   instance_id: str | None = None, start: datetime = clocks.DEFAULT_START) -> RunWorld:
        stack = contextlib.AsyncExitStack()
        api = await stack.enter_async_context(client.ApiClient(client.Configuration(host=api_server.url)))
        clock = clocks.FakeClock(start=start)
        registry = CollectorRegistry()
        work = running.AnalysisWork(clock=clock, workers=4,
                                    queue_metrics=workqueue_metrics.WorkqueueMetrics(registry))
        stack.push_async_callback(work.close)
        rollout_keys: list[str] = []
        built = informers.build(api, rollout_keys.append, analysis_enqueue=work.enqueue if workers else None,
                                instance_id=instance_id, settings=WATCH)
        built.start()
        stack.push_async_callback(built.stop)
        assert await built.wait_synced(10.0)
        writer = writing.KubeWriter(api, deadline=10.0)
        recorder = recording.EventRecorder(writer, clock=clock)
        config = config or settings.Settings(kube=settings.KubeSettings(request_timeout_seconds=10.0))
        if workers:
            controller = work.start(informers=built, writer=writer, recorder=recorder, settings=config)
            stack.push_async_callback(controller.stop, 2.0)
            assert work.reconciler is not None
            reconciler = work.reconciler
        else:
            aws = config.aws.client
            providers = providing.providers_for(clock, aws_region=aws.region,
                                                aws_endpoint_url=aws.endpoint_url)
            stack.push_async_callback(providers.aclose)
            reconciler = run_reconciling.RunReconciler(runs=built.analysis_runs, writer=writer,
                                                       recorder=recorder, providers=providers, clock=clock,
                                                       deadline=10.0, measure_within=5.0)
        world = RunWorld(api_server.storage, api_server.faults, built, clock, reconciler, registry,
                         rollout_keys, stack)
        made.append(world)
        return world

    yield make
    for world in reversed(made):
        await world.close()
