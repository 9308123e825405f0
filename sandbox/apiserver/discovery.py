"""Discovery documents (`/version`, `/api`, `/apis`, group and resource lists) built from the registry.

Part of the sandbox API emulator; it describes what is served and never touches objects.
"""

from __future__ import annotations

from typing import Any

from sandbox.apiserver import errors, resources

__all__ = ["api_group", "api_group_list", "api_resource_list", "api_versions", "discover", "version_info"]

_STATUS_VERBS = ["get", "patch", "update"]
_POD_STREAMS = (("attach", "PodAttachOptions"), ("exec", "PodExecOptions"), ("log", "Pod"),
                ("portforward", "PodPortForwardOptions"))


def version_info() -> dict[str, Any]:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-alb-rollouts-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_group_list(registry: resources.Registry) -> dict[str, Any]:
    groups = [_group(g, vs) for g, vs in sorted(registry.group_versions().items()) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: resources.Registry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def api_resource_list(registry: resources.Registry, group: str, version: str) -> dict[str, Any] | None:
    served = sorted(
        (i for i in registry.all() if i.group == group and version in i.versions), key=lambda i: i.plural
    )
    if not served:
        return None
    listed: list[dict[str, Any]] = []
    for info in served:
        entry: dict[str, Any] = {
            "name": info.plural,
            "singularName": info.singular_name,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": list(resources.VERBS),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        listed.append(entry)
        if info.status:
            listed.append(
                {
                    "name": f"{info.plural}/status",
                    "singularName": "",
                    "namespaced": info.namespaced,
                    "kind": info.kind,
                    "verbs": _STATUS_VERBS,
                }
            )
        if info.key == "pods":
            listed.extend(
                {"name": f"pods/{sub}", "singularName": "", "namespaced": True, "kind": kind,
                 "verbs": ["get"] if sub == "log" else ["create", "get"]}
                for sub, kind in _POD_STREAMS
            )
            listed.append(
                {
                    "name": "pods/eviction",
                    "singularName": "",
                    "namespaced": True,
                    "group": "policy",
                    "version": "v1",
                    "kind": "Eviction",
                    "verbs": ["create"],
                }
            )
        if info.scale is not None:
            listed.append(
                {
                    "name": f"{info.plural}/scale",
                    "singularName": "",
                    "namespaced": info.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": _STATUS_VERBS,
                }
            )
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": listed}


def discover(registry: resources.Registry, path: str, server_address: str) -> dict[str, Any]:
    """The discovery document for a non-resource GET path; 404 Status when there is none."""
    parts = [p for p in path.split("/") if p]
    doc: dict[str, Any] | None = None
    if parts == ["version"]:
        doc = version_info()
    elif parts == ["api"]:
        doc = api_versions(server_address)
    elif parts == ["apis"]:
        doc = api_group_list(registry)
    elif len(parts) == 2 and parts[0] == "api":
        doc = api_resource_list(registry, "", parts[1])
    elif len(parts) == 2 and parts[0] == "apis":
        doc = api_group(registry, parts[1])
    elif len(parts) == 3 and parts[0] == "apis":
        doc = api_resource_list(registry, parts[1], parts[2])
    if doc is None:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    return doc
