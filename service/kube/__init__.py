"""Kubernetes side of the flow: watched resources, their caches and indexes, and the reflectors filling them.

Room: observe (patching and events come later). Handlers registered here only enqueue keys; nothing in this
package decides what a Rollout should look like.
"""

from __future__ import annotations

__all__: list[str] = []
