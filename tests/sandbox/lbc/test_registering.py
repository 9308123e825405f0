"""Target timing knobs of the LBC simulator, read through the truthful AWS proxy with aiobotocore (as the
controller reads it): a new target is absent for targetRegistrationSeconds, then `initial` (registration,
then initial health checks) for targetInitialSeconds, then `healthy`, and `settled()` waits for it; unwanted
targets are deregistered before new ones are registered; a deregistered target is `draining` for
deregistrationDelaySeconds (moto forgot it at once), then gone, also when asked for by name; a target is
`initial` as soon as RegisterTargets has answered, never moto's `healthy` first, and a registration that
failed is forgotten."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.apiserver.storage import Storage
from sandbox.lbc.registering import Registrar, Timings
from tests.sandbox.lbc import manifests
from tests.sandbox.lbc.manifests import INGRESSES, SLICES, TGBS
from tests.sandbox.polling import DEADLINE, until

ACTION = "alb.ingress.kubernetes.io/actions.stable"


def _arn(storage: Storage, service: str = "stable") -> str | None:
    found = [t for t in storage.list(TGBS) if t["spec"]["serviceRef"]["name"] == service]
    return str(found[0]["spec"]["targetGroupARN"]) if found else None


async def _setup(storage: Storage, stable: list[str]) -> str:
    manifests.backend_pair(storage, stable=stable, canary=[])
    storage.create(INGRESSES, manifests.ingress(annotations={ACTION: manifests.forward(("stable", 100))}))
    return str(await until(lambda: _arn(storage), what="the stable TargetGroupBinding"))


def _health(elbv2: Any, arn: str) -> Callable[[], Awaitable[dict[str, tuple[str, str | None]]]]:
    async def read() -> dict[str, tuple[str, str | None]]:
        described = await elbv2.describe_target_health(TargetGroupArn=arn)
        return {d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
                for d in described["TargetHealthDescriptions"]}

    return read


async def _timeline(read: Callable[[], Awaitable[Any]], last: Any) -> list[Any]:
    """Every distinct value `read` gives (polled every 10 ms, with a deadline) up to and including `last`."""
    seen: list[Any] = []

    async def reached() -> bool:
        value = await read()
        if not seen or seen[-1] != value:
            seen.append(value)
        return bool(value == last)

    await until(reached, what=f"{last}; seen so far {seen}")
    return seen


def _set_ready(storage: Storage, ips: list[str]) -> None:
    storage.merge_patch(SLICES, "default", "stable-slice", {"endpoints": [
        {"addresses": [ip], "conditions": {"ready": True}} for ip in ips]})


async def test_new_target_is_absent_then_initial_then_healthy(lbc, storage, elbv2_truth) -> None:
    lbc.configure({"targetRegistrationSeconds": 0.3, "targetInitialSeconds": 1.5})  # seen on a loaded machine
    arn = await _setup(storage, ["10.0.1.1"])
    seen = await _timeline(_health(elbv2_truth, arn), {"10.0.1.1": ("healthy", None)})
    assert seen == [
        {},
        {"10.0.1.1": ("initial", "Elb.RegistrationInProgress")},
        {"10.0.1.1": ("initial", "Elb.InitialHealthChecking")},
        {"10.0.1.1": ("healthy", None)},
    ]


async def test_settled_waits_for_pending_registrations(lbc, storage, elbv2_truth) -> None:
    lbc.configure({"targetRegistrationSeconds": 0.4})
    arn = await _setup(storage, ["10.0.1.1"])
    async with asyncio.timeout(DEADLINE):
        await lbc.settled()
    assert await _health(elbv2_truth, arn)() == {"10.0.1.1": ("healthy", None)}


async def test_unwanted_targets_go_before_new_ones_come(lbc, storage, elbv2_truth) -> None:
    arn = await _setup(storage, ["10.0.1.1"])
    read = _health(elbv2_truth, arn)
    await _timeline(read, {"10.0.1.1": ("healthy", None)})
    lbc.configure({"targetRegistrationSeconds": 0.4})
    _set_ready(storage, ["10.0.1.2"])
    seen = await _timeline(read, {"10.0.1.2": ("healthy", None)})
    assert seen == [{"10.0.1.1": ("healthy", None)}, {}, {"10.0.1.2": ("healthy", None)}]


async def test_deregistered_target_drains_for_the_delay(lbc, storage, elbv2, elbv2_truth) -> None:
    arn = await _setup(storage, ["10.0.1.1", "10.0.1.2"])
    read = _health(elbv2_truth, arn)
    both = {"10.0.1.1": ("healthy", None), "10.0.1.2": ("healthy", None)}
    await _timeline(read, both)
    lbc.configure({"deregistrationDelaySeconds": 2.0})  # long enough to be seen on a loaded machine
    _set_ready(storage, ["10.0.1.1"])
    draining = {"10.0.1.1": ("healthy", None), "10.0.1.2": ("draining", "Target.DeregistrationInProgress")}
    assert await _timeline(read, draining) == [both, draining]
    # moto forgot it at once; asked for by name, the proxy still says draining.
    assert await _health(elbv2, arn)() == {"10.0.1.1": ("healthy", None)}
    named = await elbv2_truth.describe_target_health(TargetGroupArn=arn,
                                                     Targets=[{"Id": "10.0.1.2", "Port": 8080}])
    assert [d["TargetHealth"]["State"] for d in named["TargetHealthDescriptions"]] == ["draining"]
    gone = {"10.0.1.1": ("healthy", None)}
    assert await _timeline(read, gone) == [draining, gone]
    named = await elbv2_truth.describe_target_health(TargetGroupArn=arn,
                                                     Targets=[{"Id": "10.0.1.2", "Port": 8080}])
    assert named["TargetHealthDescriptions"][0]["TargetHealth"] == {
        "State": "unused", "Reason": "Target.NotRegistered",
        "Description": "Target is not registered to the target group"}


class _Watching:
    """The LBC's ELBv2 client, plus what the truthful proxy says of the targets the moment RegisterTargets
    answers (the LBC's own coroutine has not run on yet)."""

    def __init__(self, elbv2: Any, truth: Any, *, refuse: bool = False) -> None:
        self._elbv2, self._truth, self._refuse = elbv2, truth, refuse
        self.seen_at_answer: dict[str, tuple[str, str | None]] = {}

    async def describe_target_health(self, **kwargs: Any) -> Any:
        return await self._elbv2.describe_target_health(**kwargs)

    async def register_targets(self, **kwargs: Any) -> Any:
        if self._refuse:
            error = {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}
            raise ClientError(error, "RegisterTargets")  # type: ignore[arg-type]
        answer = await self._elbv2.register_targets(**kwargs)
        self.seen_at_answer = await _health(self._truth, kwargs["TargetGroupArn"])()
        return answer


async def test_a_target_is_initial_from_the_answer_of_its_registration(lbc, storage, elbv2, elbv2_truth
                                                                       ) -> None:
    arn = await _setup(storage, [])
    lbc.configure({"paused": True})  # this test registers by itself, through the LBC's registration clock
    watching = _Watching(elbv2, elbv2_truth)
    registrar = Registrar(watching, lbc.target_health, now=asyncio.get_running_loop().time)
    assert await registrar.sync(arn, [("10.0.1.1", 8080)], Timings(initial_seconds=30.0)) is None
    assert watching.seen_at_answer == {"10.0.1.1": ("initial", "Elb.RegistrationInProgress")}


async def test_a_failed_registration_is_forgotten(lbc, storage, elbv2, elbv2_truth) -> None:
    arn = await _setup(storage, [])
    lbc.configure({"paused": True})
    registrar = Registrar(_Watching(elbv2, elbv2_truth, refuse=True), lbc.target_health,
                          now=asyncio.get_running_loop().time)
    with pytest.raises(ClientError) as refused:
        await registrar.sync(arn, [("10.0.1.1", 8080)], Timings(initial_seconds=30.0))
    assert refused.value.response["Error"]["Code"] == "Throttling"
    assert lbc.target_health.health(arn, "10.0.1.1", 8080) is None
    assert await _health(elbv2_truth, arn)() == {}
