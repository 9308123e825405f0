"""The process's Kubernetes client (service/kube_client.py), against the sandbox's API server and a proxy.

The proxy the environment names is used, with its credentials, and decided once at start-up as client-go does;
NO_PROXY naming the API server's host bypasses it; ~/.netrc is never read (kubernetes_asyncio's session used
to, on every request: with a netrc entry for the API server's host every request failed, since a bearer token
and netrc credentials cannot be combined).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from kubernetes_asyncio import client

from sandbox.apiserver import kubeconfig as kubeconfigs
from sandbox.apiserver.server import ApiServer
from service import kube_client, settings

_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
                    "ALL_PROXY", "all_proxy")


class Proxy:
    """A forward proxy that answers /version itself and records what it was asked, with which credentials."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.Response:
        self.asked.append((str(request.url), request.headers.get("Proxy-Authorization")))
        return web.json_response({
            "major": "1", "minor": "32", "gitVersion": "v1.32.0-through-the-proxy", "gitCommit": "0",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
            "compiler": "gc", "platform": "linux/amd64"})


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    made = Proxy()
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
def kubeconfig(api_server: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return kubeconfigs.write_kubeconfig(tmp_path / "kubeconfig", api_server.url)


async def _version(api: client.ApiClient) -> str:
    return str((await client.VersionApi(api).get_code()).git_version)


async def test_the_environments_proxy_is_used_with_its_credentials_and_decided_once(
        kubeconfig: Path, proxy: Proxy, api_server: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://alice:s3cret@"))
    async with kube_client.open_api(settings.KubeSettings(kubeconfig=str(kubeconfig)), {}) as (api, _):
        assert await _version(api) == "v1.32.0-through-the-proxy"
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        assert await _version(api) == "v1.32.0-through-the-proxy"
    credentials = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert proxy.asked == [(f"{api_server.url}/version/", credentials)] * 2


async def test_no_proxy_naming_the_api_servers_host_goes_direct(
        kubeconfig: Path, proxy: Proxy, api_server: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "example.com,127.0.0.1")
    async with kube_client.open_api(settings.KubeSettings(kubeconfig=str(kubeconfig)), {}) as (api, _):
        assert await _version(api) != "v1.32.0-through-the-proxy"
    assert proxy.asked == []


async def test_a_netrc_entry_for_the_api_servers_host_changes_nothing(
        kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login bob password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    kube = settings.KubeSettings(kubeconfig=str(kubeconfig))
    async with kube_client.open_api(kube, {}) as (api, namespace):
        assert namespace == "default"
        listed = await client.CoreV1Api(api).list_namespaced_service("default")
        assert listed.items == []
