"""The objects `make demo` applies: a namespace, two Services, an `alb` Ingress and a canary Rollout; and for
`make demo SCENARIO=bluegreen` (`bluegreen_objects`) the active and preview Services, an `alb` Ingress whose
backend is the active Service by port number (no actions annotation) and a blue-green Rollout; and for
`make demo SCENARIO=analysis` (`analysis_objects`) the canary's objects with a fast copy of the built-in
`alb-canary-health` AnalysisTemplate and background analysis on the Rollout.

Room: the sandbox's demo. Plain dicts as a user would `kubectl apply` them; no I/O here.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["ACTION_KEY", "ACTIVE", "ANALYSIS_INTERVAL", "ANALYSIS_RUNS_PATH", "ANALYSIS_STEPS",
           "ANALYSIS_TEMPLATE", "ANALYSIS_TEMPLATES_PATH", "ANALYSIS_WINDOW", "CANARY", "DEMO_NAMESPACE",
           "IMAGES", "INGRESS", "INGRESSES_PATH",
           "PODS_PATH", "PREVIEW", "ROLLOUT", "ROLLOUTS_PATH", "SERVICES_PATH", "STABLE", "STEPS",
           "analysis_objects", "analysis_template", "bluegreen_objects", "objects", "template"]

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


# ---- `make demo SCENARIO=analysis` ----

ANALYSIS_TEMPLATE = "alb-canary-health-fast"
ANALYSIS_INTERVAL, ANALYSIS_WINDOW = "5s", "10s"
ANALYSIS_STEPS: list[dict[str, Any]] = [{"setWeight": 20}, {"pause": {"duration": "60s"}},
                                        {"setWeight": 50}, {"pause": {"duration": "60s"}}]
ANALYSIS_TEMPLATES_PATH = f"/apis/argoproj.io/v1alpha1/namespaces/{DEMO_NAMESPACE}/analysistemplates"
ANALYSIS_RUNS_PATH = f"/apis/argoproj.io/v1alpha1/namespaces/{DEMO_NAMESPACE}/analysisruns"
_ALB_ARGS = (("load-balancer", "loadBalancer"), ("canary-target-group", "canaryTargetGroup"),
             ("stable-target-group", "stableTargetGroup"))


def analysis_template() -> dict[str, Any]:
    """k8s/analysis/alb-canary-health.yaml's metrics and conditions, measured every 5s over the last 10s."""
    provider = {"alb": {**{key: f"{{{{args.{arg}}}}}" for arg, key in _ALB_ARGS},
                        "interval": "{{args.window}}"}}
    metrics = [
        {"name": "canary-5xx-ratio", "interval": ANALYSIS_INTERVAL, "failureLimit": 1,
         "successCondition": "result.canary.errorRate <= "
                             "result.stable.errorRate + {{args.error-rate-margin}}",
         "provider": provider},
        {"name": "canary-p99-latency", "interval": ANALYSIS_INTERVAL, "failureLimit": 1,
         "successCondition": "isNaN(result.canary.p99) || isNaN(result.stable.p99) || "
                             "result.canary.p99 <= result.stable.p99 * {{args.latency-ratio}}",
         "provider": provider}]
    args = [*({"name": arg} for arg, _ in _ALB_ARGS), {"name": "error-rate-margin", "value": "0.01"},
            {"name": "latency-ratio", "value": "1.5"}, {"name": "window", "value": ANALYSIS_WINDOW}]
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": ANALYSIS_TEMPLATE, "namespace": DEMO_NAMESPACE},
            "spec": {"args": args, "metrics": metrics}}


def analysis_objects() -> list[tuple[str, dict[str, Any]]]:
    """`objects()` plus `analysis_template()`, the Rollout pausing 60s per step with background analysis
    from step 1 (once status.alb names the target groups), its args taken from status.alb."""
    applied = [(path, copy.deepcopy(body)) for path, body in objects()]
    rollout = applied[-1][1]
    rollout["spec"]["strategy"]["canary"].update(steps=ANALYSIS_STEPS, analysis={
        "startingStep": 1, "templates": [{"templateName": ANALYSIS_TEMPLATE}],
        "args": [{"name": arg, "valueFrom": {"fieldRef": {"fieldPath": f"status.alb.{key}.fullName"}}}
                 for arg, key in _ALB_ARGS]})
    return [*applied[:-1], (ANALYSIS_TEMPLATES_PATH, analysis_template()), applied[-1]]
