"""The whole sandbox in-process (`Sandbox`): replicas of a ReplicaSet become registered targets and follow
scale-down and readiness changes; the state points at a working API (kubernetes-asyncio via the kubeconfig),
the AWS proxy in front of moto and the control endpoint; leaving the context stops everything and removes
the temporary kubeconfig."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, config

from sandbox import aws
from sandbox.running import Sandbox
from tests.sandbox.lbc import manifests
from tests.sandbox.lbc.manifests import INGRESSES, TGBS
from tests.sandbox.polling import eventually

ACTION = "alb.ingress.kubernetes.io/actions.stable"


async def _registered(elbv2: Any, sandbox: Sandbox, service: str) -> set[tuple[str, int]]:
    (tgb,) = [t for t in sandbox.storage.list(TGBS) if t["spec"]["serviceRef"]["name"] == service]
    health = await elbv2.describe_target_health(TargetGroupArn=tgb["spec"]["targetGroupARN"])
    return {(d["Target"]["Id"], d["Target"]["Port"]) for d in health["TargetHealthDescriptions"]}


async def test_registered_targets_follow_the_replica_set(sandbox: Sandbox, elbv2: Any) -> None:
    storage = sandbox.storage
    manifests.replicated_pair(storage, stable=3, canary=1)
    storage.create(INGRESSES, manifests.ingress(annotations={ACTION: manifests.forward(("canary", 10),
                                                                                      ("stable", 90))}))

    async def follows(service: str, count: int) -> None:
        ips = manifests.pod_ips(storage, service)
        assert len(ips) == count
        assert await _registered(elbv2, sandbox, service) == {(ip, 8080) for ip in ips}

    await eventually(lambda: follows("stable", 3))
    await eventually(lambda: follows("canary", 1))
    storage.merge_patch("replicasets.apps", "default", "stable", {"spec": {"replicas": 1}})
    await eventually(lambda: follows("stable", 1))
    assert sandbox.cluster is not None
    (pod,) = storage.list("pods", "default", label_selector="app=canary")
    assert sandbox.cluster.set_pod_ready("default", pod["metadata"]["name"], False)

    async def deregistered() -> None:
        assert await _registered(elbv2, sandbox, "canary") == set()

    await eventually(deregistered)


async def test_state_points_at_working_endpoints(sandbox: Sandbox, elbv2: Any) -> None:
    state = sandbox.state.as_dict()
    assert list(state) == ["kubeconfig", "apiServer", "awsEndpointUrl", "awsRegion", "control"]
    assert state["awsRegion"] == "us-east-1"
    assert sandbox.proxy is not None
    assert state["awsEndpointUrl"] == sandbox.proxy.url != sandbox.moto.endpoint_url  # the truthful proxy
    async with aws.client("elbv2", state["awsEndpointUrl"]) as through_proxy:
        assert (await through_proxy.describe_load_balancers())["LoadBalancers"] == []
    api = await config.new_client_from_config(config_file=state["kubeconfig"])
    async with api:
        names = [ns.metadata.name for ns in (await client.CoreV1Api(api).list_namespace()).items]
    assert "default" in names
    assert api.configuration.host == state["apiServer"]
    async with aiohttp.ClientSession() as session, session.get(f"{state['control']}/lbc") as response:
        assert response.status == 200
        knobs = json.loads(await response.text())
    assert knobs == {"lagSeconds": 0.0, "paused": False, "rejectActions": False,
                     "targetRegistrationSeconds": 0.0, "targetInitialSeconds": 0.0,
                     "deregistrationDelaySeconds": 0.0}


async def test_leaving_the_context_stops_and_cleans_up(moto_server: Any, aws_endpoint: str) -> None:
    async with Sandbox(moto=moto_server) as made:
        kubeconfig = made.kubeconfig
        api_url = made.state.api_server
        assert kubeconfig.exists()
    assert not kubeconfig.exists()
    with pytest.raises(RuntimeError):
        _ = made.state
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{api_url}/version")


async def test_kubeconfig_path_is_honoured(moto_server: Any, aws_endpoint: str, tmp_path: Path) -> None:
    wanted = tmp_path / "nested" / "kubeconfig.yaml"
    async with Sandbox(moto=moto_server, kubeconfig_path=wanted) as made:
        assert made.kubeconfig == wanted
        assert made.state.api_server in wanted.read_text()


async def test_moto_in_a_process_of_its_own_serves_and_stops() -> None:
    """`alb-rollouts sandbox` runs moto as a child process: it answers ELBv2 and is gone after stop()."""
    moto = aws.MotoServer(process=True)
    await asyncio.to_thread(moto.start)
    try:
        async with aws.client("elbv2", moto.endpoint_url) as elbv2:
            assert (await elbv2.describe_load_balancers())["LoadBalancers"] == []
        child = moto._process
        assert child is not None and child.poll() is None
    finally:
        await asyncio.to_thread(moto.stop)
    assert child.poll() is not None
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{moto.endpoint_url}/moto-api/")
