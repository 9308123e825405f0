"""Target IP verification: are a Service's ready pod IPs registered in each target group bound to it?

Room: act (AWS), verify. Takes the TargetGroupBindings, Service and EndpointSlices as plain dicts (from the
watch caches, never a live LIST); one DescribeTargetHealth per target group. It never raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from service.aws import coalescing, elbv2, lookups, results, throttling
from service.aws import metrics as aws_metrics

__all__ = [
    "DRAINING_STATES",
    "SERVICE_NAME_LABEL",
    "Binding",
    "TargetVerifier",
    "expected_endpoints",
    "matching_bindings",
    "service_port_for",
]

log = structlog.get_logger(__name__)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DRAINING_STATES = frozenset({"draining", "unhealthy.draining"})


@dataclass(frozen=True, slots=True)
class Binding:
    """The parts of a TargetGroupBinding that verification reads."""

    name: str
    target_group_arn: str
    target_group_name: str
    target_type: str
    service_port: dict[str, Any] | None


def service_port_for(service: Mapping[str, Any], ref_port: Any) -> dict[str, Any] | None:
    """The Service port a TGB's `serviceRef.port` means: a number matches `port`, a string matches `name`."""
    ports: Sequence[Mapping[str, Any]] = (service.get("spec") or {}).get("ports") or []
    for port in ports:
        if isinstance(ref_port, int) and not isinstance(ref_port, bool) and port.get("port") == ref_port:
            return dict(port)
        if isinstance(ref_port, str) and ref_port and port.get("name") == ref_port:
            return dict(port)
    return None


def matching_bindings(service: Mapping[str, Any], bindings: Sequence[Mapping[str, Any]]) -> list[Binding]:
    """TGBs in the Service's namespace whose serviceRef names it (any port, resolved or not)."""
    meta = service.get("metadata") or {}
    name, namespace = meta.get("name"), meta.get("namespace")
    found: list[Binding] = []
    for raw in bindings:
        spec = raw.get("spec") or {}
        ref = spec.get("serviceRef") or {}
        raw_ns = (raw.get("metadata") or {}).get("namespace")
        if ref.get("name") != name or (raw_ns and namespace and raw_ns != namespace):
            continue
        found.append(Binding(
            name=str((raw.get("metadata") or {}).get("name", "")),
            target_group_arn=str(spec.get("targetGroupARN") or ""),
            target_group_name=str(spec.get("targetGroupName") or ""),
            target_type=str(spec.get("targetType") or "instance"),
            service_port=service_port_for(service, ref.get("port")),
        ))
    return found


def expected_endpoints(service_name: str, service_port: Mapping[str, Any],
                       slices: Sequence[Mapping[str, Any]]) -> set[str]:
    """`ip:port` of every ready endpoint; the port comes from each slice (named target ports may differ)."""
    wanted_name = service_port.get("name") or ""
    target = service_port.get("targetPort", service_port.get("port"))
    fallback = target if isinstance(target, int) else None
    expected: set[str] = set()
    for eps in slices:
        labels = (eps.get("metadata") or {}).get("labels") or {}
        if labels.get(SERVICE_NAME_LABEL) != service_name or eps.get("addressType") not in ("IPv4", "IPv6"):
            continue
        ports = eps.get("ports")
        number = fallback
        if ports:
            number = next((p.get("port") for p in ports if (p.get("name") or "") == wanted_name), None)
        if not isinstance(number, int):
            continue
        for endpoint in eps.get("endpoints") or []:
            # An unset `ready` means "unknown", which consumers treat as ready (EndpointConditions API doc).
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in endpoint.get("addresses") or []:
                expected.add(f"{address}:{number}")
    return expected


