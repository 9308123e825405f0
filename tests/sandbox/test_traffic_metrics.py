"""The traffic probe's target answers and what the sandbox's ALB reports to CloudWatch.

Covers: POST /traffic knobs (round trip, a bad body refused as a whole, unknown knobs); with the failing
knob off a probe answers as it always has (no `target5xx`, nothing recorded while `recordMetrics` is off);
with it on, the canary ReplicaSet's pods (label rollouts-pod-template-hash) answer about 30% 5xx, counted
in `target5xx` and not in `failed`, the routing of a seed unchanged; with `recordMetrics`, GetMetricData
through the sandbox's AWS endpoint reads per target group (LoadBalancer `app/...` + TargetGroup
`targetgroup/...` from the ARNs) the probe's RequestCount and HTTPCode_Target_5XX_Count, none for the stable;
TargetResponseTime recorded on request (sample count and range read back: moto has no percentiles); the
PutMetricData shape (5xx only when non-zero, Values chunked by 150).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from sandbox import alb_metrics, aws, traffic
from sandbox.apiserver.storage import Storage
from sandbox.running import Sandbox
from tests.sandbox.lbc import manifests
from tests.sandbox.lbc.manifests import INGRESSES, TGBS
from tests.sandbox.polling import eventually

ACTION = "alb.ingress.kubernetes.io/actions.stable"
HASHES = {"stable": "6b8f9c7d5", "canary": "5f7c8d9e4"}


async def _call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body) if body is not None else None
    async with aiohttp.ClientSession() as session, session.request(method, url, data=data) as response:
        return response.status, json.loads(await response.text())


def _rollout_pair(storage: Storage) -> None:
    """Services stable and canary over ReplicaSets whose pods carry a rollouts-pod-template-hash."""
    for name, replicas in (("stable", 2), ("canary", 1)):
        storage.create("services", manifests.service(name))
        made = manifests.replica_set(name, replicas, app=name)
        made["spec"]["template"]["metadata"]["labels"][traffic.HASH_LABEL] = HASHES[name]
        storage.create("replicasets.apps", made)
    storage.create(INGRESSES, manifests.ingress(annotations={ACTION: manifests.forward(("canary", 50),
                                                                                      ("stable", 50))}))


async def _served(url: str) -> dict[str, Any]:
    async def both() -> dict[str, Any]:
        status, body = await _call("GET", url)
        assert status == 200 and body["failed"] == 0 and set(body["byService"]) == {"canary", "stable"}
        return dict(body)

    return await eventually(both)


async def _dimension_values(sandbox: Sandbox, elbv2: Any) -> dict[str, tuple[str, str]]:
    """Service -> (LoadBalancer, TargetGroup) dimension values, read from ELBv2 and the TGBs."""
    (lb,) = (await elbv2.describe_load_balancers())["LoadBalancers"]
    load_balancer = "app/" + str(lb["LoadBalancerArn"]).split(":loadbalancer/app/")[1]
    return {tgb["spec"]["serviceRef"]["name"]:
            (load_balancer, "targetgroup/" + tgb["spec"]["targetGroupARN"].split(":targetgroup/")[1])
            for tgb in sandbox.storage.list(TGBS)}


async def _sums(cloudwatch: Any, values: dict[str, tuple[str, str]], metric: str,
                stat: str = "Sum") -> dict[str, list[float]]:
    now = datetime.now(UTC)
    queries = [{"Id": f"q{index}", "Label": service, "MetricStat": {"Metric": {
        "Namespace": "AWS/ApplicationELB", "MetricName": metric,
        "Dimensions": [{"Name": "LoadBalancer", "Value": lb}, {"Name": "TargetGroup", "Value": tg}]},
        "Period": 600, "Stat": stat}} for index, (service, (lb, tg)) in enumerate(sorted(values.items()))]
    answer = await cloudwatch.get_metric_data(StartTime=now - timedelta(minutes=5),
                                              EndTime=now + timedelta(minutes=5), MetricDataQueries=queries)
    return {r["Label"]: list(r["Values"]) for r in answer["MetricDataResults"]}


async def test_failing_canary_is_recorded_per_target_group(sandbox: Sandbox) -> None:
    control = sandbox.state.control
    _rollout_pair(sandbox.storage)
    url = f"{control}/traffic?requests=2000&ingress=default/app&seed=4"
    plain = await _served(url)
    assert set(plain) == {"requests", "failed", "byService"}  # knob off: no target5xx, as always
    knobs = {"failingHashes": {HASHES["canary"]: 0.3}, "recordMetrics": True}
    assert await _call("POST", f"{control}/traffic", knobs) == (200, {**knobs, "recordResponseTimes": False})
    failing = (await _call("GET", url))[1]
    assert failing["byService"] == plain["byService"] and failing["failed"] == 0  # same routing
    canary_5xx = failing["target5xxByService"]["canary"]
    assert failing["target5xx"] == canary_5xx and set(failing["target5xxByService"]) == {"canary"}
    assert abs(canary_5xx / failing["byService"]["canary"] - 0.3) < 0.05

    async with aws.client("elbv2", sandbox.state.aws_endpoint_url) as elbv2, \
            aws.client("cloudwatch", sandbox.state.aws_endpoint_url) as cloudwatch:
        values = await _dimension_values(sandbox, elbv2)
        assert await _sums(cloudwatch, values, "RequestCount") == {
            name: [float(count)] for name, count in failing["byService"].items()}
        assert await _sums(cloudwatch, values, "HTTPCode_Target_5XX_Count") == {
            "canary": [float(canary_5xx)], "stable": []}
        assert await _sums(cloudwatch, values, "TargetResponseTime", "SampleCount") == {
            "canary": [], "stable": []}


async def test_traffic_knobs_are_checked_whole(sandbox: Sandbox) -> None:
    url = f"{sandbox.state.control}/traffic"
    defaults = {"failingHashes": {}, "recordMetrics": False, "recordResponseTimes": False}
    assert await _call("POST", url, {}) == (200, defaults)
    for body, message in [
        ({"failingHashes": {"abc": 1.5}}, "failingHashes.abc must be a number from 0 to 1"),
        ({"failingHashes": ["abc"]}, "failingHashes must be an object"),
        ({"recordMetrics": True, "failingHashes": {"abc": "half"}}, "failingHashes.abc must be a number"),
        ({"recordMetrics": "yes"}, "recordMetrics must be true or false"),
        ({"failing": {}}, "unknown knob(s): failing"),
    ]:
        status, answer = await _call("POST", url, body)
        assert status == 400 and answer["error"].startswith(message), answer
    assert await _call("POST", url, {}) == (200, defaults)  # nothing of a refused body was applied
    assert sandbox.control is not None and sandbox.control.traffic_knobs == alb_metrics.TrafficKnobs()


async def test_response_times_recorded_on_request(lbc, storage, elbv2, aws_endpoint) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1"], canary=[])
    manifests.ready_pod(storage, "stable-0", "10.0.1.1")
    storage.create(INGRESSES, manifests.ingress(annotations={ACTION: manifests.forward(("stable", 100))}))

    async def served() -> traffic.ProbeResult:
        result = await traffic.probe(storage, elbv2, "default", "app", requests=300, seed=1)
        assert result.failed == 0
        return result

    result = await eventually(served)
    (answered,) = result.by_target_group.values()
    assert answered.requests == 300 and answered.target_5xx == 0
    assert sum(count for _, count in answered.response_times) == 300
    assert all(seconds >= 0.005 for seconds, _ in answered.response_times)
    async with aws.client("cloudwatch", aws_endpoint) as cloudwatch:
        put = await alb_metrics.record(cloudwatch, result, at=datetime.now(UTC), response_times=True)
        assert put == 1 + -(-len(answered.response_times) // 150)  # RequestCount, then the times in chunks
        (tgb,) = storage.list(TGBS)
        values = {"stable": ("app/" + result.load_balancer_arn.split(":loadbalancer/app/")[1],
                             "targetgroup/" + tgb["spec"]["targetGroupARN"].split(":targetgroup/")[1])}
        assert alb_metrics.dimensions(result.load_balancer_arn, tgb["spec"]["targetGroupARN"]) == [
            {"Name": "LoadBalancer", "Value": values["stable"][0]},
            {"Name": "TargetGroup", "Value": values["stable"][1]}]
        assert await _sums(cloudwatch, values, "TargetResponseTime", "SampleCount") == {"stable": [300.0]}
        (maximum,) = (await _sums(cloudwatch, values, "TargetResponseTime", "Maximum"))["stable"]
        assert maximum == answered.response_times[-1][0]
        assert await _sums(cloudwatch, values, "HTTPCode_Target_5XX_Count") == {"stable": []}


def test_metric_data_shape() -> None:
    lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
    tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/canary/73e2d6bc24d8a067"
    times = tuple((0.001 * i, 2) for i in range(1, 302))
    result = traffic.ProbeResult(requests=700, failed=98, by_service={"canary": 602}, target_5xx=7,
                                 target_5xx_by_service={"canary": 7}, load_balancer_arn=lb,
                                 by_target_group={tg: traffic.TargetGroupTraffic(602, 7, times)})
    at = datetime(2026, 1, 1, tzinfo=UTC)
    dims = [{"Name": "LoadBalancer", "Value": "app/web/50dc6c495c0c9188"},
            {"Name": "TargetGroup", "Value": "targetgroup/canary/73e2d6bc24d8a067"}]
    data = alb_metrics.metric_data(result, at=at, response_times=True)
    assert [(d["MetricName"], d.get("Value"), len(d.get("Values", []))) for d in data] == [
        ("RequestCount", 602.0, 0), ("HTTPCode_Target_5XX_Count", 7.0, 0), ("TargetResponseTime", None, 150),
        ("TargetResponseTime", None, 150), ("TargetResponseTime", None, 1)]
    assert all(d["Dimensions"] == dims and d["Timestamp"] == at for d in data)
    assert sum(sum(d.get("Counts", [])) for d in data) == 602
    assert [d["MetricName"] for d in alb_metrics.metric_data(result, at=at)] == [
        "RequestCount", "HTTPCode_Target_5XX_Count"]
    assert alb_metrics.metric_data(traffic.ProbeResult(requests=5, failed=5), at=at) == []
    assert result.as_dict() == {"requests": 700, "failed": 98, "byService": {"canary": 602},
                                "target5xx": 7, "target5xxByService": {"canary": 7}}
