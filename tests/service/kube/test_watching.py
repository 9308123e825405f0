"""Reflector against the API emulator: the first LIST fills the store and sets `synced`; add/modify/delete
flow into the store and the handlers (with old and new); bookmarks advance the resourceVersion without events;
namespace scoping; the controller-instance-id label selector (leaving it reads as a delete); indexes stay
right across updates; the backoff schedule; a failing handler neither stops the cache nor the other
handlers; `wait_synced`; the consistency wait for our own writes (`has_seen`, `wait_seen`); stopping
leaves no task and no open watch, and a reflector can be started again."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.apiserver.server import ApiServer
from sandbox.apiserver.storage import Storage
from service.kube import caches, indexes, resources, watching
from statemachine import models
from tests.sandbox.polling import until
from tests.service.kube.conftest import Recorder

MakeReflector = Callable[..., watching.Reflector]


def service(name: str, ns: str = "default", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": {"ports": [{"port": 80}]}}


def rollout(name: str, ingress: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    canary = {"canaryService": "canary", "stableService": "stable",
              "trafficRouting": {"alb": {"ingress": ingress, "servicePort": 80}}}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
            "spec": {"strategy": {"canary": canary}}}


async def started(reflector: watching.Reflector, api_server: ApiServer) -> watching.Reflector:
    reflector.start()
    await until(reflector.synced.is_set, what="the first list")
    await until(lambda: api_server.open_watches >= 1, what="the watch to open")
    return reflector


async def test_first_list_fills_the_store_and_sets_synced(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    storage.create("services", service("a"))
    storage.create("services", service("b"))
    recorder = Recorder()
    reflector = make_reflector(handlers=[recorder])
    assert not reflector.synced.is_set()
    await started(reflector, api_server)
    assert reflector.store.keys() == ["default/a", "default/b"]
    assert recorder.seen() == [("ADDED", "default/a"), ("ADDED", "default/b")]
    assert reflector.resource_version == storage.resource_version
    assert reflector.lists == 1
    assert await watching.wait_synced([reflector], within=1)


async def test_changes_flow_into_store_and_handlers(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    recorder = Recorder()
    reflector = await started(make_reflector(handlers=[recorder]), api_server)
    storage.create("services", service("a"))
    await until(lambda: "default/a" in reflector.store, what="ADDED")
    first = reflector.store.get("default/a")
    storage.merge_patch("services", "default", "a", {"metadata": {"labels": {"v": "2"}}})
    await until(lambda: (reflector.store.get("default/a") or {})["metadata"]["labels"] == {"v": "2"},
                what="MODIFIED")
    second = reflector.store.get("default/a")
    storage.delete("services", "default", "a")
    await until(lambda: "default/a" not in reflector.store, what="DELETED")
    assert [(t, old, new) for t, old, new in recorder.calls] == [
        ("ADDED", None, first),
        ("MODIFIED", first, second),
        ("DELETED", recorder.calls[2][1], None),
    ]
    gone = recorder.calls[2][1]
    assert gone is not None
    assert (gone["metadata"]["name"], gone["metadata"]["uid"]) == ("a", (second or {})["metadata"]["uid"])
    assert reflector.resource_version == storage.resource_version
    assert reflector.lists == 1


async def test_bookmarks_advance_the_resource_version_without_events(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    recorder = Recorder()
    reflector = await started(make_reflector(handlers=[recorder]), api_server)
    before = reflector.resource_version
    storage.create("configmaps", {"metadata": {"name": "other", "namespace": "default"}})
    assert storage.resource_version != before
    await until(lambda: reflector.resource_version == storage.resource_version, what="a bookmark")
    assert recorder.calls == []
    assert len(reflector.store) == 0


async def test_namespace_scoping(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    for ns in ("team-a", "team-b"):
        storage.create("namespaces", {"metadata": {"name": ns}})
        storage.create("services", service("before", ns))
    reflector = await started(make_reflector(namespace="team-a"), api_server)
    for ns in ("team-b", "team-a"):
        storage.create("services", service("after", ns))
    await until(lambda: "team-a/after" in reflector.store, what="the team-a service")
    assert reflector.store.keys() == ["team-a/after", "team-a/before"]
    paths = {r.path for r in api_server.faults.request_log if r.resource == "services"}
    assert paths <= {"/api/v1/namespaces/team-a/services"}


async def test_instance_id_selector(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    label = {models.INSTANCE_ID_LABEL: "blue"}
    storage.create("rollouts.argoproj.io", rollout("mine", "ing"))
    storage.create("rollouts.argoproj.io", rollout("theirs", "ing", label))
    recorder = Recorder()
    selector = resources.instance_selector(None)
    reflector = await started(
        make_reflector(resources.ROLLOUTS, label_selector=selector, handlers=[recorder]), api_server
    )
    assert reflector.store.keys() == ["default/mine"]
    storage.merge_patch("rollouts.argoproj.io", "default", "mine", {"metadata": {"labels": label}})
    await until(lambda: len(reflector.store) == 0, what="the relabelled rollout to leave")
    assert recorder.seen() == [("ADDED", "default/mine"), ("DELETED", "default/mine")]


async def test_indexes_follow_the_watch(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    store = caches.Store(indexes.ROLLOUT_INDEXERS)
    storage.create("rollouts.argoproj.io", rollout("ro", "first"))
    reflector = await started(make_reflector(resources.ROLLOUTS, store=store), api_server)
    assert store.index_keys(indexes.BY_INGRESS, "default/first") == {"default/ro"}
    assert store.index_keys(indexes.BY_SERVICE, "default/stable") == {"default/ro"}
    patch = {"spec": {"strategy": {"canary": {"trafficRouting": {"alb": {"ingress": "second"}}}}}}
    storage.merge_patch("rollouts.argoproj.io", "default", "ro", patch)
    await until(lambda: store.index_keys(indexes.BY_INGRESS, "default/second"), what="the re-indexed rollout")
    assert store.index_values(indexes.BY_INGRESS) == ["default/second"]
    storage.delete("rollouts.argoproj.io", "default", "ro")
    await until(lambda: not store.index_values(indexes.BY_INGRESS), what="the index to empty")
    assert store.index_values(indexes.BY_SERVICE) == []
    assert reflector.lists == 1


async def test_failing_handler_stops_nothing(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    def broken(event_type: str, old: object, new: object) -> None:
        raise RuntimeError("handler bug")

    recorder = Recorder()
    reflector = await started(make_reflector(handlers=[broken, recorder]), api_server)
    storage.create("services", service("a"))
    storage.create("services", service("b"))
    await until(lambda: len(recorder.calls) == 2, what="both events past the broken handler")
    assert reflector.store.keys() == ["default/a", "default/b"]
    assert reflector.running


async def test_wait_synced_times_out(make_reflector: MakeReflector, api_server: ApiServer) -> None:
    api_server.faults.fail_next("list", "services", count=1000)
    reflector = make_reflector()
    reflector.start()
    assert not await watching.wait_synced([reflector], within=0.1)


async def test_stop_leaves_no_task_and_no_watch(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    reflector = await started(make_reflector(), api_server)
    await reflector.stop()
    assert not reflector.running
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("reflector:")] == []
    await until(lambda: api_server.open_watches == 0, what="the server to see the watch go")
    await reflector.stop()  # stopping twice is harmless
    storage.create("services", service("later"))
    reflector.start()
    await until(lambda: "default/later" in reflector.store, what="the restarted reflector to relist")
    assert reflector.lists == 2


def test_backoff_grows_caps_honours_a_floor_and_resets() -> None:
    settings = watching.WatchSettings(backoff_initial=1.0, backoff_max=4.0, backoff_factor=2.0)
    backoff = watching.Backoff(settings, random.Random(3))
    delays = [backoff.next_delay() for _ in range(5)]
    for delay, base in zip(delays, [1.0, 2.0, 4.0, 4.0, 4.0], strict=True):
        assert base / 2 <= delay <= base
    assert backoff.failures == 5
    assert backoff.next_delay(at_least=10.0) == 10.0
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.next_delay() <= 1.0


async def test_wait_seen_our_own_write(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    storage.create("services", service("a"))
    reflector = await started(make_reflector(), api_server)
    written = storage.merge_patch("services", "default", "a", {"metadata": {"labels": {"v": "2"}}})
    rv = written["metadata"]["resourceVersion"]
    assert await reflector.wait_seen(rv, within=5)
    assert (reflector.store.get("default/a") or {})["metadata"]["resourceVersion"] == rv
    assert reflector.has_seen(str(int(rv) - 1))


@pytest.mark.parametrize(
    ("current", "asked", "seen"),
    [
        pytest.param("10", "9", True, id="older"),
        pytest.param("10", "10", True, id="same"),
        pytest.param("10", "11", False, id="newer"),
        pytest.param("abc", "abc", True, id="opaque-equal"),
        pytest.param("abc", "abd", False, id="opaque-different"),
        pytest.param("", "1", False, id="nothing-seen"),
    ],
)
def test_has_seen(make_reflector: MakeReflector, current: str, asked: str, seen: bool) -> None:
    reflector = make_reflector()
    reflector.resource_version = current
    assert reflector.has_seen(asked) is seen


async def test_wait_seen_gives_up(
    make_reflector: MakeReflector, api_server: ApiServer, storage: Storage
) -> None:
    reflector = await started(make_reflector(), api_server)
    future = str(int(storage.resource_version) + 100)
    assert not await reflector.wait_seen(future, within=0.3)  # bookmarks move it, but never that far
    assert not await reflector.wait_seen(future, within=0)
