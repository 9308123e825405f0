"""Server-side printing (`Accept: ...;as=Table;g=meta.k8s.io`): the columns `kubectl get` shows per kind.

Part of the sandbox API emulator; it formats objects for display and never changes them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.apiserver import resources, selectors

__all__ = ["INCLUDE_OBJECT", "as_table", "human_age", "wants_table"]

INCLUDE_OBJECT = ("Object", "Metadata", "None")  # the `includeObject` policies; Metadata is the default

Obj = dict[str, Any]
Column = tuple[str, Callable[[Obj], Any], int]  # (header, cell, priority)
Cell = tuple[str, Callable[[Obj], Any], int, str]  # (header, cell, priority, format)


def wants_table(accept: str) -> bool:
    """True when the client asks for a meta.k8s.io Table (kubectl's default for `get`)."""
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))


def human_age(stamp: str | None, now: datetime) -> str:
    """Kubernetes' HumanDuration of the time since `stamp`."""
    if not stamp:
        return "<unknown>"
    created = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    s = max(int((now - created).total_seconds()), 0)
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 192:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d" if d < 730 else f"{d // 365}y"


def _field(dotted: str, default: Any = "<none>") -> Callable[[Obj], Any]:
    return lambda o: v if (v := selectors.field_value(o, dotted)) not in (None, "") else default


def _pod_ready(pod: Obj) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for c in statuses if c.get('ready'))}/{total}"


def _service_ports(svc: Obj) -> str:
    ports = (svc.get("spec") or {}).get("ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _endpoint_addresses(ep: Obj) -> str:
    pairs = [
        f"{a.get('ip')}:{p.get('port')}"
        for subset in ep.get("subsets") or []
        for a in subset.get("addresses") or []
        for p in subset.get("ports") or []
    ]
    if not pairs:
        return "<none>"
    return ",".join(pairs[:3]) + (f" + {len(pairs) - 3} more..." if len(pairs) > 3 else "")


def _hosts(ing: Obj) -> str:
    return ",".join(r.get("host", "*") for r in (ing.get("spec") or {}).get("rules") or []) or "*"


def _ingress_address(ing: Obj) -> str:
    lbs = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ",".join(str(lb.get("hostname") or lb.get("ip")) for lb in lbs)


def _deployment_ready(deploy: Obj) -> str:
    ready = (deploy.get("status") or {}).get("readyReplicas") or 0
    return f"{ready}/{(deploy.get('spec') or {}).get('replicas', 1)}"


def _job_status(job: Obj) -> str:
    status = job.get("status") or {}
    done = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    for condition in ("Complete", "Failed", "Suspended"):
        if condition in done:
            return condition
    return "Running"


def _job_completions(job: Obj) -> str:
    wanted = (job.get("spec") or {}).get("completions")
    return f"{(job.get('status') or {}).get('succeeded', 0)}/{1 if wanted is None else wanted}"


def _since(stamp_path: str) -> Callable[[Obj], str]:
    """How long ago a timestamp field was, `<none>` when unset."""
    def cell(o: Obj) -> str:
        stamp = selectors.field_value(o, stamp_path)
        return human_age(str(stamp), datetime.now(UTC)) if stamp else "<none>"
    return cell


_COLUMNS: dict[str, list[Column]] = {
    "pods": [
        ("Ready", _pod_ready, 0),
        ("Status", _field("status.phase", "Unknown"), 0),
        ("Restarts", lambda o: 0, 0),
        ("IP", _field("status.podIP"), 1),
        ("Node", _field("spec.nodeName"), 1),
    ],
    "deployments.apps": [
        ("Ready", _deployment_ready, 0),
        ("Up-to-date", _field("status.updatedReplicas", 0), 0),
        ("Available", _field("status.availableReplicas", 0), 0),
    ],
    "jobs.batch": [
        ("Status", _job_status, 0),
        ("Completions", _job_completions, 0),
        ("Duration", lambda o: "", 0),  # the sandbox runs no Job controller: nothing ever starts
    ],
    "cronjobs.batch": [
        ("Schedule", _field("spec.schedule", ""), 0),
        ("Timezone", _field("spec.timeZone"), 0),
        ("Suspend", _field("spec.suspend", False), 0),
        ("Active", lambda o: len((o.get("status") or {}).get("active") or []), 0),
        ("Last Schedule", _since("status.lastScheduleTime"), 0),
    ],
    "replicasets.apps": [
        ("Desired", _field("spec.replicas", 0), 0),
        ("Current", _field("status.replicas", 0), 0),
        ("Ready", _field("status.readyReplicas", 0), 0),
    ],
    "services": [
        ("Type", _field("spec.type", "ClusterIP"), 0),
        ("Cluster-IP", _field("spec.clusterIP"), 0),
        ("External-IP", lambda o: "<none>", 0),
        ("Port(s)", _service_ports, 0),
    ],
    "endpoints": [("Endpoints", _endpoint_addresses, 0)],
    "namespaces": [("Status", _field("status.phase", "Active"), 0)],
    "configmaps": [("Data", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}), 0)],
    "leases.coordination.k8s.io": [("Holder", _field("spec.holderIdentity", ""), 0)],
    "ingresses.networking.k8s.io": [
        ("Class", _field("spec.ingressClassName"), 0),
        ("Hosts", _hosts, 0),
        ("Address", _ingress_address, 0),
        ("Ports", lambda o: "80", 0),
    ],
    "rollouts.argoproj.io": [
        ("Desired", _field("spec.replicas", 1), 0),
        ("Current", _field("status.replicas", None), 0),
        ("Up-to-date", _field("status.updatedReplicas", None), 0),
        ("Available", _field("status.availableReplicas", None), 0),
    ],
    "analysisruns.argoproj.io": [("Status", _field("status.phase", None), 0)],
    "targetgroupbindings.elbv2.k8s.aws": [
        ("Service-Name", _field("spec.serviceRef.name"), 0),
        ("Service-Port", _field("spec.serviceRef.port"), 0),
        ("Target-Type", _field("spec.targetType"), 0),
        ("ARN", _field("spec.targetGroupARN"), 1),
    ],
}


