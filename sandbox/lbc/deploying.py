"""LBC simulator, deploying room: converges moto's ELBv2 state to a stack model (LB, TGs, listener, rules).

Idempotent: every step looks up what exists first (by deterministic name), so a rerun after a failure or a
moto reset converges. Weight changes are a ModifyRule/ModifyListener in place, as in the real controller.
It never touches Kubernetes objects (that is `reporting.py`) nor targets (that is `registering.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sandbox import aws
from sandbox.lbc import models, parsing

__all__ = ["Deployed", "Deployer", "aws_action", "aws_condition"]

_LISTENER_PORT = 80


@dataclass(frozen=True, slots=True)
class Deployed:
    lb_arn: str
    dns_name: str
    vpc_id: str
    tg_arns: dict[str, str]  # resource id -> ARN


def _tags(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in pairs.items()]


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def aws_condition(condition: parsing.Condition) -> dict[str, Any]:
    """The ELBv2 shape of one rule condition."""
    values: dict[str, Any] = {"Values": list(condition.values)}
    if condition.regex_values:
        values = {"RegexValues": list(condition.regex_values)}
    match condition.field:
        case "host-header":
            return {"Field": "host-header", "HostHeaderConfig": values}
        case "path-pattern":
            return {"Field": "path-pattern", "PathPatternConfig": values}
        case "http-header":
            header = {"HttpHeaderName": condition.header_name, **values}
            return {"Field": "http-header", "HttpHeaderConfig": header}
        case "http-request-method":
            methods = {"Values": list(condition.values)}
            return {"Field": "http-request-method", "HttpRequestMethodConfig": methods}
        case "source-ip":
            return {"Field": "source-ip", "SourceIpConfig": {"Values": list(condition.values)}}
        case "query-string":
            pairs = [{"Value": value} if key is None else {"Key": key, "Value": value}
                     for key, value in condition.query]
            return {"Field": "query-string", "QueryStringConfig": {"Values": pairs}}
    return {"Field": condition.field}


def aws_action(action: models.ActionModel, arns: dict[models.TargetRef, str]) -> dict[str, Any]:
    """The ELBv2 shape of one action; forwards always use ForwardConfig (gate WeightedTargetGroups)."""
    if isinstance(action, models.ForwardModel):
        groups: list[dict[str, Any]] = []
        for ref, weight in action.target_groups:
            entry: dict[str, Any] = {"TargetGroupArn": arns[ref]}
            if weight is not None:
                entry["Weight"] = weight
            groups.append(entry)
        config: dict[str, Any] = {"TargetGroups": groups}
        if action.stickiness is not None:
            sticky: dict[str, Any] = {}
            if action.stickiness.enabled is not None:
                sticky["Enabled"] = action.stickiness.enabled
            if action.stickiness.duration_seconds is not None:
                sticky["DurationSeconds"] = action.stickiness.duration_seconds
            config["TargetGroupStickinessConfig"] = sticky
        return {"Type": "forward", "Order": 1, "ForwardConfig": config}
    if isinstance(action, parsing.FixedResponse):
        fixed = {"StatusCode": action.status_code, "ContentType": action.content_type,
                 "MessageBody": action.message_body}
        return {"Type": "fixed-response", "Order": 1,
                "FixedResponseConfig": {k: v for k, v in fixed.items() if v is not None}}
    redirect = {"StatusCode": action.status_code, "Host": action.host, "Path": action.path,
                "Port": action.port, "Protocol": action.protocol, "Query": action.query}
    config = {k: v for k, v in redirect.items() if v is not None}
    return {"Type": "redirect", "Order": 1, "RedirectConfig": config}


def _same_actions(current: list[dict[str, Any]], desired: list[dict[str, Any]]) -> bool:
    """The controller's comparison: ignore Order and top-level TargetGroupArn, sort tuples by ARN, ignore a
    single tuple's weight and a stickiness config that is off."""

    def norm(action: dict[str, Any]) -> str:
        shaped = {k: v for k, v in action.items() if k not in ("Order", "TargetGroupArn")}
        forward = shaped.get("ForwardConfig")
        if forward is not None:
            tuples = sorted(forward.get("TargetGroups") or [], key=lambda t: t["TargetGroupArn"])
            if len(tuples) == 1:
                tuples = [{"TargetGroupArn": tuples[0]["TargetGroupArn"]}]
            sticky = forward.get("TargetGroupStickinessConfig") or {}
            on = sticky if sticky.get("Enabled") else None
            shaped["ForwardConfig"] = {"TargetGroups": tuples, "Sticky": on}
        return json.dumps(shaped, sort_keys=True)

    return sorted(map(norm, current)) == sorted(map(norm, desired))


