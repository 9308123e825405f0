"""Kubernetes side of the flow: watched resources, caches, reflectors, and the writers that act.

Rooms: observe (resources, listing, watching, caches, indexes, enqueuing, informers) and apply (writing,
recording, leases). Handlers registered here only enqueue keys; nothing in this package decides what a
Rollout should look like.
"""

from __future__ import annotations

__all__: list[str] = []
