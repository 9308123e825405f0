"""Start-up cleanup (SPEC §4.5): what Rollouts deleted while no controller ran left on Ingresses and Services.

Aspects: `orphans` names the Rollouts an Ingress's bookkeeping (of a class we write, readable) or a Service's
managed-by annotation mentions and the Rollout cache lacks, by namespace; on the sandbox, the whole process
(`running.run` with the real reconciler) started over leftovers of a deleted Rollout `gone` and of a Rollout
`other` served by another --instance-id resets `gone`'s action to 100% stable, removes its header route and
bookkeeping entry and releases its Service, and leaves `other`'s entries and Service as they were; a GET that
fails (500) leaves everything untouched and is retried until it answers; a standby does nothing until it
leads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.apiserver import kubeconfig as kubeconfigs
from sandbox.apiserver.server import ApiServer
from service import running, settings, startup_cleanup
from service.kube import caches
from tests.sandbox.polling import until

NS = "shop"
ROLLOUTS = "rollouts.argoproj.io"
INGRESSES = "ingresses.networking.k8s.io"
LEASES = "leases.coordination.k8s.io"
KEY = "rollouts.argoproj.io/managed-alb-annotations"
MANAGED_BY = "argo-rollouts.argoproj.io/managed-by-rollouts"
HASH = "rollouts-pod-template-hash"
PREFIX = "alb.ingress.kubernetes.io"
STABLE, OTHER = f"{PREFIX}/actions.stable", f"{PREFIX}/actions.other-stable"
BETA_ACTION, BETA_CONDITION = f"{PREFIX}/actions.beta", f"{PREFIX}/conditions.beta"


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


def _forward(*groups: tuple[str, int]) -> str:
    targets = [{"ServiceName": name, "ServicePort": "80", "Weight": weight} for name, weight in groups]
    return json.dumps({"Type": "forward", "ForwardConfig": {"TargetGroups": targets}}, separators=(",", ":"))


def _path(service: str, path: str) -> dict[str, Any]:
    return {"path": path, "pathType": "ImplementationSpecific",
            "backend": {"service": {"name": service, "port": {"name": "use-annotation"}}}}


def _ingress(name: str = "app", *, namespace: str = NS, ingress_class: str = "alb",
             bookkeeping: str | None = None) -> dict[str, Any]:
    """The Ingress as our controller leaves it mid-canary for `gone` (with a header route) and `other`."""
    managed = {"gone": [STABLE, BETA_ACTION, BETA_CONDITION], "other": [OTHER]}
    annotations = {
        STABLE: _forward(("canary", 30), ("stable", 70)),
        BETA_ACTION: _forward(("canary", 100)),
        BETA_CONDITION: '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X","values":["y"]}}]',
        OTHER: _forward(("other-canary", 10), ("other-stable", 90)),
        KEY: bookkeeping if bookkeeping is not None else json.dumps(managed, separators=(",", ":")),
    }
    paths = [_path("beta", "/*"), _path("stable", "/"), _path("other-stable", "/other")]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            "spec": {"ingressClassName": ingress_class, "rules": [{"http": {"paths": paths}}]}}


def _service(name: str, rollout: str, namespace: str = NS) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "annotations": {MANAGED_BY: rollout}},
            "spec": {"selector": {"app": rollout, HASH: "5d8f7c"}, "ports": [{"port": 80}]}}


def _rollout(name: str, instance_id: str | None = None) -> dict[str, Any]:
    labels = {"argo-rollouts.argoproj.io/controller-instance-id": instance_id} if instance_id else {}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}},
                     "strategy": {"canary": {"steps": [{"setWeight": 20}]}}}}


# ---- which Rollouts to look up (pure over the caches) -----------------------------------------------
def _store(*objects: dict[str, Any]) -> caches.Store:
    store = caches.Store()
    for obj in objects:
        store.upsert(obj)
    return store


def test_orphans_are_mentioned_and_not_cached() -> None:
    informers = SimpleNamespace(
        rollouts=SimpleNamespace(store=_store(_rollout("other"))),
        ingresses=SimpleNamespace(store=_store(
            _ingress(),
            _ingress("elsewhere", namespace="team"),
            _ingress("foreign", ingress_class="nginx", bookkeeping='{"nginx-only":[]}'),
            _ingress("broken", bookkeeping="not json"),
        )),
        services=SimpleNamespace(store=_store(_service("stable", "gone"), _service("web", "svc-only"),
                                              _service("other-stable", "other"))),
    )
    assert startup_cleanup.orphans(informers, ("alb",)) == [  # type: ignore[arg-type]
        "shop/gone", "shop/svc-only", "team/gone", "team/other"]
    added: list[str] = []
    assert startup_cleanup.enqueue(informers, added.append, classes=("nginx",)) == [  # type: ignore[arg-type]
        "shop/gone", "shop/nginx-only", "shop/svc-only"]
    assert added == ["shop/gone", "shop/nginx-only", "shop/svc-only"]


# ---- the whole process on the sandbox ------------------------------------------------------------------
@pytest.fixture
def kubeconfig(api_server: ApiServer, tmp_path: Path) -> Path:
    api_server.storage.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": NS}})
    return kubeconfigs.write_kubeconfig(tmp_path / "kubeconfig", api_server.url, namespace=NS)


def _leftovers(api_server: ApiServer) -> None:
    """What our controller left when `gone` was deleted while it was down, next to `other`'s live entries."""
    storage = api_server.storage
    storage.create(INGRESSES, _ingress())
    storage.create("services", _service("stable", "gone"))
    storage.create("services", _service("other-stable", "other"))
    storage.create(ROLLOUTS, _rollout("other", instance_id="blue"))


