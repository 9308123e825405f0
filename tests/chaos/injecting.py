"""The chaos: seeded faults at random moments of the canary, and their undoing.

A plan (`plan_faults`) is drawn from the scenario's seed before anything runs, so a seed names its faults;
`Injector.run` applies them at their moments (the waits here are the scenario's own timing, not waits for a
condition) and `heal` undoes whatever is still in force. Faults:
  kill         kill -9 of the replica holding the Lease (any running one when none does), restarted later
  api500       the next N matching Kubernetes API requests answer 500
  api429       the next N matching requests answer 429 with Retry-After
  watchdrop    every open watch is dropped
  compact      the event history is compacted and watches dropped (resumed watches get 410 Gone)
  latency      matching Kubernetes API requests are slowed down for a few seconds
  throttle30   30% of the controller's ELBv2 calls answer Throttling for a few seconds (AWS proxy interceptor)
  throttle100  every ELBv2 call answers Throttling for a few seconds
  lbclag       the LBC simulator applies changes seconds late, for a few seconds
  lbcpause     the LBC simulator applies nothing for a few seconds
  slowreg      new targets are registered seconds later than the scenario's targetRegistrationSeconds
  touch        another writer updates the shared Ingress (the controllers' resourceVersion goes stale: 409)
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.aws_proxy import ProxiedCall
from sandbox.running import Sandbox
from tests.chaos import manifests
from tests.chaos.controllers import Fleet
from tests.chaos.invariants import Timeline

__all__ = ["FULL", "QUICK", "Fault", "Injector", "plan_faults", "throttling_error"]

QUICK = ("kill", "api500", "throttle30")
FULL = ("kill", "kill", "api500", "api500", "api429", "watchdrop", "compact", "latency", "throttle30",
        "throttle100", "lbclag", "lbcpause", "slowreg", "touch", "touch", "touch")
_VERBS = (None, "get", "list", "watch", "patch", "update", "create")
_RESOURCES = (None, "rollouts", "ingresses", "replicasets", "services", "leases", "events")


@dataclass(frozen=True, slots=True)
class Fault:
    at: float
    """Seconds after the image update."""
    kind: str
    seconds: float = 0.0
    """How long it lasts (a window), or how long a killed replica stays down."""
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"at": round(self.at, 2), "kind": self.kind, "seconds": round(self.seconds, 2), **self.detail}


def plan_faults(rng: random.Random, kinds: tuple[str, ...], *, window: float, registration_seconds: float,
                burst: tuple[int, int] = (2, 6), throttle_seconds: tuple[float, float] = (3.0, 8.0)
                ) -> list[Fault]:
    """One fault of each kind named (repeats allowed) at a random moment of the first `window` seconds;
    `burst` bounds how many requests an api500/api429 fails, `throttle_seconds` how long throttle30 lasts."""
    faults: list[Fault] = []
    for kind in kinds:
        at = rng.uniform(0.5, window)
        match kind:
            case "kill":
                faults.append(Fault(at, kind, rng.uniform(0.3, 2.0)))
            case "api500" | "api429":
                detail: dict[str, Any] = {"verb": rng.choice(_VERBS), "resource": rng.choice(_RESOURCES),
                                          "count": rng.randint(*burst)}
                if kind == "api429":
                    detail["retryAfter"] = rng.choice((1, 2))
                faults.append(Fault(at, kind, 0.0, detail))
            case "watchdrop" | "compact" | "touch":
                faults.append(Fault(at, kind))
            case "latency":
                slower = {"delay": round(rng.uniform(0.1, 0.5), 2), "verb": rng.choice(_VERBS[:5])}
                faults.append(Fault(at, kind, rng.uniform(2.0, 5.0), slower))
            case "throttle30":
                faults.append(Fault(at, kind, rng.uniform(*throttle_seconds), {"probability": 0.3}))
            case "throttle100":
                faults.append(Fault(at, kind, rng.uniform(3.0, 6.0), {"probability": 1.0}))
            case "lbclag":
                lag = {"lagSeconds": round(rng.uniform(0.5, 3), 2)}
                faults.append(Fault(at, kind, rng.uniform(2.0, 5.0), lag))
            case "lbcpause":
                faults.append(Fault(at, kind, rng.uniform(2.0, 5.0)))
            case "slowreg":
                slow = round(registration_seconds + rng.uniform(2.0, 4.0), 2)
                faults.append(Fault(at, kind, rng.uniform(3.0, 6.0), {"targetRegistrationSeconds": slow}))
            case _:
                raise ValueError(f"unknown fault kind {kind!r}")
    return sorted(faults, key=lambda fault: fault.at)


def throttling_error() -> web.Response:
    """What ELBv2 answers a throttled call (query protocol)."""
    body = ('<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error>'
            "<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return web.Response(status=400, body=body.encode(), content_type="text/xml")


Action = tuple[float, int, Callable[[], Awaitable[None]]]


class Injector:
    """Applies a plan to a sandbox and a fleet of controllers; `injected` says what was done, when."""

    def __init__(self, sandbox: Sandbox, fleet: Fleet, timeline: Timeline, rng: random.Random, *,
                 registration_seconds: float, initial_seconds: float) -> None:
        self.sandbox = sandbox
        self.fleet = fleet
        self.timeline = timeline
        self.rng = rng
        self.registration_seconds = registration_seconds
        self.initial_seconds = initial_seconds
        self.injected: list[dict[str, Any]] = []
        self.elbv2_calls = 0
        self.throttled = 0
        self._throttling: dict[int, float] = {}  # window id -> probability
        self._touches = 0
        assert sandbox.proxy is not None
        sandbox.proxy.interceptors.append(self._intercept)

    async def _intercept(self, call: ProxiedCall) -> web.StreamResponse | None:
        if call.service != "elasticloadbalancing":
            return None
        self.elbv2_calls += 1
        probability = max(self._throttling.values(), default=0.0)
        if probability > 0 and (probability >= 1 or self.rng.random() < probability):
            self.throttled += 1
            return throttling_error()
        return None

    def _note(self, fault: Fault, text: str) -> None:
        self.injected.append({"t": round(self.timeline.now(), 2), **fault.as_dict(), "what": text})
        self.timeline.say(f"CHAOS {fault.kind}: {text}")

    async def run(self, faults: list[Fault]) -> None:
        """Apply `faults` at their moments, counted from now; returns when the last one is undone."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        actions: list[Action] = []
        for number, fault in enumerate(faults):
            actions += self._actions(number, fault)
        actions.sort(key=lambda action: (action[0], action[1]))
        for at, _, act in actions:
            delay = started + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the scenario's own timing
            await act()

    def _actions(self, number: int, fault: Fault) -> list[Action]:
        faults = self.sandbox.api.faults
        lbc = self.sandbox.lbc
        assert lbc is not None
        start, end = fault.at, fault.at + fault.seconds
        match fault.kind:
            case "kill":
                victim: list[Any] = []

                async def kill() -> None:
                    leases = self.sandbox.storage.list("leases.coordination.k8s.io",
                                                       manifests.LEASE_NAMESPACE)
                    holders = [str((lease.get("spec") or {}).get("holderIdentity") or "") for lease in leases]
                    chosen = self.fleet.leader(holders)
                    role = "the leader" if chosen is not None else "a replica (no running one leads)"
                    running = [c for c in self.fleet.controllers if c.running]
                    if chosen is None and running:
                        chosen = self.rng.choice(running)
                    if chosen is None:
                        self._note(fault, "no replica running, nothing killed")
                        return
                    victim.append(chosen)
                    await self.fleet.kill9(chosen)
                    self._note(fault, f"kill -9 {chosen.name} ({role}); down for {fault.seconds:.2f}s")

                async def restart() -> None:
                    for chosen in victim:
                        await self.fleet.restart(chosen)
                        self.timeline.say(f"CHAOS kill: {chosen.name} restarted")

                return [(start, number, kill), (end, number, restart)]
            case "api500" | "api429":
                detail = fault.detail

                async def fail() -> None:
                    code = 500 if fault.kind == "api500" else 429
                    faults.fail_next(detail["verb"], detail["resource"], count=detail["count"], code=code,
                                     retry_after=detail.get("retryAfter"))
                    self._note(fault, f"next {detail['count']} {detail['verb'] or '*'} "
                                      f"{detail['resource'] or '*'} requests answer {code}")

                return [(start, number, fail)]
            case "watchdrop":
                async def drop() -> None:
                    self._note(fault, f"{faults.close_watches()} watches dropped")

                return [(start, number, drop)]
            case "compact":
                async def compact() -> None:
                    floor = faults.compact()
                    self._note(fault, f"history compacted below {floor}; {faults.close_watches()} watches "
                                      "dropped")

                return [(start, number, compact)]
            case "latency":
                verb, delay = fault.detail["verb"], fault.detail["delay"]

                async def slow() -> None:
                    faults.set_latency(delay, verb)
                    self._note(fault, f"{verb or '*'} requests {delay}s slower for {fault.seconds:.2f}s")

                async def fast() -> None:
                    faults.set_latency(0, verb)
                    self.timeline.say("CHAOS latency: over")

                return [(start, number, slow), (end, number, fast)]
            case "throttle30" | "throttle100":
                async def throttle() -> None:
                    self._throttling[number] = fault.detail["probability"]
                    self._note(fault, f"{fault.detail['probability']:.0%} of ELBv2 calls throttled for "
                                      f"{fault.seconds:.2f}s")

                async def unthrottle() -> None:
                    self._throttling.pop(number, None)
                    self.timeline.say(f"CHAOS {fault.kind}: over")

                return [(start, number, throttle), (end, number, unthrottle)]
            case "lbclag" | "lbcpause" | "slowreg":
                knobs: dict[str, Any] = fault.detail if fault.kind != "lbcpause" else {"paused": True}
                undos: dict[str, dict[str, Any]] = {
                    "lbclag": {"lagSeconds": 0}, "lbcpause": {"paused": False},
                    "slowreg": {"targetRegistrationSeconds": self.registration_seconds}}
                undo = undos[fault.kind]

                async def turn() -> None:
                    lbc.configure(dict(knobs))
                    self._note(fault, f"LBC {knobs} for {fault.seconds:.2f}s")

                async def back() -> None:
                    lbc.configure(dict(undo))
                    self.timeline.say(f"CHAOS {fault.kind}: over, LBC {undo}")

                return [(start, number, turn), (end, number, back)]
            case "touch":
                async def touch() -> None:
                    self._touches += 1
                    self.sandbox.storage.merge_patch(
                        "ingresses.networking.k8s.io", manifests.NAMESPACE, manifests.INGRESS,
                        {"metadata": {"labels": {"chaos/touched": str(self._touches)}}})
                    self._note(fault, "another writer updated the shared Ingress")

                return [(start, number, touch)]
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    async def heal(self) -> None:
        """Undo everything still in force: rules, latency, throttling, LBC knobs; every replica running."""
        faults = self.sandbox.api.faults
        faults.rules.clear()
        faults.set_latency(0)
        self._throttling.clear()
        assert self.sandbox.lbc is not None
        self.sandbox.lbc.configure({"lagSeconds": 0, "paused": False,
                                    "targetRegistrationSeconds": self.registration_seconds,
                                    "targetInitialSeconds": self.initial_seconds})
        await self.fleet.restore()

    def detach(self) -> None:
        proxy = self.sandbox.proxy
        if proxy is not None and self._intercept in proxy.interceptors:
            proxy.interceptors.remove(self._intercept)
