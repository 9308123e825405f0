"""The LBC simulator against moto and the Storage API, read back through aiobotocore: an `alb` Ingress becomes
an internet-facing ALB with an HTTP:80 listener, tagged target groups (IP type), rules whose weights equal the
annotation's, TargetGroupBindings and the Ingress hostname; weight changes are a ModifyRule in place; targets
follow EndpointSlices; header conditions and lower-case JSON keys; the knobs (lagSeconds, paused,
rejectActions) and the validation of every knob (all or nothing); bad annotations give one FailedBuildModel
event and leave AWS as it was; non-alb Ingresses are ignored; deleting the Ingress removes the ALB, its target
groups and bindings; a defaultBackend action is the listener's default (ModifyListener in place); a group
shares one ALB; an AWS refusal gives one FailedDeployModel event and is retried with backoff; a binding to a
missing target group does not block the simulator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sandbox.apiserver.storage import Storage
from sandbox.lbc import LoadBalancerController
from tests.sandbox.lbc import manifests
from tests.sandbox.lbc.manifests import INGRESSES, SLICES, TGBS
from tests.sandbox.polling import DEADLINE, eventually

ACTION = "alb.ingress.kubernetes.io/actions.stable"
LAG = 0.5
ARN_PREFIX = "arn:aws:elasticloadbalancing:us-east-1:123456789012"


async def _tags(elbv2: Any, arn: str) -> dict[str, str]:
    described = await elbv2.describe_tags(ResourceArns=[arn])
    return {t["Key"]: t["Value"] for t in described["TagDescriptions"][0]["Tags"]}


async def _alb(elbv2: Any, storage: Storage, name: str = "app") -> dict[str, Any]:
    ingress = storage.get(INGRESSES, "default", name)
    assert ingress is not None
    entries = (ingress.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
    assert entries, "no hostname yet"
    found = [lb for lb in (await elbv2.describe_load_balancers())["LoadBalancers"]
             if lb["DNSName"].lower() == entries[0]["hostname"]]
    assert len(found) == 1
    return dict(found[0])


async def _rules(elbv2: Any, storage: Storage) -> list[dict[str, Any]]:
    lb = await _alb(elbv2, storage)
    (listener,) = (await elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"]))["Listeners"]
    return list((await elbv2.describe_rules(ListenerArn=listener["ListenerArn"]))["Rules"])


async def _weights(elbv2: Any, storage: Storage, priority: str = "1") -> dict[str, int]:
    """Weights of one rule keyed by the target groups' ingress.k8s.aws/resource tag."""
    (rule,) = [r for r in await _rules(elbv2, storage) if r["Priority"] == priority]
    (action,) = rule["Actions"]
    return {(await _tags(elbv2, tg["TargetGroupArn"]))["ingress.k8s.aws/resource"]: tg["Weight"]
            for tg in action["ForwardConfig"]["TargetGroups"]}


async def _targets(elbv2: Any, storage: Storage, service: str) -> set[tuple[str, int]]:
    (tgb,) = [t for t in storage.list(TGBS) if t["spec"]["serviceRef"]["name"] == service]
    health = await elbv2.describe_target_health(TargetGroupArn=tgb["spec"]["targetGroupARN"])
    return {(d["Target"]["Id"], d["Target"]["Port"]) for d in health["TargetHealthDescriptions"]}


def _setup(storage: Storage, action: str, **kwargs: Any) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1", "10.0.1.2"], canary=["10.0.2.1"])
    storage.create(INGRESSES, manifests.ingress(annotations={ACTION: action}, **kwargs))


def _set_action(storage: Storage, action: str) -> None:
    storage.merge_patch(INGRESSES, "default", "app", {"metadata": {"annotations": {ACTION: action}}})


def _events(storage: Storage, reason: str) -> list[str]:
    return [e["message"] for e in storage.list("events", "default") if e["reason"] == reason]


