"""`alb-rollouts plan`, run through the CLI on the example Rollout (fixtures/).

Covers: the Ingress the reference already wrote needs no patch (byte-compatible takeover); --weight previews a
step with the exact body the controller sends; a fresh Ingress (JSON List input) gets action + bookkeeping;
ping-pong with rootService both ways; stickiness with an annotation prefix; multi-ingress order; header-route
step (conditions, spec.rules); fully promoted; status patch with `verified` reset; stdin;
--alb-ingress-classes; refusals (class, '' class, bookkeeping) exit 1 with nothing on stdout; InvalidSpec
(parse, validation, missing Ingress/Service) exit 1; unreadable input and a bad --weight (out of range, not a
whole number) exit 2; the installed console script end to end, and a reader leaving early.
"""

from __future__ import annotations

import copy
import io
import json
import pathlib
import subprocess
import sys
from typing import Any

import pytest
import yaml

from service import cli
from service.alb import ingress_patch

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
ROLLOUT = FIXTURES / "rollout.yaml"
WRITTEN = FIXTURES / "ingress-written.yaml"
FRESH = FIXTURES / "ingress-fresh.json"
ACTION = "alb.ingress.kubernetes.io/actions.stable"
KEY = "rollouts.argoproj.io/managed-alb-annotations"


