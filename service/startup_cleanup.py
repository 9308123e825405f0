"""Start-up cleanup: what Rollouts deleted while no controller ran left behind on Ingresses and Services.

Room: start-up (once per leadership term, once the caches have synced; SPEC §4.5). A Rollout deleted while we
were down never reaches the queue: its bookkeeping entry and actions stay on the Ingresses, its managed-by
annotation and pod-hash selector on the Services. This finds the Rollout names those caches mention and the
Rollout cache lacks, and enqueues their keys. The reconciler then handles each like any Rollout gone from
its cache (`service.deletion.reset_if_deleted`: a live GET tells a deleted Rollout from one of another
`--instance-id`), and the queue retries a failure with backoff. It never writes anything itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import structlog

from service.alb import ingress_patch
from service.kube import caches
from service.kube import informers as informing
from statemachine import ingress_checks

__all__ = ["enqueue", "orphans"]

log = structlog.get_logger(__name__)


def _ingress_mentions(ingresses: Iterable[caches.RawObject], classes: Sequence[str]) -> set[str]:
    """Keys of the Rollouts named in the bookkeeping of Ingresses we may write (others are never reset)."""
    found: set[str] = set()
    for ingress in ingresses:
        try:
            managed = ingress_patch.check_writable(ingress, classes)
        except ValueError:  # Refusal or IngressError: not ours to reset, so no Rollout to look up
            continue
        namespace = str((ingress.get("metadata") or {}).get("namespace") or "")
        found |= {f"{namespace}/{name}" for name in managed if name}
    return found


def _service_mentions(services: Iterable[caches.RawObject]) -> set[str]:
    """Keys of the Rollouts named in the Services' managed-by annotations."""
    found: set[str] = set()
    for service in services:
        rollout = ingress_checks.managed_by(service)
        if rollout:
            found.add(f"{(service.get('metadata') or {}).get('namespace') or ''}/{rollout}")
    return found


def orphans(informers: informing.Informers, classes: Sequence[str]) -> list[str]:
    """Keys ("namespace/name") that an Ingress's bookkeeping or a Service's managed-by annotation names and
    the Rollout cache does not hold: deleted, or of another --instance-id (the reconciler tells which)."""
    mentioned = (_ingress_mentions(informers.ingresses.store.list(), classes)
                 | _service_mentions(informers.services.store.list()))
    rollouts = informers.rollouts.store
    return sorted(key for key in mentioned if rollouts.get(key) is None)


def enqueue(informers: informing.Informers, add: Callable[[str], None], *, classes: Sequence[str]
            ) -> list[str]:
    """Queue the reset of each Rollout the caches show left behind; the keys queued."""
    keys = orphans(informers, classes)
    for key in keys:
        add(key)
    if keys:
        log.info("start-up cleanup: Rollouts named on Ingresses or Services but not cached, to check",
                 rollouts=keys)
    return keys
