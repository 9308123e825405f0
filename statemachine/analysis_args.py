"""Analysis arguments: where their values come from, and the `{{args.name}}` templating of a metric.

Room: plan (pure). Ports utils/template (ResolveArgs over fasttemplate, with its errors),
utils/analysis ResolveMetricArgs / MergeArgs / BuildArgumentsForRolloutAnalysisRun, and the secret part of
analysis.go's resolveArgs. Nothing is read here: the caller passes the Rollout (a raw dict), the pod template
hashes and the Secrets it read, and gets values or an `ArgError` carrying the reference's message.

The reference templates the metric's JSON text as a whole; we template each string (and key) of the raw
metric, which gives the same values, except that a `{{` left open names the string rather than the JSON.
Public API: `ArgError`, `SECRET_PLACEHOLDER`, `template_string`, `arg_values`, `resolve_metric`,
`without_secrets`, `secret_names`, `resolve_secrets`, `merge_args`, `rollout_args`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from statemachine import go_text
from statemachine.analysis_spec import Argument, Metric, SpecError, parse_argument, parse_metric
from statemachine.raw import Raw, mapping

__all__ = [
    "SECRET_PLACEHOLDER",
    "ArgError",
    "Secrets",
    "arg_values",
    "merge_args",
    "resolve_metric",
    "resolve_secrets",
    "rollout_args",
    "secret_names",
    "template_string",
    "without_secrets",
]

SECRET_PLACEHOLDER = "temp-for-secret"
"""getResolvedMetricsWithoutSecrets: what a secret argument reads as when only the shape matters."""

Secrets = Mapping[str, Mapping[str, str] | str | None]
"""Secret name -> its decoded data; None (or absent): not found; a string: the error reading it."""

_START, _END = "{{", "}}"
_PATH_SEPARATORS = re.compile(r"[.\[\]]+")
_METRIC_KEY_ORDER = ("name", "interval", "initialDelay", "count", "successCondition", "failureCondition",
                     "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit", "provider",
                     "consecutiveSuccessLimit")


class ArgError(SpecError):
    """An argument that cannot be resolved; the message is the reference's."""


# --- templating --------------------------------------------------------------------------------------


def _open_tag_error(text: str) -> str | None:
    """fasttemplate.NewTemplate's complaint about a `{{` with no `}}` after it."""
    rest = text
    while (start := rest.find(_START)) >= 0:
        rest = rest[start + len(_START):]
        end = rest.find(_END)
        if end < 0:
            return (f"Cannot find end tag={go_text.go_quote(_END)} in the template={go_text.go_quote(text)} "
                    f"starting from {go_text.go_quote(rest)}")
        rest = rest[end + len(_END):]
    return None


def _substitute(text: str, values: Mapping[str, str], errors: list[str]) -> str:
    out: list[str] = []
    rest = text
    while (start := rest.find(_START)) >= 0:
        out.append(rest[:start])
        rest = rest[start + len(_START):]
        end = rest.find(_END)
        tag, rest = rest[:end], rest[end + len(_END):]
        value = values.get(tag.strip())
        if value is None:
            errors.append(f"failed to resolve {{{{{tag}}}}}")
        out.append(value or "")
    out.append(rest)
    return "".join(out)


