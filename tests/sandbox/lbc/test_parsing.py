"""Annotation parsing as the real LBC decodes it: case-insensitive JSON keys, unknown keys ignored,
servicePort normalisation, the simplified single-ARN form, stickiness, the controller's validation errors
(exact texts), missing annotations, and conditions (http-header, host/path, query-string, method) with their
errors."""

from __future__ import annotations

import pytest

from sandbox.lbc import parsing
from sandbox.lbc.parsing import BuildError, Condition, FixedResponse, Forward, Stickiness, TargetTuple

KEY = "alb.ingress.kubernetes.io/actions.stable"
COND = "alb.ingress.kubernetes.io/conditions.stable"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"80",'
            '"Weight":10},{"ServiceName":"stable","ServicePort":"80","Weight":90}]}}',
            Forward((TargetTuple("canary", "80", weight=10), TargetTuple("stable", "80", weight=90))),
            id="argo-capitalised",
        ),
        pytest.param(
            '{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"canary","servicePort":80,'
            '"weight":10},{"serviceName":"stable","servicePort":80,"weight":90}]}}',
            Forward((TargetTuple("canary", "80", weight=10), TargetTuple("stable", "80", weight=90))),
            id="docs-camelcase-int-port",
        ),
        pytest.param(
            '{"TYPE":"forward","FORWARDCONFIG":{"TARGETGROUPS":[{"SERVICENAME":"stable","SERVICEPORT":"http"}]}}',
            Forward((TargetTuple("stable", "http"),)),
            id="upper-case-keys-named-port",
        ),
        pytest.param(
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"stable","ServicePort":"80",'
            '"Weigth":5}]}}',
            Forward((TargetTuple("stable", "80"),)),
            id="unknown-key-ignored-single-group",
        ),
        pytest.param(
            '{"Type":"forward","TargetGroupARN":"arn:tg"}',
            Forward((TargetTuple(target_group_arn="arn:tg"),)),
            id="simplified-arn",
        ),
        pytest.param(
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"stable","ServicePort":"80",'
            '"Weight":100}],"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":300}}}',
            Forward((TargetTuple("stable", "80", weight=100),), Stickiness(True, 300)),
            id="stickiness",
        ),
        pytest.param(
            '{"type":"fixed-response","fixedResponseConfig":{"statusCode":"503","contentType":"text/plain"}}',
            FixedResponse("503", "text/plain"),
            id="fixed-response",
        ),
    ],
)
def test_actions_parse_like_go(raw: str, expected: parsing.Action) -> None:
    assert parsing.parse_action({KEY: raw}, "stable") == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"80",'
            '"Weight":10},{"ServiceName":"stable","ServicePort":"80"}]}}',
            "invalid ForwardConfig: weight must be set when route to multiple target groups",
            id="missing-weight",
        ),
        pytest.param(
            '{"Type":"forward"}', "missing ForwardConfig or TargetGroupARN/TargetGroupName", id="no-config"
        ),
        pytest.param('{"Type":"forwrd"}', "unknown action type: forwrd", id="unknown-type"),
        pytest.param(
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"stable"}]}}',
            "invalid ForwardConfig: invalid TargetGroupTuple: missing servicePort",
            id="missing-port",
        ),
        pytest.param(
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"Weight":1}]}}',
            "invalid ForwardConfig: invalid TargetGroupTuple: "
            "missing serviceName or targetGroupARN/targetGroupName",
            id="missing-service",
        ),
        pytest.param(
            '{"Type":"forward","TargetGroupARN":"a","ForwardConfig":{"TargetGroups":[]}}',
            "either ForwardConfig or TargetGroupARN/TargetGroupName can be specified",
            id="both-forms",
        ),
        pytest.param('{"Type":"fixed-response"}', "missing FixedResponseConfig", id="fixed-no-config"),
        pytest.param(
            '{"Type":"redirect","RedirectConfig":{"Host":"x"}}',
            "invalid RedirectConfig: statusCode is required",
            id="redirect-no-status",
        ),
        pytest.param(
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"a","ServicePort":"80",'
            '"Weight":"ten"}]}}',
            "invalid ForwardConfig: json: cannot unmarshal string into Go struct field "
            "TargetGroupTuple.weight of type int32",
            id="weight-string",
        ),
        pytest.param("[]", "json: cannot unmarshal array into Go value of type ingress.Action",
                     id="not-an-object"),
        pytest.param(
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"a","ServicePort":true}]}}',
            "invalid ForwardConfig: intstr: cannot unmarshal servicePort",
            id="port-bool",
        ),
        pytest.param(
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"a","ServicePort":"80",'
            '"TargetGroupARN":"arn:tg"}]}}',
            "invalid ForwardConfig: invalid TargetGroupTuple: "
            "either serviceName or targetGroupARN/targetGroupName can be specified",
            id="service-and-arn",
        ),
        pytest.param('{"Type":"redirect"}', "missing RedirectConfig", id="redirect-no-config"),
        pytest.param(
            '{"Type":"fixed-response","FixedResponseConfig":{"ContentType":"text/plain"}}',
            "invalid FixedResponseConfig: statusCode is required",
            id="fixed-no-status",
        ),
    ],
)
def test_invalid_actions_raise_the_controllers_message(raw: str, message: str) -> None:
    with pytest.raises(BuildError) as err:
        parsing.parse_action({KEY: raw}, "stable")
    assert str(err.value) == message


