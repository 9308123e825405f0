"""kubectl (a client nobody here wrote) against the emulator, run as a subprocess while the emulator serves.

Covers: discovery + list (`get ns`, short names), `get -w` streaming a new object, `apply --validate=false`
creating and then strategic-merging a built-in, `patch --type merge`, `patch --type json`, the 415 a strategic
patch on a CR gets, `patch --subresource=status`, `wait --for=jsonpath` (watch with fieldSelector), `delete`,
server-side tables (built-in columns, Rollout columns, events, CRD additionalPrinterColumns with `-o wide`).
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.sandbox.apiserver.kubectl import needs_kubectl
from tests.sandbox.polling import DEADLINE, until

pytestmark = needs_kubectl

ROLLOUT = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r1\nspec:\n  replicas: 2\n"
SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selector: {app: %s}\n"
    "  ports:\n  - port: %d\n    name: http\n"
)


async def test_get_namespaces(kubectl):
    code, out, _ = await kubectl("get", "ns", "-o", "name")
    assert (code, out.split()) == (
        0,
        ["namespace/default", "namespace/kube-node-lease", "namespace/kube-public", "namespace/kube-system"],
    )


async def test_apply_then_reapply_builtin_and_custom(kubectl, kube_api):
    assert await kubectl("apply", "--validate=false", "-f", kubectl.file("ro.yaml", ROLLOUT)) == (
        0, "rollout.argoproj.io/r1 created\n", "",
    )
    created = await kubectl("apply", "--validate=false", "-f", kubectl.file("s.yaml", SERVICE % ("a", 80)))
    assert created == (0, "service/s created\n", "")
    changed = kubectl.file("s.yaml", SERVICE % ("b", 81))
    code, out, _ = await kubectl("apply", "--validate=false", "-f", changed)
    assert (code, out) == (0, "service/s configured\n")
    svc = kube_api.storage.get("services", "default", "s")
    assert svc is not None
    assert (svc["spec"]["selector"], svc["spec"]["ports"]) == (
        {"app": "b"}, [{"name": "http", "port": 81, "protocol": "TCP", "targetPort": 81}])
    code, out, _ = await kubectl("get", "ro", "-o", "name")
    assert (code, out) == (0, "rollout.argoproj.io/r1\n")


async def test_patch_types(kubectl, kube_api):
    await kubectl("apply", "--validate=false", "-f", kubectl.file("ro.yaml", ROLLOUT))
    code, out, _ = await kubectl("patch", "rollout", "r1", "--type", "merge", "-p", '{"spec":{"replicas":3}}')
    assert (code, out) == (0, "rollout.argoproj.io/r1 patched\n")
    ops = '[{"op":"replace","path":"/spec/replicas","value":4}]'
    assert (await kubectl("patch", "rollout", "r1", "--type", "json", "-p", ops))[0] == 0
    code, _, err = await kubectl("patch", "rollout", "r1", "-p", '{"spec":{"replicas":5}}')
    assert code == 1
    assert err == (
        "error: application/strategic-merge-patch+json is not supported by argoproj.io/v1alpha1, "
        "Kind=Rollout: "
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml\n"
    )
    status = '{"status":{"phase":"Healthy"}}'
    code, _, _ = await kubectl("patch", "rollout", "r1", "--subresource=status", "--type=merge", "-p", status)
    assert code == 0
    code, out, _ = await kubectl("get", "rollout", "r1", "-o", "json")
    got = json.loads(out)
    assert (got["spec"], got["status"]) == ({"replicas": 4}, {"phase": "Healthy"})
    assert got["metadata"]["generation"] == 3


async def test_wait_for_jsonpath_and_delete(kubectl, kube_api):
    await kubectl("apply", "--validate=false", "-f", kubectl.file("ro.yaml", ROLLOUT))
    condition = "--for=jsonpath={.status.phase}=Healthy"
    waiter = await kubectl.start("wait", condition, "rollout/r1", "--timeout=60s")
    # kubectl lists, then watches with fieldSelector=metadata.name=r1; change the object once it watches.
    await until(lambda: kube_api.open_watches, what="kubectl to watch")
    kube_api.storage.merge_patch("rollouts.argoproj.io", "default", "r1", {"status": {"phase": "Healthy"}},
                                 subresource="status")
    out, _ = await asyncio.wait_for(waiter.communicate(), DEADLINE)
    assert (waiter.returncode, out.decode()) == (0, "rollout.argoproj.io/r1 condition met\n")
    assert await kubectl("delete", "rollout", "r1") == (0, 'rollout.argoproj.io "r1" deleted\n', "")
    assert kube_api.storage.get("rollouts.argoproj.io", "default", "r1") is None


async def test_get_watch_streams_new_objects(kubectl, kube_api):
    kube_api.storage.create("configmaps", {"metadata": {"name": "first"}})
    proc = await kubectl.start("get", "configmaps", "-w", "-o", "name")
    assert proc.stdout is not None
    try:
        first = await asyncio.wait_for(proc.stdout.readline(), DEADLINE)
        assert first == b"configmap/first\n"
        kube_api.storage.create("configmaps", {"metadata": {"name": "second"}})
        second = await asyncio.wait_for(proc.stdout.readline(), DEADLINE)
        assert second == b"configmap/second\n"
    finally:
        proc.kill()
        await proc.wait()


async def test_get_prints_server_side_tables(kubectl, kube_api):
    web = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    made = kube_api.storage.create("services", web)
    code, out, _ = await kubectl("get", "svc", "web")
    header = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert (code, out.split("\n")[0].split()) == (0, header)
    cluster_ip = made["spec"]["clusterIP"]
    assert out.split("\n")[1].split()[:5] == ["web", "ClusterIP", cluster_ip, "<none>", "80/TCP"]
    kube_api.storage.create("rollouts.argoproj.io", {"metadata": {"name": "r"}, "spec": {"replicas": 3}})
    code, out, _ = await kubectl("get", "rollouts")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DESIRED", "CURRENT", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:2] == ["r", "3"]
    kube_api.storage.create("events", {
        "metadata": {"name": "r.1"}, "involvedObject": {"kind": "Rollout", "name": "r"},
        "type": "Normal", "reason": "RolloutUpdated", "message": "Rollout updated to revision 1"})
    code, out, _ = await kubectl("get", "events")
    header, row = out.splitlines()
    assert (code, header.split()) == (0, ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"])
    assert row.split()[1:4] == ["Normal", "RolloutUpdated", "rollout/r"]
    assert row.endswith(" Rollout updated to revision 1")


async def test_get_uses_crd_printer_columns(kubectl, kube_api):
    column = {"name": "Color", "type": "string", "jsonPath": ".spec.color"}
    wide = {"name": "Size", "type": "integer", "jsonPath": ".spec.size", "priority": 1}
    kube_api.storage.create("customresourcedefinitions.apiextensions.k8s.io", {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "additionalPrinterColumns": [wide, column]}
            ],
        },
    })
    widget = {"metadata": {"name": "w"}, "spec": {"color": "red", "size": 2}}
    kube_api.storage.create("widgets.example.com", widget)
    code, out, _ = await kubectl("get", "widgets", "-o", "wide")
    assert code == 0
    header, row = (line.split() for line in out.splitlines())
    assert (header, row[:2], row[3:]) == (["NAME", "COLOR", "AGE", "SIZE"], ["w", "red"], ["2"])
    assert re.fullmatch(r"\d+s", row[2]), row  # the age ticks on while kubectl starts


@pytest.mark.parametrize(("kind", "resource", "body"), [
    pytest.param("rollout", "rollouts.argoproj.io", {"spec": {"replicas": 1}}, id="rollout"),
    pytest.param("rs", "replicasets.apps", {"spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}}},
                 id="replicaset"),
])
async def test_scale(kubectl, kube_api, kind, resource, body):
    kube_api.storage.create(resource, {"metadata": {"name": "x"}, **body})
    code, out, _ = await kubectl("scale", kind, "x", "--replicas=4")
    assert code == 0 and out.endswith("/x scaled\n")
    stored = kube_api.storage.get(resource, "default", "x")
    assert stored is not None and stored["spec"]["replicas"] == 4
