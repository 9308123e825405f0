"""Builds the verifiers' plain inputs from a parsed Rollout and raw Ingress dicts (no Kubernetes client here).

Room: act (AWS) / verify. Shared by the controller and `alb-rollouts verify`; it reads objects it is given
and never fetches anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.aws import results
from statemachine import models, services
from statemachine.snapshot import Snapshot

__all__ = [
    "ingress_names",
    "ingress_target",
    "known_load_balancer_arn",
    "stable_and_canary",
    "status_hostnames",
    "weight_request",
]


def stable_and_canary(rollout: models.Rollout) -> tuple[str, str]:
    """(stable, canary) Service names, ping-pong aware (reference §1.3)."""
    return services.stable_and_canary_services(Snapshot(rollout=rollout))


def ingress_names(rollout: models.Rollout) -> tuple[str, ...]:
    """The Ingresses of `trafficRouting.alb` in spec order (the model's reading of ingress/ingresses)."""
    alb = rollout.canary.alb if rollout.canary else None
    return alb.ingress_names if alb is not None else ()


def status_hostnames(ingress: Mapping[str, Any] | None) -> tuple[str, ...]:
    """`status.loadBalancer.ingress[].hostname`, empty strings skipped."""
    if not ingress:
        return ()
    entries = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return tuple(str(e["hostname"]) for e in entries if isinstance(e, Mapping) and e.get("hostname"))


def known_load_balancer_arn(status: Mapping[str, Any], ingress: str, index: int, count: int) -> str:
    """The ALB ARN the Rollout status already recorded for this ingress ("" when none)."""
    albs = status.get("albs")
    if isinstance(albs, Sequence) and len(albs) == count and isinstance(albs[index], Mapping):
        entry = albs[index]
        if entry.get("ingress") in (ingress, None, ""):
            arn = (entry.get("loadBalancer") or {}).get("arn")
            if arn:
                return str(arn)
    alb = status.get("alb")
    if isinstance(alb, Mapping) and alb.get("ingress") == ingress:
        return str((alb.get("loadBalancer") or {}).get("arn") or "")
    return ""


def ingress_target(name: str, ingress: Mapping[str, Any] | None, rollout_status: Mapping[str, Any],
                   index: int, count: int) -> results.IngressTarget:
    return results.IngressTarget(name=name, hostnames=status_hostnames(ingress),
                                 known_lb_arn=known_load_balancer_arn(rollout_status, name, index, count))


def weight_request(
    rollout: models.Rollout,
    ingresses: Mapping[str, Mapping[str, Any] | None],
    desired: int,
    *,
    additional: Sequence[tuple[str, int]] = (),
    tag_key: str = results.DEFAULT_TAG_KEY,
) -> results.WeightRequest:
    """The request for `desired` canary weight over every Ingress of the Rollout (raw dicts by name)."""
    alb = rollout.canary.alb if rollout.canary else None
    if alb is None:
        raise ValueError(f"rollout {rollout.key} does not use ALB traffic routing")
    stable, canary = stable_and_canary(rollout)
    names = ingress_names(rollout)
    status = rollout.raw_status
    targets = tuple(ingress_target(name, ingresses.get(name), status, index, len(names))
                    for index, name in enumerate(names))
    canary_dest, stable_dest, extra = results.destinations(canary, stable, desired, additional)
    return results.WeightRequest(
        namespace=rollout.namespace, ingresses=targets, service_port=alb.service_port, canary=canary_dest,
        stable=stable_dest, additional=extra, tag_key=tag_key)
