"""Reflectors: one list+watch loop per resource that keeps a `caches.Store` current and tells handlers.

Room: observe. A reflector LISTs (recording the collection's resourceVersion), then WATCHes from the last
resourceVersion it saw, with bookmarks, a server timeout and a client deadline; a normal close resumes the
watch, 410 Expired re-LISTs and replaces the store (reporting the implied changes), and any other failure
reconnects after a jittered exponential backoff, never sooner than the server's Retry-After (429/5xx). Each
LIST and each WATCH start waits for a token of the --qps/--burst limiter when one is given. It holds no
business logic: handlers get (type, old, new) and must only enqueue keys; they never block and never write to
the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from service import backoff as backoffs
from service.kube import caches, listing, resources, throttling

__all__ = ["Backoff", "Handler", "Reflector", "WatchSettings", "wait_synced"]

_log = structlog.get_logger(__name__)


class Handler(Protocol):
    """Told of every change to the store; must return at once (enqueue keys, nothing more)."""

    def __call__(
        self, event_type: caches.EventType, old: caches.RawObject | None, new: caches.RawObject | None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """Timing of one reflector (client-go's defaults, scaled for a handful of resources)."""

    list_timeout: float = 60.0
    """Client deadline of one LIST, in seconds."""
    watch_timeout: int = 300
    """`timeoutSeconds` asked of the server: it ends each watch after this long and we resume."""
    watch_slack: float = 30.0
    """How long past `watch_timeout` the client waits on a silent stream before it gives up and reconnects."""
    backoff_initial: float = 0.8
    """First retry delay after a failure, in seconds (before jitter)."""
    backoff_max: float = 30.0
    """Largest retry delay, in seconds (before jitter)."""
    backoff_factor: float = 2.0
    """Growth of the delay per consecutive failure."""
    min_watch_seconds: float = 1.0
    """A watch ending sooner than this without a single event counts as a failure, so it cannot spin."""


class Backoff:
    """Delays for failures in a row with "equal jitter" (half fixed, half random); `reset` after a success."""

    def __init__(self, settings: WatchSettings, rng: random.Random) -> None:
        self._backoff = backoffs.Backoff(settings.backoff_initial, settings.backoff_max, jitter=0.5,
                                         factor=settings.backoff_factor)
        self._rng = rng
        self.failures = 0

    def next_delay(self, at_least: float = 0.0) -> float:
        """The delay before the next attempt (never below `at_least`, e.g. a Retry-After)."""
        delay = self._backoff.delay(self.failures, self._rng)
        self.failures += 1
        return max(at_least, delay)

    def reset(self) -> None:
        self.failures = 0


class _ShortWatch(Exception):
    """The server ended a watch at once without sending anything."""


class Reflector:
    """Keeps `store` equal to the server's view of one resource (in a namespace, or all) and reports changes.

    `synced` is set once the first LIST is in the store. `start`/`stop` run it as a task; `run` can be awaited
    directly instead (it returns only by cancellation).
    """

    def __init__(
        self,
        api: client.ApiClient,
        resource: resources.Resource,
        store: caches.Store,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        handlers: Sequence[Handler] = (),
        settings: WatchSettings | None = None,
        rng: random.Random | None = None,  # None: a fresh Random; tests pass a seeded one
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,  # tests may pass a recorder
        limiter: throttling.RequestLimiter | None = None,  # None: no client-side limit (tests)
    ) -> None:
        self.api = api
        self.resource = resource
        self.store = store
        self.namespace = namespace
        self.label_selector = label_selector
        self.handlers = list(handlers)
        self.settings = settings or WatchSettings()
        self.synced = asyncio.Event()
        self.last_error: str | None = None
        """Why the last LIST or WATCH failed (None once a LIST succeeded): /readyz says it while unsynced."""
        self.resource_version = ""
        self.lists = 0
        self.watches = 0
        self._backoff = Backoff(self.settings, rng or random.Random())
        self._sleep = sleep
        self.limiter = limiter
        self._task: asyncio.Task[None] | None = None
        self._expired = 0  # 410s in a row with no event and no clean watch between them
        self._progress = asyncio.Event()  # set (and replaced) whenever resource_version moves
        self._log = _log.bind(resource=resource.name, namespace=namespace or "*")

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Run the loop as a task (once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"reflector:{self.resource.name}")

    async def stop(self) -> None:
        """Cancel the loop and wait until it has closed its connection."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # ---- consistency -------------------------------------------------------------------------------------
    def has_seen(self, resource_version: str) -> bool:
        """Whether the cache reflects everything up to `resource_version` (e.g. the answer to our own write).

        resourceVersions are compared as numbers when both are (etcd revisions, as every API server in use
        sends), else only for equality.
        """
        mine = self.resource_version
        if mine.isdigit() and resource_version.isdigit():
            return int(mine) >= int(resource_version)
        return mine == resource_version

    async def wait_seen(self, resource_version: str, within: float) -> bool:
        """Wait until `has_seen(resource_version)` (kopf's consistency wait); False after `within` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not self.has_seen(resource_version):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        return True

    def _advance(self, resource_version: str) -> None:
        if not resource_version or resource_version == self.resource_version:
            return
        self.resource_version = resource_version
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()

    # ---- the loop ----------------------------------------------------------------------------------------
    async def run(self) -> None:
        """LIST, then WATCH forever; relist on 410, back off on anything else."""
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                await self._watch()
            except ApiException as exc:
                if exc.status == 410 and not need_list:
                    self._log.info("watch expired, relisting", resource_version=self.resource_version)
                    need_list = True
                    self._expired += 1
                    if self._expired > 1:  # expired again straight after a relist: do not spin
                        await self._pause(exc, status=exc.status)
                    continue
                await self._pause(exc, at_least=listing.retry_after(exc) or 0.0, status=exc.status)
            except Exception as exc:  # network errors, deadlines, malformed answers: all retried
                await self._pause(exc)

    async def _pause(self, exc: BaseException, *, at_least: float = 0.0, status: int | None = None) -> None:
        delay = self._backoff.next_delay(at_least)
        reason = str(getattr(exc, "reason", "")) or str(exc) or type(exc).__name__
        self.last_error = f"{status} {reason}" if status else reason
        self._log.warning(
            "list/watch failed, retrying",
            error=type(exc).__name__,
            status=status,
            reason=str(getattr(exc, "reason", "")) or str(exc),
            retry_in=round(delay, 3),
            failures=self._backoff.failures,
        )
        await self._sleep(delay)

    async def _relist(self) -> None:
        answer = await listing.list_collection(
            self.api,
            self.resource,
            namespace=self.namespace,
            label_selector=self.label_selector,
            deadline=self.settings.list_timeout,
            limiter=self.limiter,
        )
        self.lists += 1
        self._backoff.reset()
        self.last_error = None
        changes = self.store.replace(answer.items)
        self._advance(answer.resource_version)
        for change in changes:
            self._tell(change.type, change.old, change.new)
        if not self.synced.is_set():
            self._log.info("synced", objects=len(self.store), resource_version=self.resource_version)
        self.synced.set()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen = 0
        self.watches += 1
        events = listing.watch_collection(
            self.api,
            self.resource,
            resource_version=self.resource_version,
            namespace=self.namespace,
            label_selector=self.label_selector,
            server_timeout=self.settings.watch_timeout,
            deadline=self.settings.watch_timeout + self.settings.watch_slack,
            limiter=self.limiter,
        )
        async with contextlib.aclosing(events):
            async for event in events:
                seen += 1
                self._expired = 0
                self._backoff.reset()
                self._apply(event)
        self._expired = 0  # the stream opened and ended cleanly: the resourceVersion was good
        if not seen and loop.time() - started < self.settings.min_watch_seconds:
            raise _ShortWatch("the server ended the watch at once")

    def _apply(self, event: listing.WatchEvent) -> None:
        rv = caches.resource_version_of(event.object)
        if event.type == listing.BOOKMARK:
            self._advance(rv)
            return
        try:
            if event.type in (caches.ADDED, caches.MODIFIED):
                change = self.store.upsert(event.object)
                self._tell(change.type, change.old, change.new)
            elif event.type == caches.DELETED:
                gone = caches.trimmed(event.object)
                self.store.remove(caches.object_key(gone))
                self._tell(caches.DELETED, gone, None)
            else:
                self._log.warning("unknown watch event type skipped", event_type=event.type)
        except KeyError:
            self._log.warning("watch event without a name skipped", event_type=event.type)
        self._advance(rv)

    def _tell(
        self, event_type: caches.EventType, old: caches.RawObject | None, new: caches.RawObject | None
    ) -> None:
        for handler in self.handlers:
            try:
                handler(event_type, old, new)
            except Exception:  # one broken handler must not stop the cache or the other handlers
                self._log.exception("event handler failed", event_type=event_type)


async def wait_synced(reflectors: Iterable[Reflector], within: float) -> bool:
    """Wait until every reflector has synced; False when `within` seconds pass first."""
    waits = [r.synced.wait() for r in reflectors]
    try:
        await asyncio.wait_for(asyncio.gather(*waits), within)
    except TimeoutError:
        return False
    return True
