"""Hand Services back: the managed-by annotation and the `rollouts-pod-template-hash` selector key removed.

Room: apply. `service.deletion` releases every Service a deleted Rollout annotated; the `point_services`
effect those a live Rollout annotated but no longer names (as the reference's service controller does,
service/service.go), so no Service keeps selecting pods that are gone and another Rollout may take it over.
Which Services, and the patch, come from `statemachine.services`; a Service annotated for another Rollout is
never written.
"""

from __future__ import annotations

from collections.abc import Collection

import structlog

from service import results
from service.kube import caches, indexes, watching, writing
from statemachine import services

__all__ = ["managed", "release"]

log = structlog.get_logger(__name__)


def _annotated(reflector: watching.Reflector, namespace: str, rollout: str) -> list[caches.RawObject]:
    """The cached Services annotated as managed by `rollout`, off the index (never the whole namespace)."""
    return reflector.store.by_index(indexes.BY_MANAGED_BY, f"{namespace}/{rollout}")


def managed(reflector: watching.Reflector, namespace: str, rollout: str) -> list[str]:
    """The Services of `namespace` that the cache shows annotated for `rollout`."""
    found = services.to_release(_annotated(reflector, namespace, rollout), namespace, rollout)
    return [str(svc["metadata"]["name"]) for svc in found]


async def release(writer: writing.Writer, reflector: watching.Reflector, namespace: str, rollout: str, *,
                  deadline: float, keep: Collection[str] = ()) -> list[str]:
    """Release the Services annotated for `rollout`, but for `keep`; the names released.

    A Service deleted meanwhile is skipped; a 409 (it changed since the cache saw it: perhaps adopted by
    another Rollout) propagates, and the retry decides again from the newer copy.
    """
    released: list[str] = []
    annotated = _annotated(reflector, namespace, rollout)
    for current in services.to_release(annotated, namespace, rollout, keep):
        name = str(current["metadata"]["name"])
        try:
            answer = await writer.patch_service(namespace, name, services.release_patch(current))
        except writing.NotFound:
            continue  # gone: it selects nothing any more
        log.info("released Service", service=name)
        released.append(name)
        await results.wait_written(reflector, answer, deadline)
    return released
