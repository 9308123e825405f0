"""Blue-green analysis: the pre- and post-promotion AnalysisRuns (reference blue-green §3.10,
rollout/analysis.go reconcilePrePromotionAnalysisRun / reconcilePostPromotionAnalysisRun /
setPauseOrAbortForBlueGreen).

Room: plan (pure). `statemachine.bluegreen_planning` asks once per cycle, after the sizes are known: the run
to create (`<rollout>-<hash>-<revision>-pre|post`, `rollout-type: PrePromotion|PostPromotion`), the runs to
terminate, `status.blueGreen.prePromotionAnalysisRunStatus` / `postPromotionAnalysisRunStatus` (kept once
the update is done, as the reference keeps them), whether each is done (Successful, or none configured), and
whether the Rollout pauses (`InconclusiveAnalysisRun`) or aborts (the reference's messages). The pre-promotion
run gates the active Service's switch, the post-promotion run the new stable ReplicaSet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from statemachine import events, models, weights
from statemachine.canary_analysis import NewRun, build_run, status_event, terminated
from statemachine.raw import mapping as _mapping
from statemachine.snapshot import AnalysisRunView, Snapshot

__all__ = ["POST", "PRE", "BlueGreenAnalysis", "decide", "status_fields"]

PRE, POST = "PrePromotion", "PostPromotion"
_FAILED = ("Failed", "Error")
_INCONCLUSIVE = "InconclusiveAnalysisRun"
Raw = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BlueGreenAnalysis:
    """One cycle's pre/post-promotion analysis outcome (see the module docstring)."""

    create: tuple[NewRun, ...] = ()
    terminate: tuple[str, ...] = ()
    pre: Mapping[str, Any] | None = None
    post: Mapping[str, Any] | None = None
    pre_done: bool = True
    post_done: bool = True
    inconclusive: bool = False
    abort_message: str = ""
    events: tuple[events.Event, ...] = ()


def _ref(raw: Raw | None) -> models.AnalysisRunRef | None:
    if not raw or not isinstance(raw.get("name"), str):
        return None
    return models.AnalysisRunRef(str(raw["name"]), str(raw.get("status") or ""),
                                 str(raw.get("message") or ""))


def _raw_ref(run: AnalysisRunView | None, created: NewRun | None,
             kept: Raw | None) -> Mapping[str, Any] | None:
    """RolloutAnalysisRunStatus as written: the run's, a just-created one's (no phase yet), else what was."""
    if run is not None:
        return {"name": run.name, "status": run.phase, **({"message": run.message} if run.message else {})}
    if created is not None:
        return {"name": created.name, "status": ""}
    return kept


def _needs_new_run(current: AnalysisRunView | None, rollout: models.Rollout) -> bool:
    """needsNewAnalysisRun (the blue-green pause counts as a pause of its own, as there)."""
    if current is None:
        return True
    reasons = {c.reason for c in rollout.status.pause_conditions}
    if rollout.status.controller_pause and not reasons & {"CanaryPauseStep", "BlueGreenPause"}:
        return current.phase == "Inconclusive"
    return bool(rollout.status.aborted_at)


def _judge(run: AnalysisRunView | None, what: str, outcome: dict[str, Any]) -> None:
    """setPauseOrAbortForBlueGreen."""
    if run is None:
        return
    if run.phase == "Inconclusive":
        outcome["inconclusive"] = True
    elif run.phase in _FAILED and not outcome["abort"]:
        outcome["abort"] = (f"Blue/green {what}-promotion analysis phase error/failed"
                            + (f": {run.message}" if run.message else ""))


