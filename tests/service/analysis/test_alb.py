"""The `alb` provider against moto's CloudWatch, and the built-in `alb-canary-health` template.

Covers: a good canary (5xx ratio as the stable's) passes and a bad one (30% 5xx) fails the template's
conditions, resolved with its args and evaluated by statemachine.analysis_expr, as does the brief's combined
condition; one GetMetricData for both target groups with LoadBalancer + TargetGroup dimensions (data of
another target group, or older than the window, left out); no data (zero counts, errorRate 0.0, p99 NaN);
the value string; p99 as the largest per-period p99 (moto cannot compute percentiles: with TargetResponseTime
data it answers HTTP 500, pinned here); fullName, dimension value and ARN forms; missing, unknown and bad
fields as ProviderError naming the field; the registry's `alb` key; the template's YAML equal to builtin.py's,
valid for the engine, its fieldRef args resolved from a Rollout's status.alb; end to end, what the sandbox's
traffic probe recorded for a canary ReplicaSet failing 30% of its requests fails the template's 5xx metric,
read through the sandbox's AWS endpoint with the names as the Rollout status writes them, and passes once
the knob is off and the window has only good batches.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiobotocore.session import AioSession

from sandbox import aws
from sandbox.running import Sandbox
from service.analysis import builtin
from service.analysis.alb import AlbProvider, cloudwatch_request, dimension_value
from service.analysis.cloudwatch import CloudWatchProvider
from service.analysis.providers import Observation, ProviderError, providers_for
from service.clock import FakeClock
from statemachine import analysis_args, analysis_checks, analysis_expr, analysis_spec
from tests.sandbox.lbc import manifests
from tests.sandbox.polling import eventually

REGION = "us-east-1"
NOW = datetime.now(UTC).replace(microsecond=0)
LB = "k8s-default-web-abc/50dc6c495c0c9188"
CANARY = "k8s-default-canary-1a2b/73e2d6bc24d8a067"
STABLE = "k8s-default-stable-3c4d/0ee0e6e5bd0b1f2c"
FIELDS = {"loadBalancer": LB, "canaryTargetGroup": CANARY, "stableTargetGroup": STABLE}
COMBINED = ("result.canary.errorRate <= result.stable.errorRate + 0.01 && "
            "(isNaN(result.canary.p99) || result.canary.p99 <= result.stable.p99 * 1.5)")
ROOT = Path(__file__).resolve().parents[3]
ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012"


def _dimensions(target_group: str) -> list[dict[str, str]]:
    return [{"Name": "LoadBalancer", "Value": f"app/{LB}"},
            {"Name": "TargetGroup", "Value": f"targetgroup/{target_group}"}]


async def _put(session: AioSession, endpoint: str, points: list[tuple[str, str, float, int]]) -> None:
    """(target group, metric, value, seconds before NOW) as the ALB would publish them."""
    async with session.create_client("cloudwatch", region_name=REGION, endpoint_url=endpoint) as cw:
        await cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
            {"MetricName": metric, "Value": value, "Unit": "Count", "Dimensions": _dimensions(group),
             "Timestamp": NOW - timedelta(seconds=ago)}
            for group, metric, value, ago in points])


def _traffic(canary: tuple[int, int], stable: tuple[int, int]) -> list[tuple[str, str, float, int]]:
    """Requests and 5xx per target group, split over two minutes, plus noise the window must leave out."""
    points: list[tuple[str, str, float, int]] = []
    for group, (requests, errors) in ((CANARY, canary), (STABLE, stable)):
        for ago, share in ((150, 0.4), (30, 0.6)):
            points.append((group, "RequestCount", round(requests * share), ago))
            if errors:
                points.append((group, "HTTPCode_Target_5XX_Count", round(errors * share), ago))
        points.append((group, "HTTPCode_Target_5XX_Count", 1000.0, 900))  # before the 5m window
    points.append(("other-tg/1111111111111111", "HTTPCode_Target_5XX_Count", 500.0, 30))
    return points


@pytest.fixture
async def alb(aws_endpoint: str, cw_session: AioSession) -> AsyncIterator[AlbProvider]:
    made = AlbProvider(CloudWatchProvider(FakeClock(start=NOW), region=REGION, endpoint_url=aws_endpoint,
                                          session=cw_session))
    yield made
    await made.aclose()


def _template_metric(name: str) -> analysis_spec.Metric:
    """The built-in template's metric with its args put in (defaults for the optional ones)."""
    spec = analysis_spec.parse_spec(builtin.BUILTIN_TEMPLATES[builtin.ALB_CANARY_HEALTH]["spec"])
    given = {"load-balancer": LB, "canary-target-group": CANARY, "stable-target-group": STABLE}
    args = [analysis_spec.Argument(a.name, given.get(a.name, a.value)) for a in spec.args]
    (metric,) = [m for m in spec.metrics if m.name == name]
    return analysis_args.resolve_metric(metric, args)