def template_string(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `{{ args.x }}` replaced from `values` (keyed "args.x"); `ArgError` for an unknown."""
    if problem := _open_tag_error(text):
        raise ArgError(problem)
    errors: list[str] = []
    result = _substitute(text, values, errors)
    if errors:
        raise ArgError(errors[-1])  # the reference keeps the last unresolved tag's error
    return result


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, Mapping):
        return [s for key, value in obj.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(obj, list):
        return [s for item in obj for s in _strings(item)]
    return []


def _template(obj: Any, values: Mapping[str, str], errors: list[str]) -> Any:
    if isinstance(obj, str):
        return _substitute(obj, values, errors)
    if isinstance(obj, Mapping):
        return {_template(key, values, errors): _template(value, values, errors)
                for key, value in obj.items()}
    if isinstance(obj, list):
        return [_template(item, values, errors) for item in obj]
    return obj


def arg_values(args: Sequence[Argument]) -> dict[str, str]:
    """The templating values, "args.<name>" -> value; every argument must have one (ResolveArgs)."""
    values: dict[str, str] = {}
    for arg in args:
        if arg.value is None:
            raise ArgError(f'argument "{arg.name}" was not supplied')
        values[f"args.{arg.name}"] = arg.value
    return values


def resolve_metric(metric: Metric, args: Sequence[Argument]) -> Metric:
    """ResolveMetricArgs: the metric with every `{{args.*}}` in its strings resolved, parsed again."""
    values = arg_values(args)
    ordered = {key: metric.raw[key] for key in _METRIC_KEY_ORDER if key in metric.raw}
    ordered.update({key: value for key, value in metric.raw.items() if key not in ordered})
    for text in _strings(ordered):
        if problem := _open_tag_error(text):
            raise ArgError(problem)
    errors: list[str] = []
    raw = _template(ordered, values, errors)
    if errors:
        raise ArgError(errors[-1])
    return parse_metric(raw, f"metric {metric.name}")


# --- secrets -----------------------------------------------------------------------------------------


def without_secrets(args: Sequence[Argument]) -> tuple[Argument, ...]:
    """getResolvedMetricsWithoutSecrets' args: a secret argument reads as a placeholder value."""
    return tuple(Argument(arg.name, SECRET_PLACEHOLDER) if arg.secret is not None else arg for arg in args)


def secret_names(args: Sequence[Argument]) -> tuple[str, ...]:
    """The Secrets (in the run's namespace) the caller must read before `resolve_secrets`, in order."""
    return tuple(dict.fromkeys(arg.secret.name for arg in args if arg.secret is not None))


def resolve_secrets(args: Sequence[Argument],
                    secrets: Secrets) -> tuple[tuple[Argument, ...], frozenset[str]]:
    """resolveArgs: secret arguments take their Secret's value; also returns the values to redact."""
    resolved: list[Argument] = []
    redact: set[str] = set()
    for arg in args:
        if arg.secret is None:
            resolved.append(arg)
            continue
        name, key = arg.secret.name, arg.secret.key
        data = secrets.get(name)
        if isinstance(data, str):
            raise ArgError(data)
        if data is None:
            raise ArgError(f'secrets "{name}" not found')
        if key not in data:
            raise ArgError(f"key '{key}' does not exist in secret '{name}'")
        redact.add(data[key])
        resolved.append(replace(arg, value=data[key]))
    return tuple(resolved), frozenset(redact)


# --- merging and the Rollout's args ------------------------------------------------------------------


def merge_args(incoming: Sequence[Argument], template_args: Sequence[Argument]) -> tuple[Argument, ...]:
    """MergeArgs: the template's args, each overridden by the incoming one of its name; all must resolve."""
    merged = list(template_args)
    for arg in incoming:
        index = next((i for i, old in enumerate(merged) if old.name == arg.name), -1)
        if index < 0:
            continue  # the reference drops an argument the templates do not declare
        if arg.value is not None:
            merged[index] = replace(merged[index], value=arg.value)
        elif arg.has_value_from:
            merged[index] = replace(merged[index], secret=arg.secret, field_path=arg.field_path,
                                    pod_template_hash=arg.pod_template_hash)
    for arg in merged:
        if arg.value is None and not arg.has_value_from:
            raise ArgError(f"args.{arg.name} was not resolved")
    return tuple(merged)


def _go_format_map(values: Raw) -> str:
    """fieldpath.FormatMap: `key="value"` lines, keys sorted."""
    return "\n".join(f"{key}={go_text.go_quote(str(values[key]))}" for key in sorted(values))


def _metadata_field(rollout: Raw, path: str) -> str:
    """fieldpath.ExtractFieldPathAsString on the Rollout's metadata."""
    metadata = mapping(rollout, "metadata")
    if path.endswith("']") and "['" in path and not path.startswith("['"):
        field, subscript = path[:-2].split("['", 1)
        if field in ("metadata.annotations", "metadata.labels"):
            value = mapping(metadata, field.split(".")[1]).get(subscript)
            return value if isinstance(value, str) else ""
        raise ArgError(f"fieldPath {go_text.go_quote(path)} does not support subscript")
    if path in ("metadata.annotations", "metadata.labels"):
        return _go_format_map(mapping(metadata, path.split(".")[1]))
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        value = metadata.get(path.split(".")[1])
        return value if isinstance(value, str) else ""
    raise ArgError(f"unsupported fieldPath: {path}")


def _go_float(number: float) -> str:
    """fmt's %v of a float64 (JSON numbers decode as float64): %g, shortest digits, exponent from 1e+06."""
    if number == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(number))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent
    minus = "-" if sign else ""
    if not -4 <= point - 1 < 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{point - 1:+03d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"


def _rollout_field(rollout: Raw, path: str) -> str:
    """extractValueFromRollout: a dotted / indexed path to a primitive of the Rollout, formatted with %v."""
    node: Any = rollout
    for section in _PATH_SEPARATORS.split(path):
        if not section:
            continue
        if isinstance(node, list):
            if not re.fullmatch(r"[+-]?[0-9]+", section):
                raise ArgError(f"invalid index '{section}'")
            index = int(section)
            if not 0 <= index < len(node):  # Go panics on a negative index; we refuse it
                raise ArgError(f"index {index} out of range")
            node = node[index]
        elif isinstance(node, Mapping):
            node = node.get(section)
        else:
            raise ArgError(f"invalid path {path} in rollout")
    if node is None:
        raise ArgError(f"invalid path {path} in rollout")
    if isinstance(node, list | Mapping):
        raise ArgError(f"path {path} in rollout must terminate in a primitive value")
    if isinstance(node, bool):
        return "true" if node else "false"
    return _go_float(node) if isinstance(node, int | float) else str(node)


def rollout_args(raw_args: Sequence[Raw], rollout: Raw, *, stable_hash: str, latest_hash: str,
                 lenient: bool = False) -> tuple[Argument, ...]:
    """BuildArgumentsForRolloutAnalysisRun: the Rollout's analysis `args`, each with a value.

    A `metadata.*` fieldRef error raises at once; the error of a later-read field (the last one read wins,
    as in the reference) raises at the end unless `lenient` (validation: such a value reads as "").
    """
    arguments: list[Argument] = []
    error: ArgError | None = None
    for index, raw in enumerate(raw_args):
        arg = parse_argument(raw, f"args[{index}]")
        value = arg.value or ""
        if arg.pod_template_hash is not None:
            value = {"Latest": latest_hash, "Stable": stable_hash}.get(arg.pod_template_hash, value)
        elif arg.field_path is not None:
            if arg.field_path.startswith("metadata"):
                value = _metadata_field(rollout, arg.field_path)
            else:
                try:
                    value, error = _rollout_field(rollout, arg.field_path), None
                except ArgError as err:
                    value, error = "", err
        arguments.append(Argument(arg.name, value))
    if error is not None and not lenient:
        raise error
    return tuple(arguments)
