"""Rate shaping and retries: the token bucket, backoff with full jitter, and verification under Throttling.

Aspects: the bucket allows a burst then paces at its rate, halves its rate on throttling and recovers
stepwise; backoff stays within its jitter ceiling; retryable codes (Throttling, RequestLimitExceeded,
TooManyRequestsException, 5xx, HTML error pages) are retried and verification still converges while the
bucket slows down; persistent throttling and the total deadline end in an unverified result (never an
exception); a call that hangs past its deadline is retried; non-retryable errors are sent once; metrics count
each outcome. Guards against spinning: recovery is closed-form (any clock jump), reservations never poll,
retries are bounded by attempts even on a frozen clock, a repeated NextMarker ends the listing. Every wait
is on a fake clock, except the hanging call's real 0.2 s deadline.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from aiobotocore.awsrequest import AioAWSResponse

from service.aws import results, throttling

from .conftest import FakeClock, Lbc

NS = "default"


async def _acquire(bucket: throttling.AdaptiveBucket, clock: FakeClock) -> float:
    """Wait on the fake clock for one token, as the ELBv2 client does; returns the seconds waited."""
    wait = bucket.reserve()
    assert wait is not None
    if wait > 0:
        await clock.sleep(wait)
    return wait


async def test_bucket_allows_burst_then_paces(clock: FakeClock):
    bucket = throttling.AdaptiveBucket(5, 3, monotonic=clock.monotonic)
    waits = [await _acquire(bucket, clock) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.2)
    assert waits[4] == pytest.approx(0.2)
    assert sum(clock.sleeps) == pytest.approx(0.4)


async def test_bucket_slows_down_and_recovers_stepwise(clock: FakeClock):
    bucket = throttling.AdaptiveBucket(8, 20, monotonic=clock.monotonic, recovery_seconds=30)
    bucket.slow_down()
    bucket.slow_down()
    assert bucket.rate == 2
    assert bucket.tokens <= 1.0
    clock.advance(30)
    await _acquire(bucket, clock)
    assert bucket.rate == 4
    clock.advance(30)
    await _acquire(bucket, clock)
    assert bucket.rate == 8
    clock.advance(300)
    await _acquire(bucket, clock)
    assert bucket.rate == 8


async def test_bucket_rate_never_below_minimum(clock: FakeClock):
    bucket = throttling.AdaptiveBucket(1, 1, monotonic=clock.monotonic, min_rate=0.25)
    for _ in range(10):
        bucket.slow_down()
    assert bucket.rate == 0.25


@pytest.mark.parametrize(("rate", "burst", "recovery"), [
    pytest.param(0.0, 1, 30.0, id="zero-rate"),
    pytest.param(-1.0, 1, 30.0, id="negative-rate"),
    pytest.param(float("nan"), 1, 30.0, id="nan-rate"),
    pytest.param(float("inf"), 1, 30.0, id="infinite-rate"),
    pytest.param(1.0, 0, 30.0, id="no-burst"),
    pytest.param(1.0, 1, 0.0, id="no-recovery-period"),
])
def test_bucket_rejects_nonsense_settings(clock: FakeClock, rate, burst, recovery):
    with pytest.raises(ValueError) as caught:
        throttling.AdaptiveBucket(rate, burst, monotonic=clock.monotonic,
                                   recovery_seconds=recovery)
    assert str(caught.value) == ("token bucket needs a finite rate > 0, burst >= 1 and recovery_seconds > 0")


@pytest.mark.parametrize(("jump", "rate"), [
    pytest.param(29.0, 0.5, id="before-the-first-period"),
    pytest.param(30.0, 1.0, id="one-period"),
    pytest.param(65.0, 2.0, id="two-periods-in-one-jump"),
    pytest.param(1e12, 8.0, id="a-huge-jump"),
])
def test_bucket_recovery_is_closed_form(clock: FakeClock, jump, rate):
    """However far the clock jumps, recovery is computed at once (no loop that could spin)."""
    bucket = throttling.AdaptiveBucket(8, 20, monotonic=clock.monotonic, min_rate=0.5)
    for _ in range(6):
        bucket.slow_down()
    assert bucket.rate == 0.5
    clock.advance(jump)
    bucket.reserve()
    assert bucket.rate == rate


def test_bucket_with_tiny_deficit_at_a_large_clock_value_does_not_spin():
    """Float absorption (now + 1e-14 == now) once made a polling bucket loop forever; a reservation cannot."""
    clock = FakeClock()
    clock.now = 1e15
    bucket = throttling.AdaptiveBucket(3, 1, monotonic=clock.monotonic)
    delays = [bucket.reserve() for _ in range(4)]
    assert delays == [0.0, pytest.approx(1 / 3), pytest.approx(2 / 3), pytest.approx(1.0)]


def test_backoff_is_full_jitter_under_a_capped_ceiling():
    policy = throttling.RetryPolicy(base_seconds=0.5, cap_seconds=4)
    rng = random.Random(7)
    for attempt in range(1, 10):
        ceiling = min(4.0, 0.5 * 2 ** attempt)
        samples = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= value <= ceiling for value in samples)
        assert max(samples) > ceiling * 0.8  # jitter spans the range


@pytest.mark.parametrize(("code", "status", "retryable"), [
    pytest.param("Throttling", 400, True, id="throttling"),
    pytest.param("RequestLimitExceeded", 400, True, id="request-limit"),
    pytest.param("TooManyRequestsException", 429, True, id="too-many"),
    pytest.param("InternalFailure", 500, True, id="5xx"),
    pytest.param("Whatever", 503, True, id="any-5xx"),
    pytest.param("AccessDenied", 403, False, id="access-denied"),
    pytest.param("ValidationError", 400, False, id="validation"),
])
def test_retryable_classification(code, status, retryable):
    assert throttling.is_retryable(code, status) is retryable


async def simple_alb(lbc: Lbc, weights: tuple[int, int]) -> Any:
    alb = await lbc.alb("k8s-default-app")
    listener = await lbc.listener(alb.arn)
    canary = await lbc.target_group(NS, "app", "canary")
    stable = await lbc.target_group(NS, "app", "stable")
    await lbc.rule(listener, 1, [(canary, weights[0]), (stable, weights[1])])
    return alb


def request(alb: Any, desired: int = 20) -> results.WeightRequest:
    c, s, extra = results.destinations("canary", "stable", desired)
    return results.WeightRequest(NS, (results.IngressTarget("app", (alb.dns,)),), 80, c, s, extra)


@pytest.mark.parametrize(("code", "status"), [
    pytest.param("Throttling", 400, id="Throttling"),
    pytest.param("RequestLimitExceeded", 400, id="RequestLimitExceeded"),
    pytest.param("TooManyRequestsException", 429, id="TooManyRequestsException"),
    pytest.param("InternalFailure", 500, id="5xx"),
])
async def test_verification_converges_through_transient_errors(lbc, sut, clock, code, status):
    alb = await simple_alb(lbc, (20, 80))
    s = await sut(max_rps=5, burst=20)
    for operation in ("DescribeLoadBalancers", "DescribeListeners", "DescribeRules", "DescribeTags"):
        s.faults.fail(operation, code, times=2, status=status)
    outcome = await s.weights.verify(request(alb))
    assert outcome.verified is True, outcome.reason
    assert dict(s.client.calls) == {"DescribeLoadBalancers": 3, "DescribeListeners": 3, "DescribeRules": 3,
                                    "DescribeTags": 3}
    assert clock.sleeps  # backed off (on the fake clock: no real waiting)
    throttled = code != "InternalFailure"
    assert s.client.bucket.rate < 5  # throttling and 5xx both slow the bucket down
    value = s.registry.get_sample_value("aws_api_throttled_total", {"operation": "DescribeRules"})
    assert value == (2 if throttled else None)
    outcome_label = "throttled" if throttled else "error"
    assert s.registry.get_sample_value(
        "aws_api_requests_total", {"operation": "DescribeRules", "outcome": outcome_label}) == 2
    assert s.registry.get_sample_value(
        "aws_api_requests_total", {"operation": "DescribeRules", "outcome": "success"}) == 1
    assert s.registry.get_sample_value(
        "aws_api_request_duration_seconds_count", {"operation": "DescribeRules"}) == 3


async def test_html_error_pages_are_retried(lbc, sut):
    """A proxy's 502 page is not XML: botocore cannot parse it, we retry it like any 5xx."""
    alb = await simple_alb(lbc, (20, 80))
    s = await sut(max_rps=5, burst=20)
    pages: list[str] = []

    def bad_gateway(request: Any, **_: Any) -> AioAWSResponse | None:
        if len(pages) >= 2:
            return None
        pages.append("502")

        class _Raw:
            async def read(self) -> bytes:
                return b"<html><body>502 Bad Gateway</body></html>"

        return AioAWSResponse(request.url, 502, {"Content-Type": "text/html"}, _Raw())

    s.client.client.meta.events.register("before-send.elastic-load-balancing-v2.DescribeRules", bad_gateway)
    outcome = await s.weights.verify(request(alb))
    assert outcome.verified is True, outcome.reason
    assert s.client.calls["DescribeRules"] == 3
    assert s.client.bucket.rate < 5


