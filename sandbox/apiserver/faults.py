"""Test hooks of the API emulator: injected failures, latency, dropped watches, compaction, request log.

Part of the sandbox API emulator; it decides what to break and records what was asked, never serves objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sandbox.apiserver import errors

__all__ = ["VERBS", "FailRule", "Faults", "Latency", "RequestRecord"]

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
    def configure(self, body: Any) -> dict[str, Any]:
        """Apply the JSON form of the hooks (docs/sandbox.md) and return what was applied.

        The whole body is checked before anything is applied: a 400 leaves the hooks as they were.
        """
        if not isinstance(body, dict):
            raise errors.bad_request("faults: body must be a JSON object")
        _no_unknown(body, _BODY_KEYS, "faults")
        flags = {key: _flag(body, key) for key in ("clear", "closeWatches", "compact")}
        fails = [_fail_rule(raw, f"fail[{i}]") for i, raw in enumerate(_entries(body, "fail"))]
        latencies = [_latency(raw, f"latency[{i}]") for i, raw in enumerate(_entries(body, "latency"))]
        applied: dict[str, Any] = {}
        if flags["clear"]:
            self.clear()
            applied["clear"] = True
        if fails:
            applied["fail"] = [
                self.fail_next(r.verb, r.resource, count=r.count, code=r.code, message=r.message,
                               retry_after=r.retry_after).to_json()
                for r in fails
            ]
        for lat in latencies:
            self.set_latency(lat.seconds, lat.verb, lat.resource)
            applied.setdefault("latency", []).append(lat.to_json())
        if flags["closeWatches"]:
            applied["closeWatches"] = self.close_watches()
        if flags["compact"]:
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


# ---- parsing of the JSON form ---------------------------------------------------------------------------
_BODY_KEYS = ("fail", "latency", "closeWatches", "compact", "clear")
_FAIL_KEYS = ("verb", "resource", "count", "code", "message", "retryAfter")
_LATENCY_KEYS = ("seconds", "verb", "resource")
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


def _no_unknown(raw: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise errors.bad_request(
            f"{where}: unknown key(s) {', '.join(unknown)}; known keys are {', '.join(allowed)}"
        )


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise errors.bad_request(f"faults: {key} must be true or false, got {value!r}")
    return value


def _entries(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = body.get(key)
    entries = [] if value is None else [value] if isinstance(value, dict) else value
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise errors.bad_request(f"faults: {key} must be an object or a list of objects, got {value!r}")
    return entries


def _selector(raw: dict[str, Any], where: str) -> tuple[str | None, str | None]:
    verb, resource = raw.get("verb"), raw.get("resource")
    if verb is not None and verb not in (*VERBS, "*", ""):
        raise errors.bad_request(f"faults: {where}.verb must be one of {', '.join(VERBS)} or *, got {verb!r}")
    if resource is not None and not isinstance(resource, str):
        raise errors.bad_request(f"faults: {where}.resource must be a string, got {resource!r}")
    return verb, resource


def _number(raw: dict[str, Any], key: str, where: str, default: float | None) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
        raise errors.bad_request(f"faults: {where}.{key} must be a number >= 0, got {value!r}")
    return float(value)


def _integer(raw: dict[str, Any], key: str, where: str, default: int, low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise errors.bad_request(
            f"faults: {where}.{key} must be an integer from {low} to {high}, got {value!r}"
        )
    return value


def _fail_rule(raw: dict[str, Any], where: str) -> FailRule:
    _no_unknown(raw, _FAIL_KEYS, f"faults: {where}")
    verb, resource = _selector(raw, where)
    message = raw.get("message")
    if message is not None and not isinstance(message, str):
        raise errors.bad_request(f"faults: {where}.message must be a string, got {message!r}")
    return FailRule(
        verb,
        resource,
        count=_integer(raw, "count", where, 1, 1, 1_000_000),
        code=_integer(raw, "code", where, 500, 400, 599),
        message=message,
        retry_after=_number(raw, "retryAfter", where, None),
    )


def _latency(raw: dict[str, Any], where: str) -> Latency:
    _no_unknown(raw, _LATENCY_KEYS, f"faults: {where}")
    verb, resource = _selector(raw, where)
    seconds = _number(raw, "seconds", where, 0.0)
    assert seconds is not None
    return Latency(seconds, verb, resource)
