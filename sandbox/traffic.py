"""Traffic probe: N simulated requests "through the ALB" of an Ingress, as a user would see them.

Reads the ALB's current rules and target health from ELBv2 once, then routes each request in memory: the
first rule (by priority) whose conditions match the request, else the default rule; a target group by the
forward weights; a serving target at random. Serving means `healthy` (`initial`, `draining`, `unused` and
`unavailable` never serve), except that an ALB fails open: when every registered target of a group is
`unhealthy`, requests go to all of them. A request fails when no forward applies, the chosen target group
has no serving target, or the target's IP is not a Ready pod. Seeded, so runs are reproducible. It only
reads, never writes.

A served request may still fail at the target: `failing` maps a pod-template hash (the pods' label
`rollouts-pod-template-hash`) to the share of its requests that answer 5xx (`target_5xx`, not `failed`:
the ALB routed them). Each served request also gets a simulated target response time. Both are drawn
from a second generator seeded like the first, so the routing of a seed never changes. Per target group,
`by_target_group` holds what the ALB would report to CloudWatch (sandbox/alb_metrics.py records it).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from sandbox.apiserver import storage as storing
from sandbox.cluster import pods

__all__ = ["HASH_LABEL", "Lookups", "ProbeResult", "Request", "TargetGroupTraffic", "probe", "ready_pod_ips",
           "serving_targets"]

HASH_LABEL = "rollouts-pod-template-hash"
_INGRESSES = "ingresses.networking.k8s.io"
_SERVING = "healthy"
_UNHEALTHY = "unhealthy"
# Target response time: a floor plus an exponential tail (mean 20 ms), kept to the millisecond.
_RESPONSE_FLOOR = 0.005
_RESPONSE_MEAN_TAIL = 0.015


@dataclass(frozen=True, slots=True)
class Request:
    """What every simulated request carries: a host, a path, GET, no extra headers, no query."""

    host: str
    path: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TargetGroupTraffic:
    """What one target group's targets answered: requests, 5xx among them, response times (s -> count)."""

    requests: int
    target_5xx: int = 0
    response_times: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """`failed`: the ALB could not route; `target_5xx`: a target answered 5xx (served, so in `by_service`)."""

    requests: int
    failed: int
    by_service: dict[str, int] = field(default_factory=dict)
    target_5xx: int = 0
    target_5xx_by_service: dict[str, int] = field(default_factory=dict)
    by_target_group: dict[str, TargetGroupTraffic] = field(default_factory=dict)
    """Target-group ARN -> what its targets answered (only groups whose targets answered)."""
    load_balancer_arn: str = field(default="", compare=False)

    def as_dict(self) -> dict[str, Any]:
        by_service = dict(sorted(self.by_service.items()))
        answer: dict[str, Any] = {"requests": self.requests, "failed": self.failed, "byService": by_service}
        if self.target_5xx:  # only then: a probe without failing pods answers as it always has
            answer["target5xx"] = self.target_5xx
            answer["target5xxByService"] = dict(sorted(self.target_5xx_by_service.items()))
        return answer


def ready_pod_ips(storage: storing.Storage) -> set[str]:
    """IPs of pods whose Ready condition is True and that are not being deleted."""
    return set(_ready_pod_hashes(storage))


