"""Writes to the Kubernetes API: merge patches, creates and deletes, each with a deadline and counted.

Room: apply. One HTTP request per call, sent as the exact bytes the plan printed, after a token of the
--qps/--burst limiter (`service.kube.throttling.RequestLimiter`) when one is given; errors come back as a
small `KubeWriteError` tree (Conflict, NotFound, Invalid, Unavailable) for the caller to requeue on,
carrying the server's `Retry-After` as `retry_after` (the worker loop waits at least that long before the
retry). It never retries, never reads the caches and never decides what to write.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import aiohttp
from kubernetes_asyncio import client

from service import client_metrics
from service.kube import resources, throttling

__all__ = [
    "APPLICATION_JSON",
    "EVENTS",
    "LEASES",
    "MERGE_PATCH",
    "PODS",
    "SECRETS",
    "Conflict",
    "Invalid",
    "KubeWriteError",
    "KubeWriter",
    "NotFound",
    "Unavailable",
    "Writer",
    "object_path",
    "send",
    "wire_body",
]

MERGE_PATCH = "application/merge-patch+json"
APPLICATION_JSON = "application/json"
EVENTS = resources.Resource("", "v1", "events", "Event")
LEASES = resources.Resource("coordination.k8s.io", "v1", "leases", "Lease")
PODS = resources.Resource("", "v1", "pods", "Pod")
SECRETS = resources.Resource("", "v1", "secrets", "Secret")
_AUTH = ["BearerToken"]


class KubeWriteError(Exception):
    """A request the API server refused or never answered; `code` is the HTTP status (0: no answer)."""

    def __init__(self, code: int, reason: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}" if message else f"{code} {reason}")
        self.code = code
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class Conflict(KubeWriteError):
    """409: a stale resourceVersion precondition, or AlreadyExists on a create (see `reason`)."""


class NotFound(KubeWriteError):
    """404: the object (or its namespace) is gone."""


class Invalid(KubeWriteError):
    """422 or 400: the server will refuse this body again; retrying the same write does not help."""


class Unavailable(KubeWriteError):
    """5xx, 429, a timeout or a broken connection: try again later (`retry_after` seconds when given)."""


def wire_body(body: Any) -> bytes:
    """The bytes sent for `body`: compact JSON, keys in the caller's order (as the plan command prints)."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def object_path(
    resource: resources.Resource, namespace: str, name: str, subresource: str | None = None
) -> str:
    """URL path of one namespaced object, optionally of its subresource."""
    path = f"{resource.collection_path(namespace)}/{quote(name, safe='')}"
    return f"{path}/{subresource}" if subresource else path


def _error(code: int, reason: str | None, raw: bytes, headers: Mapping[str, str]) -> KubeWriteError:
    """The exception for an HTTP error answer, from its Status body when there is one."""
    try:
        decoded = json.loads(raw) if raw.strip() else {}
    except ValueError:
        decoded = None
    status: Mapping[str, Any] = decoded if isinstance(decoded, Mapping) else {}
    text = str(status.get("message") or (raw.decode("utf-8", "replace").strip() if decoded is None else ""))
    why = str(status.get("reason") or reason or "Unknown")
    retry_after = throttling.retry_after_seconds(headers, status)
    if code == 409:
        return Conflict(code, why, text)
    if code == 404:
        return NotFound(code, why, text)
    if code in (400, 422):
        return Invalid(code, why, text)
    if code == 429 or code >= 500:
        return Unavailable(code, why, text, retry_after=retry_after)
    return KubeWriteError(code, why, text, retry_after=retry_after)


async def _headers(
    api: client.ApiClient, content_type: str | None, query: list[tuple[str, str]]
) -> dict[str, str]:
    headers: dict[str, str] = {str(k): str(v) for k, v in api.default_headers.items()}
    headers["Accept"] = APPLICATION_JSON
    if content_type is not None:
        headers["Content-Type"] = content_type
    if api.cookie:
        headers["Cookie"] = api.cookie
    await api.update_params_for_auth(headers, query, _AUTH)
    return headers


