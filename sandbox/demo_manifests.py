"""The objects `make demo` applies: a namespace, two Services, an `alb` Ingress and a canary Rollout.

Room: the sandbox's demo. Plain dicts as a user would `kubectl apply` them; no I/O here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ACTION_KEY", "CANARY", "DEMO_NAMESPACE", "IMAGES", "INGRESS", "INGRESSES_PATH", "ROLLOUT",
           "ROLLOUTS_PATH", "SERVICES_PATH", "STABLE", "STEPS", "objects", "template"]

DEMO_NAMESPACE = "demo"
ROLLOUT, INGRESS, STABLE, CANARY = "web", "web", "web-stable", "web-canary"
IMAGES = ("nginx:1.26", "nginx:1.27")
STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {"duration": "5s"}},
                               {"setWeight": 50}, {"pause": {"duration": "5s"}}]
ACTION_KEY = f"alb.ingress.kubernetes.io/actions.{STABLE}"
ROLLOUTS_PATH = f"/apis/argoproj.io/v1alpha1/namespaces/{DEMO_NAMESPACE}/rollouts"
INGRESSES_PATH = f"/apis/networking.k8s.io/v1/namespaces/{DEMO_NAMESPACE}/ingresses"
SERVICES_PATH = f"/api/v1/namespaces/{DEMO_NAMESPACE}/services"


def objects() -> list[tuple[str, dict[str, Any]]]:
    """(API collection path, body) of everything the demo applies, in order."""
    labels = {"app": ROLLOUT}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEMO_NAMESPACE}}
    services = [(SERVICES_PATH, {"apiVersion": "v1", "kind": "Service",
                                 "metadata": {"name": name, "namespace": DEMO_NAMESPACE},
                                 "spec": {"selector": labels,
                                          "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
                for name in (STABLE, CANARY)]
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": INGRESS, "namespace": DEMO_NAMESPACE,
                            "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing",
                                            "alb.ingress.kubernetes.io/target-type": "ip"}},
               "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [
                   {"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": STABLE, "port": {"name": "use-annotation"}}}}]}}]}}
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
               "metadata": {"name": ROLLOUT, "namespace": DEMO_NAMESPACE},
               "spec": {"replicas": 3, "selector": {"matchLabels": labels},
                        "template": template(IMAGES[0]),
                        "strategy": {"canary": {
                            "canaryService": CANARY, "stableService": STABLE,
                            "trafficRouting": {"alb": {"ingress": INGRESS, "servicePort": 80}},
                            "steps": STEPS}}}}
    return [("/api/v1/namespaces", namespace), *services, (INGRESSES_PATH, ingress), (ROLLOUTS_PATH, rollout)]


def template(image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": ROLLOUT}},
            "spec": {"containers": [{"name": "web", "image": image,
                                     "ports": [{"name": "http", "containerPort": 8080}]}]}}
