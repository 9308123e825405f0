"""Least privilege, observed: `alb-rollouts run` (a real process, with the args of k8s/base/deployment.yaml)
serves a representative flow on the sandbox, and every request it sends to the API server and to AWS is
checked against k8s/base/rbac.yaml and k8s/iam-policy.json.

The flow: leader election on the Lease; a canary routed by an `alb` Ingress with canaryMetadata/
stableMetadata, a pod-template hash collision on its first ReplicaSet, an analysis step (the `alb` provider
through CloudWatch, and a `web` metric whose token comes from a Secret), scale-down at once and
revisionHistoryLimit 0 (the old ReplicaSet deleted), a restartAt (pods evicted), then the Rollout deleted
(its Services and Ingress released); a basic canary taking its template from a Deployment (`workloadRef`,
`scaleDown: onsuccess`); and an AnalysisRun made by hand, deleted once its ttlStrategy expires.

Covers:
- every request the API server served the controller (its RequestRecord log) is granted by the ClusterRole
  (cluster-wide) or the leader-election Role (the controller's namespace), subresources included, refused
  ones too; non-resource requests are discovery only;
- every (resource, verb) the two roles grant was requested, but for the grants `NOT_REQUESTED` lists with
  their reason (and those really were not requested, so the list stays true);
- every AWS call the controller made (seen by a recording proxy between it and the sandbox's AWS) is allowed
  by the IAM policy, and every action the policy allows was called but for `NOT_CALLED`'s, with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml
from aiohttp import web

from sandbox import aws
from sandbox.aws_proxy import AwsProxy
from sandbox.running import Sandbox
from statemachine import replicasets

ROOT = Path(__file__).resolve().parents[2]
NS, CONTROLLER_NS = "shop", "argo-rollouts"
ROLLOUTS, REPLICASETS, RUNS = "rollouts.argoproj.io", "replicasets.apps", "analysisruns.argoproj.io"
INGRESSES, DEPLOYMENTS = "ingresses.networking.k8s.io", "deployments.apps"
HASH = "rollouts-pod-template-hash"
WITHIN = 40.0

Grant = tuple[str, str, str]  # (API group, resource[/subresource], verb)

NOT_REQUESTED: dict[Grant, str] = {
    ("argoproj.io", "rollouts/finalizers", "update"):
        "no request: the OwnerReferencesPermissionEnforcement admission plugin asks for it when a ReplicaSet "
        "or AnalysisRun is created with blockOwnerDeletion on its Rollout ownerReference",
}
NOT_CALLED: dict[str, str] = {
    "elasticloadbalancing:DescribeTargetGroups":
        "called only for a TargetGroupBinding naming its target group by spec.targetGroupName "
        "(service/aws/lookups.py target_group_arn); the LBC writes targetGroupARN",
}
NEEDS_NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})
"""AWS calls every principal may make, whatever its policy."""
DISCOVERY = re.compile(r"/(api|apis)(/[^/]+(/[^/]+)?)?|/version|/openapi/.*")


# ---- what was asked --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KubeRequest:
    """One request the API server served the controller, as RBAC sees it."""

    method: str
    path: str
    group: str
    resource: str  # "<plural>" or "<plural>/<subresource>"
    verb: str
    namespace: str | None

    @property
    def grant(self) -> Grant:
        return self.group, self.resource, self.verb


def kube_request(method: str, path: str, query: str) -> KubeRequest | None:
    """RBAC's view of a request (the apiserver's RequestInfo); None for a non-resource path."""
    parts = [part for part in path.split("/") if part]
    if parts[:1] == ["api"] and len(parts) > 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    name = rest[1] if len(rest) > 1 else None
    resource = "/".join([rest[0], *rest[2:3]])
    watch = parse_qs(query).get("watch", [""])[0].lower() in ("1", "t", "true")
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method)
    if method == "GET":
        verb = "get" if name else ("watch" if watch else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    assert verb is not None, f"{method} {path}"
    return KubeRequest(method, path, group, resource, verb, namespace)


class RecordingAws(AwsProxy):
    """A proxy between the controller and the sandbox's AWS that notes each call as an IAM action."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.actions: list[str] = []

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        self.actions.append(iam_action(request, await request.read()))
        return await super()._forward(request)


SIGNING_TO_IAM = {"monitoring": "cloudwatch"}
_SCOPE = re.compile(r"Credential=[^/,]*/[^/,]*/[^/,]*/([^/,]*)/")
_RPC_PATH = re.compile(r"/service/[^/]+/operation/([^/]+)$")