async def send(
    api: client.ApiClient,
    method: str,
    path: str,
    *,
    body: Any = None,
    content_type: str | None = None,
    deadline: float,
    metrics: client_metrics.KubeClientMetrics | None = None,
    limiter: throttling.RequestLimiter | None = None,
) -> dict[str, Any]:
    """One request through the ApiClient's session, auth and TLS; the answer's JSON object ({} if none).

    `ApiClient.call_api` would re-serialise the body with json.dumps' spaced separators, so the body goes out
    as `wire_body(body)` on the client's own aiohttp session instead. It first waits for a `limiter` token
    (None: no limit); `deadline` starts after that wait. A KubeWriteError on any failure, `Unavailable`
    (code 0) past `deadline` seconds or when the connection breaks.
    """
    data = wire_body(body) if body is not None else None
    if data is not None and content_type is None:
        content_type = APPLICATION_JSON
    url = f"{api.configuration.host}{path}"
    if limiter is not None:
        await limiter.wait(method, url)
    status = 0
    try:
        async with asyncio.timeout(deadline):
            query: list[tuple[str, str]] = []
            headers = await _headers(api, content_type, query)
            rest = api.rest_client
            extra: dict[str, Any] = {}
            if rest.proxy:
                extra.update(proxy=rest.proxy, proxy_headers=rest.proxy_headers)
            if rest.server_hostname:
                extra["server_hostname"] = rest.server_hostname
            full_url = f"{url}?{urlencode(query)}" if query else url
            async with rest.pool_manager.request(
                method, full_url, data=data, headers=headers, timeout=aiohttp.ClientTimeout(total=deadline),
                **extra,
            ) as response:
                raw = await response.read()
                status = response.status
                if not 200 <= status <= 299:
                    raise _error(status, response.reason, raw, response.headers)
    except TimeoutError as exc:
        raise Unavailable(0, "Timeout", f"{method} {path}: no answer within {deadline:g}s") from exc
    except aiohttp.ClientError as exc:
        raise Unavailable(0, "ConnectionError", f"{method} {path}: {exc}") from exc
    finally:
        if metrics is not None:
            metrics.observe(method, url, status, created=body if method == "POST" else None)
    try:
        answer = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


