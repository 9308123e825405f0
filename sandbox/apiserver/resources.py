"""The emulator's resource registry: built-in kinds plus whatever CustomResourceDefinitions register.

Part of the sandbox API emulator; it holds type information only and never stores objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.apiserver import errors

__all__ = ["BUILT_IN", "VERBS", "Registry", "ResourceInfo", "from_crd"]

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """One served resource: where it lives in the URL space and how writes to it behave."""

    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    status: bool = False
    custom: bool = False
    singular: str = field(default="")
    # The scale subresource's (specReplicasPath, statusReplicasPath, labelSelectorPath), when served.
    scale: tuple[str, str, str] | None = None
    # Discovery categories: `kubectl get all` lists the resources in "all".
    categories: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Storage key: "<plural>" for the core group, "<plural>.<group>" otherwise."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def version(self) -> str:
        """The preferred (first) served version."""
        return self.versions[0]

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    def api_version(self, version: str | None = None) -> str:
        v = version or self.version
        return f"{self.group}/{v}" if self.group else v


def _core(
    kind: str, plural: str, short: tuple[str, ...] = (), *, status: bool = False, ns: bool = True,
    categories: tuple[str, ...] = (),
) -> ResourceInfo:
    return ResourceInfo("", ("v1",), kind, plural, ns, short, status, categories=categories)


_ALL = ("all",)  # the kinds a real API server puts in the "all" category that the sandbox serves


_APPS_SCALE = (".spec.replicas", ".status.replicas", ".status.selector")

BUILT_IN: tuple[ResourceInfo, ...] = (
    _core("Namespace", "namespaces", ("ns",), status=True, ns=False),
    _core("Pod", "pods", ("po",), status=True, categories=_ALL),
    _core("Service", "services", ("svc",), status=True, categories=_ALL),
    _core("Endpoints", "endpoints", ("ep",)),
    _core("Event", "events", ("ev",)),
    _core("ConfigMap", "configmaps", ("cm",)),
    _core("Secret", "secrets"),
    _core("ServiceAccount", "serviceaccounts", ("sa",)),
    ResourceInfo(
        "apps", ("v1",), "ReplicaSet", "replicasets", True, ("rs",), status=True, scale=_APPS_SCALE,
        categories=_ALL,
    ),
    ResourceInfo(
        "apps", ("v1",), "Deployment", "deployments", True, ("deploy",), status=True, scale=_APPS_SCALE,
        categories=_ALL,
    ),
    # Stored only: the sandbox runs no Job or CronJob controller.
    ResourceInfo("batch", ("v1",), "Job", "jobs", True, (), status=True, categories=_ALL),
    ResourceInfo("batch", ("v1",), "CronJob", "cronjobs", True, ("cj",), status=True, categories=_ALL),
    ResourceInfo("discovery.k8s.io", ("v1",), "EndpointSlice", "endpointslices"),
    ResourceInfo("networking.k8s.io", ("v1",), "Ingress", "ingresses", True, ("ing",), status=True),
    ResourceInfo("networking.k8s.io", ("v1",), "IngressClass", "ingressclasses", False),
    # Stored only: the sandbox enforces neither network policies nor RBAC (`kubectl apply -k k8s/base` works).
    ResourceInfo("networking.k8s.io", ("v1",), "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    ResourceInfo("rbac.authorization.k8s.io", ("v1",), "Role", "roles"),
    ResourceInfo("rbac.authorization.k8s.io", ("v1",), "RoleBinding", "rolebindings"),
    ResourceInfo("rbac.authorization.k8s.io", ("v1",), "ClusterRole", "clusterroles", False),
    ResourceInfo("rbac.authorization.k8s.io", ("v1",), "ClusterRoleBinding", "clusterrolebindings", False),
    ResourceInfo("coordination.k8s.io", ("v1",), "Lease", "leases"),
    ResourceInfo(
        "policy", ("v1",), "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",), status=True
    ),
    ResourceInfo("events.k8s.io", ("v1",), "Event", "events", True, ("ev",)),
    ResourceInfo(
        "apiextensions.k8s.io", ("v1",), "CustomResourceDefinition", "customresourcedefinitions", False,
        ("crd", "crds"), status=True,
    ),
    ResourceInfo(
        "argoproj.io", ("v1alpha1",), "Rollout", "rollouts", True, ("ro",), True, True,
        scale=(".spec.replicas", ".status.HPAReplicas", ".status.selector"),
    ),
    ResourceInfo(
        "elbv2.k8s.aws", ("v1beta1",), "TargetGroupBinding", "targetgroupbindings", True, (), True, True
    ),
    # Argo Rollouts' analysis kinds (manifests/crds/analysis-*-crd.yaml): no subresources, not even status
    # (`subresources: {}`): an AnalysisRun's status is written with the object.
    ResourceInfo("argoproj.io", ("v1alpha1",), "AnalysisTemplate", "analysistemplates", True, ("at",),
                 False, True),
    ResourceInfo("argoproj.io", ("v1alpha1",), "ClusterAnalysisTemplate", "clusteranalysistemplates", False,
                 ("cat",), False, True),
    ResourceInfo("argoproj.io", ("v1alpha1",), "AnalysisRun", "analysisruns", True, ("ar",), False, True),
)


def from_crd(crd: dict[str, Any]) -> ResourceInfo:
    """Build the ResourceInfo a CustomResourceDefinition declares; 422 when it is malformed."""
    name = str(crd.get("metadata", {}).get("name", ""))
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = str(spec.get("group") or "")
    plural = str(names.get("plural") or "")
    kind = str(names.get("kind") or "")
    versions = [v for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("served", True)]
    if not group or not plural or not kind or not versions:
        raise errors.invalid(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            name,
            "spec: Required value: group, names and versions",
        )
    if name != f"{plural}.{group}":
        raise errors.invalid(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            name,
            f'metadata.name: Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
        )
    # The storage version goes first so it becomes the preferred version in discovery.
    versions.sort(key=lambda v: not v.get("storage", False))
    status = any("status" in (v.get("subresources") or {}) for v in versions) or "status" in (
        spec.get("subresources") or {}
    )
    scale_spec = next(
        (v["subresources"]["scale"] for v in versions if "scale" in (v.get("subresources") or {})),
        (spec.get("subresources") or {}).get("scale"),
    )
    scale = None
    if isinstance(scale_spec, dict):
        scale = (
            str(scale_spec.get("specReplicasPath", ".spec.replicas")),
            str(scale_spec.get("statusReplicasPath", ".status.replicas")),
            str(scale_spec.get("labelSelectorPath", "")),
        )
    return ResourceInfo(
        group=group,
        versions=tuple(str(v["name"]) for v in versions),
        kind=kind,
        plural=plural,
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=tuple(str(s) for s in names.get("shortNames") or ()),
        status=status,
        custom=True,
        singular=str(names.get("singular") or ""),
        scale=scale,
        categories=tuple(str(c) for c in names.get("categories") or ()),
    )


class Registry:
    """Resources by storage key, with lookups by URL coordinates."""

    def __init__(self, infos: tuple[ResourceInfo, ...] = BUILT_IN) -> None:
        self._by_key: dict[str, ResourceInfo] = {i.key: i for i in infos}

    def register(self, info: ResourceInfo) -> None:
        self._by_key[info.key] = info

    def unregister(self, key: str) -> None:
        self._by_key.pop(key, None)

    def get(self, key: str) -> ResourceInfo:
        """The resource for a storage key; 404 when nothing serves it."""
        info = self._by_key.get(key)
        if info is None:
            message = f"the server could not find the requested resource ({key})"
            raise errors.ApiError(404, "NotFound", message)
        return info

    def find(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        info = self._by_key.get(f"{plural}.{group}" if group else plural)
        if info is None or version not in info.versions:
            return None
        return info

    def all(self) -> list[ResourceInfo]:
        return list(self._by_key.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Every served group (core is "") with its versions, preferred first."""
        out: dict[str, list[str]] = {}
        for info in self._by_key.values():
            versions = out.setdefault(info.group, [])
            for v in info.versions:
                if v not in versions:
                    versions.append(v)
        return out