def iam_action(request: web.Request, body: bytes) -> str:
    """`<service>:<Operation>` of an AWS API request, in any of the wire protocols botocore speaks."""
    scope = _SCOPE.search(request.headers.get("Authorization", ""))
    service = SIGNING_TO_IAM.get(scope.group(1), scope.group(1)) if scope else "unsigned"
    operation = ""
    if rpc := _RPC_PATH.search(request.path):  # smithy-rpc-v2-cbor (CloudWatch)
        operation = rpc.group(1)
    elif target := request.headers.get("X-Amz-Target"):  # awsJson
        operation = target.rsplit(".", 1)[-1]
    else:  # query protocol (ELBv2): Action in the form body or the query string
        form = parse_qs(body.decode("utf-8", "replace")) if body else {}
        operation = (form.get("Action") or [request.query.get("Action", "")])[0]
    return f"{service}:{operation}"


# ---- what is granted -------------------------------------------------------------------------------------


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def granted(role: dict[str, Any]) -> set[Grant]:
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def rbac() -> tuple[set[Grant], set[Grant]]:
    """(the ClusterRole's grants, the leader-election Role's), from k8s/base/rbac.yaml."""
    documents = _documents(ROOT / "k8s" / "base" / "rbac.yaml")
    (cluster_role,) = [doc for doc in documents if doc["kind"] == "ClusterRole"]
    (role,) = [doc for doc in documents if doc["kind"] == "Role"]
    return granted(cluster_role), granted(role)


def allowed_actions() -> set[str]:
    policy = json.loads((ROOT / "k8s" / "iam-policy.json").read_text())
    return {action for statement in policy["Statement"] if statement["Effect"] == "Allow"
            for action in statement["Action"]}


def deployment_args() -> list[str]:
    """k8s/base/deployment.yaml's container args: the controller runs with them here."""
    (deployment,) = [doc for doc in _documents(ROOT / "k8s" / "base" / "deployment.yaml")
                     if doc["kind"] == "Deployment"]
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


# ---- the flow ---------------------------------------------------------------------------------------------


def _objects(metric_port: int) -> list[tuple[str, dict[str, Any]]]:
    """(storage key, object) of everything the flow starts with, in namespace `shop`."""
    labels = {"app": "web"}
    services = [("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"web-{role}"},
                              "spec": {"selector": labels,
                                       "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
                for role in ("stable", "canary")]
    backend = {"service": {"name": "web-stable", "port": {"name": "use-annotation"}}}
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "web", "annotations": {"alb.ingress.kubernetes.io/target-type": "ip"}},
               "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [
                   {"path": "/", "pathType": "Prefix", "backend": backend}]}}]}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "metrics-token"},
              "data": {"token": base64.b64encode(b"s3cret").decode()}}
    alb = {"alb": {"loadBalancer": "{{args.load-balancer}}", "canaryTargetGroup": "{{args.canary}}",
                   "stableTargetGroup": "{{args.stable}}", "interval": "5m"}}
    web_metric = {"web": {"url": f"http://127.0.0.1:{metric_port}/health", "jsonPath": "{$.ok}",
                          "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}]}}
    template = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
                "metadata": {"name": "health"},
                "spec": {"args": [{"name": "load-balancer"}, {"name": "canary"}, {"name": "stable"},
                                  {"name": "token", "valueFrom": {"secretKeyRef": {"name": "metrics-token",
                                                                                   "key": "token"}}}],
                         "metrics": [
                             {"name": "canary-5xx-ratio", "count": 1, "provider": alb,
                              "successCondition":
                                  "result.canary.errorRate <= result.stable.errorRate + 0.01"},
                             {"name": "healthy", "count": 1, "provider": web_metric,
                              "successCondition": "result == true"}]}}
    # A run a user makes by hand, deleted once its ttlStrategy expires.
    run = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "metadata": {"name": "smoke"},
           "spec": {"ttlStrategy": {"secondsAfterCompletion": 0},
                    "metrics": [{"name": "healthy", "count": 1, "successCondition": "result == true",
                                 "provider": {"web": {"url": f"http://127.0.0.1:{metric_port}/health",
                                                      "jsonPath": "{$.ok}"}}}]}}
    status_args = [{"name": arg, "valueFrom": {"fieldRef": {"fieldPath": f"status.alb.{field}.fullName"}}}
                   for arg, field in (("load-balancer", "loadBalancer"), ("canary", "canaryTargetGroup"),
                                      ("stable", "stableTargetGroup"))]
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web"},
               "spec": {"replicas": 2, "revisionHistoryLimit": 0, "selector": {"matchLabels": labels},
                        "template": _template(labels, "nginx:1.26"),
                        "strategy": {"canary": {
                            "canaryService": "web-canary", "stableService": "web-stable",
                            "canaryMetadata": {"labels": {"role": "canary"}},
                            "stableMetadata": {"labels": {"role": "stable"}},
                            "scaleDownDelaySeconds": 0,
                            "trafficRouting": {"alb": {"ingress": "web", "servicePort": 80}},
                            "steps": [{"setWeight": 50},
                                      {"analysis": {"templates": [{"templateName": "health"}],
                                                    "args": status_args}}]}}}}
    app_labels = {"app": "app"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
                  "spec": {"replicas": 1, "selector": {"matchLabels": app_labels},
                           "template": _template(app_labels, "nginx:1.26")}}
    workload = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "app"},
                "spec": {"replicas": 1, "selector": {"matchLabels": app_labels},
                         "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app",
                                         "scaleDown": "onsuccess"},
                         "strategy": {"canary": {}}}}
    # A ReplicaSet not of the Rollout's, already holding the name its first ReplicaSet would get.
    colliding = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                 "metadata": {"name": f"web-{replicasets.desired_pod_hash(rollout)}"},
                 "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}},
                          "template": _template({"app": "other"}, "busybox")}}
    objects: list[tuple[str, dict[str, Any]]] = [
        *services, (INGRESSES, ingress), ("secrets", secret), ("analysistemplates.argoproj.io", template),
        (RUNS, run), (REPLICASETS, colliding), (ROLLOUTS, rollout), (DEPLOYMENTS, deployment),
        (ROLLOUTS, workload)]
    for _, body in objects:
        body["metadata"]["namespace"] = NS
    return objects


