"""Reconciling one AnalysisRun: read it from the cache, measure what is due, write its status and events.

Room: reconcile → apply, for AnalysisRuns. The workers of `service.analysis.running` call `reconcile(key)`
for keys the AnalysisRun informer (service.kube.informers) queued. It ports analysis/controller.go's
syncHandler, analysis.go's reconcileAnalysisRun and sync.go's persistAnalysisRunStatus around the pure engine
(`statemachine.analysis_run`: load → due → record): the Secrets the arguments name are read live, the due
metrics measured by `service.analysis.measuring`, the new status merge-patched with a resourceVersion
precondition (so a measurement decided on a stale copy is never recorded), the engine's events emitted
(service.kube.recording), and the key requeued when the next measurement is due. A completed run is only
deleted once its ttlStrategy expires. Whoever created the run (our Rollout reconciler or a user) does not
matter here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from service import clock as clocks
from service import controller, logs, results
from service.analysis import measuring
from service.analysis.providers import Providers
from service.kube import caches, recording, watching, writing
from statemachine import analysis_args, analysis_run, merge_patch
from statemachine import analysis_spec as spec
from statemachine.analysis_status import RunStatus, render_status

__all__ = ["ANALYSIS_RUN", "RunReconciler", "RunWriter"]

log = structlog.get_logger(__name__)

ANALYSIS_RUN = "analysisrun"
"""The log key naming the run ("namespace/name"), as the reference's logutil.AnalysisRunKey."""


class RunWriter(Protocol):
    """The calls a reconcile makes (`writing.KubeWriter` has them)."""

    async def patch_analysis_run_status(self, namespace: str, name: str, body: Mapping[str, Any]
                                        ) -> dict[str, Any]: ...

    async def patch_analysis_run(self, namespace: str, name: str, body: Mapping[str, Any]
                                 ) -> dict[str, Any]: ...

    async def delete_analysis_run(self, namespace: str, name: str, *, uid: str | None = None
                                  ) -> dict[str, Any]: ...

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any]: ...


def _metadata(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = raw.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _owner_rollout(raw: Mapping[str, Any], namespace: str) -> str | None:
    """The key of the Rollout that owns the run (its controller reference), if any."""
    refs = _metadata(raw).get("ownerReferences")
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, Mapping) and ref.get("kind") == "Rollout" and isinstance(ref.get("name"), str):
            return f"{namespace}/{ref['name']}"
    return None


@contextlib.contextmanager
def _bound(raw: Mapping[str, Any], namespace: str, name: str) -> Iterator[None]:
    """Logs name the run, and as `rollout` the Rollout owning it (none for a run a user created)."""
    owner = _owner_rollout(raw, namespace)
    with structlog.contextvars.bound_contextvars(**{logs.NAMESPACE: namespace,
                                                    ANALYSIS_RUN: f"{namespace}/{name}"}):
        if owner is None:
            structlog.contextvars.unbind_contextvars(logs.ROLLOUT)  # the worker bound the run's key there
            yield
        else:
            with structlog.contextvars.bound_contextvars(**{logs.ROLLOUT: owner}):
                yield