def _settings(kubeconfig: Path, leader: settings.LeaderSettings | None = None) -> settings.Settings:
    return settings.Settings(
        kube=settings.KubeSettings(kubeconfig=str(kubeconfig)),
        http=settings.HttpSettings(metrics_port=0, healthz_port=0, host="127.0.0.1", debug_address=None),
        leader=leader or settings.LeaderSettings(elect=False),
        queueing=settings.QueueingSettings(rollout_threads=2))


@asynccontextmanager
async def _controller(config: settings.Settings) -> AsyncIterator[asyncio.Task[None]]:
    """`running.run` with the real reconciler, stopped (and awaited) on the way out."""
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(config, stop=stop, identity="test-replica", environ={}))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def _gets(api_server: ApiServer, name: str, status: int | None = None) -> int:
    """How many GETs of Rollout `name` the API server answered (with `status`, when given)."""
    return sum(1 for r in api_server.faults.request_log
               if r.verb == "get" and r.resource == ROLLOUTS and r.name == name
               and (status is None or r.status == status))


def _ingress_now(api_server: ApiServer) -> dict[str, Any]:
    found = api_server.storage.get(INGRESSES, NS, "app")
    assert found is not None
    return found


def _service_now(api_server: ApiServer, name: str) -> dict[str, Any]:
    found = api_server.storage.get("services", NS, name)
    assert found is not None
    return found


def _cleaned(api_server: ApiServer) -> bool:
    annotations = _ingress_now(api_server)["metadata"]["annotations"]
    return "gone" not in json.loads(annotations.get(KEY) or "{}") and \
        MANAGED_BY not in (_service_now(api_server, "stable")["metadata"].get("annotations") or {})


def _assert_cleaned(api_server: ApiServer) -> None:
    ingress = _ingress_now(api_server)
    annotations = ingress["metadata"]["annotations"]
    assert annotations[STABLE] == _forward(("stable", 100))
    assert BETA_ACTION not in annotations and BETA_CONDITION not in annotations
    assert json.loads(annotations[KEY]) == {"other": [OTHER]}
    assert annotations[OTHER] == _forward(("other-canary", 10), ("other-stable", 90))
    backends = [p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]]
    assert backends == ["stable", "other-stable"]
    released = _service_now(api_server, "stable")
    assert MANAGED_BY not in (released["metadata"].get("annotations") or {})
    assert released["spec"]["selector"] == {"app": "gone"}


def _assert_other_untouched(api_server: ApiServer, before: dict[str, Any]) -> None:
    other = _service_now(api_server, "other-stable")
    assert other["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert other["metadata"]["annotations"] == {MANAGED_BY: "other"}


async def test_leftovers_of_a_deleted_rollout_are_reset_at_start(api_server: ApiServer,
                                                                 kubeconfig: Path) -> None:
    _leftovers(api_server)
    other_before = _service_now(api_server, "other-stable")
    async with _controller(_settings(kubeconfig)):
        await until(lambda: _cleaned(api_server), within=30, what="gone's leftovers cleaned")
        await until(lambda: _gets(api_server, "other", 200), within=30, what="other looked up")
    _assert_cleaned(api_server)
    _assert_other_untouched(api_server, other_before)
    assert _gets(api_server, "gone") == 1  # one look, at start-up


async def test_a_failing_get_leaves_everything_and_is_retried(api_server: ApiServer,
                                                              kubeconfig: Path) -> None:
    _leftovers(api_server)
    ingress_before = _ingress_now(api_server)["metadata"]["resourceVersion"]
    service_before = _service_now(api_server, "stable")["metadata"]["resourceVersion"]
    other_before = _service_now(api_server, "other-stable")
    failing = api_server.faults.fail_next("get", "rollouts", count=10**6, code=500, message="etcd is away")
    async with _controller(_settings(kubeconfig)):
        await until(lambda: _gets(api_server, "gone", 500) >= 3, within=30, what="retries of gone's GET")
        assert _ingress_now(api_server)["metadata"]["resourceVersion"] == ingress_before
        assert _service_now(api_server, "stable")["metadata"]["resourceVersion"] == service_before
        failing.count = 0  # the API server answers again
        await until(lambda: _cleaned(api_server), within=30, what="gone's leftovers cleaned")
        await until(lambda: _gets(api_server, "other", 200), within=30, what="other looked up")
    _assert_cleaned(api_server)
    _assert_other_untouched(api_server, other_before)


async def test_a_standby_cleans_up_only_once_it_leads(api_server: ApiServer, kubeconfig: Path) -> None:
    _leftovers(api_server)
    api_server.storage.create(LEASES, {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "argo-rollouts-controller-lock", "namespace": "default"},
        "spec": {"holderIdentity": "the-other-replica", "leaseDurationSeconds": 3600, "leaseTransitions": 0}})
    leader = settings.LeaderSettings(elect=True, lease_duration_seconds=30.0, renew_deadline_seconds=20.0,
                                     retry_period_seconds=0.1, namespace="default")
    async with _controller(_settings(kubeconfig, leader)):
        await until(lambda: sum(1 for r in api_server.faults.request_log if r.resource == LEASES) >= 3,
                    within=20, what="election rounds")
        assert _gets(api_server, "gone") == 0 and not _cleaned(api_server)
        api_server.storage.delete(LEASES, "default", "argo-rollouts-controller-lock")  # the other one left
        await until(lambda: _cleaned(api_server), within=30, what="gone's leftovers cleaned once leading")
    _assert_cleaned(api_server)
