"""What a Rollout's analysis is made of, read from the informer caches for its snapshot.

Room: reconcile (observe). The AnalysisRuns the Rollout controls (its uid in their controller
ownerReference) and the AnalysisTemplates of its namespace and the ClusterAnalysisTemplates, by name, as
`Snapshot` fields (`statemachine.canary_analysis` decides from them). Caches that are not served (the
analysis CRDs missing) read as empty. Our built-in ClusterAnalysisTemplates (`alb-canary-health`,
service.analysis.builtin) are there even when not applied to the cluster; one applied under the same name
wins. Never calls the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.analysis import builtin
from service.kube import indexes
from service.kube import informers as informers_mod
from statemachine import models, raw
from statemachine.snapshot import AnalysisRunView

__all__ = ["observe"]


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return raw.mapping(obj, "metadata")


def _controlled_runs(informers: informers_mod.Informers, uid: str) -> list[dict[str, Any]]:
    """The AnalysisRuns whose controller is `uid`, off the controller index (no uid: none, as before)."""
    return informers.analysis_runs.store.by_index(indexes.BY_CONTROLLER, uid) if uid else []


def observe(informers: informers_mod.Informers, rollout: models.Rollout) -> dict[str, Any]:
    """`analysis_runs`, `analysis_templates` and `cluster_analysis_templates` for the Rollout's snapshot."""
    runs = tuple(sorted(
        (AnalysisRunView.of(run) for run in _controlled_runs(informers, rollout.uid)
         if _meta(run).get("namespace") == rollout.namespace),  # the index matched the controller uid
        key=lambda view: view.name))
    templates = {str(_meta(t).get("name")): t
                 for t in indexes.in_namespace(informers.analysis_templates.store, rollout.namespace)}
    cluster = {**builtin.BUILTIN_TEMPLATES,
               **{str(_meta(t).get("name")): t for t in informers.cluster_analysis_templates.store.list()}}
    return {"analysis_runs": runs, "analysis_templates": templates, "cluster_analysis_templates": cluster,
            "analysis_observed": True}
