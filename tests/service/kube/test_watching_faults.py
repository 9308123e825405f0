"""Reflector under the emulator's fault hooks: dropped watches resume from the last resourceVersion without a
relist and without missing what changed meanwhile; compaction turns the resume into 410, which relists and
replaces the store (objects deleted or changed while disconnected are reported); a repeated 410 backs off;
failing LISTs (500, 429 and 503 with Retry-After) and failing WATCHes (503, or 429/503 with Retry-After)
retry with growing jittered delays, never sooner than the server's Retry-After; slow LIST
and WATCH calls hit their client deadlines and are retried; a watch the server ends at once backs off; an
unreachable server is retried and logged."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
import structlog.testing
from kubernetes_asyncio import client

from sandbox.apiserver.server import ApiServer
from sandbox.apiserver.storage import Storage
from service.kube import caches, resources, watching
from tests.sandbox.polling import until
from tests.service.kube.conftest import Recorder, SleepRecorder

MakeReflector = Callable[..., watching.Reflector]


def service(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"ports": [{"port": 80}]}}


def calls(api_server: ApiServer, verb: str) -> list[dict[str, list[str]]]:
    """The query of each served request of `verb` on services."""
    return [parse_qs(r.query) for r in api_server.faults.request_log
            if r.resource == "services" and r.verb == verb]


async def started(reflector: watching.Reflector, api_server: ApiServer) -> watching.Reflector:
    reflector.start()
    await until(reflector.synced.is_set, what="the first list")
    await until(lambda: api_server.open_watches >= 1, what="the watch to open")
    return reflector


async def test_dropped_watch_resumes_without_relist_or_loss(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    storage.create("services", service("kept"))
    storage.create("services", service("doomed"))
    recorder = Recorder()
    reflector = await started(make_reflector(handlers=[recorder]), api_server)
    last_seen = reflector.resource_version
    # Synchronous: nothing reaches the client between the drop and these writes, so only a resume sees them.
    assert api_server.faults.close_watches() == 1
    storage.create("services", service("new"))
    storage.delete("services", "default", "doomed")
    await until(lambda: reflector.store.keys() == ["default/kept", "default/new"], what="the missed changes")
    assert recorder.seen()[2:] == [("ADDED", "default/new"), ("DELETED", "default/doomed")]
    assert reflector.lists == 1
    assert len(calls(api_server, "list")) == 1
    await until(lambda: len(calls(api_server, "watch")) >= 1, what="the dropped watch in the log")
    assert calls(api_server, "watch")[0]["resourceVersion"] == [last_seen]


async def test_compaction_turns_resume_into_relist(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    for name in ("kept", "changed", "doomed"):
        storage.create("services", service(name))
    recorder = Recorder()
    reflector = await started(make_reflector(handlers=[recorder]), api_server)
    doomed = reflector.store.get("default/doomed")
    changed = reflector.store.get("default/changed")
    kept = reflector.store.get("default/kept")
    api_server.faults.close_watches()
    storage.delete("services", "default", "doomed")
    storage.merge_patch("services", "default", "changed", {"metadata": {"labels": {"v": "2"}}})
    api_server.faults.compact()
    await until(lambda: "default/doomed" not in reflector.store, what="the relist")
    assert reflector.lists == 2
    assert recorder.calls[3:] == [
        ("DELETED", doomed, None),
        ("MODIFIED", changed, reflector.store.get("default/changed")),
    ]
    assert reflector.store.get("default/kept") is kept
    assert reflector.resource_version == storage.resource_version
    await until(lambda: api_server.open_watches == 1, what="watching again")
    storage.create("services", service("after"))
    await until(lambda: "default/after" in reflector.store, what="events after the relist")


async def test_repeated_expiry_backs_off(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage, sleeps: SleepRecorder
) -> None:
    reflector = await started(make_reflector(sleep=sleeps), api_server)
    for round_ in range(2):
        storage.create("configmaps", {"metadata": {"name": f"a{round_}", "namespace": "default"}})
        await until(lambda: reflector.resource_version == storage.resource_version, what="a bookmark")
        api_server.faults.close_watches()
        storage.create("configmaps", {"metadata": {"name": f"b{round_}", "namespace": "default"}})
        api_server.faults.compact()
        want = round_ + 2
        await until(lambda: reflector.lists == want, what="a relist")  # noqa: B023
    assert sleeps.delays == []  # each 410 followed a watch that worked: relisted at once


async def test_expired_straight_after_a_relist_backs_off(
    make_reflector: MakeReflector, api_server: ApiServer, sleeps: SleepRecorder
) -> None:
    api_server.faults.fail_next("watch", "services", count=2, code=410)
    reflector = await started(make_reflector(sleep=sleeps), api_server)
    assert reflector.lists == 3
    assert len(sleeps.delays) == 1  # the second 410 in a row, with no progress between, did not spin


@pytest.mark.parametrize(
    ("code", "retry_after"),
    [
        pytest.param(500, None, id="500"),
        pytest.param(429, 2.0, id="429-retry-after"),
        pytest.param(503, 1.0, id="503-retry-after"),
    ],
)
async def test_failing_list_retries_with_backoff_then_syncs(
    make_reflector: MakeReflector,
    api_server: ApiServer,
    storage: Storage,
    sleeps: SleepRecorder,
    code: int,
    retry_after: float | None,
) -> None:
    storage.create("services", service("a"))
    api_server.faults.fail_next("list", "services", count=3, code=code, retry_after=retry_after)
    reflector = await started(make_reflector(sleep=sleeps), api_server)
    assert reflector.store.keys() == ["default/a"]
    assert len(calls(api_server, "list")) == 4
    assert len(sleeps.delays) == 3
    for failures, delay in enumerate(sleeps.delays):
        base = min(0.2, 0.02 * 2**failures)
        assert base / 2 <= delay <= base or (retry_after is not None and delay == retry_after), sleeps.delays
    if retry_after is not None:
        assert sleeps.delays == [retry_after] * 3


async def test_failing_watch_retries_from_the_last_resource_version(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage, sleeps: SleepRecorder
) -> None:
    api_server.faults.fail_next("watch", "services", count=3, code=503)
    listed = storage.resource_version
    reflector = make_reflector(sleep=sleeps)
    reflector.start()
    await until(lambda: api_server.open_watches == 1, what="the watch after three failures")
    storage.create("services", service("a"))
    await until(lambda: "default/a" in reflector.store, what="events after the failures")
    assert len(sleeps.delays) == 3
    assert sleeps.delays[2] > sleeps.delays[0]
    assert reflector.lists == 1
    assert [q["resourceVersion"] for q in calls(api_server, "watch")[:3]] == [[listed]] * 3


@pytest.mark.parametrize("code", [429, 503])
async def test_failing_watch_waits_the_servers_retry_after(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage, sleeps: SleepRecorder, code: int
) -> None:
    api_server.faults.fail_next("watch", "services", count=2, code=code, retry_after=3)
    reflector = make_reflector(sleep=sleeps)
    reflector.start()
    await until(lambda: api_server.open_watches == 1, what="the watch after two failures")
    assert sleeps.delays == [3.0, 3.0]  # the backoff alone would be 0.02 s, then 0.04 s
    storage.create("services", service("a"))
    await until(lambda: "default/a" in reflector.store, what="events after the failures")
    assert reflector.lists == 1


async def test_slow_list_hits_its_deadline(
    make_reflector: MakeReflector, api_server: ApiServer, sleeps: SleepRecorder
) -> None:
    api_server.faults.set_latency(0.5, "list", "services")
    settings = watching.WatchSettings(list_timeout=0.1, backoff_initial=0.02)
    reflector = make_reflector(settings=settings, sleep=sleeps)
    reflector.start()
    await until(lambda: sleeps.delays, what="the first deadline")
    assert not reflector.synced.is_set()
    api_server.faults.set_latency(0, "list", "services")
    await until(reflector.synced.is_set, what="the list once the server is fast again")


async def test_silent_watch_hits_its_deadline(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage, sleeps: SleepRecorder
) -> None:
    api_server.bookmark_interval = 60  # nothing comes down the stream
    # The client deadline is watch_timeout + watch_slack: 0.3 s here, long before the server's 5 s.
    settings = watching.WatchSettings(watch_timeout=5, watch_slack=-4.7, backoff_initial=0.02)
    reflector = await started(make_reflector(settings=settings, sleep=sleeps), api_server)
    await until(lambda: reflector.watches >= 2, what="the client to give up and reconnect")
    assert sleeps.delays  # a deadline is a failure: backed off
    storage.create("services", service("a"))
    await until(lambda: "default/a" in reflector.store, what="events on the new watch")
    assert reflector.lists == 1


async def test_watch_ended_at_once_backs_off(
    make_reflector: MakeReflector, api_server: ApiServer, sleeps: SleepRecorder
) -> None:
    api_server.bookmark_interval = 60
    api_server.watch_timeout = 0.01  # the server ends every watch at once, without a line
    settings = watching.WatchSettings(watch_timeout=0, backoff_initial=0.02, min_watch_seconds=1.0)
    reflector = make_reflector(settings=settings, sleep=sleeps)
    reflector.start()
    await until(lambda: len(sleeps.delays) >= 3, what="three short watches")
    assert reflector.lists == 1


async def test_unreachable_server_is_retried_and_logged(sleeps: SleepRecorder) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with client.ApiClient(client.Configuration(host=f"http://127.0.0.1:{port}")) as api:
        reflector = watching.Reflector(
            api, resources.SERVICES, caches.Store(), settings=watching.WatchSettings(backoff_initial=0.02),
            rng=random.Random(1), sleep=sleeps,
        )
        with structlog.testing.capture_logs() as logs:
            reflector.start()
            await until(lambda: len(sleeps.delays) >= 3, what="three refused connections")
            await reflector.stop()
    assert not reflector.synced.is_set()
    failures = [e for e in logs if e["event"] == "list/watch failed, retrying"]
    assert failures[0]["error"] == "ClientConnectorError"
    assert [e["failures"] for e in failures[:3]] == [1, 2, 3]