async def test_alb_ingress_becomes_a_tagged_alb_with_the_annotation_weights(lbc, storage, elbv2) -> None:
    _setup(storage, manifests.forward(("canary", 10), ("stable", 90)))
    weights = await eventually(lambda: _weights(elbv2, storage))
    assert weights == {"default/app-canary:80": 10, "default/app-stable:80": 90}
    lb = await _alb(elbv2, storage)
    assert lb["Scheme"] == "internet-facing" and lb["Type"] == "application"
    assert await _tags(elbv2, lb["LoadBalancerArn"]) == {
        "elbv2.k8s.aws/cluster": "test", "ingress.k8s.aws/stack": "default/app",
        "ingress.k8s.aws/resource": "LoadBalancer",
    }
    (listener,) = (await elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"]))["Listeners"]
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")
    assert listener["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"] == "404"
    tgbs = storage.list(TGBS, "default")
    assert sorted(t["spec"]["serviceRef"]["name"] for t in tgbs) == ["canary", "stable"]
    for tgb in tgbs:
        described = await elbv2.describe_target_groups(TargetGroupArns=[tgb["spec"]["targetGroupARN"]])
        (tg,) = described["TargetGroups"]
        assert tg["TargetType"] == "ip" and tg["TargetGroupName"] == tgb["metadata"]["name"]
        assert await _tags(elbv2, tg["TargetGroupArn"]) == {
            "elbv2.k8s.aws/cluster": "test", "ingress.k8s.aws/stack": "default/app",
            "ingress.k8s.aws/resource": f"default/app-{tgb['spec']['serviceRef']['name']}:80",
        }
        assert tgb["metadata"]["labels"] == {"ingress.k8s.aws/stack-namespace": "default",
                                             "ingress.k8s.aws/stack-name": "app"}
    status = storage.get(INGRESSES, "default", "app")["status"]["loadBalancer"]["ingress"]
    assert status == [{"hostname": lb["DNSName"].lower(), "ports": [{"port": 80, "protocol": "TCP"}]}]
    assert _events(storage, "SuccessfullyReconciled") == ["Successfully reconciled"]


async def test_weight_change_is_a_modify_rule_in_place(lbc, storage, elbv2) -> None:
    _setup(storage, manifests.forward(("canary", 10), ("stable", 90), sticky=600))
    await eventually(lambda: _weights(elbv2, storage))
    (before,) = [r["RuleArn"] for r in await _rules(elbv2, storage) if not r["IsDefault"]]
    _set_action(storage, manifests.forward(("canary", 40), ("stable", 60), sticky=600))

    async def moved() -> None:
        assert await _weights(elbv2, storage) == {"default/app-canary:80": 40, "default/app-stable:80": 60}

    await eventually(moved)
    (rule,) = [r for r in await _rules(elbv2, storage) if not r["IsDefault"]]
    assert rule["RuleArn"] == before
    assert rule["Actions"][0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {
        "Enabled": True, "DurationSeconds": 600}


async def test_registered_targets_follow_ready_endpoints(lbc, storage, elbv2) -> None:
    _setup(storage, manifests.forward(("canary", 10), ("stable", 90)))

    async def registered(expected: set[tuple[str, int]]) -> None:
        assert await _targets(elbv2, storage, "stable") == expected

    await eventually(lambda: registered({("10.0.1.1", 8080), ("10.0.1.2", 8080)}))
    storage.merge_patch(SLICES, "default", "stable-slice", {"endpoints": [
        {"addresses": ["10.0.1.2"], "conditions": {"ready": True}},
        {"addresses": ["10.0.1.3"], "conditions": {"ready": True}},
        {"addresses": ["10.0.1.4"], "conditions": {"ready": False}},
    ]})
    await eventually(lambda: registered({("10.0.1.2", 8080), ("10.0.1.3", 8080)}))
    assert await _targets(elbv2, storage, "canary") == {("10.0.2.1", 8080)}


async def test_header_conditions_and_lower_case_keys(lbc, storage, elbv2) -> None:
    annotations = {
        "alb.ingress.kubernetes.io/actions.canary-route":
            '{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"canary","servicePort":80,'
            '"weight":100},{"serviceName":"stable","servicePort":80,"weight":0}]}}',
        "alb.ingress.kubernetes.io/conditions.canary-route":
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Canary","values":["always"]}}]',
        ACTION: manifests.forward(("canary", 0), ("stable", 100)),
    }
    paths = manifests.action_paths("canary-route", "stable")
    manifests.backend_pair(storage, stable=["10.0.1.1"], canary=["10.0.2.1"])
    storage.create(INGRESSES, manifests.ingress(annotations=annotations, paths=paths))
    first = await eventually(lambda: _weights(elbv2, storage, "1"))
    assert first == {"default/app-canary:80": 100, "default/app-stable:80": 0}
    assert await _weights(elbv2, storage, "2") == {"default/app-canary:80": 0, "default/app-stable:80": 100}
    (rule,) = [r for r in await _rules(elbv2, storage) if r["Priority"] == "1"]
    assert rule["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}},
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["always"]}},
    ]


