"""Reconciling one AnalysisRun through the real wire: the sandbox API server (kubernetes-asyncio, the real
informers, KubeWriter and EventRecorder), a real aiohttp peer for the web metrics, a fake clock.

Covers: a run created as `kubectl create -f` sends it goes Running then Successful, its status shaped as the
reference's (metricResults with phase, measurements with value/startedAt/finishedAt, counters, startedAt,
runSummary, completedAt), the requeue at the next interval (count + interval stepped on the fake clock, no
measurement before it is due, no write when nothing changed), the completion events; a failing condition
past failureLimit → Failed with the reference's message and Warning events; an unreachable peer → Error
measurements, retried after 10 s, → consecutiveErrorLimit → Error naming the cause; `spec.terminate` →
Successful "Run Terminated" without measuring; a missing Secret → Error naming it; a Secret's value sent to
the peer yet masked in the status; a bad condition → Error naming it; the ttlStrategy deletes a completed run
once expired; the status goes to the run itself under the upstream CRD (no status subresource, found once)
and to `/status` where a CRD serves one; a write from a stale copy is refused by its resourceVersion.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable

import pytest

from sandbox.apiserver import resources as sandbox_resources
from service.kube import writing
from tests.service.analysis.conftest import Peer

from .run_world import NS, RUNS, RunWorld, analysis_run, run_world, web_metric

__all__ = ["run_world"]

T0, T5, T10 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z", "2026-01-01T00:00:10Z"
MakeWorld = Callable[..., Awaitable[RunWorld]]


def _patches(world: RunWorld, name: str) -> list[tuple[str | None, int]]:
    """(subresource, status code) of each PATCH of the run, in order (an unserved `/status` is unrouted)."""
    base = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/analysisruns/{name}"
    return [("status" if r.path.endswith("/status") else None, r.status) for r in world.faults.request_log
            if r.method == "PATCH" and r.path in (base, f"{base}/status")]


async def test_a_user_run_goes_running_then_successful(run_world: MakeWorld, peer: Peer) -> None:
    world = await run_world()
    peer.json("/ok", {"value": 1})
    world.create(analysis_run("user", web_metric("ok", f"{peer.url}/ok", count=2, interval="10s")))

    result = await world.reconcile("user")
    assert result.requeue_after == 10.0
    measurement = {"phase": "Successful", "startedAt": T0, "finishedAt": T0, "value": "1"}
    assert world.status("user") == {
        "phase": "Running",
        "metricResults": [{"name": "ok", "phase": "Running", "measurements": [measurement], "count": 1,
                           "successful": 1, "consecutiveSuccess": 1}],
        "startedAt": T0,
        "runSummary": {"count": 1},
        "dryRunSummary": {},
    }
    version = world.run("user")["metadata"]["resourceVersion"]  # type: ignore[index]

    world.clock.advance(5)
    assert (await world.reconcile("user")).requeue_after == 5.0
    assert len(peer.requests) == 1  # not due yet: no measurement, and no write either
    assert world.run("user")["metadata"]["resourceVersion"] == version  # type: ignore[index]

    world.clock.advance(5)
    assert (await world.reconcile("user")).requeue_after is None
    status = world.status("user")
    assert status["phase"] == "Successful" and "message" not in status
    assert status["completedAt"] == T10
    assert status["runSummary"] == {"count": 1, "successful": 1}
    (result_raw,) = status["metricResults"]
    assert (result_raw["phase"], result_raw["count"], result_raw["successful"]) == ("Successful", 2, 2)
    assert result_raw["measurements"][-1] == {**measurement, "startedAt": T10, "finishedAt": T10}
    assert len(peer.requests) == 2
    (completed,) = world.events("AnalysisRunSuccessful")
    assert (completed["type"], completed["message"]) == ("Normal", "Analysis Completed. Result: Successful")
    assert completed["involvedObject"]["kind"] == "AnalysisRun"
    assert completed["involvedObject"]["name"] == "user"
    metric_events = [e["message"] for e in world.events("MetricSuccessful")]
    assert metric_events == ["Metric 'ok' Completed. Result: Successful"]
    # The sandbox serves the upstream CRD (no status subresource): found out once, then the run is patched.
    assert _patches(world, "user") == [("status", 404), (None, 200), (None, 200)]

    assert (await world.reconcile("user")).requeue_after is None  # completed: nothing more to do
    assert len(_patches(world, "user")) == 3 and len(peer.requests) == 2


async def test_a_failing_condition_past_failure_limit_fails_the_run(run_world: MakeWorld, peer: Peer) -> None:
    world = await run_world()
    peer.json("/bad", {"value": 0})
    world.create(analysis_run("fails", web_metric("bad", f"{peer.url}/bad", count=3, interval="5s",
                                                  failureLimit=1)))
    assert (await world.reconcile("fails")).requeue_after == 5.0
    assert world.phase("fails") == "Running"  # one failure is within failureLimit 1
    world.clock.advance(5)
    assert (await world.reconcile("fails")).requeue_after is None
    status = world.status("fails")
    assert status["phase"] == "Failed"
    assert status["message"] == 'Metric "bad" assessed Failed due to failed (2) > failureLimit (1)'
    (result,) = status["metricResults"]
    assert (result["phase"], result["count"], result["failed"]) == ("Failed", 2, 2)
    assert [m["phase"] for m in result["measurements"]] == ["Failed", "Failed"]
    assert status["runSummary"] == {"count": 1, "failed": 1}
    (event,) = world.events("AnalysisRunFailed")
    assert (event["type"], event["message"]) == ("Warning", "Analysis Completed. Result: Failed")
    assert world.events("MetricFailed")[0]["message"] == "Metric 'bad' Completed. Result: Failed"


async def test_an_unreachable_peer_errors_until_the_consecutive_error_limit(run_world: MakeWorld,
                                                                           closed_port: int) -> None:
    world = await run_world()
    url = f"http://127.0.0.1:{closed_port}/"
    world.create(analysis_run("down", web_metric("down", url, interval="30s", consecutiveErrorLimit=1)))
    refused = f'Get "{url}": dial tcp 127.0.0.1:{closed_port}: connect: connection refused'

    assert (await world.reconcile("down")).requeue_after == 10.0  # an error retries after 10 s, not 30
    (result,) = world.status("down")["metricResults"]
    error = {"phase": "Error", "message": refused, "startedAt": T0, "finishedAt": T0}
    assert result["measurements"] == [error]
    assert (result["phase"], result["error"], result["consecutiveError"]) == ("Running", 1, 1)
    assert world.phase("down") == "Running"

    world.clock.advance(10)
    await world.reconcile("down")
    status = world.status("down")
    assert status["phase"] == "Error"
    assert status["message"] == (f'Metric "down" assessed Error due to consecutiveErrors (2) > '
                                 f'consecutiveErrorLimit (1): "Error Message: {refused}"')
    assert status["runSummary"] == {"count": 1, "error": 1}
    assert world.events("AnalysisRunError")[0]["type"] == "Warning"


async def test_terminate_ends_the_run_successful_without_measuring(run_world: MakeWorld, peer: Peer) -> None:
    world = await run_world()
    peer.json("/ok", {"value": 1})
    world.create(analysis_run("stop", web_metric("ok", f"{peer.url}/ok", interval="1m")))
    assert (await world.reconcile("stop")).requeue_after == 60.0
    world.storage.merge_patch(RUNS, NS, "stop", {"spec": {"terminate": True}})
    world.clock.advance(60)  # a measurement would be due: terminating takes none
    assert (await world.reconcile("stop")).requeue_after is None
    status = world.status("stop")
    assert (status["phase"], status["message"]) == ("Successful", "Run Terminated")
    assert status["metricResults"][0]["phase"] == "Successful"
    assert len(peer.requests) == 1


async def test_a_missing_secret_ends_the_run_in_error_naming_it(run_world: MakeWorld, peer: Peer) -> None:
    world = await run_world()
    args = [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]
    world.create(analysis_run("nosecret", web_metric("ok", f"{peer.url}/ok?t={{{{args.token}}}}"), args=args))
    assert (await world.reconcile("nosecret")).requeue_after is None
    status = world.status("nosecret")
    message = 'Unable to resolve metric arguments: secrets "creds" not found'
    assert status == {"phase": "Error", "message": message, "runSummary": {}}
    assert world.events("AnalysisRunError")[0]["message"] == "Analysis Completed. Result: Error"
    assert peer.requests == []


async def test_a_secret_value_reaches_the_peer_but_never_the_status(run_world: MakeWorld, peer: Peer,
                                                                    closed_port: int) -> None:
    world = await run_world()
    token = "s3cr3t-t0ken"
    world.storage.create("secrets", {"metadata": {"name": "creds", "namespace": NS},
                                     "data": {"token": base64.b64encode(token.encode()).decode()}})
    peer.json("/ok", {"value": 1})
    args = [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]
    ok = web_metric("ok", f"{peer.url}/ok")
    ok["provider"]["web"]["headers"] = [{"key": "Authorization", "value": "Bearer {{args.token}}"}]
    leaky = web_metric("leaky", f"http://127.0.0.1:{closed_port}/?token={{{{args.token}}}}",
                       consecutiveErrorLimit=0)
    world.create(analysis_run("secret", ok, leaky, args=args))
    await world.reconcile("secret")
    assert peer.requests[0].headers["authorization"] == [f"Bearer {token}"]
    status = world.status("secret")
    assert status["phase"] == "Error"
    assert "?token=*****" in status["message"]
    assert token not in json.dumps(world.run("secret"))


async def test_a_bad_condition_ends_the_run_in_error_naming_it(run_world: MakeWorld, peer: Peer) -> None:
    world = await run_world()
    world.create(analysis_run("badexpr", web_metric("ok", f"{peer.url}/ok", condition="result >>> 1")))
    await world.reconcile("badexpr")
    status = world.status("badexpr")
    assert status["phase"] == "Error"
    assert status["message"].startswith(
        'Analysis spec invalid: metrics[0] (ok): invalid successCondition "result >>> 1": ')
    assert peer.requests == []


async def test_ttl_strategy_deletes_the_completed_run_once_expired(run_world: MakeWorld, peer: Peer) -> None:
    world = await run_world()
    peer.json("/ok", {"value": 1})
    world.create(analysis_run("ttl", web_metric("ok", f"{peer.url}/ok"),
                              ttlStrategy={"secondsAfterCompletion": 5}))
    assert (await world.reconcile("ttl")).requeue_after == 6.0  # whole seconds strictly past the TTL
    assert world.phase("ttl") == "Successful"
    world.clock.advance(5)
    assert (await world.reconcile("ttl")).requeue_after == 1.0
    assert world.run("ttl") is not None
    world.clock.advance(1)
    assert (await world.reconcile("ttl")).requeue_after is None
    assert world.run("ttl") is None


async def test_status_goes_to_the_subresource_where_the_crd_serves_one(run_world: MakeWorld,
                                                                      peer: Peer) -> None:
    world = await run_world()
    info = world.storage.registry.get(RUNS)
    world.storage.registry.register(sandbox_resources.ResourceInfo(
        info.group, info.versions, info.kind, info.plural, True, info.short_names, True, True))
    peer.json("/ok", {"value": 1})
    world.create(analysis_run("sub", web_metric("ok", f"{peer.url}/ok")))
    await world.reconcile("sub")
    assert world.phase("sub") == "Successful"
    assert _patches(world, "sub") == [("status", 200)]


async def test_a_write_from_a_stale_copy_is_refused(run_world: MakeWorld, peer: Peer) -> None:
    world = await run_world()
    peer.json("/ok", {"value": 1})
    world.create(analysis_run("stale", web_metric("ok", f"{peer.url}/ok", interval="10s")))
    await world.caught_up()
    await world.informers.analysis_runs.stop()  # the cache keeps the copy it has, and falls behind
    world.storage.merge_patch(RUNS, NS, "stale", {"metadata": {"labels": {"touched": "yes"}}})
    with pytest.raises(writing.Conflict):
        await world.reconciler.reconcile(f"{NS}/stale")
    assert "status" not in (world.run("stale") or {})  # the measurement taken on the stale copy is not kept
