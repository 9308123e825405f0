"""What start-up waits for, said out loud: each cause at ERROR level and on /readyz, never a silent wait.

Room: start-up (service.running wires it). `Problems` holds the current cause per check: the Lease
(service.kube.leases reports each failed try), the caches (`wait_synced`: a LIST refused, e.g. 403 or a
missing CRD's 404, or one that is slow) and AWS credentials (`check_aws_credentials`, with
--aws-verify-target-group). A new cause is logged at ERROR with what to do, the same one again only every
`REPEAT_SECONDS`, its end at INFO; meanwhile a readiness check named after it fails /readyz with the same
sentence. It never decides anything about a Rollout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError

from service import clock as clocks
from service.http import health
from service.kube import informers as informing

__all__ = ["AWS_CREDENTIALS", "CACHES", "CREDENTIALS_TIMEOUT_SECONDS", "LEADER_ELECTION", "NO_CREDENTIALS",
           "POLL_SECONDS", "REPEAT_SECONDS", "SLOW_SYNC_SECONDS", "CredentialsCheck", "Problems",
           "StartError", "aws_credentials_problem", "check_aws_credentials", "wait_listing",
           "wait_synced"]


class StartError(Exception):
    """The controller cannot start (configuration, no AWS region, ...); the message says what to fix."""

log = structlog.get_logger(__name__)

LEADER_ELECTION, CACHES, AWS_CREDENTIALS = "leader-election", "caches", "aws-credentials"
"""The checks' names, as the log's `check` field and /readyz show them."""
REPEAT_SECONDS = 300.0
"""The same cause is logged again only this often (a new or changed cause at once)."""
POLL_SECONDS = 0.5
"""How often the caches' reasons are looked at while they sync."""
SLOW_SYNC_SECONDS = 5.0
"""A cache still without its first LIST after this long is a problem even without an error."""
CREDENTIALS_TIMEOUT_SECONDS = 15.0
"""Longest wait for botocore's credential chain (instance metadata may take seconds to time out)."""
NO_CREDENTIALS = (
    "no AWS credentials found (environment, web identity/IRSA, shared config and credentials files, "
    "container or instance metadata), needed by --aws-verify-target-group: on EKS annotate the controller's "
    "service account with its IAM role (eks.amazonaws.com/role-arn, docs/install.md); elsewhere set "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any value against the sandbox); then restart the "
    "controller (its ELBv2 client reads them once). Until then every verified step waits")

CredentialsCheck = Callable[[], Awaitable[str | None]]
"""Why the ELBv2 client would have no AWS credentials, or None when it has some."""


def _failing() -> bool:
    return False


class Problems:
    """The current cause per check: logged once (again when it changes, or every `repeat_seconds`)."""

    def __init__(self, probes: health.Health, clock: clocks.Clock, *,
                 repeat_seconds: float = REPEAT_SECONDS) -> None:
        self._probes = probes
        self._clock = clock
        self._repeat = repeat_seconds
        self._current: dict[str, str] = {}
        self._said: dict[tuple[str, str], float] = {}
        """When each (check, cause) was last logged: causes that alternate are not logged at each turn."""

    def current(self) -> dict[str, str]:
        """Each check's current cause (a copy)."""
        return dict(self._current)

    def report(self, check: str, problem: str | None, *, readiness: bool = True, **fields: Any) -> None:
        """`problem`: why `check` holds the controller back and what to do (None: it no longer does).

        With `readiness`, /readyz fails with the same sentence while it lasts; `fields` go to the log line.
        """
        if problem is None:
            if self._current.pop(check, None) is not None:
                self._probes.remove(check)
                log.info("start-up problem resolved", check=check, **fields)
            return
        self._current[check] = problem
        if readiness:
            self._probes.add_readiness(check, _failing, lambda: self._current.get(check, ""))
        now = self._clock.monotonic()
        said = self._said.get((check, problem))
        if said is None or now - said >= self._repeat:
            self._said[(check, problem)] = now
            log.error("start-up problem", check=check, reason=problem, **fields)


async def aws_credentials_problem(within: float = CREDENTIALS_TIMEOUT_SECONDS) -> str | None:
    """Ask botocore's default credential chain, as the ELBv2 client will: None when it finds credentials."""
    try:
        found = await asyncio.wait_for(get_session().get_credentials(), within)
    except TimeoutError:
        return f"{NO_CREDENTIALS} (the credential chain gave no answer within {within:g}s)"
    except BotoCoreError as exc:  # e.g. a profile naming a role it cannot assume, a malformed file
        return f"AWS credentials cannot be loaded ({type(exc).__name__}: {exc}); fix them and restart"
    return NO_CREDENTIALS if found is None else None


async def check_aws_credentials(problems: Problems,
                                check: CredentialsCheck = aws_credentials_problem) -> None:
    """Report once whether the ELBv2 client will have credentials (it reads them once, at creation)."""
    problem = await check()
    if problem is not None:
        problems.report(AWS_CREDENTIALS, problem)


async def wait_synced(informers: informing.Informers, stop: asyncio.Event, problems: Problems, *,
                      poll: float = POLL_SECONDS, slow_after: float = SLOW_SYNC_SECONDS) -> bool:
    """True once every required cache has synced (not the TargetGroupBindings: without their CRD they never
    would, which must not block every Rollout; readiness names them); False when `stop` came first.

    While waiting, a required cache whose LIST failed (or that is slower than `slow_after`) is reported as a
    CACHES problem, log only: the informers' own readiness check already names it on /readyz.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    synced: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.gather(*(reflector.synced.wait() for reflector in informers.required)))
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        while True:
            done, _ = await asyncio.wait({synced, stopping}, timeout=poll,
                                         return_when=asyncio.FIRST_COMPLETED)
            if synced in done:
                problems.report(CACHES, None, readiness=False)
                return True
            if stopping in done:
                return False
            slow = loop.time() - started >= slow_after
            waiting = [informing.unsynced_reason(reflector) for reflector in informers.required
                       if not reflector.synced.is_set() and (reflector.last_error or slow)]
            problems.report(CACHES, "; ".join(waiting) or None, readiness=False)
    finally:
        for future in (synced, stopping):
            future.cancel()
        await asyncio.wait({synced, stopping})


async def wait_listing(informers: informing.Informers, stop: asyncio.Event, *,
                       within: float = SLOW_SYNC_SECONDS, poll: float = POLL_SECONDS) -> None:
    """Give the optional caches still on their first LIST, without an error, up to `within` seconds: a
    restart in a large cluster lists thousands of bindings, no reason to start by calling them lost."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    waits = {reflector: asyncio.ensure_future(reflector.synced.wait()) for reflector in informers.all}
    try:
        while not stop.is_set() and loop.time() < deadline:
            listing = [waits[reflector] for reflector in informers.all
                       if not reflector.synced.is_set() and reflector.last_error is None]
            if not listing:
                return
            await asyncio.wait(listing, timeout=min(poll, deadline - loop.time()))
    finally:
        for wait in waits.values():
            wait.cancel()
        await asyncio.gather(*waits.values(), return_exceptions=True)
