"""Weight verification against moto through aiobotocore.

Aspects: verified and not-yet-verified weights (exact result dicts); stable weight checked too; experiment
destinations; ping-pong service names; each ingress judged on its own (a case the reference's global count
passes); a header-route rule for the canary does not confuse the read (either rule order); a rule on two
listeners must be right on both; more than 20 target groups (DescribeTags batches of <= 20 under an AWS-like
limit hook); more than one page of load balancers, listeners and rules; hostname not yet in status; LB not
found; the status ARN used without a scan, and ignored when it does not fit the hostname; target group
missing; AccessDenied names the IAM action; a deleted ALB is looked up again; nothing raises; an unverified
request is not answered again from the same read, and that memory is bounded.
"""

from __future__ import annotations

from typing import Any

import pytest

from service.aws import coalescing, results, weights

from .conftest import Lbc

NS = "default"


def request_for(ingresses: list[results.IngressTarget], desired: int, *, canary: str = "canary",
                stable: str = "stable",
                additional: tuple[tuple[str, int], ...] = ()) -> results.WeightRequest:
    c, s, extra = results.destinations(canary, stable, desired, additional)
    return results.WeightRequest(namespace=NS, ingresses=tuple(ingresses), service_port=80, canary=c,
                                 stable=s, additional=extra)


async def app_alb(lbc: Lbc, weights: tuple[int, int], *, ingress: str = "app", name: str = "k8s-default-app",
                  canary: str = "canary", stable: str = "stable") -> dict[str, Any]:
    alb = await lbc.alb(name)
    listener = await lbc.listener(alb.arn)
    canary_tg = await lbc.target_group(NS, ingress, canary)
    stable_tg = await lbc.target_group(NS, ingress, stable)
    rule = await lbc.rule(listener, 1, [(canary_tg, weights[0]), (stable_tg, weights[1])])
    return {"alb": alb, "listener": listener, "canary": canary_tg, "stable": stable_tg, "rule": rule}


async def test_verified_weights_give_exact_result(lbc, sut):
    env = await app_alb(lbc, (20, 80))
    s = await sut()
    outcome = await s.weights.verify(request_for([results.IngressTarget("app", (env["alb"].dns,))], 20))
    assert outcome.verified is True
    assert outcome.error == ""
    assert outcome.reason == ""
    lb_arn = env["alb"].arn
    assert [item.to_dict() for item in outcome.ingresses] == [{
        "ingress": "app",
        "verified": True,
        "reason": "weights applied on load balancer k8s-default-app (1 rule): canary 20, stable 80",
        "loadBalancer": {"name": "k8s-default-app", "arn": lb_arn, "fullName": lb_arn.split("/", 2)[2]},
        "targetGroups": [
            {"service": "canary", "arn": env["canary"], "weight": 20, "wanted": 20},
            {"service": "stable", "arn": env["stable"], "weight": 80, "wanted": 80},
        ],
    }]
    assert dict(s.client.calls) == {"DescribeLoadBalancers": 1, "DescribeListeners": 1, "DescribeRules": 1,
                                    "DescribeTags": 1}


async def test_not_yet_applied_weights_then_applied(lbc, sut, clock):
    env = await app_alb(lbc, (0, 100))
    s = await sut()
    request = request_for([results.IngressTarget("app", (env["alb"].dns,))], 30)
    outcome = await s.weights.verify(request)
    assert outcome.verified is False
    assert outcome.error == ""
    assert outcome.reason == (
        "ingress app: weights not yet applied on load balancer k8s-default-app: canary has weight 0 "
        "(wanted 30) on listener 80 rule 1; stable has weight 100 (wanted 70) on listener 80 rule 1")
    assert [g.to_dict() for g in outcome.ingresses[0].target_groups] == [
        {"service": "canary", "arn": env["canary"], "weight": 0, "wanted": 30},
        {"service": "stable", "arn": env["stable"], "weight": 100, "wanted": 70},
    ]
    await lbc.set_weights(env["rule"], [(env["canary"], 30), (env["stable"], 70)])
    clock.advance(5)  # past the rules' freshness window
    assert (await s.weights.verify(request)).verified is True
    assert s.registry.get_sample_value("alb_weight_verifications_total", {"result": "unverified"}) == 1
    assert s.registry.get_sample_value("alb_weight_verifications_total", {"result": "verified"}) == 1


