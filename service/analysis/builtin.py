"""The built-in analysis templates alb-rollouts ships: `alb-canary-health`, ALB-native canary health.

Room: analysis (service). The document is k8s/analysis/alb-canary-health.yaml (apply it with kubectl),
kept here as text so that it ships inside the package whatever the package data (pyproject lists only
py.typed); tests/service/analysis/test_alb.py keeps the two equal. `BUILTIN_TEMPLATES` maps a
ClusterAnalysisTemplate's name to its parsed document; docs/analysis.md describes it.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["ALB_CANARY_HEALTH", "ALB_CANARY_HEALTH_YAML", "BUILTIN_TEMPLATES"]

ALB_CANARY_HEALTH = "alb-canary-health"

ALB_CANARY_HEALTH_YAML = """\
# alb-rollouts' built-in ALB-native canary analysis (docs/analysis.md, "ALB-native metrics").
# Compares the canary target group with the stable one over the last 5 minutes of CloudWatch's
# AWS/ApplicationELB metrics, every minute: no Prometheus, no query to write. Use it from a Rollout:
#
#   strategy:
#     canary:
#       analysis:
#         templates:
#         - templateName: alb-canary-health
#           clusterScope: true
#         args:
#         - name: load-balancer
#           valueFrom: {fieldRef: {fieldPath: status.alb.loadBalancer.fullName}}
#         - name: canary-target-group
#           valueFrom: {fieldRef: {fieldPath: status.alb.canaryTargetGroup.fullName}}
#         - name: stable-target-group
#           valueFrom: {fieldRef: {fieldPath: status.alb.stableTargetGroup.fullName}}
#
# The same document is service/analysis/builtin.py's ALB_CANARY_HEALTH_YAML (a test keeps them equal).
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata:
  name: alb-canary-health
spec:
  args:
  - name: load-balancer
  - name: canary-target-group
  - name: stable-target-group
  # How much higher than the stable's the canary's 5xx ratio may be (0.01: one point of percentage).
  - name: error-rate-margin
    value: "0.01"
  # How many times the stable's p99 target response time the canary's may be.
  - name: latency-ratio
    value: "1.5"
  # The window each measurement reads (a Go duration).
  - name: window
    value: 5m
  metrics:
  - name: canary-5xx-ratio
    interval: 1m
    failureLimit: 1
    successCondition: result.canary.errorRate <= result.stable.errorRate + {{args.error-rate-margin}}
    provider:
      alb:
        loadBalancer: "{{args.load-balancer}}"
        canaryTargetGroup: "{{args.canary-target-group}}"
        stableTargetGroup: "{{args.stable-target-group}}"
        interval: "{{args.window}}"
  - name: canary-p99-latency
    interval: 1m
    failureLimit: 1
    # No data on either side (no requests in the window) passes: there is nothing to compare.
    successCondition: >-
      isNaN(result.canary.p99) || isNaN(result.stable.p99) ||
      result.canary.p99 <= result.stable.p99 * {{args.latency-ratio}}
    provider:
      alb:
        loadBalancer: "{{args.load-balancer}}"
        canaryTargetGroup: "{{args.canary-target-group}}"
        stableTargetGroup: "{{args.stable-target-group}}"
        interval: "{{args.window}}"
"""


def _load(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise TypeError("a built-in analysis template must be a YAML mapping")
    return document


BUILTIN_TEMPLATES: dict[str, dict[str, Any]] = {ALB_CANARY_HEALTH: _load(ALB_CANARY_HEALTH_YAML)}
"""ClusterAnalysisTemplate name -> the document (a fresh copy is the caller's job: do not mutate it)."""
