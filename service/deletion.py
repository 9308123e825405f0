"""A Rollout gone from our cache: reset its Ingress actions and release its Services, but only if it is
really deleted.

Room: reconcile. A label-selector watch also says DELETED when a Rollout is relabelled for another
`--instance-id` (a migration): its traffic must not be reset then, so a live read decides (SPEC §4.5). The
keys `service.startup_cleanup` queues (Rollouts deleted while no controller ran) end up here too.
"""

from __future__ import annotations

import structlog

from service import ingress_sync, service_release
from service.kube import watching, writing

__all__ = ["reset_if_deleted"]

log = structlog.get_logger(__name__)


async def reset_if_deleted(writer: writing.Writer, ingresses: ingress_sync.IngressSync, namespace: str,
                           name: str, *, services: watching.Reflector | None = None) -> int:
    """Reset the Rollout's actions on every Ingress listing it and release every Service annotated for it,
    when it is deleted; the Ingresses reset. `services` None: no Service is released."""
    listed = bool(ingresses.listing(namespace, name))
    annotated = bool(services is not None and service_release.managed(services, namespace, name))
    if not (listed or annotated) or not await _gone(writer, namespace, name):
        return 0
    patched = await ingresses.cleanup(namespace, name) if listed else 0
    released: list[str] = []
    if services is not None and annotated:
        released = await service_release.release(writer, services, namespace, name,
                                                 deadline=ingresses.deadline)
    log.info("rollout deleted", ingresses_reset=patched, services_released=released)
    return patched


async def _gone(writer: writing.Writer, namespace: str, name: str) -> bool:
    """Is the Rollout deleted, not merely out of our cache?"""
    try:
        await writer.get_rollout(namespace, name)  # a live read: the cache cannot tell the two apart
    except writing.NotFound:
        return True
    log.info("rollout out of our cache but not deleted (another --instance-id?): Ingresses and Services kept")
    return False