class Writer(Protocol):
    """The writes the apply room makes; `KubeWriter` is the real one, tests may pass a fake."""

    async def patch_ingress(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch_rollout_status(self, namespace: str, name: str, body: Mapping[str, Any]
                                   ) -> dict[str, Any]: ...

    async def patch_rollout(self, namespace: str, name: str, body: Mapping[str, Any]
                            ) -> dict[str, Any]: ...

    async def get_rollout(self, namespace: str, name: str) -> dict[str, Any]: ...

    async def create_replicaset(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch_replicaset(self, namespace: str, name: str, body: Mapping[str, Any]
                               ) -> dict[str, Any]: ...

    async def delete_replicaset(
        self, namespace: str, name: str, *, resource_version: str | None = None, uid: str | None = None,
        propagation: str = "Background",
    ) -> dict[str, Any]: ...

    async def patch_service(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def replace_deployment(self, namespace: str, name: str, body: Mapping[str, Any]
                                 ) -> dict[str, Any]: ...

    async def create_event(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch_event(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...

    async def evict_pod(self, namespace: str, name: str) -> dict[str, Any]: ...

    async def patch_pod(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def get_replicaset(self, namespace: str, name: str) -> dict[str, Any]: ...

    async def patch_analysis_run_status(self, namespace: str, name: str, body: Mapping[str, Any]
                                        ) -> dict[str, Any]: ...

    async def create_analysis_run(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch_analysis_run(self, namespace: str, name: str, body: Mapping[str, Any]
                                 ) -> dict[str, Any]: ...

    async def delete_analysis_run(self, namespace: str, name: str, *, uid: str | None = None
                                  ) -> dict[str, Any]: ...

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any]: ...


class KubeWriter:
    """Every write the controller makes, one request each, within `deadline` seconds, counted in `metrics`.

    Each waits for a token of `limiter` first (--qps/--burst; None: no limit). Patches are JSON merge patches
    (RFC 7386); a `metadata.resourceVersion` in a patch body is a precondition the server enforces with 409
    (`Conflict`).
    """

    def __init__(
        self,
        api: client.ApiClient,
        *,
        deadline: float,
        metrics: client_metrics.KubeClientMetrics | None = None,
        limiter: throttling.RequestLimiter | None = None,
    ) -> None:
        self.api = api
        self.deadline = deadline
        self.metrics = metrics  # None for tests
        self.limiter = limiter  # None for tests: no client-side limit

    async def _send(self, method: str, path: str, body: Any, content_type: str) -> dict[str, Any]:
        return await send(self.api, method, path, body=body, content_type=content_type,
                          deadline=self.deadline, metrics=self.metrics, limiter=self.limiter)

    async def _patch(self, resource: resources.Resource, namespace: str, name: str, body: Mapping[str, Any],
                     subresource: str | None = None) -> dict[str, Any]:
        path = object_path(resource, namespace, name, subresource)
        return await self._send("PATCH", path, body, MERGE_PATCH)

    async def _create(self, resource: resources.Resource, namespace: str, body: Mapping[str, Any]
                      ) -> dict[str, Any]:
        return await self._send("POST", resource.collection_path(namespace), body, APPLICATION_JSON)

    async def patch_ingress(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch an Ingress; a `metadata.resourceVersion` in `body` is a precondition."""
        return await self._patch(resources.INGRESSES, namespace, name, body)

    async def patch_rollout_status(self, namespace: str, name: str, body: Mapping[str, Any]
                                   ) -> dict[str, Any]:
        """Merge-patch a Rollout's `/status` subresource (`body` is `{"status": {...}}`)."""
        return await self._patch(resources.ROLLOUTS, namespace, name, body, "status")

    async def patch_rollout(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch a Rollout's main resource (spec or metadata)."""
        return await self._patch(resources.ROLLOUTS, namespace, name, body)

    async def get_rollout(self, namespace: str, name: str) -> dict[str, Any]:
        """A live GET of one Rollout (not the cache); `NotFound` when it is deleted."""
        path = object_path(resources.ROLLOUTS, namespace, name)
        return await self._send("GET", path, None, APPLICATION_JSON)

    async def create_replicaset(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a ReplicaSet; `Conflict` (reason AlreadyExists) when the name is taken."""
        return await self._create(resources.REPLICA_SETS, namespace, body)

    async def patch_replicaset(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch a ReplicaSet (replicas, annotations)."""
        return await self._patch(resources.REPLICA_SETS, namespace, name, body)

    async def delete_replicaset(
        self,
        namespace: str,
        name: str,
        *,
        resource_version: str | None = None,
        uid: str | None = None,
        propagation: str = "Background",
    ) -> dict[str, Any]:
        """DELETE a ReplicaSet; `resource_version` and `uid` are preconditions (409 when stale)."""
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        options["propagationPolicy"] = propagation
        preconditions = {key: value for key, value in (("uid", uid), ("resourceVersion", resource_version))
                         if value is not None}
        if preconditions:
            options["preconditions"] = preconditions
        path = object_path(resources.REPLICA_SETS, namespace, name)
        return await self._send("DELETE", path, options, APPLICATION_JSON)

    async def patch_service(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch a Service (its selector)."""
        return await self._patch(resources.SERVICES, namespace, name, body)

    async def replace_deployment(self, namespace: str, name: str, body: Mapping[str, Any]
                                 ) -> dict[str, Any]:
        """PUT a Deployment (the reference's Update, the verb its ClusterRole grants); the body's
        `metadata.resourceVersion` is a precondition (409 when stale)."""
        path = object_path(resources.DEPLOYMENTS, namespace, name)
        return await self._send("PUT", path, body, APPLICATION_JSON)

    async def create_event(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a core/v1 Event."""
        return await self._create(EVENTS, namespace, body)

    async def patch_event(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch a core/v1 Event (count, lastTimestamp)."""
        return await self._patch(EVENTS, namespace, name, body)

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """A live LIST of the namespace's pods matching `label_selector` (no cache of pods is kept)."""
        query = f"?{urlencode({'labelSelector': label_selector})}" if label_selector else ""
        answer = await self._send("GET", PODS.collection_path(namespace) + query, None, APPLICATION_JSON)
        items = answer.get("items")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    async def evict_pod(self, namespace: str, name: str) -> dict[str, Any]:
        """POST a policy/v1 Eviction; `Unavailable` with code 429 when a PodDisruptionBudget forbids it."""
        metadata = {"name": name, "namespace": namespace}
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": metadata}
        path = object_path(PODS, namespace, name, "eviction")
        return await self._send("POST", path, body, APPLICATION_JSON)

    async def patch_pod(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch a pod's metadata (its ephemeral labels and annotations); `NotFound` when it is gone."""
        return await self._patch(PODS, namespace, name, body)

    async def get_replicaset(self, namespace: str, name: str) -> dict[str, Any]:
        """A live GET of one ReplicaSet (the cache holds only hash-labelled ones); `NotFound` when absent."""
        path = object_path(resources.REPLICA_SETS, namespace, name)
        return await self._send("GET", path, None, APPLICATION_JSON)

    async def patch_analysis_run_status(self, namespace: str, name: str, body: Mapping[str, Any]
                                        ) -> dict[str, Any]:
        """Merge-patch an AnalysisRun's `/status` subresource; `NotFound` also when the CRD has none."""
        return await self._patch(resources.ANALYSIS_RUNS, namespace, name, body, "status")

    async def create_analysis_run(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST an AnalysisRun (a Rollout's analysis); `Conflict` (AlreadyExists) when the name is taken."""
        return await self._create(resources.ANALYSIS_RUNS, namespace, body)

    async def patch_analysis_run(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch an AnalysisRun (spec, metadata, and `status` under the upstream CRD, which has no
        status subresource); a `metadata.resourceVersion` in `body` is a precondition."""
        return await self._patch(resources.ANALYSIS_RUNS, namespace, name, body)

    async def delete_analysis_run(self, namespace: str, name: str, *, uid: str | None = None
                                  ) -> dict[str, Any]:
        """DELETE an AnalysisRun (its ttlStrategy expired); `uid` is a precondition (409 when replaced)."""
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        path = object_path(resources.ANALYSIS_RUNS, namespace, name)
        return await self._send("DELETE", path, options, APPLICATION_JSON)

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any]:
        """A live GET of one Secret (an analysis argument's `secretKeyRef`; never cached); `NotFound`."""
        path = object_path(SECRETS, namespace, name)
        return await self._send("GET", path, None, APPLICATION_JSON)
