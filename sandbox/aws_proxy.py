"""AWS side of the sandbox, truth room: an aiohttp reverse proxy in front of moto that tells the truth about
target health (moto always says `healthy`).

Every request goes to moto byte for byte, except ELBv2 `DescribeTargetHealth`: in moto's answer each
target's State/Reason/Description comes from the LBC simulator's registration clock, and targets still
draining (moto forgot them at once) are added. `calls` counts requests per Action; an interceptor may answer
a request instead of moto (throttling, faults). It never decides what AWS holds: moto does.
"""

from __future__ import annotations

import collections
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import yarl
from aiohttp import web
from multidict import CIMultiDict

from sandbox.lbc import health as healthing

__all__ = ["SANDBOX_AGENT", "AwsProxy", "HealthSource", "Interceptor", "ProxiedCall",
           "truthful_target_health"]

_NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
# Per hop, not per message: aiohttp sets these itself on each side (the body is re-framed, and decompressed).
_HOP_BY_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                         "proxy-connection", "te", "trailer", "upgrade"})
SANDBOX_AGENT = "alb-rollouts-sandbox"
"""In the User-Agent of the sandbox's own AWS clients (the traffic probe), so a client's calls count apart."""
_SERVICE = re.compile(r"Credential=[^/,]*/[^/,]*/[^/,]*/([^/,]*)/")


class HealthSource(Protocol):
    """What the registration clock answers (`sandbox.lbc.health.TargetClock`)."""

    def health(self, arn: str, target_id: str, port: int) -> healthing.Health | None: ...

    def draining(self, arn: str) -> list[tuple[str, int]]: ...


@dataclass(frozen=True, slots=True)
class ProxiedCall:
    """One request as the proxy saw it: the signing service, the query-protocol Action and parameters."""

    service: str  # from the SigV4 credential scope ("elasticloadbalancing", "ec2"); "" when unsigned
    action: str  # "" when the request names none (moto-api calls)
    params: dict[str, str]
    body: bytes


Interceptor = Callable[[ProxiedCall], Awaitable[web.StreamResponse | None]]


def _call(request: web.Request, body: bytes) -> ProxiedCall:
    pairs = list(request.query.items())
    if request.content_type == "application/x-www-form-urlencoded":
        try:
            pairs += urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            pass
    params = dict(pairs)
    scope = _SERVICE.search(request.headers.get("Authorization", ""))
    return ProxiedCall(service=scope.group(1) if scope else "", action=params.get("Action", ""),
                       params=params, body=body)


def _q(tag: str) -> str:
    return f"{{{_NS}}}{tag}"


def _set_health(member: ET.Element, found: healthing.Health) -> None:
    node = member.find(_q("TargetHealth"))
    if node is None:
        node = ET.SubElement(member, _q("TargetHealth"))
    node.clear()
    for tag, text in (("State", found.state), ("Reason", found.reason), ("Description", found.description)):
        if text is not None:
            ET.SubElement(node, _q(tag)).text = text


def _member(target_id: str, port: int, found: healthing.Health) -> ET.Element:
    member = ET.Element(_q("member"))
    target = ET.SubElement(member, _q("Target"))
    ET.SubElement(target, _q("Id")).text = target_id
    ET.SubElement(target, _q("Port")).text = str(port)
    # The LBC's target groups keep the default health-check port.
    ET.SubElement(member, _q("HealthCheckPort")).text = "traffic-port"
    _set_health(member, found)
    return member


def truthful_target_health(payload: bytes, call: ProxiedCall, source: HealthSource) -> bytes:
    """moto's DescribeTargetHealth XML with each known target's health from `source`, plus the draining ones
    when the call asked for the whole group."""
    root = ET.fromstring(payload)
    descriptions = root.find(f"{_q('DescribeTargetHealthResult')}/{_q('TargetHealthDescriptions')}")
    arn = call.params.get("TargetGroupArn", "")
    if descriptions is None or not arn:
        return payload
    seen: set[tuple[str, int]] = set()
    for member in descriptions.findall(_q("member")):
        target_id = member.findtext(f"{_q('Target')}/{_q('Id')}") or ""
        port = member.findtext(f"{_q('Target')}/{_q('Port')}") or ""
        if not port.isdigit():
            continue
        seen.add((target_id, int(port)))
        found = source.health(arn, target_id, int(port))
        if found is not None:
            _set_health(member, found)
    if not any(key.startswith("Targets.member.") for key in call.params):
        for target in source.draining(arn):
            if target not in seen:
                descriptions.append(_member(*target, healthing.DRAINING))
    return ET.tostring(root, encoding="unicode", default_namespace=_NS).encode()


class AwsProxy:
    """`async with AwsProxy(moto_url, health=clock) as proxy:` serves at `proxy.url` until the block ends."""

    def __init__(self, upstream: str, *, health: HealthSource | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.health = health
        """Where target health comes from; None passes moto's answer through."""
        self.calls: collections.Counter[str] = collections.Counter()
        """Requests seen, per Action (every service alike), interceptors' answers included."""
        self.client_calls: collections.Counter[str] = collections.Counter()
        """The same, without the sandbox's own requests (its User-Agent carries `SANDBOX_AGENT`)."""
        self.interceptors: list[Interceptor] = []
        """Asked in order before moto; the first that returns a response answers the request."""
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # moto's first EC2 calls take seconds; a longer wait is a hang the client's own timeout reports.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AwsProxy:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        call = _call(request, body)
        if call.action:
            self.calls[call.action] += 1
            if SANDBOX_AGENT not in request.headers.get("User-Agent", ""):
                self.client_calls[call.action] += 1
        for intercept in self.interceptors:
            answer = await intercept(call)
            if answer is not None:
                return answer
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP)
        url = yarl.URL(self.upstream + request.raw_path, encoded=True)
        # aiohttp would add these when missing; the request must reach moto as the client sent it.
        skip = [name for name in ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")
                if name not in headers]
        async with self._session.request(request.method, url, headers=headers, data=body,
                                         skip_auto_headers=skip, allow_redirects=False) as reply:
            payload = await reply.read()
            replied = CIMultiDict((k, v) for k, v in reply.headers.items()
                                  if k.lower() not in _HOP_BY_HOP and k.lower() != "content-encoding")
            status = reply.status
        if (self.health is not None and status == 200 and call.action == "DescribeTargetHealth"
                and call.service in ("elasticloadbalancing", "")):
            payload = truthful_target_health(payload, call, self.health)
        return web.Response(status=status, body=payload, headers=replied)
