"""Canary analysis: the AnalysisRuns a canary Rollout wants (its analysis step's and its background one), and
what their phases mean for the Rollout (reference rollout/analysis.go, reconcileAnalysisRuns).

Room: plan (pure). From the snapshot's AnalysisRuns (those the Rollout controls), templates and status it
decides which run to create (with its whole body: name `<rollout>-<hash>-<revision>[-<step>]`, the
reference's labels and annotations, the templates flattened and the Rollout's args resolved), which runs to
terminate (`spec.terminate`), the `currentStepAnalysisRunStatus` / `currentBackgroundAnalysisRunStatus` to
write, and whether the step is done, the Rollout must pause (`InconclusiveAnalysisRun`) or abort (with the
reference's message). `statemachine.planning` folds that into the canary's cycle; `service.applying` sends
the writes. A run that cannot be built (a missing template, a bad argument) is an InvalidSpec message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from statemachine import (
    analysis_args,
    analysis_checks,
    analysis_spec,
    analysis_templates,
    events,
    models,
    ownership,
    weights,
)
from statemachine.raw import mapping as _mapping
from statemachine.snapshot import AnalysisRunView, Snapshot

__all__ = ["BACKGROUND", "INCONCLUSIVE_PAUSE", "STEP", "AnalysisDecision", "NewRun", "build_run", "decide",
           "spec_error", "status_event", "terminated"]

ROLLOUT_TYPE = "rollout-type"
STEP_INDEX = "step-index"
STEP, BACKGROUND = "Step", "Background"
INCONCLUSIVE_PAUSE = "InconclusiveAnalysisRun"
_FAILED = ("Failed", "Error")
_COMPLETED = ("Successful", "Failed", "Error", "Inconclusive")
_INSTANCE_LABEL = "argo-rollouts.argoproj.io/controller-instance-id"
Raw = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NewRun:
    """An AnalysisRun to create: its kind (Step/Background) and the whole object."""

    kind: str
    name: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AnalysisDecision:
    """One cycle's analysis outcome (see the module docstring)."""

    create: tuple[NewRun, ...] = ()
    terminate: tuple[str, ...] = ()
    step: models.AnalysisRunRef | None = None
    background: models.AnalysisRunRef | None = None
    step_successful: bool = False
    inconclusive: bool = False
    abort_message: str = ""
    events: tuple[events.Event, ...] = ()
    error: str | None = None


def _ref(run: AnalysisRunView | None) -> models.AnalysisRunRef | None:
    return None if run is None else models.AnalysisRunRef(run.name, run.phase, run.message)


def _find(snapshot: Snapshot, ref: models.AnalysisRunRef | None) -> AnalysisRunView | None:
    if ref is None:
        return None
    return next((run for run in snapshot.analysis_runs if run.name == ref.name), None)


def _pause_reasons(rollout: models.Rollout) -> set[str]:
    return {c.reason for c in rollout.status.pause_conditions}


def _needs_new_run(current: AnalysisRunView | None, rollout: models.Rollout) -> bool:
    """needsNewAnalysisRun: none yet; after an inconclusive run was paused for and promoted; after an
    abort."""
    if current is None:
        return True
    reasons = _pause_reasons(rollout)
    if rollout.status.controller_pause and not reasons & {"CanaryPauseStep", "BlueGreenPause"}:
        return current.phase == "Inconclusive"
    return bool(rollout.status.aborted_at)


def _labels(kind: str, pod_hash: str, index: int | None, rollout: models.Rollout, raw: Raw) -> dict[str, str]:
    labels = {models.POD_TEMPLATE_HASH_LABEL: pod_hash, ROLLOUT_TYPE: kind}
    if index is not None:
        labels[STEP_INDEX] = str(index)
    instance = _mapping(_mapping(raw, "metadata"), "labels").get(_INSTANCE_LABEL)
    if isinstance(instance, str) and instance:
        labels[_INSTANCE_LABEL] = instance
    return labels


def _free_name(base: str, taken: set[str]) -> str:
    """CreateWithCollisionCounter's names: the base, then `.1`, `.2`... past every run already there."""
    name, count = base, 1
    while name in taken:
        name, count = f"{base}.{count}", count + 1
    return name


