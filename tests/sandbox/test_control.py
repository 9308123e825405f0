"""Control endpoint over HTTP: POST/GET /lbc (knobs, validation errors), POST /faults forwarded to the API
server's hooks (an injected failure is then served by the API), GET /traffic (counts for an Ingress, parameter
errors), GET /stats (the clients' calls and the ALB's weight log), and JSON error bodies for bodies that are
not JSON objects and for unknown paths and methods."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiobotocore.session import get_session

from sandbox.running import Sandbox
from tests.sandbox.lbc import manifests
from tests.sandbox.lbc.manifests import INGRESSES
from tests.sandbox.polling import eventually

ACTION = "alb.ingress.kubernetes.io/actions.stable"


async def _call(method: str, url: str, body: Any = None, raw: str | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    async with aiohttp.ClientSession() as session, session.request(method, url, data=data) as response:
        return response.status, json.loads(await response.text())


async def test_lbc_knobs_round_trip(sandbox: Sandbox) -> None:
    url = f"{sandbox.state.control}/lbc"
    timings = {"targetRegistrationSeconds": 0.0, "targetInitialSeconds": 0.0,
               "deregistrationDelaySeconds": 0.0}
    status, body = await _call("POST", url, {"lagSeconds": 2, "rejectActions": True})
    assert (status, body) == (200, {"lagSeconds": 2.0, "paused": False, "rejectActions": True, **timings})
    status, body = await _call("POST", url, {"paused": True})
    assert (status, body) == (200, {"lagSeconds": 2.0, "paused": True, "rejectActions": True, **timings})
    assert await _call("GET", url) == (200, {"lagSeconds": 2.0, "paused": True, "rejectActions": True,
                                             **timings})
    assert sandbox.lbc is not None and sandbox.lbc.knobs.paused


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param('{"paused": "no"}', {"error": "paused must be true or false"}, id="bad-value"),
        pytest.param('{"speed": 1}', {"error": "unknown knob(s): speed"}, id="unknown-knob"),
        pytest.param('{"lagSeconds": Infinity}', {"error": "lagSeconds must be a number >= 0"},
                     id="infinite-lag"),
        pytest.param('{"lagSeconds": NaN}', {"error": "lagSeconds must be a number >= 0"}, id="nan-lag"),
        pytest.param("[]", {"error": "body must be a JSON object"}, id="not-object"),
    ],
)
async def test_lbc_rejects_bad_bodies(sandbox: Sandbox, raw: str, expected: dict[str, str]) -> None:
    assert await _call("POST", f"{sandbox.state.control}/lbc", raw=raw) == (400, expected)


async def test_lbc_rejects_non_json(sandbox: Sandbox) -> None:
    status, body = await _call("POST", f"{sandbox.state.control}/lbc", raw="{oops")
    assert status == 400 and body["error"].startswith("body is not JSON: ")


async def test_faults_are_forwarded_to_the_api_server(sandbox: Sandbox) -> None:
    status, body = await _call("POST", f"{sandbox.state.control}/faults",
                               {"fail": [{"verb": "get", "resource": "namespaces", "count": 1, "code": 503}]})
    assert status == 200 and len(body["fail"]) == 1
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sandbox.state.api_server}/api/v1/namespaces/default") as failed:
            assert failed.status == 503
        async with session.get(f"{sandbox.state.api_server}/api/v1/namespaces/default") as served:
            assert served.status == 200
    status, body = await _call("POST", f"{sandbox.state.control}/faults", {"fail": ["nope"]})
    assert (status, body["kind"], body["code"], body["message"]) == (
        400, "Status", 400, "faults: fail must be an object or a list of objects, got ['nope']")


async def test_traffic_counts_requests_for_an_ingress(sandbox: Sandbox) -> None:
    storage = sandbox.storage
    manifests.replicated_pair(storage, stable=2, canary=1)
    storage.create(INGRESSES, manifests.ingress(annotations={ACTION: manifests.forward(("canary", 50),
                                                                                      ("stable", 50))}))
    url = f"{sandbox.state.control}/traffic?requests=400&ingress=default/app&seed=5"

    async def served() -> dict[str, Any]:
        status, body = await _call("GET", url)
        assert status == 200 and body["failed"] == 0 and set(body["byService"]) == {"canary", "stable"}
        return body

    body = await eventually(served)
    assert body["requests"] == 400 == sum(body["byService"].values())


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("requests=10", "ingress must be <namespace>/<name>", id="no-ingress"),
        pytest.param(
            "requests=ten&ingress=default/app", "requests and seed must be integers", id="bad-count"
        ),
        pytest.param("requests=0&ingress=default/app", "requests must be between 1 and 1000000", id="zero"),
        pytest.param("requests=1000001&ingress=default/app", "requests must be between 1 and 1000000",
                     id="too-many"),
        pytest.param("requests=10&ingress=default", "ingress must be <namespace>/<name>", id="no-name"),
    ],
)
async def test_traffic_rejects_bad_parameters(sandbox: Sandbox, query: str, message: str) -> None:
    assert await _call("GET", f"{sandbox.state.control}/traffic?{query}") == (400, {"error": message})


@pytest.mark.parametrize(("method", "path", "expected"), [
    pytest.param("GET", "/nope", (404, {"error": "GET /nope: Not Found"}), id="unknown-path"),
    pytest.param("PUT", "/lbc", (405, {"error": "PUT /lbc: Method Not Allowed"}), id="unknown-method"),
])
async def test_unknown_routes_answer_json(sandbox: Sandbox, method: str, path: str,
                                          expected: tuple[int, dict[str, str]]) -> None:
    assert await _call(method, f"{sandbox.state.control}{path}") == expected


async def test_stats_count_the_clients_calls_and_log_the_weights_the_alb_took(sandbox: Sandbox) -> None:
    """GET /stats: the probe's own ELBv2 reads are not counted, a client's are (per Action); API requests are
    counted per client and "<verb> <resource>"; the LBC's weight log says when each TG took its weight."""
    storage = sandbox.storage
    manifests.replicated_pair(storage, stable=2, canary=1)
    storage.create(INGRESSES, manifests.ingress(annotations={ACTION: manifests.forward(("canary", 30),
                                                                                      ("stable", 70))}))
    probe = f"{sandbox.state.control}/traffic?requests=10&ingress=default/app"

    async def served() -> None:
        status, body = await _call("GET", probe)
        assert status == 200 and body["failed"] == 0

    await eventually(served)
    status, stats = await _call("GET", f"{sandbox.state.control}/stats?weights=default/")
    assert status == 200 and stats["awsCalls"] == {}  # the probe's reads are the sandbox's own
    session = get_session()
    async with session.create_client("elbv2", region_name=sandbox.state.aws_region,
                                     endpoint_url=sandbox.state.aws_endpoint_url,
                                     aws_access_key_id="testing", aws_secret_access_key="testing") as client:
        await client.describe_load_balancers()
    async with aiohttp.ClientSession(headers={"User-Agent": "bench-test/1"}) as http:
        async with http.get(f"{sandbox.state.api_server}/apis/networking.k8s.io/v1/namespaces/default/"
                            "ingresses/app") as reply:
            assert reply.status == 200
    status, stats = await _call("GET", f"{sandbox.state.control}/stats?weights=default/app-canary")
    assert stats["awsCalls"] == {"DescribeLoadBalancers": 1}
    assert stats["apiRequests"]["bench-test"] == {"get ingresses": 1}
    [(resource_id, changes)] = stats["weights"].items()
    assert resource_id.startswith("default/app-canary:") and changes[-1][1] == 30
    # the serving log: when the targets registered for each Service became healthy
    assert stats["serving"] == {}  # no Service name starts with "default/app-canary"
    status, stats = await _call("GET", f"{sandbox.state.control}/stats?weights=default/")
    assert set(stats["serving"]) == {"default/canary", "default/stable"}
    assert all(times for times in stats["serving"].values())
    status, stats = await _call("GET", f"{sandbox.state.control}/stats")
    assert stats["weights"] == {} and stats["serving"] == {}
