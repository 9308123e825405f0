"""The AnalysisRun controller as service.running wires it: informers feeding its own queue, its workers, the
providers built from the settings, on the sandbox API server with a fake clock.

Covers: a run a user creates is picked up by the watch and run to the end, its next measurement requeued on
the fake clock (the workqueue metrics labelled "AnalysisRuns"); runs progress independently (one waiting on a
peer that does not answer, one in Error for a missing Secret, one Successful); a restarted controller (fresh
memory) continues a Running run from its status without repeating a measurement; a CloudWatch metric through
the AWS region and endpoint of the settings (moto); the instance-id label filters runs; the owning Rollout is
enqueued when a run appears or its phase changes, not on other updates; an analysis CRD the server does not
serve neither holds readiness back nor goes unsaid (the reason is logged); the ClusterRole grants what the
controller calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiobotocore.session import AioSession
from kubernetes_asyncio import client
from structlog.testing import capture_logs

from sandbox.apiserver.server import ApiServer
from service import clock as clocks
from service import settings
from service.analysis import running
from service.aws import elbv2
from service.kube import informers, recording, watching, writing
from statemachine import models
from tests.sandbox.polling import until
from tests.service.analysis.conftest import Peer

from .run_world import NS, RUNS, WATCH, RunWorld, analysis_run, run_world, web_metric

__all__ = ["run_world"]

MakeWorld = Callable[..., Awaitable[RunWorld]]
ROOT = Path(__file__).resolve().parents[3]


def _measurements(world: RunWorld, name: str) -> int:
    results = world.status(name).get("metricResults") or [{}]
    return len(results[0].get("measurements") or [])


async def _step(world: RunWorld, seconds: float) -> None:
    """Advance the fake clock once the queue waits for a key due within `seconds` (the requeue)."""
    def pending() -> bool:
        deadline = world.clock.next_deadline
        return deadline is not None and deadline <= world.clock.monotonic() + seconds
    await until(pending, within=10, what="a requeue on the clock")
    world.clock.advance(seconds)


async def test_workers_run_a_user_run_to_the_end(run_world: MakeWorld, peer: Peer) -> None:
    world = await run_world(workers=True)
    peer.json("/ok", {"value": 1})
    world.create(analysis_run("user", web_metric("ok", f"{peer.url}/ok", count=2, interval="10s")))
    await until(lambda: _measurements(world, "user") == 1, within=10, what="the first measurement")
    assert world.phase("user") == "Running"
    await _step(world, 10)
    await until(lambda: world.phase("user") == "Successful", within=10, what="the run to succeed")
    assert _measurements(world, "user") == 2 and len(peer.requests) == 2
    adds = world.registry.get_sample_value("workqueue_adds_total", {"name": "AnalysisRuns"})
    assert adds is not None and adds >= 2


async def test_runs_progress_independently(run_world: MakeWorld, peer: Peer) -> None:
    world = await run_world(workers=True)
    peer.stall("/slow")
    peer.json("/ok", {"value": 1})
    slow = web_metric("slow", f"{peer.url}/slow")
    slow["provider"]["web"]["timeoutSeconds"] = 30
    args = [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "token"}}}]
    world.create(analysis_run("slow", slow))
    await until(lambda: any(r.path == "/slow" for r in peer.requests), within=10, what="the stalled request")
    world.create(analysis_run("broken", web_metric("ok", f"{peer.url}/ok?t={{{{args.token}}}}"), args=args))
    world.create(analysis_run("fine", web_metric("ok", f"{peer.url}/ok")))
    await until(lambda: world.phase("fine") == "Successful" and world.phase("broken") == "Error", within=10,
                what="the fine run to succeed and the broken one to end in Error")
    assert 'secrets "absent" not found' in world.status("broken")["message"]
    assert world.status("slow") == {}  # still measuring: it held one worker, nothing else


async def test_a_restarted_controller_continues_from_the_status(run_world: MakeWorld, peer: Peer) -> None:
    first = await run_world(workers=True)
    peer.json("/ok", {"value": 1})
    first.create(analysis_run("long", web_metric("ok", f"{peer.url}/ok", count=2, interval="10s")))
    await until(lambda: _measurements(first, "long") == 1, within=10, what="the first measurement")
    await first.close()

    second = await run_world()  # a fresh process: new caches, providers, recorder; the clock where it was
    assert (await second.reconcile("long")).requeue_after == 10.0
    assert len(peer.requests) == 1  # the measurement in the status is not taken again
    second.clock.advance(10)
    await second.reconcile("long")
    assert second.phase("long") == "Successful"
    assert _measurements(second, "long") == 2 and len(peer.requests) == 2


async def test_a_cloudwatch_metric_through_the_settings(run_world: MakeWorld, aws_endpoint: str,
                                                        cw_session: AioSession,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    now = datetime.now(UTC).replace(microsecond=0)
    metric = {"namespace": "AWS/ApplicationELB", "metricName": "HTTPCode_Target_5XX_Count",
              "dimensions": [{"name": "LoadBalancer", "value": "app/web/1"}]}
    region = "us-east-1"
    async with cw_session.create_client("cloudwatch", region_name=region, endpoint_url=aws_endpoint) as cw:
        await cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[{
            "MetricName": "HTTPCode_Target_5XX_Count", "Unit": "Count", "Value": 3.0,
            "Timestamp": now - timedelta(seconds=30),
            "Dimensions": [{"Name": "LoadBalancer", "Value": "app/web/1"}],
        }])
    aws = settings.AlbSettings(client=elbv2.AwsSettings(region=region, endpoint_url=aws_endpoint))
    world = await run_world(workers=True, start=now, config=settings.Settings(aws=aws))
    query = {"id": "errors", "metricStat": {"metric": metric, "period": 300, "stat": "Sum"}}
    world.create(analysis_run("cw", {"name": "errors", "successCondition": "result[0].Values[0] < 5",
                                     "provider": {"cloudWatch": {"metricDataQueries": [query]}}}))
    await until(lambda: world.phase("cw") in ("Successful", "Error", "Failed"), within=20,
                what="the run's end")
    assert world.phase("cw") == "Successful", world.status("cw")
    assert world.status("cw")["metricResults"][0]["measurements"][0]["value"] == "[[3]]"


async def test_the_instance_id_label_filters_runs(run_world: MakeWorld, peer: Peer) -> None:
    world = await run_world(workers=True, instance_id="blue")
    peer.json("/ok", {"value": 1})
    label = models.INSTANCE_ID_LABEL
    world.create(analysis_run("theirs", web_metric("ok", f"{peer.url}/ok"), labels={label: "green"}))
    world.create(analysis_run("unlabelled", web_metric("ok", f"{peer.url}/ok")))
    world.create(analysis_run("ours", web_metric("ok", f"{peer.url}/ok"), labels={label: "blue"}))
    await until(lambda: world.phase("ours") == "Successful", within=10, what="our run")
    assert world.status("theirs") == {} and world.status("unlabelled") == {}
    assert world.informers.analysis_runs.store.keys() == [f"{NS}/ours"]


async def test_the_owning_rollout_hears_of_new_runs_and_phase_changes(run_world: MakeWorld) -> None:
    world = await run_world()
    owner = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "demo", "uid": "u-1",
             "controller": True}
    run = analysis_run("owned", web_metric("ok", "http://127.0.0.1:1/"))
    run["metadata"]["ownerReferences"] = [owner]
    world.create(run)
    await until(lambda: world.rollout_keys == [f"{NS}/demo"], within=10, what="the owner on creation")
    world.storage.merge_patch(RUNS, NS, "owned", {"metadata": {"labels": {"x": "y"}}})
    world.storage.merge_patch(RUNS, NS, "owned", {"status": {"phase": "Running"}})
    await until(lambda: world.rollout_keys == [f"{NS}/demo"] * 2, within=10, what="the owner on the phase")
    await world.caught_up()
    assert world.rollout_keys == [f"{NS}/demo"] * 2  # the label change concerned no Rollout


@pytest.fixture
async def api(api_server: ApiServer) -> AsyncIterator[client.ApiClient]:
    async with client.ApiClient(client.Configuration(host=api_server.url)) as made:
        yield made


async def test_an_unserved_analysis_crd_is_optional_and_said(api_server: ApiServer,
                                                             api: client.ApiClient) -> None:
    api_server.faults.fail_next(verb="list", resource=RUNS, count=100_000, code=404)
    clock = clocks.FakeClock()
    work = running.AnalysisWork(clock=clock, workers=1)
    built = informers.build(api, lambda key: None, analysis_enqueue=work.enqueue, settings=WATCH)
    writer = writing.KubeWriter(api, deadline=5.0)
    with capture_logs() as logged:
        built.start()
        controller = None
        try:
            assert await watching.wait_synced(built.required, 10.0)
            controller = work.start(informers=built, writer=writer, recorder=recording.EventRecorder(
                writer, clock=clock), settings=settings.Settings())

            def said() -> bool:
                clock.advance(running.REPORT_INTERVAL_SECONDS)
                return any(entry["event"] == "analysis cache not synced" for entry in logged)
            await until(said, within=10, what="the reason logged")
            await until(built.synced, within=10, what="readiness without the AnalysisRuns")  # /readyz
            assert built.unsynced() == [] and not built.analysis_runs.synced.is_set()
        finally:
            api_server.faults.clear()
            if controller is not None:
                await controller.stop(1.0)
            await work.close()
            await built.stop()
    (entry,) = [entry for entry in logged if entry["event"] == "analysis cache not synced"]
    assert entry["reason"].startswith("analysisruns.argoproj.io not synced: 404")
    assert "CustomResourceDefinition analysisruns.argoproj.io" in entry["reason"]
    assert not any(task.get_name() == "analysis-caches" and not task.done() for task in asyncio.all_tasks())


def test_the_cluster_role_grants_what_the_controller_calls() -> None:
    documents = [doc for doc in yaml.safe_load_all((ROOT / "k8s" / "base" / "rbac.yaml").read_text()) if doc]
    role: dict[str, Any] = next(doc for doc in documents if doc["kind"] == "ClusterRole")
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    needed = [("argoproj.io", "analysisruns", verb) for verb in ("list", "watch", "patch", "delete")]
    needed += [("argoproj.io", "analysisruns/status", "patch"), ("", "secrets", "get"),
               ("", "events", "create"), ("", "events", "patch")]
    needed += [("argoproj.io", plural, verb) for plural in ("analysistemplates", "clusteranalysistemplates")
               for verb in ("list", "watch")]
    assert [grant for grant in needed if grant not in granted] == []
    assert not [grant for grant in granted if grant[1] == "secrets" and grant[2] != "get"]  # least privilege