async def test_lag_delays_changes(lbc, storage, elbv2) -> None:
    _setup(storage, manifests.forward(("canary", 10), ("stable", 90)))
    await eventually(lambda: _weights(elbv2, storage))
    assert lbc.configure({"lagSeconds": LAG}) == {
        "lagSeconds": LAG, "paused": False, "rejectActions": False, "targetRegistrationSeconds": 0.0,
        "targetInitialSeconds": 0.0, "deregistrationDelaySeconds": 0.0}
    loop = asyncio.get_running_loop()
    started = loop.time()
    _set_action(storage, manifests.forward(("canary", 50), ("stable", 50)))
    assert await _weights(elbv2, storage) == {"default/app-canary:80": 10, "default/app-stable:80": 90}

    async def applied() -> None:
        assert await _weights(elbv2, storage) == {"default/app-canary:80": 50, "default/app-stable:80": 50}

    await eventually(applied)
    assert loop.time() - started >= LAG


async def test_paused_keeps_aws_until_resumed(lbc, storage, elbv2) -> None:
    _setup(storage, manifests.forward(("canary", 10), ("stable", 90)))
    await eventually(lambda: _weights(elbv2, storage))
    lbc.configure({"paused": True})
    _set_action(storage, manifests.forward(("canary", 30), ("stable", 70)))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await lbc.settled()
    assert await _weights(elbv2, storage) == {"default/app-canary:80": 10, "default/app-stable:80": 90}
    lbc.configure({"paused": False})
    async with asyncio.timeout(DEADLINE):
        await lbc.settled()
    assert await _weights(elbv2, storage) == {"default/app-canary:80": 30, "default/app-stable:80": 70}


async def test_reject_actions_gives_failed_build_model_and_keeps_aws(lbc, storage, elbv2) -> None:
    _setup(storage, manifests.forward(("canary", 10), ("stable", 90)))
    await eventually(lambda: _weights(elbv2, storage))
    lbc.configure({"rejectActions": True})
    wanted = manifests.forward(("canary", 20), ("stable", 80))
    _set_action(storage, wanted)
    async with asyncio.timeout(DEADLINE):
        await lbc.settled()
    assert _events(storage, "FailedBuildModel") == [
        f"Failed build model due to failed to parse json annotation, {ACTION}: {wanted}: "
        "rejected by the sandbox (rejectActions)"
    ]
    (event,) = [e for e in storage.list("events", "default") if e["reason"] == "FailedBuildModel"]
    assert (event["type"], event["involvedObject"]["kind"], event["involvedObject"]["name"]) == (
        "Warning", "Ingress", "app")
    assert await _weights(elbv2, storage) == {"default/app-canary:80": 10, "default/app-stable:80": 90}
    lbc.configure({"rejectActions": False})

    async def applied() -> None:
        assert await _weights(elbv2, storage) == {"default/app-canary:80": 20, "default/app-stable:80": 80}

    await eventually(applied)


