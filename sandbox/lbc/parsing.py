"""LBC simulator, reading room: parses an Ingress's ALB annotations as the real controller decodes them.

JSON object keys match struct fields case-insensitively and unknown keys are ignored (Go's encoding/json);
error texts follow the controller's. Pure: it never touches storage or AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLASS_ANNOTATION",
    "PREFIX",
    "Action",
    "BuildError",
    "Condition",
    "FixedResponse",
    "Forward",
    "Redirect",
    "Stickiness",
    "TargetTuple",
    "parse_action",
    "parse_conditions",
]

PREFIX = "alb.ingress.kubernetes.io"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"


class BuildError(Exception):
    """A model cannot be built from the Ingress (reported as a FailedBuildModel event)."""


@dataclass(frozen=True, slots=True)
class TargetTuple:
    """One forward destination: a Service port (as written: "80" or "http") or an outside target group."""

    service_name: str | None = None
    service_port: str | None = None
    target_group_arn: str | None = None
    target_group_name: str | None = None
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class Stickiness:
    enabled: bool | None
    duration_seconds: int | None


@dataclass(frozen=True, slots=True)
class Forward:
    target_groups: tuple[TargetTuple, ...]
    stickiness: Stickiness | None = None


@dataclass(frozen=True, slots=True)
class FixedResponse:
    status_code: str
    content_type: str | None = None
    message_body: str | None = None


@dataclass(frozen=True, slots=True)
class Redirect:
    status_code: str
    host: str | None = None
    path: str | None = None
    port: str | None = None
    protocol: str | None = None
    query: str | None = None


Action = Forward | FixedResponse | Redirect


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule condition; `query` holds (key, value) pairs for query-string."""

    field: str
    values: tuple[str, ...] = ()
    regex_values: tuple[str, ...] = ()
    header_name: str = ""
    query: tuple[tuple[str | None, str], ...] = ()


def _field(obj: Mapping[str, Any], name: str) -> Any:
    """Go's decoder: a key names a field regardless of case; when several do, the last one wins."""
    found: Any = None
    folded = name.casefold()
    for key, value in obj.items():
        if key.casefold() == folded:
            found = value
    return found


_GO_TYPES = {str: "string", int: "int32", bool: "bool", list: "slice", dict: "struct"}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _typed(obj: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = _field(obj, name)
    if value is None:
        return None
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise BuildError(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {where}.{name} "
            f"of type {_GO_TYPES[kind]}"
        )
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BuildError(f"json: cannot unmarshal {_json_kind(value)} into Go value of type {where}")
    return value


def _load(annotations: Mapping[str, str], key: str) -> tuple[bool, Any]:
    raw = annotations.get(key)
    if raw is None:
        return False, None
    try:
        return True, json.loads(raw)
    except json.JSONDecodeError as err:
        raise BuildError(f"failed to parse json annotation, {key}: {raw}: {err}") from None


def _tuple(raw: Any) -> TargetTuple:
    obj = _object(raw, "ingress.TargetGroupTuple")
    port = _field(obj, "servicePort")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int | str)):
        raise BuildError("intstr: cannot unmarshal servicePort")
    found = TargetTuple(
        service_name=_typed(obj, "serviceName", str, "TargetGroupTuple"),
        service_port=None if port is None else str(port),
        target_group_arn=_typed(obj, "targetGroupARN", str, "TargetGroupTuple"),
        target_group_name=_typed(obj, "targetGroupName", str, "TargetGroupTuple"),
        weight=_typed(obj, "weight", int, "TargetGroupTuple"),
    )
    outside = found.target_group_arn is not None or found.target_group_name is not None
    if not outside and found.service_name is None:
        raise BuildError("invalid TargetGroupTuple: missing serviceName or targetGroupARN/targetGroupName")
    if outside and found.service_name is not None:
        raise BuildError(
            "invalid TargetGroupTuple: either serviceName or targetGroupARN/targetGroupName can be specified"
        )
    if found.service_name is not None and found.service_port is None:
        raise BuildError("invalid TargetGroupTuple: missing servicePort")
    return found


def _forward(obj: Mapping[str, Any]) -> Forward:
    arn = _typed(obj, "targetGroupARN", str, "Action")
    name = _typed(obj, "targetGroupName", str, "Action")
    config = _field(obj, "forwardConfig")
    if arn is None and name is None and config is None:
        raise BuildError("missing ForwardConfig or TargetGroupARN/TargetGroupName")
    if (arn is not None or name is not None) and config is not None:
        raise BuildError("either ForwardConfig or TargetGroupARN/TargetGroupName can be specified")
    if config is None:
        return Forward(target_groups=(TargetTuple(target_group_arn=arn, target_group_name=name),))
    config = _object(config, "ingress.ForwardActionConfig")
    raw_groups = _typed(config, "targetGroups", list, "ForwardActionConfig") or []
    try:
        groups = tuple(_tuple(item) for item in raw_groups)
    except BuildError as err:
        raise BuildError(f"invalid ForwardConfig: {err}") from None
    if len(groups) > 1 and any(group.weight is None for group in groups):
        raise BuildError("invalid ForwardConfig: weight must be set when route to multiple target groups")
    sticky_raw = _field(config, "targetGroupStickinessConfig")
    stickiness = None
    if sticky_raw is not None:
        sticky = _object(sticky_raw, "ingress.TargetGroupStickinessConfig")
        stickiness = Stickiness(
            enabled=_typed(sticky, "enabled", bool, "TargetGroupStickinessConfig"),
            duration_seconds=_typed(sticky, "durationSeconds", int, "TargetGroupStickinessConfig"),
        )
    return Forward(target_groups=groups, stickiness=stickiness)