def _columns(info: resources.ResourceInfo, printer_columns: list[Obj] | None) -> list[Column]:
    if printer_columns:
        return [
            (str(c.get("name", "")), _field(str(c.get("jsonPath", "")), None), int(c.get("priority", 0)))
            for c in printer_columns
            if c.get("jsonPath") != ".metadata.creationTimestamp"
        ]
    return _COLUMNS.get(info.key, [])


def _event_object(event: Obj) -> str:
    ref = event.get("involvedObject") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


def _layout(info: resources.ResourceInfo, printer_columns: list[Obj] | None, now: datetime) -> list[Cell]:
    """Every column in print order, as (header, cell, priority, format)."""
    if info.key == "events" and not printer_columns:
        # kubectl's event printer has no Name or Age column: it leads with how long ago the event was seen.
        def last_seen(o: Obj) -> str:
            return human_age(o.get("lastTimestamp") or o.get("firstTimestamp")
                             or (o.get("metadata") or {}).get("creationTimestamp"), now)

        return [("Last Seen", last_seen, 0, ""), ("Type", _field("type", ""), 0, ""),
                ("Reason", _field("reason", ""), 0, ""), ("Object", _event_object, 0, ""),
                ("Message", _field("message", ""), 0, ""), ("Name", _field("metadata.name", ""), 1, "name")]
    found = _columns(info, printer_columns)

    def age(o: Obj) -> str:
        return human_age((o.get("metadata") or {}).get("creationTimestamp"), now)

    # Same order as kubectl prints: Name, the always-shown columns, Age, then the `-o wide` ones.
    return [("Name", _field("metadata.name", ""), 0, "name"),
            *((h, cell, 0, "") for h, cell, p in found if p == 0),
            ("Age", age, 0, ""),
            *((h, cell, p, "") for h, cell, p in found if p)]


def _row_object(obj: Obj, include_object: str) -> Obj | None:
    """What a row carries: the whole object (kubectl's `--sort-by` sorts on it), its metadata, or nothing."""
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    meta = obj.get("metadata") or {}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def as_table(
    info: resources.ResourceInfo,
    objects: list[Obj],
    resource_version: str,
    *,
    printer_columns: list[Obj] | None = None,
    now: datetime | None = None,
    include_object: str = "Metadata",
) -> Obj:
    """A meta.k8s.io/v1 Table of `objects`: Name, the kind's columns, Age (events: as kubectl shows them)."""
    layout = _layout(info, printer_columns, now or datetime.now(UTC))
    rows = []
    for obj in objects:
        row: Obj = {"cells": [cell(obj) for _, cell, _, _ in layout]}
        carried = _row_object(obj, include_object)
        if carried is not None:
            row["object"] = carried
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [_definition(h, p, fmt) for h, _, p, fmt in layout],
        "rows": rows,
    }


def _definition(name: str, priority: int, fmt: str = "") -> Obj:
    return {"name": name, "type": "string", "format": fmt, "description": "", "priority": priority}
