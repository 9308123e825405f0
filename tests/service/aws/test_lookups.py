"""Cached reads and the call budget.

Aspects: the counting test (20 rollouts on one ALB with one listener: cold cost, then one step with the cache
warm costs at most 2 ELBv2 calls in total); the rules freshness window; 25 rollouts on one ALB whose weights
(or target groups) are not there yet cost one DescribeRules, and one more after the ALB changed, all seeing
the new rules; an unwindowed read (listeners, the LB scan, TG names) shares one load, does not cache failures
and survives a cancelled waiter; tags read once per ARN even when requested concurrently;
rule parsing accepts both forward shapes; ALB hostname/name matching; target group name lookup.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from service.aws import coalescing, elbv2, lookups, results

from .conftest import FakeClock, error_response

NS = "default"
ROLLOUTS = 20


def request(ingress: str, dns: str, desired: int) -> results.WeightRequest:
    c, s, extra = results.destinations(f"{ingress}-canary", f"{ingress}-stable", desired)
    return results.WeightRequest(NS, (results.IngressTarget(ingress, (dns,)),), 80, c, s, extra)


async def test_twenty_rollouts_on_one_alb_cost_at_most_two_calls_per_step(lbc, sut, clock, capsys):
    alb = await lbc.alb("k8s-shared-group")
    listener = await lbc.listener(alb.arn)
    rules = []
    for index in range(ROLLOUTS):
        ingress = f"app{index}"
        canary = await lbc.target_group(NS, ingress, f"{ingress}-canary")
        stable = await lbc.target_group(NS, ingress, f"{ingress}-stable")
        rule = await lbc.rule(listener, index + 1, [(canary, 0), (stable, 100)], path=f"/{ingress}")
        rules.append((rule, canary, stable))
    s = await sut()

    # Cold: first verification of all 20 at weight 0 (LB scan, listeners, rules, 40 tags in 2 batches).
    cold = await asyncio.gather(*(s.weights.verify(request(f"app{i}", alb.dns, 0)) for i in range(ROLLOUTS)))
    assert all(o.verified for o in cold)
    cold_calls = dict(s.client.calls)
    assert cold_calls == {"DescribeLoadBalancers": 1, "DescribeListeners": 1, "DescribeRules": 1,
                          "DescribeTags": 2}

    # One step: the LBC applies 10% everywhere; every rollout verifies it at the same moment.
    for rule, canary, stable in rules:
        await lbc.set_weights(rule, [(canary, 10), (stable, 90)])
    clock.advance(10)  # the step comes later than the rules' freshness window
    s.client.calls.clear()
    warm = await asyncio.gather(*(s.weights.verify(request(f"app{i}", alb.dns, 10)) for i in range(ROLLOUTS)))
    assert all(o.verified for o in warm)
    warm_calls = dict(s.client.calls)
    assert sum(warm_calls.values()) <= 2
    assert warm_calls == {"DescribeRules": 1}
    with capsys.disabled():
        print(f"\ncall budget, {ROLLOUTS} rollouts on one ALB/one listener: cold={cold_calls} "
              f"warm step={warm_calls} (reference: {ROLLOUTS * 6} per step: per rollout 1 "
              "DescribeLoadBalancers + 1 DescribeTargetGroups + 2 DescribeTags + 1 DescribeListeners "
              "+ 1 DescribeRules)")


async def test_rules_are_reread_after_the_freshness_window(lbc, sut, clock):
    alb = await lbc.alb("k8s-default-app")
    listener = await lbc.listener(alb.arn)
    canary = await lbc.target_group(NS, "app", "app-canary")
    stable = await lbc.target_group(NS, "app", "app-stable")
    await lbc.rule(listener, 1, [(canary, 10), (stable, 90)])
    s = await sut(rules_fresh_seconds=2.0)
    await s.weights.verify(request("app", alb.dns, 10))
    clock.advance(1)
    await s.weights.verify(request("app", alb.dns, 10))
    assert s.client.calls["DescribeRules"] == 1
    clock.advance(2)
    await s.weights.verify(request("app", alb.dns, 10))
    assert s.client.calls["DescribeRules"] == 2
    assert s.client.calls["DescribeListeners"] == 1  # listeners live longer


async def rollouts_on_one_alb(lbc: Any, count: int, *, with_canary: bool = True) -> tuple[Any, list[Any]]:
    """`count` rollouts on one ALB, one rule each, weights canary 0 / stable 100 (or stable alone)."""
    alb = await lbc.alb("k8s-shared-group")
    listener = await lbc.listener(alb.arn)
    rules = []
    for index in range(count):
        ingress = f"app{index}"
        canary = await lbc.target_group(NS, ingress, f"{ingress}-canary")
        stable = await lbc.target_group(NS, ingress, f"{ingress}-stable")
        forwards = [(canary, 0), (stable, 100)] if with_canary else [(stable, 100)]
        rule = await lbc.rule(listener, index + 1, forwards, path=f"/{ingress}")
        rules.append((rule, canary, stable))
    return alb, rules


async def test_unverified_rollouts_on_one_alb_share_each_rules_read(lbc, sut, clock):
    count = 25
    alb, rules = await rollouts_on_one_alb(lbc, count)
    s = await sut(read_window=0.2, sleep=clock.sleep)
    requests = [request(f"app{i}", alb.dns, 10) for i in range(count)]

    stale = await asyncio.gather(*(s.weights.verify(r) for r in requests))
    assert not any(o.verified for o in stale)
    assert s.client.calls["DescribeRules"] == 1

    # The LBC applies the weights while the first answer is still fresh: nobody may get it again, and the
    # 25 re-verifications share the next read instead of reading one each.
    for rule, canary, stable in rules:
        await lbc.set_weights(rule, [(canary, 10), (stable, 90)])
    again = await asyncio.gather(*(s.weights.verify(r) for r in requests))
    assert all(o.verified for o in again), [o.reason for o in again if not o.verified]
    assert s.client.calls["DescribeRules"] == 2

    # Verified requests take the fresh answer.
    assert all(o.verified for o in await asyncio.gather(*(s.weights.verify(r) for r in requests)))
    assert s.client.calls["DescribeRules"] == 2
    assert s.client.calls["DescribeListeners"] == 1


async def test_rollouts_whose_target_groups_are_missing_share_each_rules_read(lbc, sut, clock):
    """Measured before: 202 DescribeRules for 200 rollouts on 8 ALBs, each failing one forgot the cache."""
    count = 25
    alb, rules = await rollouts_on_one_alb(lbc, count, with_canary=False)
    s = await sut(read_window=0.2, sleep=clock.sleep)
    requests = [request(f"app{i}", alb.dns, 10) for i in range(count)]
    missing = await asyncio.gather(*(s.weights.verify(r) for r in requests))
    assert all(o.ingresses[0].reason.startswith("target group missing") for o in missing)
    assert s.client.calls["DescribeRules"] == 1

    for rule, canary, stable in rules:
        await lbc.set_weights(rule, [(canary, 10), (stable, 90)])
    again = await asyncio.gather(*(s.weights.verify(r) for r in requests))
    assert all(o.verified for o in again), [o.reason for o in again if not o.verified]
    assert s.client.calls["DescribeRules"] == 2
    assert s.client.calls["DescribeListeners"] == 2  # listed again with the shared read: maybe a new one


async def test_an_unwindowed_read_shares_one_load(clock: FakeClock):
    flight: coalescing.CoalescedReads[str, int] = coalescing.CoalescedReads(1.0, window=0.0,
                                                                             monotonic=clock.monotonic)
    loads = 0
    gate = asyncio.Event()

    async def load() -> int:
        nonlocal loads
        loads += 1
        await gate.wait()
        return loads

    waiters = [asyncio.ensure_future(flight.get("k", load)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == [1] * 5
    assert await flight.get("k", load) == 1  # fresh
    clock.advance(2)
    assert await flight.get("k", load) == 2  # stale: loaded again


async def test_an_unwindowed_read_does_not_cache_failures(clock: FakeClock):
    flight: coalescing.CoalescedReads[str, int] = coalescing.CoalescedReads(10.0, window=0.0,
                                                                             monotonic=clock.monotonic)
    attempts = 0

    async def load() -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("first fails")
        return 7

    with pytest.raises(RuntimeError, match="first fails"):
        await flight.get("k", load)
    assert await flight.get("k", load) == 7


async def test_an_unwindowed_read_survives_a_cancelled_waiter(clock: FakeClock):
    flight: coalescing.CoalescedReads[str, int] = coalescing.CoalescedReads(10.0, window=0.0,
                                                                             monotonic=clock.monotonic)
    gate = asyncio.Event()

    async def load() -> int:
        await gate.wait()
        return 3

    first = asyncio.ensure_future(flight.get("k", load))
    second = asyncio.ensure_future(flight.get("k", load))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == 3
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_an_unwindowed_read_forget_and_clear(clock: FakeClock):
    flight: coalescing.CoalescedReads[str, int] = coalescing.CoalescedReads(10.0, window=0.0,
                                                                             monotonic=clock.monotonic)
    counter = iter(range(100))

    async def load() -> int:
        return next(counter)

    assert await flight.get("k", load) == 0
    flight.forget("k")
    assert await flight.get("k", load) == 1
    flight.clear()
    assert await flight.get("k", load) == 2


async def test_tags_fetched_once_per_arn_under_concurrency(lbc, sut):
    arns = [await lbc.target_group(NS, "app", f"svc{i}") for i in range(3)]
    s = await sut()
    answers = await asyncio.gather(s.reads.tags(arns), s.reads.tags(arns[:2]), s.reads.tags(reversed(arns)))
    assert s.client.calls["DescribeTags"] == 1
    assert answers[1][arns[0]]["ingress.k8s.aws/resource"] == "default/app-svc0:80"
    assert answers[2][arns[2]]["ingress.k8s.aws/resource"] == "default/app-svc2:80"


async def test_tags_failure_reaches_every_waiter_and_is_not_cached(lbc, sut):
    arn = await lbc.target_group(NS, "app", "svc")
    s = await sut()
    gate, sent = asyncio.Event(), asyncio.Event()
    failed: list[str] = []

    async def deny_once(request: Any, **_: Any) -> Any:
        if failed:
            return None
        failed.append("x")
        sent.set()
        await gate.wait()  # keep the read in flight until the second caller is waiting on it
        return error_response(request, "AccessDenied", "denied")

    s.client.client.meta.events.register("before-send.elastic-load-balancing-v2.DescribeTags", deny_once)
    first = asyncio.ensure_future(s.reads.tags([arn]))
    await sent.wait()
    second = asyncio.ensure_future(s.reads.tags([arn]))
    await asyncio.sleep(0)
    gate.set()
    outcomes = await asyncio.gather(first, second, return_exceptions=True)
    assert [str(o) for o in outcomes] == ["DescribeTags: AccessDenied: denied"] * 2
    assert s.client.calls["DescribeTags"] == 1
    assert (await s.reads.tags([arn]))[arn]["ingress.k8s.aws/resource"] == "default/app-svc:80"


async def test_target_group_arn_by_name(lbc, sut):
    arn = await lbc.target_group(NS, "app", "svc")
    name = arn.split("/")[1]
    s = await sut()
    assert await s.reads.target_group_arn(name) == arn
    assert await s.reads.target_group_arn(name) == arn
    assert s.client.calls["DescribeTargetGroups"] == 1


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param({"RuleArn": "r", "Priority": "3", "Actions": [{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": "a", "Weight": 10}, {"TargetGroupArn": "b", "Weight": 90}]}}]},
        lookups.Rule("r", 80, "3", (lookups.Forward((("a", 10), ("b", 90))),)), id="forward-config"),
    pytest.param({"RuleArn": "r", "Priority": "default", "Actions": [
        {"Type": "forward", "TargetGroupArn": "a"}]},
        lookups.Rule("r", 80, "default", (lookups.Forward((("a", None),)),)), id="top-level-arn"),
    pytest.param({"RuleArn": "r", "Priority": "1", "Actions": [
        {"Type": "authenticate-oidc"}, {"Type": "forward", "TargetGroupArn": "x",
                                        "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "a"}]}}]},
        lookups.Rule("r", 80, "1", (lookups.Forward((("a", None),)),)), id="both-shapes-prefer-config"),
    pytest.param({"RuleArn": "r", "Priority": "1", "Actions": [{"Type": "fixed-response"},
                                                               {"Type": "forward"}]},
                 lookups.Rule("r", 80, "1", ()), id="no-forward"),
])
def test_parse_rule(raw, expected):
    assert lookups.parse_rule(raw, 80) == expected


@pytest.mark.parametrize(("hostname", "name", "matches"), [
    pytest.param("k8s-default-app-1.us-east-1.elb.amazonaws.com", "k8s-default-app", True, id="plain"),
    pytest.param("internal-k8s-default-app-123.eu-west-1.elb.amazonaws.com", "k8s-default-app", True,
                 id="internal"),
    pytest.param("K8S-Default-App-1.us-east-1.elb.amazonaws.com", "k8s-default-app", True, id="case"),
    pytest.param("k8s-default-app2-1.us-east-1.elb.amazonaws.com", "k8s-default-app", False, id="other-name"),
    pytest.param("k8s-default-app-1.us-east-1.elb.amazonaws.com", "", False, id="no-name"),
    pytest.param("k8s-default-app-2-123.us-east-1.elb.amazonaws.com", "k8s-default-app", False,
                 id="longer-name-with-dash"),
    pytest.param("k8s-default-app-.us-east-1.elb.amazonaws.com", "k8s-default-app", False, id="no-digits"),
])
def test_hostname_matches_name(hostname, name, matches):
    assert lookups.hostname_matches_name(hostname, name) is matches


async def test_cancelled_tag_reader_answers_the_others_with_an_error(lbc, sut):
    arn = await lbc.target_group(NS, "app", "svc")
    s = await sut()
    gate, sent = asyncio.Event(), asyncio.Event()

    async def hold(request: Any, **_: Any) -> None:
        sent.set()
        await gate.wait()

    s.client.client.meta.events.register("before-send.elastic-load-balancing-v2.DescribeTags", hold)
    owner = asyncio.ensure_future(s.reads.tags([arn]))
    await sent.wait()
    other = asyncio.ensure_future(s.reads.tags([arn]))
    await asyncio.sleep(0)
    owner.cancel()
    with pytest.raises(elbv2.AwsCallError, match="the shared read was cancelled"):
        await other
    assert other.cancelled() is False
