"""Result data and the Rollout status form.

Aspects: reference fullName formats (drop `app/` and `targetgroup/`) and malformed ARNs; wanted weights
split as the Ingress writer splits them (stable never negative, experiments take what is left);
`status.alb`/`status.albs` exactly as the reference writes them (zero entries, entries kept when the count
matches, `alb` mirrors the last found ingress, refs kept when a TG was not seen); JSON forms of the results.
"""

from __future__ import annotations

import pytest

from service.aws import results
from statemachine import weights

LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/lb-abc123-name/1234567890123456"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/canary-tg-abc123-name/1234567890123456"
ZERO = {"name": "", "arn": "", "fullName": ""}


def test_load_balancer_ref_matches_reference():
    assert results.load_balancer_ref(LB) == results.ResourceRef("lb-abc123-name", LB,
                                                                "lb-abc123-name/1234567890123456")


def test_target_group_ref_matches_reference():
    assert results.target_group_ref(TG) == results.ResourceRef("canary-tg-abc123-name", TG,
                                                               "canary-tg-abc123-name/1234567890123456")


@pytest.mark.parametrize("arn", [pytest.param("", id="empty"), pytest.param("arn:aws:x", id="no-slash")])
def test_malformed_arns_give_empty_names(arn):
    assert results.load_balancer_ref(arn) == results.ResourceRef("", arn, "")
    assert results.target_group_ref(arn) == results.ResourceRef("", arn, "")


@pytest.mark.parametrize(("desired", "additional", "expected"), [
    pytest.param(20, (), (20, 80, ()), id="plain"),
    pytest.param(20, (("exp", 10),), (20, 70, (10,)), id="experiment"),
    pytest.param(90, (("exp", 30),), (90, 0, (10,)), id="experiment-takes-what-is-left"),
    pytest.param(50, (("e1", 30), ("e2", 30)), (50, 0, (30, 20)), id="experiments-in-order"),
    pytest.param(150, (), (100, 0, ()), id="over-100"),
    pytest.param(-5, (("exp", -3),), (0, 100, (0,)), id="negative"),
])
def test_destinations(desired, additional, expected):
    canary, stable, extra = results.destinations("c", "s", desired, additional)
    assert (canary.weight, stable.weight, tuple(d.weight for d in extra)) == expected
    assert (canary.service, stable.service) == ("c", "s")
    assert tuple(d.service for d in extra) == tuple(name for name, _ in additional)
    # exactly what the Ingress writer puts in the annotation
    assert (canary.weight, tuple(d.weight for d in extra), stable.weight) == weights.split(
        desired, tuple(w for _, w in additional))


def found(ingress: str, lb: str = LB, canary: str | None = TG, stable: str | None = None,
          verified: bool = True) -> results.IngressVerification:
    return results.IngressVerification(
        ingress=ingress, verified=verified, reason="r", load_balancer=results.load_balancer_ref(lb),
        canary_target_group=results.target_group_ref(canary) if canary else None,
        stable_target_group=results.target_group_ref(stable) if stable else None, lb_found=True)


def missing(ingress: str) -> results.IngressVerification:
    return results.IngressVerification(ingress=ingress, verified=False, reason="no hostname")


def test_status_first_time_one_ingress():
    outcome = results.WeightVerification(False, (found("app"),))
    alb, albs = results.alb_status_patch(outcome, None, None)
    entry = {"loadBalancer": {"name": "lb-abc123-name", "arn": LB,
                              "fullName": "lb-abc123-name/1234567890123456"},
             "canaryTargetGroup": {"name": "canary-tg-abc123-name", "arn": TG,
                                   "fullName": "canary-tg-abc123-name/1234567890123456"},
             "stableTargetGroup": ZERO, "ingress": "app"}
    assert alb == entry
    assert albs == [entry]
    assert list(alb) == ["loadBalancer", "canaryTargetGroup", "stableTargetGroup", "ingress"]


def test_status_not_found_ingress_keeps_a_zero_entry_and_alb_mirrors_last_found():
    outcome = results.WeightVerification(False, (found("a"), missing("b")))
    alb, albs = results.alb_status_patch(outcome, None, None)
    assert albs[1] == {"loadBalancer": ZERO, "canaryTargetGroup": ZERO, "stableTargetGroup": ZERO}
    assert alb["ingress"] == "a"


def test_status_entries_kept_when_count_matches_else_restarted():
    previous = [{"loadBalancer": {"name": "old", "arn": "old-arn", "fullName": "old/1"},
                 "canaryTargetGroup": ZERO,
                 "stableTargetGroup": {"name": "s", "arn": "s-arn", "fullName": "s/1"},
                 "ingress": "a"}]
    outcome = results.WeightVerification(False, (missing("a"),))
    alb, albs = results.alb_status_patch(outcome, previous[0], previous)
    assert albs == previous
    assert alb == previous[0]
    outcome2 = results.WeightVerification(False, (missing("a"), missing("b")))
    _, albs2 = results.alb_status_patch(outcome2, previous[0], previous)
    assert albs2 == [{"loadBalancer": ZERO, "canaryTargetGroup": ZERO, "stableTargetGroup": ZERO}] * 2
    # A found ingress keeps the stable ref it did not see this time.
    _, albs3 = results.alb_status_patch(results.WeightVerification(True, (found("a"),)), None, previous)
    assert albs3[0]["stableTargetGroup"] == {"name": "s", "arn": "s-arn", "fullName": "s/1"}
    assert albs3[0]["loadBalancer"]["name"] == "lb-abc123-name"


def test_verification_properties():
    outcome = results.WeightVerification(False, (found("a"), found("b", verified=False)))
    assert outcome.reason == "ingress b: r"
    assert outcome.error == ""
    errored = results.IngressVerification(ingress="c", verified=False, reason="denied", error=True)
    assert results.WeightVerification(False, (errored,)).error == "denied"
    group = results.TargetGroupTargets("s", "arn", 1, 2, False, "why", error=True)
    assert results.TargetVerification(False, (group,)).error == "why"
    assert group.to_dict() == {"service": "s", "targetGroup": "arn", "registered": 1, "total": 2,
                               "verified": False}


def test_resource_id_format():
    c, s, extra = results.destinations("canary-svc", "stable", 10)
    request = results.WeightRequest("default", (), 443, c, s, extra)
    assert request.resource_id("ingress", "canary-svc") == "default/ingress-canary-svc:443"
