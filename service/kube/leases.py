"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules and asyncio cancellation.

Room: start-up (around the whole flow). Only the replica holding the Lease reconciles: `leading` waits until
this process holds it, renews it in the background, cancels the leader's work when a renewal deadline passes
or another holder shows up, and releases the Lease on a clean exit so a successor takes over at once. A try
the server answered with a Retry-After is not followed by the next sooner than that; every Lease request takes
a token of the --qps/--burst limiter when one is given. While the Lease cannot be had, each failed try's
cause (its namespace missing, RBAC refusing it, ...) and what to do about it goes to `report` (service.running
logs it and shows it on /readyz), None once the cause is gone.
kubernetes_asyncio's LeaderElection is not used: it reads `time.time`, writes local time as UTC, has no
request deadlines, never releases, and leaves the leader's task running when it is cancelled. This module
never decides anything about Rollouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from kubernetes_asyncio import client

from service import client_metrics
from service import clock as clocks
from service import settings as config
from service.kube import throttling, writing

__all__ = ["Leadership", "LeadershipLost", "Report", "default_identity", "explain", "leading", "micro_time"]

log = structlog.get_logger(__name__)


Report = Callable[[str | None], None]
"""Told after every try to acquire the Lease: why it failed and what to do, or None (held, or by another)."""


class LeadershipLost(Exception):
    """The Lease was not renewed in time, or another candidate holds it; the leader's work was cancelled."""


@dataclass(slots=True)
class Leadership:
    """This process's hold on the Lease, as the leader's work sees it."""

    identity: str
    """Our holderIdentity."""
    elected: bool
    """False when --leader-elect=false: we lead without a Lease."""
    renewals: int = 0
    """Successful renewals since we became leader."""
    lost: bool = False
    """Set (and the work cancelled) when the Lease was lost."""


class _Attempt(enum.Enum):
    HOLDING = "holding"
    HELD_BY_OTHER = "held by another candidate"
    FAILED = "failed"


def micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime: RFC 3339 UTC with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_identity() -> str:
    """`<hostname>_<uuid>`, as the reference names its candidates (unique even across restarts)."""
    host = os.environ.get("POD_NAME") or socket.gethostname()
    return f"{host}_{uuid.uuid4()}"


def _spec_of(lease: dict[str, Any]) -> dict[str, Any]:
    spec = lease.get("spec")
    return spec if isinstance(spec, dict) else {}


