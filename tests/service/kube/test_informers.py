"""The informer group against the API emulator: every cache syncs (and `synced()` says so); each kind of
change enqueues the right Rollout keys; the instance-id and ReplicaSet label selectors apply; the
TargetGroupBinding informer is absent unless asked for, and follows the version asked for; stop ends
every task."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from sandbox.apiserver.server import ApiServer
from sandbox.apiserver.storage import Storage
from service.kube import informers, watching
from statemachine import models
from tests.sandbox.polling import until


def rollout(name: str, **labels: str) -> dict[str, Any]:
    canary = {"stableService": "stable", "canaryService": "canary",
              "trafficRouting": {"alb": {"ingress": "ing", "servicePort": 80}}}
    return {"metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"strategy": {"canary": canary}}}


def named(name: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", **extra}}


async def test_changes_enqueue_rollout_keys(
    api_client: client.ApiClient, api_server: ApiServer, storage: Storage, settings: watching.WatchSettings
) -> None:
    storage.create("rollouts.argoproj.io", rollout("mine"))
    storage.create("rollouts.argoproj.io", rollout("theirs", **{models.INSTANCE_ID_LABEL: "other"}))
    sent: list[str] = []
    group = informers.build(
        api_client, sent.append, target_group_binding_api_version="elbv2.k8s.aws/v1beta1", settings=settings
    )
    assert len(group.all) == 6
    assert not group.synced()
    group.start()
    try:
        assert await group.wait_synced(within=10)
        assert group.synced()
        await until(lambda: api_server.open_watches == 6, what="six watches")
        assert sent == ["default/mine"]
        owner = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "mine", "uid": "u"}
        writes = [
            ("ingresses.networking.k8s.io", named("ing")),
            ("services", {**named("stable"), "spec": {"ports": [{"port": 80}]}}),
            ("endpointslices.discovery.k8s.io",
             named("stable-x", labels={"kubernetes.io/service-name": "stable"})),
            ("targetgroupbindings.elbv2.k8s.aws",
             {**named("tgb"), "spec": {"serviceRef": {"name": "canary"}}}),
            ("replicasets.apps", named("mine-1", labels={"rollouts-pod-template-hash": "1"},
                                       ownerReferences=[owner])),
        ]
        for resource, body in writes:
            sent.clear()
            storage.create(resource, body)
            await until(lambda: sent == ["default/mine"], within=5, what=f"the key from {resource}")
        storage.create("replicasets.apps", named("deploy-1", ownerReferences=[{**owner, "name": "theirs"}]))
        storage.create("ingresses.networking.k8s.io", named("unrelated"))
        await until(lambda: "default/unrelated" in group.ingresses.store, what="the unrelated ingress")
        assert sent == ["default/mine"]
        assert group.replica_sets.store.keys() == ["default/mine-1"]  # unlabelled ReplicaSets are not cached
        assert group.rollouts.store.keys() == ["default/mine"]
    finally:
        await group.stop()
    assert not any(r.running for r in group.all)


async def test_bindings_only_when_asked(
    api_client: client.ApiClient, api_server: ApiServer, settings: watching.WatchSettings
) -> None:
    group = informers.build(api_client, lambda key: None, namespace="default", settings=settings)
    assert group.target_group_bindings is None
    assert [r.resource.plural for r in group.all] == [
        "rollouts", "ingresses", "services", "endpointslices", "replicasets"
    ]
    group.start()
    try:
        assert await group.wait_synced(within=10)
    finally:
        await group.stop()
    paths = {r.path for r in api_server.faults.request_log}
    assert all("/namespaces/default/" in path for path in paths)


def test_binding_version_follows_the_flag(api_client: client.ApiClient) -> None:
    group = informers.build(api_client, lambda key: None, target_group_binding_api_version="elbv2.k8s.aws/v1")
    assert group.target_group_bindings is not None
    assert group.target_group_bindings.resource.api_version == "elbv2.k8s.aws/v1"
