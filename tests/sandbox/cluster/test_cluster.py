"""Cluster behaviour through kubernetes-asyncio: ReplicaSets get pods, pods get IPs and turn Ready after the
configured delay, Services get Endpoints and EndpointSlices.

Covers: pod names/labels/ownerReferences/spec/unique IPs, Ready after pod_ready_seconds, RS status counts and
observedGeneration, scale up and down, Endpoints ready and not-ready addresses, named targetPort resolution
(and ports a pod lacks), EndpointSlice labels/conditions/owner, readiness flipped by hand, Service deletion,
Services without a selector, GC on RS delete, GC of dependents of a missing owner, resync at start.
"""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client, watch

from sandbox.cluster import Cluster
from tests.sandbox.cluster.conftest import POD_READY_SECONDS
from tests.sandbox.polling import DEADLINE, until

LABELS = {"app": "web", "pod-template-hash": "abc"}


def replica_set(name: str = "web-abc", replicas: int = 3) -> dict:
    container = {"name": "app", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}
    return {
        "metadata": {"name": name, "labels": LABELS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": LABELS},
            "template": {"metadata": {"labels": LABELS}, "spec": {"containers": [container]}},
        },
    }


def service(name: str = "web", target_port: object = "http", selector: dict | None = None) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": "web"} if selector is None else selector,
            "ports": [{"name": "web", "port": 80, "targetPort": target_port, "protocol": "TCP"}],
        },
    }


async def rs_status(env, name: str = "web-abc") -> dict:
    rs = await client.AppsV1Api(env.api).read_namespaced_replica_set(name, "default")
    return env.api.sanitize_for_serialization(rs.status)


def ready_pods(env) -> list[dict]:
    def ready(pod: dict) -> bool:
        conditions = pod["status"].get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    return [p for p in env.server.storage.list("pods") if ready(p)]


async def test_replica_set_creates_ready_pods_and_status(env):
    apps, core = client.AppsV1Api(env.api), client.CoreV1Api(env.api)
    rs = await apps.create_namespaced_replica_set("default", replica_set())
    await until(lambda: len(env.server.storage.list("pods")) == 3, what="3 pods")
    pods = (await core.list_namespaced_pod("default", label_selector="app=web")).items
    assert len(pods) == 3
    for pod in pods:
        assert pod.metadata.name.startswith("web-abc-") and len(pod.metadata.name) == len("web-abc-") + 5
        assert pod.metadata.labels == LABELS
        ref = pod.metadata.owner_references[0]
        assert (ref.kind, ref.name, ref.controller) == ("ReplicaSet", "web-abc", True)
        assert ref.uid == rs.metadata.uid
        assert pod.spec.containers[0].image == "nginx"
        assert pod.status.phase == "Running" and pod.status.pod_ip.startswith("10.0.")
    assert len({p.status.pod_ip for p in pods}) == 3
    expected = {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
                "observedGeneration": 1}
    await until(lambda: _eq(env, expected), what="3 ready replicas")
    pods = (await core.list_namespaced_pod("default")).items
    assert all({c.type: c.status for c in p.status.conditions}["Ready"] == "True" for p in pods)


async def _eq(env, expected: dict) -> bool:
    return await rs_status(env) == expected


async def test_pods_start_unready_then_become_ready(env):
    # Read the pod's history through a watch from before the ReplicaSet exists: polling could miss the
    # short unready phase on a loaded machine.
    core, apps = client.CoreV1Api(env.api), client.AppsV1Api(env.api)
    rv = (await core.list_namespaced_pod("default")).metadata.resource_version
    loop = asyncio.get_running_loop()
    started = loop.time()
    await apps.create_namespaced_replica_set("default", replica_set(replicas=1))
    seen: list[dict[str, str]] = []
    async with watch.Watch() as w:
        async for ev in w.stream(core.list_namespaced_pod, "default", resource_version=rv,
                                 timeout_seconds=int(DEADLINE)):
            conditions = (ev["raw_object"].get("status") or {}).get("conditions") or []
            if conditions:
                seen.append({c["type"]: c["status"] for c in conditions})
            if seen and seen[-1]["Ready"] == "True":
                w.stop()
    ready_after = loop.time() - started
    assert seen[0] == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "False",
                       "Ready": "False"}
    assert seen[-1] == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True",
                        "Ready": "True"}
    assert ready_after >= POD_READY_SECONDS