def test_unparseable_json_names_the_key_and_value() -> None:
    with pytest.raises(BuildError) as err:
        parsing.parse_action({KEY: "{not json"}, "stable")
    assert str(err.value).startswith(f"failed to parse json annotation, {KEY}: {{not json: ")


def test_missing_action_is_none_and_other_prefix_is_honoured() -> None:
    assert parsing.parse_action({}, "stable") is None
    raw = '{"Type":"fixed-response","FixedResponseConfig":{"StatusCode":"200"}}'
    custom = {"custom.io/actions.stable": raw}
    assert parsing.parse_action(custom, "stable", prefix="custom.io") == FixedResponse("200")
    assert parsing.parse_action({"custom.io/actions.stable": raw}, "stable") is None


def test_conditions_parse_with_any_key_case() -> None:
    raw = ('[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Canary","values":["yes"]}},'
           '{"Field":"host-header","HostHeaderConfig":{"Values":["a.example.com"]}},'
           '{"field":"query-string","queryStringConfig":{"values":[{"key":"v","value":"2"}]}},'
           '{"field":"http-request-method","httpRequestMethodConfig":{"values":["GET"]}}]')
    assert parsing.parse_conditions({COND: raw}, "stable") == (
        Condition("http-header", values=("yes",), header_name="X-Canary"),
        Condition("host-header", values=("a.example.com",)),
        Condition("query-string", query=(("v", "2"),)),
        Condition("http-request-method", values=("GET",)),
    )
    assert parsing.parse_conditions({}, "stable") == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param('[{"field":"http-header"}]', "missing httpHeaderConfig", id="no-config"),
        pytest.param(
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X"}}]',
            "invalid httpHeaderConfig: values or regexValues must be specified",
            id="no-values",
        ),
        pytest.param(
            '[{"field":"path-pattern","pathPatternConfig":{"values":["/a"],"regexValues":["^/a"]}}]',
            "invalid pathPatternConfig: precisely one of values and regexValues can be specified",
            id="both-values",
        ),
        pytest.param(
            '[{"field":"source-ip","sourceIPConfig":{"values":[]}}]',
            "invalid sourceIPConfig: values cannot be empty",
            id="empty-source-ip",
        ),
        pytest.param(
            '[{"field":"query-string","queryStringConfig":{"values":[{"key":"v"}]}}]',
            "invalid queryStringConfig: value cannot be empty",
            id="query-without-value",
        ),
        pytest.param(
            '[{"field":"query-string","queryStringConfig":{"values":[]}}]',
            "invalid queryStringConfig: Values cannot be empty",
            id="query-without-pairs",
        ),
        pytest.param(
            '[{"field":"host-header","hostHeaderConfig":{"values":[1]}}]',
            "json: cannot unmarshal into Go struct field hostHeaderConfig.values of type []string",
            id="values-not-strings",
        ),
        pytest.param(
            '["host-header"]',
            "json: cannot unmarshal string into Go value of type ingress.RuleCondition",
            id="condition-not-an-object",
        ),
    ],
)
def test_invalid_conditions_raise(raw: str, message: str) -> None:
    with pytest.raises(BuildError) as err:
        parsing.parse_conditions({COND: raw}, "stable")
    assert str(err.value) == message


def test_conditions_must_be_a_list() -> None:
    with pytest.raises(BuildError) as err:
        parsing.parse_conditions({COND: "{}"}, "stable")
    assert str(err.value) == f"failed to parse json annotation, {COND}: {{}}: not a JSON list"
