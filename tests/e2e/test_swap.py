"""The swap from the Argo Rollouts controller (docs/migrate.md): `alb-rollouts run` as real processes on the
sandbox, leading on the reference controller's own Lease, and who writes.

Each process talks to the API server with its own credentials (a bearer token named after it), and every
request the server serves is recorded with who sent it and which identity held each Lease at that moment:
the audit log a real API server keeps. "Only the leader writes" is then checked per write, not by timing.

Covers:
- two replicas with the default lease name contend for ONE Lease, `argo-rollouts-controller-lock` in their
  POD_NAMESPACE (no other Lease is made); at every sample where the Lease kept its holder, only that holder
  says it leads (debug API); every write other than to the Lease comes from the replica holding it when the
  server served it, and the standby writes nothing at all;
- the leader stopped with SIGTERM exits 0 and releases the Lease, the other takes over sooner than the lease
  duration and carries the Rollout on (the new image's canary step), as the only writer;
- a stand-in for the reference holding the Lease under its own identity and renewing it as client-go does
  keeps alb-rollouts from writing anything, not even to the Lease; when it stops renewing without releasing
  (the reference's shutdown), alb-rollouts waits its lease duration out, then leads and deploys;
- meanwhile a replica with `--instance-id alb` leads its own Lease (`argo-rollouts-controller-lock-alb`) and
  serves only the Rollout labelled for it, and neither replica writes to the other's Rollout.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from sandbox import aws
from sandbox import demo_manifests as demo
from sandbox.apiserver import faults
from sandbox.apiserver import kubeconfig as kubeconfigs
from sandbox.running import Sandbox
from tests.sandbox.polling import until

ROLLOUTS = "rollouts.argoproj.io"
INGRESSES = "ingresses.networking.k8s.io"
REPLICASETS = "replicasets.apps"
LEASES = "leases.coordination.k8s.io"
CONTROLLER_NAMESPACE = "argo-rollouts"  # the reference's install namespace; POD_NAMESPACE of every replica
REFERENCE_LEASE = "argo-rollouts-controller-lock"
INSTANCE_LABEL = "argo-rollouts.argoproj.io/controller-instance-id"
MIXED_NAMESPACE = "mixed"  # a copy of the demo whose Rollout is labelled for `--instance-id alb`
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# A released Lease is taken at the next try (0.5 s); 8 s is what a successor would wait for an unreleased one.
SWAP_LEASE = 8.0
SWAP_TIMINGS = ("--leader-election-lease-duration", f"{SWAP_LEASE:g}s", "--leader-election-renew-deadline",
                "5s", "--leader-election-retry-period", "0.5s")
# Short, so that waiting out the reference's unreleased Lease stays quick (the chaos suite's timings).
STANDBY_LEASE = 4.0
STANDBY_TIMINGS = ("--leader-election-lease-duration", f"{STANDBY_LEASE:g}s",
                   "--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "0.5s")


@pytest.fixture(autouse=True)
def _quiet(quiet_sandbox: None) -> None:
    """The LBC simulator's retry warnings stay out of passing runs."""


# ---- the audit log -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Served:
    """One request the API server answered: when, who sent it, and who held each Lease right after."""

    at: float
    who: str
    record: faults.RequestRecord
    holders: Mapping[str, str]

    @property
    def write(self) -> bool:
        return self.record.method in WRITES

    @property
    def to_lease(self) -> bool:
        return self.record.resource == LEASES


