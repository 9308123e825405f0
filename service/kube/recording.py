"""Kubernetes Events for the objects we act on, written like client-go's recorder and never repeated.

Room: apply (its last step). A fact — (object uid, type, reason, message) — is written once; seen again it
updates the same Event's count and lastTimestamp at most once per dedup window, and within the window it
makes no API call at all (SPEC §4.9). It never raises: an Event that cannot be written is logged and dropped,
so events never break a reconcile.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from service import clock as clocks
from service import rollout_metrics
from service.kube import writing
from statemachine import events

__all__ = ["DEFAULT_COMPONENT", "DEFAULT_WINDOW_SECONDS", "EventRecorder", "EventSink", "FactKey"]

log = structlog.get_logger(__name__)

DEFAULT_COMPONENT = "rollouts-controller"
DEFAULT_WINDOW_SECONDS = 600.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

FactKey = tuple[str, str, str, str]
"""(object uid or kind/namespace/name, type, reason, message): what makes two events the same fact."""


class EventSink(Protocol):
    """The two writes the recorder needs (`writing.KubeWriter` has them)."""

    async def create_event(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch_event(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(slots=True)
class _Written:
    """The Event a fact was last written to."""

    namespace: str
    name: str
    count: int
    first_timestamp: str
    written_at: float
    """Monotonic time of the last write."""


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


class EventRecorder:
    """Writes core/v1 Events through `writer`, deduplicated per fact within `window` seconds.

    `record` returns True when it wrote (created or updated) an Event, False when the fact was already
    written within the window, is being written by another task, or the write failed (logged). An Event's
    `count` is the number of windows its fact was seen in, not the number of retries that saw it.
    """

    def __init__(
        self,
        writer: EventSink,
        *,
        clock: clocks.Clock,
        component: str = DEFAULT_COMPONENT,
        host: str = "",
        window: float = DEFAULT_WINDOW_SECONDS,
        max_facts: int = 4096,
        metrics: rollout_metrics.RolloutMetrics | None = None,
    ) -> None:
        self.writer = writer
        self.clock = clock
        self.component = component
        self.host = host
        self.window = window
        self.max_facts = max_facts
        self.metrics = metrics  # None for tests
        self._written: collections.OrderedDict[FactKey, _Written] = collections.OrderedDict()
        self._writing: set[FactKey] = set()
        self._last_nanos = 0

    def __len__(self) -> int:
        """How many facts are remembered (at most `max_facts`)."""
        return len(self._written)

    async def emit(self, involved: Mapping[str, Any], event: events.Event) -> bool:
        """`record` for an event the planner produced."""
        return await self.record(involved, event.type, event.reason, event.message)

    async def record(self, involved: Mapping[str, Any], type_: str, reason: str, message: str) -> bool:
        """Write the fact as an Event on `involved` (a raw object), unless written within the window."""
        ref = _reference(involved)
        if "name" not in ref:
            log.warning("event dropped: the object has no name", reason=reason, kind=ref.get("kind", ""))
            return False
        identity = ref.get("uid") or f"{ref.get('kind', '')}/{ref.get('namespace', '')}/{ref['name']}"
        key: FactKey = (identity, type_, reason, message)
        previous = self._written.get(key)
        now = self.clock.monotonic()
        if key in self._writing or (previous is not None and now - previous.written_at < self.window):
            return False
        self._writing.add(key)
        try:
            written = await self._write(ref, previous, type_, reason, message)
        except Exception as exc:  # an event must never fail the reconcile that records it
            log.warning("event not recorded", object=f"{ref.get('namespace', '')}/{ref['name']}",
                        kind=ref.get("kind", ""), reason=reason, error=str(exc))
            return False
        finally:
            self._writing.discard(key)
        self._remember(key, written)
        if self.metrics is not None and ref.get("kind") == "Rollout":
            self.metrics.count_event(ref.get("namespace", ""), ref["name"], type_, reason)
        return True

    async def _write(
        self, ref: Mapping[str, str], previous: _Written | None, type_: str, reason: str, message: str
    ) -> _Written:
        moment = self.clock.now()
        stamp = _timestamp(moment)
        if previous is not None:
            count = previous.count + 1
            try:
                await self.writer.patch_event(previous.namespace, previous.name,
                                              {"count": count, "lastTimestamp": stamp})
            except writing.NotFound:
                pass  # the Event expired (the server's TTL) or was deleted: start a new one
            else:
                return _Written(previous.namespace, previous.name, count, previous.first_timestamp,
                                self.clock.monotonic())
        namespace = ref.get("namespace") or "default"
        name = f"{ref['name']}.{self._nanos(moment):x}"
        body = self._event(ref, namespace, name, type_, reason, message, stamp)
        await self.writer.create_event(namespace, body)
        return _Written(namespace, name, 1, stamp, self.clock.monotonic())

    def _event(self, ref: Mapping[str, str], namespace: str, name: str, type_: str, reason: str,
               message: str, stamp: str) -> dict[str, Any]:
        """The Event as client-go's recorder makes it (makeEvent + source)."""
        source = {"component": self.component, **({"host": self.host} if self.host else {})}
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": dict(ref),
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": type_,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }

    def _nanos(self, moment: datetime) -> int:
        """Unix nanoseconds of `moment` (the Event name's suffix), strictly increasing per recorder."""
        nanos = (moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1) * 1000
        self._last_nanos = max(nanos, self._last_nanos + 1)
        return self._last_nanos

    def _remember(self, key: FactKey, written: _Written) -> None:
        self._written[key] = written
        self._written.move_to_end(key)
        while len(self._written) > self.max_facts:
            self._written.popitem(last=False)