async def test_scale_up_and_down(env):
    apps = client.AppsV1Api(env.api)
    await apps.create_namespaced_replica_set("default", replica_set(replicas=1))
    await until(lambda: _eq(env, {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1,
                                  "availableReplicas": 1, "observedGeneration": 1}))
    await apps.patch_namespaced_replica_set("web-abc", "default", {"spec": {"replicas": 4}})
    await until(lambda: _eq(env, {"replicas": 4, "fullyLabeledReplicas": 4, "readyReplicas": 4,
                                  "availableReplicas": 4, "observedGeneration": 2}), what="4 ready")
    await apps.patch_namespaced_replica_set("web-abc", "default", {"spec": {"replicas": 2}})
    await until(lambda: _eq(env, {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2,
                                  "availableReplicas": 2, "observedGeneration": 3}), what="2 replicas")
    assert len(env.server.storage.list("pods")) == 2


async def test_endpoints_ready_and_not_ready_with_named_port(env):
    core, apps = client.CoreV1Api(env.api), client.AppsV1Api(env.api)
    rv = (await core.list_namespaced_endpoints("default")).metadata.resource_version
    await core.create_namespaced_service("default", service())
    await apps.create_namespaced_replica_set("default", replica_set(replicas=2))

    def split(endpoints: dict | None) -> tuple[int, int] | None:
        if not endpoints or not endpoints.get("subsets"):
            return None
        subset = endpoints["subsets"][0]
        return len(subset.get("addresses", [])), len(subset.get("notReadyAddresses", []))

    # The Endpoints' history through a watch: polling could miss the short not-ready phase under load.
    splits: list[tuple[int, int] | None] = []
    async with watch.Watch() as w:
        async for ev in w.stream(core.list_namespaced_endpoints, "default", resource_version=rv,
                                 timeout_seconds=int(DEADLINE)):
            splits.append(split(ev["raw_object"]))
            if splits[-1] == (2, 0):
                w.stop()
    published = [s for s in splits if s is not None]
    assert (0, 2) in published and published[-1] == (2, 0), published  # not ready first, then ready
    ep = await core.read_namespaced_endpoints("web", "default")
    subset = ep.subsets[0]
    assert [(p.name, p.port, p.protocol) for p in subset.ports] == [("web", 8080, "TCP")]
    pod_ips = sorted(p["status"]["podIP"] for p in env.server.storage.list("pods"))
    assert [a.ip for a in subset.addresses] == pod_ips
    assert {a.target_ref.kind for a in subset.addresses} == {"Pod"}

    slices = await client.DiscoveryV1Api(env.api).list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=web"
    )
    assert len(slices.items) == 1
    es = slices.items[0]
    assert es.address_type == "IPv4" and es.metadata.owner_references[0].kind == "Service"
    assert [(p.name, p.port) for p in es.ports] == [("web", 8080)]
    assert sorted(e.addresses[0] for e in es.endpoints) == pod_ips
    assert all(e.conditions.ready for e in es.endpoints)

    name = env.server.storage.list("pods")[0]["metadata"]["name"]
    assert env.cluster.set_pod_ready("default", name, False)
    await until(lambda: split(env.server.storage.get("endpoints", "default", "web")) == (1, 1),
                what="one address to turn not-ready")
    assert not env.cluster.set_pod_ready("default", "missing", True)


@pytest.mark.parametrize(("target", "port"), [
    pytest.param(9090, 9090, id="numeric-target-port"),
    pytest.param(None, 80, id="target-port-defaults-to-port"),
])
async def test_numeric_target_ports(env, target, port):
    svc = service(target_port=target)
    if target is None:
        del svc["spec"]["ports"][0]["targetPort"]
    env.server.storage.create("services", svc)
    env.server.storage.create("replicasets.apps", replica_set(replicas=1))
    storage = env.server.storage
    ep = await until(lambda: (e := storage.get("endpoints", "default", "web")) and e["subsets"] and e)
    assert ep["subsets"][0]["ports"] == [{"name": "web", "port": port, "protocol": "TCP"}]


