"""service.kube.recording: Events written through KubeWriter to the API emulator, time from a FakeClock.

Covers: the first record creates a core/v1 Event shaped like client-go's (name, involvedObject, source,
timestamps, count, type, reason, message); the same fact within the window makes no API call; after the
window the same Event's count and lastTimestamp are updated; a different message, type, reason or object
creates a new Event; an Event that expired is created again; a failed write is logged, never raised, and
retried on the next record; concurrent records of one fact write once; names stay unique within one
instant; memory is bounded (LRU); rollout_events_total counts written Rollout events only; an object
without a name is dropped.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry

from service import rollout_metrics
from service.clock import FakeClock
from service.kube import recording, writing
from statemachine import events

NS = "shop"
START = datetime(2026, 1, 1, tzinfo=UTC)
START_NANOS = 1767225600 * 10**9


def rollout(name: str = "web", uid: str = "uid-web") -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": NS, "uid": uid, "resourceVersion": "42"}}


def create_namespace(api_server) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    api_server.storage.create("namespaces", namespace)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=START)


@pytest.fixture
def metrics(registry: CollectorRegistry) -> rollout_metrics.RolloutMetrics:
    return rollout_metrics.RolloutMetrics(registry)


@pytest.fixture
def recorder(api_server, api_client, clock, metrics) -> recording.EventRecorder:
    create_namespace(api_server)
    writer = writing.KubeWriter(api_client, deadline=5.0)
    return recording.EventRecorder(writer, clock=clock, metrics=metrics)


def stored_events(api_server) -> Any:
    return api_server.storage.list("events", NS)


def event_calls(api_server) -> list[tuple[str, int]]:
    return [(r.verb, r.status) for r in api_server.faults.request_log if r.resource == "events"]


async def test_first_record_creates_an_event_like_client_go(api_server, recorder):
    assert await recorder.record(rollout(), "Normal", "RolloutCompleted", "Rollout completed update") is True
    (event,) = stored_events(api_server)
    event.pop("apiVersion"), event.pop("kind")
    meta = event.pop("metadata")
    assert (meta["name"], meta["namespace"]) == (f"web.{START_NANOS:x}", NS)
    assert event == {
        "involvedObject": {"kind": "Rollout", "namespace": NS, "name": "web", "uid": "uid-web",
                           "apiVersion": "argoproj.io/v1alpha1", "resourceVersion": "42"},
        "reason": "RolloutCompleted",
        "message": "Rollout completed update",
        "source": {"component": "rollouts-controller"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
        "count": 1,
        "type": "Normal",
        "reportingComponent": "rollouts-controller",
        "reportingInstance": "",
    }
    assert event_calls(api_server) == [("create", 201)]


async def test_repeat_within_the_window_makes_no_call(api_server, recorder, clock):
    await recorder.record(rollout(), "Warning", "WeightVerifyError", "Failed to verify weight: x")
    clock.advance(599)
    again = await recorder.record(rollout(), "Warning", "WeightVerifyError", "Failed to verify weight: x")
    assert again is False
    assert event_calls(api_server) == [("create", 201)]
    assert [e["count"] for e in stored_events(api_server)] == [1]


async def test_repeat_after_the_window_updates_count_and_last_timestamp(api_server, recorder, clock):
    fact = (rollout(), "Warning", "WeightVerifyError", "Failed to verify weight: x")
    await recorder.record(*fact)
    clock.advance(600)
    assert await recorder.record(*fact) is True
    clock.advance(30)
    assert await recorder.record(*fact) is False  # a new window started at the update
    clock.advance(600)
    assert await recorder.record(*fact) is True
    (event,) = stored_events(api_server)
    assert (event["metadata"]["name"], event["count"]) == (f"web.{START_NANOS:x}", 3)
    assert event["firstTimestamp"] == "2026-01-01T00:00:00Z"
    assert event["lastTimestamp"] == "2026-01-01T00:20:30Z"
    assert event_calls(api_server) == [("create", 201), ("patch", 200), ("patch", 200)]
    patches = [r for r in api_server.faults.request_log if r.verb == "patch"]
    assert {r.content_type for r in patches} == {"application/merge-patch+json"}


@pytest.mark.parametrize(("other", "kind"), [
    pytest.param((rollout(), "Normal", "RolloutStepCompleted", "Rollout step 2/3 completed (pause: 10s)"),
                 "message", id="message"),
    pytest.param((rollout(), "Warning", "RolloutStepCompleted", "Rollout step 1/3 completed (pause: 10s)"),
                 "type", id="type"),
    pytest.param((rollout(), "Normal", "SkipSteps", "Rollout step 1/3 completed (pause: 10s)"),
                 "reason", id="reason"),
    pytest.param((rollout("api", "uid-api"), "Normal", "RolloutStepCompleted",
                  "Rollout step 1/3 completed (pause: 10s)"), "object", id="object"),
    pytest.param((rollout("web", "uid-recreated"), "Normal", "RolloutStepCompleted",
                  "Rollout step 1/3 completed (pause: 10s)"), "uid", id="recreated-object"),
])
async def test_a_different_fact_creates_a_new_event(api_server, recorder, other, kind):
    step = "Rollout step 1/3 completed (pause: 10s)"
    await recorder.record(rollout(), "Normal", "RolloutStepCompleted", step)
    assert await recorder.record(*other) is True, kind
    assert event_calls(api_server) == [("create", 201), ("create", 201)]
    names = sorted(e["metadata"]["name"] for e in stored_events(api_server))
    assert len(set(names)) == 2  # same instant, still two names


async def test_same_instant_names_are_unique_and_increasing(api_server, recorder):
    for step in range(3):
        await recorder.record(rollout(), "Normal", "RolloutStepCompleted", f"step {step}")
    names = [e["metadata"]["name"] for e in stored_events(api_server)]
    assert sorted(names) == [f"web.{START_NANOS + i:x}" for i in range(3)]


async def test_an_expired_event_is_created_again(api_server, recorder, clock):
    fact = (rollout(), "Normal", "TrafficWeightUpdated", "Traffic weight updated from 0 to 10")
    await recorder.record(*fact)
    (event,) = stored_events(api_server)
    api_server.storage.delete("events", NS, event["metadata"]["name"])  # the server's event TTL passed
    clock.advance(601)
    assert await recorder.record(*fact) is True
    (again,) = stored_events(api_server)
    assert (again["count"], again["firstTimestamp"]) == (1, "2026-01-01T00:10:01Z")
    assert again["metadata"]["name"] == f"web.{START_NANOS + 601 * 10**9:x}"
    assert event_calls(api_server) == [("create", 201), ("patch", 404), ("create", 201)]


@pytest.mark.parametrize("code", [pytest.param(500, id="500"), pytest.param(403, id="403"),
                                  pytest.param(422, id="422")])
async def test_a_failed_write_is_logged_not_raised_and_retried_next_time(api_server, recorder, code):
    api_server.faults.fail_next("create", "events", code=code, message="no events today")
    with structlog.testing.capture_logs() as logs:
        assert await recorder.record(rollout(), "Warning", "RolloutAborted", "Rollout aborted") is False
    (entry,) = [e for e in logs if e["event"] == "event not recorded"]
    assert entry["log_level"] == "warning"
    assert (entry["object"], entry["kind"], entry["reason"]) == (f"{NS}/web", "Rollout", "RolloutAborted")
    assert entry["error"].endswith(": no events today")
    assert stored_events(api_server) == []
    # Not remembered: the next record of the same fact writes at once.
    assert await recorder.record(rollout(), "Warning", "RolloutAborted", "Rollout aborted") is True
    assert event_calls(api_server) == [("create", code), ("create", 201)]


async def test_a_failed_update_keeps_the_event_and_retries(api_server, recorder, clock):
    fact = (rollout(), "Warning", "WeightVerifyError", "Failed to verify weight: x")
    await recorder.record(*fact)
    clock.advance(600)
    api_server.faults.fail_next("patch", "events", code=503)
    assert await recorder.record(*fact) is False
    assert await recorder.record(*fact) is True
    assert [e["count"] for e in stored_events(api_server)] == [2]
    assert event_calls(api_server) == [("create", 201), ("patch", 503), ("patch", 200)]


async def test_an_unreachable_server_is_not_raised(clock):
    class Down:
        async def create_event(self, namespace, body):
            raise writing.Unavailable(0, "ConnectionError", "refused")

        async def patch_event(self, namespace, name, body):
            raise AssertionError("no update without a created event")

    recorder = recording.EventRecorder(Down(), clock=clock)
    assert await recorder.record(rollout(), "Normal", "RolloutCompleted", "done") is False
    assert len(recorder) == 0


async def test_concurrent_records_of_one_fact_write_once(api_server, recorder):
    fact = (rollout(), "Normal", "RolloutCompleted", "done")
    results = await asyncio.gather(*(recorder.record(*fact) for _ in range(3)))
    assert sorted(results) == [False, False, True]
    assert event_calls(api_server) == [("create", 201)]


async def test_memory_is_bounded_least_recently_used_first(api_server, api_client, clock):
    create_namespace(api_server)
    recorder = recording.EventRecorder(writing.KubeWriter(api_client, deadline=5.0), clock=clock, max_facts=2)
    for message in ("a", "b", "c"):
        await recorder.record(rollout(), "Normal", "RolloutStepCompleted", message)
    assert len(recorder) == 2
    assert await recorder.record(rollout(), "Normal", "RolloutStepCompleted", "c") is False  # still known
    assert await recorder.record(rollout(), "Normal", "RolloutStepCompleted", "a") is True  # forgotten
    assert len(stored_events(api_server)) == 4


async def test_rollout_events_are_counted_when_written(api_server, recorder, registry, clock):
    await recorder.emit(rollout(), events.rollout_aborted(3))
    await recorder.emit(rollout(), events.rollout_aborted(3))  # within the window: not written, not counted
    clock.advance(600)
    await recorder.emit(rollout(), events.rollout_aborted(3))
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "web", "namespace": NS, "uid": "uid-ing"}}
    await recorder.record(ingress, "Normal", "PatchingALBIngress", "x")
    labels = {"namespace": NS, "name": "web", "type": "Warning", "reason": "RolloutAborted"}
    assert registry.get_sample_value("rollout_events_total", labels) == 2.0
    assert registry.get_sample_value("rollout_events_total", {**labels, "type": "Normal",
                                                              "reason": "PatchingALBIngress"}) is None
    assert [e["message"] for e in stored_events(api_server)] == ["Rollout aborted update to revision 3", "x"]


async def test_an_object_without_a_name_is_dropped(api_server, recorder):
    with structlog.testing.capture_logs() as logs:
        assert await recorder.record({"kind": "Rollout", "metadata": {}}, "Normal", "X", "y") is False
    assert [e["event"] for e in logs] == ["event dropped: the object has no name"]
    assert event_calls(api_server) == []


async def test_component_and_host_are_the_source(api_server, api_client, clock):
    create_namespace(api_server)
    writer = writing.KubeWriter(api_client, deadline=5.0)
    recorder = recording.EventRecorder(writer, clock=clock, component="alb-rollouts", host="pod-1")
    await recorder.record(rollout(), "Normal", "RolloutCompleted", "done")
    (event,) = stored_events(api_server)
    assert event["source"] == {"component": "alb-rollouts", "host": "pod-1"}
    assert (event["reportingComponent"], event["reportingInstance"]) == ("alb-rollouts", "pod-1")