async def test_stable_weight_is_checked_not_only_canary(lbc, sut):
    """The reference never compares the stable weight; a third TG stealing traffic must fail here."""
    env = await app_alb(lbc, (20, 80))
    other = await lbc.target_group(NS, "app", "other")
    await lbc.set_weights(env["rule"], [(env["canary"], 20), (env["stable"], 60), (other, 20)])
    s = await sut()
    outcome = await s.weights.verify(request_for([results.IngressTarget("app", (env["alb"].dns,))], 20))
    assert outcome.verified is False
    assert outcome.ingresses[0].reason == (
        "weights not yet applied on load balancer k8s-default-app: stable has weight 60 (wanted 80) on "
        "listener 80 rule 1")


async def test_experiment_destinations_carry_their_weights(lbc, sut, clock):
    env = await app_alb(lbc, (10, 90))
    exp = await lbc.target_group(NS, "app", "exp")
    await lbc.set_weights(env["rule"], [(env["canary"], 10), (exp, 10), (env["stable"], 90)])
    s = await sut()
    request = request_for([results.IngressTarget("app", (env["alb"].dns,))], 10, additional=(("exp", 10),))
    outcome = await s.weights.verify(request)
    assert outcome.verified is False
    assert [g.to_dict() for g in outcome.ingresses[0].target_groups] == [
        {"service": "canary", "arn": env["canary"], "weight": 10, "wanted": 10},
        {"service": "exp", "arn": exp, "weight": 10, "wanted": 10},
        {"service": "stable", "arn": env["stable"], "weight": 90, "wanted": 80},
    ]
    await lbc.set_weights(env["rule"], [(env["canary"], 10), (exp, 10), (env["stable"], 80)])
    clock.advance(5)
    assert (await s.weights.verify(request)).verified is True


async def test_ping_pong_services(lbc, sut):
    """With ping-pong the target groups belong to the ping/pong Services (stable=ping here)."""
    env = await app_alb(lbc, (40, 60), canary="pong", stable="ping")
    s = await sut()
    outcome = await s.weights.verify(
        request_for([results.IngressTarget("app", (env["alb"].dns,))], 40, canary="pong", stable="ping"))
    assert outcome.verified is True
    swapped = await s.weights.verify(
        request_for([results.IngressTarget("app", (env["alb"].dns,))], 40, canary="ping", stable="pong"))
    assert swapped.verified is False
    assert swapped.ingresses[0].reason.startswith(
        "weights not yet applied on load balancer k8s-default-app: ping has weight 60 (wanted 40)")


async def test_each_ingress_verifies_on_its_own(lbc, sut):
    """Ingress a's two ALBs both verified (count 2) and ingress b stale: the reference's count == 2 passes."""
    a1 = await app_alb(lbc, (20, 80), ingress="a", name="k8s-default-a1")
    a2 = await app_alb(lbc, (20, 80), ingress="a", name="k8s-default-a2")
    b = await app_alb(lbc, (0, 100), ingress="b", name="k8s-default-b")
    s = await sut()
    outcome = await s.weights.verify(request_for([
        results.IngressTarget("a", (a1["alb"].dns, a2["alb"].dns)),
        results.IngressTarget("b", (b["alb"].dns,)),
    ], 20))
    assert outcome.verified is False
    assert [(i.ingress, i.verified) for i in outcome.ingresses] == [("a", True), ("b", False)]
    assert outcome.reason == (
        "ingress b: weights not yet applied on load balancer k8s-default-b: canary has weight 0 (wanted 20) "
        "on listener 80 rule 1; stable has weight 100 (wanted 80) on listener 80 rule 1")


async def test_second_alb_of_one_ingress_must_verify_too(lbc, sut):
    a1 = await app_alb(lbc, (20, 80), ingress="a", name="k8s-default-a1")
    a2 = await app_alb(lbc, (0, 100), ingress="a", name="k8s-default-a2")
    s = await sut()
    ingress = results.IngressTarget("a", (a1["alb"].dns, a2["alb"].dns))
    outcome = await s.weights.verify(request_for([ingress], 20))
    assert outcome.verified is False
    assert outcome.ingresses[0].load_balancer.name == "k8s-default-a2"


