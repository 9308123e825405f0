"""The AnalysisRun controller's lifecycle: its work queue, workers, providers, resync, and the caches' word.

Room: start-up, beside `service.running`'s Rollout workers while leading (watch → cache → queue → reconcile
for AnalysisRuns). The queue exists before the informers, whose AnalysisRun handler feeds it (`enqueue`, see
service.kube.informers); once the caches have synced, `start` builds the providers once
(service.analysis.providers, on the ELBv2 client's AWS region and endpoint), the reconciler
(service.analysis.run_reconciling) and the workers (service.controller.Controller on the "AnalysisRuns"
queue, its workqueue metrics labelled so), a resync of every cached run, and a watcher that logs why an
analysis cache has not synced: those caches are optional (a cluster without the analysis CRDs, or without
the grant, still runs Rollouts). `close` ends the watcher and the resync, closes the providers and the queue;
the caller stops the workers, with its grace.
"""

from __future__ import annotations

import asyncio

import structlog

from service import clock as clocks
from service import controller, queueing, workqueue_metrics
from service import settings as config_module
from service.analysis import providers as providing
from service.analysis import run_reconciling
from service.kube import enqueuing, recording
from service.kube import informers as informing

__all__ = ["DEFAULT_WORKERS", "QUEUE_NAME", "REPORT_INTERVAL_SECONDS", "AnalysisWork"]

log = structlog.get_logger(__name__)

QUEUE_NAME = "AnalysisRuns"
"""The reference's workqueue name (the `name` label of the workqueue_* metrics)."""
DEFAULT_WORKERS = 30
"""The reference's --analysis-threads default (the flag is accepted for compatibility, not read yet)."""
REPORT_INTERVAL_SECONDS = 30.0
"""How often an unsynced analysis cache is looked at again (each new reason is logged once)."""


class AnalysisWork:
    """The AnalysisRun queue (from construction) and, once `start`ed, its workers and providers."""

    def __init__(self, *, clock: clocks.Clock, workers: int = DEFAULT_WORKERS,
                 queue_metrics: workqueue_metrics.WorkqueueMetrics | None = None) -> None:
        self.clock = clock
        self.workers = workers
        self.queue: queueing.RateLimitingQueue[str] = queueing.RateLimitingQueue(
            clock=clock, name=QUEUE_NAME, metrics=queue_metrics)
        self.providers: providing.Providers | None = None
        self.reconciler: run_reconciling.RunReconciler | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def enqueue(self) -> enqueuing.Enqueue:
        """What `informers.build(analysis_enqueue=...)` takes: the queue's `add`."""
        return self.queue.add

    def start(self, *, informers: informing.Informers, writer: run_reconciling.RunWriter,
              recorder: recording.EventRecorder, settings: config_module.Settings) -> controller.Controller:
        """Build providers, reconciler and workers, start them; the caller stops the workers it returns."""
        if self.providers is not None:
            raise RuntimeError("the AnalysisRun workers are already started")
        aws = settings.aws.client
        self.providers = providing.providers_for(self.clock, aws_region=aws.region,
                                                 aws_endpoint_url=aws.endpoint_url)
        self.reconciler = run_reconciling.RunReconciler(
            runs=informers.analysis_runs, writer=writer, recorder=recorder, providers=self.providers,
            clock=self.clock, deadline=settings.kube.request_timeout_seconds)
        workers = controller.Controller(queue=self.queue, reconciler=self.reconciler, workers=self.workers,
                                        clock=self.clock)
        workers.start()
        self._tasks = [
            asyncio.create_task(controller.resync(self.queue.add, informers.analysis_runs.store.keys,
                                                  every=settings.kube.resync_seconds, clock=self.clock),
                                name="analysis-resync"),
            asyncio.create_task(_report_unsynced(informers, self.clock), name="analysis-caches"),
        ]
        log.info("analysis workers started", workers=self.workers,
                 analysis_runs=len(informers.analysis_runs.store))
        return workers

    async def close(self) -> None:
        """Stop the resync and the watcher, close the providers, shut the queue down (after the workers)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if self.providers is not None:
            await self.providers.aclose()
        self.queue.shutdown()
        await self.queue.wait_closed()


async def _report_unsynced(caches: informing.Informers, clock: clocks.Clock) -> None:
    """Log each new reason an analysis cache is not synced (once), and when it syncs after all."""
    reported: dict[str, str] = {}
    while True:
        for reflector in caches.analysis:
            name = reflector.resource.name
            if reflector.synced.is_set():
                if reported.pop(name, None) is not None:
                    log.info("analysis cache synced", resource=name)
            elif reflector.last_error and reported.get(name) != reflector.last_error:
                reported[name] = reflector.last_error
                log.error("analysis cache not synced", reason=informing.unsynced_reason(reflector),
                          consequence="AnalysisRuns are not run, nor Rollout analysis started, until it is")
        await clock.sleep(REPORT_INTERVAL_SECONDS)