def _same_conditions(current: list[dict[str, Any]], desired: list[dict[str, Any]]) -> bool:
    def norm(condition: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in condition.items() if k != "Values"}, sort_keys=True)

    return sorted(map(norm, current)) == sorted(map(norm, desired))


class Deployer:
    """Applies stack models to ELBv2 through one aiobotocore client pair."""

    def __init__(self, elbv2: Any, ec2: Any, *, cluster: str) -> None:
        self._elbv2 = elbv2
        self._ec2 = ec2
        self._cluster = cluster
        # What this deployer made or found, so that a deploy of an unchanged group costs a few reads, not one
        # per target group of the account (as the real LBC keeps its stack's resources in memory). Forgotten
        # for a stack whenever AWS answers with an error: the retry reads everything again.
        self._network: aws.Network | None = None
        self._tg_arns: dict[str, str] = {}  # target group name -> ARN
        self._owned: dict[str, set[str]] = {}  # stack id -> ARNs of the target groups tagged with it

    def _forget(self, stack: models.StackModel) -> None:
        self._network = None
        self._owned.pop(stack.stack_id, None)
        for tg in stack.target_groups:
            self._tg_arns.pop(tg.name, None)

    def _base_tags(self, stack_id: str) -> dict[str, str]:
        return {"elbv2.k8s.aws/cluster": self._cluster, "ingress.k8s.aws/stack": stack_id}

    async def _load_balancer(self, stack: models.StackModel, network: aws.Network) -> tuple[str, str]:
        try:
            found = await self._elbv2.describe_load_balancers(Names=[stack.lb_name])
            lb = found["LoadBalancers"][0]
        except ClientError as err:
            if _code(err) != "LoadBalancerNotFound":
                raise
            made = await self._elbv2.create_load_balancer(
                Name=stack.lb_name, Subnets=list(network.subnet_ids), Scheme="internet-facing",
                Type="application", IpAddressType="ipv4",
                Tags=_tags({**self._base_tags(stack.stack_id), "ingress.k8s.aws/resource": "LoadBalancer"}),
            )
            lb = made["LoadBalancers"][0]
        return str(lb["LoadBalancerArn"]), str(lb["DNSName"])

    async def _target_group(self, stack: models.StackModel, tg: models.TargetGroupModel, vpc_id: str) -> str:
        known = self._tg_arns.get(tg.name)
        if known is not None:
            return known
        try:
            found = await self._elbv2.describe_target_groups(Names=[tg.name])
            arn = str(found["TargetGroups"][0]["TargetGroupArn"])
        except ClientError as err:
            if _code(err) != "TargetGroupNotFound":
                raise
            made = await self._elbv2.create_target_group(
                Name=tg.name, Protocol="HTTP", ProtocolVersion="HTTP1", Port=tg.port, VpcId=vpc_id,
                TargetType="ip", IpAddressType="ipv4", HealthCheckPath="/", Matcher={"HttpCode": "200"},
                Tags=_tags({**self._base_tags(stack.stack_id), "ingress.k8s.aws/resource": tg.resource_id}),
            )
            arn = str(made["TargetGroups"][0]["TargetGroupArn"])
        self._tg_arns[tg.name] = arn
        return arn

    async def _outside_arns(self, stack: models.StackModel, arns: dict[models.TargetRef, str]) -> None:
        actions = [stack.default_action, *(rule.action for rule in stack.rules)]
        for action in actions:
            if not isinstance(action, models.ForwardModel):
                continue
            for ref, _ in action.target_groups:
                if ref.arn is not None:
                    arns[ref] = ref.arn
                elif ref.name is not None and ref not in arns:
                    found = await self._elbv2.describe_target_groups(Names=[ref.name])
                    arns[ref] = str(found["TargetGroups"][0]["TargetGroupArn"])

    async def _listener(self, lb_arn: str, stack: models.StackModel, default: dict[str, Any]) -> str:
        listeners = await self._elbv2.describe_listeners(LoadBalancerArn=lb_arn)
        for listener in listeners["Listeners"]:
            if listener["Port"] == _LISTENER_PORT:
                if not _same_actions(listener["DefaultActions"], [default]):
                    await self._elbv2.modify_listener(
                        ListenerArn=listener["ListenerArn"], DefaultActions=[default]
                    )
                return str(listener["ListenerArn"])
        made = await self._elbv2.create_listener(
            LoadBalancerArn=lb_arn, Protocol="HTTP", Port=_LISTENER_PORT, DefaultActions=[default],
            Tags=_tags({**self._base_tags(stack.stack_id), "ingress.k8s.aws/resource": str(_LISTENER_PORT)}),
        )
        return str(made["Listeners"][0]["ListenerArn"])

    async def _rules(self, listener_arn: str, stack: models.StackModel,
                     arns: dict[models.TargetRef, str]) -> None:
        current: dict[int, dict[str, Any]] = {}
        paginator = self._elbv2.get_paginator("describe_rules")
        async for page in paginator.paginate(ListenerArn=listener_arn):
            for rule in page["Rules"]:
                if not rule.get("IsDefault"):
                    current[int(rule["Priority"])] = rule
        for rule in stack.rules:
            actions = [aws_action(rule.action, arns)]
            conditions = [aws_condition(c) for c in rule.conditions]
            existing = current.pop(rule.priority, None)
            if existing is None:
                await self._elbv2.create_rule(
                    ListenerArn=listener_arn, Priority=rule.priority, Conditions=conditions, Actions=actions,
                    Tags=_tags({**self._base_tags(stack.stack_id),
                                "ingress.k8s.aws/resource": f"{_LISTENER_PORT}:{rule.priority}"}),
                )
            elif not (_same_actions(existing["Actions"], actions)
                      and _same_conditions(existing["Conditions"], conditions)):
                await self._elbv2.modify_rule(
                    RuleArn=existing["RuleArn"], Conditions=conditions, Actions=actions
                )
        for leftover in current.values():
            await self._elbv2.delete_rule(RuleArn=leftover["RuleArn"])

    async def _stack_target_groups(self, stack_id: str) -> list[str]:
        """ARNs of the TGs tagged with this stack (DescribeTags in chunks of 20)."""
        found = await self._elbv2.describe_target_groups()
        all_arns = [str(tg["TargetGroupArn"]) for tg in found["TargetGroups"]]
        owned: list[str] = []
        for start in range(0, len(all_arns), 20):
            described = await self._elbv2.describe_tags(ResourceArns=all_arns[start:start + 20])
            for item in described["TagDescriptions"]:
                tags = {t["Key"]: t["Value"] for t in item.get("Tags") or []}
                if (tags.get("ingress.k8s.aws/stack") == stack_id
                        and tags.get("elbv2.k8s.aws/cluster") == self._cluster):
                    owned.append(str(item["ResourceArn"]))
        return owned

    async def deploy(self, stack: models.StackModel) -> Deployed:
        try:
            return await self._deploy(stack)
        except ClientError:
            self._forget(stack)
            raise

    async def _deploy(self, stack: models.StackModel) -> Deployed:
        network = self._network = self._network or await aws.ensure_network(self._ec2)
        lb_arn, dns_name = await self._load_balancer(stack, network)
        tg_arns = {
            tg.resource_id: await self._target_group(stack, tg, network.vpc_id) for tg in stack.target_groups
        }
        arns = {models.TargetRef(resource_id=rid): arn for rid, arn in tg_arns.items()}
        await self._outside_arns(stack, arns)
        listener_arn = await self._listener(lb_arn, stack, aws_action(stack.default_action, arns))
        await self._rules(listener_arn, stack, arns)
        owned = self._owned.get(stack.stack_id)
        if owned is None:
            owned = set(await self._stack_target_groups(stack.stack_id))
        wanted = set(tg_arns.values())
        for arn in sorted(owned - wanted):
            if await self._delete_target_group(arn):
                owned.discard(arn)
        self._owned[stack.stack_id] = owned | wanted
        return Deployed(lb_arn=lb_arn, dns_name=dns_name, vpc_id=network.vpc_id, tg_arns=tg_arns)

    async def _delete_target_group(self, arn: str) -> bool:
        """False when AWS keeps it for now."""
        try:
            await self._elbv2.delete_target_group(TargetGroupArn=arn)
        except ClientError as err:
            # Still referenced by another stack's rule: the next reconcile of that stack frees it.
            if _code(err) != "ResourceInUse":
                raise
            return False
        for name in [name for name, known in self._tg_arns.items() if known == arn]:
            del self._tg_arns[name]
        return True

    async def delete(self, stack_id: str, lb_name: str) -> None:
        """Remove the stack's ALB (with its listeners and rules) and its target groups."""
        try:
            found = await self._elbv2.describe_load_balancers(Names=[lb_name])
        except ClientError as err:
            if _code(err) != "LoadBalancerNotFound":
                raise
        else:
            lb_arn = found["LoadBalancers"][0]["LoadBalancerArn"]
            listeners = await self._elbv2.describe_listeners(LoadBalancerArn=lb_arn)
            for listener in listeners["Listeners"]:
                await self._elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
            await self._elbv2.delete_load_balancer(LoadBalancerArn=lb_arn)
        for arn in await self._stack_target_groups(stack_id):
            await self._delete_target_group(arn)
        self._owned.pop(stack_id, None)
