"""`spec.strategy.blueGreen`: the frozen strategy parsed from the raw Rollout, its defaults, its validation.

Room: plan (pure). Reads the raw Rollout dict (the API boundary), never mutates it, never does I/O. Messages
are the reference's (validation.go, validation_references.go; reference doc §0), with the field paths it
writes: its spec checks are rooted at `spec.strategy` (no `.blueGreen`), its Service checks are not.

Public API:
- `parse_blue_green(raw) -> BlueGreenStrategy | None` (raises only `models.InvalidSpec` for a wrong shape);
- `spec_errors`, `service_errors`: field errors, in the reference's order;
- `errors(raw, services=None) -> list[str]`: every `The Rollout "<name>" is invalid: ...` message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from statemachine import anti_affinity, go_text, ingress_checks, models, revision_history
from statemachine.raw import mapping as _map

__all__ = [
    "DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS",
    "DEFAULT_SCALE_DOWN_DELAY_SECONDS",
    "BlueGreenStrategy",
    "errors",
    "parse_blue_green",
    "service_errors",
    "spec_errors",
]

DEFAULT_SCALE_DOWN_DELAY_SECONDS = 30
DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS = 30
_BG = "spec.strategy.blueGreen"
_S = "spec.strategy"
_INVALID = "Invalid value"
_DUPLICATED = ("This rollout uses the same service for the active and preview services, but two different "
               "services are required.")
_SCALE_DOWN_LIMIT = ("This rollout's revision history limit can not be smaller than the rollout's scale down "
                     "limit")


@dataclass(frozen=True, slots=True)
class BlueGreenStrategy:
    """The blue-green fields as written; the properties apply the reference's defaults (§0.1)."""

    active_service: str = ""
    preview_service: str = ""
    auto_promotion_enabled: bool = True
    """nil reads as true; false makes a human promote (autoPromotionSeconds is then ignored, AR #2000)."""
    auto_promotion_seconds: int = 0
    preview_replica_count: int | None = None
    scale_down_delay_seconds: int | None = None
    scale_down_delay_revision_limit: int | None = None
    abort_scale_down_delay_seconds: int | None = None
    anti_affinity: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    active_metadata: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    preview_metadata: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    pre_promotion_analysis: bool = False
    """prePromotionAnalysis names at least one template (an empty list counts as none, §12.10)."""
    post_promotion_analysis: bool = False
    max_unavailable: int | str | None = None

    @property
    def scale_down_delay(self) -> int:
        """Seconds an old ReplicaSet waits before it is scaled to 0 (0: at once, §14 item 7)."""
        value = self.scale_down_delay_seconds
        return DEFAULT_SCALE_DOWN_DELAY_SECONDS if value is None else max(value, 0)

    @property
    def revision_limit(self) -> int | None:
        """scaleDownDelayRevisionLimit (None: unlimited)."""
        value = self.scale_down_delay_revision_limit
        return None if value is None else max(value, 0)

    @property
    def abort_scale_down_delay(self) -> int | None:
        """Seconds the aborted preview waits before it is scaled to 0; None when 0 was written: never."""
        value = self.abort_scale_down_delay_seconds
        if value is None:
            return DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS
        return None if value == 0 else max(value, 0)

    @property
    def needs_controller_pause(self) -> bool:
        """needsBlueGreenControllerPause: a human promotes, or autoPromotionSeconds counts down."""
        return not self.auto_promotion_enabled or self.auto_promotion_seconds > 0


# --- parsing -----------------------------------------------------------------------------------------


def _fail(key: str, value: Any, detail: str) -> models.InvalidSpec:
    return models.InvalidSpec(go_text.field_error(f"{_BG}.{key}", _INVALID, value, detail))