def _status_config(action: Mapping[str, Any], name: str, go_type: str) -> tuple[dict[str, Any], str]:
    """The `<name>` object of a fixed-response or redirect action and its required statusCode."""
    raw = _field(action, name[0].lower() + name[1:])
    if raw is None:
        raise BuildError(f"missing {name}")
    config = _object(raw, f"ingress.{go_type}")
    status = _typed(config, "statusCode", str, go_type) or ""
    if not status:
        raise BuildError(f"invalid {name}: statusCode is required")
    return config, str(status)


def parse_action(annotations: Mapping[str, str], name: str, *, prefix: str = PREFIX) -> Action | None:
    """The action `<prefix>/actions.<name>`, or None when the annotation is absent."""
    key = f"{prefix}/actions.{name}"
    exists, raw = _load(annotations, key)
    if not exists:
        return None
    obj = _object(raw, "ingress.Action")
    kind = _typed(obj, "type", str, "Action")
    if kind == "forward":
        return _forward(obj)
    if kind == "fixed-response":
        config, status = _status_config(obj, "FixedResponseConfig", "FixedResponseActionConfig")
        return FixedResponse(
            status_code=status,
            content_type=_typed(config, "contentType", str, "FixedResponseActionConfig"),
            message_body=_typed(config, "messageBody", str, "FixedResponseActionConfig"),
        )
    if kind == "redirect":
        config, status = _status_config(obj, "RedirectConfig", "RedirectActionConfig")
        parts = {key: _typed(config, key, str, "RedirectActionConfig") for key in
                 ("host", "path", "port", "protocol", "query")}
        return Redirect(status_code=status, **parts)
    raise BuildError(f"unknown action type: {kind if kind is not None else ''}")


_CONDITION_CONFIGS = {
    "host-header": "hostHeaderConfig",
    "path-pattern": "pathPatternConfig",
    "http-header": "httpHeaderConfig",
    "http-request-method": "httpRequestMethodConfig",
    "query-string": "queryStringConfig",
    "source-ip": "sourceIPConfig",
}


def _strings(config: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    values = _typed(config, name, list, where) or []
    if not all(isinstance(value, str) for value in values):
        raise BuildError(f"json: cannot unmarshal into Go struct field {where}.{name} of type []string")
    return tuple(values)


def _condition(raw: Any) -> Condition:
    obj = _object(raw, "ingress.RuleCondition")
    field = _typed(obj, "field", str, "RuleCondition") or ""
    config_name = _CONDITION_CONFIGS.get(field)
    if config_name is None:
        return Condition(field=field)
    config_raw = _field(obj, config_name)
    if config_raw is None:
        raise BuildError(f"missing {config_name}")
    config = _object(config_raw, f"ingress.{config_name}")
    if field == "query-string":
        pairs: list[tuple[str | None, str]] = []
        for item in _typed(config, "values", list, "QueryStringConditionConfig") or []:
            pair = _object(item, "ingress.QueryStringKeyValuePair")
            value = _typed(pair, "value", str, "QueryStringKeyValuePair") or ""
            if not value:
                raise BuildError(f"invalid {config_name}: value cannot be empty")
            pairs.append((_typed(pair, "key", str, "QueryStringKeyValuePair"), value))
        if not pairs:
            raise BuildError(f"invalid {config_name}: Values cannot be empty")
        return Condition(field=field, query=tuple(pairs))
    values = _strings(config, "values", config_name)
    if field in ("http-request-method", "source-ip"):
        if not values:
            raise BuildError(f"invalid {config_name}: values cannot be empty")
        return Condition(field=field, values=values)
    regex_values = _strings(config, "regexValues", config_name)
    if not values and not regex_values:
        raise BuildError(f"invalid {config_name}: values or regexValues must be specified")
    if values and regex_values:
        raise BuildError(f"invalid {config_name}: precisely one of values and regexValues can be specified")
    header = ""
    if field == "http-header":
        header = _typed(config, "httpHeaderName", str, "HTTPHeaderConditionConfig") or ""
    return Condition(field=field, values=values, regex_values=regex_values, header_name=header)


def parse_conditions(
    annotations: Mapping[str, str], name: str, *, prefix: str = PREFIX
) -> tuple[Condition, ...]:
    """The conditions `<prefix>/conditions.<name>` (empty when the annotation is absent)."""
    key = f"{prefix}/conditions.{name}"
    exists, raw = _load(annotations, key)
    if not exists or raw is None:
        return ()
    if not isinstance(raw, list):
        raise BuildError(f"failed to parse json annotation, {key}: {annotations[key]}: not a JSON list")
    return tuple(_condition(item) for item in raw)