def _ready_pod_hashes(storage: storing.Storage) -> dict[str, str]:
    """Ready pods' IP -> their `rollouts-pod-template-hash` label ("" without one)."""
    hashes: dict[str, str] = {}
    for pod in storage.peek("pods"):
        ip = (pod.get("status") or {}).get("podIP")
        if ip and pods.is_ready(pod):
            hashes[str(ip)] = str(((pod.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL, ""))
    return hashes


def serving_targets(descriptions: list[dict[str, Any]]) -> list[str]:
    """Target IPs the ALB sends requests to, from DescribeTargetHealth's TargetHealthDescriptions."""
    states = [(str(d["Target"]["Id"]), d["TargetHealth"]["State"]) for d in descriptions]
    healthy = sorted(ip for ip, state in states if state == _SERVING)
    if healthy:
        return healthy
    # An ALB fails open: when every registered target is unhealthy (none initial), all of them get requests.
    unhealthy = sorted(ip for ip, state in states if state == _UNHEALTHY)
    return unhealthy if not any(state == "initial" for _, state in states) else []


def _glob(pattern: str, value: str, *, ignore_case: bool) -> bool:
    """ALB wildcards: `*` any run of characters, `?` exactly one."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _matches(condition: dict[str, Any], request: Request) -> bool:
    match condition.get("Field"):
        case "host-header":
            values = (condition.get("HostHeaderConfig") or {}).get("Values") or condition.get("Values") or []
            return any(_glob(v, request.host, ignore_case=True) for v in values)
        case "path-pattern":
            values = (condition.get("PathPatternConfig") or {}).get("Values") or condition.get("Values") or []
            return any(_glob(v, request.path, ignore_case=False) for v in values)
        case "http-header":
            config = condition.get("HttpHeaderConfig") or {}
            name = str(config.get("HttpHeaderName", "")).lower()
            sent = [v for k, v in request.headers if k.lower() == name]
            return any(_glob(p, v, ignore_case=True) for p in config.get("Values") or [] for v in sent)
        case "http-request-method":
            return request.method in ((condition.get("HttpRequestMethodConfig") or {}).get("Values") or [])
    return False  # query-string and source-ip: the probe's requests carry neither


def _request_for(ingress: dict[str, Any], hostname: str) -> Request:
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            return Request(host=rule.get("host") or hostname, path=path.get("path") or "/")
    return Request(host=hostname, path="/")


@dataclass(slots=True)
class Lookups:
    """What a probe reads that never changes for an ARN: the ALB behind a DNS name (a new ALB has a new
    name), the Service a target group was made for (its tag). Shared by the probes of one control server."""

    load_balancers: dict[str, str] = field(default_factory=dict)
    services: dict[tuple[str, str], str] = field(default_factory=dict)
    listeners: dict[str, str] = field(default_factory=dict)
    """An ALB's port-80 listener ARN (one the LBC replaced is looked up again)."""


async def _find_load_balancer(elbv2: Any, hostname: str, lookups: Lookups | None = None) -> str | None:
    if lookups is not None and hostname.lower() in lookups.load_balancers:
        return lookups.load_balancers[hostname.lower()]
    found = await _scan_load_balancers(elbv2, hostname)
    if lookups is not None and found is not None:
        lookups.load_balancers[hostname.lower()] = found
    return found


async def _scan_load_balancers(elbv2: Any, hostname: str) -> str | None:
    paginator = elbv2.get_paginator("describe_load_balancers")
    async for page in paginator.paginate():
        for lb in page["LoadBalancers"]:
            if str(lb["DNSName"]).lower() == hostname.lower():
                return str(lb["LoadBalancerArn"])
    return None


async def _http_listener(elbv2: Any, lb_arn: str, lookups: Lookups | None) -> str | None:
    if lookups is not None and lb_arn in lookups.listeners:
        return lookups.listeners[lb_arn]
    listeners = await elbv2.describe_listeners(LoadBalancerArn=lb_arn)
    http = [str(listener["ListenerArn"]) for listener in listeners["Listeners"] if listener["Port"] == 80]
    if http and lookups is not None:
        lookups.listeners[lb_arn] = http[0]
    return http[0] if http else None


async def _rules(elbv2: Any, listener: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    async for page in elbv2.get_paginator("describe_rules").paginate(ListenerArn=listener):
        rules.extend(page["Rules"])
    return rules


async def _routed_action(elbv2: Any, lb_arn: str, request: Request,
                         lookups: Lookups | None = None) -> dict[str, Any] | None:
    listener = await _http_listener(elbv2, lb_arn, lookups)
    if listener is None:
        return None
    try:
        rules = await _rules(elbv2, listener)
    except ClientError:
        if lookups is None or lookups.listeners.pop(lb_arn, None) is None:
            raise
        listener = await _http_listener(elbv2, lb_arn, lookups)  # the remembered listener was replaced
        if listener is None:
            return None
        rules = await _rules(elbv2, listener)
    ordered = sorted((r for r in rules if not r.get("IsDefault")), key=lambda r: int(r["Priority"]))
    ordered += [r for r in rules if r.get("IsDefault")]
    for rule in ordered:
        if rule.get("IsDefault") or all(_matches(c, request) for c in rule.get("Conditions") or []):
            actions = sorted(rule.get("Actions") or [], key=lambda a: a.get("Order", 1))
            return actions[-1] if actions else None
    return None


async def _service_of(elbv2: Any, storage: storing.Storage, arns: list[str], prefix: str,
                      lookups: Lookups | None = None) -> dict[str, str]:
    """Service name per target-group ARN, from the ingress.k8s.aws/resource tag (TGBs as a fallback)."""
    known = lookups.services if lookups is not None else {}
    if all((arn, prefix) in known for arn in arns):
        return {arn: known[(arn, prefix)] for arn in arns}
    names: dict[str, str] = {}
    for start in range(0, len(arns), 20):
        described = await elbv2.describe_tags(ResourceArns=arns[start:start + 20])
        for item in described["TagDescriptions"]:
            tags = {t["Key"]: t["Value"] for t in item.get("Tags") or []}
            resource = tags.get("ingress.k8s.aws/resource", "")
            if resource.startswith(prefix):
                names[item["ResourceArn"]] = resource[len(prefix):].rpartition(":")[0]
    for tgb in storage.peek("targetgroupbindings.elbv2.k8s.aws"):
        spec = tgb.get("spec") or {}
        arn = spec.get("targetGroupARN")
        if arn in arns and arn not in names:
            names[arn] = (spec.get("serviceRef") or {}).get("name", arn)
    if lookups is not None:
        lookups.services.update({(arn, prefix): name for arn, name in names.items()})
    return {arn: names.get(arn, arn) for arn in arns}


async def probe(storage: storing.Storage, elbv2: Any, namespace: str, name: str, *, requests: int,
                seed: int = 0, request: Request | None = None,
                failing: Mapping[str, float] | None = None, lookups: Lookups | None = None) -> ProbeResult:
    """Send `requests` simulated requests to the ALB of Ingress namespace/name (see the module docstring)."""
    rng = random.Random(seed)
    ingress = storage.get(_INGRESSES, namespace, name)
    lb_entries = (((ingress or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    hostname = str(lb_entries[0].get("hostname") or "") if lb_entries else ""
    lb_arn = await _find_load_balancer(elbv2, hostname, lookups) if ingress is not None and hostname else None
    if ingress is None or lb_arn is None:
        return ProbeResult(requests=requests, failed=requests)
    try:
        action = await _routed_action(elbv2, lb_arn, request or _request_for(ingress, hostname), lookups)
    except ClientError:
        if lookups is None:
            raise
        lookups.load_balancers.pop(hostname.lower(), None)  # the ALB went away: look it up again next time
        return ProbeResult(requests=requests, failed=requests)
    if action is None or action.get("Type") != "forward":
        return ProbeResult(requests=requests, failed=requests, load_balancer_arn=lb_arn)
    tuples = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    if not tuples and action.get("TargetGroupArn"):
        tuples = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
    arns = [str(t["TargetGroupArn"]) for t in tuples]
    weights = [int(t.get("Weight", 1)) for t in tuples]
    if not arns or sum(weights) <= 0:
        return ProbeResult(requests=requests, failed=requests, load_balancer_arn=lb_arn)
    targets: dict[str, list[str]] = {}
    for arn in set(arns):
        health = await elbv2.describe_target_health(TargetGroupArn=arn)
        targets[arn] = serving_targets(health["TargetHealthDescriptions"])
    services = await _service_of(elbv2, storage, sorted(set(arns)), f"{namespace}/{name}-", lookups)
    ready = _ready_pod_hashes(storage)
    answers = _Answers(random.Random(f"target-answers-{seed}"), failing or {})
    served: Counter[str] = Counter()
    failed = 0
    for _ in range(requests):
        arn = rng.choices(arns, weights=weights)[0]
        if not targets[arn]:
            failed += 1
            continue
        ip = rng.choice(targets[arn])
        if ip in ready:
            served[services[arn]] += 1
            answers.answer(arn, services[arn], ready[ip])
        else:
            failed += 1
    return ProbeResult(requests=requests, failed=failed, by_service=dict(served),
                       target_5xx=sum(answers.errors.values()), target_5xx_by_service=dict(answers.errors),
                       by_target_group=answers.by_target_group(), load_balancer_arn=lb_arn)


class _Answers:
    """The targets' side of the served requests: 5xx by the `failing` knob, response times."""

    def __init__(self, rng: random.Random, failing: Mapping[str, float]) -> None:
        self._rng = rng
        self._failing = failing
        self.errors: Counter[str] = Counter()
        self._requests: Counter[str] = Counter()
        self._errors_by_group: Counter[str] = Counter()
        self._times: dict[str, Counter[float]] = {}

    def answer(self, arn: str, service: str, pod_hash: str) -> None:
        self._requests[arn] += 1
        share = self._failing.get(pod_hash, 0.0) if pod_hash else 0.0
        if share > 0 and self._rng.random() < share:
            self.errors[service] += 1
            self._errors_by_group[arn] += 1
        seconds = round(_RESPONSE_FLOOR + self._rng.expovariate(1 / _RESPONSE_MEAN_TAIL), 3)
        self._times.setdefault(arn, Counter())[seconds] += 1

    def by_target_group(self) -> dict[str, TargetGroupTraffic]:
        return {arn: TargetGroupTraffic(requests=count, target_5xx=self._errors_by_group[arn],
                                        response_times=tuple(sorted(self._times[arn].items())))
                for arn, count in sorted(self._requests.items())}
