"""Kubernetes Events for the objects we act on, written as client-go's recorder and EventCorrelator do.

Room: apply (its last step). Every occurrence of a fact goes through client-go's three steps, in its order
(`tools/record/events_cache.go`, `EventCorrelate`):

- aggregate: similar events (same source, object, type and reason) with a 10th distinct message within 10
  minutes of the last one become one event "(combined from similar events): <message>";
- observe: an unchanged fact (same source, object, type, reason and message; `getEventKey`) is a count bump
  on the Event it was first written to: a PATCH of `count` + 1, `lastTimestamp` and `message`, never a new
  Event and never silence (SPEC §4.9: a retry is not a new event); a 404 (the Event expired) creates it
  again under the same name with the count carried on, as client-go does;
- filter: each source+object has a token bucket (burst 25, one more every 5 minutes); an occurrence beyond
  it makes no call, but is still counted, so the next write carries the true count.

Each of the three remembers at most `cache_size` keys (4096, least recently used first). Occurrences of one
fact are written one at a time, so concurrent ones bump the count in turn. It never raises: an Event that
cannot be written is logged and dropped, so events never break a reconcile.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog

from service import clock as clocks
from service import rollout_metrics, token_bucket
from service.kube import writing
from statemachine import events

__all__ = [
    "AGGREGATE_INTERVAL_SECONDS",
    "AGGREGATE_MAX_EVENTS",
    "CACHE_SIZE",
    "COMBINED_PREFIX",
    "DEFAULT_COMPONENT",
    "SPAM_BURST",
    "SPAM_RATE",
    "EventRecorder",
    "EventSink",
]

log = structlog.get_logger(__name__)

DEFAULT_COMPONENT = "rollouts-controller"
CACHE_SIZE = 4096
"""client-go's maxLruCacheEntries: keys each cache (events, similar events, spam buckets) remembers."""
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL_SECONDS = 600.0
COMBINED_PREFIX = "(combined from similar events): "
SPAM_BURST = 25
SPAM_RATE = 1.0 / 300.0
"""Tokens a second per source+object: one new event every 5 minutes once the burst is spent."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_Key = tuple[str, ...]
_V = TypeVar("_V")


class EventSink(Protocol):
    """The two writes the recorder needs (`writing.KubeWriter` has them); each answers the server's Event."""

    async def create_event(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch_event(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(slots=True)
class _Observation:
    """What client-go's eventLog keeps about a fact: the Event it lives in and how often it happened."""

    namespace: str
    name: str
    count: int
    first_timestamp: str
    created: bool
    """The server has this Event (as far as we know): the next occurrence patches it instead of creating."""


@dataclass(slots=True)
class _Similar:
    """client-go's aggregateRecord: the distinct messages of similar events, and when the last one came."""

    last_seen: float
    messages: dict[str, None] = field(default_factory=dict)
    """Insertion-ordered set, the newest message last."""


@dataclass(slots=True)
class _Turn:
    """One fact's writes go one at a time; `users` counts holders and waiters, so the lock can be dropped."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reference(involved: Mapping[str, Any]) -> dict[str, str]:
    """The involvedObject (an ObjectReference, fields in client-go's order) of a raw object."""
    meta = involved.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    fields = (
        ("kind", involved.get("kind")),
        ("namespace", meta.get("namespace")),
        ("name", meta.get("name")),
        ("uid", meta.get("uid")),
        ("apiVersion", involved.get("apiVersion")),
        ("resourceVersion", meta.get("resourceVersion")),
    )
    return {key: str(value) for key, value in fields if value not in (None, "")}


def _put(cache: collections.OrderedDict[_Key, _V], key: _Key, value: _V, size: int) -> None:
    """Store `value` as the most recently used entry; forget the least recently used beyond `size`."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


class EventRecorder:
    """Writes core/v1 Events through `writer`, correlated as client-go's EventCorrelator does.

    `record` returns True when it wrote (created or patched) an Event, False when the spam filter held the
    occurrence back (it is still counted) or the write failed (logged). Every occurrence of a Rollout's event
    is counted in `rollout_events_total`, as the reference counts every Eventf call.
    """

    def __init__(
        self,
        writer: EventSink,
        *,
        clock: clocks.Clock,
        component: str = DEFAULT_COMPONENT,
        host: str = "",
        cache_size: int = CACHE_SIZE,
        metrics: rollout_metrics.RolloutMetrics | None = None,
    ) -> None:
        self.writer = writer
        self.clock = clock
        self.component = component
        self.host = host
        self.cache_size = cache_size
        self.metrics = metrics  # None for tests
        self._observed: collections.OrderedDict[_Key, _Observation] = collections.OrderedDict()
        self._similar: collections.OrderedDict[_Key, _Similar] = collections.OrderedDict()
        self._spam: collections.OrderedDict[_Key, token_bucket.TokenBucket] = collections.OrderedDict()
        self._turns: dict[_Key, _Turn] = {}
        self._last_nanos = 0

    def __len__(self) -> int:
        """How many facts are remembered (at most `cache_size`)."""
        return len(self._observed)

    async def emit(self, involved: Mapping[str, Any], event: events.Event) -> bool:
        """`record` for an event the planner produced."""
        return await self.record(involved, event.type, event.reason, event.message)

    async def record(self, involved: Mapping[str, Any], type_: str, reason: str, message: str) -> bool:
        """Write one occurrence of the fact as an Event on `involved` (a raw object), or bump its count."""
        ref = _reference(involved)
        if "name" not in ref:
            log.warning("event dropped: the object has no name", reason=reason, kind=ref.get("kind", ""))
            return False
        if self.metrics is not None and ref.get("kind") == "Rollout":
            self.metrics.count_event(ref.get("namespace", ""), ref["name"], type_, reason)
        # getSpamKey: the source and the object; EventAggregatorByReasonFunc adds type and reason.
        spam_key = (self.component, self.host, *(ref.get(f, "") for f in ("kind", "namespace", "name", "uid",
                                                                             "apiVersion")))
        key, message = self._aggregate((*spam_key, type_, reason), message)
        async with self._turn(key):
            observation = self._observe(key, ref)
            if not self._allow(spam_key):
                log.debug("event held back: too many events about the object", reason=reason,
                          object=f"{ref.get('namespace', '')}/{ref['name']}", count=observation.count)
                return False
            return await self._write(key, ref, observation, type_, reason, message)

    def _aggregate(self, similar: _Key, message: str) -> tuple[_Key, str]:
        """EventAggregate: the key of the Event this occurrence counts in, and its message."""
        now = self.clock.monotonic()
        record = self._similar.get(similar)
        if record is None or now - record.last_seen > AGGREGATE_INTERVAL_SECONDS:
            record = _Similar(now)
        record.messages.pop(message, None)
        record.messages[message] = None
        record.last_seen = now
        _put(self._similar, similar, record, self.cache_size)
        if len(record.messages) < AGGREGATE_MAX_EVENTS:
            return (*similar, "message", message), message
        # At the limit: keep the set from growing (client-go drops any one; the oldest here, never this one).
        del record.messages[next(iter(record.messages))]
        return (*similar, "combined"), COMBINED_PREFIX + message

    def _observe(self, key: _Key, ref: Mapping[str, str]) -> _Observation:
        """eventObserve: count this occurrence on the fact's Event, or name a new Event for it."""
        previous = self._observed.get(key)
        if previous is None:
            moment = self.clock.now()
            name = f"{ref['name']}.{self._nanos(moment):x}"
            observation = _Observation(ref.get("namespace") or "default", name, 1, _timestamp(moment),
                                       created=False)
        else:
            observation = _Observation(previous.namespace, previous.name, previous.count + 1,
                                       previous.first_timestamp, previous.created)
        _put(self._observed, key, observation, self.cache_size)
        return observation

    def _allow(self, spam_key: _Key) -> bool:
        """EventSourceObjectSpamFilter: take a token of the source+object's bucket, never waiting for one."""
        bucket = self._spam.get(spam_key)
        if bucket is None:
            bucket = token_bucket.TokenBucket(SPAM_RATE, SPAM_BURST, monotonic=self.clock.monotonic)
        _put(self._spam, spam_key, bucket, self.cache_size)
        bucket.refill(self.clock.monotonic())
        return bucket.take(max_wait=0.0) is not None

    async def _write(self, key: _Key, ref: Mapping[str, str], seen: _Observation, type_: str, reason: str,
                     message: str) -> bool:
        """recordEvent: patch the known Event (create it again on 404), or create a new one."""
        stamp = _timestamp(self.clock.now())
        creating = not seen.created
        try:
            answer: dict[str, Any] | None = None
            if seen.created:
                # The fields client-go's two-way merge patch holds, in Go's (sorted) key order.
                patch = {"count": seen.count, "lastTimestamp": stamp, "message": message}
                try:
                    answer = await self.writer.patch_event(seen.namespace, seen.name, patch)
                except writing.NotFound:
                    creating = True  # the Event expired (the server's TTL) or was deleted: create it again
            if creating:
                answer = await self.writer.create_event(
                    seen.namespace, self._event(ref, seen, type_, reason, message, stamp))
        except Exception as exc:  # an event must never fail the reconcile that records it
            if creating:
                self._observed.pop(key, None)  # never written: the next occurrence starts a new Event
            log.warning("event not recorded", object=f"{ref.get('namespace', '')}/{ref['name']}",
                        kind=ref.get("kind", ""), reason=reason, error=str(exc))
            return False
        self._learn(key, seen, answer if isinstance(answer, Mapping) else {})
        return True

    def _learn(self, key: _Key, seen: _Observation, answer: Mapping[str, Any]) -> None:
        """updateState: remember the Event as the server answered it (name, count, firstTimestamp)."""
        meta = answer.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else None
        count = answer.get("count")
        first = answer.get("firstTimestamp")
        learnt = _Observation(seen.namespace, name if isinstance(name, str) and name else seen.name,
                              count if isinstance(count, int) and count > 0 else seen.count,
                              first if isinstance(first, str) and first else seen.first_timestamp,
                              created=True)
        _put(self._observed, key, learnt, self.cache_size)

    def _event(self, ref: Mapping[str, str], seen: _Observation, type_: str, reason: str, message: str,
               stamp: str) -> dict[str, Any]:
        """The Event as client-go's recorder makes it (makeEvent + source), with the observed count."""
        source = {"component": self.component, **({"host": self.host} if self.host else {})}
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": seen.name, "namespace": seen.namespace},
            "involvedObject": dict(ref),
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": seen.first_timestamp,
            "lastTimestamp": stamp,
            "count": seen.count,
            "type": type_,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }

    @contextlib.asynccontextmanager
    async def _turn(self, key: _Key) -> AsyncIterator[None]:
        """Hold the fact's lock while its occurrence is observed and written; drop it when nobody needs it."""
        turn = self._turns.setdefault(key, _Turn())
        turn.users += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.users -= 1
            if turn.users == 0:
                del self._turns[key]

    def _nanos(self, moment: datetime) -> int:
        """Unix nanoseconds of `moment` (the Event name's suffix), strictly increasing per recorder."""
        nanos = (moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1) * 1000
        self._last_nanos = max(nanos, self._last_nanos + 1)
        return self._last_nanos
