"""What the chaos scenario applies: two canary Rollouts sharing one `alb` Ingress (paths /a and /b, so both
write their action annotation and the shared bookkeeping annotation: real 409s), and a third Rollout with an
unsupported experiment step next to them on the same Ingress, which must end Degraded and untouched.

Plain dicts as a user would `kubectl apply` them; no I/O here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["BAD", "GOOD", "IMAGES", "INGRESS", "LEASE_NAMESPACE", "NAMESPACE", "PREFIX", "RolloutSpec",
           "allowed_weight", "canary_weight", "objects", "template"]

NAMESPACE = "chaos"
LEASE_NAMESPACE = "chaos-system"
INGRESS = "shared"
PREFIX = "alb.ingress.kubernetes.io"
IMAGES = ("nginx:1.26", "nginx:1.27")
REPLICAS = 2


@dataclass(frozen=True, slots=True)
class RolloutSpec:
    """One Rollout of the scenario: its name, path on the shared Ingress, steps and scale-down delay."""

    name: str
    path: str
    steps: tuple[dict[str, Any], ...]
    scale_down_delay: int

    @property
    def stable(self) -> str:
        return f"{self.name}-stable"

    @property
    def canary(self) -> str:
        return f"{self.name}-canary"

    @property
    def action_key(self) -> str:
        return f"{PREFIX}/actions.{self.stable}"

    @property
    def manual_pause(self) -> int | None:
        """The index of the step that pauses until promoted (`pause: {}`), if any."""
        return next((i for i, step in enumerate(self.steps) if step.get("pause") == {}), None)


GOOD = (
    # a: one indefinite pause, promoted with the kubectl plugin's patch; its old pods go 2 s after promotion.
    RolloutSpec("a", "/a", ({"setWeight": 20}, {"pause": {"duration": "2s"}}, {"setWeight": 50},
                            {"pause": {}}, {"setWeight": 80}, {"pause": {"duration": "1s"}}),
                scale_down_delay=2),
    # b: timed pauses only; 60% needs a second canary pod (a new target mid-canary); old pods go at once.
    RolloutSpec("b", "/b", ({"setWeight": 25}, {"pause": {"duration": "2s"}}, {"setWeight": 60},
                            {"pause": {"duration": "1s"}}), scale_down_delay=0),
)
BAD = RolloutSpec("bad", "/bad", ({"setWeight": 20}, {"experiment": {"templates": [
    {"name": "baseline", "specRef": "stable"}]}}), scale_down_delay=0)


def allowed_weight(steps: tuple[dict[str, Any], ...], index: int | None) -> int:
    """The canary weight the step at `index` allows: the latest setWeight at or before it; 100 past the end
    (and with no index: a Rollout that has not started its steps allows nothing)."""
    if index is None:
        return 0
    if index >= len(steps):
        return 100
    return next((int(step["setWeight"]) for step in reversed(steps[:index + 1]) if "setWeight" in step), 0)


def canary_weight(annotations: dict[str, str], spec: RolloutSpec) -> int | None:
    """The canary's weight in the Rollout's action annotation; None when absent or unreadable."""
    text = annotations.get(spec.action_key)
    if not text:
        return None
    try:
        groups = json.loads(text)["ForwardConfig"]["TargetGroups"]
        return next(int(g["Weight"]) for g in groups if g["ServiceName"] == spec.canary)
    except (ValueError, KeyError, TypeError, StopIteration):
        return None


def template(name: str, image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "web", "image": image,
                                     "ports": [{"name": "http", "containerPort": 8080}]}]}}


def _services(spec: RolloutSpec) -> list[dict[str, Any]]:
    return [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE},
             "spec": {"selector": {"app": spec.name},
                      "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
            for name in (spec.stable, spec.canary)]


def _rollout(spec: RolloutSpec) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": spec.name, "namespace": NAMESPACE},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": spec.name}},
                     "template": template(spec.name, IMAGES[0]),
                     "strategy": {"canary": {
                         "canaryService": spec.canary, "stableService": spec.stable,
                         "scaleDownDelaySeconds": spec.scale_down_delay,
                         "trafficRouting": {"alb": {"ingress": INGRESS, "servicePort": 80}},
                         "steps": list(spec.steps)}}}}


def objects() -> list[tuple[str, dict[str, Any]]]:
    """(storage resource key, body) of everything the scenario applies, in order."""
    paths = [{"path": spec.path, "pathType": "Prefix",
              "backend": {"service": {"name": spec.stable, "port": {"name": "use-annotation"}}}}
             for spec in GOOD]
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": INGRESS, "namespace": NAMESPACE,
                            "annotations": {f"{PREFIX}/scheme": "internet-facing",
                                            f"{PREFIX}/target-type": "ip"}},
               "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": paths}}]}}
    made: list[tuple[str, dict[str, Any]]] = [
        ("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
        ("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LEASE_NAMESPACE}}),
    ]
    for spec in (*GOOD, BAD):
        made += [("services", body) for body in _services(spec)]
    made.append(("ingresses.networking.k8s.io", ingress))
    made += [("rollouts.argoproj.io", _rollout(spec)) for spec in (*GOOD, BAD)]
    return made
