"""service.kube.leases: leader election on a Lease in the API emulator, with sub-second timings.

Covers: --leader-elect=false runs at once without touching the API; one candidate creates the Lease and
renews it (renewTime moves, acquireTime stays); two candidates → exactly one leader; the leader stops →
it releases and the other takes over at once (leaseTransitions counts it); a dead holder's Lease is taken
only after the lease duration by our own clock; renewals that keep failing past the renew deadline, or
another holder showing up, cancel the leader's work and raise LeadershipLost; a cancellation from outside
is not mistaken for a loss and releases the Lease; a body that swallows the cancellation still gets
LeadershipLost; failed reads and creates are retried, not sooner than the server's Retry-After (on a
FakeClock); a renewal answered with a Retry-After past the renew deadline loses the Lease; a failed release
is logged, not raised; Lease requests are counted; no task is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
import structlog

from service import client_metrics
from service.clock import FakeClock, SystemClock
from service.kube import leases
from service.settings import LeaderSettings
from tests.sandbox.polling import until

LEASES = "leases.coordination.k8s.io"
NAME = "alb-rollouts-test-lock"
SETTINGS = LeaderSettings(lease_duration_seconds=0.6, renew_deadline_seconds=0.4, retry_period_seconds=0.05,
                          namespace="default", lease_name=NAME)


def lease(api_server) -> Any:
    return api_server.storage.get(LEASES, "default", NAME)


def spec(api_server) -> dict[str, Any]:
    found = lease(api_server)
    return found["spec"] if found else {}


class Candidate:
    """One contender running `leading` in a task until told to stop; notes what happened to it."""

    def __init__(self, api: Any, identity: str, settings: LeaderSettings = SETTINGS, **kwargs: Any) -> None:
        self.identity = identity
        self.leading = asyncio.Event()
        self.stop = asyncio.Event()
        self.work_cancelled = False
        self.outcome: BaseException | None = None
        self.leadership: leases.Leadership | None = None
        self.task = asyncio.create_task(self._run(api, settings, kwargs))

    async def _run(self, api: Any, settings: LeaderSettings, kwargs: dict[str, Any]) -> None:
        try:
            async with leases.leading(api, settings, self.identity, clock=SystemClock(), **kwargs) as held:
                self.leadership = held
                self.leading.set()
                try:
                    await self.stop.wait()
                except asyncio.CancelledError:
                    self.work_cancelled = True
                    raise
        except (leases.LeadershipLost, asyncio.CancelledError) as exc:
            self.outcome = exc
            if isinstance(exc, asyncio.CancelledError):
                raise

    async def finish(self) -> None:
        self.stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def candidates(api_client):
    made: list[Candidate] = []

    def make(identity: str, **kwargs: Any) -> Candidate:
        made.append(Candidate(kwargs.pop("api", api_client), identity, **kwargs))
        return made[-1]

    yield make
    for candidate in made:
        candidate.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await candidate.task


async def test_disabled_election_runs_at_once_without_the_api(api_server, api_client):
    settings = LeaderSettings(elect=False, namespace="default", lease_name=NAME)
    async with leases.leading(api_client, settings, "me", clock=SystemClock()) as held:
        assert (held.identity, held.elected, held.lost) == ("me", False, False)
    assert api_server.faults.request_log == []


async def test_one_candidate_creates_and_renews_the_lease(api_server, candidates):
    me = candidates("me")
    await asyncio.wait_for(me.leading.wait(), 10)
    first = spec(api_server)
    assert (first["holderIdentity"], first["leaseDurationSeconds"], first["leaseTransitions"]) == ("me", 1, 0)
    assert first["acquireTime"] == first["renewTime"]
    await until(lambda: spec(api_server)["renewTime"] != first["renewTime"], within=10, what="a renewal")
    await until(lambda: me.leadership.renewals >= 2, within=10, what="two renewals")
    renewed = spec(api_server)
    assert (renewed["holderIdentity"], renewed["acquireTime"]) == ("me", first["acquireTime"])
    assert renewed["renewTime"] > first["renewTime"]
    verbs = [r.verb for r in api_server.faults.request_log]
    assert verbs[:3] == ["get", "create", "get"] and "update" in verbs
    await me.finish()
    assert me.outcome is None and not me.work_cancelled
    released = spec(api_server)
    assert (released["holderIdentity"], released["leaseDurationSeconds"]) == ("", 1)


async def test_two_candidates_one_leader_then_the_other_takes_over(api_server, candidates):
    # A long lease duration: only a release explains a quick takeover.
    patient = LeaderSettings(lease_duration_seconds=5.0, renew_deadline_seconds=0.4,
                             retry_period_seconds=0.05, namespace="default", lease_name=NAME)
    first, second = candidates("first", settings=patient), candidates("second", settings=patient)
    done, _ = await asyncio.wait([asyncio.ensure_future(first.leading.wait()),
                                  asyncio.ensure_future(second.leading.wait())],
                                 timeout=10, return_when=asyncio.FIRST_COMPLETED)
    assert done
    leader, follower = (first, second) if first.leading.is_set() else (second, first)
    gets = sum(1 for r in api_server.faults.request_log if r.verb == "get")
    # Both keep polling; after several more rounds the follower still does not lead.
    await until(lambda: sum(1 for r in api_server.faults.request_log if r.verb == "get") >= gets + 8,
                within=10, what="more election rounds")
    assert not follower.leading.is_set()
    assert spec(api_server)["holderIdentity"] == leader.identity
    started = time.monotonic()
    await leader.finish()
    await asyncio.wait_for(follower.leading.wait(), 10)
    # A released Lease is taken at the next retry, not after the lease duration.
    assert time.monotonic() - started < patient.lease_duration_seconds
    taken = spec(api_server)
    assert (taken["holderIdentity"], taken["leaseTransitions"]) == (follower.identity, 1)


async def test_a_dead_holders_lease_is_taken_after_the_lease_duration(api_server, candidates):
    api_server.storage.create(LEASES, {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": NAME, "namespace": "default"},
        "spec": {"holderIdentity": "ghost", "leaseDurationSeconds": 1, "leaseTransitions": 4,
                 "acquireTime": "2020-01-01T00:00:00.000000Z", "renewTime": "2020-01-01T00:00:00.000000Z"},
    })
    started = time.monotonic()
    me = candidates("me")
    await asyncio.wait_for(me.leading.wait(), 10)
    # Expiry is judged by our own clock from when we first saw the record, never by its (skewed) timestamps.
    assert time.monotonic() - started >= SETTINGS.lease_duration_seconds
    taken = spec(api_server)
    assert (taken["holderIdentity"], taken["leaseTransitions"]) == ("me", 5)
    assert taken["acquireTime"] == taken["renewTime"] != "2020-01-01T00:00:00.000000Z"


async def test_failing_renewals_cancel_the_work_after_the_renew_deadline(api_server, candidates):
    me = candidates("me")
    await asyncio.wait_for(me.leading.wait(), 10)
    api_server.faults.fail_next("update", "leases", count=1_000_000, code=500)
    broken = time.monotonic()
    await asyncio.wait_for(me.task, 10)
    assert isinstance(me.outcome, leases.LeadershipLost) and str(me.outcome) == "not renewed within 0.4s"
    assert time.monotonic() - broken >= SETTINGS.renew_deadline_seconds - SETTINGS.retry_period_seconds
    assert me.work_cancelled and me.leadership.lost
    assert spec(api_server)["holderIdentity"] == "me"  # a lost lease is not "released" over someone else


async def test_another_holder_cancels_the_work_at_once(api_server, candidates):
    me = candidates("me")
    await asyncio.wait_for(me.leading.wait(), 10)
    stolen = lease(api_server)
    stolen["spec"]["holderIdentity"] = "usurper"
    api_server.storage.replace(LEASES, stolen)
    await asyncio.wait_for(me.task, 10)
    assert isinstance(me.outcome, leases.LeadershipLost)
    assert str(me.outcome) == "another candidate holds the lease"
    assert me.work_cancelled
    assert spec(api_server)["holderIdentity"] == "usurper"


async def test_cancelled_from_outside_is_not_a_loss_and_releases(api_server, candidates):
    me = candidates("me")
    await asyncio.wait_for(me.leading.wait(), 10)
    me.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await me.task
    assert isinstance(me.outcome, asyncio.CancelledError) and not me.leadership.lost
    assert spec(api_server)["holderIdentity"] == ""


async def test_a_body_that_swallows_the_cancellation_still_learns_of_the_loss(api_server, api_client):
    cancelled = []

    async def run() -> None:
        async with leases.leading(api_client, SETTINGS, "me", clock=SystemClock()):
            api_server.faults.fail_next("get", "leases", count=1_000_000, code=503)
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(True)  # and carry on as if nothing happened

    task = asyncio.create_task(run())
    with pytest.raises(leases.LeadershipLost):
        await asyncio.wait_for(task, 10)
    assert cancelled == [True]
    assert task.cancelling() == 0  # our cancellation was taken back


async def test_lease_requests_are_counted(api_server, api_client, registry):
    metrics = client_metrics.KubeClientMetrics(registry)
    async with leases.leading(api_client, SETTINGS, "me", clock=SystemClock(), metrics=metrics):
        pass

    def count(verb: str, status: str) -> Any:
        labels = {"kind": "leases", "namespace": "default", "name": NAME, "verb": verb, "status_code": status}
        return registry.get_sample_value("controller_clientset_k8s_request_total", labels)

    assert (count("Get", "404"), count("Update", "200")) == (1.0, 1.0)  # read, then the release
    created = {"kind": "leases", "namespace": "default", "name": NAME, "verb": "Create", "status_code": "201"}
    assert registry.get_sample_value("controller_clientset_k8s_request_total", created) == 1.0


def test_micro_time_and_identity():
    from datetime import UTC, datetime
    assert leases.micro_time(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006Z"
    first, second = leases.default_identity(), leases.default_identity()
    assert first != second and first.rsplit("_", 1)[0] == second.rsplit("_", 1)[0]


async def test_failing_reads_are_retried_until_the_lease_is_won(api_server, api_client):
    api_server.faults.fail_next("get", "leases", count=3, code=500)
    async with leases.leading(api_client, SETTINGS, "me", clock=SystemClock()) as held:
        assert held.elected and spec(api_server)["holderIdentity"] == "me"
    statuses = [(r.verb, r.status) for r in api_server.faults.request_log]
    assert statuses[:5] == [("get", 500)] * 3 + [("get", 404), ("create", 201)]


@pytest.mark.parametrize(("verb", "code"), [("get", 429), ("create", 503)])
async def test_a_retry_after_spaces_the_next_try(api_server, api_client, verb, code):
    clock = FakeClock()
    api_server.faults.fail_next(verb, "leases", code=code, retry_after=3)
    entered, stop = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with leases.leading(api_client, SETTINGS, "me", clock=clock):
            entered.set()
            await stop.wait()

    task = asyncio.create_task(run())
    try:
        await until(lambda: clock.sleepers == 1, what="the pause after the refused try")
        assert clock.next_deadline - clock.monotonic() == pytest.approx(3.0)  # not the 0.05 s retry period
        assert [r.status for r in api_server.faults.request_log][-1] == code
        clock.advance(2.99)
        assert clock.sleepers == 1 and not entered.is_set()
        tries = len(api_server.faults.request_log)
        clock.advance(0.01)
        await asyncio.wait_for(entered.wait(), 10)
        assert len(api_server.faults.request_log) > tries
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_renewal_told_to_wait_past_the_renew_deadline_loses_the_lease(api_server, api_client):
    clock = FakeClock()
    lost: list[BaseException] = []
    entered = asyncio.Event()

    async def run() -> None:
        try:
            async with leases.leading(api_client, SETTINGS, "me", clock=clock):
                entered.set()
                await asyncio.Event().wait()
        except leases.LeadershipLost as exc:
            lost.append(exc)

    task = asyncio.create_task(run())
    await asyncio.wait_for(entered.wait(), 10)
    api_server.faults.fail_next("get", "leases", code=429, retry_after=5)
    await until(lambda: clock.sleepers == 1, what="the renewal loop asleep")
    clock.advance(SETTINGS.retry_period_seconds)  # the renewal: 429 Retry-After: 5
    await until(lambda: clock.sleepers == 1 and clock.next_deadline - clock.monotonic() == pytest.approx(5.0),
                what="the pause the server asked for")
    clock.advance(5.0)  # past the 0.4 s renew deadline: lost without another try
    await asyncio.wait_for(task, 10)
    assert [str(e) for e in lost] == ["not renewed within 0.4s"]
    assert [r.status for r in api_server.faults.request_log if r.verb == "get"][-1] == 429


async def test_a_failed_create_is_retried(api_server, api_client):
    api_server.faults.fail_next("create", "leases", count=2, code=409)
    async with leases.leading(api_client, SETTINGS, "me", clock=SystemClock()):
        pass
    creates = [r.status for r in api_server.faults.request_log if r.verb == "create"]
    assert creates == [409, 409, 201]


async def test_a_failed_release_is_logged_not_raised(api_server, api_client):
    with structlog.testing.capture_logs() as logs:
        async with leases.leading(api_client, SETTINGS, "me", clock=SystemClock()):
            api_server.faults.fail_next("update", "leases", count=1_000_000, code=500)
    (entry,) = [e for e in logs if e["event"] == "leader election: cannot release the lease"]
    assert entry["log_level"] == "warning" and entry["error"].startswith("500 InternalError: ")
    assert spec(api_server)["holderIdentity"] == "me"  # it expires by itself


async def test_an_unexpected_error_in_a_renewal_is_a_failed_renewal(api_server, api_client):
    async def broken_token() -> None:
        raise RuntimeError("exec plugin failed")

    configuration = api_client.configuration
    with structlog.testing.capture_logs() as logs:
        me = Candidate(api_client, "me")
        try:
            await asyncio.wait_for(me.leading.wait(), 10)
            configuration.api_key = {"BearerToken": "t"}
            configuration.refresh_api_key_hook = lambda _config: broken_token()
            await asyncio.wait_for(me.task, 10)
        finally:
            configuration.api_key, configuration.refresh_api_key_hook = {}, None
            me.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await me.task
    assert isinstance(me.outcome, leases.LeadershipLost) and me.work_cancelled
    assert any(e["event"] == "leader election: attempt failed" for e in logs)


async def test_a_release_that_conflicts_reads_the_lease_and_releases_it_anyway(api_server, candidates):
    """A renewal cut short by the exit may land after our last copy: the release re-reads and hands over."""
    me = candidates("me")
    await asyncio.wait_for(me.leading.wait(), 10)
    api_server.faults.fail_next("update", "leases", code=409, message="the object has been modified")
    await me.finish()
    released = spec(api_server)
    assert (released["holderIdentity"], released["leaseDurationSeconds"]) == ("", 1)