class _Elector:
    """client-go's tryAcquireOrRenew over raw Lease JSON: expiry is judged by our own clock, not theirs."""

    def __init__(
        self,
        api: client.ApiClient,
        settings: config.LeaderSettings,
        identity: str,
        *,
        clock: clocks.Clock,
        deadline: float,
        metrics: client_metrics.KubeClientMetrics | None,
        limiter: throttling.RequestLimiter | None = None,
    ) -> None:
        self.api, self.settings, self.identity, self.clock = api, settings, identity, clock
        self.deadline = deadline
        self.metrics = metrics
        self.limiter = limiter
        self.retry_after = 0.0
        """The longest Retry-After the server sent during the last attempt (0: none)."""
        self.problem: str | None = None
        """Why the last attempt failed and what to do about it (None: it did not fail)."""
        self.path = writing.object_path(writing.LEASES, settings.namespace, settings.lease_name)
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._lease: dict[str, Any] | None = None
        """The Lease as our last successful write left it (its resourceVersion guards the release)."""

    async def _send(self, method: str, path: str, body: Any, deadline: float) -> dict[str, Any]:
        try:
            return await writing.send(self.api, method, path, body=body, deadline=deadline,
                                      metrics=self.metrics, limiter=self.limiter)
        except writing.KubeWriteError as exc:
            if exc.retry_after is not None:
                self.retry_after = max(self.retry_after, exc.retry_after)
            raise

    def _pause(self) -> float:
        """Seconds until the next try: the retry period, or longer when the server said so (Retry-After)."""
        return max(self.settings.retry_period_seconds, self.retry_after)

    def _spec(self, now: datetime, acquired: str, transitions: int, holder: str) -> dict[str, Any]:
        return {
            "holderIdentity": holder,
            "leaseDurationSeconds": max(1, math.ceil(self.settings.lease_duration_seconds)),
            "acquireTime": acquired,
            "renewTime": micro_time(now),
            "leaseTransitions": transitions,
        }

    async def attempt(self, deadline: float) -> _Attempt:
        """One try to acquire or renew the Lease within `deadline` seconds; any error is a failed try."""
        self.retry_after = 0.0
        self.problem = None
        try:
            return await self._attempt(deadline)
        except Exception as exc:  # e.g. a token refresh failing: a renewal task that died would lead forever
            log.exception("leader election: attempt failed")
            self.problem = f"leader election failed ({type(exc).__name__}: {exc}); retrying"
            return _Attempt.FAILED

    def _failed(self, verb: str, exc: writing.KubeWriteError) -> _Attempt:
        """Note why `verb` on the Lease failed (at debug level: `report` says it louder, once)."""
        log.debug(f"leader election: cannot {verb} the lease", error=str(exc))
        self.problem = explain(verb, exc, self.settings)
        return _Attempt.FAILED

    async def _attempt(self, deadline: float) -> _Attempt:
        now = self.clock.now()
        try:
            lease = await self._send("GET", self.path, None, deadline)
        except writing.NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.settings.lease_name, "namespace": self.settings.namespace},
                "spec": self._spec(now, micro_time(now), 0, self.identity),
            }
            try:
                collection = writing.LEASES.collection_path(self.settings.namespace)
                self._lease = await self._send("POST", collection, body, deadline)
            except writing.KubeWriteError as exc:
                return self._failed("create", exc)
            self._observe(self._lease.get("spec"))
            return _Attempt.HOLDING
        except writing.KubeWriteError as exc:
            return self._failed("get", exc)
        spec = _spec_of(lease)
        self._observe(spec)
        holder = str(spec.get("holderIdentity") or "")
        valid_until = self._observed_at + self.settings.lease_duration_seconds
        if holder and holder != self.identity and valid_until > self.clock.monotonic():
            return _Attempt.HELD_BY_OTHER
        transitions = spec.get("leaseTransitions")
        transitions = transitions if isinstance(transitions, int) and not isinstance(transitions, bool) else 0
        if holder == self.identity:
            new = self._spec(now, str(spec.get("acquireTime") or micro_time(now)), transitions, self.identity)
        else:
            new = self._spec(now, micro_time(now), transitions + 1, self.identity)
        # Other spec fields (strategy, preferredHolder) are kept; metadata.resourceVersion is a precondition.
        body = {**lease, "spec": {**spec, **new}}
        try:
            self._lease = await self._send("PUT", self.path, body, deadline)
        except writing.KubeWriteError as exc:
            return self._failed("update", exc)
        self._observe(self._lease.get("spec"))
        return _Attempt.HOLDING

    def _observe(self, spec: Any) -> None:
        """Note when the Lease record last changed, by our monotonic clock."""
        spec = spec if isinstance(spec, dict) else {}
        record = tuple(spec.get(k) for k in ("holderIdentity", "leaseDurationSeconds", "acquireTime",
                                             "renewTime", "leaseTransitions"))
        if record != self._observed:
            self._observed = record
            self._observed_at = self.clock.monotonic()

    async def acquire(self, report: Report | None = None) -> None:
        """Return once we hold the Lease, trying every retry period; `report` hears each try's problem."""
        while True:
            outcome = await self.attempt(self.deadline)
            if report is not None:
                report(self.problem)
            if outcome is _Attempt.HOLDING:
                return
            await self.clock.sleep(self._pause())

    async def keep(self, leadership: Leadership, lose: Callable[[str], None]) -> None:
        """Renew every retry period; call `lose` when another holds it or no renewal succeeds in time."""
        renewed = self.clock.monotonic()
        while True:
            await self.clock.sleep(self._pause())
            remaining = self.settings.renew_deadline_seconds - (self.clock.monotonic() - renewed)
            outcome = _Attempt.FAILED
            if remaining > 0:
                outcome = await self.attempt(min(self.deadline, remaining))
            if outcome is _Attempt.HOLDING:
                renewed = self.clock.monotonic()
                leadership.renewals += 1
            elif outcome is _Attempt.HELD_BY_OTHER:
                lose("another candidate holds the lease")
                return
            elif self.clock.monotonic() - renewed >= self.settings.renew_deadline_seconds:
                lose(f"not renewed within {self.settings.renew_deadline_seconds:g}s")
                return

    async def release(self) -> None:
        """Hand the Lease back (empty holder, 1 s duration) so a successor need not wait for it to expire."""
        if self._lease is None:
            return
        spec = _spec_of(self._lease)
        if spec.get("holderIdentity") != self.identity:
            return
        now = micro_time(self.clock.now())
        released = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1}
        released.update(acquireTime=now, renewTime=now)
        lease = self._lease
        for attempt in (1, 2):
            try:
                await self._send("PUT", self.path, {**lease, "spec": released}, self.deadline)
            except writing.Conflict as exc:
                # a renewal cut short by the exit may have landed after our last copy: read it, try once more
                if attempt == 2:
                    log.warning("leader election: cannot release the lease", error=str(exc))
                    return
                try:
                    lease = await self._send("GET", self.path, None, self.deadline)
                except writing.KubeWriteError as error:
                    log.warning("leader election: cannot release the lease", error=str(error))
                    return
                if _spec_of(lease).get("holderIdentity") != self.identity:
                    return  # someone else holds it already: nothing of ours to release
                released = {**_spec_of(lease), "holderIdentity": "", "leaseDurationSeconds": 1,
                            "acquireTime": now, "renewTime": now}
            except writing.KubeWriteError as exc:  # it expires by itself; a successor only waits longer
                log.warning("leader election: cannot release the lease", error=str(exc))
                return
            else:
                log.info("leader election: lease released", identity=self.identity)
                return


