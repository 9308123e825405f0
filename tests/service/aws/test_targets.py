"""Target IP verification against moto through aiobotocore.

Aspects: all ready endpoints registered; a missing target; extra targets (reported, not failing); draining
targets do not count (moto cannot drain, an after-call hook marks them); named and numeric target ports
(resolved per EndpointSlice); serviceRef.port by number and by name, and one that matches nothing;
not-ready endpoints ignored; instance-mode bindings reported as not verifiable; no binding -> nothing to
verify; a binding by targetGroupName; AccessDenied becomes a result; a Service without ready endpoints;
metrics by result; concurrent checks of one target group share one DescribeTargetHealth, and a check left
unverified waits for the next shared read (never the same answer again); pure helpers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from service.aws import targets

NS = "default"


def service(name: str = "stable", ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS},
            "spec": {"ports": ports or [{"name": "http", "port": 80, "targetPort": 8080}]}}


def binding(arn: str, *, port: Any = 80, target_type: str = "ip", svc: str = "stable",
            name: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"targetType": target_type, "serviceRef": {"name": svc, "port": port}}
    if arn.startswith("arn:"):
        spec["targetGroupARN"] = arn
    else:
        spec["targetGroupName"] = arn
    return {"metadata": {"name": name or f"tgb-{svc}", "namespace": NS}, "spec": spec}


def endpoint_slice(ips: list[str], *, port: int = 8080, port_name: str = "http", svc: str = "stable",
                   not_ready: tuple[str, ...] = ()) -> dict[str, Any]:
    endpoints = [{"addresses": [ip], "conditions": {"ready": ip not in not_ready}} for ip in ips]
    labels = {"kubernetes.io/service-name": svc}
    return {"metadata": {"name": f"{svc}-abc", "namespace": NS, "labels": labels},
            "addressType": "IPv4", "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": endpoints}


async def test_all_ready_endpoints_registered(lbc, sut):
    tg = await lbc.target_group(NS, "app", "stable")
    await lbc.register(tg, [("10.0.1.1", 8080), ("10.0.1.2", 8080)])
    s = await sut()
    outcome = await s.targets.verify(service(), [binding(tg)], [endpoint_slice(["10.0.1.1", "10.0.1.2"])])
    assert outcome.verified is True
    assert [g.to_dict() for g in outcome.target_groups] == [
        {"service": "stable", "targetGroup": tg, "registered": 2, "total": 2, "verified": True}]
    assert outcome.target_groups[0].reason == "2/2 endpoints registered"
    assert s.client.calls["DescribeTargetHealth"] == 1
    assert s.registry.get_sample_value("alb_target_verifications_total", {"result": "verified"}) == 1


async def test_missing_and_extra_targets(lbc, sut):
    tg = await lbc.target_group(NS, "app", "stable")
    await lbc.register(tg, [("10.0.1.1", 8080), ("10.0.1.9", 8080)])
    s = await sut()
    outcome = await s.targets.verify(service(), [binding(tg)], [endpoint_slice(["10.0.1.1", "10.0.1.2"])])
    assert outcome.verified is False
    group = outcome.target_groups[0]
    assert (group.registered, group.total, group.missing, group.extra) == (1, 2, ("10.0.1.2:8080",),
                                                                           ("10.0.1.9:8080",))
    assert group.reason == (
        "1/2 endpoints registered; not registered: 10.0.1.2:8080; also registered (not ready endpoints of "
        "the Service): 10.0.1.9:8080")
    assert s.registry.get_sample_value("alb_target_verifications_total", {"result": "unverified"}) == 1


async def test_extra_targets_alone_do_not_fail(lbc, sut):
    tg = await lbc.target_group(NS, "app", "stable")
    await lbc.register(tg, [("10.0.1.1", 8080), ("10.0.1.9", 8080)])
    s = await sut()
    outcome = await s.targets.verify(service(), [binding(tg)], [endpoint_slice(["10.0.1.1"])])
    assert outcome.verified is True
    assert outcome.target_groups[0].extra == ("10.0.1.9:8080",)


async def test_draining_targets_do_not_count(lbc, sut):
    tg = await lbc.target_group(NS, "app", "stable")
    await lbc.register(tg, [("10.0.1.1", 8080), ("10.0.1.2", 8080)])
    s = await sut()

    def drain(parsed: dict[str, Any], **_: Any) -> None:
        for item in parsed.get("TargetHealthDescriptions", []):
            if item["Target"]["Id"] == "10.0.1.2":
                item["TargetHealth"] = {"State": "draining", "Reason": "Target.DeregistrationInProgress"}

    s.client.client.meta.events.register("after-call.elastic-load-balancing-v2.DescribeTargetHealth", drain)
    outcome = await s.targets.verify(service(), [binding(tg)], [endpoint_slice(["10.0.1.1", "10.0.1.2"])])
    assert outcome.verified is False
    assert outcome.target_groups[0].missing == ("10.0.1.2:8080",)


@pytest.mark.parametrize(("ports", "ref_port", "slice_port"), [
    pytest.param([{"name": "http", "port": 80, "targetPort": "web"}], 80, 9090, id="named-target-port"),
    pytest.param([{"name": "http", "port": 80, "targetPort": 9090}], "http", 9090, id="ref-by-port-name"),
    pytest.param([{"name": "admin", "port": 81, "targetPort": 7070},
                  {"name": "http", "port": 80, "targetPort": "web"}], 80, 9090, id="second-port"),
])
async def test_target_ports(lbc, sut, ports, ref_port, slice_port):
    tg = await lbc.target_group(NS, "app", "stable")
    await lbc.register(tg, [("10.0.1.1", slice_port)])
    s = await sut()
    slices = [endpoint_slice(["10.0.1.1"], port=slice_port)]
    if len(ports) == 2:
        slices[0]["ports"].insert(0, {"name": "admin", "port": 7070})
    outcome = await s.targets.verify(service(ports=ports), [binding(tg, port=ref_port)], slices)
    assert outcome.verified is True, outcome.target_groups[0].reason


async def test_not_ready_endpoints_are_not_expected(lbc, sut):
    tg = await lbc.target_group(NS, "app", "stable")
    await lbc.register(tg, [("10.0.1.1", 8080)])
    s = await sut()
    slices = [endpoint_slice(["10.0.1.1", "10.0.1.2"], not_ready=("10.0.1.2",))]
    outcome = await s.targets.verify(service(), [binding(tg)], slices)
    assert outcome.verified is True
    assert (outcome.target_groups[0].registered, outcome.target_groups[0].total) == (1, 1)


async def test_instance_mode_is_reported_not_verifiable(lbc, sut):
    tg = await lbc.target_group(NS, "app", "stable", target_type="instance")
    s = await sut()
    outcome = await s.targets.verify(service(), [binding(tg, target_type="instance")],
                                     [endpoint_slice(["10.0.1.1"])])
    group = outcome.target_groups[0]
    assert outcome.verified is False
    assert (group.verified, group.verifiable) == (False, False)
    assert group.reason == (
        "TargetGroupBinding tgb-stable uses targetType instance: node instances are registered, pod IPs "
        "cannot be verified")
    assert "DescribeTargetHealth" not in s.client.calls


async def test_no_binding_means_nothing_to_verify(sut):
    s = await sut()
    other = binding("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/1", svc="other")
    outcome = await s.targets.verify(service(), [other], [endpoint_slice(["10.0.1.1"])])
    assert outcome.verified is True
    assert outcome.target_groups == ()
    assert sum(s.client.calls.values()) == 0


async def test_service_ref_port_matching_nothing(sut):
    s = await sut()
    arn = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/1"
    outcome = await s.targets.verify(service(), [binding(arn, port=8443)], [endpoint_slice(["10.0.1.1"])])
    assert outcome.verified is False
    assert outcome.target_groups[0].reason == (
        "TargetGroupBinding tgb-stable: spec.serviceRef.port matches no port of Service stable")


async def test_binding_by_target_group_name(lbc, sut):
    tg = await lbc.target_group(NS, "app", "stable")
    await lbc.register(tg, [("10.0.1.1", 8080)])
    s = await sut()
    outcome = await s.targets.verify(service(), [binding(tg.split("/")[1])], [endpoint_slice(["10.0.1.1"])])
    assert outcome.verified is True
    assert outcome.target_groups[0].target_group == tg


async def test_binding_naming_an_unknown_target_group(sut):
    s = await sut()
    outcome = await s.targets.verify(service(), [binding("k8s-nope")], [endpoint_slice(["10.0.1.1"])])
    assert outcome.verified is False
    assert outcome.target_groups[0].error is True
    assert outcome.target_groups[0].reason.startswith(
        "elasticloadbalancing:DescribeTargetGroups failed (TargetGroupNotFound)")


async def test_access_denied_becomes_a_result(lbc, sut):
    tg = await lbc.target_group(NS, "app", "stable")
    s = await sut()
    s.faults.fail("DescribeTargetHealth", "AccessDenied")
    outcome = await s.targets.verify(service(), [binding(tg)], [endpoint_slice(["10.0.1.1"])])
    assert outcome.verified is False
    assert outcome.error == (
        "AWS denied elasticloadbalancing:DescribeTargetHealth (AccessDenied): AccessDenied; grant the "
        "controller's role this IAM action")
    assert s.registry.get_sample_value("alb_target_verifications_total", {"result": "error"}) == 1


async def test_service_without_ready_endpoints_is_not_verified(lbc, sut):
    tg = await lbc.target_group(NS, "app", "stable")
    s = await sut()
    outcome = await s.targets.verify(service(), [binding(tg)], [])
    assert outcome.verified is False
    assert outcome.target_groups[0].reason == (
        "Service stable has no ready endpoints to find in the target group")


async def test_concurrent_checks_of_one_target_group_share_each_read(lbc, sut, clock):
    tg = await lbc.target_group(NS, "app", "stable")
    s = await sut(read_window=0.2, sleep=clock.sleep)
    names = [f"svc{i}" for i in range(10)]  # ten Services (rollouts) bound to one target group

    async def check_all() -> list[bool]:
        outcomes = await asyncio.gather(*(
            s.targets.verify(service(n), [binding(tg, svc=n)], [endpoint_slice(["10.0.1.1"], svc=n)])
            for n in names))
        return [o.verified for o in outcomes]

    assert await check_all() == [False] * 10
    assert s.client.calls["DescribeTargetHealth"] == 1
    # Registered while the first answer is still fresh: the ten re-checks share the next read.
    await lbc.register(tg, [("10.0.1.1", 8080)])
    assert await check_all() == [True] * 10
    assert s.client.calls["DescribeTargetHealth"] == 2
    assert await check_all() == [True] * 10  # verified: the fresh answer serves
    assert s.client.calls["DescribeTargetHealth"] == 2


def test_expected_endpoints_skips_foreign_and_fqdn_slices():
    port = {"name": "http", "port": 80, "targetPort": 8080}
    slices = [endpoint_slice(["10.0.0.1"]), endpoint_slice(["10.0.0.2"], svc="other"),
              {**endpoint_slice(["example.com"]), "addressType": "FQDN"},
              {**endpoint_slice(["10.0.0.3"]), "ports": None},
              {**endpoint_slice(["10.0.0.4"]), "endpoints": [{"addresses": ["10.0.0.4"]}]}]
    assert targets.expected_endpoints("stable", port, slices) == {"10.0.0.1:8080", "10.0.0.3:8080",
                                                                  "10.0.0.4:8080"}


def test_service_port_for_ignores_bool_and_empty():
    svc = service()
    assert targets.service_port_for(svc, True) is None
    assert targets.service_port_for(svc, "") is None
    assert targets.service_port_for(svc, "http") == {"name": "http", "port": 80, "targetPort": 8080}