class Audit:
    """The sandbox's request log with the sender of each request (its bearer token) and the Leases' holders.

    The sandbox's RequestRecord names no user, so its per-request log hook is wrapped: it runs right after the
    request was served, with no await in between, so `holders` is who held each Lease when the write landed.
    """

    def __init__(self, world: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
        self.served: list[Served] = []
        api = world.api
        log_served = api._log

        def log(request: web.Request, route: Any, status: int) -> None:
            log_served(request, route, status)
            holders = {str(lease["metadata"]["name"]): _holder_of(lease)
                       for lease in api.storage.list(LEASES, CONTROLLER_NAMESPACE)}
            who = request.headers.get("Authorization", "").removeprefix("Bearer ")
            self.served.append(Served(time.monotonic(), who, api.faults.request_log[-1], holders))

        monkeypatch.setattr(api, "_log", log)

    def writes(self, who: str | None = None, *, leases: bool = False, since: int = 0) -> list[Served]:
        """Writes (by `who`, or anyone), those to Leases only if `leases`."""
        return [s for s in self.served[since:] if s.write and (leases or not s.to_lease)
                and (who is None or s.who == who)]

    def lease_reads(self, who: str, lease: str) -> list[Served]:
        return [s for s in self.served if s.who == who and s.to_lease and s.record.method == "GET"
                and s.record.name == lease]


@pytest.fixture
def audit(world: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Audit:
    return Audit(world, monkeypatch)


def _show(served: Served) -> str:
    r = served.record
    return f"{served.who}: {r.method} {r.path} -> {r.status} (leases held by {dict(served.holders)})"


# ---- the replicas ------------------------------------------------------------------------------------------


class Replica:
    """One `alb-rollouts run` process (POD_NAME and token: its name) with its JSON log lines collected."""

    def __init__(self, name: str, lease: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.lease = lease
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            text = line.decode()
            self.raw.append(text)
            with contextlib.suppress(ValueError):
                self.lines.append(json.loads(text))

    def logged(self, msg: str) -> dict[str, Any] | None:
        return next((line for line in self.lines if line.get("msg") == msg), None)

    @property
    def identity(self) -> str:
        """Its Lease candidate identity, `<POD_NAME>_<uuid>` as the reference's."""
        line = self.logged("leader election: waiting for the lease")
        return str(line.get("identity") or "") if line else ""

    @property
    def debug_port(self) -> int | None:
        line = self.logged("listening")
        return int(line["debug_port"]) if line else None

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def leading(self, http: aiohttp.ClientSession) -> bool:
        """What its debug API says: does it lead?"""
        if self.debug_port is None or not self.running:
            return False
        try:
            async with http.get(f"http://127.0.0.1:{self.debug_port}/rollouts") as reply:
                return bool(json.loads(await reply.text())["leading"])
        except (aiohttp.ClientError, ValueError, KeyError):
            return False

    async def terminate(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 30)
        await self.reader
        return code


Launch = Callable[..., Awaitable[Replica]]


@pytest.fixture
async def world(moto_server: aws.MotoServer, aws_endpoint: str) -> AsyncIterator[Sandbox]:
    async with Sandbox(moto=moto_server, pod_ready_seconds=0.2, bookmark_interval=0.2,
                       watch_timeout=5.0) as made:
        made.storage.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": CONTROLLER_NAMESPACE}})
        yield made


@pytest.fixture
async def launch(world: Sandbox, tmp_path: Path) -> AsyncIterator[Launch]:
    started: list[Replica] = []

    async def start(name: str, *flags: str, lease: str = REFERENCE_LEASE) -> Replica:
        document = kubeconfigs.kubeconfig_dict(world.api.url)
        document["users"][0]["user"]["token"] = name  # its own credentials: the audit log names it
        kubeconfig = tmp_path / f"{name}.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(document))
        argv = [sys.executable, "-m", "service.commands.run", "--kubeconfig", str(kubeconfig),
                "--leader-elect", *flags, "--metricsPort", "0", "--healthzPort", "0",
                "--debug-address", "127.0.0.1:0", "--logformat", "json"]
        # As k8s/base/deployment.yaml sets them from the downward API.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "POD_NAMESPACE": CONTROLLER_NAMESPACE, "POD_NAME": name}
        process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.STDOUT, env=env)
        replica = Replica(name, lease, process)
        started.append(replica)
        return replica

    yield start
    for replica in started:
        await replica.terminate()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


# ---- the world ---------------------------------------------------------------------------------------------


def _apply(world: Sandbox, objects: list[tuple[str, dict[str, Any]]]) -> None:
    plural = {"namespaces": "namespaces", "services": "services", "ingresses": INGRESSES,
              "rollouts": ROLLOUTS}
    for path, body in objects:
        world.storage.create(plural[path.rsplit("/", 1)[-1]], body)


def _labelled_copy(namespace: str, instance: str) -> list[tuple[str, dict[str, Any]]]:
    """The demo's objects in another namespace, its Rollout labelled for `--instance-id instance`."""
    moved = []
    for path, body in demo.objects():
        made = copy.deepcopy(body)
        if made["kind"] == "Namespace":
            made["metadata"]["name"] = namespace
        else:
            made["metadata"]["namespace"] = namespace
        if made["kind"] == "Rollout":
            made["metadata"]["labels"] = {INSTANCE_LABEL: instance}
        moved.append((path, made))
    return moved


def _holder_of(lease: Mapping[str, Any]) -> str:
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def _holder(world: Sandbox, lease: str) -> str | None:
    """The Lease's holderIdentity ("" released), None when there is no such Lease."""
    found = world.storage.get(LEASES, CONTROLLER_NAMESPACE, lease)
    return None if found is None else _holder_of(found)


def _status(world: Sandbox, namespace: str) -> dict[str, Any]:
    found = world.storage.get(ROLLOUTS, namespace, demo.ROLLOUT) or {}
    status = found.get("status")
    return status if isinstance(status, dict) else {}


def _canary_weight(world: Sandbox) -> int | None:
    ingress = world.storage.get(INGRESSES, demo.DEMO_NAMESPACE, demo.INGRESS) or {}
    action = ((ingress.get("metadata") or {}).get("annotations") or {}).get(demo.ACTION_KEY)
    if not action:
        return None
    groups = json.loads(action)["ForwardConfig"]["TargetGroups"]
    return next((g.get("Weight") for g in groups if g.get("ServiceName") == demo.CANARY), None)


def _not_holding(audit: Audit, replicas: list[Replica]) -> list[str]:
    """Writes (other than to a Lease) a replica made while it did not hold its Lease."""
    ours = {replica.name: replica for replica in replicas}
    return [_show(s) for s in audit.writes() if s.who in ours
            and s.holders.get(ours[s.who].lease) != ours[s.who].identity]


@dataclass(slots=True)
class Sampler:
    """Every 0.1 s: the Lease's holder, each running replica's `leading`, then the holder again; a sample
    counts when the holder did not change meanwhile. A replica told to stop is no longer asked: between
    releasing the Lease and closing its debug API it may still say it leads (the audit checks its writes)."""

    world: Sandbox
    http: aiohttp.ClientSession
    replicas: list[Replica]
    samples: list[tuple[str, list[str]]] = field(default_factory=list)
    stopping: set[str] = field(default_factory=set)

    async def run(self) -> None:
        while True:
            before = _holder(self.world, REFERENCE_LEASE) or ""
            asked = [r for r in self.replicas if r.running and r.name not in self.stopping]
            said = await asyncio.gather(*(r.leading(self.http) for r in asked))
            if (_holder(self.world, REFERENCE_LEASE) or "") == before:
                leaders = [r.identity for r, leads in zip(asked, said, strict=True) if leads]
                self.samples.append((before, leaders))
            await asyncio.sleep(0.1)  # a sampling period, not a wait for a condition

    def led(self, replica: Replica) -> int:
        """Samples in which the replica held the Lease and was the only one to say it leads."""
        return sum(1 for holder, leaders in self.samples if leaders == [holder] == [replica.identity])


# ---- the tests ---------------------------------------------------------------------------------------------


async def test_two_replicas_on_the_reference_lease_have_one_writer_and_hand_over(
        world: Sandbox, audit: Audit, launch: Launch, http: aiohttp.ClientSession) -> None:
    _apply(world, demo.objects())
    replicas = list(await asyncio.gather(launch("alb-rollouts-a", *SWAP_TIMINGS),
                                         launch("alb-rollouts-b", *SWAP_TIMINGS)))
    await until(lambda: all(r.identity and r.debug_port for r in replicas), within=30,
                what="both replicas listening and asking for the Lease")
    sampler = Sampler(world, http, replicas)
    sampling = asyncio.create_task(sampler.run())
    try:
        holder = await until(lambda: _holder(world, REFERENCE_LEASE), within=30, what="a leader")
        leader = next(r for r in replicas if r.identity == holder)
        standby = next(r for r in replicas if r is not leader)
        await until(lambda: _status(world, demo.DEMO_NAMESPACE).get("phase") == "Healthy", within=30,
                    what="the first deploy Healthy")
        await until(lambda: sampler.led(leader) >= 3, within=30, what="samples of the leader leading")

        # One Lease, the reference's, in the controllers' namespace; the standby wrote nothing at all.
        leases = world.storage.list(LEASES)
        assert [(lease["metadata"]["namespace"], lease["metadata"]["name"]) for lease in leases] == [
            (CONTROLLER_NAMESPACE, REFERENCE_LEASE)]
        assert leases[0]["spec"]["holderIdentity"] == leader.identity
        assert leader.identity.startswith(f"{leader.name}_")  # <POD_NAME>_<uuid>, as the reference's
        assert audit.writes(leader.name), "the leader wrote nothing"
        # (a create of the Lease that lost the race to the leader's is answered 409, and changes nothing)
        assert [_show(s) for s in audit.writes(standby.name, leases=True) if s.record.status < 300] == []
        assert [_show(s) for s in audit.writes(standby.name)] == []
        assert not await standby.leading(http)

        # The leader stops as a scaled-down pod does; it releases the Lease and the standby takes over.
        sampler.stopping.add(leader.name)
        assert await leader.terminate() == 0, "".join(leader.raw[-20:])
        exited = time.monotonic()
        assert _holder(world, REFERENCE_LEASE) in ("", standby.identity), "the Lease was not released"
        await until(lambda: _holder(world, REFERENCE_LEASE) == standby.identity, within=20,
                    what="the standby taking the Lease over")
        assert time.monotonic() - exited < SWAP_LEASE  # it did not wait for the Lease to expire
        spec = (world.storage.get(LEASES, CONTROLLER_NAMESPACE, REFERENCE_LEASE) or {})["spec"]
        assert spec["leaseTransitions"] == 1

        # The new leader carries the Rollout on: a new image goes to its first canary step.
        since = len(audit.served)
        world.storage.merge_patch(ROLLOUTS, demo.DEMO_NAMESPACE, demo.ROLLOUT,
                                  {"spec": {"template": demo.template(demo.IMAGES[1])}})
        await until(lambda: _canary_weight(world) == 20, within=30, what="the new leader's 20% canary step")
        assert {s.who for s in audit.writes(since=since)} == {standby.name}
        await until(lambda: sampler.led(standby) >= 3, within=30, what="samples of the new leader leading")
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling

    assert _not_holding(audit, replicas) == []
    assert {s.who for s in audit.served if s.write} <= {r.name for r in replicas}
    identities = {r.identity for r in replicas}
    assert [(holder, leaders) for holder, leaders in sampler.samples
            if holder not in identities | {""} or leaders not in ([], [holder])] == []
    assert await standby.terminate() == 0, "".join(standby.raw[-20:])


@dataclass(slots=True)
class ReferenceStandIn:
    """The Argo Rollouts controller as its Lease shows it (client-go's LeaseLock): it creates the Lease,
    renews it with a PUT of the whole object every retry period, and on shutdown stops renewing without
    releasing it (it runs with ReleaseOnCancel false)."""

    server: str
    http: aiohttp.ClientSession
    name: str = "argo-rollouts"  # its credentials
    identity: str = "argo-rollouts-7b9f6d5c4-x2k9p_3f1d2c9e-8b7a-4e6f-9a1b-2c3d4e5f6a7b"  # <hostname>_<uuid>
    renewed_at: float = 0.0
    path: str = f"/apis/coordination.k8s.io/v1/namespaces/{CONTROLLER_NAMESPACE}/leases"

    async def _send(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        async with self.http.request(method, self.server + path, json=body,
                                     headers={"Authorization": f"Bearer {self.name}"}) as reply:
            reply.raise_for_status()
            found: dict[str, Any] = json.loads(await reply.text())
            return found

    async def take(self) -> None:
        now = _micro_time()
        await self._send("POST", self.path, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": REFERENCE_LEASE, "namespace": CONTROLLER_NAMESPACE},
            "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": 15, "acquireTime": now,
                     "renewTime": now, "leaseTransitions": 0}})
        self.renewed_at = time.monotonic()

    async def keep_renewing(self) -> None:
        while True:
            await asyncio.sleep(0.5)  # its retry period
            lease = await self._send("GET", f"{self.path}/{REFERENCE_LEASE}")
            lease["spec"]["renewTime"] = _micro_time()
            await self._send("PUT", f"{self.path}/{REFERENCE_LEASE}", lease)
            self.renewed_at = time.monotonic()


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_alb_rollouts_writes_nothing_while_the_reference_holds_the_lease(
        world: Sandbox, audit: Audit, launch: Launch, http: aiohttp.ClientSession) -> None:
    _apply(world, demo.objects())  # unlabelled: served by a controller without --instance-id
    _apply(world, _labelled_copy(MIXED_NAMESPACE, "alb"))
    reference = ReferenceStandIn(world.api.url, http)
    await reference.take()
    renewing = asyncio.create_task(reference.keep_renewing())
    try:
        ours = await launch("alb-rollouts", *STANDBY_TIMINGS)
        mixed = await launch("alb-rollouts-mixed", *STANDBY_TIMINGS, "--instance-id", "alb",
                             lease=f"{REFERENCE_LEASE}-alb")
        # The --instance-id replica leads a Lease of its own at once and serves the Rollout labelled for it.
        await until(lambda: _status(world, MIXED_NAMESPACE).get("phase") == "Healthy", within=30,
                    what="the labelled Rollout Healthy")
        assert mixed.identity and _holder(world, mixed.lease) == mixed.identity

        def waited_twice_the_lease() -> bool:
            asked = audit.lease_reads(ours.name, ours.lease)
            return len(asked) >= 4 and time.monotonic() - asked[0].at >= 2 * STANDBY_LEASE

        await until(waited_twice_the_lease, within=30, what="two lease durations of election rounds")
        assert _holder(world, REFERENCE_LEASE) == reference.identity
        assert [_show(s) for s in audit.writes(ours.name, leases=True)] == []  # not even to the Lease
        assert _status(world, demo.DEMO_NAMESPACE) == {}
        assert world.storage.list(REPLICASETS, demo.DEMO_NAMESPACE) == []
        assert not await ours.leading(http)
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing

    # The reference was scaled down: its Lease is not released, so ours waits for it to expire.
    last_renewal = reference.renewed_at
    await until(lambda: _holder(world, REFERENCE_LEASE) == ours.identity, within=20,
                what="alb-rollouts taking the expired Lease")
    assert time.monotonic() - last_renewal >= STANDBY_LEASE - 0.5
    lease = world.storage.get(LEASES, CONTROLLER_NAMESPACE, REFERENCE_LEASE) or {}
    assert lease["spec"]["leaseTransitions"] == 1
    await until(lambda: _status(world, demo.DEMO_NAMESPACE).get("phase") == "Healthy", within=30,
                what="the unlabelled Rollout deployed by the new leader")

    assert _not_holding(audit, [ours, mixed]) == []
    assert [_show(s) for s in audit.writes(ours.name) if s.record.namespace == MIXED_NAMESPACE] == []
    assert [_show(s) for s in audit.writes(mixed.name) if s.record.namespace == demo.DEMO_NAMESPACE] == []
    assert audit.writes(ours.name) and audit.writes(mixed.name)
    assert {s.who for s in audit.served if s.write} <= {ours.name, mixed.name, reference.name}
    assert await ours.terminate() == 0, "".join(ours.raw[-20:])
    assert await mixed.terminate() == 0, "".join(mixed.raw[-20:])
