"""The ELBv2 shapes the LBC simulator sends, without AWS: every condition kind (values and regexValues),
forward (weights, stickiness), fixed-response and redirect actions, and the controller's comparison of
actions (Order, a single tuple's weight and an "off" stickiness config do not count as changes)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.lbc import deploying, models, parsing
from sandbox.lbc.parsing import Condition

CANARY, STABLE = models.TargetRef(resource_id="canary"), models.TargetRef(resource_id="stable")
ARNS = {CANARY: "arn:canary", STABLE: "arn:stable"}


@pytest.mark.parametrize(("condition", "shape"), [
    pytest.param(Condition("host-header", values=("a.example.com",)),
                 {"Field": "host-header", "HostHeaderConfig": {"Values": ["a.example.com"]}}, id="host"),
    pytest.param(Condition("path-pattern", regex_values=("^/api",)),
                 {"Field": "path-pattern", "PathPatternConfig": {"RegexValues": ["^/api"]}}, id="path-regex"),
    pytest.param(Condition("http-header", values=("yes",), header_name="X-Canary"),
                 {"Field": "http-header",
                  "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["yes"]}}, id="header"),
    pytest.param(Condition("http-request-method", values=("GET", "HEAD")),
                 {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET", "HEAD"]}},
                 id="method"),
    pytest.param(Condition("source-ip", values=("10.0.0.0/8",)),
                 {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}, id="source-ip"),
    pytest.param(Condition("query-string", query=((None, "x"), ("v", "2"))),
                 {"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "x"},
                                                                           {"Key": "v", "Value": "2"}]}},
                 id="query"),
])
def test_condition_shapes(condition: Condition, shape: dict[str, Any]) -> None:
    assert deploying.aws_condition(condition) == shape


@pytest.mark.parametrize(("action", "shape"), [
    pytest.param(
        models.ForwardModel(((CANARY, 10), (STABLE, 90)), parsing.Stickiness(True, 300)),
        {"Type": "forward", "Order": 1, "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": "arn:canary", "Weight": 10},
                             {"TargetGroupArn": "arn:stable", "Weight": 90}],
            "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 300}}},
        id="weighted-sticky-forward",
    ),
    pytest.param(
        models.ForwardModel(((STABLE, None),)),
        {"Type": "forward", "Order": 1,
         "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "arn:stable"}]}},
        id="single-forward-without-weight",
    ),
    pytest.param(
        parsing.FixedResponse("503", "text/plain"),
        {"Type": "fixed-response", "Order": 1,
         "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain"}},
        id="fixed-response",
    ),
    pytest.param(
        parsing.Redirect("HTTP_301", protocol="HTTPS", port="443"),
        {"Type": "redirect", "Order": 1,
         "RedirectConfig": {"StatusCode": "HTTP_301", "Port": "443", "Protocol": "HTTPS"}},
        id="redirect",
    ),
])
def test_action_shapes(action: models.ActionModel, shape: dict[str, Any]) -> None:
    assert deploying.aws_action(action, ARNS) == shape


def _forward(*groups: tuple[str, int], sticky: dict[str, Any] | None = None,
             order: int = 1) -> dict[str, Any]:
    config: dict[str, Any] = {"TargetGroups": [{"TargetGroupArn": arn, "Weight": w} for arn, w in groups]}
    if sticky is not None:
        config["TargetGroupStickinessConfig"] = sticky
    return {"Type": "forward", "Order": order, "ForwardConfig": config}


@pytest.mark.parametrize(("current", "desired", "same"), [
    pytest.param(_forward(("a", 10), ("b", 90)), _forward(("b", 90), ("a", 10)), True, id="tuple-order"),
    pytest.param(_forward(("a", 10), ("b", 90), order=2), _forward(("a", 10), ("b", 90)), True, id="order"),
    pytest.param(_forward(("a", 1)), _forward(("a", 100)), True, id="single-tuple-weight"),
    pytest.param(_forward(("a", 1), sticky={"Enabled": False}), _forward(("a", 1)), True,
                 id="stickiness-off"),
    pytest.param(_forward(("a", 10), ("b", 90)), _forward(("a", 20), ("b", 80)), False, id="weights"),
    pytest.param(_forward(("a", 1)), _forward(("a", 1), sticky={"Enabled": True, "DurationSeconds": 60}),
                 False, id="stickiness-on"),
])
def test_action_comparison_follows_the_controller(current: dict[str, Any], desired: dict[str, Any],
                                                  same: bool) -> None:
    assert deploying._same_actions([current], [desired]) is same
