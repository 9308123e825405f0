"""The Kubernetes client of the process: which configuration it loads, and the namespace it starts in.

Room: start-up. --kubeconfig, else the first KUBECONFIG entry, else ~/.kube/config when it exists, else the
in-cluster service account, as client-go's loading rules do; a configuration that cannot be loaded is a
`StartError` naming where it was looked for.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from kubernetes_asyncio import client, config

from service import settings as config_module
from service.startup_checks import StartError

__all__ = ["DEFAULT_KUBECONFIG", "kubeconfig_path", "open_api"]

DEFAULT_KUBECONFIG = "~/.kube/config"
"""Read when neither --kubeconfig nor KUBECONFIG names a file and it exists (else: in-cluster)."""


def _in_cluster_namespace(environ: Mapping[str, str]) -> str:
    # client-go's inClusterClientConfig.Namespace(): POD_NAMESPACE, then the service account's file.
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        return config_module.SA_NAMESPACE_FILE.read_text().strip() or "default"
    except OSError:
        return "default"


def kubeconfig_path(kube: config_module.KubeSettings, env: Mapping[str, str]) -> str | None:
    """--kubeconfig, else the first KUBECONFIG entry, else ~/.kube/config if it exists; None: in-cluster."""
    path = kube.kubeconfig or env.get("KUBECONFIG", "").split(os.pathsep)[0]
    if path:
        return path
    default_file = Path(DEFAULT_KUBECONFIG).expanduser()
    return str(default_file) if default_file.exists() else None


@asynccontextmanager
async def open_api(kube: config_module.KubeSettings,
                   environ: Mapping[str, str] | None = None) -> AsyncIterator[tuple[client.ApiClient, str]]:
    """The ApiClient (--kubeconfig, else KUBECONFIG / ~/.kube/config, else in-cluster) and its namespace."""
    env = os.environ if environ is None else environ
    configuration = client.Configuration()
    path = kubeconfig_path(kube, env)
    try:
        if path is not None:
            loader = await config.load_kube_config(config_file=path, client_configuration=configuration)
            context = loader.current_context or {}
            namespace = str((context.get("context") or {}).get("namespace") or "default")
        else:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            namespace = _in_cluster_namespace(env)
    except (config.ConfigException, OSError, ValueError, KeyError) as exc:
        where = f"--kubeconfig {path}" if path else "in-cluster configuration"
        raise StartError(f"cannot load the Kubernetes configuration ({where}): {exc}") from exc
    async with client.ApiClient(configuration) as api:
        yield api, namespace
