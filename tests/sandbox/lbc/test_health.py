"""The registration clock on a fake clock: `initial` (registration, then initial health checks, half the time
each) then `healthy`; `draining` for the delay then forgotten (at once with no delay); a re-registration ends
draining; unknown targets are left to moto; timings are fixed when the event happens."""

from __future__ import annotations

import pytest

from sandbox.lbc.health import DRAINING, Health, TargetClock

ARN = "arn:tg"
REGISTERING = Health("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
CHECKING = Health("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.mark.parametrize(("after", "expected"), [
    pytest.param(0.0, REGISTERING, id="just-registered"),
    pytest.param(0.9, REGISTERING, id="still-registering"),
    pytest.param(1.0, CHECKING, id="checking-from-half-way"),
    pytest.param(1.9, CHECKING, id="still-checking"),
    pytest.param(2.0, Health("healthy"), id="healthy"),
])
def test_registered_target_is_initial_then_healthy(time: FakeTime, after: float, expected: Health) -> None:
    clock = TargetClock(time)
    clock.registered(ARN, [("10.0.1.1", 8080)], initial_seconds=2.0)
    time.now += after
    assert clock.health(ARN, "10.0.1.1", 8080) == expected


def test_no_initial_time_is_healthy_at_once(time: FakeTime) -> None:
    clock = TargetClock(time)
    clock.registered(ARN, [("10.0.1.1", 8080)], initial_seconds=0.0)
    assert clock.health(ARN, "10.0.1.1", 8080) == Health("healthy")


def test_deregistered_target_drains_then_is_forgotten(time: FakeTime) -> None:
    clock = TargetClock(time)
    clock.registered(ARN, [("10.0.1.1", 8080), ("10.0.1.2", 8080)], initial_seconds=0.0)
    clock.deregistered(ARN, [("10.0.1.2", 8080)], delay_seconds=3.0)
    assert clock.health(ARN, "10.0.1.2", 8080) == DRAINING == Health(
        "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
    assert clock.draining(ARN) == [("10.0.1.2", 8080)]
    time.now += 3.0
    assert clock.health(ARN, "10.0.1.2", 8080) is None
    assert clock.draining(ARN) == []
    assert clock.health(ARN, "10.0.1.1", 8080) == Health("healthy")


def test_no_delay_forgets_at_once(time: FakeTime) -> None:
    clock = TargetClock(time)
    clock.registered(ARN, [("10.0.1.1", 8080)], initial_seconds=0.0)
    clock.deregistered(ARN, [("10.0.1.1", 8080)], delay_seconds=0.0)
    assert clock.health(ARN, "10.0.1.1", 8080) is None
    assert clock.draining(ARN) == []


def test_a_failed_deregistration_is_undone(time: FakeTime) -> None:
    clock = TargetClock(time)
    clock.registered(ARN, [("10.0.1.1", 8080)], initial_seconds=0.0)
    undo = clock.deregistered(ARN, [("10.0.1.1", 8080)], delay_seconds=5.0)
    assert clock.health(ARN, "10.0.1.1", 8080) == DRAINING  # from the moment of the call
    undo()  # the DeregisterTargets call failed: the target is registered as before
    assert clock.health(ARN, "10.0.1.1", 8080) == Health("healthy")
    assert clock.draining(ARN) == []


def test_registering_again_ends_draining(time: FakeTime) -> None:
    clock = TargetClock(time)
    clock.deregistered(ARN, [("10.0.1.1", 8080)], delay_seconds=5.0)
    clock.registered(ARN, [("10.0.1.1", 8080)], initial_seconds=1.0)
    assert clock.health(ARN, "10.0.1.1", 8080) == REGISTERING
    assert clock.draining(ARN) == []


def test_unknown_targets_and_groups_are_left_to_moto(time: FakeTime) -> None:
    clock = TargetClock(time)
    clock.registered(ARN, [("10.0.1.1", 8080)], initial_seconds=1.0)
    assert clock.health(ARN, "10.0.1.1", 9090) is None
    assert clock.health("arn:other", "10.0.1.1", 8080) is None
    assert clock.draining("arn:other") == []


def test_timings_are_fixed_when_the_event_happens(time: FakeTime) -> None:
    clock = TargetClock(time)
    clock.registered(ARN, [("10.0.1.1", 8080)], initial_seconds=10.0)
    clock.registered(ARN, [("10.0.1.2", 8080)], initial_seconds=0.0)
    time.now += 5.0
    assert clock.health(ARN, "10.0.1.1", 8080) == CHECKING
    assert clock.health(ARN, "10.0.1.2", 8080) == Health("healthy")


def test_a_failed_registration_is_undone(time: FakeTime) -> None:
    clock = TargetClock(time)
    clock.registered(ARN, [("10.0.1.1", 8080)], initial_seconds=0.0)
    undo_drain = clock.deregistered(ARN, [("10.0.1.1", 8080)], delay_seconds=5.0)
    undo = clock.registered(ARN, [("10.0.1.1", 8080), ("10.0.1.2", 8080)], initial_seconds=2.0)
    assert clock.health(ARN, "10.0.1.2", 8080) == REGISTERING  # from the moment of the call
    undo()  # the RegisterTargets call failed: the first drains as before, the second was never registered
    assert clock.health(ARN, "10.0.1.1", 8080) == DRAINING
    assert clock.health(ARN, "10.0.1.2", 8080) is None
    undo_drain()
    assert clock.health(ARN, "10.0.1.1", 8080) == Health("healthy")
