"""ALB weight verification: do each Ingress's ALB rules forward to canary, extras and stable as wanted?

Room: act (AWS), verify. Each ingress is judged on its own, from the rule(s) forwarding to its canary AND
stable target groups together. It never raises: AWS failures become unverified results with a message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import structlog

from service.aws import coalescing, elbv2, lookups, results
from service.aws import metrics as aws_metrics

__all__ = ["WeightVerifier"]

log = structlog.get_logger(__name__)


# (ALB ARN, namespace, ingress, canary service, stable service): one rollout's rule on one ALB.
_Seen = tuple[str, str, str, str, str]


class WeightVerifier:
    """`await verify(request)` -> WeightVerification; safe to call from many rollouts at once."""

    def __init__(self, reads: lookups.Elbv2Lookups, *, metrics: aws_metrics.AwsMetrics | None = None) -> None:
        self.reads = reads
        self.metrics = metrics
        # Start stamp of the rules read that last left a request unverified: the next verification of that
        # request must not get the same answer again, and waits for the next read shared by the ALB instead.
        self._unverified: coalescing.FailedReads[_Seen] = coalescing.FailedReads()

    async def verify(self, request: results.WeightRequest) -> results.WeightVerification:
        items = tuple(await asyncio.gather(*(self._ingress(request, ing) for ing in request.ingresses)))
        verified = bool(items) and all(item.verified for item in items)
        outcome = "verified" if verified else ("error" if any(i.error for i in items) else "unverified")
        if self.metrics is not None:
            self.metrics.weight_verifications.labels(outcome).inc()
        return results.WeightVerification(verified=verified, ingresses=items)

    async def _ingress(self, request: results.WeightRequest,
                       ingress: results.IngressTarget) -> results.IngressVerification:
        unseen = _unseen(request)
        hostnames = list(dict.fromkeys(h.lower() for h in ingress.hostnames if h))
        if not hostnames:
            return results.IngressVerification(
                ingress=ingress.name, verified=False, target_groups=unseen,
                reason="load balancer not yet allocated: the ingress has no status.loadBalancer hostname")
        verdicts: list[results.IngressVerification] = []
        for hostname in hostnames:
            try:
                verdicts.append(await self._hostname(request, ingress, hostname))
            except elbv2.AwsCallError as error:
                log.warning("weight verification failed", ingress=ingress.name, aws_call=error.operation,
                            code=error.code)
                verdicts.append(results.IngressVerification(
                    ingress=ingress.name, verified=False, reason=error.describe(), target_groups=unseen,
                    error=True))
            except Exception as error:  # the verifier must never raise; say what happened instead
                log.exception("weight verification crashed", ingress=ingress.name)
                verdicts.append(results.IngressVerification(
                    ingress=ingress.name, verified=False, target_groups=unseen, error=True,
                    reason=f"internal error while verifying: {type(error).__name__}: {error}"))
        # Every hostname (ALB) of the ingress must carry the weights; report the first that does not.
        return next((v for v in verdicts if not v.verified), verdicts[0])

    async def _hostname(self, request: results.WeightRequest, ingress: results.IngressTarget,
                        hostname: str) -> results.IngressVerification:
        lb = await self.reads.load_balancer(hostname, ingress.known_lb_arn)
        if lb is None:
            return results.IngressVerification(
                ingress=ingress.name, verified=False, target_groups=_unseen(request),
                reason=f"load balancer not found: no load balancer has DNS name {hostname}")
        seen: _Seen = (lb.arn, request.namespace, ingress.name, request.canary.service,
                       request.stable.service)
        alb = await self.reads.rules(lb.arn, newer_than=self._unverified.newer_than(seen))
        tags = await self.reads.tags(alb.target_group_arns)
        verdict = _judge(request, ingress.name, lb, alb, tags, self.reads)
        self._unverified.remember(seen, None if verdict.verified else alb.read_at)
        return verdict



def _unseen(request: results.WeightRequest) -> tuple[results.TargetGroupWeight, ...]:
    return tuple(results.TargetGroupWeight(d.service, "", None, d.weight) for d in _ordered(request))


def _ordered(request: results.WeightRequest) -> tuple[results.Destination, ...]:
    """Annotation order: canary, experiment destinations, stable."""
    return (request.canary, *request.additional, request.stable)


def _judge(
    request: results.WeightRequest,
    ingress: str,
    lb: results.ResourceRef,
    alb: lookups.AlbRules,
    tags: Mapping[str, Mapping[str, str]],
    reads: lookups.Elbv2Lookups,
) -> results.IngressVerification:
    wanted = _ordered(request)
    arns_of: dict[str, frozenset[str]] = {}
    for dest in wanted:
        rid = request.resource_id(ingress, dest.service)
        arns_of[dest.service] = frozenset(arn for arn, t in tags.items() if t.get(request.tag_key) == rid)
    canary_arns = arns_of[request.canary.service]
    stable_arns = arns_of[request.stable.service]

    def first(service: str) -> str:
        return min(arns_of[service], default="")

    canary_ref = results.target_group_ref(first(request.canary.service)) if canary_arns else None
    stable_ref = results.target_group_ref(first(request.stable.service)) if stable_arns else None

    def verdict(verified: bool, reason: str,
                groups: tuple[results.TargetGroupWeight, ...]) -> results.IngressVerification:
        return results.IngressVerification(
            ingress=ingress, verified=verified, reason=reason, load_balancer=lb, target_groups=groups,
            canary_target_group=canary_ref, stable_target_group=stable_ref, lb_found=True)

    missing = [d for d in wanted if not arns_of[d.service]]
    if missing:
        # The LBC may have put the target group on a new listener: the next shared read lists them again.
        reads.refresh_listeners(lb.arn)
        names = ", ".join(f"{d.service} ({request.tag_key}={request.resource_id(ingress, d.service)})"
                          for d in missing)
        groups = tuple(results.TargetGroupWeight(d.service, first(d.service), None, d.weight) for d in wanted)
        return verdict(False, f"target group missing: no rule of load balancer {lb.name} forwards to the "
                              f"target group of service {names}", groups)

    # The governing rules forward to canary AND stable together; a header route (canary only) is not one.
    governing = [(rule, forward) for rule in alb.rules for forward in rule.forwards
                 if forward.arns & canary_arns and forward.arns & stable_arns]
    if not governing:
        reads.refresh_listeners(lb.arn)
        groups = tuple(results.TargetGroupWeight(d.service, first(d.service), None, d.weight) for d in wanted)
        reason = (f"no rule of load balancer {lb.name} forwards to both the canary "
                  f"({request.canary.service}) and stable ({request.stable.service}) target groups")
        return verdict(False, reason, groups)

    problems: list[str] = []
    shown: dict[str, tuple[str, int | None]] = {}
    for rule, forward in governing:
        seen = {d.service: _seen(forward, arns_of[d.service]) for d in wanted}
        wrong = [d for d in wanted if seen[d.service][1] != d.weight]
        # Show the weights of the first rule that is wrong (else of the first rule).
        if not shown or (wrong and not problems):
            shown = seen
        for dest in wrong:
            problems.append(f"{dest.service} has {_fmt(seen[dest.service][1])} (wanted {dest.weight}) on "
                            f"{_where(rule)}")
    groups = tuple(results.TargetGroupWeight(d.service, shown[d.service][0] or first(d.service),
                                             shown[d.service][1], d.weight) for d in wanted)
    if problems:
        return verdict(False, f"weights not yet applied on load balancer {lb.name}: " + "; ".join(problems),
                       groups)
    rules_text = "1 rule" if len(governing) == 1 else f"{len(governing)} rules"
    applied = ", ".join(f"{d.service} {d.weight}" for d in wanted)
    return verdict(True, f"weights applied on load balancer {lb.name} ({rules_text}): {applied}", groups)


def _seen(forward: lookups.Forward, arns: frozenset[str]) -> tuple[str, int | None]:
    """The (ARN, weight) this forward gives the destination; a lone tuple without weight means all traffic."""
    for arn, weight in forward.targets:
        if arn in arns:
            if weight is None and len(forward.targets) == 1:
                return arn, 100
            return arn, weight
    return "", None


def _fmt(weight: int | None) -> str:
    return "no weight" if weight is None else f"weight {weight}"


def _where(rule: lookups.Rule) -> str:
    port = f"listener {rule.listener_port} " if rule.listener_port is not None else ""
    return f"{port}rule {rule.priority}"