def plan(monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    """Run `alb-rollouts plan ARGV` through service.cli.main; only the plan command is registered so that
    another command's import problems cannot mask ours (the console-script test covers the full CLI)."""
    monkeypatch.setattr(cli, "COMMANDS", {"plan": cli.COMMANDS["plan"]})
    try:
        code = cli.main(["plan", *argv])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def load(path: pathlib.Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def write(tmp_path: pathlib.Path, name: str, *docs: dict[str, Any]) -> str:
    target = tmp_path / name
    target.write_text(yaml.safe_dump_all(docs))
    return str(target)


def rollout_doc() -> dict[str, Any]:
    return copy.deepcopy(load(ROLLOUT)[0])


def ingress_doc() -> dict[str, Any]:
    return copy.deepcopy(load(WRITTEN)[0])


def test_reference_written_ingress_needs_nothing(monkeypatch, capsys) -> None:
    code, out, err = plan(monkeypatch, capsys, "-f", str(ROLLOUT), "-f", str(WRITTEN))
    assert (code, err) == (0, "")
    assert out == (
        '{\n  "rollout": "default/rollout",\n  "state": "Paused",\n  "desiredWeight": 10,\n  "patches": [\n'
        '    {\n      "kind": "Ingress",\n      "namespace": "default",\n      "name": "ingress",\n'
        '      "patch": null\n    }\n  ],\n  "status": null\n}\n'
    )


def test_forced_weight_prints_the_exact_body(monkeypatch, capsys) -> None:
    code, out, _ = plan(monkeypatch, capsys, "-f", str(ROLLOUT), "-f", str(WRITTEN), "--weight", "50")
    result = json.loads(out)
    assert code == 0
    assert result["desiredWeight"] == 50
    assert ingress_patch.encode(result["patches"][0]["patch"]) == (
        b'{"metadata":{"annotations":{"alb.ingress.kubernetes.io/actions.stable":"{\\"Type\\":\\"forward\\",'
        b'\\"ForwardConfig\\":{\\"TargetGroups\\":[{\\"ServiceName\\":\\"canary\\",\\"ServicePort\\":\\"80\\",'
        b'\\"Weight\\":50},{\\"ServiceName\\":\\"stable\\",\\"ServicePort\\":\\"80\\",\\"Weight\\":50}]}}"},'
        b'"resourceVersion":"4711"}}'
    )
    weights = {"canary": {"weight": 50}, "stable": {"weight": 50}}
    assert result["status"] == {"status": {"canary": {"weights": weights}}}


def test_fresh_ingress_from_json_list(monkeypatch, capsys) -> None:
    code, out, _ = plan(monkeypatch, capsys, "-f", str(ROLLOUT), "-f", str(FRESH))
    assert code == 0
    assert json.loads(out)["patches"] == [{
        "kind": "Ingress", "namespace": "default", "name": "ingress",
        "patch": {"metadata": {"annotations": {
            ACTION: '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary",'
                    '"ServicePort":"80","Weight":10},{"ServiceName":"stable","ServicePort":"80","Weight":90}]}}',
            KEY: '{"rollout":["alb.ingress.kubernetes.io/actions.stable"]}',
        }, "resourceVersion": "12"}},
    }]


def test_stdin(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(ROLLOUT.read_text() + "\n---\n" + WRITTEN.read_text()))
    code, out, _ = plan(monkeypatch, capsys, "-f", "-")
    assert code == 0
    assert json.loads(out)["patches"][0]["patch"] is None


@pytest.mark.parametrize(
    ("stable_ping_pong", "canary", "stable"),
    [pytest.param("ping", "pong-svc", "ping-svc", id="ping-stable"),
     pytest.param("pong", "ping-svc", "pong-svc", id="pong-stable")],
)
def test_ping_pong_with_root_service(monkeypatch, capsys, tmp_path, stable_ping_pong, canary, stable) -> None:
    rollout = rollout_doc()
    strategy = rollout["spec"]["strategy"]["canary"]
    del strategy["canaryService"], strategy["stableService"]
    strategy["pingPong"] = {"pingService": "ping-svc", "pongService": "pong-svc"}
    strategy["trafficRouting"]["alb"]["rootService"] = "root-svc"
    rollout["status"]["canary"] = {"stablePingPong": stable_ping_pong}
    ingress = ingress_doc()
    ingress["metadata"]["annotations"] = {}
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "root-svc"
    code, out, err = plan(monkeypatch, capsys, "-f", write(tmp_path, "in.yaml", rollout, ingress))
    assert (code, err) == (0, "")
    annotations = json.loads(out)["patches"][0]["patch"]["metadata"]["annotations"]
    assert annotations == {
        "alb.ingress.kubernetes.io/actions.root-svc":
            f'{{"Type":"forward","ForwardConfig":{{"TargetGroups":[{{"ServiceName":"{canary}","ServicePort":"80",'
            f'"Weight":10}},{{"ServiceName":"{stable}","ServicePort":"80","Weight":90}}]}}}}',
        KEY: '{"rollout":["alb.ingress.kubernetes.io/actions.root-svc"]}',
    }


def test_stickiness_and_prefix(monkeypatch, capsys, tmp_path) -> None:
    rollout = rollout_doc()
    alb = rollout["spec"]["strategy"]["canary"]["trafficRouting"]["alb"]
    alb.update(annotationPrefix="custom.io", stickinessConfig={"enabled": True, "durationSeconds": 3600})
    ingress = ingress_doc()
    ingress["metadata"]["annotations"] = {}
    code, out, err = plan(monkeypatch, capsys, "-f", write(tmp_path, "in.yaml", rollout, ingress))
    assert (code, err) == (0, "")
    assert json.loads(out)["patches"][0]["patch"]["metadata"]["annotations"] == {
        "custom.io/actions.stable":
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"80",'
            '"Weight":10},{"ServiceName":"stable","ServicePort":"80","Weight":90}],'
            '"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":3600}}}',
        KEY: '{"rollout":["custom.io/actions.stable"]}',
    }


def test_multi_ingress_in_spec_order(monkeypatch, capsys, tmp_path) -> None:
    rollout = rollout_doc()
    alb = rollout["spec"]["strategy"]["canary"]["trafficRouting"]["alb"]
    del alb["ingress"]
    alb["ingresses"] = ["public", "internal"]
    public, internal = ingress_doc(), ingress_doc()
    public["metadata"]["name"], internal["metadata"]["name"] = "public", "internal"
    internal["metadata"]["annotations"] = {}
    internal["metadata"]["resourceVersion"] = "88"
    code, out, _ = plan(monkeypatch, capsys, "-f", write(tmp_path, "in.yaml", rollout, internal, public))
    patches = json.loads(out)["patches"]
    assert code == 0
    assert [(p["name"], p["patch"] and p["patch"]["metadata"]["resourceVersion"]) for p in patches] == [
        ("public", None), ("internal", "88"),
    ]


def test_header_route_step(monkeypatch, capsys, tmp_path) -> None:
    rollout = rollout_doc()
    strategy = rollout["spec"]["strategy"]["canary"]
    strategy["trafficRouting"]["managedRoutes"] = [{"name": "beta"}]
    strategy["steps"].insert(1, {"setHeaderRoute": {"name": "beta", "match": [
        {"headerName": "X-Beta", "headerValue": {"exact": "yes"}}]}})
    code, out, err = plan(monkeypatch, capsys, "-f", str(WRITTEN), "-f", write(tmp_path, "r.yaml", rollout))
    assert (code, err) == (0, "")
    patch = json.loads(out)["patches"][0]["patch"]
    assert patch["metadata"]["annotations"] == {
        "alb.ingress.kubernetes.io/actions.beta": (
            '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"80",'
            '"Weight":100}]}}'
        ),
        "alb.ingress.kubernetes.io/conditions.beta": (
            '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Beta","values":["yes"]}}]'
        ),
        KEY: (
            '{"rollout":["alb.ingress.kubernetes.io/actions.stable","alb.ingress.kubernetes.io/actions.beta",'
            '"alb.ingress.kubernetes.io/conditions.beta"]}'
        ),
    }
    paths = patch["spec"]["rules"][0]["http"]["paths"]
    assert [p["backend"]["service"]["name"] for p in paths] == ["beta", "stable"]


def test_fully_promoted_sets_zero(monkeypatch, capsys, tmp_path) -> None:
    rollout = rollout_doc()
    rollout["status"].update(
        stableRS="6f7d9c8b5", currentStepIndex=4, pauseConditions=None, controllerPause=False
    )
    rollout["status"]["canary"]["weights"]["verified"] = True
    code, out, _ = plan(monkeypatch, capsys, "-f", str(WRITTEN), "-f", write(tmp_path, "r.yaml", rollout))
    result = json.loads(out)
    assert (code, result["state"], result["desiredWeight"]) == (0, "Promoted", 0)
    assert result["patches"][0]["patch"]["metadata"]["annotations"][ACTION] == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary","ServicePort":"80","Weight":0},'
        '{"ServiceName":"stable","ServicePort":"80","Weight":100}]}}'
    )
    assert result["status"] == {"status": {"canary": {"weights": {
        "canary": {"weight": 0},
        "stable": {"podTemplateHash": "6f7d9c8b5", "weight": 100},
        "verified": None,
    }}}}


def test_unmanaged_class_refused(monkeypatch, capsys, tmp_path) -> None:
    ingress = ingress_doc()
    ingress["spec"]["ingressClassName"] = "nginx"
    path = write(tmp_path, "i.yaml", ingress)
    code, out, err = plan(monkeypatch, capsys, "-f", str(ROLLOUT), "-f", path)
    assert (code, out) == (1, "")
    assert err == ('alb-rollouts plan: refusing to write Ingress "default/ingress": its class "nginx" is not '
                   'one of --alb-ingress-classes ["alb"]\n')
    code, out, _ = plan(monkeypatch, capsys, "-f", str(ROLLOUT), "-f", path, "--alb-ingress-classes", "nginx")
    assert code == 0


def test_no_class_needs_empty_class_flag(monkeypatch, capsys, tmp_path) -> None:
    ingress = ingress_doc()
    del ingress["spec"]["ingressClassName"]
    path = write(tmp_path, "i.yaml", ingress)
    code, out, err = plan(monkeypatch, capsys, "-f", str(ROLLOUT), "-f", path)
    assert (code, out) == (1, "")
    assert err == ('alb-rollouts plan: refusing to write Ingress "default/ingress": its class "" (no class) '
                   'is not one of --alb-ingress-classes ["alb"]\n')
    code, _, _ = plan(monkeypatch, capsys, "-f", str(ROLLOUT), "-f", path, "--alb-ingress-classes", "")
    assert code == 0


def test_unparsable_bookkeeping_refused(monkeypatch, capsys, tmp_path) -> None:
    ingress = ingress_doc()
    ingress["metadata"]["annotations"][KEY] = "test"
    code, out, err = plan(monkeypatch, capsys, "-f", str(ROLLOUT), "-f", write(tmp_path, "i.yaml", ingress))
    assert (code, out) == (1, "")
    assert err == ('alb-rollouts plan: refusing to write Ingress "default/ingress": cannot parse annotation '
                   "rollouts.argoproj.io/managed-alb-annotations: invalid character 'e' in literal true "
                   "(expecting 'r')\n")


def _both_ingress_fields(rollout: dict[str, Any]) -> None:
    rollout["spec"]["strategy"]["canary"]["trafficRouting"]["alb"]["ingresses"] = ["ingress"]


def _bad_replicas(rollout: dict[str, Any]) -> None:
    rollout["spec"]["replicas"] = "three"


def _other_ingress(rollout: dict[str, Any]) -> None:
    rollout["spec"]["strategy"]["canary"]["trafficRouting"]["alb"]["ingress"] = "elsewhere"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(_both_ingress_fields, "spec.strategy.canary.trafficRouting.alb: Internal error: Either "
                     "Ingress or Ingresses must be configured. Both are configured.", id="both"),
        pytest.param(_bad_replicas, 'spec.replicas: Invalid value: "three": must be an integer', id="parse"),
        pytest.param(_other_ingress, 'spec.strategy.canary.trafficRouting.alb.ingress: Invalid value: '
                     '"elsewhere": ingress.networking.k8s.io "elsewhere" not found', id="ingress-missing"),
    ],
)
def test_invalid_spec(monkeypatch, capsys, tmp_path, change, message) -> None:
    rollout = rollout_doc()
    change(rollout)
    code, out, err = plan(monkeypatch, capsys, "-f", str(WRITTEN), "-f", write(tmp_path, "r.yaml", rollout))
    assert (code, out) == (1, "")
    assert err == f'InvalidSpec: The Rollout "rollout" is invalid: {message}\n'


