"""The web analysis provider: one HTTP request, its JSON body read through a Kubernetes JSONPath template.

Room: analysis (service). Ports argo-rollouts' metricproviders/webmetric: `url`, `method` (GET by default),
`headers` (Header.Set), `body` or `jsonBody` (POST/PUT only; jsonBody sets Content-Type), `timeoutSeconds`
(default 10), `jsonPath` (default `{$}`) and `insecure`. A non-2xx status is an error; a body that is not
JSON is the result as a string; otherwise the first value the template finds is the result, and its Go
json.Marshal text the value. The template is parsed by jsonpath-ng and walked here with client-go's
semantics and errors ("x is not found", "array index out of bounds: ..."); range/end are not supported.
OAuth2 authentication is refused as not supported.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from jsonpath_ng import jsonpath as jp
from jsonpath_ng.ext import filter as jp_filter
from jsonpath_ng.ext.parser import parse as jp_parse
from multidict import CIMultiDict

from service.analysis.providers import (
    Observation,
    ProviderError,
    RequestSlots,
    go_float,
    go_url_error,
    peer_of,
    transport_reason,
)
from service.clock import Clock

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "WebProvider", "go_json"]

DEFAULT_TIMEOUT_SECONDS = 10
_log = structlog.get_logger()
_NO_VALUE = "result of web metric produced no value"


@dataclass(frozen=True, slots=True)
class _Request:
    """One metric's web request, checked."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    timeout: float
    insecure: bool
    template: tuple[object, ...]


class WebProvider:
    """Calls the metric's URL; one shared HTTP session, one rate-limit bucket per scheme://host:port."""

    def __init__(self, clock: Clock, *, rate: float = 10.0, burst: int = 20) -> None:
        self._slots = RequestSlots(clock, rate=rate, burst=burst)
        self._session: aiohttp.ClientSession | None = None

    async def measure(
        self, provider: Mapping[str, Any], *, timeout: float  # noqa: ASYNC109 (the engine's seam)
    ) -> Observation:
        request = _request(provider)
        budget = min(timeout, request.timeout)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers: CIMultiDict[str] = CIMultiDict()
        for key, value in request.headers:
            headers[key] = value  # Header.Set: the last value of a key wins
        try:
            async with asyncio.timeout(budget):
                await self._slots.acquire(peer_of(request.url), within=budget)
                async with self._session.request(
                    request.method, request.url, data=request.body, headers=headers,
                    ssl=False if request.insecure else True,
                    skip_auto_headers=("Content-Type",),  # Go sends none unless the metric sets one
                ) as response:
                    if not 200 <= response.status < 300:
                        raise ProviderError(f"received non 2xx response code: {response.status}")
                    body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = transport_reason(exc, client_timeout=True)
            raise ProviderError(go_url_error(request.method, request.url, reason)) from exc
        observation = _observation(body, request.template)
        _log.debug("web_measured", peer=peer_of(request.url), value_chars=len(observation.value))
        return observation

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _request(provider: Mapping[str, Any]) -> _Request:
    method = str(provider.get("method") or "GET")
    url = str(provider.get("url") or "")
    body = provider.get("body") or ""
    json_body = provider.get("jsonBody")
    if not isinstance(body, str):
        raise ProviderError("web body must be a string (use jsonBody for JSON)")
    if body and json_body is not None:
        raise ProviderError("use either Body or JSONBody; both cannot exists for WebMetric payload")
    if (body or json_body is not None) and method == "GET":
        raise ProviderError("Body/JSONBody can only be used with POST or PUT WebMetric Method types")
    raw_headers = provider.get("headers") or []
    if not isinstance(raw_headers, list) or not all(isinstance(h, Mapping) for h in raw_headers):
        raise ProviderError("web headers must be a list of {key, value}")
    headers = [(str(h.get("key") or ""), str(h.get("value") or "")) for h in raw_headers]
    payload: bytes | None = body.encode() if body else None
    if json_body is not None:
        payload = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
        headers.append(("Content-Type", "application/json"))
    seconds = provider.get("timeoutSeconds") or 0
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise ProviderError(f"web timeoutSeconds must be a whole number, not {seconds!r}")
    oauth2 = (provider.get("authentication") or {}).get("oauth2") or {}
    if isinstance(oauth2, Mapping) and oauth2.get("tokenUrl"):
        if not oauth2.get("clientId") or not oauth2.get("clientSecret"):
            raise ProviderError("missing mandatory parameter in metric for OAuth2 setup")
        raise ProviderError("web oauth2 authentication is not supported")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ("http", "https"):
        raise ProviderError(go_url_error(method, url, f'unsupported protocol scheme "{scheme}"'))
    return _Request(
        method=method, url=url, headers=tuple(headers), body=payload,
        timeout=float(seconds if seconds > 0 else DEFAULT_TIMEOUT_SECONDS),
        insecure=provider.get("insecure") is True,
        template=_compile(str(provider.get("jsonPath") or "{$}")),
    )


