"""service.kube.recording: Events written through KubeWriter to the API emulator, time from a FakeClock.

Covers, as client-go's recorder and EventCorrelator do them:
- the first occurrence creates a core/v1 Event shaped like client-go's (name, involvedObject, source,
  timestamps, count, type, reason, message, reportingComponent/Instance);
- an unchanged fact repeats as a count bump on the same Event: a merge PATCH of count, lastTimestamp and
  message (exact bytes), on every retry, never silence and never a new Event; consecutive releases' identical
  "Rollout step N/M completed" count 2 on one Event; a different message, type, reason or object is a new
  Event; names stay unique within one instant;
- a PATCH answered 404 (the Event expired) creates the Event again, same name, count carried on;
- a failed write is logged, never raised: a failed create is forgotten (the next occurrence creates anew), a
  failed PATCH keeps the Event and the next one carries the true count;
- concurrent occurrences of one fact bump the count in turn;
- the LRU cache is bounded and forgets the least recently used fact first;
- the spam filter (burst 25 per source+object, one more every 5 minutes) holds occurrences back without a
  call, still counting them; other objects are not affected; a held-back first occurrence is created later
  with its count, without a PATCH;
- aggregation: the 10th distinct message of similar events within 10 minutes goes to one
  "(combined from similar events): ..." Event, which later ones bump; 10 quiet minutes start afresh;
- rollout_events_total counts every occurrence of a Rollout's event; an object without a name is dropped.
"""

from __future__ import annotations

import asyncio
import json
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


def rollout(name: str = "web", uid: str = "uid-web", resource_version: str = "42") -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": NS, "uid": uid, "resourceVersion": resource_version}}


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


def counts(api_server) -> dict[str, int]:
    """message → count of every stored Event."""
    return {e["message"]: e["count"] for e in stored_events(api_server)}


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


async def test_a_repeat_patches_count_and_last_timestamp_on_the_same_event(api_server, wire_tap,
                                                                           tapped_client, clock):
    create_namespace(api_server)
    recorder = recording.EventRecorder(writing.KubeWriter(tapped_client, deadline=5.0), clock=clock)
    fact = (rollout(), "Warning", "WeightVerifyError", "Failed to verify weight: x")
    await recorder.record(*fact)
    clock.advance(5)
    assert await recorder.record(*fact) is True
    (event,) = stored_events(api_server)
    assert (event["metadata"]["name"], event["count"]) == (f"web.{START_NANOS:x}", 2)
    assert event["firstTimestamp"] == "2026-01-01T00:00:00Z"
    assert event["lastTimestamp"] == "2026-01-01T00:00:05Z"
    create, patch = wire_tap.requests
    assert (create.method, create.path) == ("POST", f"/api/v1/namespaces/{NS}/events")
    assert (patch.method, patch.path) == ("PATCH", f"/api/v1/namespaces/{NS}/events/web.{START_NANOS:x}")
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body == (b'{"count":2,"lastTimestamp":"2026-01-01T00:00:05Z",'
                          b'"message":"Failed to verify weight: x"}')
    assert json.loads(create.body)["count"] == 1


async def test_every_retry_is_a_count_bump_never_silence(api_server, recorder, clock):
    fact = (rollout(), "Warning", "TargetGroupUnverified", "Service web (TargetGroup tg) not verified: 0/2")
    for _ in range(6):
        assert await recorder.record(*fact) is True
        clock.advance(5)
    (event,) = stored_events(api_server)
    assert (event["count"], event["lastTimestamp"]) == (6, "2026-01-01T00:00:25Z")
    assert event_calls(api_server) == [("create", 201)] + [("patch", 200)] * 5


async def test_consecutive_releases_count_their_identical_step_events(api_server, recorder, clock):
    step = events.step_completed(0, 3, "setWeight: 20")
    assert await recorder.emit(rollout(resource_version="42"), step) is True  # release 1 (revision 2)
    clock.advance(180)
    assert await recorder.emit(rollout(resource_version="97"), step) is True  # release 2 (revision 3)
    (event,) = stored_events(api_server)
    assert (event["message"], event["count"]) == ("Rollout step 1/3 completed (setWeight: 20)", 2)
    assert event["firstTimestamp"] == "2026-01-01T00:00:00Z"
    assert event["lastTimestamp"] == "2026-01-01T00:03:00Z"
    assert event_calls(api_server) == [("create", 201), ("patch", 200)]


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