def _template(labels: dict[str, str], image: str) -> dict[str, Any]:
    return {"metadata": {"labels": dict(labels)},
            "spec": {"containers": [{"name": "main", "image": image,
                                     "ports": [{"name": "http", "containerPort": 8080}]}]}}


@pytest.fixture
async def metric_peer() -> AsyncIterator[tuple[int, list[str]]]:
    """The web metric's endpoint: answers ok, and keeps the Authorization headers it was sent."""
    seen: list[str] = []

    async def health(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield int(runner.addresses[0][1]), seen
    await runner.cleanup()


class Flow:
    """The sandbox, the controller process and what it sent."""

    def __init__(self, world: Sandbox, recorder: RecordingAws, tmp_path: Path) -> None:
        self.world, self.recorder, self.tmp_path = world, recorder, tmp_path
        self.process: asyncio.subprocess.Process | None = None
        self.log_path = tmp_path / "controller.log"

    def served(self) -> tuple[list[KubeRequest], list[str]]:
        """What the API server's request log holds: (resource requests, non-resource ones). The controller is
        its only HTTP client here: the test and the sandbox's own controllers use the storage in process."""
        requests: list[KubeRequest] = []
        others: list[str] = []
        for record in self.world.api.faults.request_log:
            found = kube_request(record.method, record.path, record.query)
            if found is None:
                others.append(f"{record.method} {record.path}")
            else:
                requests.append(found)
        return requests, others

    async def start(self) -> None:
        command, *manifest_args = deployment_args()
        argv = [sys.executable, "-m", f"service.commands.{command}", *manifest_args,
                "--kubeconfig", self.world.state.kubeconfig, "--aws-endpoint-url", self.recorder.url,
                "--aws-region", self.world.state.aws_region, "--leader-election-retry-period", "0.5s",
                "--metricsPort", "0", "--healthzPort", "0", "--debug-address", "127.0.0.1:0"]
        # POD_NAMESPACE and POD_NAME as the Deployment sets them from the downward API.
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_EC2_METADATA_DISABLED": "true", "PYTHONUNBUFFERED": "1",
               "ROLLOUT_VERIFY_RETRY_INTERVAL": "0.3s", "POD_NAMESPACE": CONTROLLER_NS,
               "POD_NAME": "alb-rollouts-0"}
        with self.log_path.open("w") as log:
            self.process = await asyncio.create_subprocess_exec(
                *argv, stdout=log, stderr=asyncio.subprocess.STDOUT, env=env)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    async def until(self, done: Callable[[], Any], what: str) -> None:
        deadline = asyncio.get_running_loop().time() + WITHIN
        while not done():
            assert self.process is not None and self.process.returncode is None, self.log()
            assert asyncio.get_running_loop().time() < deadline, f"not within {WITHIN}s: {what}\n{self.log()}"
            await asyncio.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text()[-4000:] if self.log_path.exists() else ""

    def get(self, key: str, name: str) -> dict[str, Any]:
        return self.world.storage.get(key, NS, name) or {}

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.get(ROLLOUTS, name).get("status") or {})

    def hashes(self, app: str) -> set[str]:
        """The pod-template hashes of the app's ReplicaSets."""
        labels = [rs["metadata"].get("labels") or {} for rs in self.world.storage.list(REPLICASETS, NS)]
        return {str(label[HASH]) for label in labels if label.get("app") == app and HASH in label}

    def healthy(self, name: str) -> bool:
        status = self.status(name)
        return status.get("phase") == "Healthy" and status.get("stableRS") == status.get("currentPodHash")


