"""`alb-rollouts machine`: print the state machine's table as a diagram (mermaid, dot) or as JSON.

CLI room: renders `statemachine.machine.describe()` and nothing else, so the picture cannot drift from the
table the controller runs. `--write-docs FILE` rewrites the mermaid block between `<!-- machine:begin -->`
and `<!-- machine:end -->` in FILE (docs/architecture.md), and a test checks that block against `render`.
The renderers are pure functions of the rows; only `run` touches stdout, stderr and the docs file.
Exit codes: 0 printed or written; 2 bad arguments, or a docs file without exactly one pair of markers or
that cannot be read or written (left unchanged).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from statemachine import machine, states

__all__ = [
    "BEGIN",
    "END",
    "FORMATS",
    "Edge",
    "MarkerError",
    "configure",
    "dot",
    "edges",
    "embed",
    "extract",
    "json_text",
    "label",
    "mermaid",
    "render",
    "run",
    "write_docs",
]

FORMATS = ("mermaid", "dot", "json")
BEGIN = "<!-- machine:begin -->"
END = "<!-- machine:end -->"
STAYS = "="  # describe()'s dest for a row that stays in its source state (effects only)
ALWAYS = "lands_in_dest"  # guards every row; showing it on each edge would only add noise

Row = Mapping[str, Any]


class MarkerError(ValueError):
    """The docs file has no single `BEGIN` … `END` block to rewrite; `str()` says what is wrong."""


@dataclass
class Edge:
    """One arrow: the rows with the same source, dest, trigger and effects, merged.

    `guards` holds one tuple of conditions per merged row (without `lands_in_dest`); the edge is taken
    when any of them holds, so an empty tuple among them means the edge needs no guard at all.
    """

    source: str
    dest: str
    trigger: str
    effects: tuple[str, ...]
    guards: list[tuple[str, ...]] = field(default_factory=list)


def edges(rows: Sequence[Row]) -> list[Edge]:
    """One edge per (source, dest, trigger, effects), in table order (first row, then its source order)."""
    merged: dict[tuple[str, str, str, tuple[str, ...]], Edge] = {}
    for row in rows:
        effects = tuple(row["effects"])
        guards = tuple(c for c in row["conditions"] if c != ALWAYS)
        for source in row["source"]:
            dest = source if row["dest"] == STAYS else row["dest"]
            key = (source, dest, row["trigger"], effects)
            edge = merged.setdefault(key, Edge(source, dest, row["trigger"], effects))
            if guards not in edge.guards:
                edge.guards.append(guards)
    return list(merged.values())


def _guard_text(alternatives: Sequence[tuple[str, ...]]) -> str:
    if not alternatives or any(not conditions for conditions in alternatives):
        return ""
    if len(alternatives) == 1:
        return " and ".join(alternatives[0])
    return " or ".join(
        conditions[0] if len(conditions) == 1 else "(" + " and ".join(conditions) + ")"
        for conditions in alternatives
    )


def label(edge: Edge) -> str:
    """`trigger [guards] / effect, effect` (UML's event [guard] / action), effects in the order they run."""
    text = edge.trigger
    guards = _guard_text(edge.guards)
    if guards:
        text += f" [{guards}]"
    if edge.effects:
        text += " / " + ", ".join(edge.effects)
    return text


def _state_names(names: Sequence[str] | None) -> list[str]:
    return list(names) if names is not None else [state.name for state in states.States]


def _mermaid_safe(text: str) -> str:
    # mermaid's state grammar ends a transition label at ':', ';' or a newline, and '#' starts a comment.
    if any(char in text for char in ":;#\n") or not text.strip():
        raise ValueError(f"{text!r} cannot be drawn in a mermaid stateDiagram (no ':', ';', '#' or newlines)")
    return text


def mermaid(rows: Sequence[Row], state_names: Sequence[str] | None = None) -> str:
    """A mermaid `stateDiagram-v2`: every state, then one line per edge; no trailing newline."""
    lines = ["stateDiagram-v2"]
    lines += [f"    {_mermaid_safe(name)}" for name in _state_names(state_names)]
    lines += [f"    {_mermaid_safe(e.source)} --> {_mermaid_safe(e.dest)}: {_mermaid_safe(label(e))}"
              for e in edges(rows)]
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(rows: Sequence[Row], state_names: Sequence[str] | None = None) -> str:
    """A Graphviz digraph with the same states and edges as `mermaid`; no trailing newline."""
    lines = ["digraph machine {", "    node [shape=box, style=rounded];"]
    lines += [f"    {_quoted(name)};" for name in _state_names(state_names)]
    lines += [f"    {_quoted(e.source)} -> {_quoted(e.dest)} [label={_quoted(label(e))}];"
              for e in edges(rows)]
    lines.append("}")
    return "\n".join(lines)


def json_text(rows: Sequence[Row], state_names: Sequence[str] | None = None) -> str:
    """`{"states": [...], "transitions": rows}`, as the debug API's /machine serves it, indented."""
    return json.dumps({"states": _state_names(state_names), "transitions": list(rows)}, indent=2)


def render(fmt: str) -> str:
    """The current table in `fmt` (one of FORMATS), without a trailing newline."""
    renderers = {"mermaid": mermaid, "dot": dot, "json": json_text}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](machine.describe())