def _string(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _fail(key, value, "must be a string")
    return value


def _integer(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(key, value, "must be an integer")
    return value


def _mapping(obj: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail(key, value, "must be an object")
    return value


def _has_templates(analysis: Mapping[str, Any] | None) -> bool:
    templates = analysis.get("templates") if analysis is not None else None
    return isinstance(templates, list) and bool(templates)


def parse_blue_green(raw: Mapping[str, Any]) -> BlueGreenStrategy | None:
    """The Rollout's `spec.strategy.blueGreen` (None when absent); `models.InvalidSpec` for a wrong shape."""
    strategy = _map(_map(raw, "spec"), "strategy")
    if strategy.get("blueGreen") is None:
        return None
    bg = strategy["blueGreen"]
    if not isinstance(bg, Mapping):
        raise models.InvalidSpec(go_text.field_error(_BG, _INVALID, bg, "must be an object"))
    enabled = bg.get("autoPromotionEnabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise _fail("autoPromotionEnabled", enabled, "must be a boolean")
    unavailable = bg.get("maxUnavailable")
    if unavailable is not None and (isinstance(unavailable, bool) or not isinstance(unavailable, int | str)):
        raise _fail("maxUnavailable", unavailable, "must be an integer or a percentage")
    return BlueGreenStrategy(
        active_service=_string(bg, "activeService"),
        preview_service=_string(bg, "previewService"),
        auto_promotion_enabled=enabled is not False,
        auto_promotion_seconds=_integer(bg, "autoPromotionSeconds") or 0,
        preview_replica_count=_integer(bg, "previewReplicaCount"),
        scale_down_delay_seconds=_integer(bg, "scaleDownDelaySeconds"),
        scale_down_delay_revision_limit=_integer(bg, "scaleDownDelayRevisionLimit"),
        abort_scale_down_delay_seconds=_integer(bg, "abortScaleDownDelaySeconds"),
        anti_affinity=_mapping(bg, "antiAffinity"),
        active_metadata=_mapping(bg, "activeMetadata"),
        preview_metadata=_mapping(bg, "previewMetadata"),
        pre_promotion_analysis=_has_templates(_mapping(bg, "prePromotionAnalysis")),
        post_promotion_analysis=_has_templates(_mapping(bg, "postPromotionAnalysis")),
        max_unavailable=unavailable,
    )


# --- validation --------------------------------------------------------------------------------------


def _invalid(path: str, value: Any, detail: str) -> str:
    return go_text.field_error(path, _INVALID, value, detail)


def spec_errors(strategy: BlueGreenStrategy, *, revision_history_limit: int) -> Iterator[str]:
    """ValidateRolloutStrategyBlueGreen, then ours (analyses: canary_analysis.spec_error)."""
    if strategy.active_service == strategy.preview_service:
        yield _invalid(f"{_S}.activeService", strategy.active_service, _DUPLICATED)
    elif not strategy.active_service:  # ours: the CRD requires it, a reconcile would fail on Service ""
        yield go_text.field_error(f"{_BG}.activeService", "Required value")
    limit = strategy.scale_down_delay_revision_limit
    if limit is not None and revision_history_limit < limit:
        yield _invalid(f"{_S}.scaleDownDelayRevisionLimit", limit, _SCALE_DOWN_LIMIT)
    yield from anti_affinity.errors(strategy.anti_affinity)


def service_errors(strategy: BlueGreenStrategy, *, rollout_name: str, template_labels: Mapping[str, Any],
                   services: Mapping[str, Any]) -> Iterator[str]:
    """getReferencedServices (a missing Service stops there) then ValidateService for each, active first.

    Go ranges over the selector map in random order; we report the unmatched keys sorted.
    """
    refs = [(f"{_BG}.activeService", strategy.active_service),
            (f"{_BG}.previewService", strategy.preview_service)]
    refs = [(path, name) for path, name in refs if name]
    for path, name in refs:
        if name not in services:
            yield _invalid(path, name, f'service "{name}" not found')
            return
    for path, name in refs:
        service = services[name]
        selector = _map(_map(service, "spec"), "selector")
        for key in sorted(selector):
            if key == models.POD_TEMPLATE_HASH_LABEL:
                continue
            if key not in template_labels or template_labels[key] != selector[key]:
                yield _invalid(path, name, f'Service "{name}" has unmatch label "{key}" in rollout')
        owner = ingress_checks.managed_by(service)
        if owner is not None and owner != rollout_name:
            yield _invalid(path, name, f'Service "{name}" is managed by another Rollout')


def errors(raw: Mapping[str, Any], *, services: Mapping[str, Any] | None = None) -> list[str]:
    """Every blue-green InvalidSpec message; Services are looked at only when the spec itself is valid.

    `services`: raw Services of the Rollout's namespace by name (None: unknown, not checked). A shape error
    is returned as the only message.
    """
    name = str(_map(raw, "metadata").get("name") or "")
    try:
        strategy = parse_blue_green(raw)
    except models.InvalidSpec as error:
        return [_message(name, error.message)]
    if strategy is None:
        return []
    found = list(spec_errors(strategy, revision_history_limit=revision_history.revision_history_limit(raw)))
    if not found and services is not None:
        labels = _map(_map(_map(raw, "spec"), "template"), "metadata").get("labels")
        found = list(service_errors(strategy, rollout_name=name, services=services,
                                    template_labels=labels if isinstance(labels, Mapping) else {}))
    return [_message(name, error) for error in found]


def _message(rollout_name: str, field_error: str) -> str:
    return f'The Rollout "{rollout_name}" is invalid: {field_error}'