@pytest.mark.parametrize(("strategy", "what"), [
    pytest.param({"canary": {"trafficRouting": {"nginx": {}}}}, "trafficRouting.nginx", id="nginx"),
    pytest.param({"canary": {"trafficRouting": {"istio": {}}}}, "trafficRouting.istio", id="istio"),
])
def test_a_strategy_not_served_is_said_not_refused(monkeypatch, capsys, tmp_path, strategy, what) -> None:
    rollout = rollout_doc()
    rollout["spec"]["strategy"] = strategy
    code, out, err = plan(monkeypatch, capsys, "-f", str(WRITTEN), "-f", write(tmp_path, "r.yaml", rollout))
    assert (code, out) == (3, "")
    assert err.startswith(f"alb-rollouts plan: alb-rollouts does not serve {what}: this Rollout is left "
                          "to the Argo Rollouts controller")


def test_services_checked_only_when_given(monkeypatch, capsys, tmp_path) -> None:
    ingress = ingress_doc()
    code, _, _ = plan(monkeypatch, capsys, "-f", str(ROLLOUT), "-f", write(tmp_path, "i.yaml", ingress))
    assert code == 0
    stable = load(WRITTEN)[2]
    both = write(tmp_path, "s.yaml", ingress, stable)
    code, out, err = plan(monkeypatch, capsys, "-f", str(ROLLOUT), "-f", both)
    assert (code, out) == (1, "")
    assert err == ('InvalidSpec: The Rollout "rollout" is invalid: spec.strategy.canary.canaryService: '
                   'Invalid value: "canary": service "canary" not found\n')


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("a: [1,\n", "invalid YAML", id="yaml"),
        pytest.param('{"kind": "Rollout",', "invalid JSON", id="json"),
        pytest.param("just a string\n", "expected Kubernetes objects, found a str", id="scalar"),
        pytest.param("kind: Ingress\nmetadata: {name: i}\n",
                     "plan needs exactly one Rollout in its input, found 0 (none)", id="no-rollout"),
        pytest.param("kind: Rollout\nmetadata: {name: a}\n---\nkind: Rollout\nmetadata: {name: b}\n",
                     "plan needs exactly one Rollout in its input, found 2 ('a', 'b')", id="two-rollouts"),
    ],
)
def test_unreadable_input_exits_2(monkeypatch, capsys, tmp_path, content, message) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    code, out, err = plan(monkeypatch, capsys, "-f", str(path))
    assert (code, out) == (2, "")
    assert err.startswith("alb-rollouts plan: ")
    assert message in err


