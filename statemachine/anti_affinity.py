"""`spec.strategy.canary.antiAffinity` / `blueGreen.antiAffinity`: the pod anti-affinity term a new
ReplicaSet gets against the stable ReplicaSet's pods, so new pods prefer (or require) other nodes than the
stable ones (reference blue-green §1.5).

Room: plan (pure). Mirrors GenerateReplicaSetAffinity, CreateInjectedAntiAffinityRule,
HasInjectedAntiAffinityRule and IfInjectedAntiAffinityRuleNeedsUpdate (utils/replicaset) on raw dicts; never
mutates its input. Where the reference compares with the hash of the Rollout's template, the ReplicaSet's own
hash is passed in: ours differs from the reference's (see `pod_templates.pod_template_hash`), and the
ReplicaSet's is what status and the Services use.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from statemachine import go_text, models
from statemachine.raw import mapping as _map

__all__ = ["TOPOLOGY_KEY", "errors", "injected_rule", "needs_update", "replicaset_affinity", "strategy"]

TOPOLOGY_KEY = "kubernetes.io/hostname"
Raw = Mapping[str, Any]
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def errors(anti: Mapping[str, Any] | None) -> Iterator[str]:
    """ValidateRolloutStrategyAntiAffinity (canary and blue-green alike, rooted at `spec.strategy` as the
    reference roots them): exactly one of preferred/required, a preferred weight in 1-100."""
    if anti is None:
        return
    preferred, required = anti.get(_PREFERRED), anti.get(_REQUIRED)
    if (preferred is None) == (required is None):
        shown = (f"antiAffinity.PreferredDuringSchedulingIgnoredDuringExecution: {_go_bool(preferred)} "
                 f"antiAffinity.RequiredDuringSchedulingIgnoredDuringExecution: {_go_bool(required)}")
        yield go_text.field_error("spec.strategy.antiAffinity", "Invalid value", shown,
                                  "AntiAffinity must have exactly one strategy listed")
    if isinstance(preferred, Mapping):
        weight = preferred.get("weight")
        number = weight if isinstance(weight, int) and not isinstance(weight, bool) else 0
        if not 1 <= number <= 100:
            yield go_text.field_error("spec.strategy.antiAffinity.weight", "Invalid value", number,
                                      "AntiAffinity weight must be between 1-100")


def _go_bool(value: Any) -> str:
    return "false" if value is None else "true"


def _stable_hash(rollout: Raw) -> str:
    value = _map(rollout, "status").get("stableRS")
    return value if isinstance(value, str) else ""


def strategy(rollout: Raw) -> Raw | None:
    """GetRolloutAffinity: the canary's (or blue-green's) antiAffinity when it names preferred or required,
    else None."""
    strategy = _map(_map(rollout, "spec"), "strategy")
    anti = _map(_map(strategy, "blueGreen" if "blueGreen" in strategy else "canary"), "antiAffinity")
    if isinstance(anti.get(_PREFERRED), Mapping) or isinstance(anti.get(_REQUIRED), Mapping):
        return anti
    return None


def injected_rule(rollout: Raw) -> dict[str, Any]:
    """CreateInjectedAntiAffinityRule: pods of the stable hash, in the Rollout's namespace, on one host."""
    namespace = _map(rollout, "metadata").get("namespace")
    expression = {"key": models.POD_TEMPLATE_HASH_LABEL, "operator": "In", "values": [_stable_hash(rollout)]}
    return {"labelSelector": {"matchExpressions": [expression]},
            "namespaces": [namespace if isinstance(namespace, str) else ""], "topologyKey": TOPOLOGY_KEY}


def replicaset_affinity(rollout: Raw, pod_hash: str) -> dict[str, Any] | None:
    """GenerateReplicaSetAffinity: the template's affinity for the ReplicaSet hashed `pod_hash`, plus the
    injected term (appended) while antiAffinity is set and a stable ReplicaSet other than this one exists."""
    raw = _map(_map(_map(rollout, "spec"), "template"), "spec").get("affinity")
    affinity = copy.deepcopy(dict(raw)) if isinstance(raw, Mapping) else None
    anti = strategy(rollout)
    stable = _stable_hash(rollout)
    if anti is None or not stable or stable == pod_hash:
        return affinity
    affinity = affinity if affinity is not None else {}
    pod_anti = dict(_map(affinity, "podAntiAffinity"))
    rule = injected_rule(rollout)
    preferred = anti.get(_PREFERRED)
    if isinstance(preferred, Mapping):
        weight = preferred.get("weight")
        term = {"weight": weight if isinstance(weight, int) and not isinstance(weight, bool) else 0,
                "podAffinityTerm": rule}
        pod_anti[_PREFERRED] = [*_list(pod_anti.get(_PREFERRED)), term]
    else:
        pod_anti[_REQUIRED] = [*_list(pod_anti.get(_REQUIRED)), rule]
    affinity["podAntiAffinity"] = pod_anti
    return affinity


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _injected_term(affinity: Raw, rollout: Raw) -> Raw | None:
    """HasInjectedAntiAffinityRule: the first term of the strategy's kind selecting on the hash label."""
    anti = strategy(rollout)
    if anti is None:
        return None
    pod_anti = _map(affinity, "podAntiAffinity")
    preferred = isinstance(anti.get(_PREFERRED), Mapping)
    for item in _list(pod_anti.get(_PREFERRED if preferred else _REQUIRED)):
        term = _map(item, "podAffinityTerm") if preferred else item
        if not isinstance(term, Mapping):
            continue
        expressions = _list(_map(term, "labelSelector").get("matchExpressions"))
        if any(isinstance(e, Mapping) and e.get("key") == models.POD_TEMPLATE_HASH_LABEL
               for e in expressions):
            return term
    return None


def needs_update(affinity: Raw | None, rollout: Raw, pod_hash: str) -> bool:
    """IfInjectedAntiAffinityRuleNeedsUpdate: the ReplicaSet (hashed `pod_hash`) is not the stable one and
    its injected term names another stable hash than `status.stableRS`."""
    term = _injected_term(affinity or {}, rollout)
    stable = _stable_hash(rollout)
    if term is None or stable == pod_hash:
        return False
    for expression in _list(_map(term, "labelSelector").get("matchExpressions")):
        if not isinstance(expression, Mapping) or expression.get("key") != models.POD_TEMPLATE_HASH_LABEL:
            continue
        values = _list(expression.get("values"))
        if values and values[0] != stable:
            return True
    return False
