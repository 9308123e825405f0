"""The objects `make demo` applies: a namespace, two Services, an `alb` Ingress and a canary Rollout; and for
`make demo SCENARIO=bluegreen` (`bluegreen_objects`) the active and preview Services, an `alb` Ingress whose
backend is the active Service by port number (no actions annotation) and a blue-green Rollout.

Room: the sandbox's demo. Plain dicts as a user would `kubectl apply` them; no I/O here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ACTION_KEY", "ACTIVE", "CANARY", "DEMO_NAMESPACE", "IMAGES", "INGRESS", "INGRESSES_PATH",
           "PODS_PATH", "PREVIEW", "ROLLOUT", "ROLLOUTS_PATH", "SERVICES_PATH", "STABLE", "STEPS",
           "bluegreen_objects", "objects", "template"]

DEMO_NAMESPACE = "demo"
ROLLOUT, INGRESS, STABLE, CANARY = "web", "web", "web-stable", "web-canary"
IMAGES = ("nginx:1.26", "nginx:1.27")
STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {"duration": "5s"}},
                               {"setWeight": 50}, {"pause": {"duration": "5s"}}]
ACTION_KEY = f"alb.ingress.kubernetes.io/actions.{STABLE}"
ROLLOUTS_PATH = f"/apis/argoproj.io/v1alpha1/namespaces/{DEMO_NAMESPACE}/rollouts"
INGRESSES_PATH = f"/apis/networking.k8s.io/v1/namespaces/{DEMO_NAMESPACE}/ingresses"
SERVICES_PATH = f"/api/v1/namespaces/{DEMO_NAMESPACE}/services"
PODS_PATH = f"/api/v1/namespaces/{DEMO_NAMESPACE}/pods"
ACTIVE, PREVIEW = "web-active", "web-preview"


def objects() -> list[tuple[str, dict[str, Any]]]:
    """(API collection path, body) of everything the demo applies, in order."""
    labels = {"app": ROLLOUT}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEMO_NAMESPACE}}
    services = [(SERVICES_PATH, _service(name)) for name in (STABLE, CANARY)]
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


def bluegreen_objects() -> list[tuple[str, dict[str, Any]]]:
    """What `make demo SCENARIO=bluegreen` applies, in order (k8s/examples/bluegreen/, namespace demo)."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEMO_NAMESPACE}}
    services = [(SERVICES_PATH, _service(name)) for name in (ACTIVE, PREVIEW)]
    backend = {"service": {"name": ACTIVE, "port": {"number": 80}}}
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": INGRESS, "namespace": DEMO_NAMESPACE,
                            "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing",
                                            "alb.ingress.kubernetes.io/target-type": "ip"}},
               "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [
                   {"path": "/", "pathType": "Prefix", "backend": backend}]}}]}}
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
               "metadata": {"name": ROLLOUT, "namespace": DEMO_NAMESPACE},
               "spec": {"replicas": 3, "selector": {"matchLabels": {"app": ROLLOUT}},
                        "template": template(IMAGES[0]),
                        "strategy": {"blueGreen": {"activeService": ACTIVE, "previewService": PREVIEW,
                                                   "autoPromotionEnabled": True}}}}
    return [("/api/v1/namespaces", namespace), *services, (INGRESSES_PATH, ingress), (ROLLOUTS_PATH, rollout)]


def _service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": DEMO_NAMESPACE},
            "spec": {"selector": {"app": ROLLOUT},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