def _decoded(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's `data`, base64-decoded (what Go's string(secret.Data[key]) gives)."""
    data = secret.get("data")
    out: dict[str, str] = {}
    for key, value in (data.items() if isinstance(data, Mapping) else ()):
        with contextlib.suppress(binascii.Error, TypeError, ValueError):
            out[str(key)] = base64.b64decode(value).decode("utf-8", "replace")
    return out


def _ttl_expiry(run: analysis_run.Run) -> datetime | None:
    """The first instant `analysis_run.ttl_expired` holds (whole seconds past the TTL), if it ever will."""
    status, ttl = run.status, run.spec.ttl_strategy
    if not spec.completed(status.phase) or status.completed_at is None:
        return None
    if status.phase == spec.SUCCESSFUL and "secondsAfterSuccess" in ttl:
        seconds = ttl["secondsAfterSuccess"]
    elif status.phase == spec.FAILED and "secondsAfterFailure" in ttl:
        seconds = ttl["secondsAfterFailure"]
    elif "secondsAfterCompletion" in ttl:
        seconds = ttl["secondsAfterCompletion"]
    else:
        return None
    return status.completed_at + timedelta(seconds=seconds + 1)


def _wait(until: datetime, now: datetime) -> float:
    return max(0.0, (until - now).total_seconds())


class RunReconciler:
    """Runs AnalysisRuns from the `runs` cache; the providers are shared by every run (their rate limits)."""

    def __init__(self, *, runs: watching.Reflector, writer: RunWriter, recorder: recording.EventRecorder,
                 providers: Providers, clock: clocks.Clock, deadline: float,
                 measure_within: float = measuring.MEASURE_TIMEOUT_SECONDS) -> None:
        self.runs = runs
        self.writer = writer
        self.recorder = recorder
        self.providers = providers
        self.clock = clock
        self.deadline = deadline
        """How long our own write may take to reach the cache before the reconcile fails (and retries)."""
        self.measure_within = measure_within
        self._status_subresource: bool | None = None
        """Whether the AnalysisRun CRD serves `/status` (None: not known yet). The upstream CRD does not."""

    async def reconcile(self, key: str) -> results.Result:
        """Take the measurements due on the run `key` ("ns/name"), write its status; raises to be retried."""
        namespace, name = controller.split_key(key)
        raw = self.runs.store.get(key)
        if raw is None:
            log.debug("analysis run not in the cache: deleted", **{ANALYSIS_RUN: key})
            return results.Result()
        with _bound(raw, namespace, name):
            return await self._reconcile(raw, namespace, name)

    async def _reconcile(self, raw: caches.RawObject, namespace: str, name: str) -> results.Result:
        if _metadata(raw).get("deletionTimestamp"):
            log.info("no reconciliation as analysis run marked for deletion")
            return results.Result()
        run = analysis_run.load(raw)
        if spec.completed(run.status.phase):
            return await self._collect(run, namespace, name, caches.uid_of(raw))
        secrets = await self._secrets(namespace, run)
        tasks = analysis_run.due(run, self.clock.now(), secrets)
        if tasks.outcome is not None:
            outcome = tasks.outcome
            log.warning("analysis run ends", phase=outcome.status.phase, message=outcome.status.message)
        else:
            log.info("taking measurements", count=len(tasks.tasks))
            measured = await measuring.measure_all(self.providers, tasks.tasks, clock=self.clock,
                                                   within=self.measure_within, redact=tasks.redact)
            outcome = analysis_run.record(run, measured.measurements, self.clock.now(), redact=tasks.redact,
                                          metadata=measured.metadata)
        try:
            await self._write(raw, namespace, name, outcome)
        except writing.NotFound:
            log.info("the analysis run was deleted while it was measured")
            return results.Result()
        now = self.clock.now()
        if spec.completed(outcome.status.phase):
            expiry = _ttl_expiry(analysis_run.Run(run.spec, outcome.status))
            return results.Result(None if expiry is None else _wait(expiry, now))
        if outcome.next_at is None:
            return results.Result()
        log.debug("looking again when the next measurement is due", next_at=outcome.next_at.isoformat())
        return results.Result(_wait(outcome.next_at, now))

    async def _collect(self, run: analysis_run.Run, namespace: str, name: str, uid: str) -> results.Result:
        """maybeGarbageCollectAnalysisRun: delete a completed run once its TTL passed, else look then."""
        now = self.clock.now()
        if not analysis_run.ttl_expired(run, now):
            expiry = _ttl_expiry(run)
            return results.Result(None if expiry is None else _wait(expiry, now))
        log.info("deleting the analysis run: its ttlStrategy expired", phase=run.status.phase)
        with contextlib.suppress(writing.NotFound):
            await self.writer.delete_analysis_run(namespace, name, uid=uid or None)
        return results.Result()

    async def _secrets(self, namespace: str, run: analysis_run.Run) -> analysis_args.Secrets:
        """The Secrets the arguments name, read live: None when absent, the server's message when refused.

        A transient failure (5xx, 429, no answer) raises instead: the run must not end in Error for it.
        """
        found: dict[str, Mapping[str, str] | str | None] = {}
        for secret in analysis_args.secret_names(run.spec.args):
            try:
                found[secret] = _decoded(await self.writer.get_secret(namespace, secret))
            except writing.NotFound:
                found[secret] = None
            except writing.Unavailable:
                raise
            except writing.KubeWriteError as err:
                found[secret] = err.message or str(err)
        return found

    async def _write(self, raw: caches.RawObject, namespace: str, name: str,
                     outcome: analysis_run.Outcome) -> None:
        """persistAnalysisRunStatus: the status diff (if any) under a resourceVersion precondition, then the
        events, then wait until the cache shows the write (a requeue must never decide on the older copy)."""
        old = raw.get("status")
        patch = merge_patch.diff({"status": old if isinstance(old, Mapping) else {}},
                                 {"status": render_status(outcome.status)})
        if not patch:
            log.debug("no status changes: skipping patch")
            return
        body = {"metadata": {"resourceVersion": caches.resource_version_of(raw)}, **patch}
        written = await self._patch_status(namespace, name, body)
        _log_written(outcome.status)
        for event in outcome.events:
            await self.recorder.emit(raw, event)
        await results.wait_written(self.runs, written, self.deadline)

    async def _patch_status(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH `/status` where the CRD serves it, else the run itself. The upstream CRD has none: a 404 on
        `/status` (or a 403 from a role granting none), then a successful PATCH of the run prove it."""
        if self._status_subresource is not False:
            try:
                answer = await self.writer.patch_analysis_run_status(namespace, name, body)
            except writing.KubeWriteError as err:
                if err.code not in (403, 404) or self._status_subresource:
                    raise  # the subresource is served: the run is gone, or the write failed
            else:
                self._status_subresource = True
                return answer
        answer = await self.writer.patch_analysis_run(namespace, name, body)
        if self._status_subresource is None:
            log.info("the AnalysisRun CRD has no status subresource: patching runs whole, as the reference")
            self._status_subresource = False
        return answer


def _log_written(status: RunStatus) -> None:
    if spec.completed(status.phase):
        log.info("analysis run completed", phase=status.phase, message=status.message)
    else:
        log.info("analysis run status written", phase=status.phase)