def build_run(snapshot: Snapshot, analysis: Raw, kind: str, index: int | None, *,
              lenient: bool = False, infix: str | None = None) -> NewRun:
    """newAnalysisRunFromRollout: the AnalysisRun for `analysis` (a RolloutAnalysis); SpecError when its
    templates are missing or its args cannot be resolved (`lenient`: a Rollout field not there yet reads
    as "", as validation does)."""
    rollout, raw = snapshot.rollout, snapshot.raw
    pod_hash = snapshot.pod_hash
    refs = analysis_spec.parse_spec({"templates": analysis.get("templates") or []}).templates
    templates: list[analysis_spec.AnalysisSpec] = []
    cluster_templates: list[analysis_spec.AnalysisSpec] = []
    for ref in refs:
        source = snapshot.cluster_analysis_templates if ref.cluster_scope else snapshot.analysis_templates
        found = source.get(ref.template_name)
        if found is None:
            kind_name = "ClusterAnalysisTemplate" if ref.cluster_scope else "AnalysisTemplate"
            raise analysis_spec.SpecError(f"{kind_name} '{ref.template_name}' not found")
        (cluster_templates if ref.cluster_scope else templates).append(
            analysis_spec.parse_spec(_mapping(found, "spec")))
    written = analysis.get("args")
    raw_args = [a for a in written if isinstance(a, Mapping)] if isinstance(written, list) else []
    stable = snapshot.stable_rs.hash if snapshot.stable_rs else ""
    args = analysis_args.rollout_args(raw_args, raw, stable_hash=stable, latest_hash=pod_hash,
                                      lenient=lenient)
    rules = analysis_spec.parse_spec({k: analysis[k] for k in ("dryRun", "measurementRetention")
                                      if isinstance(analysis.get(k), list)})
    spec = analysis_templates.new_run_spec(templates, cluster_templates, args, rules.dry_run,
                                           rules.measurement_retention)
    if infix is None:
        infix = "" if index is None else str(index)
    revision = str(rollout.revision)
    base = "-".join(part for part in (rollout.name, pod_hash, revision, infix) if part)
    name = _free_name(base, {run.name for run in snapshot.analysis_runs})
    run_metadata = _mapping(analysis, "analysisRunMetadata")
    labels = {**_labels(kind, pod_hash, index, rollout, raw),
              **{str(k): str(v) for k, v in _mapping(run_metadata, "labels").items()},
              **{str(k): str(v) for k, v in _mapping(_mapping(_mapping(raw, "spec"), "selector"),
                                                      "matchLabels").items()}}
    annotations = {models.REVISION_ANNOTATION: revision,
                   **{str(k): str(v) for k, v in _mapping(run_metadata, "annotations").items()}}
    body = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": name, "namespace": rollout.namespace, "labels": labels,
                         "annotations": annotations, "ownerReferences": [ownership.owner_reference(raw)]},
            "spec": analysis_templates.render_run_spec(spec)}
    return NewRun(kind, name, body)


def spec_error(snapshot: Snapshot) -> str | None:
    """Whether the Rollout's analysis can be built at all (templates there, args resolvable, metrics valid):
    the InvalidSpec message, else None. Checked for every RolloutAnalysis it names."""
    if not snapshot.analysis_observed:
        return None
    canary = snapshot.rollout.canary
    found: list[tuple[str, Raw]] = []
    if canary is not None and canary.analysis is not None and canary.analysis.get("templates"):
        found.append(("spec.strategy.canary.analysis", canary.analysis))
    for i, step in enumerate(canary.steps if canary is not None else ()):
        if isinstance(step, models.Analysis):
            found.append((f"spec.strategy.canary.steps[{i}].analysis", step.raw))
    blue_green = _mapping(_mapping(_mapping(snapshot.raw, "spec"), "strategy"), "blueGreen")
    for field_name in ("prePromotionAnalysis", "postPromotionAnalysis"):
        analysis = _mapping(blue_green, field_name)
        if analysis.get("templates"):
            found.append((f"spec.strategy.blueGreen.{field_name}", analysis))
    for path, analysis in found:
        try:
            run = build_run(snapshot, analysis, STEP, None, lenient=True)
            spec = analysis_spec.parse_spec(run.body["spec"])
            # conditions are checked as they will run: with the args put in (a secret's value is not known
            # here, so a metric naming one is checked as written)
            metrics = tuple(_resolved(metric, spec.args) for metric in spec.metrics)
            problem = analysis_checks.validate_metrics(metrics)
        except ValueError as error:  # SpecError, ArgError
            problem = str(error)
        if problem:
            return f"{path}: {problem}"
    return None


def _resolved(metric: analysis_spec.Metric, args: tuple[analysis_spec.Argument, ...]) -> analysis_spec.Metric:
    try:
        return analysis_args.resolve_metric(metric, analysis_args.without_secrets(args))
    except analysis_args.ArgError:
        return metric


def status_event(kind: str, before: models.AnalysisRunRef | None,
                  run: AnalysisRunView | None) -> events.Event | None:
    """emitAnalysisRunStatusChanges: `AnalysisRun<Phase>` when the current run's phase changed."""
    if run is None or not run.phase:
        return None
    if before is not None and (before.name != run.name or before.status == run.phase):
        return None
    previous = "NoPreviousStatus" if before is None else before.status
    kind_text = kind
    severity = events.WARNING if run.phase in _FAILED else events.NORMAL
    message = f"{kind_text} Analysis Run '{run.name}' Status New: '{run.phase}' Previous: '{previous}'"
    return events.Event(severity, f"AnalysisRun{run.phase}", message)


def _adopt(snapshot: Snapshot, kind: str, index: int | None) -> AnalysisRunView | None:
    """A run of ours for this kind/step/hash that status does not name yet (its write was lost)."""
    for run in snapshot.analysis_runs:
        labels = run.labels
        if (labels.get(ROLLOUT_TYPE) == kind
                and labels.get(models.POD_TEMPLATE_HASH_LABEL) == snapshot.pod_hash
                and (index is None or labels.get(STEP_INDEX) == str(index))
                and run.phase not in _COMPLETED and not run.terminate):
            return run
    return None


