"""Sandbox scale benchmark: API latency of the sandbox's Kubernetes API at N rollouts' worth of objects.

Starts the sandbox API server and simulated cluster in this process, creates what N rollouts imply (per
rollout a ReplicaSet with 2 pods, a stable and a canary Service, and an Ingress; no rollout controller runs)
through the HTTP API with aiohttp, waits for the cluster to settle (pods Ready, EndpointSlices written), then
measures GET / LIST / PATCH latency at that size and prints a table and JSON.

    .venv/bin/python benchmarks/sandbox_scale.py --rollouts 2000 [--requests 3000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.apiserver.server import ApiServer
from sandbox.cluster import Cluster

NS = "default"
SLICES = "endpointslices.discovery.k8s.io"
SERVICE_NAME = "kubernetes.io/service-name"
Op = Callable[[aiohttp.ClientSession, str, int], Any]  # returns aiohttp's request context manager


def _name(i: int) -> str:
    return f"ro-{i:05d}"


def _replicaset(i: int) -> dict[str, Any]:
    labels = {"app": _name(i), "rollouts-pod-template-hash": "h1"}
    container = {"name": "app", "image": "nginx:1", "ports": [{"name": "http", "containerPort": 80}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": f"{_name(i)}-h1", "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def _service(i: int, role: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{_name(i)}-{role}", "labels": {"rollout": _name(i), "role": role}},
        "spec": {
            "selector": {"app": _name(i), "rollouts-pod-template-hash": "h1"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _ingress(i: int, albs: int) -> dict[str, Any]:
    actions = json.dumps({"type": "forward", "forwardConfig": {"targetGroups": [
        {"serviceName": f"{_name(i)}-stable", "servicePort": "80", "weight": 100},
        {"serviceName": f"{_name(i)}-canary", "servicePort": "80", "weight": 0},
    ]}})
    backend = {"service": {"name": "action", "port": {"name": "use-annotation"}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": _name(i),
            "labels": {"rollout": _name(i)},
            "annotations": {
                "alb.ingress.kubernetes.io/group.name": f"alb-{i % albs}",
                "alb.ingress.kubernetes.io/actions.action": actions,
            },
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [{"host": f"{_name(i)}.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": backend}
            ]}}],
        },
    }


async def _send(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> None:
    async with session.request(method, url, **kw) as resp:
        await resp.read()
        if resp.status >= 400:
            raise RuntimeError(f"{method} {url}: {resp.status} {await resp.text()}")


async def _create_all(session: aiohttp.ClientSession, base: str, n: int, albs: int, conc: int) -> None:
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait((f"{base}/apis/apps/v1/namespaces/{NS}/replicasets", _replicaset(i)))
        for role in ("stable", "canary"):
            queue.put_nowait((f"{base}/api/v1/namespaces/{NS}/services", _service(i, role)))
        queue.put_nowait((f"{base}/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses", _ingress(i, albs)))

    async def worker() -> None:
        while not queue.empty():
            url, body = queue.get_nowait()
            await _send(session, "POST", url, json=body)

    await asyncio.gather(*(worker() for _ in range(conc)))


async def _settled(cluster: Cluster, n: int, limit: float) -> float:
    """Seconds until every pod is Ready and every Service has its EndpointSlice with 2 endpoints."""
    start = time.monotonic()
    store = cluster.storage
    while time.monotonic() - start < limit:
        pods = store.list("pods", NS)
        ready = sum(1 for p in pods if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []))
        slices = store.list(SLICES, NS)
        full = sum(1 for s in slices if len(s.get("endpoints") or []) == 2)
        if ready >= 2 * n and full >= 2 * n:
            return time.monotonic() - start
        await asyncio.sleep(0.5)
    raise RuntimeError(f"cluster did not settle within {limit} s")


def _ops() -> dict[str, Op]:
    """The measured operations: what a controller and kubectl do against a large cluster."""
    core, net, apps = "/api/v1/namespaces/" + NS, "/apis/networking.k8s.io/v1/namespaces/" + NS, (
        "/apis/apps/v1/namespaces/" + NS)
    slices = f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"

    def get(path: Callable[[int], str]) -> Op:
        return lambda s, base, i: s.get(base + path(i))

    def patch(path: Callable[[int], str], body: Callable[[int], dict[str, Any]]) -> Op:
        headers = {"Content-Type": "application/merge-patch+json"}
        return lambda s, base, i: s.patch(base + path(i), data=json.dumps(body(i)), headers=headers)


    def stamp(_i: int) -> dict[str, Any]:
        return {"metadata": {"annotations": {"bench/at": repr(time.perf_counter())}}}

    return {
        "GET ingress": get(lambda i: f"{net}/ingresses/{_name(i)}"),
        "GET service": get(lambda i: f"{core}/services/{_name(i)}-stable"),
        "GET replicaset": get(lambda i: f"{apps}/replicasets/{_name(i)}-h1"),
        "LIST pods by label": get(lambda i: f"{core}/pods?labelSelector=app%3D{_name(i)}"),
        "LIST services by label": get(lambda i: f"{core}/services?labelSelector=rollout%3D{_name(i)}"),
        "LIST slices by label": get(lambda i: f"{slices}?labelSelector={SERVICE_NAME}%3D{_name(i)}-stable"),
        "PATCH ingress": patch(lambda i: f"{net}/ingresses/{_name(i)}", stamp),
        "PATCH service": patch(lambda i: f"{core}/services/{_name(i)}-canary", stamp),
        "PATCH replicaset": patch(lambda i: f"{apps}/replicasets/{_name(i)}-h1", stamp),
    }


async def _measure(base: str, n: int, requests: int, conc: int) -> dict[str, list[float]]:
    ops = _ops()
    names = list(ops)
    samples: dict[str, list[float]] = {k: [] for k in names}
    rng = random.Random(13)
    plan = [(rng.choice(names), rng.randrange(n)) for _ in range(requests)]
    async with aiohttp.ClientSession() as session:

        async def worker(k: int) -> None:
            for op, i in plan[k::conc]:
                start = time.perf_counter()
                async with ops[op](session, base, i) as resp:
                    await resp.read()
                    if resp.status >= 400:
                        raise RuntimeError(f"{op} {i}: {resp.status}")
                samples[op].append((time.perf_counter() - start) * 1000)

        await asyncio.gather(*(worker(k) for k in range(conc)))
    return samples


async def _full_list(base: str) -> dict[str, float]:
    """One LIST of every pod and every Service (kubectl get pods, an informer's initial list), in ms."""
    out = {}
    async with aiohttp.ClientSession() as session:
        for what in ("pods", "services"):
            start = time.perf_counter()
            async with session.get(f"{base}/api/v1/namespaces/{NS}/{what}") as resp:
                await resp.read()
            out[f"LIST all {what}"] = (time.perf_counter() - start) * 1000
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(n: int, albs: int, requests: int, conc: int) -> dict[str, Any]:
    server = ApiServer()
    await server.start()
    cluster = Cluster(server.storage, pod_ready_seconds=0.0)
    await cluster.start()
    try:
        t0 = time.monotonic()
        async with aiohttp.ClientSession() as session:
            await _create_all(session, server.url, n, albs, 8)
        created = time.monotonic() - t0
        settle = await _settled(cluster, n, limit=max(120.0, n * 0.5))
        samples = await _measure(server.url, n, requests, conc)
        full = await _full_list(server.url)
    finally:
        await cluster.stop()
        await server.stop()
    ops = {
        op: {"n": len(v), "p50_ms": round(statistics.median(v), 2), "p99_ms": round(_pct(v, 0.99), 2),
             "max_ms": round(max(v), 2)}
        for op, v in samples.items()
    }
    every = [x for v in samples.values() for x in v]
    return {
        "rollouts": n, "pods": 2 * n, "services": 2 * n, "ingresses": n, "albs": albs,
        "concurrency": conc, "create_seconds": round(created, 2), "settle_seconds": round(settle, 2),
        "operations": ops,
        "all": {"n": len(every), "p50_ms": round(statistics.median(every), 2),
                "p99_ms": round(_pct(every, 0.99), 2), "max_ms": round(max(every), 2)},
        "full_list_ms": {k: round(v, 1) for k, v in full.items()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def _table(report: dict[str, Any]) -> str:
    lines = [
        f"sandbox at {report['rollouts']} rollouts ({report['pods']} pods, {report['services']} Services, "
        f"{report['ingresses']} Ingresses): created in {report['create_seconds']} s, settled in "
        f"{report['settle_seconds']} s; concurrency {report['concurrency']}; load {report['load_average']}",
        f"{'operation':<26}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}",
    ]
    rows = [*report["operations"].items(), ("ALL", report["all"])]
    for op, s in rows:
        lines.append(f"{op:<26}{s['n']:>6}{s['p50_ms']:>10}{s['p99_ms']:>10}{s['max_ms']:>10}")
    for op, ms in report["full_list_ms"].items():
        lines.append(f"{op:<26}{1:>6}{ms:>10}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rollouts", type=int, default=2000)
    parser.add_argument("--albs", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON report here")
    args = parser.parse_args()
    report = asyncio.run(run(args.rollouts, args.albs, args.requests, args.concurrency))
    print(_table(report))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