async def test_persistent_throttling_gives_an_unverified_result(lbc, sut, clock):
    alb = await simple_alb(lbc, (20, 80))
    policy = throttling.RetryPolicy(max_attempts=4)
    s = await sut(max_rps=5, burst=20, policy=policy)
    s.faults.fail("DescribeLoadBalancers", "Throttling", times=50)
    outcome = await s.weights.verify(request(alb))
    assert outcome.verified is False
    assert outcome.error == ("AWS kept throttling elasticloadbalancing:DescribeLoadBalancers (Throttling); "
                             "will retry")
    assert s.client.calls["DescribeLoadBalancers"] == 4
    assert s.client.bucket.rate == pytest.approx(5 / 16)
    # Later, AWS calms down: the next verification converges.
    s.faults.failures.clear()
    clock.advance(60)
    assert (await s.weights.verify(request(alb))).verified is True


async def test_total_deadline_stops_retrying(lbc, sut, clock):
    alb = await simple_alb(lbc, (20, 80))
    policy = throttling.RetryPolicy(max_attempts=100, base_seconds=1, cap_seconds=1000, deadline_seconds=5)
    s = await sut(policy=policy)
    s.faults.fail("DescribeLoadBalancers", "Throttling", times=100)
    outcome = await s.weights.verify(request(alb))
    assert outcome.verified is False
    assert sum(clock.sleeps) <= 5
    assert s.client.calls["DescribeLoadBalancers"] < 100


