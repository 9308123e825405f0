"""Traffic probe: requests split by the rule weights read from moto (a 90/10 split within tolerance, seeded
and reproducible), failures when a registered target is not a Ready pod or a target group has no target, a
fixed response (missing action) or a missing ALB fails every request, header rules only catch requests
carrying the header, host rules only their host (case-insensitively), and
`requests == failed + sum(byService)`."""

from __future__ import annotations

import asyncio
from typing import Any

from sandbox import traffic
from sandbox.apiserver.storage import Storage
from tests.sandbox.lbc import manifests
from tests.sandbox.lbc.manifests import INGRESSES
from tests.sandbox.polling import DEADLINE, eventually

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