def decide(snapshot: Snapshot) -> AnalysisDecision:
    """reconcileAnalysisRuns for a canary (see the module docstring)."""
    rollout = snapshot.rollout
    canary = rollout.canary
    old = rollout.status
    step_run = _find(snapshot, old.canary.step_analysis)
    background_run = _find(snapshot, old.canary.background_analysis)
    if not snapshot.analysis_observed:  # offline: the runs are not known, nothing is decided about them
        return AnalysisDecision(step=old.canary.step_analysis, background=old.canary.background_analysis)
    cancel = (weights.is_fully_promoted(rollout) or old.abort or old.promote_full or not old.stable_rs)
    if canary is None or cancel:
        return AnalysisDecision(terminate=terminated(snapshot, keep=()))
    creates: list[NewRun] = []
    outcome: dict[str, Any] = {"step_successful": False, "inconclusive": False, "abort": ""}
    try:
        step_run = _step(snapshot, step_run, creates, outcome)
        background_run = _background(snapshot, background_run, creates, outcome)
    except analysis_spec.SpecError as error:
        return AnalysisDecision(error=str(error), step=old.canary.step_analysis,
                                background=old.canary.background_analysis)
    found = tuple(e for e in (status_event(STEP, old.canary.step_analysis, step_run),
                              status_event(BACKGROUND, old.canary.background_analysis, background_run))
                  if e is not None)
    keep = tuple(run.name for run in (step_run, background_run) if run is not None)
    step_ref = _ref(step_run) or next(
        (models.AnalysisRunRef(r.name) for r in creates if r.kind == STEP), None)
    background_ref = _ref(background_run) or next(
        (models.AnalysisRunRef(r.name) for r in creates if r.kind == BACKGROUND), None)
    step, index = weights.current_step(rollout)
    if isinstance(step, models.Analysis) and step_run is not None:  # completedCurrentCanaryStep
        outcome["step_successful"] = (step_run.phase == "Successful"
                                      and step_run.labels.get(STEP_INDEX) == str(index))
    return AnalysisDecision(
        create=tuple(creates), terminate=terminated(snapshot, keep=keep), step=step_ref,
        background=background_ref, step_successful=outcome["step_successful"],
        inconclusive=outcome["inconclusive"], abort_message=outcome["abort"], events=found)


def terminated(snapshot: Snapshot, *, keep: tuple[str, ...]) -> tuple[str, ...]:
    """cancelAnalysisRuns: every run of ours but those kept, unless completed or already terminating."""
    return tuple(run.name for run in snapshot.analysis_runs
                 if run.name not in keep and not run.terminate and run.phase not in _COMPLETED)


def _judge(run: AnalysisRunView, what: str, outcome: dict[str, Any]) -> None:
    if run.phase == "Inconclusive":
        outcome["inconclusive"] = True
    elif run.phase in _FAILED and not outcome["abort"]:
        outcome["abort"] = f"{what} analysis phase error/failed" + (f": {run.message}" if run.message else "")


def _step(snapshot: Snapshot, current: AnalysisRunView | None, creates: list[NewRun],
          outcome: dict[str, Any]) -> AnalysisRunView | None:
    """reconcileStepBasedAnalysisRun."""
    rollout = snapshot.rollout
    step, index = weights.current_step(rollout)
    if rollout.status.pause_conditions or rollout.status.abort:
        return current
    previous_step = (isinstance(step, models.Analysis) and current is not None
                     and current.labels.get(STEP_INDEX) != str(index))
    if (not isinstance(step, models.Analysis) or not step.raw.get("templates") or index is None
            or previous_step):
        return None
    if current is None:
        current = _adopt(snapshot, STEP, index)
    if _needs_new_run(current, rollout):
        creates.append(build_run(snapshot, step.raw, STEP, index))
        return None
    assert current is not None
    _judge(current, "Step-based", outcome)
    return current


def _before_starting_step(rollout: models.Rollout, analysis: Raw) -> bool:
    start = analysis.get("startingStep")
    index = weights.step_index(rollout)
    return isinstance(start, int) and index is not None and index < start


def _background(snapshot: Snapshot, current: AnalysisRunView | None, creates: list[NewRun],
                outcome: dict[str, Any]) -> AnalysisRunView | None:
    """reconcileBackgroundAnalysisRun."""
    rollout = snapshot.rollout
    analysis = rollout.canary.analysis if rollout.canary is not None else None
    if analysis is None or not analysis.get("templates"):
        return None
    status = rollout.status
    if (weights.is_fully_promoted(rollout) or not status.stable_rs or not status.current_pod_hash
            or _before_starting_step(rollout, analysis)):
        return None
    if INCONCLUSIVE_PAUSE in _pause_reasons(rollout):
        return current
    if current is None:
        current = _adopt(snapshot, BACKGROUND, None)
    if _needs_new_run(current, rollout):
        creates.append(build_run(snapshot, analysis, BACKGROUND, None))
        return None
    assert current is not None
    _judge(current, "Background", outcome)
    return current