async def test_retries_are_bounded_even_when_the_clock_never_moves(lbc, sut, clock):
    """A sleep that does not advance time must not turn the retry loop into a spin: attempts bound it."""
    alb = await simple_alb(lbc, (20, 80))
    s = await sut(policy=throttling.RetryPolicy(max_attempts=5, deadline_seconds=1e9))
    frozen: list[float] = []

    async def frozen_sleep(seconds: float) -> None:
        frozen.append(seconds)
        await asyncio.sleep(0)

    s.client._sleep = frozen_sleep
    s.faults.fail("DescribeLoadBalancers", "Throttling", times=1000)
    started = clock.now
    outcome = await s.weights.verify(request(alb))
    assert outcome.verified is False
    assert s.client.calls["DescribeLoadBalancers"] == 5
    assert frozen and clock.now == started


async def test_endless_pagination_is_an_error_not_a_loop(lbc, sut):
    alb = await simple_alb(lbc, (20, 80))
    s = await sut()

    first: list[str] = []

    def same_marker(parsed: dict[str, Any], **_: Any) -> None:
        # A marker moto accepts (a rule ARN), handed out again and again.
        first.extend(rule["RuleArn"] for rule in parsed.get("Rules", [])[:1] if not first)
        parsed["NextMarker"] = first[0]

    s.client.client.meta.events.register("after-call.elastic-load-balancing-v2.DescribeRules", same_marker)
    outcome = await s.weights.verify(request(alb))
    assert outcome.verified is False
    assert outcome.error == (f"elasticloadbalancing:DescribeRules failed (BadPagination): NextMarker "
                             f"{first[0]!r} came back twice; the listing would never end")
    assert s.client.calls["DescribeRules"] == 2


async def test_hanging_call_is_cut_by_its_deadline_and_retried(lbc, sut):
    alb = await simple_alb(lbc, (20, 80))
    s = await sut()
    s.client.call_timeout_seconds = 1.0  # the retry must fit in it on a loaded machine
    hung: list[int] = []

    async def hang_once(request: Any, **_: Any) -> None:
        if not hung:
            hung.append(1)
            await asyncio.Event().wait()  # never answers: only the call's deadline ends it

    s.client.client.meta.events.register("before-send.elastic-load-balancing-v2.DescribeRules", hang_once)
    outcome = await s.weights.verify(request(alb))
    assert outcome.verified is True
    assert s.client.calls["DescribeRules"] == 2
    assert s.registry.get_sample_value(
        "aws_api_requests_total", {"operation": "DescribeRules", "outcome": "error"}) == 1


async def test_concurrent_verifications_under_throttling_share_reads_and_never_raise(lbc, sut):
    alb = await simple_alb(lbc, (20, 80))
    s = await sut(max_rps=5, burst=2)
    s.faults.fail("DescribeRules", "Throttling", times=3)
    outcomes = await asyncio.gather(*(s.weights.verify(request(alb)) for _ in range(10)))
    assert all(o.verified for o in outcomes)
    assert s.client.calls["DescribeRules"] == 4  # one shared read, retried three times


async def test_bucket_queues_concurrent_callers_in_order(clock: FakeClock):
    bucket = throttling.AdaptiveBucket(5, 1, monotonic=clock.monotonic)
    delays = [bucket.reserve() for _ in range(4)]
    assert delays == [0.0, pytest.approx(0.2), pytest.approx(0.4), pytest.approx(0.6)]
    assert bucket.reserve(max_wait=0.5) is None  # would wait 0.8 s: nothing is taken
    assert bucket.reserve(max_wait=1.0) == pytest.approx(0.8)


async def test_calls_queued_past_the_deadline_are_refused_not_stalled(lbc, sut, clock):
    alb = await simple_alb(lbc, (20, 80))
    s = await sut(max_rps=1, burst=1, policy=throttling.RetryPolicy(deadline_seconds=2))
    for _ in range(3):  # three calls already queued: the next would wait 3 s > 2 s
        s.client.bucket.reserve()
    outcome = await s.weights.verify(request(alb))
    assert outcome.verified is False
    assert outcome.error == (
        "elasticloadbalancing:DescribeLoadBalancers not sent: more ELBv2 calls queued than --aws-max-rps 1 "
        "lets through within 2s; will retry")
    assert sum(s.client.calls.values()) == 0