async def test_bad_annotation_reports_once_and_keeps_aws(lbc, storage, elbv2) -> None:
    _setup(storage, manifests.forward(("canary", 10), ("stable", 90)))
    await eventually(lambda: _weights(elbv2, storage))
    _set_action(storage, '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary",'
                         '"ServicePort":"80","Weight":10},{"ServiceName":"stable","ServicePort":"80"}]}}')
    async with asyncio.timeout(DEADLINE):
        await lbc.settled()
    storage.merge_patch(INGRESSES, "default", "app", {"metadata": {"labels": {"touched": "yes"}}})
    async with asyncio.timeout(DEADLINE):
        await lbc.settled()
    assert _events(storage, "FailedBuildModel") == [
        "Failed build model due to invalid ForwardConfig: "
        "weight must be set when route to multiple target groups"
    ]
    assert await _weights(elbv2, storage) == {"default/app-canary:80": 10, "default/app-stable:80": 90}


async def test_non_alb_ingress_is_ignored(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1"], canary=[])
    storage.create(INGRESSES, manifests.ingress(class_name="nginx", use_annotation=False))
    async with asyncio.timeout(DEADLINE):
        await lbc.settled()
    assert (await elbv2.describe_load_balancers())["LoadBalancers"] == []
    assert "status" not in storage.get(INGRESSES, "default", "app") or not storage.get(
        INGRESSES, "default", "app")["status"].get("loadBalancer")
    assert storage.list(TGBS) == []


async def test_deleting_the_ingress_removes_alb_target_groups_and_bindings(lbc, storage, elbv2) -> None:
    _setup(storage, manifests.forward(("canary", 10), ("stable", 90)))
    await eventually(lambda: _weights(elbv2, storage))
    storage.delete(INGRESSES, "default", "app")

    async def gone() -> None:
        assert (await elbv2.describe_load_balancers())["LoadBalancers"] == []
        assert (await elbv2.describe_target_groups())["TargetGroups"] == []
        assert storage.list(TGBS) == []

    await eventually(gone)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"lagSeconds": -1}, "lagSeconds must be a number >= 0", id="negative-lag"),
        pytest.param({"lagSeconds": True}, "lagSeconds must be a number >= 0", id="bool-lag"),
        pytest.param({"paused": "yes"}, "paused must be true or false", id="paused-string"),
        pytest.param({"rejectActions": 1}, "rejectActions must be true or false", id="reject-int"),
        pytest.param({"lag": 1}, "unknown knob(s): lag", id="unknown"),
        pytest.param({"targetRegistrationSeconds": -0.1}, "targetRegistrationSeconds must be a number >= 0",
                     id="negative-registration"),
        pytest.param({"targetInitialSeconds": "1"}, "targetInitialSeconds must be a number >= 0",
                     id="string-initial"),
        pytest.param({"deregistrationDelaySeconds": float("inf")},
                     "deregistrationDelaySeconds must be a number >= 0", id="infinite-delay"),
        pytest.param({"lagSeconds": 1, "targetInitialSeconds": None},
                     "targetInitialSeconds must be a number >= 0", id="all-or-nothing"),
    ],
)
def test_knob_validation(body: dict[str, Any], message: str) -> None:
    controller = LoadBalancerController(Storage(), endpoint_url="http://127.0.0.1:1")
    with pytest.raises(ValueError) as err:
        controller.configure(body)
    assert str(err.value) == message
    assert controller.knobs.as_dict() == {
        "lagSeconds": 0.0, "paused": False, "rejectActions": False, "targetRegistrationSeconds": 0.0,
        "targetInitialSeconds": 0.0, "deregistrationDelaySeconds": 0.0}


