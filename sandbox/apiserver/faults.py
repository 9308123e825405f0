"""Test hooks of the API emulator: injected failures, latency, dropped watches, compaction, request log.

Part of the sandbox API emulator; it decides what to break and records what was asked, never serves objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sandbox.apiserver import errors

__all__ = ["FailRule", "Faults", "Latency", "RequestRecord"]

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def _matches(want: str | None, *actual: str | None) -> bool:
    return want in (None, "", "*") or want in actual


@dataclass(slots=True)
class FailRule:
    """Fail the next `count` requests matching verb/resource (plural or "<plural>.<group>") with `code`."""

    verb: str | None = None
    resource: str | None = None
    count: int = 1
    code: int = 500
    message: str | None = None
    retry_after: float | None = None

    def matches(self, verb: str, plural: str | None, key: str | None) -> bool:
        return self.count > 0 and _matches(self.verb, verb) and _matches(self.resource, plural, key)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"verb": self.verb, "resource": self.resource}
        body.update(count=self.count, code=self.code)
        if self.message is not None:
            body["message"] = self.message
        if self.retry_after is not None:
            body["retryAfter"] = self.retry_after
        return body


@dataclass(frozen=True, slots=True)
class Latency:
    """Delay every request matching verb/resource by `seconds`."""

    seconds: float
    verb: str | None = None
    resource: str | None = None

    def matches(self, verb: str, plural: str | None, key: str | None) -> bool:
        return _matches(self.verb, verb) and _matches(self.resource, plural, key)

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "verb": self.verb, "resource": self.resource}


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One served request, as tests assert on it."""

    method: str
    path: str
    query: str
    verb: str
    resource: str | None
    namespace: str | None
    name: str | None
    subresource: str | None
    content_type: str | None
    status: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    """Fault hooks; `close_watches` and `compact` are wired to the server and storage that own them."""

    def __init__(
        self, *, close_watches: Callable[[], int] | None = None, compact: Callable[[], str] | None = None
    ) -> None:
        self.rules: list[FailRule] = []
        self.latencies: list[Latency] = []
        self.request_log: list[RequestRecord] = []
        self._close_watches = close_watches or (lambda: 0)
        self._compact = compact or (lambda: "")

    # ---- Python API ----------------------------------------------------------------------------------------
    def fail_next(
        self,
        verb: str | None = None,
        resource: str | None = None,
        *,
        count: int = 1,
        code: int = 500,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> FailRule:
        """Fail the next `count` matching requests; 429 defaults to `Retry-After: 1`."""
        if code == 429 and retry_after is None:
            retry_after = 1
        rule = FailRule(verb, resource, count, code, message, retry_after)
        self.rules.append(rule)
        return rule

    def set_latency(self, seconds: float, verb: str | None = None, resource: str | None = None) -> None:
        """Delay matching requests; `seconds=0` removes it for that verb/resource (all when both None)."""
        self.latencies = [
            lat
            for lat in self.latencies
            if not (verb in (None, lat.verb) and resource in (None, lat.resource))
        ]
        if seconds > 0:
            self.latencies.append(Latency(seconds, verb, resource))

    def close_watches(self) -> int:
        """End every open HTTP watch stream; returns how many were closed."""
        return self._close_watches()

    def compact(self) -> str:
        """Forget the event history; returns the resourceVersion below which watches now get 410."""
        return self._compact()

    def clear(self) -> None:
        """Remove all failure rules, latency and the request log."""
        self.rules.clear()
        self.latencies.clear()
        self.request_log.clear()

    # ---- JSON API (POST /faults) ---------------------------------------------------------------------------
    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply the JSON form of the hooks (see the module's README text) and return what was applied."""
        if not isinstance(body, dict):
            raise errors.bad_request("faults: body must be a JSON object")
        applied: dict[str, Any] = {}
        if body.get("clear"):
            self.clear()
            applied["clear"] = True
        fails = body.get("fail") or []
        if isinstance(fails, dict):
            fails = [fails]
        added = []
        for raw in fails:
            if not isinstance(raw, dict):
                raise errors.bad_request(f"faults: fail entries must be objects, got {raw!r}")
            retry = raw.get("retryAfter")
            added.append(
                self.fail_next(
                    raw.get("verb"),
                    raw.get("resource"),
                    count=int(raw.get("count", 1)),
                    code=int(raw.get("code", 500)),
                    message=raw.get("message"),
                    retry_after=float(retry) if retry is not None else None,
                ).to_json()
            )
        if added:
            applied["fail"] = added
        latency = body.get("latency")
        for raw in [latency] if isinstance(latency, dict) else latency or []:
            lat = Latency(float(raw.get("seconds", 0)), raw.get("verb"), raw.get("resource"))
            self.set_latency(lat.seconds, lat.verb, lat.resource)
            applied.setdefault("latency", []).append(lat.to_json())
        if body.get("closeWatches"):
            applied["closeWatches"] = self.close_watches()
        if body.get("compact"):
            applied["compact"] = self.compact()
        return applied

    def describe(self) -> dict[str, Any]:
        """Current rules, latency and the request log, as JSON."""
        return {
            "fail": [r.to_json() for r in self.rules if r.count > 0],
            "latency": [lat.to_json() for lat in self.latencies],
            "requests": [r.to_json() for r in self.request_log],
        }

    # ---- used by the server --------------------------------------------------------------------------------
    def take_failure(self, verb: str, plural: str | None, key: str | None) -> errors.ApiError | None:
        """Consume one matching failure rule and return the error to answer with, if any."""
        for rule in self.rules:
            if rule.matches(verb, plural, key):
                rule.count -= 1
                reason = _REASONS.get(rule.code, "InternalError")
                message = rule.message or f"injected fault: {verb} {key or plural or ''}".rstrip()
                return errors.ApiError(rule.code, reason, message, retry_after=rule.retry_after)
        return None

    def delay_for(self, verb: str, plural: str | None, key: str | None) -> float:
        return max((lat.seconds for lat in self.latencies if lat.matches(verb, plural, key)), default=0.0)
