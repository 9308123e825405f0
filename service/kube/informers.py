"""The controller's informers: one reflector and cache per watched resource, wired to the work queues.

Room: observe. It assembles reflectors (service.kube.watching), caches with their indexes (caches, indexes)
and the key fan-out (enqueuing); it starts and stops them together and says when all have synced (/readyz).
Every change reaches the Rollout queue's `enqueue` as Rollout keys; AnalysisRun changes also reach the
AnalysisRun queue (`analysis_enqueue`, service.analysis.running) as their own keys. It never reconciles and
never writes to the API.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from kubernetes_asyncio import client

from service.kube import caches, enqueuing, indexes, resources, throttling, watching

__all__ = ["ARGO_CRDS", "OPTIONAL_UNSERVED", "REPLICA_SET_SELECTOR", "Informers", "build", "unsynced_reason"]

REPLICA_SET_SELECTOR = "rollouts-pod-template-hash"
"""Only ReplicaSets a Rollout controller made (ours or the reference's) carry this label: the rest of the
cluster's ReplicaSets (Deployments') are never cached."""
OPTIONAL_UNSERVED = ("404", "403")
"""How an optional cache's LIST fails when its CRD is not installed (404) or not granted (403: e.g. the
cluster-wide ClusterAnalysisTemplates under a namespaced Role): such a cache does not count for /readyz."""


@dataclass(frozen=True, slots=True)
class Informers:
    """Reflectors by resource; their `store`s are the caches reconcilers read."""

    rollouts: watching.Reflector
    ingresses: watching.Reflector
    services: watching.Reflector
    endpoint_slices: watching.Reflector
    replica_sets: watching.Reflector
    target_group_bindings: watching.Reflector | None
    """None unless target groups are verified (the LBC's CRD may not even be installed otherwise)."""
    deployments: watching.Reflector | None = None
    """The Deployments a Rollout's `spec.workloadRef` may name (None for tests that need none). Optional: a
    cluster that does not serve apps/v1 deployments (a 404) neither delays the start nor fails /readyz."""
    analysis_runs: watching.Reflector = field(kw_only=True)
    """AnalysisRuns (instance-id filtered): run by service.analysis, read by the Rollout side. Optional, as
    the two template caches: a missing analysis CRD (404) or grant (403) neither delays the start nor fails
    /readyz (service.analysis.running logs why); readers check `synced` per use."""
    analysis_templates: watching.Reflector = field(kw_only=True)
    """AnalysisTemplates (instance-id filtered), which a Rollout's analysis names."""
    cluster_analysis_templates: watching.Reflector = field(kw_only=True)
    """ClusterAnalysisTemplates (cluster-scoped: always watched across namespaces, as the reference does)."""

    @property
    def all(self) -> tuple[watching.Reflector, ...]:
        """Every reflector, Rollouts first."""
        core = (self.rollouts, self.ingresses, self.services, self.endpoint_slices, self.replica_sets)
        optional = (self.deployments, self.target_group_bindings)
        return (*core, *(reflector for reflector in optional if reflector is not None), *self.analysis)

    @property
    def analysis(self) -> tuple[watching.Reflector, ...]:
        """The analysis caches: AnalysisRuns, AnalysisTemplates, ClusterAnalysisTemplates."""
        return (self.analysis_runs, self.analysis_templates, self.cluster_analysis_templates)

    def start(self) -> None:
        """Start every reflector (each runs as its own task)."""
        for reflector in self.all:
            reflector.start()

    async def stop(self) -> None:
        """Stop every reflector and wait until their connections are closed."""
        await asyncio.gather(*(reflector.stop() for reflector in self.all))

    @property
    def required(self) -> tuple[watching.Reflector, ...]:
        """The caches no Rollout can be reconciled without (the TargetGroupBindings and Deployments are
        checked per use)."""
        return (self.rollouts, self.ingresses, self.services, self.endpoint_slices, self.replica_sets)

    def synced(self) -> bool:
        """True once every cache holds its first LIST (what /readyz reports)."""
        return all(reflector.synced.is_set() for reflector in self._counted())

    def unsynced(self) -> list[str]:
        """Why each cache not synced yet is not (empty once all are): for /readyz and the logs."""
        return [unsynced_reason(reflector) for reflector in self._counted() if not reflector.synced.is_set()]

    def _counted(self) -> tuple[watching.Reflector, ...]:
        """The caches readiness waits for: all but Deployments the API server does not serve (a 404) and
        analysis caches it does not serve or grant (`OPTIONAL_UNSERVED`)."""
        skipped = [reflector for reflector in self.analysis
                   if (reflector.last_error or "").startswith(OPTIONAL_UNSERVED)]
        deployments = self.deployments
        if deployments is not None and (deployments.last_error or "").startswith("404"):
            skipped.append(deployments)
        return tuple(reflector for reflector in self.all if reflector not in skipped)

    async def wait_synced(self, within: float) -> bool:
        """Wait until every cache has synced; False when `within` seconds pass first."""
        return await watching.wait_synced(self.all, within)


ARGO_CRDS = "kubectl apply -k 'https://github.com/argoproj/argo-rollouts/manifests/crds?ref=stable'"
"""How Argo Rollouts' own documentation installs its CRDs (which alb-rollouts serves unchanged)."""


def unsynced_reason(reflector: watching.Reflector) -> str:
    """"<resource> not synced: <last error>", with what to do where the cause is known (a missing CRD or
    RBAC grant)."""
    resource = reflector.resource
    text = f"{resource.name} not synced"
    if reflector.last_error:
        text += f": {reflector.last_error}"
        if reflector.last_error.startswith("404"):
            text += (f" (is the {resource.kind} CustomResourceDefinition {resource.name} "
                     f"({resource.api_version}) installed?)")
            if resource.group == "argoproj.io":
                text += f"; install Argo Rollouts' CRDs: {ARGO_CRDS}"
        elif reflector.last_error.startswith("403"):
            scope = f"in namespace {reflector.namespace}" if reflector.namespace else "in all namespaces"
            text += (f" (RBAC forbids it: grant the controller's service account list and watch on "
                     f"{resource.name} {scope}: the ClusterRole of k8s/base, or with --namespaced the Role "
                     "of k8s/namespaced)")
    return text


def build(
    api: client.ApiClient,
    enqueue: enqueuing.Enqueue,
    *,
    namespace: str | None = None,
    instance_id: str | None = None,
    target_group_binding_api_version: str | None = None,
    analysis_enqueue: enqueuing.Enqueue | None = None,
    replica_set_selector: str | None = REPLICA_SET_SELECTOR,
    settings: watching.WatchSettings | None = None,
    limiter: throttling.RequestLimiter | None = None,
) -> Informers:
    """Informers for `--namespaced` (one namespace, or all when None) and `--instance-id` (None: unlabelled).

    TargetGroupBindings are watched only when `target_group_binding_api_version` (GROUP/VERSION, from
    `--aws-target-group-binding-api-version`) is given, i.e. with `--aws-verify-target-group`. Every LIST and
    WATCH start takes a token of `limiter` (--qps/--burst, shared with the writes; None: no limit).
    An AnalysisRun change goes to `analysis_enqueue` (None: nowhere) and, when its phase changed, to the
    Rollout owning it (the reference's Rollout informer does the same).
    """
    rollout_store = caches.Store(indexes.with_namespace(indexes.ROLLOUT_INDEXERS))
    fanout = enqueuing.Fanout(rollout_store, enqueue)
    instance = resources.instance_selector(instance_id)

    def reflector(
        resource: resources.Resource,
        store: caches.Store,
        handler: watching.Handler | None,
        label_selector: str | None = None,
    ) -> watching.Reflector:
        return watching.Reflector(
            api,
            resource,
            store,
            namespace=namespace if resource.namespaced else None,
            label_selector=label_selector,
            handlers=[handler] if handler is not None else [],
            settings=settings,
            limiter=limiter,
        )

    return Informers(
        rollouts=reflector(resources.ROLLOUTS, rollout_store, fanout.on_rollout, instance),
        ingresses=reflector(
            resources.INGRESSES, caches.Store(indexes.with_namespace(indexes.INGRESS_INDEXERS)),
            fanout.on_ingress,
        ),
        services=reflector(
            resources.SERVICES, caches.Store(indexes.with_namespace(indexes.SERVICE_INDEXERS)),
            fanout.on_service,
        ),
        endpoint_slices=reflector(
            resources.ENDPOINT_SLICES, caches.Store(indexes.with_namespace(indexes.ENDPOINT_SLICE_INDEXERS)),
            fanout.on_endpoint_slice,
        ),
        replica_sets=reflector(
            resources.REPLICA_SETS,
            caches.Store(indexes.with_namespace(indexes.REPLICA_SET_INDEXERS)),
            fanout.on_replica_set,
            replica_set_selector,
        ),
        deployments=reflector(
            resources.DEPLOYMENTS, caches.Store(indexes.with_namespace()), fanout.on_deployment
        ),
        target_group_bindings=None
        if target_group_binding_api_version is None
        else reflector(
            resources.target_group_bindings(target_group_binding_api_version),
            caches.Store(indexes.with_namespace(indexes.TARGET_GROUP_BINDING_INDEXERS)),
            fanout.on_target_group_binding,
        ),
        analysis_runs=reflector(resources.ANALYSIS_RUNS,
                                caches.Store(indexes.with_namespace(indexes.ANALYSIS_RUN_INDEXERS)),
                                _analysis_run_handler(fanout, analysis_enqueue), instance),
        analysis_templates=reflector(resources.ANALYSIS_TEMPLATES, caches.Store(indexes.with_namespace()),
                                     None, instance),
        cluster_analysis_templates=reflector(resources.CLUSTER_ANALYSIS_TEMPLATES, caches.Store(), None,
                                             instance),
    )


def _phase(obj: caches.RawObject | None) -> object:
    status = (obj or {}).get("status")
    return status.get("phase") if isinstance(status, dict) else None


def _analysis_run_handler(fanout: enqueuing.Fanout, analysis_enqueue: enqueuing.Enqueue | None
                          ) -> watching.Handler:
    """Every change: the run's own key; a new, deleted or phase-changed run: the Rollout owning it."""

    def on_analysis_run(
        event_type: caches.EventType, old: caches.RawObject | None, new: caches.RawObject | None
    ) -> None:
        current = new if new is not None else old
        if analysis_enqueue is not None and current is not None:
            with contextlib.suppress(KeyError):  # no name: nothing to reconcile
                analysis_enqueue(caches.object_key(current))
        if old is None or new is None or _phase(old) != _phase(new):
            fanout.on_replica_set(event_type, old, new)  # the same owner fan-out: ownerReferences' Rollout

    return on_analysis_run
