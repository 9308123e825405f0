"""LBC simulator, running room: watches storage, plans stack and binding models, and applies them to AWS after
the configured lag, unless paused. Knobs: lagSeconds, paused, rejectActions, targetRegistrationSeconds,
targetInitialSeconds, deregistrationDelaySeconds.

Planning is synchronous over one consistent read of storage; applying is sequential, one item at a time, so
moto never sees two writers. It never touches the API server's internals, only the Storage API.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sandbox import aws
from sandbox.apiserver import storage as storing
from sandbox.lbc import building, deploying, health, models, parsing, registering, reporting, weight_log

__all__ = ["Knobs", "LoadBalancerController", "StackDeleted"]

_log = logging.getLogger(__name__)
_WATCHED = frozenset({
    reporting.INGRESSES, "services", "endpointslices.discovery.k8s.io", "endpoints",
    "ingressclasses.networking.k8s.io", reporting.TGBS,
})
_RETRY_SECONDS = 1.0
_PLAN_PAUSE, _PLAN_PAUSE_MAX = 0.01, 0.25
_CONCURRENT_APPLIES = 3
_RETRY_MAX_SECONDS = 10.0


@dataclass(slots=True)
class Knobs:
    lag_seconds: float = 0.0
    """Changes reach AWS (and the cluster writes that follow them) only this long after they were seen."""
    paused: bool = False
    """Nothing reaches AWS while paused; queued changes apply once unpaused."""
    reject_actions: bool = False
    """Every `actions.*` annotation in use fails the build (FailedBuildModel); AWS keeps its state."""
    target_registration_seconds: float = 0.0
    """New targets are registered this long after their change reaches AWS (unwanted ones go at once)."""
    target_initial_seconds: float = 0.0
    """A newly registered target is `initial` this long, then `healthy`."""
    deregistration_delay_seconds: float = 0.0
    """A deregistered target is `draining` this long, then gone (0: gone at once)."""

    def as_dict(self) -> dict[str, Any]:
        return {"lagSeconds": self.lag_seconds, "paused": self.paused, "rejectActions": self.reject_actions,
                "targetRegistrationSeconds": self.target_registration_seconds,
                "targetInitialSeconds": self.target_initial_seconds,
                "deregistrationDelaySeconds": self.deregistration_delay_seconds}

    def timings(self) -> registering.Timings:
        return registering.Timings(registration_seconds=self.target_registration_seconds,
                                   initial_seconds=self.target_initial_seconds,
                                   deregistration_delay_seconds=self.deregistration_delay_seconds)


_SECONDS = {"lagSeconds": "lag_seconds", "targetRegistrationSeconds": "target_registration_seconds",
            "targetInitialSeconds": "target_initial_seconds",
            "deregistrationDelaySeconds": "deregistration_delay_seconds"}
_SWITCHES = {"paused": "paused", "rejectActions": "reject_actions"}


@dataclass(frozen=True, slots=True)
class StackDeleted:
    stack_id: str


Work = models.StackModel | models.BuildFailure | StackDeleted | models.BindingTargets | None


@dataclass(slots=True)
class _Queued:
    due: float
    work: Work
    attempts: int = 0


def _shape(stack: models.StackModel) -> models.StackModel:
    """The stack without member versions: a change here is what the real controller reports as reconciled."""
    return dataclasses.replace(stack, members=tuple(dataclasses.replace(m, uid="") for m in stack.members))


class LoadBalancerController:
    """What the AWS Load Balancer Controller does with `alb` Ingresses, against moto and the Storage API."""

    def __init__(self, storage: storing.Storage, *, endpoint_url: str, region: str = aws.REGION,
                 cluster: str = "sandbox", prefix: str = parsing.PREFIX, knobs: Knobs | None = None) -> None:
        self.storage = storage
        self.endpoint_url = endpoint_url
        self.region = region
        self.cluster = cluster
        self.prefix = prefix
        self.knobs = knobs or Knobs()
        self.applied: dict[str, models.StackModel] = {}
        """The last stack model deployed to AWS, by stack id."""
        self.target_health = health.TargetClock()
        """What ELBv2 would say about the targets this simulator registered (moto always says healthy)."""
        self.weights = weight_log.WeightLog()
        """When each target group's forward weight reached AWS (read by the benchmark)."""
        self.serving = weight_log.ServingLog()
        """When targets registered for each Service became healthy (read by the benchmark)."""
        self._service_of: dict[str, str] = {}  # target group ARN -> "<ns>/<service>" of its binding
        self._reporter = reporting.Reporter(storage)
        self._planned: dict[str, Work] = {}
        self._queues: dict[str, list[_Queued]] = {}
        self._reported_failures: dict[str, str] = {}
        self._reported_shapes: dict[str, models.StackModel] = {}
        self._dirty = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._applying: dict[str, asyncio.Task[None]] = {}  # key -> its apply in flight
        self._busy_kinds: dict[str, int] = {}  # "stack" / "binding" -> applies in flight
        self._plan_seconds = 0.0
        self._stack_cache: building.StackCache = {}
        self._binding_cache: building.BindingCache = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._exit = contextlib.AsyncExitStack()
        self._deployer: deploying.Deployer | None = None
        self._registrar: registering.Registrar | None = None
        self._subscription: storing.Subscription | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        enter = self._exit.enter_async_context
        elbv2 = await enter(aws.client("elbv2", self.endpoint_url, region=self.region))
        ec2 = await enter(aws.client("ec2", self.endpoint_url, region=self.region))
        self._deployer = deploying.Deployer(elbv2, ec2, cluster=self.cluster)
        self._registrar = registering.Registrar(
            elbv2, self.target_health, now=asyncio.get_running_loop().time,
            on_registered=lambda arn, after: self.serving.record(self._service_of.get(arn, arn), after))
        self._subscription = self.storage.subscribe()
        self._install_ingress_class()
        self._dirty.set()
        self._tasks = [asyncio.create_task(self._watch(), name="lbc-watch"),
                       asyncio.create_task(self._plan_loop(), name="lbc-plan"),
                       asyncio.create_task(self._apply_loop(), name="lbc-apply")]

    async def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        for task in [*self._tasks, *self._applying.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._applying.values(), return_exceptions=True)
        self._tasks = []
        self._applying = {}
        self._busy_kinds = {}
        await self._exit.aclose()

    async def __aenter__(self) -> LoadBalancerController:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _install_ingress_class(self) -> None:
        """The Helm chart installs IngressClass `alb`; the sandbox does the same."""
        if self.storage.get("ingressclasses.networking.k8s.io", None, "alb") is None:
            with contextlib.suppress(storing.ApiError):
                self.storage.create("ingressclasses.networking.k8s.io", {
                    "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                    "metadata": {"name": "alb",
                                 "labels": {"app.kubernetes.io/name": "aws-load-balancer-controller"}},
                    "spec": {"controller": building.ALB_CONTROLLER},
                })

    # ---- knobs -------------------------------------------------------------------------------------------
    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply the JSON form of POST /lbc (`Knobs.as_dict` keys), all or nothing; returns the knobs."""
        unknown = set(body) - set(_SECONDS) - set(_SWITCHES)
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {}
        for key, attr in _SECONDS.items():
            if key in body:
                value = body[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                    raise ValueError(f"{key} must be a number >= 0")
                changes[attr] = float(value)
        for key, attr in _SWITCHES.items():
            if key in body:
                if not isinstance(body[key], bool):
                    raise ValueError(f"{key} must be true or false")
                changes[attr] = body[key]
        for attr, value in changes.items():
            setattr(self.knobs, attr, value)
        self._dirty.set()
        self._wakeup.set()
        return self.knobs.as_dict()

    async def settled(self) -> None:
        """Wait until every seen change has been applied (forever while paused: wrap in asyncio.timeout)."""
        while self._pending():  # noqa: ASYNC110
            # Polled: "settled" spans three tasks and a subscription queue, no single event covers it.
            await asyncio.sleep(0.02)

    def _pending(self) -> bool:
        unseen = self._subscription is not None and self._subscription.pending() > 0
        return unseen or self._dirty.is_set() or bool(self._applying) or any(self._queues.values())

    # ---- observe and plan --------------------------------------------------------------------------------
    async def _watch(self) -> None:
        assert self._subscription is not None
        async for event in self._subscription:
            if event.resource in _WATCHED:
                self._dirty.set()

    async def _plan_loop(self) -> None:
        while True:
            await self._dirty.wait()
            # Let a burst of writes (e.g. a ReplicaSet scaling) land before reading them all at once; a plan
            # that takes long (thousands of Ingresses) waits longer, so planning never takes all the time.
            await asyncio.sleep(min(_PLAN_PAUSE_MAX, max(_PLAN_PAUSE, 2 * self._plan_seconds)))
            self._dirty.clear()
            started = time.perf_counter()
            try:
                self._plan()
            except Exception:
                _log.exception("planning failed")
            self._plan_seconds = time.perf_counter() - started

    def _view(self) -> building.ClusterView:
        # Stored objects, not copies: planning reads everything on every change and keeps none of it.
        # Services, EndpointSlices and Endpoints are looked up in the storage's own indexes: at thousands of
        # them, listing and indexing all of them on every plan was the sandbox's largest cost.
        peek = self.storage.peek
        return building.ClusterView(
            ingresses=peek(reporting.INGRESSES),
            ingress_classes=peek("ingressclasses.networking.k8s.io"),
            lookups=building.Lookups(one=self.storage.peek_one, labelled=self.storage.peek_labelled),
        )

    def _plan(self) -> None:
        view = self._view()
        wanted: dict[str, Work] = {}
        stacks = building.build_stacks(view, cluster=self.cluster, reject_actions=self.knobs.reject_actions,
                                       prefix=self.prefix, cache=self._stack_cache)
        for stack_id, stack in stacks.items():
            wanted[f"stack:{stack_id}"] = stack
        for key, binding in building.plan_bindings(view, self.storage.peek(reporting.TGBS),
                                                          self._binding_cache).items():
            wanted[f"binding:{key}"] = binding
        for key in [k for k in self._planned if k not in wanted]:
            wanted[key] = StackDeleted(key.removeprefix("stack:")) if key.startswith("stack:") else None
        due = asyncio.get_running_loop().time() + self.knobs.lag_seconds
        for key, work in wanted.items():
            if self._planned.get(key) == work:
                continue
            self._queues.setdefault(key, []).append(_Queued(due, work))
            if work is None or isinstance(work, StackDeleted):
                self._planned.pop(key, None)
            else:
                self._planned[key] = work
        self._wakeup.set()

    # ---- apply -------------------------------------------------------------------------------------------
    async def _apply_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wakeup.clear()
            next_due: float | None = None
            if not self.knobs.paused:
                for key in list(self._queues):
                    if key in self._applying:
                        continue  # one apply per key at a time; it wakes the loop when done
                    queue = self._queues[key]
                    now = loop.time()
                    free = self._free(key)
                    ready = [item for item in queue if item.due <= now] if free else []
                    if ready:
                        kind = key.partition(":")[0]
                        self._busy_kinds[kind] = self._busy_kinds.get(kind, 0) + 1
                        self._applying[key] = asyncio.create_task(self._apply_one(key, queue, ready[-1]),
                                                                  name=f"lbc-apply {key}")
                        continue
                    if not queue:
                        del self._queues[key]
                    elif free:
                        # Any item may be the earliest: a retry or a pending registration moves its own due.
                        # (A kind with no free slot is looked at again when one of its applies ends.)
                        soonest = min(item.due for item in queue)
                        next_due = soonest if next_due is None else min(next_due, soonest)
            timeout = None if next_due is None else max(0.0, next_due - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()

    def _free(self, key: str) -> bool:
        """The real LBC reconciles 3 ingress groups and 3 TargetGroupBindings at a time (its default
        --ingress-max-concurrent-reconciles and --targetgroupbinding-max-concurrent-reconciles)."""
        return self._busy_kinds.get(key.partition(":")[0], 0) < _CONCURRENT_APPLIES

    async def _apply_one(self, key: str, queue: list[_Queued], item: _Queued) -> None:
        try:
            await self._apply_latest(key, queue, item)
        finally:
            del self._applying[key]
            self._busy_kinds[key.partition(":")[0]] -= 1
            if not queue and self._queues.get(key) is queue:
                del self._queues[key]
            self._wakeup.set()

    async def _apply_latest(self, key: str, queue: list[_Queued], item: _Queued) -> None:
        """Apply the newest due item (older due ones are superseded); on failure retry it a bit later; an item
        with registrations still to come stays queued until they are due."""
        del queue[: queue.index(item)]
        again: float | None = None
        try:
            again = await self._apply(item.work)
        except ClientError as err:
            gone = err.response.get("Error", {}).get("Code") == "TargetGroupNotFound"
            if not (gone and isinstance(item.work, models.BindingTargets)):
                self._retry_later(key, item, err)
                return
            _log.warning("target group of binding %s is gone; skipping", key)
        except Exception as err:
            self._retry_later(key, item, err)
            return
        if again is None:
            queue.remove(item)
        else:
            item.due = again

    def _retry_later(self, key: str, item: _Queued, err: Exception) -> None:
        """Back off exponentially; a stack that AWS refuses gets one FailedDeployModel event per error."""
        _log.warning("applying %s failed (%s); retrying", key, err)
        if isinstance(item.work, models.StackModel):
            message = f"Failed deploy model due to {err}"
            if self._reported_failures.get(item.work.stack_id) != message:
                self._reported_failures[item.work.stack_id] = message
                self._reporter.failed_deploy(item.work, message)
        item.attempts += 1
        delay = min(_RETRY_SECONDS * 2 ** (item.attempts - 1), _RETRY_MAX_SECONDS)
        item.due = asyncio.get_running_loop().time() + delay

    async def _apply(self, work: Work) -> float | None:
        """Apply one piece of work; returns when to apply it again (pending registrations), else None."""
        assert self._deployer is not None and self._registrar is not None
        if isinstance(work, models.StackModel):
            deployed = await self._deployer.deploy(work)
            self._reporter.bindings(work, deployed.tg_arns, deployed.vpc_id)
            self._reporter.status(work, deployed.dns_name)
            self.applied[work.stack_id] = work
            self.weights.record(work)
            self._reported_failures.pop(work.stack_id, None)
            if self._reported_shapes.get(work.stack_id) != _shape(work):
                self._reported_shapes[work.stack_id] = _shape(work)
                self._reporter.reconciled(work)
        elif isinstance(work, models.BuildFailure):
            if self._reported_failures.get(work.stack_id) != work.message:
                self._reported_failures[work.stack_id] = work.message
                self._reporter.failed_build(work)
        elif isinstance(work, StackDeleted):
            last = self.applied.pop(work.stack_id, None)
            self._reported_failures.pop(work.stack_id, None)
            self._reported_shapes.pop(work.stack_id, None)
            if last is not None:
                await self._deployer.delete(last.stack_id, last.lb_name)
                self._reporter.remove_stack_bindings(last)
                for member in last.members:
                    self._reporter.clear_status(member)
        elif isinstance(work, models.BindingTargets):
            tgb = self.storage.get(reporting.TGBS, work.namespace, work.name) or {}
            service = ((tgb.get("spec") or {}).get("serviceRef") or {}).get("name")
            if service:
                self._service_of[work.target_group_arn] = f"{work.namespace}/{service}"
            return await self._registrar.sync(work.target_group_arn, work.targets, self.knobs.timings())
        return None