async def test_an_expired_event_is_created_again_with_its_count(api_server, recorder, clock):
    fact = (rollout(), "Normal", "TrafficWeightUpdated", "Traffic weight updated from 0 to 10")
    await recorder.record(*fact)
    clock.advance(10)
    await recorder.record(*fact)
    (event,) = stored_events(api_server)
    api_server.storage.delete("events", NS, event["metadata"]["name"])  # the server's event TTL passed
    clock.advance(3600)
    assert await recorder.record(*fact) is True
    (again,) = stored_events(api_server)
    assert again["metadata"]["name"] == f"web.{START_NANOS:x}"  # client-go creates the observed event
    assert (again["count"], again["firstTimestamp"], again["lastTimestamp"]) == (
        3, "2026-01-01T00:00:00Z", "2026-01-01T01:00:10Z")
    assert event_calls(api_server) == [("create", 201), ("patch", 200), ("patch", 404), ("create", 201)]
    clock.advance(1)
    assert await recorder.record(*fact) is True  # and bumps the recreated Event from then on
    assert counts(api_server) == {fact[3]: 4}
    assert event_calls(api_server)[-1] == ("patch", 200)


@pytest.mark.parametrize("code", [pytest.param(500, id="500"), pytest.param(403, id="403"),
                                  pytest.param(422, id="422")])
async def test_a_failed_create_is_logged_not_raised_and_forgotten(api_server, recorder, code):
    api_server.faults.fail_next("create", "events", code=code, message="no events today")
    with structlog.testing.capture_logs() as logs:
        assert await recorder.record(rollout(), "Warning", "RolloutAborted", "Rollout aborted") is False
    (entry,) = [e for e in logs if e["event"] == "event not recorded"]
    assert entry["log_level"] == "warning"
    assert (entry["object"], entry["kind"], entry["reason"]) == (f"{NS}/web", "Rollout", "RolloutAborted")
    assert entry["error"].endswith(": no events today")
    assert stored_events(api_server) == []
    assert len(recorder) == 0
    # Not remembered: the next occurrence creates a new Event at once (no PATCH of an Event that never was).
    assert await recorder.record(rollout(), "Warning", "RolloutAborted", "Rollout aborted") is True
    assert event_calls(api_server) == [("create", code), ("create", 201)]
    assert counts(api_server) == {"Rollout aborted": 1}


async def test_a_failed_patch_keeps_the_event_and_the_next_carries_the_true_count(api_server, recorder,
                                                                                 clock):
    fact = (rollout(), "Warning", "WeightVerifyError", "Failed to verify weight: x")
    await recorder.record(*fact)
    clock.advance(5)
    api_server.faults.fail_next("patch", "events", code=503)
    with structlog.testing.capture_logs() as logs:
        assert await recorder.record(*fact) is False
    assert [e["event"] for e in logs] == ["event not recorded"]
    clock.advance(5)
    assert await recorder.record(*fact) is True
    assert counts(api_server) == {fact[3]: 3}  # three occurrences, one of them not written at the time
    assert event_calls(api_server) == [("create", 201), ("patch", 503), ("patch", 200)]


async def test_an_unreachable_server_is_not_raised(clock):
    class Down:
        async def create_event(self, namespace, body):
            raise writing.Unavailable(0, "ConnectionError", "refused")

        async def patch_event(self, namespace, name, body):
            raise AssertionError("no update without a created event")

    recorder = recording.EventRecorder(Down(), clock=clock)
    assert await recorder.record(rollout(), "Normal", "RolloutCompleted", "done") is False
    assert await recorder.record(rollout(), "Normal", "RolloutCompleted", "done") is False
    assert len(recorder) == 0


async def test_concurrent_occurrences_of_one_fact_bump_the_count_in_turn(api_server, recorder):
    fact = (rollout(), "Normal", "RolloutCompleted", "done")
    results = await asyncio.gather(*(recorder.record(*fact) for _ in range(3)))
    assert results == [True, True, True]
    assert event_calls(api_server) == [("create", 201), ("patch", 200), ("patch", 200)]
    assert counts(api_server) == {"done": 3}
    assert recorder._turns == {}  # no lock outlives its writes


async def test_memory_is_bounded_least_recently_used_first(api_server, api_client, clock):
    create_namespace(api_server)
    writer = writing.KubeWriter(api_client, deadline=5.0)
    recorder = recording.EventRecorder(writer, clock=clock, cache_size=2)
    for message in ("a", "b", "c"):
        await recorder.record(rollout(), "Normal", "RolloutStepCompleted", message)
    assert len(recorder) == 2
    assert await recorder.record(rollout(), "Normal", "RolloutStepCompleted", "c") is True  # still known
    assert event_calls(api_server)[-1] == ("patch", 200)
    assert await recorder.record(rollout(), "Normal", "RolloutStepCompleted", "a") is True  # forgotten
    assert event_calls(api_server)[-1] == ("create", 201)
    assert len(recorder) == 2
    assert sorted((e["message"], e["count"]) for e in stored_events(api_server)) == [
        ("a", 1), ("a", 1), ("b", 1), ("c", 2)]