@pytest.fixture
async def flow(moto_server: aws.MotoServer, aws_endpoint: str, tmp_path: Path) -> AsyncIterator[Flow]:
    async with contextlib.AsyncExitStack() as stack:
        world = await stack.enter_async_context(Sandbox(moto=moto_server, pod_ready_seconds=0.1,
                                                        bookmark_interval=0.2, watch_timeout=5.0))
        recorder = RecordingAws(world.state.aws_endpoint_url)
        await recorder.start()
        stack.push_async_callback(recorder.stop)
        made = Flow(world, recorder, tmp_path)
        for name in (NS, CONTROLLER_NS):
            world.storage.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": name}})
        stack.push_async_callback(made.stop)
        yield made


@pytest.mark.usefixtures("quiet_sandbox")
async def test_the_controller_uses_exactly_the_permissions_the_manifests_grant(
        flow: Flow, metric_peer: tuple[int, list[str]]) -> None:
    port, authorizations = metric_peer
    storage = flow.world.storage
    for key, body in _objects(port):
        storage.create(key, body)
    await flow.start()
    await flow.until(lambda: flow.healthy("web") and flow.healthy("app"), "the first deploys")
    assert flow.status("web").get("collisionCount") == 1
    await flow.until(lambda: (flow.get(DEPLOYMENTS, "app").get("spec") or {}).get("replicas") == 0,
                     "the workloadRef Deployment scaled down")

    first = flow.status("web")["stableRS"]
    storage.merge_patch(ROLLOUTS, NS, "web", {"spec": {"template": _template({"app": "web"}, "nginx:1.27")}})
    await flow.until(lambda: flow.healthy("web") and flow.status("web")["stableRS"] != first, "the update")
    await flow.until(lambda: storage.get(RUNS, NS, "smoke") is None, "the hand-made run deleted")
    await flow.until(lambda: flow.hashes("web") == {flow.status("web")["stableRS"]},
                     "the old ReplicaSet deleted (revisionHistoryLimit 0)")
    assert "Bearer s3cret" in authorizations  # the analysis step's web metric read its token from the Secret

    # A second ahead: every pod is then older than restartAt, whatever part of the second it was made in.
    restart = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    storage.merge_patch(ROLLOUTS, NS, "web", {"spec": {"restartAt": restart}})
    await flow.until(lambda: flow.status("web").get("restartedAt") == restart, "the pods restarted")

    storage.delete(ROLLOUTS, NS, "web")
    await flow.until(lambda: HASH not in (flow.get("services", "web-stable").get("spec") or {})
                     .get("selector", {}), "the Services released")
    await flow.stop()

    problems = _rbac_problems(flow) + _iam_problems(flow.recorder.actions)
    assert problems == [], "\n".join(problems)


def _rbac_problems(flow: Flow) -> list[str]:
    cluster_role, lease_role = rbac()
    requests, non_resource = flow.served()
    problems = [f"not discovery: {path}" for path in non_resource
                if not DISCOVERY.fullmatch(path.split(" ", 1)[1])]
    refused: dict[Grant, list[str]] = {}
    for request in requests:
        in_lease_role = request.namespace == CONTROLLER_NS and request.grant in lease_role
        if request.grant not in cluster_role and not in_lease_role:
            refused.setdefault(request.grant, []).append(f"{request.method} {request.path}")
    problems += [f"not granted: {grant}, e.g. {paths[0]} ({len(paths)} requests)"
                 for grant, paths in refused.items()]
    requested = {request.grant for request in requests}
    problems += [f"granted but never requested: {grant}"
                 for grant in sorted((cluster_role | lease_role) - requested) if grant not in NOT_REQUESTED]
    problems += [f"NOT_REQUESTED lists {grant}, but it was requested or is not granted"
                 for grant in NOT_REQUESTED if grant in requested or grant not in cluster_role | lease_role]
    return problems


def _iam_problems(actions: list[str]) -> list[str]:
    allowed, called = allowed_actions(), set(actions) - NEEDS_NO_PERMISSION
    problems = [f"not allowed by k8s/iam-policy.json: {action}" for action in sorted(called - allowed)]
    problems += [f"allowed but never called: {action}"
                 for action in sorted(allowed - called - set(NOT_CALLED))]
    problems += [f"NOT_CALLED lists {action}, but it was called or is not allowed"
                 for action in NOT_CALLED if action in called or action not in allowed]
    return problems