def _observation(body: bytes, template: tuple[object, ...]) -> Observation:
    """The reference's parseResponse: not JSON → the text itself; JSON → the template's first value."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text, parse_int=_go_number, parse_float=_go_number, parse_constant=_no_constant)
    except ValueError:
        return Observation(result=text, value=text)
    for piece in template:
        found = [piece] if isinstance(piece, str) else _walk(piece, [data], data)
        if found:
            return Observation(result=found[0], value=go_json(found[0]))
    raise ProviderError(_NO_VALUE)


def _go_number(text: str) -> float:
    """encoding/json's float64: every JSON number, and an error (so: not JSON) when it overflows."""
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"number {text} out of range")
    return number


def _no_constant(name: str) -> float:
    raise ValueError(f"invalid character in {name}")  # Go's JSON has no NaN or Infinity


def go_json(value: Any) -> str:
    """Go's json.Marshal of a decoded JSON value: compact, sorted keys, HTML-safe strings, Go floats."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        verb = "e" if value != 0 and (abs(value) < 1e-6 or abs(value) >= 1e21) else "f"
        text = go_float(value, verb)
        if verb == "e" and text[-4:-1] == "e-0":
            text = text[:-2] + text[-1]  # Go cleans e-07 to e-7
        return text
    if isinstance(value, str):
        quoted = json.dumps(value, ensure_ascii=False)
        for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                             ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
            quoted = quoted.replace(char, escape)
        return quoted
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{go_json(str(k))}:{go_json(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    raise ProviderError(f"json: unsupported type: {type(value).__name__}")


@functools.lru_cache(maxsize=256)
def _compile(template: str) -> tuple[object, ...]:
    """A client-go JSONPath template as text pieces (str) and parsed actions, in order."""
    pieces: list[object] = []
    text: list[str] = []
    action: list[str] = []
    quote, inside = "", False
    for char in template:
        if not inside:
            if char == "{":
                inside = True
                if text:
                    pieces.append("".join(text))
                    text = []
            else:
                text.append(char)
            continue
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "}":
            pieces.append(_parse_action("".join(action).strip(), template))
            action, inside = [], False
            continue
        action.append(char)
    if inside:
        raise ProviderError(f"jsonPath {template}: unclosed action")
    if text:
        pieces.append("".join(text))
    return tuple(pieces)


def _parse_action(action: str, template: str) -> object:
    if action.split(" ", 1)[0] in ("range", "end"):
        raise ProviderError(f"jsonPath {template}: range/end is not supported")
    if action.startswith("@"):
        action = "$" + action[1:]
    elif action.startswith((".", "[")):
        action = "$" + action
    if not action.startswith("$"):
        raise ProviderError(f"jsonPath {template}: unrecognized action {action!r}")
    try:
        return jp_parse(action)
    except Exception as exc:  # jsonpath-ng's lexer and parser raise plain Exception subclasses
        raise ProviderError(f"jsonPath {template}: {exc}") from exc


def _walk(node: object, values: list[Any], root: Any) -> list[Any]:
    """client-go's JSONPath evaluation of one jsonpath-ng node over the current values."""
    if isinstance(node, jp.Root):
        return [root]
    if isinstance(node, jp.This):
        return values
    if isinstance(node, jp.Child):
        return _walk(node.right, _walk(node.left, values, root), root)
    if isinstance(node, jp.Descendants):
        return _walk(node.right, _recursive(_walk(node.left, values, root)), root)
    if isinstance(node, jp.Fields):
        return [found for name in node.fields
                for found in (_children(values) if name == "*" else _field(values, name))]
    if isinstance(node, jp.Wildcard):
        return _children(values)
    if isinstance(node, jp.Index):
        return [found for index in node.indices for found in _slice(values, index, index + 1, None, True)]
    if isinstance(node, jp.Slice):
        return _slice(values, node.start, node.end, node.step, False)
    if isinstance(node, jp_filter.Filter):
        return _filter(values, node, root)
    raise ProviderError(f"jsonPath: {node} is not supported")


