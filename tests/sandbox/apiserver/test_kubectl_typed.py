"""kubectl's typed `create` subcommands, which send protobuf bodies, against the emulator.

Covers: every subcommand below is sent as `application/vnd.kubernetes.protobuf` and stores exactly the object
`kubectl create ... --dry-run=client -o json` prints (apart from what the server fills in): namespace,
configmap (literals and a binary file), secret generic and docker-registry, deployment (ports, replicas 0, a
command), service clusterip/nodeport/headless, serviceaccount, job, cronjob, ingress and pdb; and `create job
--from=cronjob/...` (owner references and annotations).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.sandbox.apiserver.kubectl import needs_kubectl

pytestmark = needs_kubectl

PROTOBUF = "application/vnd.kubernetes.protobuf"
SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "namespace")


def comparable(obj: dict[str, Any], resource: str) -> dict[str, Any]:
    """The object without what the server sets: identity fields, status and a Service's cluster IPs."""
    obj = copy.deepcopy(obj)
    for name in SERVER_FIELDS:
        obj["metadata"].pop(name, None)
    obj.pop("status", None)
    if resource == "services" and obj["spec"].get("clusterIP") != "None":
        obj["spec"].pop("clusterIP", None)
        obj["spec"].pop("clusterIPs", None)
    return obj


@pytest.mark.parametrize(("args", "resource", "name"), [
    pytest.param(["namespace", "shop"], "namespaces", "shop", id="namespace"),
    pytest.param(["configmap", "c", "--from-literal=a=b", "--from-file=blob={blob}"], "configmaps", "c",
                 id="configmap"),
    pytest.param(["secret", "generic", "s", "--from-literal=p=q", "--type=Opaque"], "secrets", "s",
                 id="secret-generic"),
    pytest.param(["secret", "docker-registry", "r", "--docker-server=registry.example.com",
                  "--docker-username=u", "--docker-password=p"], "secrets", "r", id="secret-docker-registry"),
    pytest.param(["deployment", "web", "--image=nginx:1.27", "--port=80", "--replicas=2"],
                 "deployments.apps", "web", id="deployment"),
    pytest.param(["deployment", "idle", "--image=busybox", "--replicas=0", "--", "sleep", "3600"],
                 "deployments.apps", "idle", id="deployment-zero-replicas-command"),
    pytest.param(["service", "clusterip", "web", "--tcp=80:8080", "--tcp=443"], "services", "web",
                 id="service-clusterip"),
    pytest.param(["service", "clusterip", "headless", "--clusterip=None"], "services", "headless",
                 id="service-headless"),
    pytest.param(["service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080"], "services", "np",
                 id="service-nodeport"),
    pytest.param(["serviceaccount", "bot"], "serviceaccounts", "bot", id="serviceaccount"),
    pytest.param(["job", "once", "--image=busybox", "--", "echo", "hi"], "jobs.batch", "once", id="job"),
    pytest.param(["cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--restart=Never", "--",
                  "date"], "cronjobs.batch", "tick", id="cronjob"),
    pytest.param(["ingress", "web", "--class=alb", "--rule=shop.example.com/api*=api:8080",
                  "--rule=/=web:http,tls=shop-cert", "--annotation=a=b"],
                 "ingresses.networking.k8s.io", "web", id="ingress"),
    pytest.param(["pdb", "web", "--selector=app=web", "--max-unavailable=50%"],
                 "poddisruptionbudgets.policy", "web", id="pdb"),
])
async def test_typed_create_stores_what_kubectl_means(kubectl, kube_api, args, resource, name):
    args = [a.replace("{blob}", kubectl.file("blob", "")) for a in args]
    (kubectl.tmp / "blob").write_bytes(b"\x00\xff binary")
    split = args.index("--") if "--" in args else len(args)
    head, command = args[:split], args[split:]
    code, out, err = await kubectl("create", *head, "--dry-run=client", "-o", "json", *command)
    assert (code, err) == (0, "")
    intended = json.loads(out)
    code, out, err = await kubectl("create", *head, *command)
    assert (code, err) == (0, ""), err
    assert out.endswith(f"/{name} created\n")
    namespace = None if resource == "namespaces" else "default"
    stored = kube_api.storage.get(resource, namespace, name)
    assert stored is not None
    assert comparable(stored, resource) == comparable(intended, resource)
    posts = [r for r in kube_api.faults.request_log if r.method == "POST" and r.resource == resource]
    assert [r.content_type for r in posts] == [PROTOBUF]


async def test_create_job_from_a_cronjob(kubectl, kube_api):
    assert (await kubectl("create", "cronjob", "tick", "--image=busybox", "--schedule=@hourly"))[0] == 0
    code, out, err = await kubectl("create", "job", "now", "--from=cronjob/tick")
    assert (code, out, err) == (0, "job.batch/now created\n", "")
    job = kube_api.storage.get("jobs.batch", "default", "now")
    cronjob = kube_api.storage.get("cronjobs.batch", "default", "tick")
    assert job is not None and cronjob is not None
    assert job["metadata"]["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "CronJob", "name": "tick", "uid": cronjob["metadata"]["uid"],
        "controller": True,
    }]
    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