@pytest.mark.parametrize("header_first", [pytest.param(True, id="header-rule-first"),
                                          pytest.param(False, id="header-rule-last")])
async def test_header_route_rule_does_not_confuse_weights(lbc, sut, clock, header_first):
    alb = await lbc.alb("k8s-default-app")
    listener = await lbc.listener(alb.arn)
    canary = await lbc.target_group(NS, "app", "canary")
    stable = await lbc.target_group(NS, "app", "stable")
    header_priority, main_priority = (1, 2) if header_first else (2, 1)
    await lbc.rule(listener, header_priority, [(canary, 100)], header=("x-canary", "yes"))
    main = await lbc.rule(listener, main_priority, [(canary, 20), (stable, 80)])
    s = await sut()
    request = request_for([results.IngressTarget("app", (alb.dns,))], 20)
    outcome = await s.weights.verify(request)
    assert outcome.verified is True, outcome.reason
    assert outcome.ingresses[0].reason == (
        "weights applied on load balancer k8s-default-app (1 rule): canary 20, stable 80")
    await lbc.set_weights(main, [(canary, 0), (stable, 100)])
    clock.advance(5)
    stale = await s.weights.verify(request)
    assert stale.verified is False
    assert [g.weight for g in stale.ingresses[0].target_groups] == [0, 100]


async def test_rule_on_two_listeners_must_be_right_on_both(lbc, sut):
    env = await app_alb(lbc, (20, 80))
    https = await lbc.listener(env["alb"].arn, port=443)
    await lbc.rule(https, 1, [(env["canary"], 0), (env["stable"], 100)])
    s = await sut()
    outcome = await s.weights.verify(request_for([results.IngressTarget("app", (env["alb"].dns,))], 20))
    assert outcome.verified is False
    assert outcome.ingresses[0].reason == (
        "weights not yet applied on load balancer k8s-default-app: canary has weight 0 (wanted 20) on "
        "listener 443 rule 1; stable has weight 100 (wanted 80) on listener 443 rule 1")
    assert [g.weight for g in outcome.ingresses[0].target_groups] == [0, 100]


async def test_more_than_twenty_target_groups_are_tagged_in_batches(lbc, sut):
    env = await app_alb(lbc, (20, 80))
    for index in range(12):  # 24 more target groups on the same ALB
        c = await lbc.target_group(NS, f"other{index}", "canary")
        st = await lbc.target_group(NS, f"other{index}", "stable")
        await lbc.rule(env["listener"], 10 + index, [(c, 50), (st, 50)], path=f"/o{index}")
    s = await sut()
    with pytest.raises(Exception, match="at most 20"):  # the hook behaves like AWS
        await s.client.client.describe_tags(ResourceArns=[env["canary"]] * 21)
    outcome = await s.weights.verify(request_for([results.IngressTarget("app", (env["alb"].dns,))], 20))
    assert outcome.verified is True, outcome.reason
    assert s.client.calls["DescribeTags"] == 2  # 26 ARNs: 20 + 6
    again = await s.weights.verify(request_for([results.IngressTarget("app", (env["alb"].dns,))], 20))
    assert again.verified is True
    assert s.client.calls["DescribeTags"] == 2  # tags are cached per ARN


async def test_more_than_one_page_of_load_balancers_and_rules(lbc, sut):
    for index in range(6):
        await lbc.alb(f"k8s-default-filler{index}")
    env = await app_alb(lbc, (20, 80), name="k8s-default-zzz")
    for index in range(5):
        filler = await lbc.target_group(NS, f"f{index}", "canary")
        await lbc.rule(env["listener"], 10 + index, [(filler, 1)], path=f"/f{index}")
    s = await sut(page_size=2)
    outcome = await s.weights.verify(request_for([results.IngressTarget("app", (env["alb"].dns,))], 20))
    assert outcome.verified is True, outcome.reason
    assert s.client.calls["DescribeLoadBalancers"] == 4  # 7 ALBs by 2
    assert s.client.calls["DescribeRules"] == 4  # 6 rules + default by 2