async def _phases(alb: AlbProvider) -> dict[str, str]:
    phases: dict[str, str] = {}
    for name in ("canary-5xx-ratio", "canary-p99-latency"):
        metric = _template_metric(name)
        observed = await alb.measure(metric.provider, timeout=20)
        phases[name] = analysis_expr.measurement_phase(observed.result, metric.success_condition,
                                                       metric.failure_condition)
    return phases


async def test_good_canary_passes(alb: AlbProvider, aws_endpoint: str, cw_session: AioSession) -> None:
    await _put(cw_session, aws_endpoint, _traffic(canary=(200, 2), stable=(1800, 18)))
    observed = await alb.measure(FIELDS, timeout=20)
    result: Any = observed.result
    assert {side: {k: v for k, v in values.items() if k != "p99"} for side, values in result.items()} == {
        "canary": {"requests": 200, "errors": 2, "errorRate": 0.01},
        "stable": {"requests": 1800, "errors": 18, "errorRate": 0.01}}
    assert math.isnan(result["canary"]["p99"]) and math.isnan(result["stable"]["p99"])
    assert observed.value == ('{"canary":{"requests":200,"errors":2,"errorRate":0.01,"p99":NaN},'
                              '"stable":{"requests":1800,"errors":18,"errorRate":0.01,"p99":NaN}}')
    assert analysis_expr.condition(COMBINED, result)
    assert await _phases(alb) == {"canary-5xx-ratio": "Successful", "canary-p99-latency": "Successful"}


async def test_bad_canary_fails(alb: AlbProvider, aws_endpoint: str, cw_session: AioSession) -> None:
    await _put(cw_session, aws_endpoint, _traffic(canary=(200, 60), stable=(1800, 18)))
    result: Any = (await alb.measure(FIELDS, timeout=20)).result
    assert (result["canary"]["errors"], result["canary"]["errorRate"]) == (60, 0.3)
    assert not analysis_expr.condition(COMBINED, result)
    assert await _phases(alb) == {"canary-5xx-ratio": "Failed", "canary-p99-latency": "Successful"}


async def test_no_data(alb: AlbProvider) -> None:
    observed = await alb.measure({**FIELDS, "interval": "1m"}, timeout=20)
    result: Any = observed.result
    for side in ("canary", "stable"):
        assert result[side]["requests"] == result[side]["errors"] == 0
        assert result[side]["errorRate"] == 0.0 and math.isnan(result[side]["p99"])
    assert observed.value == ('{"canary":{"requests":0,"errors":0,"errorRate":0,"p99":NaN},'
                              '"stable":{"requests":0,"errors":0,"errorRate":0,"p99":NaN}}')
    assert await _phases(alb) == {"canary-5xx-ratio": "Successful", "canary-p99-latency": "Successful"}


async def test_moto_cannot_compute_p99(alb: AlbProvider, aws_endpoint: str, cw_session: AioSession) -> None:
    async with cw_session.create_client("cloudwatch", region_name=REGION, endpoint_url=aws_endpoint) as cw:
        await cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[{
            "MetricName": "TargetResponseTime", "Unit": "Seconds", "Values": [0.01, 0.5], "Counts": [99, 1],
            "Dimensions": _dimensions(CANARY), "Timestamp": NOW - timedelta(seconds=30)}])
    try:
        result: Any = (await alb.measure(FIELDS, timeout=20)).result
    except ProviderError as err:  # moto 5.2.5: the percentile is None and its serializer answers HTTP 500
        assert "StatusCode: 500" in str(err)
    else:  # a moto that computes percentiles
        assert 0.01 <= result["canary"]["p99"] <= 0.5


def test_p99_is_the_largest_per_period_p99() -> None:
    from service.analysis import alb as module

    def found(query_id: str, values: list[float]) -> dict[str, Any]:
        return {"Id": query_id, "StatusCode": "Complete", "Values": values, "Messages": []}

    observed = Observation(result=[found("canary_p99", [0.2, 0.35]), found("stable_p99", [0.1]),
                                   found("canary_requests", [10.0, 5.0])], value="")
    result: Any = module._observation(observed).result
    assert (result["canary"]["p99"], result["stable"]["p99"], result["canary"]["requests"]) == (0.35, 0.1, 15)
    assert not analysis_expr.condition(_template_metric("canary-p99-latency").success_condition, result)
    broken = Observation(result=[{"Id": "stable_errors", "StatusCode": "Forbidden",
                                  "Messages": [{"Code": "x", "Value": "no access"}]}], value="")
    with pytest.raises(ProviderError, match="stable_errors with Forbidden: no access"):
        module._observation(broken)


