"""service.kube.writing against the API emulator over HTTP.

Covers: every write's method, path, content type and exact body bytes on the wire (and what the server
stored); the bearer token goes out; a stale resourceVersion precondition → Conflict; AlreadyExists →
Conflict; missing objects → NotFound; injected 400/422 → Invalid, 500/503/429 → Unavailable with
Retry-After, 403 → the base error; latency past the deadline and a refused connection → Unavailable;
every request counted in controller_clientset_k8s_request_total (timeouts with status 0); wire_body's
exact bytes and refusals; text, empty and odd error bodies, Retry-After in Status details or as an HTTP
date; a success without an object.
"""

from __future__ import annotations

import inspect
import json
import socket
from typing import Any

import pytest
from aiohttp import web
from kubernetes_asyncio import client

from service import client_metrics
from service.kube import writing
from tests.service.kube.conftest import TOKEN

NS = "shop"
INGRESSES = "ingresses.networking.k8s.io"
ROLLOUTS = "rollouts.argoproj.io"
REPLICA_SETS = "replicasets.apps"
STALE = ("the object has been modified; please apply your changes to the latest version and try again")


def seed(storage) -> None:
    storage.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    storage.create(INGRESSES, {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                               "metadata": {"name": "web", "namespace": NS, "annotations": {"keep": "me"}},
                               "spec": {"rules": []}})
    storage.create(ROLLOUTS, {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                              "metadata": {"name": "web", "namespace": NS}, "spec": {"replicas": 2}})
    storage.create(REPLICA_SETS, replicaset("web-abc"))
    storage.create("services", {"apiVersion": "v1", "kind": "Service",
                                "metadata": {"name": "web", "namespace": NS},
                                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    storage.create("events", event("web.1"))


def replicaset(name: str) -> dict[str, Any]:
    labels = {"app": "web", "rollouts-pod-template-hash": name.rsplit("-", 1)[1]}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}


def event(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": NS},
            "involvedObject": {"kind": "Rollout", "namespace": NS, "name": "web"},
            "reason": "RolloutCompleted", "message": "done", "type": "Normal", "count": 1}


WEIGHTS = ('{"Type":"forward","ForwardConfig":{"TargetGroups":['
           '{"ServiceName":"canary","ServicePort":"80","Weight":10}]}}')
ACTION = "alb.ingress.kubernetes.io/actions.web"

WRITES = [
    pytest.param("patch_ingress", ("web", {"metadata": {"annotations": {ACTION: WEIGHTS}}}),
                 "PATCH", f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/web", writing.MERGE_PATCH,
                 (INGRESSES, "web", ("metadata", "annotations", ACTION), WEIGHTS),
                 id="patch_ingress"),
    pytest.param("patch_rollout_status", ("web", {"status": {"currentStepIndex": 1, "phase": "Paused"}}),
                 "PATCH", f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts/web/status",
                 writing.MERGE_PATCH,
                 (ROLLOUTS, "web", ("status", "phase"), "Paused"), id="patch_rollout_status"),
    pytest.param("patch_rollout", ("web", {"spec": {"paused": True}}),
                 "PATCH", f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts/web", writing.MERGE_PATCH,
                 (ROLLOUTS, "web", ("spec", "paused"), True), id="patch_rollout"),
    pytest.param("create_replicaset", (replicaset("web-def"),),
                 "POST", f"/apis/apps/v1/namespaces/{NS}/replicasets", writing.APPLICATION_JSON,
                 (REPLICA_SETS, "web-def", ("spec", "replicas"), 0), id="create_replicaset"),
    pytest.param("patch_replicaset",
                 ("web-abc", {"spec": {"replicas": 3}, "metadata": {"annotations": {"a": "1"}}}),
                 "PATCH", f"/apis/apps/v1/namespaces/{NS}/replicasets/web-abc", writing.MERGE_PATCH,
                 (REPLICA_SETS, "web-abc", ("spec", "replicas"), 3), id="patch_replicaset"),
    pytest.param("patch_service", ("web", {"spec": {"selector": {"rollouts-pod-template-hash": "abc"}}}),
                 "PATCH", f"/api/v1/namespaces/{NS}/services/web", writing.MERGE_PATCH,
                 ("services", "web", ("spec", "selector", "rollouts-pod-template-hash"), "abc"),
                 id="patch_service"),
    pytest.param("create_event", (event("web.2"),),
                 "POST", f"/api/v1/namespaces/{NS}/events", writing.APPLICATION_JSON,
                 ("events", "web.2", ("count",), 1), id="create_event"),
    pytest.param("patch_event", ("web.1", {"count": 2, "lastTimestamp": "2026-01-01T00:10:00Z"}),
                 "PATCH", f"/api/v1/namespaces/{NS}/events/web.1", writing.MERGE_PATCH,
                 ("events", "web.1", ("count",), 2), id="patch_event"),
]


def dig(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        obj = obj[part]
    return obj


@pytest.mark.parametrize(("method", "args", "verb", "path", "content_type", "stored"), WRITES)
async def test_write_on_the_wire(api_server, wire_tap, tapped_client, method, args, verb, path, content_type,
                                 stored):
    seed(api_server.storage)
    writer = writing.KubeWriter(tapped_client, deadline=5.0)
    answer = await getattr(writer, method)(NS, *args)
    (sent,) = wire_tap.requests
    assert (sent.method, sent.path, sent.content_type) == (verb, path, content_type)
    assert sent.body == json.dumps(args[-1], separators=(",", ":")).encode()
    assert sent.authorization == f"Bearer {TOKEN}"
    record = api_server.faults.request_log[-1]
    assert (record.method, record.path, record.content_type) == (verb, path, content_type)
    assert record.status in (200, 201)
    resource, name, field, value = stored
    assert dig(api_server.storage.get(resource, NS, name), field) == value
    assert dig(answer, field) == value  # the answer is the object as stored


async def test_delete_replicaset_sends_options_with_preconditions(api_server, wire_tap, tapped_client):
    seed(api_server.storage)
    uid = api_server.storage.get(REPLICA_SETS, NS, "web-abc")["metadata"]["uid"]
    writer = writing.KubeWriter(tapped_client, deadline=5.0)
    await writer.delete_replicaset(NS, "web-abc", uid=uid)
    (sent,) = wire_tap.requests
    assert (sent.method, sent.path, sent.content_type) == (
        "DELETE", f"/apis/apps/v1/namespaces/{NS}/replicasets/web-abc", "application/json")
    expected = ('{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background",'
                f'"preconditions":{{"uid":"{uid}"}}}}')
    assert sent.body == expected.encode()
    assert api_server.storage.get(REPLICA_SETS, NS, "web-abc") is None


async def test_delete_replicaset_with_stale_resource_version_is_a_conflict(api_server, api_client):
    seed(api_server.storage)
    writer = writing.KubeWriter(api_client, deadline=5.0)
    with pytest.raises(writing.Conflict) as caught:
        await writer.delete_replicaset(NS, "web-abc", resource_version="1", propagation="Foreground")
    assert caught.value.code == 409
    assert api_server.storage.get(REPLICA_SETS, NS, "web-abc") is not None


async def test_stale_resource_version_in_a_patch_is_a_conflict(api_server, api_client):
    seed(api_server.storage)
    writer = writing.KubeWriter(api_client, deadline=5.0)
    current = api_server.storage.get(INGRESSES, NS, "web")["metadata"]["resourceVersion"]
    await writer.patch_ingress(NS, "web", {"metadata": {"annotations": {"a": "1"}}})  # moves the version on
    with pytest.raises(writing.Conflict) as caught:
        await writer.patch_ingress(NS, "web",
                                   {"metadata": {"resourceVersion": current, "annotations": {"a": "2"}}})
    error = caught.value
    assert (error.code, error.reason) == (409, "Conflict")
    assert error.message == f'Operation cannot be fulfilled on ingresses.networking.k8s.io "web": {STALE}'
    assert isinstance(error, writing.KubeWriteError) and error.retry_after is None
    assert api_server.storage.get(INGRESSES, NS, "web")["metadata"]["annotations"]["a"] == "1"


async def test_fresh_resource_version_in_a_patch_is_accepted(api_server, api_client):
    seed(api_server.storage)
    writer = writing.KubeWriter(api_client, deadline=5.0)
    current = api_server.storage.get(INGRESSES, NS, "web")["metadata"]["resourceVersion"]
    body = {"metadata": {"resourceVersion": current, "annotations": {"a": "2"}}}
    answer = await writer.patch_ingress(NS, "web", body)
    assert answer["metadata"]["annotations"] == {"keep": "me", "a": "2"}
    assert answer["metadata"]["resourceVersion"] != current


async def test_creating_a_taken_name_is_a_conflict_already_exists(api_server, api_client):
    seed(api_server.storage)
    writer = writing.KubeWriter(api_client, deadline=5.0)
    with pytest.raises(writing.Conflict) as caught:
        await writer.create_replicaset(NS, replicaset("web-abc"))
    assert (caught.value.code, caught.value.reason) == (409, "AlreadyExists")


@pytest.mark.parametrize(("method", "args"), [
    pytest.param("patch_ingress", ("gone", {"metadata": {"annotations": {"a": "1"}}}), id="ingress"),
    pytest.param("patch_rollout_status", ("gone", {"status": {"phase": "Paused"}}), id="rollout-status"),
    pytest.param("patch_rollout", ("gone", {"spec": {"paused": True}}), id="rollout"),
    pytest.param("patch_replicaset", ("gone", {"spec": {"replicas": 1}}), id="replicaset"),
    pytest.param("patch_service", ("gone", {"spec": {"selector": {"a": "b"}}}), id="service"),
    pytest.param("patch_event", ("gone", {"count": 2}), id="event"),
    pytest.param("delete_replicaset", ("gone",), id="delete-replicaset"),
    pytest.param("get_rollout", ("gone",), id="get-rollout"),
])
async def test_missing_object_is_not_found(api_server, api_client, method, args):
    writer = writing.KubeWriter(api_client, deadline=5.0)
    with pytest.raises(writing.NotFound) as caught:
        await getattr(writer, method)(NS, *args)
    assert (caught.value.code, caught.value.reason) == (404, "NotFound")
    assert '"gone" not found' in caught.value.message


@pytest.mark.parametrize(("code", "retry_after", "kind", "reason", "hint"), [
    pytest.param(400, None, writing.Invalid, "BadRequest", None, id="400-invalid"),
    pytest.param(422, None, writing.Invalid, "Invalid", None, id="422-invalid"),
    pytest.param(500, None, writing.Unavailable, "InternalError", None, id="500-unavailable"),
    pytest.param(503, 3, writing.Unavailable, "ServiceUnavailable", 3.0, id="503-retry-after"),
    pytest.param(429, None, writing.Unavailable, "TooManyRequests", 1.0, id="429-default-retry-after"),
    pytest.param(429, 7, writing.Unavailable, "TooManyRequests", 7.0, id="429-retry-after"),
    pytest.param(403, None, writing.KubeWriteError, "Forbidden", None, id="403-base-error"),
])
async def test_injected_failures_map_to_errors(api_server, api_client, code, retry_after, kind, reason, hint):
    seed(api_server.storage)
    api_server.faults.fail_next("patch", "ingresses", code=code, retry_after=retry_after, message="injected")
    writer = writing.KubeWriter(api_client, deadline=5.0)
    with pytest.raises(writing.KubeWriteError) as caught:
        await writer.patch_ingress(NS, "web", {"metadata": {"annotations": {"a": "1"}}})
    error = caught.value
    assert type(error) is kind
    assert (error.code, error.reason, error.message, error.retry_after) == (code, reason, "injected", hint)
    assert str(error) == f"{code} {reason}: injected"
    # The next write goes through: the fault was one-shot and nothing is retried in place.
    await writer.patch_ingress(NS, "web", {"metadata": {"annotations": {"a": "1"}}})
    assert [r.status for r in api_server.faults.request_log] == [code, 200]


async def test_latency_past_the_deadline_is_unavailable_and_counted(api_server, api_client, registry):
    seed(api_server.storage)
    api_server.faults.set_latency(0.6, "patch", "services")
    metrics = client_metrics.KubeClientMetrics(registry)
    writer = writing.KubeWriter(api_client, deadline=0.1, metrics=metrics)
    with pytest.raises(writing.Unavailable) as caught:
        await writer.patch_service(NS, "web", {"spec": {"selector": {"a": "b"}}})
    error = caught.value
    assert (error.code, error.reason) == (0, "Timeout")
    assert error.message == f"PATCH /api/v1/namespaces/{NS}/services/web: no answer within 0.1s"
    labels = {"kind": "services", "namespace": NS, "name": "web", "verb": "Patch", "status_code": "0"}
    assert registry.get_sample_value("controller_clientset_k8s_request_total", labels) == 1.0


async def test_refused_connection_is_unavailable():
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with client.ApiClient(client.Configuration(host=f"http://127.0.0.1:{port}")) as api:
        writer = writing.KubeWriter(api, deadline=5.0)
        with pytest.raises(writing.Unavailable) as caught:
            await writer.create_event(NS, event("web.3"))
    assert (caught.value.code, caught.value.reason) == (0, "ConnectionError")
    assert caught.value.message.startswith(f"POST /api/v1/namespaces/{NS}/events: ")


async def test_every_request_is_counted_with_its_status(api_server, api_client, registry):
    seed(api_server.storage)
    writer = writing.KubeWriter(api_client, deadline=5.0, metrics=client_metrics.KubeClientMetrics(registry))
    await writer.patch_ingress(NS, "web", {"metadata": {"annotations": {"a": "1"}}})
    with pytest.raises(writing.NotFound):
        await writer.patch_ingress(NS, "other", {"metadata": {"annotations": {"a": "1"}}})
    await writer.patch_rollout_status(NS, "web", {"status": {"phase": "Paused"}})
    await writer.create_event(NS, event("web.4"))
    await writer.create_replicaset(NS, replicaset("web-xyz"))

    def count(kind: str, name: str, verb: str, status: str) -> Any:
        labels = {"kind": kind, "namespace": NS, "name": name, "verb": verb, "status_code": status}
        return registry.get_sample_value("controller_clientset_k8s_request_total", labels)

    assert count("ingresses", "web", "Patch", "200") == 1.0
    assert count("ingresses", "other", "Patch", "404") == 1.0
    assert count("rollouts", "web", "Patch", "200") == 1.0
    assert count("events", "N/A", "Create", "201") == 1.0
    assert count("replicasets", "N/A", "Create", "201") == 1.0


def test_wire_body_is_compact_and_keeps_key_order():
    body = {"metadata": {"annotations": {"z": "1", "a": "é<"}}, "b": [1, None, True]}
    expected = b'{"metadata":{"annotations":{"z":"1","a":"\\u00e9<"}},"b":[1,null,true]}'
    assert writing.wire_body(body) == expected


async def test_a_body_that_is_not_json_is_refused_before_any_request(api_server, api_client, registry):
    writer = writing.KubeWriter(api_client, deadline=5.0, metrics=client_metrics.KubeClientMetrics(registry))
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        await writer.patch_rollout_status(NS, "web", {"status": {"weight": float("nan")}})
    assert api_server.faults.request_log == []
    assert registry.get_sample_value("controller_clientset_k8s_request_total",
                                     {"kind": "rollouts", "namespace": NS, "name": "web", "verb": "Patch",
                                      "status_code": "0"}) is None



def test_kube_writer_implements_the_writer_protocol(api_client):
    writer: writing.Writer = writing.KubeWriter(api_client, deadline=1.0)  # mypy checks the signatures
    wanted = {name for name in vars(writing.Writer) if not name.startswith("_")}
    assert wanted == {name for name in vars(writing.KubeWriter) if not name.startswith("_")}
    assert all(inspect.iscoroutinefunction(getattr(writer, name)) for name in wanted)


@pytest.fixture
async def odd_server():
    """A loopback server answering every request with the (status, body, headers) the test sets."""
    answer: dict[str, Any] = {"status": 200, "body": b"", "headers": {}}

    async def handle(request: web.Request) -> web.Response:
        return web.Response(status=answer["status"], body=answer["body"], headers=answer["headers"])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    async with client.ApiClient(client.Configuration(host=url)) as api:
        yield answer, writing.KubeWriter(api, deadline=5.0)
    await runner.cleanup()


@pytest.mark.parametrize(("status", "body", "headers", "kind", "reason", "message", "hint"), [
    pytest.param(502, b"upstream connect error\n", {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"},
                 writing.Unavailable, "Bad Gateway", "upstream connect error", None,
                 id="text-body-http-date"),
    pytest.param(503, b'{"kind":"Status","code":503,"reason":"ServiceUnavailable","message":"etcd down",'
                      b'"details":{"retryAfterSeconds":4}}', {}, writing.Unavailable, "ServiceUnavailable",
                 "etcd down", 4.0, id="retry-after-in-status-details"),
    pytest.param(500, b"", {"Retry-After": "-3"}, writing.Unavailable, "Internal Server Error", "", None,
                 id="empty-body-negative-hint"),
    pytest.param(401, b"[1,2]", {}, writing.KubeWriteError, "Unauthorized", "", None, id="not-a-status"),
])
async def test_error_answers_that_are_not_plain_status_bodies(odd_server, status, body, headers, kind,
                                                               reason, message, hint):
    answer, writer = odd_server
    answer.update(status=status, body=body, headers=headers)
    with pytest.raises(writing.KubeWriteError) as caught:
        await writer.patch_service(NS, "web", {"spec": {}})
    error = caught.value
    assert type(error) is kind
    assert (error.code, error.reason, error.message, error.retry_after) == (status, reason, message, hint)


@pytest.mark.parametrize("body", [pytest.param(b"", id="empty"), pytest.param(b"not json", id="text"),
                                  pytest.param(b"[1]", id="list")])
async def test_a_success_without_an_object_answers_an_empty_dict(odd_server, body):
    answer, writer = odd_server
    answer.update(status=200, body=body)
    assert await writer.patch_service(NS, "web", {"spec": {}}) == {}


async def test_get_rollout_reads_the_live_object(api_server, api_client):
    """The deletion check reads the Rollout live (a GET, not an empty merge patch)."""
    seed(api_server.storage)
    writer = writing.KubeWriter(api_client, deadline=5.0)
    got = await writer.get_rollout(NS, "web")
    assert (got["metadata"]["name"], got["spec"]["replicas"]) == ("web", 2)
    assert [r.verb for r in api_server.faults.request_log][-1:] == ["get"]
