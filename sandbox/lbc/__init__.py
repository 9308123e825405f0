"""LBC simulator: what the AWS Load Balancer Controller does with `alb` Ingresses, against moto (SPEC §6).

Rooms: `parsing` (annotations) → `building` (stack models) → `deploying` (ELBv2) and `reporting` (cluster
writes), run by `simulator`. It never imports the product (`service/`, `statemachine/`).
"""

from __future__ import annotations

from sandbox.lbc.simulator import Knobs, LoadBalancerController

__all__ = ["Knobs", "LoadBalancerController"]