def decide(snapshot: Snapshot, *, active_selector: str, saturated: bool, preview_ready: bool,
           targets_ok: bool, fast_rollback: bool) -> BlueGreenAnalysis:
    """The pre/post-promotion runs for this cycle; `active_selector` is status.blueGreen.activeSelector as
    observed, `saturated` IsSaturated(newRS), `preview_ready` the previewReplicaCount check, `targets_ok`
    areTargetsVerified, `fast_rollback` isFastRollback."""
    rollout = snapshot.rollout
    old = rollout.status
    blue_green = _mapping(_mapping(_mapping(snapshot.raw, "spec"), "strategy"), "blueGreen")
    bg_status = _mapping(rollout.raw_status, "blueGreen")
    kept_pre = _mapping(bg_status, "prePromotionAnalysisRunStatus") or None
    kept_post = _mapping(bg_status, "postPromotionAnalysisRunStatus") or None
    runs = {run.name: run for run in snapshot.analysis_runs}
    pre_ref, post_ref = _ref(kept_pre), _ref(kept_post)
    pre_run = runs.get(pre_ref.name) if pre_ref is not None else None
    post_run = runs.get(post_ref.name) if post_ref is not None else None
    pre_spec = _mapping(blue_green, "prePromotionAnalysis")
    post_spec = _mapping(blue_green, "postPromotionAnalysis")
    cancel = (weights.is_fully_promoted(rollout) or old.abort or old.promote_full or fast_rollback
              or not old.stable_rs)
    if not snapshot.analysis_observed:  # offline: the runs are not known, nothing is decided about them
        return BlueGreenAnalysis(pre=kept_pre, post=kept_post, pre_done=not pre_spec.get("templates"),
                                 post_done=not post_spec.get("templates"))
    if cancel:  # the current runs are kept in status once stable, and terminated if still running
        return BlueGreenAnalysis(terminate=terminated(snapshot, keep=()), pre=kept_pre, post=kept_post,
                                 pre_done=not pre_spec.get("templates") or _successful(pre_run),
                                 post_done=not post_spec.get("templates") or _successful(post_run))
    pod_hash = snapshot.pod_hash
    inconclusive_paused = any(c.reason == _INCONCLUSIVE for c in old.pause_conditions)
    creates: list[NewRun] = []
    outcome: dict[str, Any] = {"inconclusive": False, "abort": ""}
    # reconcilePrePromotionAnalysisRun
    if not pre_spec.get("templates"):
        pre_run = None
    else:
        skip = (old.stable_rs == pod_hash or not active_selector or active_selector == pod_hash
                or not pod_hash or (pre_run is None and not preview_ready))
        if skip or inconclusive_paused:
            pass
        elif _needs_new_run(pre_run, rollout):
            creates.append(build_run(snapshot, pre_spec, PRE, None, infix="pre"))
            pre_run = None
        _judge(pre_run, "pre", outcome)
    # reconcilePostPromotionAnalysisRun
    post_active = True
    if not post_spec.get("templates"):
        post_run = None
    else:
        skip = (old.stable_rs == pod_hash or active_selector != pod_hash or not pod_hash
                or (post_run is None and not saturated))
        if skip or not targets_ok:
            post_active = False
        elif not inconclusive_paused and _needs_new_run(post_run, rollout):
            creates.append(build_run(snapshot, post_spec, POST, None, infix="post"))
            post_run = None
        if post_active:
            _judge(post_run, "post", outcome)
    keep = tuple(run.name for run in (pre_run, post_run) if run is not None and (run is not post_run
                                                                                    or post_active))
    created = {run.kind: run for run in creates}
    found = tuple(e for e in (status_event(PRE, pre_ref, pre_run), status_event(POST, post_ref, post_run))
                  if e is not None)
    return BlueGreenAnalysis(
        create=tuple(creates), terminate=terminated(snapshot, keep=keep),
        pre=_raw_ref(pre_run, created.get(PRE), kept_pre if pre_spec.get("templates") else None),
        post=_raw_ref(post_run, created.get(POST), kept_post if post_spec.get("templates") else None),
        pre_done=not pre_spec.get("templates") or _successful(pre_run),
        post_done=not post_spec.get("templates") or _successful(post_run),
        inconclusive=outcome["inconclusive"], abort_message=outcome["abort"], events=found)


def _successful(run: AnalysisRunView | None) -> bool:
    return run is not None and run.phase == "Successful"


def status_fields(new: models.RolloutStatus, analysis: BlueGreenAnalysis, *,
                  now: datetime) -> tuple[models.RolloutStatus, str]:
    """setPauseOrAbortForBlueGreen on the planned status: a failed run aborts (the abort message comes
    back for the cycle's reason), an inconclusive one pauses with `InconclusiveAnalysisRun`."""
    if analysis.abort_message and not new.abort:
        return dataclasses.replace(new, abort=True, aborted_at=models.format_time(now), pause_conditions=(),
                                   controller_pause=False), analysis.abort_message
    paused = any(c.reason == _INCONCLUSIVE for c in new.pause_conditions)
    if analysis.inconclusive and not new.abort and not paused:
        condition = models.PauseCondition(_INCONCLUSIVE, models.format_time(now))
        return dataclasses.replace(new, pause_conditions=(*new.pause_conditions, condition),
                                   controller_pause=True), ""
    return new, ""
