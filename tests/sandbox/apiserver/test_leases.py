"""Leader election with kubernetes-asyncio's LeaseLock against the emulator.

Covers: two candidates on one Lease, exactly one leads (GET 404 → POST 201 → PUT with the read RV), the other
keeps polling without taking over, and the Lease names the leader.
"""

from __future__ import annotations

import asyncio
import contextlib

from kubernetes_asyncio import client
from kubernetes_asyncio.leaderelection import electionconfig, leaderelection
from kubernetes_asyncio.leaderelection.resourcelock.leaselock import LeaseLock

from tests.sandbox.polling import until


async def test_two_candidates_one_leader(kube_api):
    leaders: list[str] = []
    clients = [client.ApiClient(client.Configuration(host=kube_api.url)) for _ in range(2)]

    def candidate(identity: str, api: client.ApiClient) -> leaderelection.LeaderElection:
        async def lead() -> None:
            leaders.append(identity)
            await asyncio.Event().wait()

        async def stopped() -> None:
            pass

        lock = LeaseLock("alb-rollouts", "default", identity, api)
        cfg = electionconfig.Config(lock, lease_duration=3, renew_deadline=2, retry_period=1,
                                    onstarted_leading=lead, onstopped_leading=stopped)
        return leaderelection.LeaderElection(cfg)

    tasks = [asyncio.create_task(candidate(f"c{i}", api).run()) for i, api in enumerate(clients)]
    try:
        await until(lambda: leaders, what="a leader")
        reads_at_win = sum(1 for r in kube_api.faults.request_log if r.verb == "get")
        # Both candidates retry every second; after each re-read the Lease twice, the loser had its chances.
        await until(
            lambda: sum(1 for r in kube_api.faults.request_log if r.verb == "get") >= reads_at_win + 4,
            what="both candidates to retry",
        )
        assert len(leaders) == 1
        lease = kube_api.storage.get("leases.coordination.k8s.io", "default", "alb-rollouts")
        assert lease is not None and lease["spec"]["holderIdentity"] == leaders[0]
        # If both saw 404 they raced to create: exactly one 201, the loser got 409 AlreadyExists.
        creates = [r.status for r in kube_api.faults.request_log if r.verb == "create"]
        assert creates in ([201], [201, 409], [409, 201])
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for api in clients:
            await api.close()
