"""Traffic probe: requests split by the rule weights read from moto (a 90/10 split within tolerance, seeded
and reproducible), failures when a registered target is not a Ready pod or a target group has no target, a
fixed response (missing action) or a missing ALB fails every request, header rules only catch requests
carrying the header, host rules only their host (case-insensitively), and
`requests == failed + sum(byService)`. Through the truthful AWS proxy: a group whose targets are all `initial`
fails until they are healthy; a group whose registered targets are all `unhealthy` fails open (requests still
fail on a pod that is not Ready), one with an `initial` target among them does not; which states serve."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sandbox import aws, traffic
from sandbox.apiserver.storage import Storage
from sandbox.aws_proxy import AwsProxy
from sandbox.lbc.health import Health
from tests.sandbox.lbc import manifests
from tests.sandbox.lbc.manifests import INGRESSES
from tests.sandbox.polling import DEADLINE, eventually, until

ACTION = "alb.ingress.kubernetes.io/actions.stable"


def _pods(storage: Storage, *, unready: tuple[str, ...] = ()) -> None:
    for index, ip in enumerate(["10.0.1.1", "10.0.1.2"]):
        manifests.ready_pod(storage, f"stable-{index}", ip, ready=ip not in unready, app="stable")
    manifests.ready_pod(storage, "canary-0", "10.0.2.1", ready="10.0.2.1" not in unready, app="canary")


async def _ready_alb(
    lbc: Any, storage: Storage, elbv2: Any, annotations: dict[str, str], **kwargs: Any
) -> None:
    storage.create(INGRESSES, manifests.ingress(annotations=annotations, **kwargs))

    async def registered() -> None:
        ingress = storage.get(INGRESSES, "default", "app")
        assert ingress["status"]["loadBalancer"]["ingress"]
        for tgb in storage.list(manifests.TGBS):
            health = await elbv2.describe_target_health(TargetGroupArn=tgb["spec"]["targetGroupARN"])
            assert health["TargetHealthDescriptions"]

    await eventually(registered)
    async with asyncio.timeout(DEADLINE):
        await lbc.settled()


def _consistent(result: traffic.ProbeResult) -> None:
    assert result.requests == result.failed + sum(result.by_service.values())


async def test_split_follows_rule_weights_and_is_reproducible(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1", "10.0.1.2"], canary=["10.0.2.1"])
    _pods(storage)
    await _ready_alb(lbc, storage, elbv2, {ACTION: manifests.forward(("canary", 10), ("stable", 90))})
    result = await traffic.probe(storage, elbv2, "default", "app", requests=4000, seed=3)
    _consistent(result)
    assert result.failed == 0
    assert set(result.by_service) == {"canary", "stable"}
    assert abs(result.by_service["canary"] / 4000 - 0.10) < 0.02
    again = await traffic.probe(storage, elbv2, "default", "app", requests=4000, seed=3)
    assert again == result
    assert result.as_dict() == {"requests": 4000, "failed": 0,
                                "byService": {"canary": result.by_service["canary"],
                                              "stable": result.by_service["stable"]}}


async def test_target_that_is_not_a_ready_pod_fails(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1", "10.0.1.2"], canary=["10.0.2.1"])
    _pods(storage, unready=("10.0.1.2",))  # registered (the slice still lists it) but not Ready: LBC lag
    await _ready_alb(lbc, storage, elbv2, {ACTION: manifests.forward(("canary", 0), ("stable", 100))})
    result = await traffic.probe(storage, elbv2, "default", "app", requests=2000, seed=1)
    _consistent(result)
    assert abs(result.failed / 2000 - 0.5) < 0.05
    assert set(result.by_service) == {"stable"}


async def test_target_group_without_targets_fails(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1"], canary=[])
    _pods(storage)
    storage.create(INGRESSES, manifests.ingress(annotations={ACTION: manifests.forward(("canary", 100),
                                                                                      ("stable", 0))}))

    async def no_canary_target() -> None:
        assert storage.get(INGRESSES, "default", "app")["status"]["loadBalancer"]["ingress"]
        result = await traffic.probe(storage, elbv2, "default", "app", requests=100)
        assert result == traffic.ProbeResult(requests=100, failed=100)

    await eventually(no_canary_target)


async def test_missing_action_or_alb_fails_every_request(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1"], canary=[])
    _pods(storage)
    storage.create(INGRESSES, manifests.ingress(name="plain", class_name="nginx", use_annotation=False))
    storage.create(INGRESSES, manifests.ingress())  # use-annotation without the annotation: fixed 503

    async def hostname() -> None:
        assert storage.get(INGRESSES, "default", "app")["status"]["loadBalancer"]["ingress"]

    await eventually(hostname)
    for name in ("app", "plain", "absent"):
        result = await traffic.probe(storage, elbv2, "default", name, requests=50)
        assert result.as_dict() == {"requests": 50, "failed": 50, "byService": {}}


async def test_header_rule_catches_only_requests_with_the_header(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1"], canary=["10.0.2.1"])
    _pods(storage)
    annotations = {
        "alb.ingress.kubernetes.io/actions.canary-route": manifests.forward(("canary", 100), ("stable", 0)),
        "alb.ingress.kubernetes.io/conditions.canary-route":
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Canary","values":["yes"]}}]',
        ACTION: manifests.forward(("canary", 0), ("stable", 100)),
    }
    paths = manifests.action_paths("canary-route", "stable")
    await _ready_alb(lbc, storage, elbv2, annotations, paths=paths)
    plain = await traffic.probe(storage, elbv2, "default", "app", requests=200)
    assert plain.as_dict() == {"requests": 200, "failed": 0, "byService": {"stable": 200}}
    hostname = storage.get(INGRESSES, "default", "app")["status"]["loadBalancer"]["ingress"][0]["hostname"]
    flagged = traffic.Request(host=hostname, path="/orders", headers=(("x-canary", "yes"),))
    routed = await traffic.probe(storage, elbv2, "default", "app", requests=200, request=flagged)
    assert routed.as_dict() == {"requests": 200, "failed": 0, "byService": {"canary": 200}}


async def test_host_rule_serves_its_host_and_defaults_others(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1"], canary=[])
    _pods(storage)
    await _ready_alb(lbc, storage, elbv2, {ACTION: manifests.forward(("stable", 100))},
                     host="shop.example.com")
    # The default request uses the Ingress rule's own host and path.
    assert (await traffic.probe(storage, elbv2, "default", "app", requests=20)).as_dict() == {
        "requests": 20, "failed": 0, "byService": {"stable": 20}}
    for request, served in [
        (traffic.Request(host="SHOP.example.com", path="/cart"), True),  # hosts match case-insensitively
        (traffic.Request(host="other.example.com", path="/"), False),  # default action: fixed 404
    ]:
        result = await traffic.probe(storage, elbv2, "default", "app", requests=20, request=request)
        assert result.failed == (0 if served else 20), request


async def _states(elbv2: Any, storage: Storage) -> list[str]:
    (tgb,) = [t for t in storage.list(manifests.TGBS) if t["spec"]["serviceRef"]["name"] == "stable"]
    described = await elbv2.describe_target_health(TargetGroupArn=tgb["spec"]["targetGroupARN"])
    return sorted(d["TargetHealth"]["State"] for d in described["TargetHealthDescriptions"])


async def test_initial_targets_serve_only_once_healthy(lbc, storage, elbv2_truth) -> None:
    lbc.configure({"targetInitialSeconds": 0.8})
    manifests.backend_pair(storage, stable=["10.0.1.1", "10.0.1.2"], canary=[])
    _pods(storage)
    storage.create(INGRESSES, manifests.ingress(annotations={ACTION: manifests.forward(("stable", 100))}))

    async def registered() -> list[str]:
        found = await _states(elbv2_truth, storage)
        assert len(found) == 2
        return found

    assert await eventually(registered, interval=0.01) == ["initial", "initial"]
    starting = await traffic.probe(storage, elbv2_truth, "default", "app", requests=100)
    assert await _states(elbv2_truth, storage) == ["initial", "initial"], "the probe outlasted the knob"
    assert starting == traffic.ProbeResult(requests=100, failed=100)

    async def serving() -> bool:
        result = await traffic.probe(storage, elbv2_truth, "default", "app", requests=100)
        return result.as_dict() == {"requests": 100, "failed": 0, "byService": {"stable": 100}}

    await until(serving, what="the stable targets serving")
    assert await _states(elbv2_truth, storage) == ["healthy", "healthy"]


class Claimed:
    """A registration clock that claims one state per target IP."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states

    def health(self, arn: str, target_id: str, port: int) -> Health | None:
        return Health(self.states[target_id]) if target_id in self.states else None

    def draining(self, arn: str) -> list[tuple[str, int]]:
        return []


