"""`/healthz` (liveness) and `/readyz` (readiness) from named checks other parts register.

Room: serve (HTTP). Checks are cheap synchronous predicates (a heartbeat's age, "every cache has synced");
they never do I/O, so a probe cannot hang on the API server or AWS. A check that raises counts as failing.
Liveness answers "ok" like the reference's healthz server; readiness lists each check as the API server does.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from aiohttp import web

__all__ = ["Check", "Health", "Reason"]

log = structlog.get_logger(__name__)

Check = Callable[[], bool]
"""True when the condition holds; called on every probe, so it must be quick and never block."""
Reason = Callable[[], str]
"""Why a readiness check fails (shown after it on /readyz); as quick as a check."""


class Health:
    """The process's liveness and readiness checks, by name; probes read them, components add them."""

    def __init__(self) -> None:
        self._liveness: dict[str, Check] = {}
        self._readiness: dict[str, Check] = {}
        self._reasons: dict[str, Reason] = {}

    def add_liveness(self, name: str, check: Check) -> None:
        """The process is dead (restart it) while this fails; keep it free of outside dependencies."""
        self._liveness[name] = check

    def add_readiness(self, name: str, check: Check, reason: Reason | None = None) -> None:
        """The process is not ready while this fails (e.g. caches not synced yet); `reason` says why."""
        self._readiness[name] = check
        if reason is not None:
            self._reasons[name] = reason

    def remove(self, name: str) -> None:
        self._liveness.pop(name, None)
        self._readiness.pop(name, None)
        self._reasons.pop(name, None)

    def _why(self, name: str) -> str:
        reason = self._reasons.get(name)
        if reason is None:
            return ""
        try:
            text = reason()
        except Exception:  # a broken reason is no reason, never a failed probe
            log.warning("health reason raised", check=name, exc_info=True)
            return ""
        return f": {text}" if text else ""

    @staticmethod
    def _run(checks: dict[str, Check]) -> list[tuple[str, bool]]:
        results = []
        for name, check in checks.items():
            try:
                passed = bool(check())
            except Exception:  # a broken check is a failing check, never a 500 without an answer
                log.warning("health check raised", check=name, exc_info=True)
                passed = False
            results.append((name, passed))
        return results

    def live(self) -> bool:
        return all(passed for _, passed in self._run(self._liveness))

    def ready(self) -> bool:
        return all(passed for _, passed in self._run(self._readiness))

    async def healthz(self, request: web.Request) -> web.Response:
        failed = [name for name, passed in self._run(self._liveness) if not passed]
        if failed:
            return web.Response(status=500, text=f"unhealthy: {', '.join(failed)}\n")
        return web.Response(text="ok")

    async def readyz(self, request: web.Request) -> web.Response:
        results = self._run(self._readiness)
        lines = [f"[+]{name} ok" if passed else f"[-]{name} failed{self._why(name)}"
                 for name, passed in results]
        ready = all(passed for _, passed in results)
        lines.append(f"readyz check {'passed' if ready else 'failed'}")
        return web.Response(status=200 if ready else 503, text="\n".join(lines) + "\n")