async def test_more_than_one_page_of_listeners(lbc, sut):
    """moto never pages DescribeListeners; an after-call hook splits its answer the way AWS would."""
    env = await app_alb(lbc, (20, 80))
    https = await lbc.listener(env["alb"].arn, port=443)
    await lbc.rule(https, 1, [(env["canary"], 20), (env["stable"], 80)])
    s = await sut()
    pages: list[str] = []

    def split(parsed: dict[str, Any], **_: Any) -> None:
        listeners = parsed.get("Listeners", [])
        if not pages:
            parsed["Listeners"], parsed["NextMarker"] = listeners[:1], "page-2"
        else:
            parsed["Listeners"] = listeners[1:]
        pages.append("x")

    s.client.client.meta.events.register("after-call.elastic-load-balancing-v2.DescribeListeners", split)
    outcome = await s.weights.verify(request_for([results.IngressTarget("app", (env["alb"].dns,))], 20))
    assert outcome.verified is True
    assert outcome.ingresses[0].reason.endswith("(2 rules): canary 20, stable 80")
    assert s.client.calls["DescribeListeners"] == 2


async def test_no_hostname_in_ingress_status_costs_no_call(sut):
    s = await sut()
    outcome = await s.weights.verify(request_for([results.IngressTarget("app", ())], 20))
    assert outcome.verified is False
    assert outcome.ingresses[0].to_dict() == {
        "ingress": "app", "verified": False,
        "reason": "load balancer not yet allocated: the ingress has no status.loadBalancer hostname",
        "loadBalancer": {"name": "", "arn": "", "fullName": ""},
        "targetGroups": [{"service": "canary", "arn": "", "weight": None, "wanted": 20},
                         {"service": "stable", "arn": "", "weight": None, "wanted": 80}],
    }
    assert sum(s.client.calls.values()) == 0


async def test_load_balancer_not_found(lbc, sut):
    await app_alb(lbc, (20, 80))
    s = await sut()
    outcome = await s.weights.verify(
        request_for([results.IngressTarget("app", ("K8S-gone-1.us-east-1.elb.amazonaws.com",))], 20))
    assert outcome.verified is False
    assert outcome.ingresses[0].reason == ("load balancer not found: no load balancer has DNS name "
                                           "k8s-gone-1.us-east-1.elb.amazonaws.com")
    assert outcome.ingresses[0].lb_found is False


async def test_hostname_matched_case_insensitively(lbc, sut):
    env = await app_alb(lbc, (20, 80))
    s = await sut()
    ingress = results.IngressTarget("app", (env["alb"].dns.upper(),))
    outcome = await s.weights.verify(request_for([ingress], 20))
    assert outcome.verified is True


async def test_status_arn_saves_the_scan_when_it_fits_the_hostname(lbc, sut):
    env = await app_alb(lbc, (20, 80))
    other = await lbc.alb("k8s-default-other")
    s = await sut()
    fits = results.IngressTarget("app", (env["alb"].dns,), known_lb_arn=env["alb"].arn)
    assert (await s.weights.verify(request_for([fits], 20))).verified is True
    assert "DescribeLoadBalancers" not in s.client.calls
    s2 = await sut()
    stale = results.IngressTarget("app", (env["alb"].dns,), known_lb_arn=other.arn)
    outcome = await s2.weights.verify(request_for([stale], 20))
    assert outcome.verified is True
    assert outcome.ingresses[0].load_balancer.arn == env["alb"].arn
    assert s2.client.calls["DescribeLoadBalancers"] == 1


async def test_target_group_missing(lbc, sut):
    alb = await lbc.alb("k8s-default-app")
    listener = await lbc.listener(alb.arn)
    stable = await lbc.target_group(NS, "app", "stable")
    await lbc.rule(listener, 1, [(stable, 1)])
    s = await sut()
    outcome = await s.weights.verify(request_for([results.IngressTarget("app", (alb.dns,))], 20))
    assert outcome.verified is False
    assert outcome.ingresses[0].reason == (
        "target group missing: no rule of load balancer k8s-default-app forwards to the target group of "
        "service canary (ingress.k8s.aws/resource=default/app-canary:80)")
    assert [g.to_dict() for g in outcome.ingresses[0].target_groups] == [
        {"service": "canary", "arn": "", "weight": None, "wanted": 20},
        {"service": "stable", "arn": stable, "weight": None, "wanted": 80},
    ]