def test_missing_file_exits_2(monkeypatch, capsys, tmp_path) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = plan(monkeypatch, capsys, "-f", str(missing))
    assert (code, out) == (2, "")
    reason = f"[Errno 2] No such file or directory: '{missing}'"
    assert err == f"alb-rollouts plan: cannot read {missing}: {reason}\n"


@pytest.mark.parametrize(("weight", "message"), [
    pytest.param("101", "must be from 0 to 100, got 101", id="over-100"),
    pytest.param("-1", "must be from 0 to 100, got -1", id="negative"),
    pytest.param("ten", "must be a whole number from 0 to 100, got 'ten'", id="word"),
    pytest.param("5.5", "must be a whole number from 0 to 100, got '5.5'", id="fraction"),
])
def test_bad_weight_exits_2(monkeypatch, capsys, weight, message) -> None:
    code, out, err = plan(monkeypatch, capsys, "-f", str(ROLLOUT), "--weight", weight)
    assert (code, out) == (2, "")
    assert err.endswith(f"alb-rollouts plan: error: argument --weight: {message}\n")


def test_console_script_end_to_end() -> None:
    script = pathlib.Path(sys.executable).with_name("alb-rollouts")
    result = subprocess.run([str(script), "plan", "-f", str(ROLLOUT), "-f", str(WRITTEN), "--weight", "30"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    annotations = json.loads(result.stdout)["patches"][0]["patch"]["metadata"]["annotations"]
    assert annotations == {
        ACTION: '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary",'
                '"ServicePort":"80","Weight":30},{"ServiceName":"stable","ServicePort":"80","Weight":70}]}}'
    }


def test_reader_leaving_early_is_not_an_error() -> None:
    script = pathlib.Path(sys.executable).with_name("alb-rollouts")
    process = subprocess.Popen([str(script), "plan", "-f", str(ROLLOUT), "-f", str(WRITTEN)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # like `| head -0`: gone before plan prints
    err = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=60) == 0
    assert err == b""