async def test_default_backend_action_is_the_listener_default_modified_in_place(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1"], canary=["10.0.2.1"])
    made = manifests.ingress(annotations={ACTION: manifests.forward(("canary", 10), ("stable", 90))})
    made["spec"] = {"ingressClassName": "alb",
                    "defaultBackend": {"service": {"name": "stable", "port": {"name": "use-annotation"}}}}
    storage.create(INGRESSES, made)

    async def default_weights(expected: dict[str, int]) -> str:
        lb = await _alb(elbv2, storage)
        (listener,) = (await elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"]))["Listeners"]
        (action,) = listener["DefaultActions"]
        got = {(await _tags(elbv2, tg["TargetGroupArn"]))["ingress.k8s.aws/resource"]: tg["Weight"]
               for tg in action["ForwardConfig"]["TargetGroups"]}
        assert got == expected
        return str(listener["ListenerArn"])

    before = {"default/app-canary:80": 10, "default/app-stable:80": 90}
    after = {"default/app-canary:80": 25, "default/app-stable:80": 75}
    first = await eventually(lambda: default_weights(before))
    _set_action(storage, manifests.forward(("canary", 25), ("stable", 75)))
    second = await eventually(lambda: default_weights(after))
    assert first == second
    assert [r["IsDefault"] for r in await _rules(elbv2, storage)] == [True]


async def test_group_members_share_one_alb_with_rules_in_group_order(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1"], canary=["10.0.2.1"])
    for name, order, backend in (("zeta", "-5", "stable"), ("alpha", "0", "canary")):
        storage.create(INGRESSES, manifests.ingress(
            name=name, backend=backend, use_annotation=False, host=f"{name}.example.com",
            annotations={"alb.ingress.kubernetes.io/group.name": "shop",
                         "alb.ingress.kubernetes.io/group.order": order}))

    async def both_pointed() -> list[str]:
        hostnames = {storage.get(INGRESSES, "default", n)["status"]["loadBalancer"]["ingress"][0]["hostname"]
                     for n in ("zeta", "alpha")}
        assert len(hostnames) == 1
        (lb,) = (await elbv2.describe_load_balancers())["LoadBalancers"]
        assert (await _tags(elbv2, lb["LoadBalancerArn"]))["ingress.k8s.aws/stack"] == "shop"
        (listener,) = (await elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"]))["Listeners"]
        rules = (await elbv2.describe_rules(ListenerArn=listener["ListenerArn"]))["Rules"]
        ordered = sorted((r for r in rules if not r["IsDefault"]), key=lambda r: int(r["Priority"]))
        return [r["Conditions"][0]["HostHeaderConfig"]["Values"][0] for r in ordered]

    assert await eventually(both_pointed) == ["zeta.example.com", "alpha.example.com"]
    assert {t["metadata"]["labels"]["ingress.k8s.aws/stack"] for t in storage.list(TGBS)} == {"shop"}


async def test_aws_refusal_gives_failed_deploy_model_and_retries(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1"], canary=[])
    storage.create(INGRESSES, manifests.ingress(annotations={
        ACTION: '{"Type":"forward","TargetGroupName":"made-outside"}'}))

    async def reported() -> None:
        assert _events(storage, "FailedDeployModel") == [
            "Failed deploy model due to An error occurred (TargetGroupNotFound) when calling the "
            "DescribeTargetGroups operation: One or more target groups not found"
        ]

    await eventually(reported)
    network = (await elbv2.describe_load_balancers())["LoadBalancers"][0]
    made = await elbv2.create_target_group(Name="made-outside", Protocol="HTTP", Port=80,
                                           VpcId=network["VpcId"], TargetType="ip")
    outside = made["TargetGroups"][0]["TargetGroupArn"]

    async def recovered() -> None:
        (rule,) = [r for r in await _rules(elbv2, storage) if not r["IsDefault"]]
        assert [t["TargetGroupArn"] for t in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]] == [outside]

    await eventually(recovered)
    assert len(_events(storage, "FailedDeployModel")) == 1


async def test_binding_to_a_missing_target_group_does_not_block(lbc, storage, elbv2) -> None:
    manifests.backend_pair(storage, stable=["10.0.1.1"], canary=[])
    storage.create(TGBS, {
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
        "metadata": {"name": "orphan", "namespace": "default"},
        "spec": {"targetGroupARN": f"{ARN_PREFIX}:targetgroup/nope/0123456789ab", "targetType": "ip",
                 "serviceRef": {"name": "stable", "port": 80}},
    })
    async with asyncio.timeout(DEADLINE):
        await lbc.settled()
    assert (await elbv2.describe_target_groups())["TargetGroups"] == []