async def test_the_default_cache_holds_4096_facts(clock):
    class Sink:
        async def create_event(self, namespace, body):
            return dict(body)

        async def patch_event(self, namespace, name, body):
            return {}

    recorder = recording.EventRecorder(Sink(), clock=clock)
    for index in range(4097):  # one object each, so the spam filter never holds one back
        assert await recorder.record(rollout(f"r{index}", f"u{index}"), "Normal", "X", "y") is True
    assert len(recorder) == recording.CACHE_SIZE == 4096


async def test_the_spam_filter_allows_a_burst_of_25_then_one_every_5_minutes(api_server, recorder, clock):
    fact = (rollout(), "Warning", "TargetGroupUnverified", "not verified: 0/2 endpoints registered")
    for _ in range(25):
        assert await recorder.record(*fact) is True
    with structlog.testing.capture_logs() as logs:
        assert await recorder.record(*fact) is False  # held back: no call at all
    assert [e["event"] for e in logs] == ["event held back: too many events about the object"]
    assert logs[0]["count"] == 26
    assert counts(api_server) == {fact[3]: 25}
    assert len(event_calls(api_server)) == 25
    # Another object has its own bucket; another reason on the same object shares this one.
    assert await recorder.record(rollout("api", "uid-api"), *fact[1:]) is True
    assert await recorder.record(rollout(), "Normal", "RolloutCompleted", "done") is False
    clock.advance(299)
    assert await recorder.record(*fact) is False
    assert len(event_calls(api_server)) == 26
    clock.advance(1)  # 300 s after the burst was spent: one token
    assert await recorder.record(*fact) is True
    assert await recorder.record(*fact) is False
    # The held-back occurrences were counted: the PATCH carries the true count (26, 27 held, 28 written).
    assert counts(api_server)[fact[3]] == 28
    clock.advance(300)
    # The held-back first "done" was never created: it is created now with its count, no PATCH first.
    assert await recorder.record(rollout(), "Normal", "RolloutCompleted", "done") is True
    assert event_calls(api_server)[-1] == ("create", 201)
    assert counts(api_server)["done"] == 2


async def test_the_10th_similar_message_is_combined_into_one_event(api_server, recorder, clock):
    def weight(w: int) -> tuple[Any, ...]:
        return (rollout(), "Normal", "PatchingALBIngress", f"Updating Ingress `app` to desiredWeight '{w}'")

    for w in range(1, 10):
        assert await recorder.record(*weight(w)) is True
        clock.advance(30)
    assert len(stored_events(api_server)) == 9
    assert await recorder.record(*weight(10)) is True
    combined = "(combined from similar events): Updating Ingress `app` to desiredWeight '10'"
    assert counts(api_server)[combined] == 1
    clock.advance(30)
    assert await recorder.record(*weight(11)) is True  # the combined Event again, with the newest message
    latest = "(combined from similar events): Updating Ingress `app` to desiredWeight '11'"
    assert len(stored_events(api_server)) == 10
    assert counts(api_server)[latest] == 2
    assert event_calls(api_server)[-1] == ("patch", 200)
    # A different reason on the same object is not similar: its own Event.
    assert await recorder.record(rollout(), "Normal", "TrafficWeightUpdated", "from 10 to 11") is True
    assert counts(api_server)["from 10 to 11"] == 1
    clock.advance(601)  # ten quiet minutes: similar events start afresh
    assert await recorder.record(*weight(12)) is True
    assert counts(api_server)["Updating Ingress `app` to desiredWeight '12'"] == 1


async def test_rollout_events_are_counted_on_every_occurrence(api_server, recorder, registry, clock):
    await recorder.emit(rollout(), events.rollout_aborted(3))
    await recorder.emit(rollout(), events.rollout_aborted(3))  # a count bump, counted as the reference does
    api_server.faults.fail_next("patch", "events", code=503)
    await recorder.emit(rollout(), events.rollout_aborted(3))  # not written, still an occurrence
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "web", "namespace": NS, "uid": "uid-ing"}}
    await recorder.record(ingress, "Normal", "PatchingALBIngress", "x")
    labels = {"namespace": NS, "name": "web", "type": "Warning", "reason": "RolloutAborted"}
    assert registry.get_sample_value("rollout_events_total", labels) == 3.0
    assert registry.get_sample_value("rollout_events_total", {**labels, "type": "Normal",
                                                              "reason": "PatchingALBIngress"}) is None
    assert counts(api_server) == {"Rollout aborted update to revision 3": 2, "x": 1}


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
