"""Server-side Table printing: Accept detection, HumanDuration ages, column order (Name, columns, Age, wide),
per-kind cells (pods, Deployments, Jobs, CronJobs), the event layout (Last Seen, Type, Reason, Object,
Message), what rows carry under `includeObject` (Object, Metadata by default, None; 400 for another), and
Tables over HTTP for list, get and watch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from sandbox.apiserver import resources, tables

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
NOW = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("accept", "expected"), [
    pytest.param(TABLE_ACCEPT, True, id="kubectl-get"),
    pytest.param("application/json", False, id="plain"),
    pytest.param("application/json;as=Table;v=v1", False, id="no-group"),
    pytest.param("", False, id="none"),
])
def test_wants_table(accept, expected):
    assert tables.wants_table(accept) is expected


@pytest.mark.parametrize(("seconds", "text"), [
    pytest.param(5, "5s", id="seconds"),
    pytest.param(119, "119s", id="under-two-minutes"),
    pytest.param(150, "2m30s", id="minutes-seconds"),
    pytest.param(600, "10m", id="minutes"),
    pytest.param(4 * 3600 + 60, "4h1m", id="hours-minutes"),
    pytest.param(20 * 3600, "20h", id="hours"),
    pytest.param(3 * 86400 + 3600, "3d1h", id="days-hours"),
    pytest.param(30 * 86400, "30d", id="days"),
    pytest.param(800 * 86400, "2y", id="years"),
])
def test_human_age(seconds, text):
    stamp = (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert tables.human_age(stamp, NOW) == text


def test_pod_table_cells_and_column_order():
    info = resources.Registry().get("pods")
    pod = {
        "metadata": {"name": "p", "creationTimestamp": "2026-01-02T11:59:00Z"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n"},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "containerStatuses": [{"ready": True}, {"ready": False}],
        },
    }
    table = tables.as_table(info, [pod], "7", now=NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"]
    assert table["rows"][0]["cells"] == ["p", "1/2", "Running", 0, "60s", "10.0.0.1", "n"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["metadata"] == {"resourceVersion": "7"}


def test_event_table_leads_with_last_seen_and_names_the_object():
    info = resources.Registry().get("events")
    event = {
        "metadata": {"name": "app.1", "creationTimestamp": "2026-01-02T11:00:00Z"},
        "involvedObject": {"kind": "Ingress", "name": "app"},
        "type": "Warning", "reason": "FailedBuildModel", "message": "Failed build model due to x",
        "firstTimestamp": "2026-01-02T11:58:00Z", "lastTimestamp": "2026-01-02T11:59:30Z",
    }
    table = tables.as_table(info, [event], "3", now=NOW)
    assert [(c["name"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Message", 0), ("Name", 1)]
    assert table["rows"][0]["cells"] == [
        "30s", "Warning", "FailedBuildModel", "ingress/app", "Failed build model due to x", "app.1"]


@pytest.mark.parametrize(("resource", "obj", "cells"), [
    pytest.param("deployments.apps", {"spec": {"replicas": 3}, "status": {"readyReplicas": 2,
                 "updatedReplicas": 3, "availableReplicas": 2}}, ["d", "2/3", 3, 2, "60s"], id="deployment"),
    pytest.param("jobs.batch", {"spec": {"completions": 2}, "status": {"succeeded": 2, "conditions": [
                 {"type": "Complete", "status": "True"}]}}, ["d", "Complete", "2/2", "", "60s"], id="job"),
    pytest.param("cronjobs.batch", {"spec": {"schedule": "* * * * *"}},
                 ["d", "* * * * *", "<none>", False, 0, "<none>", "60s"], id="cronjob"),
])
def test_workload_cells(resource, obj, cells):
    info = resources.Registry().get(resource)
    obj = {"metadata": {"name": "d", "creationTimestamp": "2026-01-02T11:59:00Z"}, **obj}
    assert tables.as_table(info, [obj], "1", now=NOW)["rows"][0]["cells"] == cells


@pytest.mark.parametrize(("policy", "carried"), [
    pytest.param("Object", {"metadata": {"name": "c"}, "data": {"a": "1"}}, id="object"),
    pytest.param("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                              "metadata": {"name": "c"}}, id="metadata"),
    pytest.param("None", None, id="none"),
])
def test_include_object(policy, carried):
    info = resources.Registry().get("configmaps")
    row = tables.as_table(info, [{"metadata": {"name": "c"}, "data": {"a": "1"}}], "1",
                          include_object=policy)["rows"][0]
    assert row.get("object") == carried


async def test_include_object_over_http(kube_api):
    kube_api.storage.create("configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    base = f"{kube_api.url}/api/v1/namespaces/default/configmaps"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}?includeObject=Object", headers={"Accept": TABLE_ACCEPT}) as resp:
            listed = await resp.json()
        async with http.get(f"{base}?includeObject=All", headers={"Accept": TABLE_ACCEPT}) as resp:
            status, refused = resp.status, await resp.json()
    assert [(r["object"]["kind"], r["object"]["data"]) for r in listed["rows"]] == [("ConfigMap", {"a": "1"})]
    assert (status, refused["message"]) == (400, 'includeObject: Unsupported value: "All": supported values: '
                                                 '"Metadata", "None", "Object"')


async def test_tables_over_http_for_list_get_and_watch(kube_api):
    kube_api.storage.create("configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    base = f"{kube_api.url}/api/v1/namespaces/default/configmaps"
    headers = {"Accept": TABLE_ACCEPT}
    async with aiohttp.ClientSession() as http:
        async with http.get(base, headers=headers) as resp:
            listed = await resp.json()
        async with http.get(f"{base}/c", headers=headers) as resp:
            got = await resp.json()
        async with http.get(f"{base}?watch=true&timeoutSeconds=0.3", headers=headers) as resp:
            events = [json.loads(line) for line in (await resp.read()).splitlines()]
    assert [r["cells"][:2] for r in listed["rows"]] == [["c", 1]]
    assert (got["kind"], [r["cells"][0] for r in got["rows"]]) == ("Table", ["c"])
    assert [(e["type"], e["object"]["kind"], e["object"]["rows"][0]["cells"][0]) for e in events] == [
        ("ADDED", "Table", "c")
    ]
