"""Inputs and results of the AWS verifiers, as frozen dataclasses, plus their JSON and Rollout status forms.

Room: act (AWS) / status. Plain data only: nothing here calls AWS or Kubernetes. `status.alb`/`status.albs`
are built exactly as the reference controller writes them (argo-alb-behaviour §2.4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from statemachine import weights

__all__ = [
    "DEFAULT_TAG_KEY",
    "Destination",
    "IngressTarget",
    "IngressVerification",
    "ResourceRef",
    "TargetGroupTargets",
    "TargetGroupWeight",
    "TargetVerification",
    "WeightRequest",
    "WeightVerification",
    "alb_status_patch",
    "destinations",
    "load_balancer_ref",
    "target_group_ref",
]

DEFAULT_TAG_KEY = "ingress.k8s.aws/resource"


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """An AWS resource as the Rollout status names it (reference `AwsResourceRef`)."""

    name: str = ""
    arn: str = ""
    full_name: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "arn": self.arn, "fullName": self.full_name}


def load_balancer_ref(arn: str) -> ResourceRef:
    """Name and fullName from an ALB ARN; fullName drops `app/` as the reference does (status compat)."""
    parts = arn.split("/")
    if len(parts) < 3:
        return ResourceRef(name="", arn=arn, full_name="")
    return ResourceRef(name=parts[2], arn=arn, full_name="/".join(parts[2:]))


def target_group_ref(arn: str) -> ResourceRef:
    """Name and fullName from a target group ARN; fullName drops `targetgroup/` as the reference does."""
    parts = arn.split("/")
    if len(parts) < 2:
        return ResourceRef(name="", arn=arn, full_name="")
    return ResourceRef(name=parts[1], arn=arn, full_name="/".join(parts[1:]))


# ---------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Destination:
    """A Service the ALB should forward to, with the weight it should carry."""

    service: str
    weight: int


@dataclass(frozen=True, slots=True)
class IngressTarget:
    """One Ingress of the Rollout: its name, status hostnames and the ALB ARN the status already knows."""

    name: str
    hostnames: tuple[str, ...] = ()
    known_lb_arn: str = ""


@dataclass(frozen=True, slots=True)
class WeightRequest:
    """Everything weight verification needs for one Rollout at one desired weight; no Kubernetes objects."""

    namespace: str
    ingresses: tuple[IngressTarget, ...]
    service_port: int
    canary: Destination
    stable: Destination
    additional: tuple[Destination, ...] = ()
    tag_key: str = DEFAULT_TAG_KEY

    def resource_id(self, ingress: str, service: str) -> str:
        """The LBC's target group tag value: `<ns>/<ingress>-<svc>:<port>`."""
        return f"{self.namespace}/{ingress}-{service}:{self.service_port}"


def destinations(canary: str, stable: str, desired: int,
                 additional: Sequence[tuple[str, int]] = ()) -> tuple[Destination, Destination,
                                                                      tuple[Destination, ...]]:
    """The weights the Ingress writer puts in the annotation (`statemachine.weights.split`, SPEC §4.6)."""
    canary_weight, extra, stable_weight = weights.split(desired, tuple(weight for _, weight in additional))
    named = tuple(Destination(name, weight) for (name, _), weight in zip(additional, extra, strict=True))
    return Destination(canary, canary_weight), Destination(stable, stable_weight), named


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class TargetGroupWeight:
    """A target group the rule should forward to: the weight AWS shows (None: not seen) and the wanted."""

    service: str
    arn: str
    weight: int | None
    wanted: int

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "arn": self.arn, "weight": self.weight, "wanted": self.wanted}


@dataclass(frozen=True, slots=True)
class IngressVerification:
    """The verdict for one Ingress; `lb_found` tells whether the status entry may be filled."""

    ingress: str
    verified: bool
    reason: str
    load_balancer: ResourceRef = ResourceRef()
    target_groups: tuple[TargetGroupWeight, ...] = ()
    canary_target_group: ResourceRef | None = None
    stable_target_group: ResourceRef | None = None
    lb_found: bool = False
    error: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingress": self.ingress,
            "verified": self.verified,
            "reason": self.reason,
            "loadBalancer": self.load_balancer.to_dict(),
            "targetGroups": [group.to_dict() for group in self.target_groups],
        }


@dataclass(frozen=True, slots=True)
class WeightVerification:
    """All ingresses of one Rollout; verified only when each ingress verified on its own."""

    verified: bool
    ingresses: tuple[IngressVerification, ...]

    @property
    def error(self) -> str:
        """The first AWS error in words ("" when the answer is a plain yes/no)."""
        return next((item.reason for item in self.ingresses if item.error), "")

    @property
    def reason(self) -> str:
        """One line: why not verified (the first failing ingress), or "" when verified."""
        failing = next((item for item in self.ingresses if not item.verified), None)
        return "" if failing is None else f"ingress {failing.ingress}: {failing.reason}"


@dataclass(frozen=True, slots=True)
class TargetGroupTargets:
    """IP verification of one TargetGroupBinding's target group."""

    service: str
    target_group: str
    registered: int
    total: int
    verified: bool
    reason: str
    verifiable: bool = True
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    error: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "targetGroup": self.target_group, "registered": self.registered,
                "total": self.total, "verified": self.verified}


@dataclass(frozen=True, slots=True)
class TargetVerification:
    """All target groups bound to one Service; verified when every one is (vacuously with no binding)."""

    verified: bool
    target_groups: tuple[TargetGroupTargets, ...]

    @property
    def error(self) -> str:
        return next((item.reason for item in self.target_groups if item.error), "")


# ---------------------------------------------------------------------------------------------- status


def _ref_dict(value: Any) -> dict[str, str]:
    raw = value if isinstance(value, Mapping) else {}
    return {"name": str(raw.get("name", "")), "arn": str(raw.get("arn", "")),
            "fullName": str(raw.get("fullName", ""))}


def _status_entry(value: Any) -> dict[str, Any]:
    raw = value if isinstance(value, Mapping) else {}
    entry: dict[str, Any] = {
        "loadBalancer": _ref_dict(raw.get("loadBalancer")),
        "canaryTargetGroup": _ref_dict(raw.get("canaryTargetGroup")),
        "stableTargetGroup": _ref_dict(raw.get("stableTargetGroup")),
    }
    if raw.get("ingress"):
        entry["ingress"] = str(raw["ingress"])
    return entry


def alb_status_patch(
    result: WeightVerification,
    previous_alb: Mapping[str, Any] | None,
    previous_albs: Sequence[Mapping[str, Any]] | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`(status.alb, status.albs)` as the reference writes them, starting from the persisted values.

    albs keeps its entries when its length still matches the ingress count (else restarts from zero
    entries); each ingress whose LB was found overwrites its entry's loadBalancer/ingress and the target
    group refs it found; alb mirrors the last such ingress.
    """
    count = len(result.ingresses)
    if previous_albs is not None and len(previous_albs) == count:
        albs = [_status_entry(item) for item in previous_albs]
    else:
        albs = [_status_entry(None) for _ in range(count)]
    alb = _status_entry(previous_alb)
    for index, item in enumerate(result.ingresses):
        if not item.lb_found:
            continue
        for entry in (albs[index], alb):
            entry["loadBalancer"] = item.load_balancer.to_dict()
            entry["ingress"] = item.ingress
            if item.canary_target_group is not None:
                entry["canaryTargetGroup"] = item.canary_target_group.to_dict()
            if item.stable_target_group is not None:
                entry["stableTargetGroup"] = item.stable_target_group.to_dict()
    return alb, albs
