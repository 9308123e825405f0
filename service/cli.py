"""Entry point of the `alb-rollouts` console script: parses the subcommand and hands over to it.

Each subcommand lives in its own module with `configure(parser)` and `run(args) -> int`.
The sandbox command is imported lazily so that the controller never loads the sandbox.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

# name -> (module path, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("service.commands.run", "run the controller (drop-in for the Argo Rollouts controller)"),
    "plan": ("service.commands.plan", "preview the Ingress and status patches the controller would write"),
    "verify": ("service.commands.verify", "check against ELBv2 that the ALB carries a rollout's weights"),
    "machine": ("service.commands.machine", "print the state machine table (mermaid, dot or JSON)"),
    "sandbox": ("sandbox.command", "run a local Kubernetes API, cluster, moto ELBv2 and LBC simulator"),
    "bench": ("sandbox.bench.command", "measure the controller at scale on the sandbox (make bench)"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; only the `selected` command's module is imported and configured."""
    parser = argparse.ArgumentParser(prog="alb-rollouts", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, (module_path, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            try:
                module = importlib.import_module(module_path)
            except ModuleNotFoundError as missing:  # the image ships the controller only, not the sandbox
                parser.exit(2, f"alb-rollouts {name}: not in this install ({missing.name} is missing); it "
                               "comes with a source checkout (`make demo`)\n")
            module.configure(sub)
            sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(selected).parse_args(argv)
    code: int = args._run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
