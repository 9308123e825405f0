"""The informer group against the API emulator: every cache syncs (and `synced()` says so); each kind of
change enqueues the right Rollout keys; the instance-id and ReplicaSet label selectors apply; the
TargetGroupBinding informer is absent unless asked for, and follows the version asked for; a Deployment
enqueues the Rollouts whose workloadRef names it when it is added, deleted or its generation changes (not on
a status change), and Deployments the API server does not serve (404) do not hold readiness back; stop ends
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
    assert len(group.all) == 10
    assert not group.synced()
    group.start()
    try:
        assert await group.wait_synced(within=10)
        assert group.synced()
        await until(lambda: api_server.open_watches == 10, what="ten watches")
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
        "rollouts", "ingresses", "services", "endpointslices", "replicasets", "deployments", "analysisruns",
        "analysistemplates", "clusteranalysistemplates"
    ]
    group.start()
    try:
        assert await group.wait_synced(within=10)
    finally:
        await group.stop()
    paths = {r.path for r in api_server.faults.request_log}
    cluster_scoped = {path for path in paths if path.endswith("/clusteranalysistemplates")}
    assert cluster_scoped and all("/namespaces/default/" in path for path in paths - cluster_scoped)


def test_binding_version_follows_the_flag(api_client: client.ApiClient) -> None:
    group = informers.build(api_client, lambda key: None, target_group_binding_api_version="elbv2.k8s.aws/v1")
    assert group.target_group_bindings is not None
    assert group.target_group_bindings.resource.api_version == "elbv2.k8s.aws/v1"


def deployment(name: str, generation: int = 1) -> dict[str, Any]:
    return {**named(name), "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": name}}}}}


async def test_deployment_changes_enqueue_the_rollouts_that_reference_it(
    api_client: client.ApiClient, storage: Storage, settings: watching.WatchSettings
) -> None:
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    for name in ("a", "b"):
        body = rollout(name)
        body["spec"]["workloadRef"] = ref
        storage.create("rollouts.argoproj.io", body)
    storage.create("rollouts.argoproj.io", rollout("plain"))
    sent: list[str] = []
    group = informers.build(api_client, sent.append, settings=settings)
    group.start()
    try:
        assert await group.wait_synced(within=10)
        await until(lambda: len(sent) == 3, what="the three Rollouts")
        sent.clear()
        storage.create("deployments.apps", deployment("web"))
        await until(lambda: sorted(sent) == ["default/a", "default/b"], within=5, what="the added Deployment")
        sent.clear()
        storage.create("deployments.apps", deployment("other"))
        storage.merge_patch("deployments.apps", "default", "web", {"status": {"replicas": 1}},
                            subresource="status")
        await until(lambda: "default/other" in group.deployments.store  # type: ignore[union-attr]
                    and (group.deployments.store.get("default/web") or {}).get("status"),  # type: ignore[union-attr]
                    what="the other Deployment and the status change")
        assert sent == []  # neither an unreferenced Deployment nor a status change concerns a Rollout
        storage.merge_patch("deployments.apps", "default", "web", {"spec": {"replicas": 0}})
        await until(lambda: sorted(sent) == ["default/a", "default/b"], within=5, what="the new generation")
        sent.clear()
        storage.delete("deployments.apps", "default", "web")
        await until(lambda: sorted(sent) == ["default/a", "default/b"], within=5, what="the deletion")
    finally:
        await group.stop()


async def test_unserved_deployments_do_not_hold_readiness_back(
    api_client: client.ApiClient, api_server: ApiServer, settings: watching.WatchSettings
) -> None:
    api_server.faults.fail_next(verb="list", resource="deployments", count=1000, code=404)
    group = informers.build(api_client, lambda key: None, settings=settings)
    assert group.deployments not in group.required
    group.start()
    try:
        assert await watching.wait_synced([r for r in group.all if r is not group.deployments], 10.0)
        await until(lambda: (group.deployments.last_error or "").startswith("404"),  # type: ignore[union-attr]
                    what="the 404 on deployments")
        assert group.synced()
        assert group.unsynced() == []
        assert not group.deployments.synced.is_set()  # type: ignore[union-attr]
    finally:
        api_server.faults.clear()
        await group.stop()
