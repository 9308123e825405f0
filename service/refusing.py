"""An Ingress we may not write (SPEC §5): a Warning event and the status message say what to fix.

Room: reconcile. Only `status.message` is written (phase and conditions kept), and only when it differs, so a
retry writes nothing; the next plan replaces the message once the Ingress is fixed. No machine move: the
Rollout stays where its status puts it, and nothing else is touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from service import results
from service.kube import recording, watching, writing
from statemachine import events, models

__all__ = ["refuse"]

log = structlog.get_logger(__name__)


async def refuse(rollout: models.Rollout, refusal: str, involved: Mapping[str, Any], *,
                 writer: writing.Writer,
                 recorder: recording.EventRecorder, rollouts: watching.Reflector, deadline: float) -> None:
    message = f"{events.TRAFFIC_ROUTING_ERROR}: {refusal}"
    if rollout.raw_status.get("message") != message:
        body = {"status": {"message": message}}
        written = await writer.patch_rollout_status(rollout.namespace, rollout.name, body)
        await results.wait_written(rollouts, written, deadline)
    await recorder.emit(involved, events.traffic_routing_error(refusal))
    log.warning("refusing to write an Ingress", reason=refusal)
