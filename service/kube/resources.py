"""The Kubernetes resources the controller watches, as group/version/plural coordinates and URL paths.

Room: observe. Pure data: it names resources and builds collection paths and label selectors; it never calls
the API. Among them the analysis kinds (AnalysisRuns, AnalysisTemplates, the cluster-scoped
ClusterAnalysisTemplates), whose caches `service.kube.informers` keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from statemachine import models

__all__ = [
    "ANALYSIS_KINDS",
    "ANALYSIS_RUNS",
    "ANALYSIS_TEMPLATES",
    "CLUSTER_ANALYSIS_TEMPLATES",
    "DEFAULT_TARGET_GROUP_BINDING_API_VERSION",
    "DEPLOYMENTS",
    "ENDPOINT_SLICES",
    "INGRESSES",
    "REPLICA_SETS",
    "ROLLOUTS",
    "SERVICES",
    "Resource",
    "instance_selector",
    "target_group_bindings",
    "watched",
]

DEFAULT_TARGET_GROUP_BINDING_API_VERSION = "elbv2.k8s.aws/v1beta1"


@dataclass(frozen=True, slots=True)
class Resource:
    """One API resource; `group` is "" for the core group."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    """False for a cluster-scoped resource: its collection path never names a namespace."""

    @property
    def api_version(self) -> str:
        """What objects of this resource carry as `apiVersion`."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        """"<plural>" for the core group, "<plural>.<group>" otherwise (kubectl's spelling)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def collection_path(self, namespace: str | None = None) -> str:
        """The collection's URL path: in one namespace, or across all of them when `namespace` is None."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is None or not self.namespaced:
            return f"{prefix}/{self.plural}"
        return f"{prefix}/namespaces/{quote(namespace, safe='')}/{self.plural}"


ROLLOUTS = Resource("argoproj.io", "v1alpha1", "rollouts", "Rollout")
INGRESSES = Resource("networking.k8s.io", "v1", "ingresses", "Ingress")
SERVICES = Resource("", "v1", "services", "Service")
ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
REPLICA_SETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
"""Read for `spec.workloadRef` (their pod template) and scaled for `workloadRef.scaleDown`."""
ANALYSIS_RUNS = Resource("argoproj.io", "v1alpha1", "analysisruns", "AnalysisRun")
ANALYSIS_TEMPLATES = Resource("argoproj.io", "v1alpha1", "analysistemplates", "AnalysisTemplate")
CLUSTER_ANALYSIS_TEMPLATES = Resource("argoproj.io", "v1alpha1", "clusteranalysistemplates",
                                      "ClusterAnalysisTemplate", namespaced=False)
ANALYSIS_KINDS = (ANALYSIS_RUNS, ANALYSIS_TEMPLATES, CLUSTER_ANALYSIS_TEMPLATES)
"""Argo Rollouts' analysis CRDs (the upstream ones): optional, a cluster may not serve them."""


def target_group_bindings(api_version: str = DEFAULT_TARGET_GROUP_BINDING_API_VERSION) -> Resource:
    """The LBC's TargetGroupBinding at `--aws-target-group-binding-api-version` (GROUP/VERSION).

    A ValueError when it is not GROUP/VERSION (the flag parser checks this first).
    """
    group, _, version = api_version.partition("/")
    if not group or not version or "/" in version:
        raise ValueError(f"TargetGroupBinding API version must be GROUP/VERSION, got {api_version!r}")
    return Resource(group, version, "targetgroupbindings", "TargetGroupBinding")


def watched(
    target_group_binding_api_version: str | None = DEFAULT_TARGET_GROUP_BINDING_API_VERSION,
) -> tuple[Resource, ...]:
    """Every resource the controller keeps a cache of, Rollouts first; None leaves TargetGroupBindings out."""
    core = (ROLLOUTS, INGRESSES, SERVICES, ENDPOINT_SLICES, REPLICA_SETS, DEPLOYMENTS, *ANALYSIS_KINDS)
    if target_group_binding_api_version is None:
        return core
    return (*core, target_group_bindings(target_group_binding_api_version))


def instance_selector(instance_id: str | None) -> str:
    """The label selector for `--instance-id`: that id only, or (none) only unlabelled objects.

    The reference filters Rollouts, AnalysisRuns and (Cluster)AnalysisTemplates by it alike."""
    if instance_id:
        return f"{models.INSTANCE_ID_LABEL}={instance_id}"
    return f"!{models.INSTANCE_ID_LABEL}"