def test_one_request_for_both_target_groups() -> None:
    request = cloudwatch_request({**FIELDS, "interval": "90s"})
    queries = request["metricDataQueries"]
    assert request["interval"] == "90s"
    assert [q["id"] for q in queries] == ["canary_requests", "canary_errors", "canary_p99",
                                          "stable_requests", "stable_errors", "stable_p99"]
    assert {(q["metricStat"]["metric"]["metricName"], q["metricStat"]["stat"]) for q in queries} == {
        ("RequestCount", "Sum"), ("HTTPCode_Target_5XX_Count", "Sum"), ("TargetResponseTime", "p99")}
    dimensions = [{"name": "LoadBalancer", "value": f"app/{LB}"},
                  {"name": "TargetGroup", "value": f"targetgroup/{STABLE}"}]
    assert queries[3]["metricStat"]["metric"] == {"namespace": "AWS/ApplicationELB",
                                                  "metricName": "RequestCount", "dimensions": dimensions}
    assert {q["metricStat"]["period"] for q in queries} == {120}  # the window, in whole minutes
    for period, seconds in (("1m", 60), (300, 300), ("600", 600)):
        assert cloudwatch_request({**FIELDS, "period": period})["metricDataQueries"][0]["metricStat"][
            "period"] == seconds


@pytest.mark.parametrize(("field", "given", "expected"), [
    ("loadBalancer", LB, f"app/{LB}"),
    ("loadBalancer", f"app/{LB}", f"app/{LB}"),
    ("loadBalancer", f"{ARN}:loadbalancer/app/{LB}", f"app/{LB}"),
    ("canaryTargetGroup", CANARY, f"targetgroup/{CANARY}"),
    ("stableTargetGroup", f"targetgroup/{STABLE}", f"targetgroup/{STABLE}"),
    ("stableTargetGroup", f"{ARN}:targetgroup/{STABLE}", f"targetgroup/{STABLE}"),
])
def test_names_in_every_form(field: str, given: str, expected: str) -> None:
    assert dimension_value(field, given) == expected


@pytest.mark.parametrize(("fields", "message"), [
    pytest.param({"canaryTargetGroup": CANARY, "stableTargetGroup": STABLE},
                 "alb provider: missing loadBalancer", id="missing-lb"),
    pytest.param({**FIELDS, "canaryTargetGroup": ""}, "alb provider: missing canaryTargetGroup",
                 id="empty-canary"),
    pytest.param({"loadBalancer": LB, "canaryTargetGroup": CANARY},
                 "alb provider: missing stableTargetGroup", id="missing-stable"),
    pytest.param({**FIELDS, "loadBalancer": 7}, "alb provider: loadBalancer must be a string",
                 id="not-string"),
    pytest.param({**FIELDS, "loadBalancer": "net/nlb/1"},
                 "alb provider: loadBalancer 'net/nlb/1' is not an ALB load balancer", id="nlb"),
    pytest.param({**FIELDS, "stableTargetGroup": "x"}, "alb provider: stableTargetGroup 'x' is not an ALB "
                 "target group", id="bad-tg"),
    pytest.param({**FIELDS, "intreval": "1m"}, "alb provider: unknown field(s) intreval", id="typo"),
    pytest.param({**FIELDS, "interval": "5"}, 'time: missing unit in duration "5"', id="bad-interval"),
    pytest.param({**FIELDS, "period": "0s"}, "alb provider: period must be a whole number of seconds > 0",
                 id="bad-period"),
])
async def test_bad_fields(alb: AlbProvider, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ProviderError) as raised:
        await alb.measure(fields, timeout=20)
    assert str(raised.value).startswith(message)


async def test_registered_as_alb() -> None:
    providers = providers_for(FakeClock(start=NOW), environ={"AWS_REGION": REGION})
    chosen, config = providers.select("canary-5xx-ratio", {"alb": FIELDS})
    assert isinstance(chosen, AlbProvider) and config == FIELDS
    await providers.aclose()


def test_template_ships_as_written_and_is_valid() -> None:
    written = (ROOT / "k8s" / "analysis" / "alb-canary-health.yaml").read_text()
    assert written == builtin.ALB_CANARY_HEALTH_YAML
    document = builtin.BUILTIN_TEMPLATES["alb-canary-health"]
    assert yaml.safe_load(written) == document
    assert document["kind"] == "ClusterAnalysisTemplate"
    assert document["metadata"]["name"] == "alb-canary-health"
    metrics = tuple(_template_metric(name) for name in ("canary-5xx-ratio", "canary-p99-latency"))
    assert analysis_checks.validate_metrics(metrics) is None
    assert {m.provider_name for m in metrics} == {"alb"}
    assert all(m.failure_limit == 1 and m.interval == "1m" for m in metrics)


