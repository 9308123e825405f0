"""The Kubernetes client of the process: which configuration it loads, and the namespace it starts in.

Room: start-up. --kubeconfig, else the first KUBECONFIG entry, else ~/.kube/config when it exists, else the
in-cluster service account, as client-go's loading rules do; a configuration that cannot be loaded is a
`StartError` naming where it was looked for. The proxy (kubeconfig `proxy-url`, else HTTPS_PROXY / HTTP_PROXY
unless NO_PROXY names the host) is decided once, as client-go does, not looked up again on every request.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import helpers as aiohttp_helpers
from kubernetes_asyncio import client, config
from yarl import URL

from service import settings as config_module
from service.startup_checks import StartError

__all__ = ["DEFAULT_KUBECONFIG", "READ_BUFSIZE", "kubeconfig_path", "open_api"]

DEFAULT_KUBECONFIG = "~/.kube/config"
"""Read when neither --kubeconfig nor KUBECONFIG names a file and it exists (else: in-cluster)."""
READ_BUFSIZE = 2**21
"""kubernetes_asyncio's read buffer: a watch event may carry an object of up to etcd's 1.5 MiB."""


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
    if not configuration.proxy:
        _proxy_from_environment(configuration)
    async with client.ApiClient(configuration) as api:
        _stop_looking_at_the_environment(api)
        yield api, namespace


def _proxy_from_environment(configuration: client.Configuration) -> None:
    """The proxy the environment names for the API server, if any (aiohttp's reading of it)."""
    try:
        proxy, auth = aiohttp_helpers.get_env_proxy_for_url(URL(configuration.host or ""))
    except LookupError:
        return
    if auth is not None:  # aiohttp sends a proxy URL's credentials as Proxy-Authorization
        proxy = proxy.with_user(auth.login).with_password(auth.password)
    configuration.proxy = str(proxy)


def _stop_looking_at_the_environment(api: client.ApiClient) -> None:
    """kubernetes_asyncio's session trusts the environment: every request then parsed the proxy variables and
    read ~/.netrc twice, in executor threads (about a tenth of the controller's CPU at scale). The same
    connection pool, in a session that does not; the proxy was decided above."""
    rest = api.rest_client
    connector = rest.pool_manager.connector
    rest.pool_manager.detach()
    rest.pool_manager = aiohttp.ClientSession(connector=connector, trust_env=False, read_bufsize=READ_BUFSIZE)
