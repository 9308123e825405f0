"""LBC simulator, model room: the desired state of one ALB stack, as frozen data built from the cluster.

Equal models mean nothing to do, so every field is hashable and ordered. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.lbc import parsing

__all__ = [
    "BindingTargets",
    "BuildFailure",
    "ForwardModel",
    "IngressRef",
    "RuleModel",
    "StackModel",
    "TargetGroupModel",
    "TargetRef",
]


@dataclass(frozen=True, slots=True)
class IngressRef:
    namespace: str
    name: str
    uid: str


@dataclass(frozen=True, slots=True)
class TargetGroupModel:
    """A target group the stack owns, for one Ingress + Service port."""

    resource_id: str  # "<ingNs>/<ingName>-<svc>:<port as written>", the ingress.k8s.aws/resource tag
    name: str  # k8s-<ns8>-<svc8>-<hash10>; also the TargetGroupBinding's name
    namespace: str  # the Service's (== the Ingress's) namespace
    service: str
    service_port: str  # as written in the Ingress or action ("80" or "http")
    port: int  # the TG port: numeric targetPort, or 1 for a named one


@dataclass(frozen=True, slots=True)
class TargetRef:
    """A forward destination: our TG by resource id, or an outside TG by ARN or name."""

    resource_id: str | None = None
    arn: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ForwardModel:
    target_groups: tuple[tuple[TargetRef, int | None], ...]
    stickiness: parsing.Stickiness | None = None


ActionModel = ForwardModel | parsing.FixedResponse | parsing.Redirect


@dataclass(frozen=True, slots=True)
class RuleModel:
    priority: int
    conditions: tuple[parsing.Condition, ...]
    action: ActionModel


@dataclass(frozen=True, slots=True)
class StackModel:
    """One ALB: its HTTP:80 listener, rules in priority order, and the target groups they use."""

    stack_id: str  # group name, or "<ns>/<name>" for an implicit group
    explicit_group: bool
    lb_name: str
    members: tuple[IngressRef, ...]
    default_action: ActionModel
    rules: tuple[RuleModel, ...]
    target_groups: tuple[TargetGroupModel, ...]


@dataclass(frozen=True, slots=True)
class BindingTargets:
    """What the TargetGroupBinding reconciler registers: the ready endpoints of the bound Service port."""

    namespace: str
    name: str
    target_group_arn: str
    targets: tuple[tuple[str, int], ...]  # sorted (pod IP, container port)


@dataclass(frozen=True, slots=True)
class BuildFailure:
    """The stack could not be built; AWS keeps its previous state and members get a Warning event."""

    stack_id: str
    members: tuple[IngressRef, ...]
    message: str