class TargetVerifier:
    """`await verify(service, bindings, slices)` -> TargetVerification; safe to call concurrently.

    Checks of one target group share one DescribeTargetHealth per window (by default the window, clock and
    sleep of `reads`); an answer reused within `fresh_seconds`, never again for a check it left unverified.
    """

    def __init__(self, reads: lookups.Elbv2Lookups, *, metrics: aws_metrics.AwsMetrics | None = None,
                 fresh_seconds: float = 1.0, monotonic: throttling.Monotonic | None = None,
                 window: float | None = None, sleep: throttling.Sleep | None = None) -> None:
        self.reads = reads
        self.metrics = metrics
        self._health: coalescing.CoalescedReads[str, dict[str, Any]] = coalescing.CoalescedReads(
            fresh_seconds, window=reads.read_window if window is None else window,
            monotonic=monotonic or reads.monotonic, sleep=sleep or reads.sleep)
        # Start stamp of the health read that last left (namespace, Service, target group) unverified: the
        # next check of that pair waits for the next shared read of the target group instead.
        self._unverified: coalescing.FailedReads[tuple[str, str, str]] = coalescing.FailedReads()

    async def verify(self, service: Mapping[str, Any], bindings: Sequence[Mapping[str, Any]],
                     slices: Sequence[Mapping[str, Any]], *,
                     healthy: bool = False) -> results.TargetVerification:
        """With `healthy`, a target counts only once ELBv2 says `healthy` (traffic may move onto it)."""
        meta = service.get("metadata") or {}
        name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
        found = matching_bindings(service, bindings)
        groups = tuple(await asyncio.gather(*(self._binding(namespace, name, b, slices, healthy)
                                              for b in found)))
        verified = all(group.verified for group in groups)
        outcome = "verified" if verified else ("error" if any(g.error for g in groups) else "unverified")
        if self.metrics is not None:
            self.metrics.target_verifications.labels(outcome).inc()
        return results.TargetVerification(verified=verified, target_groups=groups)

    async def _describe_health(self, arn: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.reads.client.call("DescribeTargetHealth", TargetGroupArn=arn)
        return answer


    async def _binding(self, namespace: str, service: str, binding: Binding,
                       slices: Sequence[Mapping[str, Any]], healthy: bool) -> results.TargetGroupTargets:
        arn = binding.target_group_arn

        def unverified(reason: str, *, verifiable: bool = True,
                       error: bool = False) -> results.TargetGroupTargets:
            return results.TargetGroupTargets(
                service=service, target_group=arn, registered=0, total=0, verified=False, reason=reason,
                verifiable=verifiable, error=error)

        if binding.target_type != "ip":
            return unverified(f"TargetGroupBinding {binding.name} uses targetType {binding.target_type}: "
                              "node instances are registered, pod IPs cannot be verified", verifiable=False)
        if binding.service_port is None:
            return unverified(f"TargetGroupBinding {binding.name}: spec.serviceRef.port matches no port of "
                              f"Service {service}")
        try:
            if not arn and binding.target_group_name:
                arn = await self.reads.target_group_arn(binding.target_group_name)
            if not arn:
                return unverified(f"TargetGroupBinding {binding.name} names no target group that exists")
            found_arn = arn
            answer, stamp = await self._health.get_with_stamp(
                arn, lambda: self._describe_health(found_arn),
                newer_than=self._unverified.newer_than((namespace, service, arn)))
        except elbv2.AwsCallError as error:
            log.warning("target verification failed", service=service, target_group=arn,
                        aws_call=error.operation, code=error.code)
            return unverified(error.describe(), error=True)
        except Exception as exc:  # the verifier must never raise
            log.exception("target verification crashed", service=service, target_group=arn)
            return unverified(f"internal error while verifying: {type(exc).__name__}: {exc}", error=True)

        expected = expected_endpoints(service, binding.service_port, slices)
        state_word = "registered and healthy" if healthy else "registered"
        active: set[str] = set()
        for item in answer.get("TargetHealthDescriptions", []) or []:
            target = item.get("Target") or {}
            state = (item.get("TargetHealth") or {}).get("State", "")
            if target.get("Id") is None or target.get("Port") is None or state in DRAINING_STATES:
                continue
            if healthy and state != "healthy":
                continue
            active.add(f"{target['Id']}:{target['Port']}")
        registered = expected & active
        missing = tuple(sorted(expected - active))
        extra = tuple(sorted(active - expected))
        if not expected:
            reason = f"Service {service} has no ready endpoints to find in the target group"
        elif missing:
            reason = (f"{len(registered)}/{len(expected)} endpoints {state_word}; not {state_word}: "
                      + ", ".join(missing))
        else:
            reason = f"{len(registered)}/{len(expected)} endpoints {state_word}"
        if extra:
            reason += f"; also registered (not ready endpoints of the Service): {', '.join(extra)}"
        verified = bool(expected) and not missing
        self._unverified.remember((namespace, service, arn), None if verified else stamp)
        return results.TargetGroupTargets(
            service=service, target_group=arn, registered=len(registered), total=len(expected),
            verified=verified, reason=reason, missing=missing, extra=extra)
