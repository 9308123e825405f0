"""The world a reconciler test runs in, and builders for the objects a user applies.

`World` holds the sandbox pieces and the reconciler; `settle` reconciles like the worker loop would (an
exception counts as a retry) until a condition holds, with a deadline, never a bare sleep.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.apiserver.faults import Faults
from sandbox.apiserver.storage import Storage
from sandbox.cluster import Cluster
from sandbox.lbc import LoadBalancerController
from sandbox.lbc import models as lbc_models
from service import clock as clocks
from service import reconciling, results
from service.kube import informers, writing
from statemachine import models

__all__ = ["NS", "ROLLOUTS", "World", "forward", "ingress", "rollout", "service", "template"]

NS = "default"
ROLLOUTS = "rollouts.argoproj.io"
INGRESSES = "ingresses.networking.k8s.io"
RS = "replicasets.apps"
ACTION = "alb.ingress.kubernetes.io/actions.stable"
BOOKKEEPING = "rollouts.argoproj.io/managed-alb-annotations"
HASH = "rollouts-pod-template-hash"


def template(image: str = "app:1", app: str = "demo") -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": image,
                                     "ports": [{"name": "http", "containerPort": 8080}]}]}}


def rollout(name: str = "demo", *, steps: list[dict[str, Any]] | None = None, image: str = "app:1",
            ingress_name: str = "app", stable: str = "stable", canary: str = "canary", replicas: int = 2,
            app: str = "demo", **canary_extra: Any) -> dict[str, Any]:
    strategy = {"canaryService": canary, "stableService": stable,
                "trafficRouting": {"alb": {"ingress": ingress_name, "servicePort": 80}},
                "steps": steps if steps is not None else [{"setWeight": 20}, {"pause": {}}],
                **canary_extra}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                     "template": template(image, app), "strategy": {"canary": strategy}}}


def service(name: str, app: str = "demo") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"app": app},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def ingress(name: str = "app", backends: tuple[str, ...] = ("stable",), ingress_class: str = "alb"
            ) -> dict[str, Any]:
    paths = [{"path": f"/{backend}" if len(backends) > 1 else "/", "pathType": "Prefix",
              "backend": {"service": {"name": backend, "port": {"name": "use-annotation"}}}}
             for backend in backends]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"ingressClassName": ingress_class, "rules": [{"http": {"paths": paths}}]}}


def forward(canary: int, stable: int, canary_name: str = "canary", stable_name: str = "stable") -> str:
    groups = [{"ServiceName": canary_name, "ServicePort": "80", "Weight": canary},
              {"ServiceName": stable_name, "ServicePort": "80", "Weight": stable}]
    return json.dumps({"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}, separators=(",", ":"))


class CountingWriter:
    """The real KubeWriter, counting the writes that are not Events (what "settled" looks at)."""

    def __init__(self, inner: writing.KubeWriter) -> None:
        self.inner = inner
        self.writes: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name.endswith("_event") or not callable(method):
            return method

        async def counted(*args: Any, **kwargs: Any) -> Any:
            answer = await method(*args, **kwargs)
            self.writes.append((name, str(args[1]) if len(args) > 1 else ""))
            return answer

        return counted


@dataclass
class World:
    storage: Storage
    faults: Faults
    cluster: Cluster
    lbc: LoadBalancerController
    informers: informers.Informers
    reconciler: reconciling.Reconciler
    clock: clocks.FakeClock
    elbv2_endpoint: str
    writer: CountingWriter
    enqueued: list[str] = field(default_factory=list)
    """The keys the informers' watch handlers enqueued (what a worker loop would reconcile)."""
    outcomes: list[results.Result] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    # ---- objects ---------------------------------------------------------------------------------------
    def apply(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        return self.storage.create(resource, copy.deepcopy(obj))

    def seed(self, *, name: str = "demo", **options: Any) -> dict[str, Any]:
        """Services stable/canary, Ingress app, and the Rollout."""
        for svc in ("stable", "canary"):
            if self.storage.get("services", NS, svc) is None:
                self.apply("services", service(svc))
        if self.storage.get(INGRESSES, NS, "app") is None:
            self.apply(INGRESSES, ingress())
        return self.apply(ROLLOUTS, rollout(name, **options))

    def get(self, resource: str, name: str) -> dict[str, Any]:
        found = self.storage.get(resource, NS, name)
        assert found is not None, f"{resource} {name} not found"
        return found

    def status(self, name: str = "demo") -> dict[str, Any]:
        return dict(self.get(ROLLOUTS, name).get("status") or {})

    def annotations(self, name: str = "app") -> dict[str, str]:
        return dict((self.get(INGRESSES, name).get("metadata") or {}).get("annotations") or {})

    def replica_sets(self, rollout_name: str = "demo") -> dict[str, dict[str, Any]]:
        return {rs["metadata"]["name"]: rs for rs in self.storage.list(RS, NS)
                if rs["metadata"]["name"].startswith(f"{rollout_name}-")}

    def pod_uids(self) -> set[str]:
        return {pod["metadata"]["uid"] for pod in self.storage.list("pods", NS)}

    def events(self, reason: str) -> list[str]:
        return [e["message"] for e in self.storage.list("events", NS) if e.get("reason") == reason]

    def alb_weights(self, ingress_name: str = "app") -> dict[str, int | None]:
        """The forward weights the LBC simulator last deployed to AWS for the Ingress (service → weight)."""
        stack = self.lbc.applied.get(f"{NS}/{ingress_name}")
        if stack is None:
            return {}
        prefix = f"{NS}/{ingress_name}-"
        for rule in stack.rules:
            action = rule.action
            if isinstance(action, lbc_models.ForwardModel) and len(action.target_groups) > 1:
                return {(ref.resource_id or "")[len(prefix):].rpartition(":")[0]: weight
                        for ref, weight in action.target_groups}
        return {}

    def state(self, name: str = "demo") -> str | None:
        described = self.reconciler.describe(f"{NS}/{name}")
        return str(described["state"]) if described is not None else None

    async def update_with_the_alb_behind(self, image: str, name: str = "demo") -> None:
        """A new image whose canary targets come to serve, then the LBC paused: the ALB will lag the next
        annotation (traffic follows targets, so pausing earlier would hold the weight back instead)."""
        self.storage.merge_patch(ROLLOUTS, NS, name, {"spec": {"template": template(image)}})
        await self.pause_the_lbc_once_serving("canary", name)

    async def pause_the_lbc_once_serving(self, service: str, name: str = "demo", within: float = 60.0
                                         ) -> None:
        """Reconcile until the controller waits for `service`'s targets; once ELBv2 has them serving (asked
        directly, no reconcile), pause the LBC. The reconcile that sees them serve acts at once (switch,
        weight), so pausing after it would be too late."""
        await self.settle(lambda: self.state(name) == "WaitingForTargets", what="waiting for targets",
                          quiet=False)
        verifier = self.reconciler.applier.verifier
        assert verifier is not None, "a world made with verify=True"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            await self.caught_up()
            rollout = models.parse_rollout(self.get(ROLLOUTS, name))
            serving, why = await verifier.serving(rollout, service)
            if serving:
                break
            assert loop.time() < deadline, f"{service} targets not serving within {within}s: {why}"
            await asyncio.sleep(0.05)  # polled: ELBv2 registration has no event to wait on
        self.lbc.configure({"paused": True})

    async def caught_up(self, within: float = 20.0) -> None:
        """Wait until every cache has seen what the API server holds now (bookmarks move idle ones)."""
        version = self.storage.resource_version
        for reflector in self.informers.all:
            if reflector not in self.informers.required and not reflector.synced.is_set():
                continue  # a cache made never to sync (a missing CRD): nothing to catch up with
            assert await reflector.wait_seen(version, within), f"{reflector.resource.name} behind"

    # ---- reconciling -----------------------------------------------------------------------------------
    async def reconcile(self, key: str = f"{NS}/demo") -> results.Result:
        result = await self.reconciler.reconcile(key)
        self.outcomes.append(result)
        return result

    async def settle(self, until: Callable[[], bool], *, key: str = f"{NS}/demo", within: float = 60.0,
                     what: str = "condition", quiet: bool = True) -> None:
        """Reconcile until `until()` holds and (when `quiet`) a reconcile writes nothing, as the worker would:
        a raised error is a retry."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        await self.caught_up()
        while True:
            before = len(self.writer.writes)
            failed = False
            try:
                await self.reconcile(key)
            except results.TerminalError:
                raise
            except Exception as error:  # the worker requeues every other failure
                self.errors.append(error)
                failed = True
            if not failed and (not quiet or len(self.writer.writes) == before) and until():
                return
            if loop.time() > deadline:
                raise AssertionError(f"not settled within {within}s: {what}; status={self.status()}")
            await asyncio.sleep(0.02)  # let the cluster, the LBC and the caches move