def test_rollout_status_feeds_the_template_args() -> None:
    rollout = {"metadata": {"name": "web"}, "status": {"alb": {
        "loadBalancer": {"name": "k8s-default-web-abc", "fullName": LB},
        "canaryTargetGroup": {"fullName": CANARY}, "stableTargetGroup": {"fullName": STABLE}}}}
    names = (("load-balancer", "loadBalancer"), ("canary-target-group", "canaryTargetGroup"),
             ("stable-target-group", "stableTargetGroup"))
    raw_args = [{"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"status.alb.{field}.fullName"}}}
                for name, field in names]
    args = analysis_args.rollout_args(raw_args, rollout, stable_hash="s", latest_hash="l")
    assert [(a.name, a.value) for a in args] == [("load-balancer", LB), ("canary-target-group", CANARY),
                                                 ("stable-target-group", STABLE)]
    with pytest.raises(analysis_args.ArgError, match=r"invalid path status\.alb\.loadBalancer\.fullName"):
        analysis_args.rollout_args(raw_args[:1], {"status": {}}, stable_hash="s", latest_hash="l")


async def _control(method: str, url: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as session, \
            session.request(method, url, data=None if body is None else json.dumps(body)) as reply:
        assert reply.status == 200, await reply.text()
        return await reply.json()


async def test_sandbox_recorded_traffic_end_to_end(moto_server: aws.MotoServer, aws_endpoint: str,
                                                   cw_session: AioSession) -> None:
    logging.getLogger("sandbox.lbc").setLevel(logging.ERROR)
    async with Sandbox(moto=moto_server, bookmark_interval=0.2, watch_timeout=5.0) as sandbox:
        control = sandbox.state.control
        for name, replicas in (("stable", 2), ("canary", 1)):
            sandbox.storage.create("services", manifests.service(name))
            made = manifests.replica_set(name, replicas, app=name)
            made["spec"]["template"]["metadata"]["labels"]["rollouts-pod-template-hash"] = f"{name}-hash"
            sandbox.storage.create("replicasets.apps", made)
        action = manifests.forward(("canary", 20), ("stable", 80))
        sandbox.storage.create(manifests.INGRESSES, manifests.ingress(
            annotations={"alb.ingress.kubernetes.io/actions.stable": action}))
        probe = f"{control}/traffic?requests=1000&ingress=default/app"

        async def served() -> None:
            body = await _control("GET", probe)
            assert body["failed"] == 0 and set(body["byService"]) == {"canary", "stable"}

        await eventually(served)  # recording is still off: only the batches below reach CloudWatch
        # The names as the controller writes them into status.alb (fullName: no app/ or targetgroup/).
        async with aws.client("elbv2", sandbox.state.aws_endpoint_url) as elbv2:
            (lb,) = (await elbv2.describe_load_balancers())["LoadBalancers"]
        groups = {tgb["spec"]["serviceRef"]["name"]: tgb["spec"]["targetGroupARN"].split(":targetgroup/")[1]
                  for tgb in sandbox.storage.list(manifests.TGBS)}
        fields = {"loadBalancer": lb["LoadBalancerArn"].split(":loadbalancer/app/")[1],
                  "canaryTargetGroup": groups["canary"], "stableTargetGroup": groups["stable"]}
        metric = _template_metric("canary-5xx-ratio")

        async def measured() -> Any:
            # The window must end after the batches just recorded (moto: StartTime <= t < EndTime).
            clock = FakeClock(start=datetime.now(UTC) + timedelta(seconds=2))
            alb = AlbProvider(CloudWatchProvider(clock, region=REGION, session=cw_session,
                                                 endpoint_url=sandbox.state.aws_endpoint_url))
            try:
                result = (await alb.measure({**metric.provider, **fields}, timeout=20)).result
            finally:
                await alb.aclose()
            return result, analysis_expr.measurement_phase(result, metric.success_condition, "")

        await _control("POST", f"{control}/traffic", {"recordMetrics": True})
        for seed in range(3):
            await _control("GET", f"{probe}&seed={seed}")
        good, phase = await measured()
        assert good["canary"]["requests"] + good["stable"]["requests"] == 3000
        assert good["canary"]["errors"] == good["stable"]["errors"] == 0 and phase == "Successful"

        await _control("POST", f"{control}/traffic", {"failingHashes": {"canary-hash": 0.3}})
        for seed in range(3, 6):
            await _control("GET", f"{probe}&seed={seed}")
        bad, phase = await measured()  # half the canary's requests in the window came from a failing pod
        assert 0.1 < bad["canary"]["errorRate"] < 0.2 and bad["stable"]["errors"] == 0
        assert phase == "Failed"