def _field(values: list[Any], name: str) -> list[Any]:
    if not values:
        return []
    found = [value[name] for value in values if isinstance(value, dict) and name in value]
    if not found:
        raise ProviderError(f"Could not find JSONPath in body: {name} is not found")
    return found


def _children(values: list[Any]) -> list[Any]:
    found: list[Any] = []
    for value in values:
        if isinstance(value, dict):
            found.extend(value.values())
        elif isinstance(value, list):
            found.extend(value)
        elif isinstance(value, str):
            found.extend(float(b) for b in value.encode())  # Go indexes a string's bytes
    return found


def _recursive(values: list[Any]) -> list[Any]:
    found: list[Any] = []
    for value in values:
        children = _children([value])
        if children:
            found.append(value)
            found.extend(_recursive(children))
    return found


def _go_type(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    return {bool: "bool", float: "float64", str: "string"}.get(type(value), type(value).__name__)


def _slice(values: list[Any], start: int | None, end: int | None, step: int | None,
           derived: bool) -> list[Any]:
    """client-go's evalArray, bounds errors included (`[i]` is the derived slice i:i+1)."""
    found: list[Any] = []
    for value in values:
        if value is None:
            continue
        if not isinstance(value, list):
            raise ProviderError(f"Could not find JSONPath in body: {_go_type(value)} is not array or slice")
        length = len(value)
        first = 0 if start is None else start + (length if start < 0 else 0)
        last = length if end is None else end
        if last < 0 or (last == 0 and derived):
            last += length
        if last == first:
            return found
        if first >= length or first < 0:
            raise ProviderError(f"Could not find JSONPath in body: array index out of bounds: "
                                f"index {first}, length {length}")
        if last > length or last < 0:
            raise ProviderError(f"Could not find JSONPath in body: array index out of bounds: "
                                f"index {last - 1}, length {length}")
        if first > last:
            raise ProviderError(f"Could not find JSONPath in body: starting index {first} is greater than "
                                f"ending index {last}")
        if step is not None and step <= 0:
            raise ProviderError("Could not find JSONPath in body: step must be > 0")
        found.extend(value[first:last:step or 1])
    return found


def _filter(values: list[Any], node: jp_filter.Filter, root: Any) -> list[Any]:
    """client-go's evalFilter: `[?(@.x == 'y')]`, `[?(@.x)]`; a missing key on a compared side fails."""
    found: list[Any] = []
    for value in values:
        if not isinstance(value, list):
            raise ProviderError(f"Could not find JSONPath in body: {go_json(value)} is not array or slice "
                                "and cannot be filtered")
        found.extend(item for item in value if all(_passes(item, e, root) for e in node.expressions))
    return found


def _passes(item: Any, expression: object, root: Any) -> bool:
    if not isinstance(expression, jp_filter.Expression):
        raise ProviderError(f"jsonPath: filter {expression} is not supported")
    if expression.op is None:  # existence: a missing key just means "no"
        try:
            return bool(_walk(expression.target, [item], root))
        except ProviderError:
            return False
    lefts = _walk(expression.target, [item], root)
    rights = (_walk(expression.value, [item], root) if isinstance(expression.value, jp.JSONPath)
              else [expression.value])
    if not lefts or not rights:
        return False
    if len(lefts) > 1 or len(rights) > 1:
        raise ProviderError("Could not find JSONPath in body: can only compare one element at a time")
    return _compare(lefts[0], expression.op, rights[0])


def _compare(left: Any, op: str, right: Any) -> bool:
    """Go template's eq/ne/lt/le/gt/ge: same basic kinds only (a JSON number is a float, 5 an int)."""
    def kind(value: Any) -> str:
        for python, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "string")):
            if isinstance(value, python):
                return name
        raise ProviderError("Could not find JSONPath in body: invalid type for comparison")

    left_kind, right_kind = kind(left), kind(right)
    if op not in ("==", "!=", "<", "<=", ">", ">="):
        raise ProviderError(f"Could not find JSONPath in body: unrecognized filter operator {op}")
    if left_kind != right_kind:
        raise ProviderError("Could not find JSONPath in body: incompatible types for comparison")
    if op in ("==", "!="):
        return bool(left == right) == (op == "==")
    if left_kind == "bool":
        raise ProviderError("Could not find JSONPath in body: invalid type for comparison")
    ordered: dict[str, bool] = {"<": left < right, "<=": left <= right, ">": left > right,
                                ">=": left >= right}
    return ordered[op]