async def test_named_port_missing_from_pod_publishes_nothing(env):
    env.server.storage.create("services", service(target_port="grpc"))
    env.server.storage.create("replicasets.apps", replica_set(replicas=1))
    await until(lambda: ready_pods(env), what="a ready pod")
    ep = await until(lambda: env.server.storage.get("endpoints", "default", "web"))
    assert ep["subsets"] == []


async def test_service_without_selector_is_left_alone(env):
    env.server.storage.create("services", service(selector={}))
    env.server.storage.create("replicasets.apps", replica_set(replicas=1))
    await until(lambda: ready_pods(env), what="a ready pod")
    assert env.server.storage.get("endpoints", "default", "web") is None


async def test_deleting_service_removes_endpoints_and_slices(env):
    core = client.CoreV1Api(env.api)
    await core.create_namespaced_service("default", service())
    await until(lambda: env.server.storage.get("endpoints", "default", "web"))
    await core.delete_namespaced_service("web", "default")
    await until(lambda: env.server.storage.get("endpoints", "default", "web") is None)
    assert env.server.storage.list("endpointslices.discovery.k8s.io") == []


async def test_deleting_replica_set_collects_pods_and_empties_endpoints(env):
    apps = client.AppsV1Api(env.api)
    env.server.storage.create("services", service())
    await apps.create_namespaced_replica_set("default", replica_set(replicas=2))
    await until(lambda: len(ready_pods(env)) == 2, what="2 ready pods")
    await apps.delete_namespaced_replica_set("web-abc", "default")
    await until(lambda: env.server.storage.list("pods") == [], what="pods collected")
    await until(lambda: env.server.storage.get("endpoints", "default", "web")["subsets"] == [])


async def test_dependent_of_missing_owner_is_collected(env):
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "gone", "uid": "0000", "controller": True}
    env.server.storage.create("configmaps", {"metadata": {"name": "orphan", "ownerReferences": [ref]}})
    foreign = {"apiVersion": "x.io/v1", "kind": "Thing", "name": "t", "uid": "1"}
    env.server.storage.create("configmaps", {"metadata": {"name": "kept", "ownerReferences": [foreign]}})
    await until(lambda: env.server.storage.get("configmaps", "default", "orphan") is None, what="GC")
    assert env.server.storage.get("configmaps", "default", "kept") is not None


async def test_cluster_started_later_resyncs(env):
    await env.cluster.stop()
    env.server.storage.create("replicasets.apps", replica_set(replicas=2))
    env.server.storage.create("services", service())
    late = Cluster(env.server.storage, pod_ready_seconds=0)
    await late.start()
    try:
        assert len(env.server.storage.list("pods")) == 2
        ep = env.server.storage.get("endpoints", "default", "web")
        assert ep is not None and len(ep["subsets"][0]["addresses"]) == 2
    finally:
        await late.stop()


async def test_relabelled_pod_leaves_and_joins_endpoints(env):
    storage = env.server.storage
    storage.create("services", service())
    storage.create("replicasets.apps", replica_set(replicas=1))
    await until(lambda: ready_pods(env), what="a ready pod")
    name = storage.list("pods")[0]["metadata"]["name"]

    def addresses() -> int:
        ep = storage.get("endpoints", "default", "web")
        return sum(len(s.get("addresses", [])) for s in (ep or {}).get("subsets", []))

    await until(lambda: addresses() == 1, what="the pod in endpoints")
    storage.merge_patch("pods", "default", name, {"metadata": {"labels": {"app": "other"}}})
    await until(lambda: addresses() == 0, what="the relabelled pod to leave")
    storage.merge_patch("pods", "default", name, {"metadata": {"labels": {"app": "web"}}})
    await until(lambda: addresses() == 1, what="the pod to rejoin")
