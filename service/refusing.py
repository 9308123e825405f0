"""What we may not or cannot do yet, said where the user looks: a Warning event and `status.message`.

Room: reconcile. Two cases, neither a machine move (the Rollout stays where its status puts it, nothing else
is touched): an Ingress we may not write (SPEC §5: unmanaged class, unreadable bookkeeping), and target
verification that cannot run because the TargetGroupBinding cache never synced (its CRD missing). Only
`status.message` is written (phase and conditions kept), and only when it differs, so a retry writes
nothing; the next plan replaces the message once the cause is fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from service import results, verify_step
from service.kube import recording, watching, writing
from statemachine import events, models

__all__ = ["refuse", "unverifiable"]

log = structlog.get_logger(__name__)


async def _say(rollout: models.Rollout, message: str, event: events.Event, involved: Mapping[str, Any], *,
               writer: writing.Writer, recorder: recording.EventRecorder, rollouts: watching.Reflector,
               deadline: float) -> None:
    if rollout.raw_status.get("message") != message:
        written = await writer.patch_rollout_status(rollout.namespace, rollout.name,
                                                    {"status": {"message": message}})
        await results.wait_written(rollouts, written, deadline)
    await recorder.emit(involved, event)


async def refuse(rollout: models.Rollout, refusal: str, involved: Mapping[str, Any], *,
                 writer: writing.Writer, recorder: recording.EventRecorder, rollouts: watching.Reflector,
                 deadline: float) -> None:
    """An Ingress we may not write: `TrafficRoutingError: <refusal>`."""
    await _say(rollout, f"{events.TRAFFIC_ROUTING_ERROR}: {refusal}", events.traffic_routing_error(refusal),
               involved, writer=writer, recorder=recorder, rollouts=rollouts, deadline=deadline)
    log.warning("refusing to write an Ingress", reason=refusal)


async def unverifiable(rollout: models.Rollout, why: str, involved: Mapping[str, Any], *,
                       writer: writing.Writer, recorder: recording.EventRecorder,
                       rollouts: watching.Reflector, deadline: float) -> None:
    """Target verification cannot run (`why`: the cache that never synced, and its likely cause)."""
    text = f"cannot verify target groups: {why}; the rollout waits (nothing is scaled down unverified)"
    await _say(rollout, f"{verify_step.TARGET_GROUP_VERIFY_ERROR}: {text}",
               events.Event(events.WARNING, verify_step.TARGET_GROUP_VERIFY_ERROR, text), involved,
               writer=writer, recorder=recorder, rollouts=rollouts, deadline=deadline)
    log.error("target verification cannot run", reason=why)
