"""`kubectl kustomize` renders k8s/base and k8s/namespaced cleanly, into the objects the other manifest tests
check (tests/test_manifests.py and tests/e2e/test_least_privilege.py read k8s/base's files).

Aspects: both render with no error and no warning; the base renders to exactly the objects of its files; the
namespaced overlay renders the same objects but that the ClusterRole is a Role in the controller's namespace
with the same rules less the cluster-scoped ClusterAnalysisTemplates, the ClusterRoleBinding a RoleBinding to
it, and the Deployment's args gain `--namespaced` (they still parse with the controller's flags, namespaced);
an overlay setting another namespace moves every namespaced object, the Namespace and the bindings' subject
there; the overlay docs/migrate.md shows renders with its image, IAM role and carried-over flag applied.
Skipped where kubectl is not installed.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_manifests import NAMESPACE, base_objects, granted, parsed_args

ROOT = Path(__file__).resolve().parent.parent
KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None,
                                reason="kubectl is not installed (apt-get install kubernetes-client)")

Key = tuple[str, str | None, str]  # (kind, namespace, name)


def render(directory: Path) -> dict[Key, dict[str, Any]]:
    """`kubectl kustomize <directory>`'s objects by kind, namespace and name; nothing may go to stderr."""
    assert KUBECTL is not None
    done = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return by_key([doc for doc in yaml.safe_load_all(done.stdout) if doc])


def by_key(objects: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    keyed = {(doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]): doc for doc in objects}
    assert len(keyed) == len(objects)
    return keyed


def test_the_base_renders_to_its_files_objects() -> None:
    assert render(ROOT / "k8s" / "base") == by_key(base_objects())


def test_the_namespaced_overlay_turns_the_cluster_role_into_a_role_and_adds_the_flag() -> None:
    rendered = render(ROOT / "k8s" / "namespaced")
    files = by_key(base_objects())
    cluster_role = files.pop(("ClusterRole", None, "alb-rollouts"))
    cluster_binding = files.pop(("ClusterRoleBinding", None, "alb-rollouts"))
    deployment = files[("Deployment", NAMESPACE, "alb-rollouts")]
    assert not [key for key in rendered if key[0].startswith("Cluster")]

    role = rendered.pop(("Role", NAMESPACE, "alb-rollouts"))
    assert role["metadata"]["labels"] == cluster_role["metadata"]["labels"]
    assert [rule for rule in cluster_role["rules"] if rule not in role["rules"]] == [
        {"apiGroups": ["argoproj.io"], "resources": ["clusteranalysistemplates"], "verbs": ["list", "watch"]}]
    assert granted(role) <= granted(cluster_role)

    binding = rendered.pop(("RoleBinding", NAMESPACE, "alb-rollouts"))
    assert binding["subjects"] == cluster_binding["subjects"]
    assert binding["roleRef"] == {**cluster_binding["roleRef"], "kind": "Role"}

    namespaced = copy.deepcopy(deployment)
    namespaced["spec"]["template"]["spec"]["containers"][0]["args"].append("--namespaced")
    assert rendered == {**files, ("Deployment", NAMESPACE, "alb-rollouts"): namespaced}
    assert parsed_args(namespaced).kube.namespaced is True


def test_an_overlay_installs_everything_in_another_namespace(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(ROOT / "k8s" / "base", overlay)  # kustomize takes no absolute path
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({"resources": [base], "namespace": "ops"}))
    rendered = render(overlay)
    assert ("Namespace", None, "ops") in rendered
    kinds = {kind for kind, namespace, _ in rendered if namespace is not None}
    assert kinds and not [key for key in rendered if key[1] not in (None, "ops")]
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        (binding,) = [doc for key, doc in rendered.items() if key[0] == kind]
        assert [subject["namespace"] for subject in binding["subjects"]] == ["ops"]


def test_the_overlay_of_the_migration_guide_renders(tmp_path: Path) -> None:
    guide = (ROOT / "docs" / "migrate.md").read_text()
    start = guide.index("   # alb-rollouts/kustomization.yaml\n")
    block = guide[start:guide.index("   ```", start)]
    overlay = tmp_path / "alb-rollouts"
    overlay.mkdir()
    text = "\n".join(line.removeprefix("   ") for line in block.splitlines())
    (overlay / "kustomization.yaml").write_text(text)
    (tmp_path / "k8s").symlink_to(ROOT / "k8s")  # the guide's `../k8s/base`
    rendered = render(overlay)
    account = rendered[("ServiceAccount", NAMESPACE, "alb-rollouts")]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/alb-rollouts")
    deployment = rendered[("Deployment", NAMESPACE, "alb-rollouts")]
    assert parsed_args(deployment).aws.client.region == "eu-west-1"
    (main,) = deployment["spec"]["template"]["spec"]["containers"]
    assert main["image"].endswith(".amazonaws.com/alb-rollouts:0.1.0")
