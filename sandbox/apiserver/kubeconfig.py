"""Kubeconfig files pointing kubectl and kubernetes-asyncio at the emulator.

Part of the sandbox API emulator; it writes one file and holds no state. The token is a dummy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["kubeconfig_dict", "write_kubeconfig"]

_NAME = "alb-rollouts-sandbox"


def kubeconfig_dict(server_url: str, *, namespace: str = "default") -> dict[str, Any]:
    """The kubeconfig document for `server_url` with one cluster, user and current context."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": _NAME, "cluster": {"server": server_url}}],
        "users": [{"name": _NAME, "user": {"token": "sandbox"}}],
        "contexts": [{"name": _NAME, "context": {"cluster": _NAME, "user": _NAME, "namespace": namespace}}],
        "current-context": _NAME,
        "preferences": {},
    }


def write_kubeconfig(path: str | Path, server_url: str, *, namespace: str = "default") -> Path:
    """Write the kubeconfig (creating parent directories) and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig_dict(server_url, namespace=namespace), sort_keys=False))
    return target