def explain(verb: str, error: writing.KubeWriteError, settings: config.LeaderSettings) -> str:
    """Why `verb` on the Lease failed and what to do about it, in one sentence for the log and /readyz."""
    namespace, lease = settings.namespace, f"{settings.namespace}/{settings.lease_name}"
    if error.code == 404 and verb == "create" and "namespace" in error.message:
        return (f"the Lease namespace {namespace} does not exist ({error}): create it (kubectl create "
                f"namespace {namespace}), or set POD_NAMESPACE to the namespace that should hold the Lease, "
                "or run with --leader-elect=false")
    if error.code == 403:
        return (f"RBAC forbids {verb} on the Lease {lease} ({error}): grant the controller's service account "
                f"get, create and update on leases.coordination.k8s.io in namespace {namespace} "
                "(the Role in k8s/base)")
    if error.code == 401:
        return (f"the API server does not accept our credentials ({error}): check --kubeconfig, or the "
                "service account token in the cluster")
    if error.code == 0:
        return f"cannot reach the API server to {verb} the Lease {lease} ({error}); retrying"
    return f"cannot {verb} the Lease {lease} ({error}); retrying"


@contextlib.asynccontextmanager
async def leading(
    api: client.ApiClient,
    settings: config.LeaderSettings,
    identity: str,
    *,
    clock: clocks.Clock,
    deadline: float | None = None,
    metrics: client_metrics.KubeClientMetrics | None = None,
    limiter: throttling.RequestLimiter | None = None,
    report: Report | None = None,
) -> AsyncIterator[Leadership]:
    """Enter once this process leads; the body is cancelled (then LeadershipLost raised) if the Lease is lost.

    With `settings.elect` false the body runs at once. Each Lease request gets `deadline` seconds (default:
    the renew deadline) after its `limiter` token (None: no limit). Tries are a retry period apart, or the
    server's Retry-After when longer; `report` hears why each try to acquire failed (None: it did not).
    A clean exit, or a cancellation from outside, releases the Lease.
    """
    if not settings.elect:
        yield Leadership(identity, elected=False)
        return
    elector = _Elector(api, settings, identity, clock=clock, metrics=metrics, limiter=limiter,
                       deadline=deadline if deadline is not None else settings.renew_deadline_seconds)
    log.info("leader election: waiting for the lease", identity=identity, lease=settings.lease_name,
             namespace=settings.namespace)
    await elector.acquire(report)
    log.info("leader election: leading", identity=identity, lease=settings.lease_name)
    current = asyncio.current_task()
    assert current is not None
    host: asyncio.Task[Any] = current
    leadership = Leadership(identity, elected=True)
    why: list[str] = []

    def lose(reason: str) -> None:
        leadership.lost = True
        why.append(reason)
        host.cancel()

    renewing = asyncio.create_task(elector.keep(leadership, lose), name=f"lease:{settings.lease_name}")
    try:
        yield leadership
    except asyncio.CancelledError:
        if not leadership.lost or host.uncancel() > 0:
            raise  # cancelled from outside (too): that cancellation goes on
        leadership_error: LeadershipLost | None = LeadershipLost(why[0])
    else:
        leadership_error = None
        if leadership.lost:  # the body swallowed our cancellation
            host.uncancel()
            leadership_error = LeadershipLost(why[0])
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        if not leadership.lost:
            await elector.release()
    if leadership_error is not None:
        log.warning("leader election: lost the lease", identity=identity, reason=why[0])
        raise leadership_error

