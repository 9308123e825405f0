"""The examples in k8s/examples/ are accepted by the controller as they stand.

Aspects, for every example directory: its rollout.yaml holds only Services, Ingresses and one Rollout, and
the README's table names it; the Rollout parses (`statemachine.parsing.parse_rollout`) and validates with the
example's own Ingresses and Services (`statemachine.validation.validate`: no InvalidSpec, so the strategy is
one alb-rollouts serves, the Services exist, the Ingresses route the stable or root action by
`use-annotation`); its analysis (if any) builds against the ClusterAnalysisTemplates of k8s/analysis/
(`statemachine.canary_analysis.spec_error`), and fails to without them, so that check is real; every Service
selects the Rollout's pods; every Ingress is of class `alb` in IP mode. The analysis example names the
built-in `alb-canary-health` with every argument it requires. The blue-green example names its two Services
and routes the active one by port number, with no actions annotation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from statemachine import canary_analysis, parsing, validation
from statemachine.snapshot import Snapshot

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "k8s" / "examples"
DIRECTORIES = sorted(path.parent.name for path in EXAMPLES.glob("*/rollout.yaml"))


def objects(example: str) -> dict[str, dict[str, dict[str, Any]]]:
    """kind -> name -> object, of the example's rollout.yaml."""
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in yaml.safe_load_all((EXAMPLES / example / "rollout.yaml").read_text()):
        if doc:
            by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    return by_kind


def the_rollout(example: str) -> dict[str, Any]:
    (raw,) = objects(example)["Rollout"].values()
    return raw


def cluster_templates() -> dict[str, dict[str, Any]]:
    """The ClusterAnalysisTemplates k8s/analysis/ ships, by name."""
    found = [doc for path in sorted((ROOT / "k8s" / "analysis").glob("*.yaml"))
             for doc in yaml.safe_load_all(path.read_text()) if doc]
    return {doc["metadata"]["name"]: doc for doc in found if doc["kind"] == "ClusterAnalysisTemplate"}


def test_every_example_the_brief_asks_for_is_there_and_in_the_readme() -> None:
    expected = ["analysis", "bluegreen", "canary", "header-route", "multi-ingress", "ping-pong"]
    assert DIRECTORIES == expected
    readme = (EXAMPLES / "README.md").read_text()
    assert [name for name in DIRECTORIES if f"| `{name}/` |" not in readme] == []


@pytest.mark.parametrize("example", DIRECTORIES)
def test_the_example_holds_services_ingresses_and_one_rollout(example: str) -> None:
    by_kind = objects(example)
    assert set(by_kind) == {"Service", "Ingress", "Rollout"}
    assert len(by_kind["Rollout"]) == 1


@pytest.mark.parametrize("example", DIRECTORIES)
def test_the_example_rollout_parses_and_validates_with_its_objects(example: str) -> None:
    by_kind = objects(example)
    rollout = parsing.parse_rollout(the_rollout(example))
    assert validation.validate(rollout, ingresses=by_kind["Ingress"], services=by_kind["Service"]) is None


@pytest.mark.parametrize("example", DIRECTORIES)
def test_the_example_analysis_builds_against_the_shipped_templates(example: str) -> None:
    raw = the_rollout(example)
    rollout = parsing.parse_rollout(raw)
    with_templates = Snapshot(rollout=rollout, raw=raw, cluster_analysis_templates=cluster_templates(),
                              analysis_observed=True)
    assert canary_analysis.spec_error(with_templates) is None
    if example == "analysis":
        without = Snapshot(rollout=rollout, raw=raw, analysis_observed=True)
        problem = str(canary_analysis.spec_error(without))
        assert "ClusterAnalysisTemplate 'alb-canary-health' not found" in problem


@pytest.mark.parametrize("example", DIRECTORIES)
def test_the_example_services_select_the_rollout_pods_and_ingresses_are_alb_in_ip_mode(example: str) -> None:
    by_kind = objects(example)
    labels = the_rollout(example)["spec"]["template"]["metadata"]["labels"]
    for service in by_kind["Service"].values():
        assert service["spec"]["selector"].items() <= labels.items(), service["metadata"]["name"]
    for ingress in by_kind["Ingress"].values():
        assert ingress["spec"]["ingressClassName"] == "alb"
        assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/target-type"] == "ip"


def test_the_analysis_example_gives_every_required_argument_of_alb_canary_health() -> None:
    analysis = the_rollout("analysis")["spec"]["strategy"]["canary"]["analysis"]
    assert analysis["templates"] == [{"templateName": "alb-canary-health", "clusterScope": True}]
    template = cluster_templates()["alb-canary-health"]
    required = {arg["name"] for arg in template["spec"]["args"] if "value" not in arg}
    assert required == {arg["name"] for arg in analysis["args"]}
    assert analysis["startingStep"] >= 1  # status.alb is written once the first setWeight is verified


def test_bluegreen_example_names_its_services_and_routes_the_active_one() -> None:
    by_kind = objects("bluegreen")
    services = by_kind["Service"]
    blue_green = the_rollout("bluegreen")["spec"]["strategy"]["blueGreen"]
    assert parsing.parse_rollout(the_rollout("bluegreen")).blue_green is not None
    assert {blue_green["activeService"], blue_green["previewService"]} == set(services)
    assert blue_green["autoPromotionEnabled"] is True
    (ingress,) = by_kind["Ingress"].values()
    annotations = ingress["metadata"].get("annotations") or {}
    assert not [key for key in annotations if key.startswith("alb.ingress.kubernetes.io/actions.")]
    (path,) = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    backend = path["backend"]["service"]
    assert backend["name"] == blue_green["activeService"]
    active_ports = [port["port"] for port in services[backend["name"]]["spec"]["ports"]]
    assert backend["port"] == {"number": active_ports[0]}
