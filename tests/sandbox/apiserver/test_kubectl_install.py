"""The install as a user tries it on the sandbox: `kubectl apply -k k8s/base` (kustomize, no
`--validate=false`) creates every object of the base, RBAC and NetworkPolicy included (stored, not enforced),
and a second apply changes nothing (but the PodDisruptionBudget kubectl always resends)."""

from __future__ import annotations

from pathlib import Path

from sandbox.apiserver.server import ApiServer

from .kubectl import Kubectl, needs_kubectl

BASE = Path(__file__).resolve().parents[3] / "k8s" / "base"


@needs_kubectl
async def test_apply_the_base(kubectl: Kubectl, api_server: ApiServer) -> None:
    code, out, err = await kubectl("apply", "-k", str(BASE))
    assert code == 0, err
    storage = api_server.storage
    for resource, namespace in (("clusterroles.rbac.authorization.k8s.io", None),
                                ("clusterrolebindings.rbac.authorization.k8s.io", None),
                                ("roles.rbac.authorization.k8s.io", "argo-rollouts"),
                                ("rolebindings.rbac.authorization.k8s.io", "argo-rollouts"),
                                ("networkpolicies.networking.k8s.io", "argo-rollouts"),
                                ("deployments.apps", "argo-rollouts"),
                                ("poddisruptionbudgets.policy", "argo-rollouts"),
                                ("serviceaccounts", "argo-rollouts")):
        assert storage.list(resource, namespace), f"no {resource} after `kubectl apply -k`:\n{out}"
    pdb = storage.get("poddisruptionbudgets.policy", "argo-rollouts", "alb-rollouts")
    code, again, err = await kubectl("apply", "-k", str(BASE))
    assert code == 0, err
    # kubectl always resends a PodDisruptionBudget's selector (its patch strategy is `replace`), so it says
    # "configured" for it as against a real API server; the object itself does not change
    changed = [line for line in again.splitlines() if not line.endswith(" unchanged")]
    assert changed == ["poddisruptionbudget.policy/alb-rollouts configured"], again
    after = storage.get("poddisruptionbudgets.policy", "argo-rollouts", "alb-rollouts")
    assert pdb is not None and after is not None
    assert (after["spec"], after["metadata"]["generation"]) == (pdb["spec"], pdb["metadata"]["generation"])
