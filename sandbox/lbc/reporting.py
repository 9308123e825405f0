"""LBC simulator, reporting room: the controller's Kubernetes writes — TargetGroupBindings, Ingress status
and the Ingress events (`FailedBuildModel`, `FailedDeployModel`, `SuccessfullyReconciled`).

Talks only through the in-process Storage API; never calls AWS.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sandbox.apiserver import storage as storing
from sandbox.lbc import models

__all__ = ["INGRESSES", "TGBS", "Reporter"]

INGRESSES = "ingresses.networking.k8s.io"
TGBS = "targetgroupbindings.elbv2.k8s.aws"
_EVENT_SOURCE = "ingress"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stack_labels(stack: models.StackModel) -> dict[str, str]:
    if stack.explicit_group:
        return {"ingress.k8s.aws/stack": stack.stack_id}
    namespace, name = stack.stack_id.split("/", 1)
    return {"ingress.k8s.aws/stack-namespace": namespace, "ingress.k8s.aws/stack-name": name}


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


class Reporter:
    """Writes what the real controller writes to the cluster after (or instead of) a deploy."""

    def __init__(self, storage: storing.Storage) -> None:
        self._storage = storage

    def event(self, member: models.IngressRef, *, kind: str, reason: str, message: str) -> None:
        """Record an event on a member Ingress (skipped when the Ingress is gone)."""
        current = self._storage.get(INGRESSES, member.namespace, member.name)
        if current is None:
            return
        now = _now()
        self._storage.create("events", {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{member.name}.{secrets.token_hex(8)}", "namespace": member.namespace},
            "involvedObject": {
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "namespace": member.namespace,
                "name": member.name, "uid": current["metadata"].get("uid", ""),
                "resourceVersion": current["metadata"].get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": _EVENT_SOURCE},
            "reportingComponent": _EVENT_SOURCE,
            "reportingInstance": "",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        })

    def failed_build(self, failure: models.BuildFailure) -> None:
        for member in failure.members:
            self.event(member, kind="Warning", reason="FailedBuildModel",
                       message=f"Failed build model due to {failure.message}")

    def failed_deploy(self, stack: models.StackModel, message: str) -> None:
        for member in stack.members:
            self.event(member, kind="Warning", reason="FailedDeployModel", message=message)

    def reconciled(self, stack: models.StackModel) -> None:
        for member in stack.members:
            self.event(
                member, kind="Normal", reason="SuccessfullyReconciled", message="Successfully reconciled"
            )

    def bindings(self, stack: models.StackModel, tg_arns: dict[str, str], vpc_id: str) -> None:
        """One TargetGroupBinding per target group, in the Service's namespace, named after the TG."""
        labels = _stack_labels(stack)
        wanted: set[tuple[str, str]] = set()
        for tg in stack.target_groups:
            wanted.add((tg.namespace, tg.name))
            port: int | str = int(tg.service_port) if tg.service_port.isdigit() else tg.service_port
            spec: dict[str, Any] = {
                "targetGroupARN": tg_arns[tg.resource_id],
                "targetType": "ip",
                "serviceRef": {"name": tg.service, "port": port},
                "ipAddressType": "ipv4",
                "vpcID": vpc_id,
            }
            existing = self._storage.get(TGBS, tg.namespace, tg.name)
            if existing is None:
                self._storage.create(TGBS, {
                    "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
                    "metadata": {"name": tg.name, "namespace": tg.namespace, "labels": labels}, "spec": spec,
                })
            elif existing.get("spec") != spec or (existing["metadata"].get("labels") or {}) != labels:
                self._storage.merge_patch(TGBS, tg.namespace, tg.name, {"metadata": {"labels": labels},
                                                                       "spec": spec})
        self.remove_bindings(labels, keep=wanted)

    def remove_bindings(self, labels: dict[str, str], *, keep: set[tuple[str, str]] | None = None) -> None:
        for tgb in self._storage.list(TGBS, label_selector=_selector(labels)):
            key = (tgb["metadata"].get("namespace", ""), tgb["metadata"]["name"])
            if keep is None or key not in keep:
                self._storage.delete(TGBS, key[0], key[1])

    def remove_stack_bindings(self, stack: models.StackModel) -> None:
        self.remove_bindings(_stack_labels(stack))

    def status(self, stack: models.StackModel, dns_name: str) -> None:
        """Point every member Ingress at the ALB (lower-cased DNS name), writing only when it changes."""
        wanted = [{"hostname": dns_name.lower(), "ports": [{"port": 80, "protocol": "TCP"}]}]
        for member in stack.members:
            current = self._storage.get(INGRESSES, member.namespace, member.name)
            if current is None or current["metadata"].get("uid") != member.uid:
                continue
            if ((current.get("status") or {}).get("loadBalancer") or {}).get("ingress") == wanted:
                continue
            self._storage.merge_patch(INGRESSES, member.namespace, member.name,
                                      {"status": {"loadBalancer": {"ingress": wanted}}}, subresource="status")

    def clear_status(self, member: models.IngressRef) -> None:
        """An Ingress that left the ALB classes loses its hostname."""
        current = self._storage.get(INGRESSES, member.namespace, member.name)
        if current is None or not ((current.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            return
        self._storage.merge_patch(INGRESSES, member.namespace, member.name,
                                  {"status": {"loadBalancer": {"ingress": None}}}, subresource="status")