@pytest.fixture
async def claimed(aws_endpoint: str) -> AsyncIterator[tuple[Claimed, Any]]:
    """An ELBv2 client through a proxy whose target health the test sets."""
    states = Claimed({})
    async with AwsProxy(aws_endpoint, health=states) as proxy, aws.client("elbv2", proxy.url) as elbv2:
        yield states, elbv2


async def test_all_unhealthy_fails_open(lbc, storage, elbv2, claimed) -> None:
    states, through = claimed
    manifests.backend_pair(storage, stable=["10.0.1.1", "10.0.1.2"], canary=["10.0.2.1"])
    _pods(storage, unready=("10.0.1.2",))
    await _ready_alb(lbc, storage, elbv2, {ACTION: manifests.forward(("canary", 0), ("stable", 100))})
    states.states.update({"10.0.1.1": "unhealthy", "10.0.1.2": "unhealthy"})
    result = await traffic.probe(storage, through, "default", "app", requests=2000, seed=2)
    _consistent(result)
    # Both unhealthy targets get requests, and 10.0.1.2 is not a Ready pod.
    assert abs(result.failed / 2000 - 0.5) < 0.05
    assert set(result.by_service) == {"stable"}
    states.states["10.0.1.2"] = "initial"  # an initial target ends fail-open, and does not serve itself
    assert await traffic.probe(storage, through, "default", "app", requests=50) == traffic.ProbeResult(
        requests=50, failed=50)


