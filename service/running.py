"""Start-up and shutdown of the controller process: what starts in which order, and stops in reverse.

Room: start-up (around the whole flow). Order: logs → HTTP (/healthz, /readyz, /metrics, the debug API) →
the Kubernetes ApiClient with its one --qps/--burst limiter (every Lease call, LIST, WATCH start, write and
Event takes a token of it) → (with --aws-verify-target-group, beside what follows: whether botocore finds AWS
credentials) → leader election → the ELBv2 verifiers (only with --aws-verify-target-group: no
AWS client exists otherwise) → informers feeding the queue → wait until every cache has synced → reconciler
and workers (+ the --rollout-resync loop; the start-up cleanup queues what deleted Rollouts left behind), and
the AnalysisRun workers beside them (service.analysis.running: its queue is fed by the informers). A
stop (SIGINT/SIGTERM, or `stop` set) lets reconciles in flight finish, then stops everything in reverse
order. Losing the Lease ends the process with an error, as the reference does, so Kubernetes restarts it as a
standby. Whatever start-up waits for (the Lease, a cache, AWS credentials) is logged at ERROR with what to do
and named on /readyz (service.startup_checks). It never decides anything about a Rollout.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from kubernetes_asyncio import client
from prometheus_client import CollectorRegistry

from service import (
    client_metrics,
    controller,
    logs,
    queueing,
    reconciling,
    rollout_metrics,
    startup_checks,
    startup_cleanup,
    workqueue_metrics,
)
from service import clock as clocks
from service import settings as config_module
from service.analysis import running as analysis_running
from service.aws import elbv2, verifying
from service.http import debug, health, server
from service.kube import informers as informing
from service.kube import leases, recording, throttling, writing
from service.kube_client import open_api
from service.startup_checks import StartError

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "SHUTDOWN_GRACE_SECONDS",
    "Reconciler",
    "ReconcilerFactory",
    "StartError",
    "Started",
    "VerifierOpener",
    "main",
    "run",
]

log = structlog.get_logger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1
SHUTDOWN_GRACE_SECONDS = 10.0
"""How long reconciles in flight may finish after a stop signal (the Pod's grace period is 30 s)."""


class Reconciler(controller.Reconciling, debug.Describing, Protocol):
    """The reconciler as the process uses it: workers call `reconcile`, the debug API `describe`/`keys`."""

    def forget(self, key: str) -> None: ...


class ReconcilerFactory(Protocol):
    """Builds the reconciler once caches have synced (service.reconciling.Reconciler's constructor)."""

    def __call__(self, *, informers: informing.Informers, writer: writing.Writer,
                 recorder: recording.EventRecorder, verifiers: verifying.AwsVerifiers | None,
                 settings: config_module.Settings, clock: clocks.Clock,
                 metrics: rollout_metrics.RolloutMetrics | None = None) -> Reconciler: ...


VerifierOpener = Callable[..., contextlib.AbstractAsyncContextManager[verifying.AwsVerifiers]]
"""`verifying.open_verifiers`'s shape: (aws client settings, registry=...) → the verifiers on one client."""


@dataclass(frozen=True, slots=True)
class Started:
    """Where the process listens (real ports when 0 asked for any free one)."""

    healthz_port: int
    metrics_port: int
    debug_port: int | None
    """None when --debug-address is ""."""


class _Process:
    """What the probes, the info metrics and the debug API read while the process changes phase."""

    def __init__(self) -> None:
        self.leading = False
        self.leadership: leases.Leadership | None = None
        self.informers: informing.Informers | None = None
        self.reconciler: Reconciler | None = None
        self.workers: controller.Controller | None = None

    def ready(self) -> bool:
        # A standby is ready (it serves probes and waits); a leader once every cache holds its first LIST.
        if not self.leading:
            return True
        return self.informers is not None and self.informers.synced()

    def not_ready_because(self) -> str:
        if self.informers is None:
            return "the informers have not started"
        return "; ".join(self.informers.unsynced())

    def workers_alive(self) -> bool:
        return self.workers is None or self.workers.running

    def rollouts(self) -> Iterable[Mapping[str, Any]]:
        return [] if self.informers is None else list(self.informers.rollouts.store.list())

    def describer(self) -> debug.Describing | None:
        # once the Lease is released (or lost) this replica no longer speaks for the Rollouts
        return self.reconciler if self.leading else None


# ---- the process ----


async def run(
    settings: config_module.Settings,
    *,
    stop: asyncio.Event,
    clock: clocks.Clock | None = None,
    registry: CollectorRegistry | None = None,
    reconciler_factory: ReconcilerFactory | None = None,
    open_verifiers: VerifierOpener = verifying.open_verifiers,
    on_started: Callable[[Started], None] | None = None,
    identity: str | None = None,
    environ: Mapping[str, str] | None = None,
    check_aws_credentials: startup_checks.CredentialsCheck = startup_checks.aws_credentials_problem,
) -> None:
    """Run the controller until `stop` is set; raises StartError, server.ListenError or LeadershipLost.

    `reconciler_factory`, `open_verifiers`, `check_aws_credentials` and `registry` are replaced in tests.
    """
    clock = clock or clocks.SystemClock()
    registry = registry if registry is not None else CollectorRegistry()
    process = _Process()
    probes = health.Health()
    probes.add_liveness("workers", process.workers_alive)
    probes.add_readiness("informers-synced", process.ready, process.not_ready_because)
    problems = startup_checks.Problems(probes, clock)
    metrics = rollout_metrics.RolloutMetrics(registry, rollouts=process.rollouts)
    kube_metrics = client_metrics.KubeClientMetrics(registry)
    queue_metrics = workqueue_metrics.WorkqueueMetrics(registry)
    async with AsyncExitStack() as stack:
        listeners = await stack.enter_async_context(server.serve(settings.http, health=probes,
                                                                 registry=registry))
        debug_port = None
        if settings.http.debug_address is not None:
            debug_port = await stack.enter_async_context(debug.serve(settings.http.debug_address,
                                                                     process.describer))
        log.info("listening", healthz_port=listeners.healthz_port, metrics_port=listeners.metrics_port,
                 debug_port=debug_port)
        api, context_namespace = await stack.enter_async_context(open_api(settings.kube, environ))
        limiter = throttling.RequestLimiter(settings.kube.qps, settings.kube.burst, clock=clock,
                                            metrics=kube_metrics)
        if on_started is not None:
            on_started(Started(listeners.healthz_port, listeners.metrics_port, debug_port))
        if settings.aws.verify_target_group:  # every replica, so a standby's /readyz says it too
            credentials = asyncio.create_task(
                startup_checks.check_aws_credentials(problems, check_aws_credentials), name="aws-credentials")
            stack.push_async_callback(_cancel, credentials)
        leader = _Leader(
            settings=settings, api=api, limiter=limiter, clock=clock, process=process, registry=registry,
            metrics=metrics, problems=problems,
            kube_metrics=kube_metrics, queue_metrics=queue_metrics,
            namespace=context_namespace if settings.kube.namespaced else None,
            reconciler_factory=reconciler_factory or reconciling.Reconciler, open_verifiers=open_verifiers,
            identity=identity or leases.default_identity(), stop=stop,
        )
        await leader.run()
    log.info("stopped")


@dataclass(slots=True)
class _Leader:
    """The leader's part: lease, verifiers, informers, reconciler and workers, stopped in reverse order."""

    settings: config_module.Settings
    api: client.ApiClient
    limiter: throttling.RequestLimiter
    """--qps/--burst: shared by every request on `api`."""
    clock: clocks.Clock
    process: _Process
    problems: startup_checks.Problems
    """What start-up waits for: logged once, named on /readyz."""
    registry: CollectorRegistry
    metrics: rollout_metrics.RolloutMetrics
    kube_metrics: client_metrics.KubeClientMetrics
    queue_metrics: workqueue_metrics.WorkqueueMetrics
    namespace: str | None
    reconciler_factory: ReconcilerFactory
    open_verifiers: VerifierOpener
    identity: str
    stop: asyncio.Event

    async def run(self) -> None:
        """Lead until `stop`; waiting for the Lease ends at once on `stop`; a lost Lease raises."""
        work = asyncio.create_task(self._lead(), name="leader")
        stopping = asyncio.create_task(self.stop.wait(), name="stop-signal")
        try:
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done() and not self.process.leading:
                work.cancel()  # still waiting for the Lease: nothing to drain
            await asyncio.wait({work})
        finally:
            stopping.cancel()
            if not work.done():  # we are being cancelled ourselves: take the leader's work down with us
                work.cancel()
            await asyncio.wait({work, stopping})
        if not work.cancelled():
            work.result()  # LeadershipLost or a start-up error

    async def _lead(self) -> None:
        lease = self.settings.leader

        def report(problem: str | None) -> None:
            self.problems.report(startup_checks.LEADER_ELECTION, problem, namespace=lease.namespace,
                                 lease=lease.lease_name)

        async with leases.leading(self.api, lease, self.identity, clock=self.clock, metrics=self.kube_metrics,
                                  limiter=self.limiter, report=report) as leadership:
            self.process.leadership = leadership
            self.process.leading = True
            try:
                await self._work()
            finally:
                self.process.leading = False

    async def _work(self) -> None:
        settings = self.settings
        async with AsyncExitStack() as stack:
            verifiers = None
            if settings.aws.verify_target_group:
                try:
                    verifiers = await stack.enter_async_context(
                        self.open_verifiers(settings.aws.client, registry=self.registry))
                except elbv2.AwsCallError as exc:
                    raise StartError(f"cannot create the ELBv2 client: {exc}") from exc
            queue: queueing.RateLimitingQueue[str] = queueing.RateLimitingQueue(
                clock=self.clock, name="Rollouts", metrics=self.queue_metrics)
            stack.push_async_callback(self._close_queue, queue)
            analysis = analysis_running.AnalysisWork(clock=self.clock, queue_metrics=self.queue_metrics)
            stack.push_async_callback(analysis.close)
            informers = informing.build(
                self.api, queue.add, namespace=self.namespace, analysis_enqueue=analysis.enqueue,
                instance_id=settings.kube.instance_id or None,
                target_group_binding_api_version=(settings.aws.target_group_binding_api_version
                                                  if settings.aws.verify_target_group else None),
                limiter=self.limiter,
            )
            self.process.informers = informers
            informers.start()
            stack.push_async_callback(informers.stop)
            if not await startup_checks.wait_synced(informers, self.stop, self.problems):
                return
            await startup_checks.wait_listing(informers, self.stop)
            if not informers.synced():  # the optional TargetGroupBindings: say it once, loudly
                log.error("starting without every cache", waiting_for=informers.unsynced(),
                          consequence="Rollouts needing target verification wait "
                                      "(with a status message once a LIST fails)")
            writer = writing.KubeWriter(self.api, deadline=settings.kube.request_timeout_seconds,
                                        metrics=self.kube_metrics, limiter=self.limiter)
            recorder = recording.EventRecorder(writer, clock=self.clock, host=self.identity,
                                               metrics=self.metrics)
            reconciler = self.reconciler_factory(
                informers=informers, writer=writer, recorder=recorder, verifiers=verifiers, settings=settings,
                clock=self.clock, metrics=self.metrics)
            self.process.reconciler = reconciler
            workers = controller.Controller(queue=queue, reconciler=reconciler,
                                            workers=settings.queueing.rollout_threads, clock=self.clock,
                                            metrics=self.metrics)
            self.process.workers = workers
            workers.start()
            stack.push_async_callback(self._stop_workers, workers)
            stack.push_async_callback(self._stop_workers, analysis.start(
                informers=informers, writer=writer, recorder=recorder, settings=settings))
            # once per term: what Rollouts deleted while no controller ran left on Ingresses and Services
            startup_cleanup.enqueue(informers, queue.add, classes=settings.aws.ingress_classes)
            resyncing = asyncio.create_task(
                controller.resync(queue.add, informers.rollouts.store.keys,
                                  every=settings.kube.resync_seconds, clock=self.clock),
                name="resync")
            stack.push_async_callback(_cancel, resyncing)
            log.info("controller started", workers=settings.queueing.rollout_threads,
                     rollouts=len(informers.rollouts.store), verify_target_group=verifiers is not None,
                     namespace=self.namespace or "*")
            await self.stop.wait()
            log.info("stopping: letting reconciles in flight finish", grace_seconds=SHUTDOWN_GRACE_SECONDS)

    async def _stop_workers(self, workers: controller.Controller) -> None:
        # Without the Lease another replica may already lead: stop at once rather than act beside it.
        lost = self.process.leadership is not None and self.process.leadership.lost
        await workers.stop(0.0 if lost else SHUTDOWN_GRACE_SECONDS)

    @staticmethod
    async def _close_queue(queue: queueing.RateLimitingQueue[str]) -> None:
        queue.shutdown()
        await queue.wait_closed()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# ---- the command's entry ----


async def _main(settings: config_module.Settings) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main_task = asyncio.current_task()

    def on_signal(name: str) -> None:
        if stop.is_set():  # a second signal: do not wait for the drain
            log.warning("second signal: stopping at once", signal=name)
            if main_task is not None:
                main_task.cancel()
            return
        log.info("stopping", signal=name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        await run(settings, stop=stop)
    except (StartError, server.ListenError) as exc:
        log.error("cannot start", error=str(exc))
        return EXIT_FAILED
    except leases.LeadershipLost as exc:
        log.error("leader election lost", reason=str(exc))
        return EXIT_FAILED
    except asyncio.CancelledError:
        return EXIT_FAILED
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return EXIT_OK


def main(settings: config_module.Settings) -> int:
    """Configure logs, run until SIGINT/SIGTERM; 0 after a clean stop, 1 on a start error or a lost Lease."""
    logs.configure(settings.logging)
    return asyncio.run(_main(settings))
