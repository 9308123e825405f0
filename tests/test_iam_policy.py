"""k8s/iam-policy.json is the least the controller's AWS calls need, read from the code (tests/e2e/
test_least_privilege.py checks it against the calls a real run makes).

Aspects: the policy is an IAM policy document (version 2012-10-17, Allow statements with Sids, no wildcard
action); `Resource` is `*`, as none of these read-only actions supports resource-level permissions; its
actions are exactly the AWS operations service/ names: the ELBv2 operations given to the client wrapper's
`call`/`pages`, and every operation method called in a module that creates a client (CloudWatch's
`get_metric_data`), each checked to be an operation of that service in botocore's model, with its IAM prefix
(`elasticloadbalancing`, `cloudwatch`); only read actions are allowed (Describe*, Get*).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "service"
IAM_PREFIX = {"elbv2": "elasticloadbalancing", "cloudwatch": "cloudwatch"}
"""botocore's client name -> the IAM action prefix of its API."""
_WRAPPED = re.compile(r"\.(?:call|pages)\(\s*\"([A-Za-z]+)\"")
_CLIENT = re.compile(r"create_client\(\s*\"([a-z0-9-]+)\"")
_METHOD = re.compile(r"\.([a-z][a-z0-9_]*)\(")


def policy() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / "k8s" / "iam-policy.json").read_text())
    return document


def allowed() -> set[str]:
    return {action for statement in policy()["Statement"] for action in statement["Action"]}


def operations(client: str) -> set[str]:
    """The operation names botocore's model of `client` has."""
    return set(botocore.session.get_session().get_service_model(client).operation_names)


def called_in_code() -> set[str]:
    """IAM actions of every AWS operation service/ calls."""
    sources = {path: path.read_text() for path in SERVICE.rglob("*.py")}
    elbv2 = operations("elbv2")
    found: set[str] = set()
    for text in sources.values():
        for name in _WRAPPED.findall(text):  # service.aws.elbv2.Elbv2Client.call/pages: ELBv2 operations
            assert name in elbv2, name
            found.add(f"{IAM_PREFIX['elbv2']}:{name}")
        for client in _CLIENT.findall(text):
            by_method = {xform_name(name): name for name in operations(client)}
            found |= {f"{IAM_PREFIX[client]}:{by_method[method]}" for method in _METHOD.findall(text)
                      if method in by_method}
    return found


def test_the_policy_is_an_allow_only_document_on_every_resource() -> None:
    document = policy()
    assert document["Version"] == "2012-10-17"
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Sid"]
        assert statement["Resource"] == "*"
        assert not [action for action in statement["Action"] if "*" in action]


def test_the_policy_allows_exactly_the_operations_the_code_calls() -> None:
    code = called_in_code()
    assert {"elasticloadbalancing:DescribeTargetHealth", "cloudwatch:GetMetricData"} <= code  # the scan works
    assert sorted(allowed()) == sorted(code)


def test_the_policy_allows_only_reads() -> None:
    assert [action for action in allowed() if not action.split(":")[1].startswith(("Describe", "Get"))] == []