@pytest.mark.parametrize(("states", "serving"), [
    pytest.param({"a": "healthy", "b": "initial", "c": "unhealthy"}, ["a"], id="only-healthy-serves"),
    pytest.param({"a": "initial", "b": "draining", "c": "unused", "d": "unavailable"}, [], id="none-serves"),
    pytest.param({"a": "unhealthy", "b": "unhealthy", "c": "draining"}, ["a", "b"], id="fail-open"),
    pytest.param({"a": "unhealthy", "b": "initial"}, [], id="initial-ends-fail-open"),
    pytest.param({"a": "unhealthy.draining"}, [], id="draining-never-fails-open"),
    pytest.param({}, [], id="empty"),
])
def test_serving_targets(states: dict[str, str], serving: list[str]) -> None:
    descriptions = [{"Target": {"Id": ip, "Port": 8080}, "TargetHealth": {"State": state}}
                    for ip, state in states.items()]
    assert traffic.serving_targets(descriptions) == serving


async def test_a_remembered_listener_that_was_replaced_is_looked_up_again(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1", "10.0.1.2"], canary=["10.0.2.1"])
    _pods(storage)
    await _ready_alb(lbc, storage, elbv2, {ACTION: manifests.forward(("canary", 10), ("stable", 90))})
    lookups = traffic.Lookups()
    first = await traffic.probe(storage, elbv2, "default", "app", requests=200, seed=2, lookups=lookups)
    assert first.failed == 0 and first.load_balancer_arn is not None
    listener = lookups.listeners[first.load_balancer_arn]
    # as if the LBC had replaced it: the remembered ARN now names a listener ELBv2 does not know
    gone = listener.rsplit("/", 1)[0] + "/0123456789abcdef"
    lookups.listeners[first.load_balancer_arn] = gone
    again = await traffic.probe(storage, elbv2, "default", "app", requests=200, seed=2, lookups=lookups)
    assert again == first
    assert lookups.listeners[first.load_balancer_arn] == listener