def _block(diagram: str) -> str:
    return f"{BEGIN}\n```mermaid\n{diagram}\n```\n{END}"


def _span(document: str) -> tuple[int, int]:
    """Where the block starts (at BEGIN) and ends (after END); MarkerError unless exactly one pair."""
    begins, ends = document.count(BEGIN), document.count(END)
    if begins != 1 or ends != 1:
        raise MarkerError(f"expected exactly one {BEGIN} and one {END} line, found {begins} and {ends}")
    start, stop = document.index(BEGIN), document.index(END)
    if stop < start:
        raise MarkerError(f"{END} comes before {BEGIN}")
    return start, stop + len(END)


def embed(document: str, diagram: str) -> str:
    """`document` with BEGIN … END replaced by BEGIN, a ```mermaid block of `diagram`, END."""
    start, stop = _span(document)
    return document[:start] + _block(diagram) + document[stop:]


def extract(document: str) -> str:
    """The diagram inside the block between the markers, as `embed` wrote it ("" if it holds no fence)."""
    start, stop = _span(document)
    inner = document[start + len(BEGIN):stop - len(END)].strip("\n")
    fence_open, fence_close = "```mermaid\n", "\n```"
    if inner.startswith(fence_open) and inner.endswith(fence_close):
        return inner[len(fence_open):-len(fence_close)]
    return ""


def write_docs(path: str, diagram: str) -> bool:
    """Rewrite the block in the file at `path`; True if it changed. Raises MarkerError or OSError, and
    then the file is untouched."""
    with open(path, encoding="utf-8", newline="") as handle:
        document = handle.read()
    updated = embed(document, diagram)
    if updated == document:
        return False
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(updated)
    return True


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Print the rollout state machine from the table the controller runs: states, "
                          "and each transition's trigger, guards and effects in order.")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="output format (default mermaid, a stateDiagram-v2)")
    parser.add_argument("--write-docs", metavar="FILE",
                        help=f"instead of printing, rewrite the mermaid block between {BEGIN} and {END} "
                             "in FILE (e.g. docs/architecture.md)")


def run(args: argparse.Namespace) -> int:
    fmt: str = args.format or "mermaid"
    if args.write_docs is not None:
        if fmt != "mermaid":
            print(f"alb-rollouts machine: --write-docs embeds the mermaid diagram; drop --format {fmt}",
                  file=sys.stderr)
            return 2
        try:
            changed = write_docs(args.write_docs, render("mermaid"))
        except MarkerError as error:
            print(f"alb-rollouts machine: {args.write_docs}: {error}; add the two marker lines where the "
                  "diagram belongs (the file was not changed)", file=sys.stderr)
            return 2
        except (OSError, UnicodeDecodeError) as error:
            print(f"alb-rollouts machine: cannot rewrite {args.write_docs}: {error}", file=sys.stderr)
            return 2
        print(f"alb-rollouts machine: {args.write_docs}: "
              f"{'diagram updated' if changed else 'diagram already up to date'}", file=sys.stderr)
        return 0
    try:
        print(render(fmt))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) left early; silence the interpreter's own flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