async def test_no_rule_forwards_to_canary_and_stable_together(lbc, sut):
    alb = await lbc.alb("k8s-default-app")
    listener = await lbc.listener(alb.arn)
    canary = await lbc.target_group(NS, "app", "canary")
    stable = await lbc.target_group(NS, "app", "stable")
    await lbc.rule(listener, 1, [(stable, 1)])
    await lbc.rule(listener, 2, [(canary, 1)], path="/c")
    s = await sut()
    outcome = await s.weights.verify(request_for([results.IngressTarget("app", (alb.dns,))], 20))
    assert outcome.ingresses[0].reason == (
        "no rule of load balancer k8s-default-app forwards to both the canary (canary) and stable (stable) "
        "target groups")


async def test_access_denied_names_the_iam_action(lbc, sut):
    env = await app_alb(lbc, (20, 80))
    s = await sut()
    s.faults.fail("DescribeRules", "AccessDenied")
    outcome = await s.weights.verify(request_for([results.IngressTarget("app", (env["alb"].dns,))], 20))
    assert outcome.verified is False
    assert outcome.error == (
        "AWS denied elasticloadbalancing:DescribeRules (AccessDenied): AccessDenied; grant the controller's "
        "role this IAM action")
    assert s.client.calls["DescribeRules"] == 1  # not retried
    assert s.registry.get_sample_value("alb_weight_verifications_total", {"result": "error"}) == 1


async def test_deleted_alb_is_looked_up_again(lbc, sut, clock):
    env = await app_alb(lbc, (20, 80))
    s = await sut()
    request = request_for([results.IngressTarget("app", (env["alb"].dns,))], 20)
    assert (await s.weights.verify(request)).verified is True
    s.faults.fail("DescribeRules", "LoadBalancerNotFound")
    s.reads.forget_rules(env["alb"].arn)
    outcome = await s.weights.verify(request)
    assert outcome.verified is False
    assert outcome.error.startswith("elasticloadbalancing:DescribeRules failed (LoadBalancerNotFound)")
    clock.advance(60)
    assert (await s.weights.verify(request)).verified is True
    assert s.client.calls["DescribeLoadBalancers"] == 2


async def test_unexpected_exception_becomes_a_result(lbc, sut):
    env = await app_alb(lbc, (20, 80))
    s = await sut()

    async def broken(lb_arn: str, newer_than: float | None = None) -> Any:
        raise RuntimeError("boom")

    s.reads.rules = broken
    outcome = await s.weights.verify(request_for([results.IngressTarget("app", (env["alb"].dns,))], 20))
    assert outcome.verified is False
    assert outcome.error == "internal error while verifying: RuntimeError: boom"


async def test_unverified_request_is_not_answered_from_the_same_read_again(lbc, sut):
    env = await app_alb(lbc, (0, 100))
    s = await sut()
    request = request_for([results.IngressTarget("app", (env["alb"].dns,))], 30)
    assert (await s.weights.verify(request)).verified is False
    await lbc.set_weights(env["rule"], [(env["canary"], 30), (env["stable"], 70)])
    # No clock advance: the first answer is still fresh, but it is the one that failed this request.
    assert (await s.weights.verify(request)).verified is True
    assert s.client.calls["DescribeRules"] == 2
    assert s.client.calls["DescribeListeners"] == 1  # weights not applied is not a missing listener


def test_unverified_memory_is_bounded_and_forgets_verified():
    verifier = weights.WeightVerifier(reads=None)  # type: ignore[arg-type]  # its memory reads nothing
    verifier._unverified.limit = 2
    seen = [("lb", NS, f"ing{i}", "canary", "stable") for i in range(3)]
    for stamp, key in enumerate(seen):
        verifier._unverified.remember(key, float(stamp))
    assert verifier._unverified.keys() == seen[1:]
    assert verifier._unverified.newer_than(seen[2]) == 2.0 + coalescing.STAMP_EPSILON
    verifier._unverified.remember(seen[1], None)  # verified
    assert verifier._unverified.keys() == seen[2:]
