"""What a new user types against the sandbox, with kubectl's defaults (no `--validate=false`).

Covers: `apply` reading /openapi/v3 (never v2), creating, leaving unchanged and strategic-merging with the
documents' patch merge keys, sending `fieldValidation=Strict`; unknown fields refused as a real server words
it, on create and on patch, and reported as warnings with `--validate=warn`; `explain` for a built-in field
and a custom kind; `get events --sort-by=.lastTimestamp`; `get all` (the "all" category); and `logs`, `exec`,
`attach` saying the sandbox runs no containers (NotFound for a missing pod).
"""

from __future__ import annotations

import pytest

from tests.sandbox.apiserver.kubectl import needs_kubectl

pytestmark = needs_kubectl

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27", ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: %d}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec: {replicas: 2}
"""
TYPOS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: typo}
spec:
  replicass: 1
  selector: {matchLabels: {app: typo}}
  template:
    metadata: {labels: {app: typo}}
    spec:
      containers: [{name: c, image: nginx, imagee: x}]
"""
UNKNOWN = 'unknown field "spec.replicass", unknown field "spec.template.spec.containers[0].imagee"'
NO_CONTAINERS = "the alb-rollouts sandbox simulates pods and runs no containers"


async def test_apply_with_validation(kubectl, kube_api):
    path = kubectl.file("app.yaml", MANIFEST % 80)
    code, out, err = await kubectl("apply", "-f", path)
    created = "deployment.apps/web created\nservice/web created\nrollout.argoproj.io/r created\n"
    assert (code, out, err) == (0, created, "")
    code, out, _ = await kubectl("apply", "-f", path)
    assert (code, out.split("\n")[:3]) == (0, ["deployment.apps/web unchanged", "service/web unchanged",
                                               "rollout.argoproj.io/r unchanged"])
    code, out, _ = await kubectl("apply", "-f", kubectl.file("app.yaml", MANIFEST % 81))
    assert (code, out.split("\n")[1]) == (0, "service/web configured")
    service = kube_api.storage.get("services", "default", "web")
    assert service is not None
    assert service["spec"]["ports"] == [{"name": "http", "port": 81, "protocol": "TCP", "targetPort": 81}]
    log = kube_api.faults.request_log
    # /openapi/v2 is asked for only to patch the Rollout (kubectl then merge-patches, as for any CR).
    v3 = {(r.path, r.status) for r in log if r.path.startswith("/openapi/v3")}
    assert v3 >= {("/openapi/v3", 200), ("/openapi/v3/apis/apps/v1", 200), ("/openapi/v3/api/v1", 200)}
    writes = [r for r in log if r.method in ("POST", "PATCH") and r.resource]
    assert writes and all("fieldValidation=Strict" in r.query for r in writes)


async def test_unknown_fields_are_refused_or_warned(kubectl, kube_api):
    path = kubectl.file("typo.yaml", TYPOS)
    code, _, err = await kubectl("apply", "-f", path)
    assert (code, err) == (1, (
        f'Error from server (BadRequest): error when creating "{path}": Deployment in version "v1" cannot be '
        f"handled as a Deployment: strict decoding error: {UNKNOWN}\n"))
    code, out, err = await kubectl("apply", "--validate=warn", "-f", path)
    assert (code, out) == (0, "deployment.apps/typo created\n")
    assert err == ('Warning: unknown field "spec.replicass"\n'
                   'Warning: unknown field "spec.template.spec.containers[0].imagee"\n')
    # Now the object exists: kubectl patches only what changed.
    changed = kubectl.file("typo.yaml", TYPOS.replace("replicass: 1", "replicass: 2"))
    code, _, err = await kubectl("apply", "-f", changed)
    assert code == 1
    assert err.startswith('The request is invalid: patch: Invalid value: "map[metadata:map[annotations:map[')
    assert err.endswith(' spec:map[replicass:2]]": strict decoding error: unknown field "spec.replicass"\n')


async def test_explain(kubectl, kube_api):
    code, out, _ = await kubectl("explain", "deployment.spec.replicas")
    assert code == 0
    head = ["GROUP:      apps", "KIND:       Deployment", "VERSION:    v1", "", "FIELD: replicas <integer>"]
    assert out.splitlines()[:5] == head
    assert "Number of desired pods." in out
    code, out, _ = await kubectl("explain", "rollouts.spec")
    assert (code, out.splitlines()[4]) == (0, "FIELD: spec <Object>")


async def test_events_sorted_by_last_timestamp(kubectl, kube_api):
    for day, reason in ((3, "Third"), (1, "First"), (2, "Second")):
        kube_api.storage.create("events", {
            "metadata": {"name": f"web.{reason}"}, "involvedObject": {"kind": "Pod", "name": "web"},
            "type": "Normal", "reason": reason, "message": "m", "lastTimestamp": f"2026-01-0{day}T00:00:00Z"})
    code, out, err = await kubectl("get", "events", "--sort-by=.lastTimestamp")
    assert (code, err) == (0, "")
    assert [line.split()[2] for line in out.splitlines()[1:]] == ["First", "Second", "Third"]


async def test_get_all(kubectl, kube_api):
    store = kube_api.storage
    for resource, extra in (("pods", {}), ("services", {}), ("deployments.apps", {}), ("jobs.batch", {}),
                            ("cronjobs.batch", {"spec": {"schedule": "@daily"}}), ("configmaps", {}),
                            ("rollouts.argoproj.io", {}), ("replicasets.apps", {"spec": {"replicas": 0}})):
        store.create(resource, {"metadata": {"name": "x"}, **extra})
    code, out, err = await kubectl("get", "all", "-o", "name")
    assert (code, err) == (0, "")
    assert sorted(out.split()) == ["cronjob.batch/x", "deployment.apps/x", "job.batch/x", "pod/x",
                                   "replicaset.apps/x", "service/x"]


@pytest.mark.parametrize(("args", "what"), [
    pytest.param(["logs", "web"], "has no logs to show", id="logs"),
    pytest.param(["exec", "web", "--", "ls"], "has nothing to exec into", id="exec"),
    pytest.param(["attach", "web"], "has nothing to attach to", id="attach"),
])
async def test_no_containers(kubectl, kube_api, args, what):
    kube_api.storage.create("pods", {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c"}]}})
    code, _, err = await kubectl(*args)
    assert code == 1
    assert err.endswith(f'Error from server (BadRequest): pod "web" {what}: {NO_CONTAINERS} '
                        "(see `kubectl describe pod` and `kubectl get events`)\n")
    code, _, err = await kubectl(*("nope" if a == "web" else a for a in args))
    assert code == 1
    assert 'rror from server (NotFound): pods "nope" not found' in err
