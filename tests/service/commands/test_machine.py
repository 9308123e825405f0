"""`alb-rollouts machine`: the state machine table as mermaid, dot or JSON, and the diagram in the docs.

Covers: docs/architecture.md embeds exactly `render("mermaid")` (the diagram cannot drift from the table);
every format shows every state and trigger of `describe()`; JSON round-trips; dot is a well-formed digraph;
edge merging (same source, dest, trigger and effects), guard labels and "=" self-loops on a small table;
the CLI prints each format, rejects an unknown one with an argparse error (exit 2); `--write-docs` rewrites
only the marked block, is idempotent, and refuses missing, duplicated or reversed markers with exit 2 and the
file unchanged. Only the "machine" command is registered in the CLI tests so that another command's import
problems cannot mask ours.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil

import pytest

from service import cli
from service.commands import machine as command
from statemachine import machine, states

ROOT = pathlib.Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "architecture.md"
REGENERATE = ".venv/bin/alb-rollouts machine --write-docs docs/architecture.md"

ROWS = [
    {"trigger": "set_weight", "source": ["Progressing", "WeightSet"], "dest": "WeightSet",
     "conditions": ["lands_in_dest", "weights_changed"], "effects": ["patch_ingresses", "write_status"]},
    {"trigger": "set_weight", "source": ["Progressing"], "dest": "WeightSet",
     "conditions": ["lands_in_dest"], "effects": ["patch_ingresses", "write_status"]},
    {"trigger": "sync", "source": ["WeightSet"], "dest": "=",
     "conditions": ["lands_in_dest", "unchanged", "verify_due"], "effects": ["write_status"]},
    {"trigger": "weights_unverified", "source": ["WeightSet"], "dest": "Verifying",
     "conditions": ["lands_in_dest"], "effects": ["write_status"]},
    {"trigger": "pause", "source": ["WeightSet"], "dest": "Verifying",
     "conditions": ["lands_in_dest", "a"], "effects": ["write_status"]},
    {"trigger": "pause", "source": ["WeightSet"], "dest": "Verifying",
     "conditions": ["lands_in_dest", "b", "c"], "effects": ["write_status"]},
]
STATES = ["Progressing", "WeightSet", "Verifying"]


def run_cli(monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(cli, "COMMANDS", {"machine": cli.COMMANDS["machine"]})
    try:
        code = cli.main(["machine", *argv])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_docs_embed_the_current_diagram() -> None:
    embedded = command.extract(DOC.read_text(encoding="utf-8"))
    assert embedded == command.render("mermaid"), (
        f"the state machine diagram in docs/architecture.md is stale: run `{REGENERATE}`"
    )


@pytest.mark.parametrize("fmt", command.FORMATS)
def test_every_format_shows_every_state_and_trigger(fmt: str) -> None:
    text = command.render(fmt)
    for state in states.States:
        assert re.search(rf"\b{state.name}\b", text), state.name
    for row in machine.describe():
        assert re.search(rf"\b{row['trigger']}\b", text), row["trigger"]


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_every_row_has_its_edges(fmt: str) -> None:
    text = command.render(fmt)
    arrow = "-->" if fmt == "mermaid" else "->"
    for row in machine.describe():
        for source in row["source"]:
            dest = source if row["dest"] == "=" else row["dest"]
            pattern = (rf'^    "?{source}"? {arrow} "?{dest}"?.*\b{row["trigger"]}\b.*'
                       + re.escape(", ".join(row["effects"])))
            assert re.search(pattern, text, re.MULTILINE), (source, dest, row["trigger"])


def test_json_round_trips() -> None:
    assert json.loads(command.render("json")) == {
        "states": [state.name for state in states.States], "transitions": machine.describe(),
    }


def test_dot_is_a_digraph() -> None:
    text = command.render("dot")
    lines = text.splitlines()
    assert lines[0] == "digraph machine {" and lines[-1] == "}"
    edge = re.compile(r'^    "\w+" -> "\w+" \[label="(?:[^"\\]|\\.)*"\];$')
    node = re.compile(r'^    "\w+";$')
    body = lines[1:-1]
    assert body[0].startswith("    node [")
    assert all(edge.match(line) or node.match(line) for line in body[1:]), body
    assert sum(bool(node.match(line)) for line in body) == len(states.States)
    assert text.count("{") == text.count("}") == 1


def test_mermaid_merges_edges_and_labels_guards() -> None:
    assert command.mermaid(ROWS, STATES).splitlines() == [
        "stateDiagram-v2",
        "    Progressing",
        "    WeightSet",
        "    Verifying",
        # Progressing→WeightSet merges a guarded and an unguarded row: no guard is needed.
        "    Progressing --> WeightSet: set_weight / patch_ingresses, write_status",
        "    WeightSet --> WeightSet: set_weight [weights_changed] / patch_ingresses, write_status",
        "    WeightSet --> WeightSet: sync [unchanged and verify_due] / write_status",
        # Same (source, dest), different triggers: separate lines, in table order.
        "    WeightSet --> Verifying: weights_unverified / write_status",
        "    WeightSet --> Verifying: pause [a or (b and c)] / write_status",
    ]


def test_dot_has_the_same_edges_as_mermaid() -> None:
    assert command.dot(ROWS, STATES).splitlines()[5:-1] == [
        '    "Progressing" -> "WeightSet" [label="set_weight / patch_ingresses, write_status"];',
        '    "WeightSet" -> "WeightSet" '
        '[label="set_weight [weights_changed] / patch_ingresses, write_status"];',
        '    "WeightSet" -> "WeightSet" [label="sync [unchanged and verify_due] / write_status"];',
        '    "WeightSet" -> "Verifying" [label="weights_unverified / write_status"];',
        '    "WeightSet" -> "Verifying" [label="pause [a or (b and c)] / write_status"];',
    ]


def test_mermaid_refuses_what_it_cannot_draw() -> None:
    row = {"trigger": "bad;trigger", "source": ["WeightSet"], "dest": "=", "conditions": [], "effects": []}
    with pytest.raises(ValueError, match="mermaid"):
        command.mermaid([row], STATES)


def test_render_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format 'svg'"):
        command.render("svg")


@pytest.mark.parametrize("argv, fmt", [([], "mermaid"), (["--format", "mermaid"], "mermaid"),
                                       (["--format", "dot"], "dot"), (["--format", "json"], "json")])
def test_cli_prints_the_format(monkeypatch, capsys, argv: list[str], fmt: str) -> None:
    code, out, err = run_cli(monkeypatch, capsys, *argv)
    assert (code, err) == (0, "")
    assert out == command.render(fmt) + "\n"


def test_cli_json(monkeypatch, capsys) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, "--format", "json")
    assert code == 0
    assert json.loads(out)["transitions"] == machine.describe()


def test_cli_rejects_an_unknown_format(monkeypatch, capsys) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "--format", "svg")
    assert code == 2 and out == ""
    assert "argument --format: invalid choice: 'svg'" in err
    assert "mermaid" in err and "dot" in err and "json" in err


@pytest.fixture
def doc_copy(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "architecture.md"
    shutil.copyfile(DOC, path)
    return path


def test_write_docs_rewrites_only_the_block(monkeypatch, capsys, doc_copy: pathlib.Path) -> None:
    original = doc_copy.read_text(encoding="utf-8")
    before, _, rest = original.partition(command.BEGIN)
    _, _, after = rest.partition(command.END)
    doc_copy.write_text(f"{before}{command.BEGIN}\nold diagram\n{command.END}{after}", encoding="utf-8")

    code, out, err = run_cli(monkeypatch, capsys, "--write-docs", str(doc_copy))
    assert (code, out) == (0, "")
    assert "diagram updated" in err
    written = doc_copy.read_text(encoding="utf-8")
    assert written.startswith(before) and written.endswith(after)
    assert command.extract(written) == command.render("mermaid")

    code, _, err = run_cli(monkeypatch, capsys, "--write-docs", str(doc_copy))
    assert code == 0 and "already up to date" in err
    assert doc_copy.read_text(encoding="utf-8") == written


@pytest.mark.parametrize("mangle", [
    pytest.param(lambda text: text.replace(command.BEGIN, "").replace(command.END, ""), id="no-markers"),
    pytest.param(lambda text: text.replace(command.END, ""), id="no-end"),
    pytest.param(lambda text: text + f"\n{command.BEGIN}\n{command.END}\n", id="two-blocks"),
    pytest.param(lambda text: text.replace(command.BEGIN, "@@").replace(command.END, command.BEGIN)
                 .replace("@@", command.END), id="reversed"),
])
def test_write_docs_refuses_bad_markers(monkeypatch, capsys, doc_copy: pathlib.Path, mangle) -> None:
    doc_copy.write_text(mangle(doc_copy.read_text(encoding="utf-8")), encoding="utf-8")
    before = doc_copy.read_bytes()
    code, out, err = run_cli(monkeypatch, capsys, "--write-docs", str(doc_copy))
    assert (code, out) == (2, "")
    assert str(doc_copy) in err and command.BEGIN in err and "not changed" in err
    assert doc_copy.read_bytes() == before


def test_write_docs_reports_an_unreadable_file(monkeypatch, capsys, tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "missing.md"
    code, out, err = run_cli(monkeypatch, capsys, "--write-docs", str(missing))
    assert (code, out) == (2, "")
    assert f"cannot rewrite {missing}" in err
    assert not missing.exists()


def test_write_docs_only_embeds_mermaid(monkeypatch, capsys, doc_copy: pathlib.Path) -> None:
    before = doc_copy.read_bytes()
    code, _, err = run_cli(monkeypatch, capsys, "--write-docs", str(doc_copy), "--format", "dot")
    assert code == 2 and "--write-docs embeds the mermaid diagram" in err
    assert doc_copy.read_bytes() == before
