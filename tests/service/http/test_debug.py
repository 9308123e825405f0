"""The debug API (service.http.debug) over loopback with aiohttp, against a fake reconciler.

Aspects: GET /rollouts lists keys (sorted) and states, and says whether this replica leads; a standby answers
an empty list; a rollout whose description raises is still listed; GET /rollouts/<ns>/<name> returns the
description as JSON (enums by name, datetimes ISO 8601, dataclasses as objects), 404 for an unknown rollout,
503 on a standby, 500 naming the error when describe raises; GET /machine serves every state and the
transition table; GET /memory answers 409 unless memory is traced, then the top source lines;
unknown paths 404; a taken port raises ListenError naming --debug-address; to_json.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import os
import socket
import tracemalloc
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from service.http import debug, server
from statemachine import machine


class Phase(enum.Enum):
    Verifying = "Verifying"


@dataclasses.dataclass(frozen=True)
class Report:
    target_group: str
    weight: int


class FakeReconciler:
    def __init__(self, described: Mapping[str, Mapping[str, Any] | Exception]) -> None:
        self.described = described

    def describe(self, key: str) -> Mapping[str, Any] | None:
        found = self.described.get(key)
        if isinstance(found, Exception):
            raise found
        return found

    def keys(self) -> list[str]:
        return list(self.described)

    def unserved(self) -> dict[str, str]:
        return {"mesh/istio-app": "trafficRouting.istio"}


DESCRIBED: dict[str, Mapping[str, Any] | Exception] = {
    "shop/web": {"state": Phase.Verifying, "nextLook": datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC),
                 "aws": [Report("canary-tg", 20)], "transitions": ({"trigger": "verify"},)},
    "apps/api": {"state": "Promoted"},
    "apps/broken": RuntimeError("model gone"),
}


@pytest.fixture
def holder() -> dict[str, Any]:
    return {"reconciler": FakeReconciler(DESCRIBED)}


@pytest.fixture
async def base_url(holder: dict[str, Any]) -> AsyncIterator[str]:
    async with debug.serve(("127.0.0.1", 0), lambda: holder["reconciler"]) as port:
        yield f"http://127.0.0.1:{port}"


async def _get(client: aiohttp.ClientSession, url: str) -> tuple[int, str, Any]:
    async with client.get(url) as response:
        return response.status, response.content_type, await response.json()


async def test_rollouts_lists_keys_and_states(client: aiohttp.ClientSession, base_url: str) -> None:
    status, content_type, body = await _get(client, f"{base_url}/rollouts")
    assert (status, content_type) == (200, "application/json")
    assert body == {"leading": True, "rollouts": [
        {"key": "apps/api", "state": "Promoted"},
        {"key": "apps/broken", "state": None},
        {"key": "shop/web", "state": "Verifying"},
    ], "unserved": [{"key": "mesh/istio-app", "strategy": "trafficRouting.istio"}]}


async def test_standby_lists_nothing(client: aiohttp.ClientSession, base_url: str,
                                     holder: dict[str, Any]) -> None:
    holder["reconciler"] = None
    assert await _get(client, f"{base_url}/rollouts") == (200, "application/json",
                                                         {"leading": False, "rollouts": [], "unserved": []})
    status, _, body = await _get(client, f"{base_url}/rollouts/shop/web")
    assert status == 503
    assert body == {"error": "this replica does not lead: it keeps no rollout state (ask the leader)"}


async def test_one_rollout_is_described(client: aiohttp.ClientSession, base_url: str) -> None:
    status, _, body = await _get(client, f"{base_url}/rollouts/shop/web")
    assert status == 200
    assert body == {"state": "Verifying", "nextLook": "2026-01-01T12:00:05+00:00",
                    "aws": [{"target_group": "canary-tg", "weight": 20}],
                    "transitions": [{"trigger": "verify"}]}


@pytest.mark.parametrize(("path", "status", "error"), [
    pytest.param("/rollouts/shop/gone", 404, "rollout shop/gone is not known to the controller",
                 id="unknown"),
    pytest.param("/rollouts/apps/broken", 500,
                 "cannot describe rollout apps/broken: RuntimeError: model gone", id="describe-raises"),
])
async def test_rollout_errors(client: aiohttp.ClientSession, base_url: str, path: str, status: int,
                              error: str) -> None:
    assert await _get(client, base_url + path) == (status, "application/json", {"error": error})


async def test_machine_serves_states_and_table(client: aiohttp.ClientSession, base_url: str) -> None:
    status, _, body = await _get(client, f"{base_url}/machine")
    assert status == 200
    assert body["states"] == [state.name for state in machine.States]
    assert body["transitions"] == machine.describe()
    verify = {"trigger": "verify", "source": ["WeightSet", "Verifying"], "dest": "=",
              "conditions": ["lands_in_dest", "unchanged", "verify_due"],
              "effects": ["scale_replicasets", "point_services", "check_targets", "patch_ingresses",
                          "verify_weights", "scale_down_old", "write_status"]}
    assert verify in body["transitions"]


async def test_unknown_path_is_404(client: aiohttp.ClientSession, base_url: str) -> None:
    async with client.get(f"{base_url}/nothing") as response:
        assert response.status == 404


async def test_taken_port_names_the_flag() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(server.ListenError) as raised:
            async with debug.serve(("127.0.0.1", port), lambda: None):
                pass
    assert raised.value.errno == errno.EADDRINUSE
    assert raised.value.strerror == (f"cannot listen on 127.0.0.1:{port} (--debug-address): "
                                     f"{os.strerror(errno.EADDRINUSE)}")


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param({"a": {1, 2}}, '{"a": [1, 2]}', id="set"),
    pytest.param({"when": datetime(2026, 1, 1, tzinfo=UTC)}, '{"when": "2026-01-01T00:00:00+00:00"}',
                 id="datetime"),
    pytest.param({"state": Phase.Verifying}, '{"state": "Verifying"}', id="enum"),
    pytest.param({"odd": object}, "{\"odd\": \"<class 'object'>\"}", id="repr-fallback"),
])
def test_to_json(value: Any, expected: str) -> None:
    assert debug.to_json(value) == expected


async def test_memory_needs_tracing_and_then_names_source_lines(client: aiohttp.ClientSession,
                                                              base_url: str) -> None:
    was_tracing = tracemalloc.is_tracing()
    if was_tracing:
        tracemalloc.stop()
    try:
        assert await _get(client, f"{base_url}/memory") == (
            409, "application/json",
            {"error": "memory is not traced: start the controller with PYTHONTRACEMALLOC=1"})
        tracemalloc.start()
        held = [bytearray(64 * 1024) for _ in range(16)]  # 1 MiB from one line of this file
        status, _, body = await _get(client, f"{base_url}/memory?top=500")
        assert status == 200
        mine = [entry for entry in body["top"] if entry["where"].startswith(__file__)]
        assert mine and max(entry["bytes"] for entry in mine) >= 16 * 64 * 1024
        assert body["tracedBytes"] >= sum(len(chunk) for chunk in held)
        assert (await _get(client, f"{base_url}/memory?top=x"))[0] == 400
    finally:
        if not was_tracing:
            tracemalloc.stop()
