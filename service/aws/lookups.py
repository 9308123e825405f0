"""Cached ELBv2 reads: load balancer by hostname, an ALB's listeners and rules, target group tags and names.

Room: act (AWS). Shares reads between concurrent verifications and remembers what does not change (LB ARNs,
tags); it never decides whether anything is verified and never caches a failed read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from service.aws import coalescing, elbv2, results, throttling

__all__ = [
    "DESCRIBE_TAGS_BATCH",
    "AlbRules",
    "Elbv2Lookups",
    "Forward",
    "Rule",
    "hostname_matches_name",
    "parse_rule",
]

DESCRIBE_TAGS_BATCH = 20  # AWS rejects DescribeTags with more ARNs
PAGE_SIZE = 400  # the largest page ELBv2 accepts for DescribeLoadBalancers/Listeners/Rules
MAX_CACHED_TAGS = 20_000


@dataclass(frozen=True, slots=True)
class Forward:
    """One forward action: (target group ARN, weight or None when AWS shows none) per tuple."""

    targets: tuple[tuple[str, int | None], ...]

    @property
    def arns(self) -> frozenset[str]:
        return frozenset(arn for arn, _ in self.targets)


@dataclass(frozen=True, slots=True)
class Rule:
    """A listener rule reduced to what verification reads."""

    arn: str
    listener_port: int | None
    priority: str
    forwards: tuple[Forward, ...]


@dataclass(frozen=True, slots=True)
class AlbRules:
    """Every rule of every listener of one ALB, read together; `read_at`: monotonic time the read started."""

    lb_arn: str
    rules: tuple[Rule, ...]
    read_at: float = 0.0

    @property
    def target_group_arns(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for rule in self.rules:
            for forward in rule.forwards:
                for arn, _ in forward.targets:
                    seen.setdefault(arn)
        return tuple(seen)


def parse_rule(raw: dict[str, Any], listener_port: int | None) -> Rule:
    """Accept both forward shapes: ForwardConfig tuples, or a lone top-level TargetGroupArn."""
    forwards: list[Forward] = []
    for action in raw.get("Actions", []) or []:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:
            targets = tuple((str(g["TargetGroupArn"]), _weight(g.get("Weight"))) for g in groups
                            if g.get("TargetGroupArn"))
        elif action.get("TargetGroupArn"):
            targets = ((str(action["TargetGroupArn"]), None),)
        else:
            continue
        forwards.append(Forward(targets))
    return Rule(arn=str(raw.get("RuleArn", "")), listener_port=listener_port,
                priority=str(raw.get("Priority", "")), forwards=tuple(forwards))


def _weight(value: Any) -> int | None:
    return int(value) if isinstance(value, int) else None


def hostname_matches_name(hostname: str, lb_name: str) -> bool:
    """ALB DNS names are `[internal-]<name>-<digits>.<region>.elb.amazonaws.com`."""
    host = hostname.lower().removeprefix("internal-")
    prefix = lb_name.lower() + "-"
    if not lb_name or not host.startswith(prefix):
        return False
    # The digits stop `app` from claiming `app-2-123.…`, the DNS name of another ALB called `app-2`.
    suffix = host[len(prefix):].partition(".")[0]
    return suffix.isdigit()


class Elbv2Lookups:
    """Per-process caches in front of `elbv2.Elbv2`: one DescribeRules per listener per step is the goal.

    Rules reads of one ALB coalesce within `read_window` seconds (waited with `sleep`).
    """

    def __init__(
        self,
        client: elbv2.Elbv2,
        *,
        monotonic: throttling.Monotonic = time.monotonic,
        rules_fresh_seconds: float = 2.0,
        listeners_fresh_seconds: float = 300.0,
        scan_fresh_seconds: float = 10.0,
        page_size: int = PAGE_SIZE,
        read_window: float = 0.0,
        sleep: throttling.Sleep = asyncio.sleep,
    ) -> None:
        self.client = client
        self.page_size = page_size
        self.read_window = read_window
        self.monotonic = monotonic
        self.sleep = sleep
        self._by_hostname: dict[str, results.ResourceRef] = {}
        self._rules: coalescing.CoalescedReads[str, AlbRules] = coalescing.CoalescedReads(
            rules_fresh_seconds, window=read_window, monotonic=monotonic, sleep=sleep)
        # Reads that change rarely: shared while in flight (no window), kept while fresh.
        self._listeners: coalescing.CoalescedReads[str, tuple[tuple[str, int | None], ...]] = (
            coalescing.CoalescedReads(listeners_fresh_seconds, window=0.0, monotonic=monotonic))
        self._scan: coalescing.CoalescedReads[str, dict[str, results.ResourceRef]] = (
            coalescing.CoalescedReads(scan_fresh_seconds, window=0.0, monotonic=monotonic))
        self._tg_names: coalescing.CoalescedReads[str, str] = coalescing.CoalescedReads(
            float("inf"), window=0.0, monotonic=monotonic)
        self._tags: dict[str, dict[str, str]] = {}
        self._tags_flying: dict[str, asyncio.Future[dict[str, str]]] = {}

    # ------------------------------------------------------------------------------ load balancers

    async def load_balancer(self, hostname: str, known_arn: str = "") -> results.ResourceRef | None:
        """The ALB behind an Ingress hostname: cache, then the status's ARN, then a paginated scan."""
        host = hostname.lower()
        cached = self._by_hostname.get(host)
        if cached is not None:
            return cached
        if known_arn:
            hinted = results.load_balancer_ref(known_arn)
            # Trust status.alb only when its name fits the hostname: an Ingress moved to another ALB must
            # not be verified against the old one.
            if hostname_matches_name(host, hinted.name):
                self._by_hostname[host] = hinted
                return hinted
        found = await self._scan.get("all", self._scan_load_balancers)
        ref = found.get(host)
        if ref is not None:
            self._by_hostname[host] = ref
        return ref

    async def _scan_load_balancers(self) -> dict[str, results.ResourceRef]:
        balancers = await self.client.pages("DescribeLoadBalancers", "LoadBalancers", PageSize=self.page_size)
        found: dict[str, results.ResourceRef] = {}
        for balancer in balancers:
            dns = str(balancer.get("DNSName", "")).lower()
            arn = str(balancer.get("LoadBalancerArn", ""))
            if dns and arn:
                found.setdefault(dns, results.load_balancer_ref(arn))
        self._by_hostname.update(found)
        return found

    def forget_load_balancer(self, lb_arn: str) -> None:
        """The ALB is gone (or was never the right one): the next lookup scans again."""
        for host in [h for h, ref in self._by_hostname.items() if ref.arn == lb_arn]:
            del self._by_hostname[host]
        self._scan.clear()
        self._listeners.forget(lb_arn)
        self._rules.forget(lb_arn)

    # ------------------------------------------------------------------------------ listeners and rules

    async def rules(self, lb_arn: str, *, newer_than: float | None = None) -> AlbRules:
        """All rules of the ALB, shared by the callers of one read; `newer_than`: from a read started then."""
        alb, started = await self._rules.get_with_stamp(lb_arn, lambda: self._read_rules(lb_arn),
                                                        newer_than=newer_than)
        return alb if alb.read_at == started else replace(alb, read_at=started)

    def forget_rules(self, lb_arn: str) -> None:
        """The cached answer is wrong (ALB or listener gone): re-read listeners and rules next time."""
        self._rules.forget(lb_arn)
        self._listeners.forget(lb_arn)

    def refresh_listeners(self, lb_arn: str) -> None:
        """The next rules read lists the ALB's listeners again (what we look for may be on a new one)."""
        self._listeners.forget(lb_arn)

    async def _read_rules(self, lb_arn: str) -> AlbRules:
        started = self.monotonic()  # the same stamp the coalescing read gives it (no await in between)
        try:
            listeners = await self._listeners.get(lb_arn, lambda: self._read_listeners(lb_arn))
            pages = await asyncio.gather(*(
                self.client.pages("DescribeRules", "Rules", ListenerArn=arn, PageSize=self.page_size)
                for arn, _ in listeners))
        except elbv2.AwsCallError as error:
            if error.code == "LoadBalancerNotFound":
                self.forget_load_balancer(lb_arn)
            elif error.code == "ListenerNotFound":
                self._listeners.forget(lb_arn)
            raise
        rules = tuple(parse_rule(raw, port) for (_, port), page in zip(listeners, pages, strict=True)
                      for raw in page)
        return AlbRules(lb_arn=lb_arn, rules=rules, read_at=started)

    async def _read_listeners(self, lb_arn: str) -> tuple[tuple[str, int | None], ...]:
        listeners = await self.client.pages("DescribeListeners", "Listeners", LoadBalancerArn=lb_arn,
                                            PageSize=self.page_size)
        return tuple((str(item["ListenerArn"]), item.get("Port")) for item in listeners)

    # ------------------------------------------------------------------------------ tags

    async def tags(self, arns: Iterable[str]) -> dict[str, dict[str, str]]:
        """Tags per ARN, read once per ARN (TG tags do not change) in batches of at most 20."""
        wanted = list(dict.fromkeys(arns))
        foreign = {arn: self._tags_flying[arn] for arn in wanted
                   if arn not in self._tags and arn in self._tags_flying}
        fetch = [arn for arn in wanted if arn not in self._tags and arn not in foreign]
        loop = asyncio.get_running_loop()
        mine: dict[str, asyncio.Future[dict[str, str]]] = {arn: loop.create_future() for arn in fetch}
        self._tags_flying.update(mine)
        try:
            for start in range(0, len(fetch), DESCRIBE_TAGS_BATCH):
                batch = fetch[start:start + DESCRIBE_TAGS_BATCH]
                answer = await self.client.call("DescribeTags", ResourceArns=batch)
                got = {str(d.get("ResourceArn")): {str(t["Key"]): str(t.get("Value", ""))
                                                   for t in d.get("Tags", []) or []}
                       for d in answer.get("TagDescriptions", []) or []}
                for arn in batch:
                    self._remember_tags(arn, got.get(arn, {}))
                    mine[arn].set_result(got.get(arn, {}))
        except BaseException as error:
            for future in mine.values():
                if future.done():
                    continue
                # Other rollouts wait on these futures: our cancellation must reach them as an answer,
                # never as a CancelledError of their own.
                shared = error if isinstance(error, Exception) else elbv2.AwsCallError(
                    "DescribeTags", "Cancelled", "the shared read was cancelled", retryable=True)
                future.set_exception(shared)
                future.exception()  # mark retrieved: the other waiters may have gone away
            raise
        finally:
            for arn in fetch:
                self._tags_flying.pop(arn, None)
        out: dict[str, dict[str, str]] = {}
        for arn in wanted:
            if arn in mine:
                out[arn] = mine[arn].result()
            elif arn in foreign:
                out[arn] = await asyncio.shield(foreign[arn])
            else:
                out[arn] = self._tags.get(arn, {})
        return out

    def _remember_tags(self, arn: str, tags: dict[str, str]) -> None:
        if len(self._tags) >= MAX_CACHED_TAGS:
            self._tags.pop(next(iter(self._tags)))
        self._tags[arn] = tags

    # ------------------------------------------------------------------------------ target group names

    async def target_group_arn(self, name: str) -> str:
        """ARN of a target group known only by name (a TargetGroupBinding with spec.targetGroupName)."""
        return await self._tg_names.get(name, lambda: self._read_tg_arn(name))

    async def _read_tg_arn(self, name: str) -> str:
        answer = await self.client.call("DescribeTargetGroups", Names=[name])
        groups: Sequence[dict[str, Any]] = answer.get("TargetGroups", []) or []
        return str(groups[0]["TargetGroupArn"]) if groups else ""
