"""Builders for the `alb-rollouts verify` tests: a Rollout with its Ingress and ReplicaSets in the API
emulator, an ALB in moto shaped like the LBC's, and running the command as a user would."""

from __future__ import annotations

from typing import Any

from sandbox.apiserver.server import ApiServer
from service import cli
from service.commands import verify

from .conftest import REGION, Lbc

__all__ = ["NS", "ROLLOUTS", "alb_for", "replica_set", "rollout_obj", "run_cli", "seed", "target_objects"]

NS = "default"
ROLLOUTS = "rollouts.argoproj.io"


def rollout_obj(*, step_index: int = 0, steps: list[dict[str, Any]] | None = None,
                ping_pong: bool = False, stable_pp: str = "") -> dict[str, Any]:
    canary: dict[str, Any] = {
        "trafficRouting": {"alb": {"ingress": "app", "servicePort": 80}},
        "steps": steps if steps is not None else [{"setWeight": 20}, {"pause": {}}],
    }
    if ping_pong:
        canary["pingPong"] = {"pingService": "ping", "pongService": "pong"}
        canary["trafficRouting"]["alb"]["rootService"] = "root"
    else:
        canary.update(canaryService="canary", stableService="stable")
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "demo", "namespace": NS},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "demo"}},
                 "template": {"metadata": {"labels": {"app": "demo"}},
                              "spec": {"containers": [{"name": "c"}]}},
                 "strategy": {"canary": canary}},
        "status": {"currentStepIndex": step_index, "stableRS": "old", "currentPodHash": "new",
                   "canary": {"stablePingPong": stable_pp}},
    }


def replica_set(owner: dict[str, Any], pod_hash: str, replicas: int, available: int) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "metadata": {"name": f"demo-{pod_hash}", "namespace": NS,
                     "labels": {"app": "demo", "rollouts-pod-template-hash": pod_hash},
                     "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                          "name": meta["name"], "uid": meta["uid"], "controller": True}]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "demo"}},
                 "template": {"metadata": {"labels": {"app": "demo"}},
                              "spec": {"containers": [{"name": "c"}]}}},
        "status": {"replicas": available, "readyReplicas": available, "availableReplicas": available},
    }


def seed(server: ApiServer, rollout: dict[str, Any], hostname: str | None, *,
         extra: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
         replica_sets: tuple[tuple[str, int, int], ...] = (("old", 2, 2), ("new", 1, 1)),
         backend: str = "stable") -> None:
    """The Rollout, its Ingress and its ReplicaSets ((hash, spec replicas, available) each)."""
    storage = server.storage
    status = rollout.pop("status")
    created = storage.create(ROLLOUTS, rollout)
    storage.merge_patch(ROLLOUTS, NS, "demo", {"status": status}, subresource="status")
    for pod_hash, replicas, available in replica_sets:
        rs = replica_set(created, pod_hash, replicas, available)
        rs_status = rs.pop("status")
        storage.create("replicasets.apps", rs)
        storage.merge_patch("replicasets.apps", NS, rs["metadata"]["name"], {"status": rs_status},
                            subresource="status")
    storage.create("ingresses.networking.k8s.io", {
        "metadata": {"name": "app", "namespace": NS, "annotations": {"kubernetes.io/ingress.class": "alb"}},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
            "service": {"name": backend, "port": {"name": "use-annotation"}}}}]}}]}})
    if hostname:
        storage.merge_patch("ingresses.networking.k8s.io", NS, "app",
                            {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}},
                            subresource="status")
    for resource, obj in extra:
        storage.create(resource, obj)


async def alb_for(lbc: Lbc, weights: tuple[int, int], canary: str = "canary", stable: str = "stable") -> Any:
    alb = await lbc.alb("k8s-default-app")
    listener = await lbc.listener(alb.arn)
    canary_tg = await lbc.target_group(NS, "app", canary)
    stable_tg = await lbc.target_group(NS, "app", stable)
    await lbc.rule(listener, 1, [(canary_tg, weights[0]), (stable_tg, weights[1])])
    return alb, canary_tg, stable_tg


async def run_cli(kubeconfig: str, endpoint: str, *extra: str) -> int:
    args = cli.build_parser("verify").parse_args([
        "verify", "--rollout", f"{NS}/demo", "--kubeconfig", kubeconfig, "--aws-region", REGION,
        "--aws-endpoint-url", endpoint, *extra])
    return await verify.run_async(args)


def target_objects(tg_arn: str, ips: list[str]) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("services", {"metadata": {"name": "stable", "namespace": NS},
                      "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "web"}]}}),
        ("targetgroupbindings.elbv2.k8s.aws", {
            "metadata": {"name": "k8s-default-stable", "namespace": NS},
            "spec": {"targetGroupARN": tg_arn, "targetType": "ip",
                     "serviceRef": {"name": "stable", "port": 80}}}),
        ("endpointslices.discovery.k8s.io", {
            "metadata": {"name": "stable-x", "namespace": NS,
                         "labels": {"kubernetes.io/service-name": "stable"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}),
    ]
